//! End-to-end tests of `nap plan` with the real binary: deterministic offline plans that
//! satisfy constraints and spread replicas, plans against the lab's real daemons, and clear
//! errors (naming file, line and host) for bad inventories and unreachable hosts.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::Value;

mod common;

use common::nap_command;

fn nap(dir: &Path, args: &[&str]) -> Output {
    nap_command(dir).args(args).output().expect("run nap")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

const COMPOSE: &str = r#"
name: shop
services:
  db:
    image: nap/busybox:lab
    deploy:
      placement:
        constraints: ["node.labels.disk==ssd"]
  web:
    image: nap/busybox:lab
    ports: ["80:80"]
    depends_on: {api: {condition: service_healthy}}
    deploy: {replicas: 3}
  api:
    image: nap/busybox:lab
    depends_on: [db]
    healthcheck: {test: "true", interval: 1s}
    deploy:
      replicas: 4
      placement:
        constraints: ["node.labels.zone != c"]
  cache:
    image: nap/busybox:lab
    deploy:
      replicas: 2
      placement:
        constraints: ["node.hostname!=h1"]
"#;

const INVENTORY: &str = r#"
hosts:
  h1: {docker: "unix:///nonexistent/h1.sock", ssh: root@10.210.0.11, labels: {zone: a, disk: ssd}}
  h2: {docker: "unix:///nonexistent/h2.sock", ssh: root@10.210.0.12, labels: {zone: b}}
  h3: {docker: "unix:///nonexistent/h3.sock", ssh: root@10.210.0.13, labels: {zone: c, disk: ssd}}
network: {mode: routed, pool: 172.30.0.0/16}
"#;

fn project_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("compose.yaml"), COMPOSE).unwrap();
    std::fs::write(dir.path().join("nap-hosts.yml"), INVENTORY).unwrap();
    dir
}

