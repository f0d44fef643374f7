//! Tests of reading, locating and the implicit local inventory.

use std::path::Path;

use super::*;

const LAB: &str = "hosts:
  h1:
    docker: tcp://10.210.0.11:2375
    ssh: root@10.210.0.11
    labels: {zone: a}
  h2:
    docker: unix:///run/h2/docker.sock
    ssh: admin@10.210.0.12:2222
    labels: {zone: b}
ssh:
  identity: id_ed25519
  known_hosts: known_hosts
network:
  mode: routed
  pool: 172.30.0.0/16
";

fn parse(text: &str) -> Result<Inventory, InventoryError> {
    Inventory::parse(Path::new("/lab/nap-hosts.yml"), text).map(|(inventory, _)| inventory)
}

#[test]
fn reads_the_documented_form() {
    let inventory = parse(LAB).unwrap();
    assert_eq!(inventory.hosts.len(), 2);
    let h2 = inventory.host("h2").unwrap();
    assert_eq!(
        h2.docker,
        DockerEndpoint::Unix {
            path: "/run/h2/docker.sock".into()
        }
    );
    assert_eq!(h2.ssh.as_ref().unwrap().port, 2222);
    assert_eq!(h2.address.as_deref(), Some("10.210.0.12"));
    assert_eq!(
        inventory.ssh.identity.as_deref(),
        Some(Path::new("/lab/id_ed25519"))
    );
    assert_eq!(inventory.network.pool.to_string(), "172.30.0.0/16");
    assert_eq!(inventory.host("h1").unwrap().labels["zone"], "a");
}

#[test]
fn errors_name_host_field_and_line() {
    let text = LAB.replace("unix:///run/h2/docker.sock", "ftp://x");
    let message = parse(&text).unwrap_err().to_string();
    assert!(
        message.starts_with("/lab/nap-hosts.yml:7: hosts.h2.docker: host \"h2\""),
        "{message}"
    );
    let text = LAB.replace("pool: 172.30.0.0/16", "pool: 172.30.0.1/16");
    let message = parse(&text).unwrap_err().to_string();
    assert!(
        message.contains(":15: network.pool") && message.contains("host bits"),
        "{message}"
    );
    let text = LAB.replace("  h2:", "  h1:");
    let message = parse(&text).unwrap_err().to_string();
    assert!(
        message.contains("duplicate") || message.contains("duplicated"),
        "{message}"
    );
    let message = parse("hosts:\n  a:\n    ssh: x\n").unwrap_err().to_string();
    assert!(message.contains("has no docker"), "{message}");
    let message = parse("hosts:\n  a:\n    docker: unix:///s\n    bogus: 1\n")
        .unwrap_err()
        .to_string();
    assert!(message.contains(":4: hosts.a.bogus"), "{message}");
}

#[test]
fn deep_nesting_is_refused_before_serde_yaml() {
    let text = format!("hosts:\n  a:\n    labels: {}\n", "[".repeat(50_000));
    let message = parse(&text).unwrap_err().to_string();
    assert_eq!(
        message,
        "/lab/nap-hosts.yml:3: invalid YAML in the host inventory: lists and mappings nested more than 128 deep"
    );
}

#[test]
fn routed_mode_needs_addresses_and_ssh() {
    let text = "hosts:\n  a:\n    docker: unix:///a.sock\n  b:\n    docker: unix:///b.sock\n";
    let message = parse(text).unwrap_err().to_string();
    assert!(message.contains("needs an address"), "{message}");
    let text =
        "hosts:\n  a:\n    docker: tcp://10.0.0.1:2375\n  b:\n    docker: tcp://10.0.0.2:2375\n";
    let message = parse(text).unwrap_err().to_string();
    assert!(message.contains("needs ssh"), "{message}");
    let text = format!("{text}network: {{mode: published}}\n");
    assert!(parse(&text).is_ok());
}

#[test]
fn endpoints_and_cidrs() {
    assert_eq!(
        DockerEndpoint::parse("tcp://10.0.0.1").unwrap(),
        DockerEndpoint::Tcp {
            host: "10.0.0.1".into(),
            port: 2375
        }
    );
    assert_eq!(
        DockerEndpoint::parse("https://d.example:3000").unwrap(),
        DockerEndpoint::Https {
            host: "d.example".into(),
            port: 3000
        }
    );
    assert!(DockerEndpoint::parse("tcp://:99").is_err());
    let pool = Ipv4Cidr::parse("172.30.0.0/16").unwrap();
    assert_eq!(pool.subnet(24, 3).unwrap().to_string(), "172.30.3.0/24");
    assert_eq!(pool.subnet_count(24), 256);
    assert!(pool.subnet(24, 256).is_none());
    assert_eq!(
        pool.subnet(24, 1).unwrap().address(7).unwrap().to_string(),
        "172.30.1.7"
    );
    assert!(Ipv4Cidr::parse("10.0.0.0/33").is_err());
}

