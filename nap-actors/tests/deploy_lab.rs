//! End-to-end: the real `nap` binary deploys to the real 3-host lab (`tests/lab/lab`, started
//! by `tests/run`), and the tests check what containers really see — names that resolve and
//! ports that answer, from a container on every host — and what is left on the hosts.
//!
//! Tests run concurrently on one lab, so each uses its own project name and its own address
//! pool (a /20 of 172.30.0.0/16), and takes its project down when it ends, pass or fail.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

mod common;

use common::*;

fn stack(api_marker: &str) -> String {
    format!(
        r#"
services:
  web:
    image: nap/busybox:lab
    command: {web}
    healthcheck:
      test: ["CMD-SHELL", "nc -w 2 127.0.0.1 80 </dev/null"]
      interval: 1s
      retries: 30
  job:
    image: nap/busybox:lab
    restart: "no"
    command: ["sh", "-c", "echo migrated"]
  api:
    image: nap/busybox:lab
    command: {api}
    environment:
      MARKER: "{api_marker}"
    depends_on:
      web: {{condition: service_healthy}}
      job: {{condition: service_completed_successfully}}
    networks:
      default:
        aliases: [backend]
  worker:
    image: nap/busybox:lab
    command: {worker}
    depends_on: [api]
    deploy:
      replicas: 3
"#,
        web = server(80),
        api = server(8000),
        worker = server(7000),
    )
}

/// From inside `container` on `host`: every name of the stack connects.
fn assert_names_work(project: &str, host: &str, container: &str) {
    let mut script = String::from("set -e\n");
    for (name, port) in [
        ("web", 80),
        ("api", 8000),
        ("backend", 8000),
        ("worker", 7000),
        (&format!("{project}-web-1") as &str, 80),
        (&format!("{project}-api-1"), 8000),
        (&format!("{project}-worker-1"), 7000),
        (&format!("{project}-worker-2"), 7000),
        (&format!("{project}-worker-3"), 7000),
    ] {
        script.push_str(&format!(
            "nc -w 2 {name} {port} </dev/null || {{ echo 'cannot reach {name}:{port}'; cat /etc/hosts; exit 1; }}\n"
        ));
    }
    script.push_str(&format!(
        "grep -q '\t{project}-job-1$' /etc/hosts || {{ echo 'job does not resolve'; exit 1; }}\n"
    ));
    let (ok, output) = exec_in(host, container, &script);
    assert!(ok, "from {container} on {host}: {output}");
}

