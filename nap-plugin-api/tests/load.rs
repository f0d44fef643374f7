//! Loads the real plugin libraries of this workspace through the ABI (feature `host`).
//!
//! These tests depend on the build: run `cargo build --workspace` first so that the `cdylib`
//! plugins exist next to this test binary's target directory.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;

use nap_plugin_api::{
    Candidate, ContainerStarted, HookError, LoadError, LoadedPlugin, ScheduleDecision,
    ScheduleRequest,
};

/// The `target/<profile>` directory holding the plugin libraries.
fn library_dir() -> PathBuf {
    // The test binary is `target/<profile>/deps/load-<hash>`.
    let exe = std::env::current_exe().expect("test binary path");
    exe.parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile> directory")
        .to_path_buf()
}

fn plugin_path(crate_name: &str) -> PathBuf {
    let file = format!(
        "{}{}{}",
        std::env::consts::DLL_PREFIX,
        crate_name.replace('-', "_"),
        std::env::consts::DLL_SUFFIX
    );
    let path = library_dir().join(file);
    assert!(
        path.exists(),
        "{} is missing: run cargo build --workspace first",
        path.display()
    );
    path
}

fn load(crate_name: &str) -> LoadedPlugin {
    let path = plugin_path(crate_name);
    LoadedPlugin::load(&path).unwrap_or_else(|error| panic!("loading {}: {error}", path.display()))
}

fn candidate(name: &str, zone: Option<&str>, service_replicas: usize) -> Candidate {
    Candidate {
        name: name.to_owned(),
        labels: zone
            .map(|zone| BTreeMap::from([("zone".to_owned(), zone.to_owned())]))
            .unwrap_or_default(),
        containers: service_replicas,
        service_replicas,
    }
}

fn request(candidates: Vec<Candidate>, config: serde_json::Value) -> ScheduleRequest {
    ScheduleRequest {
        project: "shop".to_owned(),
        service: "web".to_owned(),
        replica: 4,
        candidates,
        config,
    }
}

#[test]
fn zone_spread_picks_the_zone_with_the_fewest_replicas_of_the_service() {
    let plugin = load("nap-plugin-zone-spread");
    assert_eq!(plugin.name(), "zone-spread");
    assert!(plugin.optional());
    assert_eq!(plugin.hooks(), ["schedule"]);

    // Zone a holds 2 replicas (on h1), zone b 1 (on h3), zone c none yet.
    let candidates = vec![
        candidate("h1", Some("a"), 2),
        candidate("h2", Some("a"), 0),
        candidate("h3", Some("b"), 1),
        candidate("h4", Some("b"), 0),
        candidate("h5", Some("c"), 0),
        candidate("h6", Some("c"), 0),
    ];
    let decision = plugin
        .schedule(&request(candidates.clone(), serde_json::Value::Null))
        .unwrap();
    let ranked = decision.ranked(&candidates).unwrap();
    // Zone c first (h5 before h6: nap's order), then zone b (empty h4 before h3), then zone a.
    assert_eq!(ranked, ["h5", "h6", "h4", "h3", "h2", "h1"]);

    // Once zone c is as full as zone b, zone b's emptier host wins over c's hosts in order.
    let candidates = vec![
        candidate("h1", Some("a"), 2),
        candidate("h3", Some("b"), 1),
        candidate("h4", Some("b"), 0),
        candidate("h5", Some("c"), 1),
        candidate("h6", Some("c"), 1),
    ];
    let decision = plugin
        .schedule(&request(candidates.clone(), serde_json::Value::Null))
        .unwrap();
    assert_eq!(decision.ranked(&candidates).unwrap()[0], "h4");
}

#[test]
fn zone_spread_reads_the_label_from_its_config_and_rejects_a_bad_one() {
    let plugin = load("nap-plugin-zone-spread");
    let rack = |name: &str, rack: &str, service_replicas| Candidate {
        name: name.to_owned(),
        labels: BTreeMap::from([("rack".to_owned(), rack.to_owned())]),
        containers: 0,
        service_replicas,
    };
    let candidates = vec![
        rack("h1", "r1", 1),
        rack("h2", "r1", 0),
        rack("h3", "r2", 0),
    ];
    let config = serde_json::json!({ "label": "rack" });
    let decision = plugin
        .schedule(&request(candidates.clone(), config))
        .unwrap();
    assert_eq!(decision.ranked(&candidates).unwrap()[0], "h3");

    let error = plugin
        .schedule(&request(candidates, serde_json::json!({ "label": 7 })))
        .unwrap_err();
    assert!(matches!(error, HookError::Failed { .. }), "{error:?}");
    assert_eq!(
        error.to_string(),
        "plugin `zone-spread` schedule hook failed: config.label must be a string, got 7"
    );
}

fn started(config: serde_json::Value) -> ContainerStarted {
    ContainerStarted {
        project: "shop".to_owned(),
        service: "web".to_owned(),
        replica: 1,
        host: "h1".to_owned(),
        container: "shop-web-1".to_owned(),
        container_id: "0123abcd".to_owned(),
        ip: Some("10.0.0.2".to_owned()),
        names: vec!["web".to_owned(), "shop-web-1".to_owned()],
        config,
    }
}

