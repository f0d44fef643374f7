//! End-to-end: `nap watch` on the 3-host lab follows edits of the compose file — only what
//! changed is recreated, an invalid save changes nothing and the next valid one applies,
//! services and replicas come and go with their names, a restarted container keeps nap's
//! hosts file (nothing re-applied), and SIGTERM stops watching but not the deployment.

use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

mod common;

use common::*;

/// Container name → id, on every host.
fn ids(project: &str) -> BTreeMap<String, String> {
    project_containers(project, "{{.Names}} {{.ID}}")
        .into_iter()
        .filter_map(|(_, line)| {
            let (name, id) = line.split_once(' ')?;
            Some((name.to_string(), id.to_string()))
        })
        .collect()
}

fn compose(marker: &str, workers: u32, extra: &str) -> String {
    format!(
        "services:\n  web:\n    image: nap/busybox:lab\n    command: {web}\n    environment:\n      MARKER: \"{marker}\"\n  worker:\n    image: nap/busybox:lab\n    command: {worker}\n    deploy:\n      replicas: {workers}\n{extra}",
        web = server(80),
        worker = server(7000),
    )
}

fn host_of(project: &LabProject, container: &str) -> String {
    project
        .ps()
        .iter()
        .find(|row| row["container"] == container)
        .map(|row| row["host"].as_str().unwrap().to_string())
        .unwrap_or_else(|| panic!("{container} is not deployed"))
}

#[test]
fn watch_follows_the_compose_file_and_only_touches_what_changed() {
    let project = LabProject::new("e2ewatch", 7, None);
    let name = project.name.clone();
    project.write_compose(&compose("one", 3, ""));
    let mut watch = Running::start(
        &project,
        &["watch", "--format", "json", "--wait-timeout", "60"],
    );
    let first = watch.until("watching");
    assert!(
        first
            .iter()
            .any(|e| e["event"] == "done" && e["failed"] == 0),
        "{first:#?}"
    );
    let before = ids(&name);
    assert_eq!(before.len(), 4, "{before:?}");

    // One service's environment changes: only its container is recreated.
    project.write_compose(&compose("two", 3, ""));
    let changed = watch.until("watching");
    assert!(
        changed.iter().any(|e| e["event"] == "changed"),
        "{changed:#?}"
    );
    let after = ids(&name);
    for (container, id) in &before {
        if container == &format!("{name}-web-1") {
            assert_ne!(after[container], *id, "web was recreated");
        } else {
            assert_eq!(
                after.get(container),
                Some(id),
                "{container} kept its container"
            );
        }
    }

    // An invalid save: the error names the file and line, and nothing changes.
    project.write_compose("services:\n  web:\n    image: [unclosed\n");
    let rejected = watch.until("rejected");
    let error = rejected.last().unwrap()["error"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(error.contains("compose.yaml:"), "{error}");
    assert_eq!(ids(&name), after, "an invalid file changed nothing");
    // Watching goes on.
    watch.until("watching");

    // Fixed, with fewer replicas and a new service: the deployment follows.
    let extra = format!(
        "  cache:\n    image: nap/busybox:lab\n    command: {}\n",
        server(6379)
    );
    project.write_compose(&compose("two", 1, &extra));
    watch.until("watching");
    let now = ids(&name);
    assert!(now.contains_key(&format!("{name}-cache-1")), "{now:?}");
    assert!(!now.contains_key(&format!("{name}-worker-2")), "{now:?}");
    assert_eq!(
        now[&format!("{name}-web-1")],
        after[&format!("{name}-web-1")]
    );
    let web_host = host_of(&project, &format!("{name}-web-1"));
    let (ok, output) = exec_in(
        &web_host,
        &format!("{name}-web-1"),
        "nc -w 2 cache 6379 </dev/null && nc -w 2 worker 7000 </dev/null",
    );
    assert!(ok, "web reaches the new service by name: {output}");

    // 1 → 2 replicas: web's host's file (web runs, created before worker-2 existed) is
    // written once, and web reaches worker-2.
    project.write_compose(&compose("two", 2, &extra));
    let scaled = watch.until("watching");
    assert!(
        scaled.iter().any(|e| e["event"] == "finished"
            && e["op"] == "write_hosts_files"
            && e["host"] == web_host.as_str()),
        "{scaled:#?}"
    );
    let reach_worker_2 = format!("nc -w 1 {name}-worker-2 7000 </dev/null");
    let (ok, output) = exec_in(&web_host, &format!("{name}-web-1"), &reach_worker_2);
    assert!(ok, "{output}");

    // A restart keeps web's hosts file (nap's, bind-mounted read-only: Docker does not
    // rewrite it), so web reaches worker-2 by name with nothing re-applied. (How soon is
    // measured by the benchmarks, not asserted here: a restarted container's first packets
    // also wait for its peers' neighbour tables, which nap does not control.)
    let restart = docker(&web_host, &["restart", "-t", "1", &format!("{name}-web-1")]);
    assert!(restart.status.success(), "{}", text(&restart.stderr));
    let (_, hosts) = exec_in(&web_host, &format!("{name}-web-1"), "cat /etc/hosts");
    assert!(
        hosts.lines().any(|line| line
            .split_whitespace()
            .skip(1)
            .any(|n| n == format!("{name}-worker-2"))),
        "web's hosts file names worker-2 after its restart:\n{hosts}"
    );
    let mut reached = false;
    for _ in 0..20 {
        if exec_in(&web_host, &format!("{name}-web-1"), &reach_worker_2).0 {
            reached = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    assert!(
        reached,
        "web reaches worker-2 after its restart; its hosts file:\n{hosts}"
    );

    // A service deleted from the file is removed; the others stay as they are.
    project.write_compose(&compose("two", 2, ""));
    watch.until("watching");
    let without_cache = ids(&name);
    assert!(
        !without_cache.contains_key(&format!("{name}-cache-1")),
        "{without_cache:?}"
    );
    assert_eq!(without_cache.len(), 3, "{without_cache:?}");

    // While watching, nothing else deploys the project.
    let second = project.nap(&["up"]);
    let stderr = text(&second.stderr);
    assert!(!second.status.success(), "{stderr}");
    assert!(
        stderr.contains("already being deployed by another nap"),
        "{stderr}"
    );
    assert!(
        stderr.contains("nap watch"),
        "the holder is named: {stderr}"
    );

    // SIGTERM stops watching; the deployment keeps running.
    let kill = Command::new("kill")
        .args(["-TERM", &watch.child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let status = watch.child.wait().unwrap();
    assert!(status.success(), "nap watch exits 0 on SIGTERM: {status}");
    let rows = project.ps();
    assert_eq!(rows.len(), 3, "{rows:#?}");
    assert!(
        rows.iter().all(|row| row["state"] == "running"),
        "{rows:#?}"
    );
}
