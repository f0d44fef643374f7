//! End-to-end data safety on the 3-host lab (issue 15's reproductions): a volume is never
//! left behind by a placement change, a host dropped from the inventory while it runs the
//! project stops `up` (and `nap host drain` empties a host first), and a second deployer on
//! another machine (another `HOME`, `XDG_RUNTIME_DIR`, `TMPDIR`) is refused or waits, while a
//! lock whose holder was SIGKILLed is recovered.

use std::path::Path;
use std::process::Output;

mod common;

use common::*;

/// A database-like service: writes a marker into its volume once, then idles.
fn db(constraint: &str) -> String {
    format!(
        r#"
services:
  db:
    image: nap/busybox:lab
    command: ["sh", "-c", "[ -f /data/marker ] || hostname > /data/marker; trap 'exit 0' TERM; sleep 3600 & wait"]
    volumes: [data:/data]
    deploy:
      placement:
        constraints: [{constraint}]
volumes:
  data: {{}}
"#
    )
}

/// Three stateless replicas, one per host.
const WEB: &str = r#"
services:
  web:
    image: nap/busybox:lab
    command: ["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"]
    deploy:
      replicas: 3
"#;

fn failed_with(output: &Output, needles: &[&str]) {
    let stderr = text(&output.stderr);
    assert!(!output.status.success(), "nap succeeded:\n{stderr}");
    for needle in needles {
        assert!(stderr.contains(needle), "{needle:?} not in:\n{stderr}");
    }
}

