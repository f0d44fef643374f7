//! End-to-end on the lab: names stay right with no nap running, at any change. Every
//! container reads, bind-mounted read-only at `/etc/hosts`, the one file nap keeps for its
//! view on its host (`/var/lib/nap/<project>/<host>/v-….hosts`), written in place once per
//! change per host — over SSH, or through the Docker API where a host has no SSH — and
//! removed by `down`.
//!
//! The lab's hosts share this machine's file system, so the tests read nap's files directly.
//! Tests run concurrently on one lab, each with its own project name and address pool.
//! (A host's dockerd restarted with its containers is a fault test: `faults_lab.rs`.)

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use serde_json::Value;

mod common;

use common::*;

/// `web` (×`web` replicas, pinned to `web_host` when given), `api` and `worker` ×2.
fn stack(web: u32, web_host: Option<&str>) -> String {
    let placement = web_host.map_or(String::new(), |host| {
        format!("      placement:\n        constraints: [node.hostname == {host}]\n")
    });
    format!(
        "services:\n  web:\n    image: nap/busybox:lab\n    command: {}\n    deploy:\n      replicas: {web}\n{placement}  api:\n    image: nap/busybox:lab\n    command: {}\n    restart: always\n    deploy:\n      placement:\n        constraints: [node.hostname == h1]\n  worker:\n    image: nap/busybox:lab\n    command: {}\n    deploy:\n      replicas: 2\n      placement:\n        constraints: [node.hostname != h1]\n",
        server(80),
        server(8000),
        server(7000),
    )
}

/// Every container of the project: name → host.
fn all(project: &LabProject) -> BTreeMap<String, String> {
    containers_on_hosts(&project.name)
}

/// From every container of the project, every replica of every service connects by name.
fn every_container_reaches_every_replica(project: &LabProject, web: u32) {
    let name = &project.name;
    let mut targets: Vec<(String, u16)> = vec![
        ("web".into(), 80),
        ("api".into(), 8000),
        ("worker".into(), 7000),
        (format!("{name}-api-1"), 8000),
        (format!("{name}-worker-1"), 7000),
        (format!("{name}-worker-2"), 7000),
    ];
    targets.extend((1..=web).map(|replica| (format!("{name}-web-{replica}"), 80)));
    let mut script = String::from("set -e\n");
    for (target, port) in &targets {
        script.push_str(&format!(
            "nc -w 2 {target} {port} </dev/null || {{ echo 'cannot reach {target}:{port}'; cat /etc/hosts; exit 1; }}\n"
        ));
    }
    for (container, host) in all(project) {
        let (ok, output) = exec_in(&host, &container, &script);
        assert!(ok, "from {container} on {host}: {output}");
    }
}

/// The hosts file a container reads (Docker's `HostsPath`, which the bind mount sets).
fn hosts_path(host: &str, container: &str) -> String {
    let output = docker(host, &["inspect", "-f", "{{.HostsPath}}", container]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    text(&output.stdout).trim().to_string()
}

fn inode(path: &str) -> u64 {
    std::fs::metadata(path)
        .unwrap_or_else(|error| panic!("{path}: {error}"))
        .ino()
}

/// The finished `write_hosts_files` operations of a run, by host.
fn writes_by_host(events: &[Value]) -> BTreeMap<String, usize> {
    let mut by_host = BTreeMap::new();
    for event in events {
        if event["event"] == "finished" && event["op"] == "write_hosts_files" {
            assert_eq!(event["ok"], true, "{event}");
            *by_host
                .entry(event["host"].as_str().unwrap().to_string())
                .or_insert(0) += 1;
        }
    }
    by_host
}

/// Every regular file under `folder`, recursively.
fn files_under(folder: &Path) -> Vec<String> {
    let mut found = Vec::new();
    if let Ok(entries) = std::fs::read_dir(folder) {
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                found.extend(files_under(&path));
            } else {
                found.push(path.display().to_string());
            }
        }
    }
    found
}

#[test]
fn names_survive_a_scale_up_and_a_restart_with_no_nap_running_and_the_file_is_read_only() {
    let project = LabProject::new("e2enames", 14, None);
    let name = project.name.clone();
    project.write_compose(&stack(1, None));
    let first = project.up(&[]);
    assert_eq!(done(&first)["failed"], 0, "{first:#?}");
    every_container_reaches_every_replica(&project, 1);

    // Each container reads nap's file for its view on its host, read-only.
    let api = format!("{name}-api-1");
    let path = hosts_path("h1", &api);
    assert!(
        path.starts_with(&format!("/var/lib/nap/{name}/h1/v-")) && path.ends_with(".hosts"),
        "{path}"
    );
    let (wrote, said) = exec_in("h1", &api, "echo '6.6.6.6 web' >> /etc/hosts");
    assert!(!wrote, "a container wrote its hosts file: {said}");
    assert!(said.contains("Read-only file system"), "{said}");
    let (_, own) = exec_in("h1", &api, "hostname; cat /etc/hosts");
    assert!(
        own.starts_with(&format!("{api}\n127.0.0.1\tlocalhost\n")),
        "its hostname and Docker's lines: {own}"
    );
    let before = inode(&path);

    // A one-shot scale-up (nap exits), then a restart of api (what a restart policy, a crash
    // or a reboot does): api still resolves the new replica, with no nap running.
    project.write_compose(&stack(2, None));
    let scaled = project.up(&[]);
    assert_eq!(done(&scaled)["failed"], 0, "{scaled:#?}");
    assert_eq!(inode(&path), before, "the file is rewritten in place");
    let restart = docker("h1", &["restart", "-t", "1", &api]);
    assert!(restart.status.success(), "{}", text(&restart.stderr));
    let (ok, output) = exec_in(
        "h1",
        &api,
        &format!("nc -w 2 {name}-web-2 80 </dev/null && grep -c '\t{name}-web-2$' /etc/hosts"),
    );
    assert!(ok, "api after its restart: {output}");
    assert_eq!(hosts_path("h1", &api), path, "the restart kept nap's file");
    every_container_reaches_every_replica(&project, 2);

    // Nothing changed: nothing written.
    let again = project.up(&[]);
    assert_eq!(writes_by_host(&again), BTreeMap::new(), "{again:#?}");
    assert_eq!(mutations(&again), Vec::<(String, String)>::new());
}

