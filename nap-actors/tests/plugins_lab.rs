//! End-to-end: the real `nap` binary loading the real plugins built from `plugins/` —
//! listed by `nap plugins`; `zone-spread` changing where `nap plan` puts replicas; placement
//! plugins that panic or hang failing the plan naming them, or skipped with a warning when
//! optional; refused before anything is deployed when a file is not a plugin for this ABI; and
//! `jsonl-log`'s `post_start` hook recording every container a lab deployment starts, with its
//! host and address.

use std::collections::BTreeMap;

use serde_json::Value;

mod common;

use common::*;

#[test]
fn nap_plugins_lists_name_version_and_hooks() {
    let jsonl = plugin_library("nap-plugin-jsonl-log");
    let zone = plugin_library("nap-plugin-zone-spread");
    let dir = tempfile::tempdir().unwrap();
    let output = nap_command(dir.path())
        .arg("--plugin")
        .arg(&jsonl)
        .arg("--plugin")
        .arg(&zone)
        .args(["plugins", "--format", "json"])
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

/// A project folder for offline plans: web with `replicas` on hosts h1 and h2 in zone a and h3
/// in zone b; `plugins` is the inventory's `plugins:` value.
fn zoned_project(replicas: u32, plugins: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("compose.yaml"),
        format!(
            "name: zoned\nservices:\n  web:\n    image: nap/busybox:lab\n    deploy: {{replicas: {replicas}}}\n"
        ),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("nap-hosts.yml"),
        format!(
            "hosts:\n  h1: {{docker: 'unix:///nonexistent/h1.sock', address: 10.210.9.1, labels: {{zone: a}}}}\n  h2: {{docker: 'unix:///nonexistent/h2.sock', address: 10.210.9.2, labels: {{zone: a}}}}\n  h3: {{docker: 'unix:///nonexistent/h3.sock', address: 10.210.9.3, labels: {{zone: b}}}}\nnetwork: {{mode: published}}\nplugins: {plugins}\n"
        ),
    )
    .unwrap();
    dir
}

/// `nap [args…] plan --offline --format json` in `dir`.
fn offline_plan(dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    nap_command(dir)
        .args(["--hosts", "nap-hosts.yml"])
        .args(args)
        .args(["plan", "--offline", "--format", "json"])
        .output()
        .unwrap()
}

/// Replicas per host in a JSON plan.
fn replicas_per_host(output: &std::process::Output) -> BTreeMap<String, usize> {
    assert!(output.status.success(), "{}", text(&output.stderr));
    let plan: Value = serde_json::from_slice(&output.stdout).unwrap();
    let mut counts = BTreeMap::new();
    for placement in plan["placements"].as_array().unwrap() {
        *counts
            .entry(placement["host"].as_str().unwrap().to_string())
            .or_default() += 1;
    }
    counts
}

fn counts(pairs: &[(&str, usize)]) -> BTreeMap<String, usize> {
    pairs.iter().map(|(h, n)| (h.to_string(), *n)).collect()
}

#[test]
fn zone_spread_changes_nap_plan_to_balance_the_zones() {
    let zone = plugin_library("nap-plugin-zone-spread");
    let zone = zone.to_str().unwrap();
    let dir = zoned_project(4, "[]");
    // nap's own spread evens out hosts: zone a gets 3 of 4.
    let plain = replicas_per_host(&offline_plan(dir.path(), &[]));
    assert_eq!(plain, counts(&[("h1", 2), ("h2", 1), ("h3", 1)]));
    // zone-spread evens out zones first: 2 in a (one per host), 2 in b.
    let zoned = replicas_per_host(&offline_plan(dir.path(), &["--plugin", zone]));
    assert_eq!(zoned, counts(&[("h1", 1), ("h2", 1), ("h3", 2)]));

    // The same from the inventory, with the label configured: `rack` puts every host in one
    // (empty) zone, so the plugin keeps nap's order.
    let configured = zoned_project(4, &format!("[{{path: '{zone}', config: {{label: rack}}}}]"));
    let output = offline_plan(configured.path(), &[]);
    assert_eq!(replicas_per_host(&output), plain);
}

#[test]
fn a_failing_placement_plugin_fails_the_plan_naming_it_unless_optional() {
    let panics = plugin_library("nap-plugin-testing-panic");
    let panics = panics.to_str().unwrap();
    let dir = zoned_project(3, "[]");
    let output = offline_plan(dir.path(), &["--plugin", panics]);
    let stderr = text(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(
        stderr.contains(r#"placement policy "testing-panic" failed for service "web" replica 1"#),
        "{stderr}"
    );
    assert!(stderr.contains("deliberate panic placing web"), "{stderr}");
    assert!(output.stdout.is_empty(), "no plan is printed");

    // Marked optional in the inventory: nap places without it and says so once.
    let optional = zoned_project(3, &format!("[{{path: '{panics}', optional: true}}]"));
    let output = offline_plan(optional.path(), &[]);
    let stderr = text(&output.stderr);
    assert_eq!(
        replicas_per_host(&output),
        counts(&[("h1", 1), ("h2", 1), ("h3", 1)])
    );
    assert_eq!(stderr.matches("warning:").count(), 1, "{stderr}");
    assert!(
        stderr.contains(r#"placement plugin "testing-panic" is optional, so nap placed without it: service "web" replica 1"#)
            && stderr.contains("(and 2 more replicas)"),
        "{stderr}"
    );
}

#[test]
fn a_placement_plugin_past_its_time_limit_fails_the_plan_or_is_skipped_if_optional() {
    let sleeps = plugin_library("nap-plugin-testing-sleep");
    let sleeps = sleeps.to_str().unwrap();
    let dir = zoned_project(2, "[]");
    let output = offline_plan(dir.path(), &["--plugin", sleeps]);
    let stderr = text(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(
        stderr.contains(r#"placement policy "testing-sleep" failed for service "web" replica 1: did not answer within 5 s"#),
        "{stderr}"
    );

    // Optional: the first call times out, the plugin is not asked again for replica 2.
    let optional = zoned_project(2, &format!("[{{path: '{sleeps}', optional: true}}]"));
    let output = offline_plan(optional.path(), &[]);
    let stderr = text(&output.stderr);
    assert_eq!(replicas_per_host(&output).values().sum::<usize>(), 2);
    assert!(
        stderr.contains("did not answer within 5 s (and 1 more replicas)"),
        "{stderr}"
    );
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

#[test]
fn zone_spread_places_the_replicas_of_an_up_on_the_lab() {
    // The lab's hosts: h1 and h3 in zone a, h2 in zone b. nap alone puts 4 replicas 2/1/1,
    // so zone a gets 3; with zone-spread each zone gets 2.
    let project = LabProject::new("e2ezone", 13, None);
    let library = plugin_library("nap-plugin-zone-spread");
    let inventory = std::fs::read_to_string(&project.inventory).unwrap();
    std::fs::write(
        &project.inventory,
        format!("{inventory}\nplugins: [{}]\n", library.display()),
    )
    .unwrap();
    project.write_compose(
        "services:\n  web:\n    image: nap/busybox:lab\n    command: [sleep, '1000']\n    deploy:\n      replicas: 4\n",
    );
    project.up(&[]);
    let mut per_host: BTreeMap<String, usize> = BTreeMap::new();
    for host in containers_on_hosts(&project.name).into_values() {
        *per_host.entry(host).or_default() += 1;
    }
    assert_eq!(per_host, counts(&[("h1", 1), ("h2", 2), ("h3", 1)]));
    // A second up keeps every replica where it runs.
    let events = project.up(&[]);
    assert_eq!(mutations(&events), Vec::new());
}