fn volumes_on(host: &str) -> Vec<String> {
    text(&docker(host, &["volume", "ls", "--format", "{{.Name}}"]).stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

/// The project's inventory without `host`'s entry (as if the user deleted it).
fn without_host(project: &LabProject, host: &str) -> String {
    let text = std::fs::read_to_string(&project.inventory).unwrap();
    let mut kept = Vec::new();
    let mut skipping = false;
    for line in text.lines() {
        if line.starts_with("  ") && !line.starts_with("    ") {
            skipping = line.trim_end() == format!("  {host}:");
        } else if !line.starts_with(' ') {
            skipping = false;
        }
        if !skipping {
            kept.push(line);
        }
    }
    kept.join("\n") + "\n"
}

#[test]
fn a_constraint_that_would_leave_the_volume_behind_is_refused_and_changes_nothing() {
    let project = LabProject::new("safevol", 50, None);
    project.write_compose(&db("node.hostname==h1"));
    project.up(&[]);
    let volume = format!("{}_data", project.name);
    assert!(volumes_on("h1").contains(&volume));

    project.write_compose(&db("node.hostname==h2"));
    let output = project.nap(&["up"]);
    failed_with(
        &output,
        &[
            "service \"db\" replica 1",
            &format!("volume {volume} is on host h1"),
            "would move to host h2",
            "nap volume move db:data --to h2",
        ],
    );
    // Nothing changed: db still on h1 with its data, no empty volume on h2.
    let placed = containers_on_hosts(&project.name);
    assert_eq!(
        placed
            .get(&format!("{}-db-1", project.name))
            .map(String::as_str),
        Some("h1")
    );
    assert!(!volumes_on("h2").contains(&volume));
    let (ok, marker) = exec_in("h1", &format!("{}-db-1", project.name), "cat /data/marker");
    assert!(ok && !marker.trim().is_empty(), "{marker}");
}

#[test]
fn replicas_each_get_their_own_volume() {
    let project = LabProject::new("safereplicas", 51, None);
    project.write_compose(
        &db("node.labels.lab==true").replace("    deploy:\n", "    deploy:\n      replicas: 3\n"),
    );
    project.up(&[]);
    let mut all: Vec<String> = HOSTS.iter().flat_map(|host| volumes_on(host)).collect();
    all.retain(|name| name.starts_with(&format!("{}_data", project.name)));
    all.sort();
    let base = format!("{}_data", project.name);
    assert_eq!(
        all,
        [base.clone(), format!("{base}-2"), format!("{base}-3")]
    );
}

#[test]
fn a_host_dropped_from_the_inventory_while_it_runs_the_project_stops_up() {
    let project = LabProject::new("safehosts", 52, None);
    project.write_compose(WEB);
    project.up(&[]);
    let before = containers_on_hosts(&project.name);
    let on_h1: Vec<&String> = before
        .iter()
        .filter(|(_, host)| *host == "h1")
        .map(|(name, _)| name)
        .collect();
    assert_eq!(on_h1.len(), 1, "{before:?}");

    let full = std::fs::read_to_string(&project.inventory).unwrap();
    std::fs::write(&project.inventory, without_host(&project, "h1")).unwrap();
    let output = project.nap(&["up"]);
    failed_with(
        &output,
        &[
            "host h1 is no longer in the inventory",
            on_h1[0],
            "nap host drain h1",
            "--forget-host h1",
        ],
    );
    assert_eq!(
        containers_on_hosts(&project.name),
        before,
        "up changed something"
    );

    // Drained while still in the inventory, h1 runs nothing; then it may leave.
    std::fs::write(&project.inventory, &full).unwrap();
    let drain = project.nap(&["host", "drain", "h1"]);
    assert!(drain.status.success(), "{}", text(&drain.stderr));
    let drained = containers_on_hosts(&project.name);
    assert_eq!(drained.len(), 3, "{drained:?}");
    assert!(drained.values().all(|host| host != "h1"), "{drained:?}");
    std::fs::write(&project.inventory, without_host(&project, "h1")).unwrap();
    project.up(&[]);
    std::fs::write(&project.inventory, &full).unwrap();
}

#[test]
fn draining_a_host_with_state_on_it_is_refused() {
    let project = LabProject::new("safedrain", 53, None);
    project.write_compose(&db("node.labels.lab==true"));
    project.up(&[]);
    let host = containers_on_hosts(&project.name)[&format!("{}-db-1", project.name)].clone();
    let output = project.nap(&["host", "drain", &host]);
    failed_with(
        &output,
        &[
            "service \"db\" replica 1",
            &format!("volume {}_data is on host {host}", project.name),
            "nap volume move db:data",
        ],
    );
    assert_eq!(
        containers_on_hosts(&project.name)[&format!("{}-db-1", project.name)],
        host
    );
}

/// `nap ARGS` for `project` as if from another machine: its own HOME, XDG_RUNTIME_DIR and
/// TMPDIR, so the local file lock is not shared.
fn nap_elsewhere(project: &LabProject, elsewhere: &Path, args: &[&str]) -> Output {
    for folder in ["home", "run", "tmp"] {
        std::fs::create_dir_all(elsewhere.join(folder)).unwrap();
    }
    std::fs::set_permissions(
        elsewhere.join("run"),
        std::os::unix::fs::PermissionsExt::from_mode(0o700),
    )
    .unwrap();
    nap_command(project.dir.path())
        .env("HOME", elsewhere.join("home"))
        .env("XDG_RUNTIME_DIR", elsewhere.join("run"))
        .env("TMPDIR", elsewhere.join("tmp"))
        .arg("--hosts")
        .arg(&project.inventory)
        .args(["-p", &project.name])
        .args(args)
        .output()
        .expect("run nap")
}

#[test]
fn a_second_deployer_elsewhere_is_refused_while_a_watch_holds_the_lock_and_recovers_a_killed_holders_lock()
 {
    let project = LabProject::new("safelock", 54, None);
    project.write_compose(WEB);
    let mut watch = Running::start(&project, &["watch", "--format", "json"]);
    watch.until("done");
    let running = containers_on_hosts(&project.name);
    assert_eq!(running.len(), 3);

    let elsewhere = tempfile::tempdir().unwrap();
    let down = nap_elsewhere(&project, elsewhere.path(), &["down"]);
    failed_with(
        &down,
        &["is being deployed by `nap watch`", "lock on host h1"],
    );
    let waited = nap_elsewhere(&project, elsewhere.path(), &["--wait-lock", "2s", "down"]);
    failed_with(&waited, &["is being deployed by `nap watch`"]);
    assert_eq!(
        containers_on_hosts(&project.name),
        running,
        "torn down under a watch"
    );

    let status = nap_elsewhere(
        &project,
        elsewhere.path(),
        &["lock", "status", "--format", "json"],
    );
    assert!(status.status.success(), "{}", text(&status.stderr));
    let status: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(status["holder"]["command"], "watch");
    assert_eq!(status["holder"]["pid"], watch.child.id());
    assert_eq!(status["expired"], false);

    // SIGKILL: the lease is not renewed any more; a waiting deployer takes the lock after it.
    watch.child.kill().unwrap();
    watch.wait();
    let down = nap_elsewhere(&project, elsewhere.path(), &["--wait-lock", "90s", "down"]);
    assert!(down.status.success(), "{}", text(&down.stderr));
    assert!(containers_on_hosts(&project.name).is_empty());
    let status = nap_elsewhere(
        &project,
        elsewhere.path(),
        &["lock", "status", "--format", "json"],
    );
    let status: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(status["holder"], serde_json::Value::Null);
}