#[test]
fn local_default() {
    let inventory = Inventory::local(None).unwrap();
    assert_eq!(inventory.hosts[0].name, "local");
    assert_eq!(inventory.network.mode, NetworkMode::Local);
    let inventory = Inventory::local(Some("tcp://127.0.0.1:2375")).unwrap();
    assert!(matches!(
        inventory.hosts[0].docker,
        DockerEndpoint::Tcp { .. }
    ));
}

#[test]
fn the_origin_says_whether_the_user_named_the_inventory() {
    use crate::compose::MemoryFileSystem;
    let fs = MemoryFileSystem::default().with("/app/nap-hosts.yml", "hosts: {}\n");
    let locate = |flag: Option<&str>, env: Option<&str>| {
        locate_inventory(flag.map(Path::new), env, Path::new("/app"), &fs)
            .map(|found| (found.path.display().to_string(), found.origin))
    };
    let at = |path: &str, origin| Some((path.to_string(), origin));
    assert_eq!(
        locate(Some("/x/h.yml"), Some("/y/h.yml")),
        at("/x/h.yml", InventoryOrigin::Flag)
    );
    assert_eq!(
        locate(None, Some("/y/h.yml")),
        at("/y/h.yml", InventoryOrigin::Environment)
    );
    assert_eq!(
        locate(None, Some("")),
        at("/app/nap-hosts.yml", InventoryOrigin::Discovered)
    );
    let empty = MemoryFileSystem::default();
    assert_eq!(
        locate_inventory(None, None, Path::new("/app"), &empty),
        None
    );
    assert!(InventoryOrigin::Flag.named_by_user());
    assert!(InventoryOrigin::Environment.named_by_user());
    assert!(!InventoryOrigin::Discovered.named_by_user());
}

#[test]
fn plain_tcp_daemons_are_one_warning_unless_the_inventory_is_a_lab() {
    let text = "hosts:\n  h1: {docker: 'tcp://10.0.0.1:2375', ssh: root@10.0.0.1}\n  h2: {docker: 'tcp://10.0.0.2:2375', ssh: root@10.0.0.2}\n";
    let (_, warnings) = Inventory::parse(Path::new("/lab/nap-hosts.yml"), text).unwrap();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    let warning = warnings[0].to_string();
    for needle in [
        "nap-hosts.yml:2",
        "\"h1\" (tcp://10.0.0.1:2375)",
        "\"h2\"",
        "allow_plain_tcp: true",
    ] {
        assert!(warning.contains(needle), "{needle}: {warning}");
    }
    let lab = format!("{text}allow_plain_tcp: true\n");
    let (inventory, warnings) = Inventory::parse(Path::new("/lab/nap-hosts.yml"), &lab).unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    assert!(inventory.allow_plain_tcp);
    let bad = Inventory::parse(
        Path::new("/lab/nap-hosts.yml"),
        &format!("{text}allow_plain_tcp: yes please\n"),
    );
    assert!(
        bad.unwrap_err()
            .to_string()
            .contains("allow_plain_tcp: expected true or false")
    );
}

#[test]
fn the_builder_is_the_local_daemon_else_the_marked_host_else_the_first() {
    let remote = |builder: &str| {
        format!(
            "hosts:\n  h1: {{docker: tcp://10.210.0.11:2375}}\n  h2: {{docker: tcp://10.210.0.12:2375{builder}}}\nnetwork: {{mode: published}}\n"
        )
    };
    let first = parse(&remote("")).unwrap();
    assert_eq!(first.builder().unwrap().name, "h1");
    let marked = parse(&remote(", builder: true")).unwrap();
    assert!(marked.host("h2").unwrap().builder);
    assert_eq!(marked.builder().unwrap().name, "h2");
    let local = parse(LAB).unwrap();
    assert_eq!(local.builder().unwrap().name, "h2", "h2 is a unix socket");
    assert_eq!(
        Inventory::local(None).unwrap().builder().unwrap().name,
        LOCAL_HOST_NAME
    );
}

#[test]
fn a_builder_flag_is_a_boolean_on_one_host() {
    let error = parse("hosts:\n  h1: {docker: tcp://10.210.0.11:2375, builder: yes please}\n")
        .unwrap_err()
        .to_string();
    assert!(
        error.contains(":2:") && error.contains("builder must be true or false"),
        "{error}"
    );
    let error = parse(
        "hosts:\n  h1: {docker: tcp://10.210.0.11:2375, builder: true}\n  h2: {docker: tcp://10.210.0.12:2375, builder: true}\nnetwork: {mode: published}\n",
    )
    .unwrap_err()
    .to_string();
    assert!(
        error.contains(":3:") && error.contains("only one host can be the builder"),
        "{error}"
    );
}
