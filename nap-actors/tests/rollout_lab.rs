//! End-to-end: rolling updates by `deploy.update_config` on the 3-host lab — start-first keeps
//! a client that loops on the service by name from ever failing, and a new configuration that
//! fails its healthcheck is rolled back when `failure_action: rollback` says so.

use std::time::{Duration, Instant};

use serde_json::Value;

mod common;

use common::*;

/// A client that connects to `web:80` by name ten times a second, forever, logging each try
/// (a 3 s connect timeout: on a loaded machine a SYN is sometimes retransmitted after 1 s,
/// which is a slow connection, not a failed one).
fn client() -> &'static str {
    r#"["sh", "-c", "trap 'exit 0' TERM; while true; do if nc -w 3 web 80 </dev/null 2>/tmp/nc.err; then echo ok; else echo \"FAIL $(date +%T) $(cat /tmp/nc.err) $(grep -w web /etc/hosts | tr '\\n' ' ')\"; fi >> /tmp/probe.log; sleep 0.1; done & wait"]"#
}

fn stack(marker: &str, healthcheck: &str, update_config: &str) -> String {
    format!(
        r#"
services:
  web:
    image: nap/busybox:lab
    command: {web}
    environment:
      MARKER: "{marker}"
    healthcheck: {healthcheck}
    deploy:
      replicas: 2
      update_config: {update_config}
      placement:
        constraints: [node.hostname!=h3]
  client:
    image: nap/busybox:lab
    command: {client}
    deploy:
      placement:
        constraints: [node.hostname==h3]
"#,
        web = server(80),
        client = client(),
    )
}

const HEALTHY: &str =
    r#"{test: ["CMD-SHELL", "nc -w 1 127.0.0.1 80 </dev/null"], interval: 1s, retries: 3}"#;

/// (successes, failures with what each saw).
fn probe_counts(project: &str) -> (usize, Vec<String>) {
    let (ok, log) = exec_in("h3", &format!("{project}-client-1"), "cat /tmp/probe.log");
    assert!(ok, "{log}");
    let oks = log.lines().filter(|line| *line == "ok").count();
    let fails = log
        .lines()
        .filter(|line| line.starts_with("FAIL"))
        .map(str::to_string)
        .collect();
    (oks, fails)
}

fn web_config_hashes(project: &LabProject) -> Vec<(String, String)> {
    project
        .ps()
        .iter()
        .filter(|row| row["service"] == "web")
        .map(|row| {
            let host = row["host"].as_str().unwrap();
            let container = row["container"].as_str().unwrap();
            let inspect = docker(
                host,
                &[
                    "inspect",
                    "-f",
                    "{{index .Config.Labels \"nap.config-hash\"}} {{.State.Status}}",
                    container,
                ],
            );
            (
                container.to_string(),
                text(&inspect.stdout).trim().to_string(),
            )
        })
        .collect()
}

#[test]
fn a_start_first_rollout_never_fails_a_client_that_uses_the_service_by_name() {
    let project = LabProject::new("e2eroll", 8, None);
    let name = project.name.clone();
    let policy = "{order: start-first, parallelism: 1, monitor: 1s}";
    project.write_compose(&stack("one", HEALTHY, policy));
    project.up(&[]);
    // The client is running and reaching web.
    let started = Instant::now();
    while probe_counts(&name).0 < 5 {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the client never reached web"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // Count from here: the client's first tries may precede web's start.
    let (ok, output) = exec_in("h3", &format!("{name}-client-1"), ": > /tmp/probe.log");
    assert!(ok, "{output}");
    let before: Vec<Value> = project.ps();
    project.write_compose(&stack("two", HEALTHY, policy));
    let events = project.up(&[]);
    let replaced: Vec<&Value> = events
        .iter()
        .filter(|e| e["event"] == "finished" && e["op"] == "replace_container")
        .collect();
    assert_eq!(replaced.len(), 2, "{events:#?}");
    assert!(
        events
            .iter()
            .any(|e| e["event"] == "finished" && e["op"] == "retire_container")
    );
    // Let the client try a little longer, then count.
    std::thread::sleep(Duration::from_millis(500));
    let (oks, fails) = probe_counts(&name);
    assert!(
        fails.is_empty(),
        "the client failed {} times (and succeeded {oks} times) during the rollout: {fails:#?}\nevents: {events:#?}",
        fails.len()
    );
    // The new replicas run at new addresses, with the new configuration; the old are gone.
    let after = project.ps();
    assert_eq!(after.len(), 3, "{after:#?}");
    for row in after.iter().filter(|row| row["service"] == "web") {
        let old = before
            .iter()
            .find(|b| b["container"] == row["container"])
            .unwrap();
        assert_ne!(old["ip"], row["ip"], "{row}");
        assert_eq!(row["state"], "running");
    }
    assert_eq!(
        containers_on_hosts(&name).len(),
        3,
        "no old container left behind"
    );
}

#[test]
fn a_replica_that_fails_its_healthcheck_is_rolled_back() {
    let project = LabProject::new("e2eback", 9, None);
    let policy = "{parallelism: 1, monitor: 2s, failure_action: rollback}";
    project.write_compose(&stack("one", HEALTHY, policy));
    project.up(&[]);
    let before = web_config_hashes(&project);
    let failing = r#"{test: ["CMD", "false"], interval: 1s, retries: 1}"#;
    project.write_compose(&stack("two", failing, policy));
    let output = project.nap(&["up", "--format", "json", "--wait-timeout", "30"]);
    let stderr = text(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(
        stderr.contains("rolled back to the previous configuration"),
        "{stderr}"
    );
    // The first replica was tried and put back; the second was never touched. Both run the
    // old configuration under their own names.
    assert_eq!(web_config_hashes(&project), before);
    assert!(
        before.iter().all(|(_, state)| state.ends_with("running")),
        "{before:?}"
    );
    assert_eq!(containers_on_hosts(&project.name).len(), 3);
}
