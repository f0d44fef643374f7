//! Unit tests of the readers: short syntaxes, paths, command splitting.

use serde_yaml::Value;

use super::command::*;
use super::ports::*;
use super::service::*;
use super::volumes::*;
use super::*;

fn with_ctx<T>(f: impl FnOnce(&mut FileContext) -> T) -> (T, Vec<Warning>) {
    let map = SourceMap::without_lines(Path::new("/p/compose.yaml"));
    let mut warnings = Vec::new();
    let mut ctx = FileContext {
        map: &map,
        base_dir: Path::new("/p"),
        home: Some("/home/u"),
        warnings: &mut warnings,
    };
    let out = f(&mut ctx);
    (out, warnings)
}

fn ports(spec: &str) -> Vec<String> {
    with_ctx(|ctx| parse_short_port(ctx, "p", spec))
        .0
        .unwrap()
        .into_iter()
        .map(|port| {
            format!(
                "{}|{}|{}|{}",
                port.host_ip.unwrap_or_default(),
                port.published.unwrap_or_default(),
                port.target,
                port.protocol
            )
        })
        .collect()
}

#[test]
fn short_ports() {
    assert_eq!(ports("80"), ["||80|tcp"]);
    assert_eq!(ports("8080:80"), ["|8080|80|tcp"]);
    assert_eq!(ports("127.0.0.1:8080:80/udp"), ["127.0.0.1|8080|80|udp"]);
    assert_eq!(ports("3000-3001"), ["||3000|tcp", "||3001|tcp"]);
    assert_eq!(
        ports("9090-9091:8080-8081"),
        ["|9090|8080|tcp", "|9091|8081|tcp"]
    );
    assert_eq!(ports("8000-8010:80"), ["|8000-8010|80|tcp"]);
    assert_eq!(ports("[::1]:6001:6001"), ["::1|6001|6001|tcp"]);
    assert_eq!(ports("127.0.0.1::80"), ["127.0.0.1||80|tcp"]);
    for bad in ["abc", "80/xyz", "1-2:3-5", "0", "70000"] {
        assert!(
            with_ctx(|ctx| parse_short_port(ctx, "p", bad)).0.is_err(),
            "{bad}"
        );
    }
}

#[test]
fn short_volumes() {
    let (mount, _) = with_ctx(|ctx| parse_short_volume(ctx, "v", "./src/../data:/data:ro,z"));
    let mount = mount.unwrap();
    assert_eq!(mount.kind, "bind");
    assert_eq!(mount.source.as_deref(), Some("/p/data"));
    assert!(mount.read_only);
    let (mount, _) = with_ctx(|ctx| parse_short_volume(ctx, "v", "~/x:/x"));
    assert_eq!(mount.unwrap().source.as_deref(), Some("/home/u/x"));
    let (mount, _) = with_ctx(|ctx| parse_short_volume(ctx, "v", "db:/var/lib/db"));
    let mount = mount.unwrap();
    assert_eq!(
        (mount.kind.as_str(), mount.source.as_deref()),
        ("volume", Some("db"))
    );
    let (mount, _) = with_ctx(|ctx| parse_short_volume(ctx, "v", "/anon"));
    assert_eq!(mount.unwrap().source, None);
    let (mount, _) = with_ctx(|ctx| parse_short_volume(ctx, "v", "./conf/:/etc/app/./x/:ro"));
    let mount = mount.unwrap();
    assert_eq!(mount.source.as_deref(), Some("/p/conf"));
    assert_eq!(mount.target, "/etc/app/x");
    assert!(
        with_ctx(|ctx| parse_short_volume(ctx, "v", "a:relative"))
            .0
            .is_err()
    );
    assert!(
        with_ctx(|ctx| parse_short_volume(ctx, "v", "a:/b:bogus"))
            .0
            .is_err()
    );
}

#[test]
fn long_volume_targets_are_cleaned() {
    let value: Value = serde_yaml::from_str(
        "- {type: bind, source: ./conf/, target: /etc/grafana/provisioning/}\n- {type: tmpfs, target: //tmp/./cache/}\n",
    )
    .unwrap();
    let (mounts, _) = with_ctx(|ctx| parse_volumes(ctx, "v", &value));
    let targets: Vec<String> = mounts.unwrap().into_iter().map(|m| m.target).collect();
    assert_eq!(targets, ["/etc/grafana/provisioning", "/tmp/cache"]);
}

#[test]
fn shell_words() {
    assert_eq!(
        shell_split("sh -c 'echo hi; sleep 1'").unwrap(),
        ["sh", "-c", "echo hi; sleep 1"]
    );
    assert_eq!(
        shell_split(r#"a "b \"c\"" d\ e"#).unwrap(),
        ["a", "b \"c\"", "d e"]
    );
    assert_eq!(shell_split("  ").unwrap(), Vec::<String>::new());
    assert_eq!(shell_split("''").unwrap(), [""]);
    assert!(shell_split("'open").is_err());
}

#[test]
fn unknown_and_unsupported_keys_warn() {
    let value: Value = serde_yaml::from_str("image: x\nbogus: 1\ngpus: all\nx-mine: 2\n").unwrap();
    let (service, warnings) = with_ctx(|ctx| parse_service(ctx, "web", &value));
    let service = service.unwrap();
    assert_eq!(service.extensions.len(), 1);
    assert_eq!(warnings.len(), 2);
    assert!(warnings[0].message.contains("unknown key \"bogus\""));
    assert!(warnings[1].message.contains("not supported"));
}

#[test]
fn type_errors_name_the_key() {
    let value: Value = serde_yaml::from_str("image: x\nports: 80\n").unwrap();
    let (result, _) = with_ctx(|ctx| parse_service(ctx, "web", &value));
    let message = result.unwrap_err().to_string();
    assert!(
        message.contains("services.web.ports: must be a list"),
        "{message}"
    );
    let value: Value = serde_yaml::from_str("deploy: {replicas: many}\n").unwrap();
    let (result, _) = with_ctx(|ctx| parse_service(ctx, "web", &value));
    let message = result.unwrap_err().to_string();
    assert!(
        message.contains("services.web.deploy.replicas"),
        "{message}"
    );
}