#[test]
fn a_replica_added_on_h3_resolves_from_h1_and_h2_after_one_write_per_host() {
    let project = LabProject::new("e2enames3", 15, None);
    let name = project.name.clone();
    project.write_compose(&stack(1, Some("h3")));
    project.up(&[]);
    let before: BTreeMap<String, String> = all(&project);

    project.write_compose(&stack(2, Some("h3")));
    let scaled = project.up(&[]);
    assert_eq!(done(&scaled)["failed"], 0, "{scaled:#?}");
    // One write per host, and no other change but the new replica on h3.
    let writes = writes_by_host(&scaled);
    assert_eq!(
        writes,
        BTreeMap::from([("h1".into(), 1), ("h2".into(), 1), ("h3".into(), 1)]),
        "{scaled:#?}"
    );
    // (Routes are re-applied on every deployment that creates a container.)
    let others: Vec<(String, String)> = mutations(&scaled)
        .into_iter()
        .filter(|(op, _)| op != "write_hosts_files" && op != "ensure_routes")
        .collect();
    assert!(
        others
            .iter()
            .all(|(_, subject)| subject == &format!("{name}-web-2")),
        "{others:?}"
    );
    // The moment `up` returns, every running peer on h1 and h2 reaches it by name.
    for (container, host) in before.iter().filter(|(_, host)| *host != "h3") {
        let (ok, output) = exec_in(
            host,
            container,
            &format!("nc -w 2 {name}-web-2 80 </dev/null"),
        );
        assert!(ok, "{container} on {host}: {output}");
    }
}

#[test]
fn without_ssh_the_docker_api_writes_the_same_files_and_down_removes_them() {
    let compose = stack(2, None);
    // The files nap writes over SSH, in published mode (no routes, so no SSH is needed
    // otherwise).
    let published = |project: &LabProject, ssh: bool| {
        let mut inventory = std::fs::read_to_string(&project.inventory)
            .unwrap()
            .replace("mode: routed", "mode: published");
        if !ssh {
            inventory = inventory
                .lines()
                .filter(|line| !line.trim_start().starts_with("ssh: root@"))
                .collect::<Vec<_>>()
                .join("\n");
        }
        std::fs::write(&project.inventory, inventory).unwrap();
    };
    let read_files = |name: &str| -> BTreeMap<String, String> {
        files_under(&Path::new("/var/lib/nap").join(name))
            .into_iter()
            .map(|path| {
                let text = std::fs::read_to_string(&path).unwrap();
                // Padding (a line of spaces) is not content.
                let text = text.trim_end_matches([' ', '\n']).to_string();
                (path, text)
            })
            .collect()
    };
    let over_ssh = {
        let project = LabProject::new("e2enamesx", 16, None);
        published(&project, true);
        project.write_compose(&compose);
        let events = project.up(&[]);
        assert_eq!(done(&events)["failed"], 0, "{events:#?}");
        let files = read_files(&project.name);
        assert!(!files.is_empty());
        let down = project.nap(&["down"]);
        assert!(down.status.success(), "{}", text(&down.stderr));
        assert!(
            !Path::new("/var/lib/nap").join(&project.name).exists(),
            "down over SSH removes the folder"
        );
        files
    };
    let project = LabProject::new("e2enamesx", 16, None);
    published(&project, false);
    project.write_compose(&compose);
    let events = project.up(&[]);
    assert_eq!(done(&events)["failed"], 0, "{events:#?}");
    assert!(
        events.iter().any(|event| event["op"] == "write_hosts_files"
            && event["outcome"] == "written through docker"),
        "{events:#?}"
    );
    assert_eq!(
        read_files(&project.name),
        over_ssh,
        "the same files, by the same paths"
    );
    // Published mode: names resolve to host addresses (nothing here is published, so the
    // check is the name table each container reads).
    let name = &project.name;
    for (container, host) in all(&project) {
        let mut script = String::from("set -e\n");
        for target in ["web", "api", "worker"]
            .into_iter()
            .map(str::to_string)
            .chain((1..=2).map(|replica| format!("{name}-web-{replica}")))
        {
            script.push_str(&format!(
                "grep -Eq '[[:space:]]{target}([[:space:]]|$)' /etc/hosts || {{ echo 'no {target}'; cat /etc/hosts; exit 1; }}\n"
            ));
        }
        let (ok, output) = exec_in(&host, &container, &script);
        assert!(ok, "from {container} on {host}: {output}");
    }
    // No helper container is left.
    for host in HOSTS {
        let helpers = docker(
            host,
            &[
                "ps",
                "-aq",
                "--filter",
                &format!("label=nap.hosts-writer={}", project.name),
            ],
        );
        assert!(text(&helpers.stdout).trim().is_empty(), "{host}");
    }
    let down = project.nap(&["down"]);
    assert!(down.status.success(), "{}", text(&down.stderr));
    assert_eq!(
        files_under(&Path::new("/var/lib/nap").join(&project.name)),
        Vec::<String>::new(),
        "down leaves no nap file on any host"
    );
}
