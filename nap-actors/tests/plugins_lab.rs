//! End-to-end: the real `nap` binary loading the real plugins built from `plugins/` —
//! listed by `nap plugins`, refused before anything is deployed when a file is not a plugin
//! for this ABI, and `jsonl-log`'s `post_start` hook recording every container a lab
//! deployment starts, with its host and address.

use std::collections::BTreeMap;
use std::process::Command;

use serde_json::Value;

mod common;

use common::*;

#[test]
fn nap_plugins_lists_name_version_and_hooks() {
    let jsonl = plugin_library("nap-plugin-jsonl-log");
    let zone = plugin_library("nap-plugin-zone-spread");
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_nap"))
        .arg("--plugin")
        .arg(&jsonl)
        .arg("--plugin")
        .arg(&zone)
        .args(["plugins", "--format", "json"])
        .current_dir(dir.path())
        .env_remove("NAP_HOSTS")
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", text(&output.stderr));
    let listed: Vec<Value> = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(listed.len(), 2, "{listed:#?}");
    assert_eq!(
        listed[0]["hooks"],
        serde_json::json!(["post_start"]),
        "{listed:#?}"
    );
    assert_eq!(
        listed[1]["hooks"],
        serde_json::json!(["schedule"]),
        "{listed:#?}"
    );
    for plugin in &listed {
        assert!(!plugin["name"].as_str().unwrap().is_empty());
        assert!(!plugin["version"].as_str().unwrap().is_empty());
    }
}

#[test]
fn a_plugin_for_another_abi_stops_up_before_any_change() {
    let project = LabProject::new("e2eabi", 11, None);
    project.write_compose(
        "services:\n  one:\n    image: nap/busybox:lab\n    command: [sleep, '100']\n",
    );
    let wrong = plugin_library("nap-plugin-testing-wrong-abi");
    let wrong_text = wrong.to_string_lossy().to_string();
    let output = project.nap(&["--plugin", &wrong_text, "up"]);
    let stderr = text(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(stderr.contains(&wrong_text), "the file is named: {stderr}");
    assert!(stderr.contains("ABI"), "{stderr}");
    assert_eq!(containers_on_hosts(&project.name), BTreeMap::new());
}

#[test]
fn jsonl_log_records_every_started_container_with_its_host_and_address() {
    let project = LabProject::new("e2ejsonl", 12, None);
    let log = project.dir.path().join("started.jsonl");
    let library = plugin_library("nap-plugin-jsonl-log");
    let inventory = std::fs::read_to_string(&project.inventory).unwrap();
    std::fs::write(
        &project.inventory,
        format!(
            "{inventory}\nplugins:\n  - path: {}\n    config: {{path: {}}}\n",
            library.display(),
            log.display()
        ),
    )
    .unwrap();
    project.write_compose(&format!(
        "services:\n  web:\n    image: nap/busybox:lab\n    command: {}\n    deploy:\n      replicas: 3\n",
        server(80)
    ));
    project.up(&[]);
    let lines: Vec<Value> = std::fs::read_to_string(&log)
        .unwrap_or_else(|error| panic!("{}: {error}", log.display()))
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let rows = project.ps();
    assert_eq!(lines.len(), 3, "{lines:#?}");
    for row in &rows {
        let line = lines
            .iter()
            .find(|line| line["container"] == row["container"])
            .unwrap_or_else(|| panic!("no line for {row}: {lines:#?}"));
        assert_eq!(line["host"], row["host"], "{line}");
        assert_eq!(line["ip"], row["ip"], "{line}");
        assert_eq!(line["service"], "web");
        assert!(
            line["names"]
                .as_array()
                .unwrap()
                .contains(&Value::from("web"))
        );
    }
}