#[test]
fn jsonl_log_appends_one_line_per_started_container() {
    let plugin = load("nap-plugin-jsonl-log");
    assert_eq!(plugin.hooks(), ["post_start"]);
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("started.jsonl");
    let config = serde_json::json!({ "path": path });
    plugin.post_start(&started(config.clone())).unwrap();
    plugin.post_start(&started(config)).unwrap();

    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    let record: serde_json::Value = serde_json::from_str(lines[0]).unwrap();
    assert_eq!(record["container"], "shop-web-1");
    assert_eq!(record["container_id"], "0123abcd");
    assert_eq!(record["ip"], "10.0.0.2");
    assert_eq!(record["names"], serde_json::json!(["web", "shop-web-1"]));
    assert!(record.get("config").is_none(), "{record}");
    let timestamp = record["timestamp"].as_str().unwrap();
    assert!(
        timestamp.len() == 24 && timestamp.ends_with('Z'),
        "{timestamp}"
    );
}

#[test]
fn jsonl_log_without_a_path_is_an_error() {
    let plugin = load("nap-plugin-jsonl-log");
    let error = plugin
        .post_start(&started(serde_json::Value::Null))
        .unwrap_err();
    assert!(
        error.to_string().contains("config.path is required"),
        "{error}"
    );
}

#[test]
fn a_panicking_hook_is_an_error_and_the_process_survives() {
    let plugin = load("nap-plugin-testing-panic");
    let candidates = vec![candidate("h1", None, 0)];
    for _ in 0..3 {
        let error = plugin
            .schedule(&request(candidates.clone(), serde_json::Value::Null))
            .unwrap_err();
        assert!(matches!(error, HookError::Panicked { .. }), "{error:?}");
        let message = error.to_string();
        assert!(message.contains("panicked"), "{message}");
        assert!(
            message.contains("deliberate panic placing web"),
            "{message}"
        );
        assert!(message.contains("testing-panic"), "{message}");
    }
    // Still alive, and the hook of another plugin still works.
    let zone_spread = load("nap-plugin-zone-spread");
    assert!(
        zone_spread
            .schedule(&request(candidates, serde_json::Value::Null))
            .is_ok()
    );
}

#[test]
fn a_plugin_with_another_abi_version_is_refused_naming_the_file_and_both_versions() {
    let path = plugin_path("nap-plugin-testing-wrong-abi");
    let error = LoadedPlugin::load(&path).unwrap_err();
    assert!(
        matches!(
            error,
            LoadError::AbiMismatch {
                found: 999,
                expected: 1,
                ..
            }
        ),
        "{error:?}"
    );
    let message = error.to_string();
    assert!(message.contains(&path.display().to_string()), "{message}");
    assert!(
        message.contains("ABI 999") && message.contains("ABI 1"),
        "{message}"
    );
}

#[test]
fn a_file_that_is_not_a_library_is_refused_naming_the_file() {
    let mut file = tempfile::Builder::new().suffix(".so").tempfile().unwrap();
    file.write_all(b"this is not an ELF file, just garbage\n")
        .unwrap();
    let error = LoadedPlugin::load(file.path()).unwrap_err();
    assert!(matches!(error, LoadError::NotALibrary { .. }), "{error:?}");
    let message = error.to_string();
    assert!(
        message.contains(&file.path().display().to_string()),
        "{message}"
    );
    assert!(message.contains("not a loadable library"), "{message}");
}

#[test]
fn a_missing_file_is_refused_naming_the_file() {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("absent.so");
    let error = LoadedPlugin::load(&path).unwrap_err();
    assert!(
        error.to_string().contains(&path.display().to_string()),
        "{error}"
    );
}

#[cfg(target_os = "linux")]
#[test]
fn a_library_without_the_entry_symbol_is_not_a_nap_plugin() {
    // Any real shared library without `nap_plugin_v1`: this test binary's own libc.
    let libc = [
        "/lib/x86_64-linux-gnu/libc.so.6",
        "/lib/aarch64-linux-gnu/libc.so.6",
        "/lib64/libc.so.6",
        "/usr/lib/libc.so.6",
    ]
    .into_iter()
    .map(PathBuf::from)
    .find(|path| path.exists())
    .expect("a libc.so.6 on this Linux machine");
    let error = LoadedPlugin::load(&libc).unwrap_err();
    assert!(matches!(error, LoadError::NotAPlugin { .. }), "{error:?}");
    let message = error.to_string();
    assert!(
        message.contains("not a nap plugin") && message.contains("libc.so.6"),
        "{message}"
    );
}

#[test]
fn the_sleeping_plugin_loads_and_its_hook_blocks_the_calling_thread_only() {
    let plugin = load("nap-plugin-testing-sleep");
    assert_eq!(plugin.name(), "testing-sleep");
    assert_eq!(plugin.hooks(), ["schedule"]);
    // Time limits are the caller's job: run the hook on its own thread and stop waiting.
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let answer = plugin.schedule(&request(
            vec![candidate("h1", None, 0)],
            serde_json::Value::Null,
        ));
        let _ = sender.send(answer.map(|decision| decision == ScheduleDecision::Keep));
    });
    let waited = receiver.recv_timeout(std::time::Duration::from_millis(200));
    assert!(
        waited.is_err(),
        "the 10 s hook answered within 200 ms: {waited:?}"
    );
}
