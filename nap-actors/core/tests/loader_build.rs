//! `build:` through the loader: every key Compose accepts that the classic builder honours,
//! read into its long form and printed by `nap config`; BuildKit-only keys refused and
//! cache/attestation keys warned, each naming file and line; `-f` overrides merging `build`
//! as Compose does.

use std::path::PathBuf;

use nap_core::compose::{LoadOptions, MemoryFileSystem, load_with};

fn load(files: &[(&str, &str)]) -> Result<nap_core::compose::Loaded, nap_core::compose::LoadError> {
    let mut fs = MemoryFileSystem::default();
    for (path, text) in files {
        fs = fs.with(*path, *text);
    }
    let options = LoadOptions {
        working_dir: PathBuf::from("/p"),
        files: files
            .iter()
            .map(|(path, _)| PathBuf::from(path))
            .filter(|path| path.extension().is_some_and(|e| e == "yaml"))
            .collect(),
        ..LoadOptions::default()
    };
    load_with(&options, &fs)
}

const FULL: &str = "services:
  web:
    build:
      context: ./web
      dockerfile: docker/Dockerfile.prod
      args: {VERSION: '1.2', EMPTY: ''}
      target: prod
      labels: [team=shop, tier]
      network: host
      extra_hosts: ['registry.local:10.0.0.5']
      shm_size: 256m
      no_cache: true
      pull: 'yes'
      tags: ['shop/web:1.2', 'shop/web:latest']
      cache_from: ['shop/web:cache']
      x-note: kept out
";

#[test]
fn every_classic_builder_key_is_read_and_printed() {
    let loaded = load(&[("/p/compose.yaml", FULL)]).unwrap();
    let build = loaded.project.services["web"].build.clone().unwrap();
    assert_eq!(build.context.as_deref(), Some("/p/web"));
    assert_eq!(build.dockerfile.as_deref(), Some("docker/Dockerfile.prod"));
    assert_eq!(build.args["VERSION"].as_deref(), Some("1.2"));
    assert_eq!(build.target.as_deref(), Some("prod"));
    assert_eq!(build.labels["team"], "shop");
    assert_eq!(build.labels["tier"], "");
    assert_eq!(build.network.as_deref(), Some("host"));
    assert_eq!(build.extra_hosts, ["registry.local:10.0.0.5"]);
    assert_eq!(build.shm_size.as_deref(), Some("256m"));
    assert_eq!((build.no_cache, build.pull), (Some(true), Some(true)));
    assert_eq!(build.tags, ["shop/web:1.2", "shop/web:latest"]);
    assert_eq!(build.cache_from, ["shop/web:cache"]);
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    let printed = serde_yaml::to_string(&loaded.project).unwrap();
    for key in [
        "dockerfile:",
        "target:",
        "labels:",
        "network:",
        "extra_hosts:",
        "shm_size:",
        "no_cache:",
        "pull:",
        "tags:",
        "cache_from:",
    ] {
        assert!(printed.contains(key), "{key} in:\n{printed}");
    }
    assert!(!printed.contains("context_hash"), "{printed}");
}

#[test]
fn buildkit_keys_are_refused_and_cache_keys_warned_naming_the_line() {
    let error = load(&[(
        "/p/compose.yaml",
        "services:\n  web:\n    build:\n      context: .\n      secrets: [token]\n",
    )])
    .unwrap_err()
    .to_string();
    assert!(
        error.contains("compose.yaml:5") && error.contains("build.secrets needs BuildKit"),
        "{error}"
    );
    let error = load(&[(
        "/p/compose.yaml",
        "services:\n  web:\n    build:\n      context: .\n      contxt: .\n",
    )])
    .unwrap_err()
    .to_string();
    assert!(
        error.contains(":5") && error.contains("unknown build key \"contxt\""),
        "{error}"
    );
    let error = load(&[(
        "/p/compose.yaml",
        "services:\n  web:\n    build:\n      dockerfile: D\n      dockerfile_inline: FROM scratch\n",
    )])
    .unwrap_err()
    .to_string();
    assert!(error.contains("mutually exclusive"), "{error}");
    let loaded = load(&[(
        "/p/compose.yaml",
        "services:\n  web:\n    build:\n      context: .\n      cache_to: [type=inline]\n",
    )])
    .unwrap();
    let warning = loaded.warnings[0].to_string();
    assert!(
        warning.contains(":5") && warning.contains("build.cache_to is ignored"),
        "{warning}"
    );
    let error = load(&[(
        "/p/compose.yaml",
        "services:\n  web:\n    build:\n      context: .\n      tags: ['Shop/Web']\n",
    )])
    .unwrap_err()
    .to_string();
    assert!(error.contains("not a valid image name"), "{error}");
}

#[test]
fn an_override_merges_build_as_compose_does() {
    let loaded = load(&[
        ("/p/compose.yaml", FULL),
        (
            "/p/compose.override.yaml",
            "services:\n  web:\n    build:\n      dockerfile_inline: FROM scratch\n      args: {EXTRA: x}\n      tags: ['shop/web:dev']\n",
        ),
    ])
    .unwrap();
    let build = loaded.project.services["web"].build.clone().unwrap();
    assert_eq!(
        build.dockerfile, None,
        "dockerfile_inline replaces dockerfile"
    );
    assert_eq!(build.dockerfile_inline.as_deref(), Some("FROM scratch"));
    assert_eq!(build.args.len(), 3, "{:?}", build.args);
    assert_eq!(
        build.tags,
        ["shop/web:1.2", "shop/web:latest", "shop/web:dev"]
    );
    assert_eq!(build.context.as_deref(), Some("/p/web"));
}