#[test]
fn offline_plan_is_deterministic_satisfies_constraints_and_spreads() {
    let dir = project_dir();
    let first = nap(dir.path(), &["plan", "--offline", "--format", "json"]);
    assert!(first.status.success(), "{}", stderr(&first));
    let second = nap(dir.path(), &["plan", "--offline", "--format", "json"]);
    assert_eq!(
        first.stdout, second.stdout,
        "the same plan twice must be the same bytes"
    );

    let plan: Value = serde_json::from_slice(&first.stdout).unwrap();
    assert_eq!(plan["project"], "shop");
    let labels: BTreeMap<&str, BTreeMap<&str, &str>> = BTreeMap::from([
        ("h1", BTreeMap::from([("zone", "a"), ("disk", "ssd")])),
        ("h2", BTreeMap::from([("zone", "b")])),
        ("h3", BTreeMap::from([("zone", "c"), ("disk", "ssd")])),
    ]);
    let mut per_service: BTreeMap<String, BTreeMap<String, usize>> = BTreeMap::new();
    for placement in plan["placements"].as_array().unwrap() {
        let service = placement["service"].as_str().unwrap();
        let host = placement["host"].as_str().unwrap();
        let replica = placement["replica"].as_u64().unwrap();
        assert_eq!(placement["container"], format!("shop-{service}-{replica}"));
        let host_labels = &labels[host];
        match service {
            "db" => assert_eq!(host_labels.get("disk"), Some(&"ssd"), "db on {host}"),
            "api" => assert_ne!(host_labels.get("zone"), Some(&"c"), "api on {host}"),
            "cache" => assert_ne!(host, "h1"),
            _ => {}
        }
        *per_service
            .entry(service.to_string())
            .or_default()
            .entry(host.to_string())
            .or_default() += 1;
    }
    // Replicas spread evenly over the hosts each service may use.
    assert_eq!(
        per_service["web"].values().copied().collect::<Vec<_>>(),
        [1, 1, 1],
        "web publishes port 80: one per host"
    );
    assert_eq!(
        per_service["api"],
        BTreeMap::from([("h1".into(), 2), ("h2".into(), 2)])
    );
    assert_eq!(
        per_service["cache"],
        BTreeMap::from([("h2".into(), 1), ("h3".into(), 1)])
    );

    // Operations are a DAG in dependency order: every `after` points backwards, web starts
    // only after every api replica is healthy, and api after db started.
    let operations = plan["operations"].as_array().unwrap();
    let mut id_of = BTreeMap::new();
    for operation in operations {
        let id = operation["id"].as_u64().unwrap();
        for after in operation["after"].as_array().unwrap() {
            assert!(
                after.as_u64().unwrap() < id,
                "operation {id} waits for a later one"
            );
        }
        if let Some(container) = operation["container"].as_str() {
            id_of.insert(
                (
                    operation["op"].as_str().unwrap().to_string(),
                    container.to_string(),
                ),
                id,
            );
        }
    }
    let start_web = operations
        .iter()
        .find(|op| op["op"] == "start_container" && op["container"] == "shop-web-1")
        .unwrap();
    let waits: Vec<u64> = start_web["after"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect();
    for replica in 1..=4 {
        let healthy = id_of[&("wait_healthy".to_string(), format!("shop-api-{replica}"))];
        assert!(
            waits.contains(&healthy),
            "web must wait for api-{replica} healthy"
        );
    }
    let start_api = operations
        .iter()
        .find(|op| op["op"] == "start_container" && op["container"] == "shop-api-1")
        .unwrap();
    let db_started = id_of[&("start_container".to_string(), "shop-db-1".to_string())];
    assert!(
        start_api["after"]
            .as_array()
            .unwrap()
            .iter()
            .any(|v| v.as_u64() == Some(db_started))
    );
}

#[test]
fn offline_text_plan_lists_placements_and_operations() {
    let dir = project_dir();
    let output = nap(dir.path(), &["plan", "--offline"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    assert!(
        text.starts_with("project shop: 10 containers on 3 hosts\n"),
        "{text}"
    );
    assert!(
        text.contains("create network shop_default (172.30.0.0/24)"),
        "{text}"
    );
    assert!(text.contains("wait for shop-api-1 healthy"), "{text}");
}

#[test]
fn unreachable_host_is_named_and_fails() {
    let dir = project_dir();
    let output = nap(dir.path(), &["plan"]);
    assert!(!output.status.success());
    let message = stderr(&output);
    for host in ["h1", "h2", "h3"] {
        assert!(
            message.contains(&format!(
                "host \"{host}\" (unix:///nonexistent/{host}.sock)"
            )),
            "{message}"
        );
    }
}

#[test]
fn no_host_fits_names_service_and_reasons() {
    let dir = project_dir();
    let compose = COMPOSE.replace("deploy: {replicas: 3}", "deploy: {replicas: 4}");
    std::fs::write(dir.path().join("compose.yaml"), compose).unwrap();
    let output = nap(dir.path(), &["plan", "--offline"]);
    assert_eq!(output.status.code(), Some(1));
    let message = stderr(&output);
    assert!(
        message.contains("no host fits service \"web\" replica 4"),
        "{message}"
    );
    assert!(
        message.contains("published port 80/tcp already used by web-"),
        "{message}"
    );
}

#[test]
fn bad_inventory_names_file_line_host_and_field() {
    let dir = project_dir();
    let inventory = INVENTORY.replace("unix:///nonexistent/h2.sock", "ftp://h2");
    std::fs::write(dir.path().join("nap-hosts.yml"), inventory).unwrap();
    let output = nap(dir.path(), &["plan", "--offline"]);
    assert_eq!(output.status.code(), Some(1));
    let message = stderr(&output);
    let file = dir.path().join("nap-hosts.yml");
    assert!(
        message.contains(&format!(
            "{}:4: hosts.h2.docker: host \"h2\"",
            file.display()
        )),
        "{message}"
    );
}

fn lab_dir() -> PathBuf {
    PathBuf::from(
        std::env::var("NAP_LAB_DIR")
            .expect("NAP_LAB_DIR is not set: run the suite with tests/run, which starts the lab"),
    )
}

#[test]
fn plan_against_the_lab_reads_real_hosts() {
    let lab = lab_dir();
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/hello/compose.yaml");
    let inventory = lab.join("nap-hosts.yml");
    let output = nap(
        &lab,
        &[
            "-f",
            example.to_str().unwrap(),
            "-p",
            "e2eplan",
            "--hosts",
            inventory.to_str().unwrap(),
            "plan",
            "--format",
            "json",
        ],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let plan: Value = serde_json::from_slice(&output.stdout).unwrap();
    let operations = plan["operations"].as_array().unwrap();
    // The lab imported the image into every host: observing them shows it, so nothing ships.
    assert!(
        !operations.iter().any(|op| op["op"] == "ensure_image"),
        "the lab hosts already hold nap/busybox:lab: {operations:#?}"
    );
    let hosts: std::collections::BTreeSet<&str> = plan["placements"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["host"].as_str().unwrap())
        .collect();
    assert_eq!(hosts.len(), 3, "6 containers spread over the 3 lab hosts");
    assert_eq!(
        operations
            .iter()
            .filter(|op| op["op"] == "create_network")
            .count(),
        3
    );
}
