//! End-to-end fault tests on the 3-host lab: a host's sshd down (hosts files patched by exec,
//! a container that cannot be patched named), a host's dockerd killed in the middle of `nap up`
//! (the host and the replicas not deployed named, a later `up` converging without
//! duplicates), `nap up` killed with SIGKILL and run again (converges, no duplicate container
//! or network), and a host cut off while `nap watch` runs (reported, nothing half-applied,
//! reconciled when it returns).
//!
//! These tests break lab hosts, so they must not run beside the other lab tests: the default
//! nextest profile leaves this binary out and `tests/run` runs it afterwards, one test at a
//! time, with `--profile faults` (see `.config/nextest.toml`).

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

mod common;

use common::*;

/// `tests/lab/lab fault HOST ACTION`'s output.
fn run_fault(host: &str, action: &str) -> std::process::Output {
    Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/lab/lab"))
        .args(["fault", host, action, "--dir"])
        .arg(lab_dir())
        .output()
        .expect("run tests/lab/lab")
}

/// Runs `tests/lab/lab fault HOST ACTION`, which must succeed.
fn fault(host: &str, action: &str) {
    let output = run_fault(host, action);
    assert!(
        output.status.success(),
        "lab fault {host} {action}: {}",
        text(&output.stderr)
    );
}

/// Undoes a fault when dropped, so a failing test leaves the lab whole for the next one.
struct Broken {
    host: &'static str,
    undo: &'static str,
    undone: bool,
}

impl Broken {
    fn new(host: &'static str, action: &'static str, undo: &'static str) -> Broken {
        fault(host, action);
        Broken {
            host,
            undo,
            undone: false,
        }
    }

    fn undo(&mut self) {
        if !self.undone {
            self.undone = true;
            fault(self.host, self.undo);
        }
    }
}

impl Drop for Broken {
    fn drop(&mut self) {
        if !self.undone {
            self.undone = true;
            // Not asserted: the test is already failing, and a panic here would abort.
            let _ = run_fault(self.host, self.undo);
        }
    }
}

/// (name, state) of every project container on every host, with the host.
fn states(project: &str) -> Vec<(String, String, String)> {
    project_containers(project, "{{.Names}} {{.State}}")
        .into_iter()
        .map(|(host, line)| {
            let (name, state) = line.split_once(' ').unwrap();
            (host, name.to_string(), state.to_string())
        })
        .collect()
}

/// Asserts the project runs exactly `expected` containers, each once, all running.
fn assert_converged(project: &str, expected: &[&str]) {
    let found = states(project);
    let mut names: Vec<&str> = found.iter().map(|(_, name, _)| name.as_str()).collect();
    names.sort_unstable();
    let mut wanted: Vec<&str> = expected.to_vec();
    wanted.sort_unstable();
    assert_eq!(names, wanted, "each container exactly once: {found:?}");
    for (host, name, state) in &found {
        assert_eq!(state, "running", "{name} on {host}: {found:?}");
    }
}

/// Names of the project's networks on each host (a name twice on one host is a duplicate).
fn networks(project: &str) -> BTreeMap<String, Vec<String>> {
    HOSTS
        .iter()
        .map(|host| {
            let output = docker(
                host,
                &[
                    "network",
                    "ls",
                    "--filter",
                    &format!("label=nap.project={project}"),
                    "--format",
                    "{{.Name}}",
                ],
            );
            let mut names: Vec<String> = text(&output.stdout).lines().map(String::from).collect();
            names.sort();
            (host.to_string(), names)
        })
        .collect()
}

/// An image with no shell: only busybox's binary, at `/busybox`, on `host`.
fn import_shell_less_image(host: &str) {
    let dir = tempfile::tempdir().unwrap();
    let rootfs = lab_dir().join("image/rootfs.tar");
    let status = Command::new("tar")
        .arg("-xf")
        .arg(&rootfs)
        .arg("-C")
        .arg(dir.path())
        .arg("./bin/busybox")
        .status()
        .unwrap();
    assert!(status.success());
    let socket = format!("unix://{}/{host}/docker.sock", lab_dir().display());
    let script = format!(
        "tar -C {} -cf - busybox | docker -H {socket} import --change 'CMD [\"/busybox\", \"sleep\", \"1000\"]' - nap/no-shell:lab",
        dir.path().join("bin").display()
    );
    let output = Command::new("sh").args(["-c", &script]).output().unwrap();
    assert!(output.status.success(), "{}", text(&output.stderr));
}

