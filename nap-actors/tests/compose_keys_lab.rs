//! Lab test of the Compose Specification keys nap deploys: a service brought in by
//! `include:` (from a folder of its own, with its own `.env`) is created on the lab's hosts
//! and reached by name from another service's replicas on every host, and the resource keys
//! (`mem_limit`, `cpus`, `pids_limit`, `ulimits`, `dns_search`, `group_add`,
//! `oom_score_adj`, `deploy.resources.limits`) are what `docker inspect` shows on each host.
//!
//! Needs the lab (`tests/run` starts it; `NAP_LAB_DIR`).

mod common;

use common::*;
use serde_json::Value;

const PROJECT: &str = "e2ekeys";

fn inspect(host: &str, container: &str) -> Value {
    let output = docker(host, &["inspect", container]);
    assert!(
        output.status.success(),
        "docker inspect {container} on {host}: {}",
        text(&output.stderr)
    );
    let list: Value = serde_json::from_slice(&output.stdout).expect("inspect JSON");
    list[0].clone()
}

#[test]
fn an_included_service_is_reachable_and_limits_are_applied_on_every_host() {
    let project = LabProject::new(PROJECT, 40, None);
    let cache_dir = project.dir.path().join("cache");
    std::fs::create_dir_all(&cache_dir).unwrap();
    std::fs::write(
        cache_dir.join("compose.yaml"),
        format!(
            "services:\n  cache:\n    image: nap/busybox:lab\n    command: {}\n    environment:\n      ORIGIN: ${{CACHE_ORIGIN}}\n",
            server(6379)
        ),
    )
    .unwrap();
    std::fs::write(cache_dir.join(".env"), "CACHE_ORIGIN=included\n").unwrap();
    project.write_compose(&format!(
        r#"
include:
  - cache/compose.yaml
services:
  app:
    image: nap/busybox:lab
    command: {app}
    depends_on: [cache]
    mem_limit: 96m
    cpus: 0.5
    pids_limit: 64
    ulimits:
      nofile: {{soft: 1024, hard: 2048}}
    dns_search: [example.internal]
    group_add: ["1234"]
    oom_score_adj: 100
    deploy:
      replicas: 3
  capped:
    image: nap/busybox:lab
    command: {capped}
    mem_limit: 1g
    deploy:
      resources:
        limits: {{memory: 48m, pids: 32}}
"#,
        app = server(8080),
        capped = server(8081),
    ));
    project.up(&[]);

    let placed = containers_on_hosts(PROJECT);
    let cache = format!("{PROJECT}-cache-1");
    let cache_host = placed
        .get(&cache)
        .expect("the included service was created");
    let cache_env = inspect(cache_host, &cache)["Config"]["Env"].clone();
    assert!(
        cache_env
            .as_array()
            .unwrap()
            .iter()
            .any(|entry| entry == "ORIGIN=included"),
        "the included project's .env interpolates its file: {cache_env}"
    );

    for replica in 1..=3 {
        let name = format!("{PROJECT}-app-{replica}");
        let host = placed
            .get(&name)
            .unwrap_or_else(|| panic!("{name} not found: {placed:?}"));
        let host_config = inspect(host, &name)["HostConfig"].clone();
        assert_eq!(host_config["Memory"], 96 * 1024 * 1024, "{name} on {host}");
        assert_eq!(host_config["NanoCpus"], 500_000_000, "{name} on {host}");
        assert_eq!(host_config["PidsLimit"], 64, "{name} on {host}");
        assert_eq!(
            host_config["Ulimits"],
            serde_json::json!([{"Name": "nofile", "Soft": 1024, "Hard": 2048}]),
            "{name} on {host}"
        );
        assert_eq!(
            host_config["DnsSearch"],
            serde_json::json!(["example.internal"])
        );
        assert_eq!(host_config["GroupAdd"], serde_json::json!(["1234"]));
        assert_eq!(host_config["OomScoreAdj"], 100);

        // The included service resolves and answers from every replica, on every host; the
        // limits hold inside the container.
        let (ok, output) = exec_in(
            host,
            &name,
            "set -e; nc -w 2 cache 6379 </dev/null; ulimit -n; id -G",
        );
        assert!(ok, "{name} on {host} cannot reach cache: {output}");
        assert!(output.contains("1024"), "{name}: ulimit -n: {output}");
        assert!(output.contains("1234"), "{name}: groups: {output}");
    }

    let capped = format!("{PROJECT}-capped-1");
    let host = placed.get(&capped).expect("capped placed");
    let host_config = inspect(host, &capped)["HostConfig"].clone();
    assert_eq!(
        (
            host_config["Memory"].clone(),
            host_config["PidsLimit"].clone()
        ),
        (serde_json::json!(48 * 1024 * 1024), serde_json::json!(32)),
        "deploy.resources.limits win over mem_limit"
    );
}