#[test]
fn a_four_service_stack_across_three_hosts_reaches_every_service_by_name() {
    let project = LabProject::new("e2estack", 1, None);
    let name = project.name.clone();
    project.write_compose(&stack("one"));

    // First deployment: one hosts-file write per host (all three run containers).
    let first = project.up(&[]);
    let summary = done(&first);
    assert_eq!(summary["failed"], 0, "{summary}");
    assert_eq!(summary["hosts_writes"], 3, "{summary}");

    // ps lists all six containers with their hosts and addresses, as the daemons say.
    let rows = project.ps();
    assert_eq!(rows.len(), 6, "{rows:#?}");
    let on_hosts = containers_on_hosts(&name);
    let mut worker_hosts = BTreeSet::new();
    for row in &rows {
        let container = row["container"].as_str().unwrap();
        let host = row["host"].as_str().unwrap();
        assert_eq!(
            on_hosts.get(container).map(String::as_str),
            Some(host),
            "{row}"
        );
        if row["service"] == "worker" {
            worker_hosts.insert(host.to_string());
        }
        if row["state"] == "running" {
            let inspect = docker(
                host,
                &[
                    "inspect",
                    "-f",
                    "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}",
                    container,
                ],
            );
            assert_eq!(
                row["ip"].as_str().unwrap(),
                text(&inspect.stdout).trim(),
                "{row}"
            );
        }
    }
    assert_eq!(worker_hosts.len(), 3, "workers are spread: {rows:#?}");
    let job = rows.iter().find(|row| row["service"] == "job").unwrap();
    assert_eq!(job["state"], "exited");

    // From a container on every host, every name resolves and connects, across hosts too.
    let workers: Vec<(String, String)> = rows
        .iter()
        .filter(|row| row["service"] == "worker")
        .map(|row| {
            (
                row["host"].as_str().unwrap().to_string(),
                row["container"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    for (host, container) in &workers {
        assert_names_work(&name, host, container);
    }

    // Nothing changed: a second up makes no mutating call.
    let again = project.up(&[]);
    assert_eq!(mutations(&again), Vec::<(String, String)>::new());
    assert_eq!(
        again.iter().find(|e| e["event"] == "plan").unwrap()["operations"],
        0
    );

    // One service changed: only it is recreated, and names still work.
    project.write_compose(&stack("two"));
    let changed = project.up(&[]);
    let touched: BTreeSet<String> = mutations(&changed)
        .into_iter()
        .filter(|(op, _)| op.ends_with("_container"))
        .map(|(_, subject)| subject)
        .collect();
    assert_eq!(
        touched,
        BTreeSet::from([format!("{name}-api-1")]),
        "{changed:#?}"
    );
    // api keeps its name and address: every file already holds it, none is rewritten.
    assert_eq!(done(&changed)["hosts_writes"], 0);
    for (host, container) in &workers {
        assert_names_work(&name, host, container);
    }

    // A restarted container resolves every name again within a second of starting.
    let (host, container) = &workers[1];
    let restart = docker(host, &["restart", "-t", "1", container]);
    assert!(restart.status.success(), "{}", text(&restart.stderr));
    let started = Instant::now();
    loop {
        let (ok, _) = exec_in(
            host,
            container,
            &format!("nc -w 1 {name}-web-1 80 </dev/null"),
        );
        if ok {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "{container} cannot reach web a second after its restart"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_names_work(&name, host, container);

    // The routes the deployment installed exist, then `down` leaves nothing behind.
    let subnets: BTreeSet<String> = rows
        .iter()
        .filter_map(|row| row["ip"].as_str())
        .map(|ip| {
            let parts: Vec<&str> = ip.split('.').collect();
            format!("{}.{}.{}.0/24", parts[0], parts[1], parts[2])
        })
        .collect();
    let routes_h1 = netns("h1", &["ip", "route"]);
    assert!(
        subnets
            .iter()
            .filter(|s| routes_h1.contains(s.as_str()))
            .count()
            >= 2,
        "h1 routes to the other hosts' subnets: {routes_h1}"
    );
    let down = project.nap(&["down"]);
    assert!(down.status.success(), "{}", text(&down.stderr));
    assert_eq!(containers_on_hosts(&name), BTreeMap::new());
    // No hosts file of nap's is left (the lab's hosts share this file system).
    assert!(
        !std::path::Path::new("/var/lib/nap").join(&name).exists(),
        "down leaves /var/lib/nap/{name}"
    );
    for host in HOSTS {
        let networks = docker(host, &["network", "ls", "--format", "{{.Name}}"]);
        assert!(
            !text(&networks.stdout).contains(&format!("{name}_")),
            "{host}: {}",
            text(&networks.stdout)
        );
        let routes = netns(host, &["ip", "route"]);
        for subnet in &subnets {
            assert!(
                !routes.contains(subnet.as_str()),
                "{host} still routes {subnet}: {routes}"
            );
        }
        let rules = netns(host, &["iptables", "-S", "DOCKER-USER"])
            + &netns(host, &["iptables", "-t", "nat", "-S", "POSTROUTING"]);
        assert!(!rules.contains(&format!("nap:{name}")), "{host}: {rules}");
    }
}

#[test]
fn an_unknown_ssh_host_key_is_refused_and_nothing_is_deployed() {
    let empty = tempfile::NamedTempFile::new().unwrap();
    let project = LabProject::new("e2ebadkey", 2, Some(empty.path()));
    project.write_compose(&stack("one"));
    let output = project.nap(&["up"]);
    let stderr = text(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(stderr.contains("unknown host key"), "{stderr}");
    assert!(stderr.contains("ssh-keyscan"), "{stderr}");
    assert!(stderr.contains("nothing was changed"), "{stderr}");
    assert_eq!(containers_on_hosts(&project.name), BTreeMap::new());
    for host in HOSTS {
        let networks = docker(host, &["network", "ls", "--format", "{{.Name}}"]);
        assert!(!text(&networks.stdout).contains("e2ebadkey_"));
    }
}

#[test]
fn scaling_up_writes_each_host_s_file_once_and_a_second_up_writes_nothing() {
    let project = LabProject::new("e2escale", 3, None);
    let name = project.name.clone();
    let compose = |replicas: u32| {
        format!(
            "services:\n  worker:\n    image: nap/busybox:lab\n    command: {}\n    deploy:\n      replicas: {replicas}\n",
            server(7000)
        )
    };
    project.write_compose(&compose(2));
    project.up(&[]);
    project.write_compose(&compose(3));
    let scaled = project.up(&[]);
    // Every host's file was written once, over SSH (every lab host has it), before the new
    // replica was created; no running container was touched.
    let writes: Vec<&Value> = scaled
        .iter()
        .filter(|e| e["event"] == "finished" && e["op"] == "write_hosts_files")
        .collect();
    assert!(!writes.is_empty(), "{scaled:#?}");
    assert!(
        writes.iter().all(|e| e["outcome"] == "written over ssh"),
        "{writes:#?}"
    );
    let hosts: BTreeSet<&str> = writes.iter().map(|e| e["host"].as_str().unwrap()).collect();
    assert_eq!(hosts.len(), writes.len(), "one write per host: {writes:#?}");
    assert_eq!(done(&scaled)["hosts_writes"], writes.len());
    let rows = project.ps();
    for row in rows.iter().filter(|row| row["replica"] != 3) {
        let host = row["host"].as_str().unwrap();
        let container = row["container"].as_str().unwrap();
        let (ok, output) = exec_in(
            host,
            container,
            &format!(
                "nc -w 2 {name}-worker-3 7000 </dev/null && grep -c '^# nap: begin' /etc/hosts"
            ),
        );
        assert!(ok, "{container}: {output}");
    }
    // The files already hold the table: nothing is written again.
    let again = project.up(&[]);
    assert_eq!(done(&again)["hosts_writes"], 0, "{again:#?}");
    assert_eq!(mutations(&again), Vec::<(String, String)>::new());

    // Logs are merged across hosts, each line tagged with its replica and host.
    let logs = project.nap(&["logs", "--tail", "5", "--format", "json", "worker"]);
    assert!(logs.status.success(), "{}", text(&logs.stderr));
    let sources: BTreeSet<String> = events(&logs)
        .iter()
        .map(|line| line["source"].as_str().unwrap().to_string())
        .collect();
    let expected: BTreeSet<String> = rows
        .iter()
        .map(|row| {
            format!(
                "worker-{}@{}",
                row["replica"],
                row["host"].as_str().unwrap()
            )
        })
        .collect();
    assert!(sources.is_subset(&expected), "{sources:?} vs {expected:?}");
}

#[test]
fn ps_lists_a_host_that_does_not_answer_as_unreachable() {
    let project = LabProject::new("e2eunreach", 5, None);
    // A fourth host whose API port is closed (loopback port 1 refuses at once).
    let mut inventory = std::fs::read_to_string(&project.inventory).unwrap();
    inventory = inventory.replacen(
        "hosts:\n",
        "hosts:\n  h9:\n    docker: tcp://127.0.0.1:1\n    ssh: root@127.0.0.1\n    address: 127.0.0.1\n",
        1,
    );
    std::fs::write(&project.inventory, inventory).unwrap();
    project.write_compose("services:\n  one:\n    image: nap/busybox:lab\n");
    let output = project.nap(&["ps", "--format", "json"]);
    assert!(
        !output.status.success(),
        "ps must say the listing is incomplete"
    );
    let rows: Vec<Value> = serde_json::from_slice(&output.stdout).unwrap();
    let unreachable: Vec<&Value> = rows
        .iter()
        .filter(|r| r["state"] == "unreachable")
        .collect();
    assert_eq!(unreachable.len(), 1, "{rows:#?}");
    assert_eq!(unreachable[0]["host"], "h9");
    assert!(
        text(&output.stderr).contains("h9"),
        "{}",
        text(&output.stderr)
    );
    // And up refuses to plan from a partial view, changing nothing.
    let up = project.nap(&["up"]);
    assert!(!up.status.success());
    assert!(text(&up.stderr).contains("h9"), "{}", text(&up.stderr));
    assert_eq!(containers_on_hosts(&project.name), BTreeMap::new());
}

#[test]
fn an_image_missing_on_the_hosts_is_shipped_from_the_local_daemon() {
    let image = format!("nap/ship-test:{}", std::process::id());
    let tag = Command::new("docker")
        .args(["tag", "nap/busybox:lab", &image])
        .output()
        .unwrap();
    assert!(tag.status.success(), "{}", text(&tag.stderr));
    let project = LabProject::new("e2eship", 4, None);
    project.write_compose(&format!(
        "services:\n  one:\n    image: {image}\n    command: {}\n    deploy:\n      replicas: 2\n",
        server(80)
    ));
    let events = project.up(&["--ship-images"]);
    let shipped: Vec<&Value> = events
        .iter()
        .filter(|e| e["event"] == "finished" && e["op"] == "ensure_image")
        .collect();
    assert_eq!(shipped.len(), 2, "one copy per host: {events:#?}");
    for event in &shipped {
        assert!(
            event["outcome"]
                .as_str()
                .unwrap()
                .starts_with("copied from"),
            "{event}"
        );
    }
    let rows = project.ps();
    assert!(
        rows.iter().all(|row| row["state"] == "running"),
        "{rows:#?}"
    );
    drop(project);
    for host in HOSTS {
        let _ = docker(host, &["rmi", &image]);
    }
    let _ = Command::new("docker").args(["rmi", &image]).output();
}

#[test]
fn without_an_inventory_nap_deploys_to_the_local_daemon_like_compose() {
    let dir = tempfile::tempdir().unwrap();
    let project = "e2elocal";
    std::fs::write(
        dir.path().join("compose.yaml"),
        format!(
            "services:\n  web:\n    image: nap/busybox:lab\n    command: {}\n  client:\n    image: nap/busybox:lab\n    command: {}\n    depends_on: [web]\n",
            server(80),
            server(81)
        ),
    )
    .unwrap();
    let nap = |args: &[&str]| {
        nap_command(dir.path())
            .args(["-p", project])
            .args(args)
            .output()
            .unwrap()
    };
    let up = nap(&["up"]);
    assert!(up.status.success(), "{}", text(&up.stderr));
    let stderr = text(&up.stderr);
    assert!(stderr.contains("@local"), "{stderr}");
    let exec = Command::new("docker")
        .args([
            "exec",
            "e2elocal-client-1",
            "sh",
            "-c",
            "nc -w 2 web 80 </dev/null",
        ])
        .output()
        .unwrap();
    let down = nap(&["down"]);
    assert!(
        exec.status.success(),
        "client reaches web by name: {}",
        text(&exec.stderr)
    );
    assert!(down.status.success(), "{}", text(&down.stderr));
    let left = Command::new("docker")
        .args(["ps", "-aq", "--filter", "label=nap.project=e2elocal"])
        .output()
        .unwrap();
    assert_eq!(text(&left.stdout).trim(), "");
}

#[test]
fn published_mode_resolves_names_to_host_addresses_and_reaches_published_ports() {
    let project = LabProject::new("e2epub", 6, None);
    let inventory = std::fs::read_to_string(&project.inventory)
        .unwrap()
        .replace("mode: routed", "mode: published");
    assert!(inventory.contains("mode: published"));
    std::fs::write(&project.inventory, inventory).unwrap();
    project.write_compose(&format!(
        r#"
services:
  web:
    image: nap/busybox:lab
    command: {web}
    ports: ["18081:80"]
    deploy:
      placement:
        constraints: [node.hostname==h1]
  client:
    image: nap/busybox:lab
    command: {client}
    deploy:
      placement:
        constraints: [node.hostname==h2]
"#,
        web = server(80),
        client = server(81),
    ));
    let events = project.up(&[]);
    assert_eq!(done(&events)["failed"], 0);
    let (ok, output) = exec_in(
        "h2",
        "e2epub-client-1",
        "grep -E '^10\\.210\\.0\\.11\tweb$' /etc/hosts && nc -w 2 web 18081 </dev/null",
    );
    assert!(
        ok,
        "client on h2 reaches web on h1's published port by name: {output}"
    );
}

#[test]
fn a_crash_looping_dependency_is_reported_with_its_host_and_last_output() {
    let project = LabProject::new("e2eloop", 10, None);
    project.write_compose(
        r#"
services:
  db:
    image: nap/busybox:lab
    restart: always
    command: ["sh", "-c", "echo 'boom: cannot open the data folder'; exit 3"]
    healthcheck:
      test: ["CMD", "true"]
      interval: 1s
  app:
    image: nap/busybox:lab
    command: ["sleep", "1000"]
    depends_on:
      db: {condition: service_healthy}
"#,
    );
    // A long timeout: the loop must be reported as soon as it is seen, not when this expires.
    let output = project.nap(&["up", "--wait-timeout", "600"]);
    let stderr = text(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(stderr.contains("e2eloop-db-1 is crash-looping"), "{stderr}");
    assert!(
        stderr.contains("boom: cannot open the data folder"),
        "{stderr}"
    );
    let host = containers_on_hosts(&project.name)["e2eloop-db-1"].clone();
    assert!(
        stderr.contains(&format!("{host}: e2eloop-db-1")),
        "the host is named: {stderr}"
    );
    // app was never created: it waits on db.
    assert!(
        stderr.contains("not run: start_container e2eloop-app-1"),
        "{stderr}"
    );
}