#[test]
fn with_a_host_sshd_down_its_hosts_files_are_written_through_docker() {
    let project = LabProject::new("e2enossh", 21, None);
    import_shell_less_image("h3");
    let compose = |web_replicas: u32| {
        format!(
            "services:
  web:
    image: nap/busybox:lab
    command: {web}
    deploy:
      replicas: {web_replicas}
      placement: {{constraints: [node.hostname!=h3]}}
  bare:
    image: nap/no-shell:lab
    deploy:
      placement: {{constraints: [node.hostname==h3]}}
  client:
    image: nap/busybox:lab
    command: [sleep, '1000']
    deploy:
      placement: {{constraints: [node.hostname==h3]}}
",
            web = server(80)
        )
    };
    // web on h1 and h2, so every host has the project's network (and routes to the others).
    project.write_compose(&compose(2));
    project.up(&[]);
    let client = format!("{}-client-1", project.name);
    let bare = format!("{}-bare-1", project.name);
    let web3 = format!("{}-web-3", project.name);

    // Scale web up while h3's sshd is down: web-3 lands on h1 or h2, where the network is, so
    // no host needs a route change, and h3 only needs its hosts file written: through the
    // Docker API, by a helper container (the shell-less image has no `dd`: the next image
    // is used).
    let mut sshd = Broken::new("h3", "stop-sshd", "start-sshd");
    project.write_compose(&compose(3));
    let output = project.nap(&["up", "--format", "json", "--wait-timeout", "60"]);
    let stderr = text(&output.stderr);
    let events = events(&output);
    assert!(output.status.success(), "{stderr}\n{events:#?}");
    let warnings: Vec<&str> = events
        .iter()
        .filter(|event| event["event"] == "warning")
        .filter_map(|event| event["message"].as_str())
        .collect();
    assert!(
        warnings
            .iter()
            .any(|message| message.contains("h3") && message.contains("Docker API")),
        "{warnings:#?}\n{events:#?}\n{stderr}"
    );
    assert!(
        events.iter().any(|event| event["event"] == "finished"
            && event["op"] == "write_hosts_files"
            && event["host"] == "h3"
            && event["outcome"] == "written through docker"),
        "{events:#?}"
    );
    // Both containers on h3 read the same file (one view), shell or not, and the client
    // reaches web-3 by name.
    let (reached, said) = exec_in("h3", &client, &format!("nc -w 2 {web3} 80 </dev/null"));
    assert!(reached, "client reaches {web3} by name: {said}");
    let path = |container: &str| {
        text(&docker("h3", &["inspect", "-f", "{{.HostsPath}}", container]).stdout)
            .trim()
            .to_string()
    };
    assert_eq!(path(&client), path(&bare));
    assert!(
        std::fs::read_to_string(path(&bare))
            .unwrap()
            .contains(&format!("\t{web3}\n"))
    );
    assert!(
        states(&project.name)
            .iter()
            .any(|(_, name, state)| *name == web3 && state == "running")
    );
    sshd.undo();
}

#[test]
fn names_stay_right_across_a_dockerd_restart_with_no_nap_running() {
    let project = LabProject::new("e2edockerd", 40, None);
    let name = project.name.clone();
    project.write_compose(&format!(
        "services:
  web:
    image: nap/busybox:lab
    command: {web}
    restart: always
    deploy:
      replicas: 2
      placement: {{constraints: [node.hostname!=h2]}}
  client:
    image: nap/busybox:lab
    command: [sleep, '100000']
    restart: always
    deploy:
      placement: {{constraints: [node.hostname==h2]}}
",
        web = server(80)
    ));
    project.up(&[]);
    let client = format!("{name}-client-1");
    // h2's daemon dies and comes back; its restart policy starts the client again, and
    // Docker does not rewrite a bind-mounted /etc/hosts.
    let mut dockerd = Broken::new("h2", "kill-dockerd", "start-dockerd");
    dockerd.undo();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (ok, said) = exec_in(
            "h2",
            &client,
            &format!("nc -w 2 {name}-web-2 80 </dev/null"),
        );
        if ok {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the client does not reach web-2 after its daemon restarted: {said}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    let (_, hosts) = exec_in("h2", &client, "cat /etc/hosts");
    assert!(hosts.contains(&format!("\t{name}-web-1\n")), "{hosts}");
    assert!(hosts.contains("# nap: begin"), "{hosts}");
}

#[test]
fn a_dockerd_killed_during_up_is_named_and_a_later_up_converges_without_duplicates() {
    let project = LabProject::new("e2ekill", 22, None);
    // base is on every host and must be healthy (checked after 1 s) before app starts, so
    // h3's daemon dies while base-3 waits and app has not started anywhere. solo never goes
    // to h3 and does not wait for base: it deploys whatever happens to h3.
    project.write_compose(
        "services:
  base:
    image: nap/busybox:lab
    command: [sleep, '1000']
    healthcheck: {test: [CMD, 'true'], interval: 1s}
    deploy: {replicas: 3}
  app:
    image: nap/busybox:lab
    command: [sleep, '1000']
    depends_on: {base: {condition: service_healthy}}
    deploy: {replicas: 3}
  solo:
    image: nap/busybox:lab
    command: [sleep, '1000']
    deploy:
      replicas: 2
      placement: {constraints: [node.hostname!=h3]}
",
    );
    let mut up = Running::start(
        &project,
        &["up", "--format", "json", "--wait-timeout", "30"],
    );
    up.until_matching("base started on h3", |event| {
        event["event"] == "container_started" && event["service"] == "base" && event["host"] == "h3"
    });
    let mut dockerd = Broken::new("h3", "kill-dockerd", "start-dockerd");
    let status = up.wait();
    assert!(!status.success(), "up must fail");
    let done = up.seen.iter().rev().find(|event| event["event"] == "done");
    let done = done.unwrap_or_else(|| panic!("no done event: {:#?}", up.seen));
    let not_deployed: BTreeSet<(String, String)> = done["not_deployed"]
        .as_array()
        .unwrap_or_else(|| panic!("{done}"))
        .iter()
        .map(|r| {
            (
                r["container"].as_str().unwrap().to_string(),
                r["host"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let name = |service: &str, replica: u32| format!("{}-{service}-{replica}", project.name);
    // base-3 on h3 and every app replica (they wait for all of base) are not deployed; solo is.
    assert!(
        not_deployed.contains(&(name("base", 3), "h3".to_string())),
        "{not_deployed:?}"
    );
    let services: BTreeSet<&str> = done["not_deployed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["service"].as_str().unwrap())
        .collect();
    assert_eq!(services, BTreeSet::from(["app", "base"]), "{done}");
    let failures: Vec<&Value> = up
        .seen
        .iter()
        .filter(|event| event["event"] == "finished" && event["ok"] == false)
        .collect();
    assert!(
        !failures.is_empty() && failures.iter().all(|event| event["host"] == "h3"),
        "only h3's operations fail: {failures:#?}"
    );
    for replica in 1..=2 {
        assert!(
            states(&project.name)
                .iter()
                .any(|(host, n, s)| *n == name("solo", replica) && host != "h3" && s == "running"),
            "solo-{replica} deployed"
        );
    }

    // The daemon returns: whatever it holds of the project carries nap's labels (nothing is
    // unaccounted for), and the next up converges with each container once.
    dockerd.undo();
    let on_h3 = docker(
        "h3",
        &[
            "ps",
            "-a",
            "--filter",
            &format!("name={}-", project.name),
            "--format",
            "{{.Names}} {{.Label \"nap.project\"}}",
        ],
    );
    for line in text(&on_h3.stdout).lines() {
        assert!(
            line.ends_with(&format!(" {}", project.name)),
            "unlabelled container on h3: {line}"
        );
    }
    project.up(&[]);
    let mut expected: Vec<String> = Vec::new();
    for (service, replicas) in [("base", 3), ("app", 3), ("solo", 2)] {
        for replica in 1..=replicas {
            expected.push(name(service, replica));
        }
    }
    assert_converged(
        &project.name,
        &expected.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    let events = project.up(&[]);
    assert_eq!(
        mutations(&events),
        Vec::new(),
        "a further up changes nothing"
    );
}

#[test]
fn nap_killed_with_sigkill_during_up_then_run_again_converges() {
    let project = LabProject::new("e2esigkill", 23, None);
    project.write_compose(
        "services:
  db:
    image: nap/busybox:lab
    command: [sleep, '1000']
    healthcheck: {test: [CMD, 'true'], interval: 1s}
  web:
    image: nap/busybox:lab
    command: [sleep, '1000']
    depends_on: {db: {condition: service_healthy}}
    deploy: {replicas: 4}
",
    );
    let mut up = Running::start(
        &project,
        &["up", "--format", "json", "--wait-timeout", "30"],
    );
    up.until("container_started");
    Command::new("kill")
        .args(["-KILL", &up.child.id().to_string()])
        .status()
        .unwrap();
    let status = up.wait();
    assert!(!status.success());
    let partial = states(&project.name);
    // web waits for db to be healthy (checked after 1 s): nap died with web not started.
    assert!(
        partial
            .iter()
            .filter(|(_, _, state)| state == "running")
            .count()
            < 5,
        "killed before the end: {partial:?}"
    );

    // Run again: the lock died with the process, and the state converges.
    project.up(&[]);
    let name = |service: &str, replica: u32| format!("{}-{service}-{replica}", project.name);
    let expected: Vec<String> = std::iter::once(name("db", 1))
        .chain((1..=4).map(|replica| name("web", replica)))
        .collect();
    assert_converged(
        &project.name,
        &expected.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    for (host, names) in networks(&project.name) {
        let unique: BTreeSet<&String> = names.iter().collect();
        assert_eq!(
            unique.len(),
            names.len(),
            "duplicate network on {host}: {names:?}"
        );
    }
    // down leaves no network behind on any host.
    let output = project.nap(&["down"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    for (host, names) in networks(&project.name) {
        assert!(names.is_empty(), "orphan networks on {host}: {names:?}");
    }
}

#[test]
fn a_host_cut_off_during_watch_is_reported_and_reconciled_when_it_returns() {
    let project = LabProject::new("e2ecut", 24, None);
    let compose = |marker: &str| {
        format!(
            "services:
  web:
    image: nap/busybox:lab
    command: {web}
    environment: {{MARKER: '{marker}'}}
    deploy: {{replicas: 3}}
  client:
    image: nap/busybox:lab
    command: [sleep, '1000']
    deploy:
      placement: {{constraints: [node.hostname==h1]}}
",
            web = server(80)
        )
    };
    project.write_compose(&compose("one"));
    let mut watch = Running::start(
        &project,
        &["watch", "--format", "json", "--wait-timeout", "60"],
    );
    watch.until("watching");
    let rows = project.ps();
    let host_of = |container: &str| -> String {
        rows.iter()
            .find(|row| row["container"] == container)
            .map(|row| row["host"].as_str().unwrap().to_string())
            .unwrap()
    };
    let web = |replica: u32| format!("{}-web-{replica}", project.name);
    let on_h3 = (1..=3)
        .find(|r| host_of(&web(*r)) == "h3")
        .expect("a web replica on h3");
    let client = format!("{}-client-1", project.name);

    let mut link = Broken::new("h3", "cut", "restore");
    let ids_before = project_containers(&project.name, "{{.Names}} {{.ID}}");
    project.write_compose(&compose("two"));
    let batch = watch.until_matching("h3 unreachable", |event| {
        event["event"] == "warning"
            && event["message"]
                .as_str()
                .is_some_and(|m| m.contains("h3") && m.contains("trying again"))
    });
    assert!(
        !batch.iter().any(|event| event["event"] == "started"),
        "nothing is half-applied while h3 is away: {batch:#?}"
    );
    // The other hosts keep serving: the client on h1 still reaches the replicas there.
    for replica in (1..=3).filter(|r| *r != on_h3) {
        let (reached, said) = exec_in(
            "h1",
            &client,
            &format!("nc -w 2 {} 80 </dev/null", web(replica)),
        );
        assert!(reached, "web-{replica} still served: {said}");
    }
    let now: Vec<(String, String)> = project_containers(&project.name, "{{.Names}} {{.ID}}")
        .into_iter()
        .filter(|(host, _)| host != "h3")
        .collect();
    let before: Vec<(String, String)> = ids_before
        .into_iter()
        .filter(|(host, _)| host != "h3")
        .collect();
    assert_eq!(now, before, "no container replaced while h3 is cut off");

    // h3 returns: the pending change is applied everywhere.
    let started = Instant::now();
    link.undo();
    let batch = watch.until("done");
    let done = batch.last().unwrap();
    assert_eq!(done["failed"], 0, "{batch:#?}");
    watch.until_matching("every host answers again", |event| {
        event["event"] == "warning"
            && event["message"]
                .as_str()
                .is_some_and(|m| m.contains("answers again"))
    });
    for replica in 1..=3 {
        let container = web(replica);
        let host = host_of(&container);
        let (ok, marker) = exec_in(&host, &container, "echo $MARKER");
        assert!(
            ok && marker.trim() == "two",
            "{container} on {host}: {marker}"
        );
    }
    eprintln!(
        "reconciled {:.1} s after h3 came back",
        started.elapsed().as_secs_f64()
    );
}
