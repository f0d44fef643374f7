//! End-to-end: `nap run` against the lab — a one-off container of a service, with its
//! dependencies started first (not the service's replicas, nor services it does not need),
//! resolving every service by name from its first instruction wherever it runs (also on a
//! host named with `--host`); its exit status is nap's; `--rm` removes it however it ends,
//! Ctrl-C included; without `--rm` it stays, a later `up` leaves it alone and does not count
//! it as a replica, and `down` removes it.

use std::process::Stdio;
use std::time::{Duration, Instant};

mod common;

use common::*;

/// A shell function that prints the `/etc/hosts` line of a name (busybox has no getent).
const RESOLVE: &str = "resolve() { grep -E \"[[:space:]]$1([[:space:]]|$)\" /etc/hosts; }; ";

const COMPOSE: &str = "services:
  db:
    image: nap/busybox:lab
    command: [sleep, '3600']
    init: true
    healthcheck:
      test: [CMD, 'true']
      interval: 1s
  web:
    image: nap/busybox:lab
    command: [sleep, '3600']
    init: true
    deploy: {replicas: 2}
    depends_on:
      db: {condition: service_healthy}
  other:
    image: nap/busybox:lab
    command: [sleep, '3600']
";

/// The project's one-off containers: (host, name).
fn one_offs(project: &str) -> Vec<(String, String)> {
    project_containers(project, "{{.Names}} {{.Label \"nap.oneoff\"}}")
        .into_iter()
        .filter(|(_, line)| line.ends_with(" true"))
        .map(|(host, line)| (host, line.split(' ').next().unwrap().to_string()))
        .collect()
}

#[test]
fn run_starts_the_dependencies_resolves_every_name_and_passes_the_status_through() {
    let project = LabProject::new("e2erun", 42, None);
    project.write_compose(COMPOSE);

    // From nothing: db is started (and healthy) first; the one-off resolves db at its first
    // instruction; web's replicas and `other` are not created.
    let output = project.nap(&[
        "run",
        "--rm",
        "-T",
        "web",
        "sh",
        "-c",
        &format!("{RESOLVE} resolve db || exit 9; echo resolved; exit 3"),
    ]);
    assert_eq!(
        output.status.code(),
        Some(3),
        "{}\n{}",
        text(&output.stdout),
        text(&output.stderr)
    );
    assert!(text(&output.stdout).contains("resolved"));
    let names = containers_on_hosts(&project.name);
    assert!(names.contains_key("e2erun-db-1"), "{names:?}");
    assert!(
        !names
            .keys()
            .any(|name| name.starts_with("e2erun-web-") && !name.contains("-run-")),
        "web's replicas were created: {names:?}"
    );
    assert!(!names.contains_key("e2erun-other-1"), "{names:?}");
    assert!(one_offs(&project.name).is_empty(), "--rm left it");

    // With the replicas up, a one-off resolves each of them, on every host.
    project.up(&[]);
    let output = project.nap(&[
        "run",
        "-T",
        "--name",
        "e2erun-probe",
        "web",
        "sh",
        "-c",
        &format!("{RESOLVE} resolve e2erun-web-1 && resolve e2erun-web-2 && resolve other"),
    ]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert_eq!(
        text(&output.stdout).lines().count(),
        3,
        "{}",
        text(&output.stdout)
    );
    let kept = one_offs(&project.name);
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert_eq!(kept[0].1, "e2erun-probe");

    // No service name resolves to it, and a later `up` neither removes nor counts it.
    let events = project.up(&[]);
    assert!(
        mutations(&events).is_empty(),
        "up changed something: {:?}",
        mutations(&events)
    );
    assert_eq!(one_offs(&project.name).len(), 1);

    // --host: on the host named, resolving across hosts.
    let output = project.nap(&[
        "run",
        "--rm",
        "-T",
        "--host",
        "h3",
        "web",
        "sh",
        "-c",
        &format!("{RESOLVE} resolve e2erun-web-1 >/dev/null && hostname"),
    ]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let hostname = text(&output.stdout).trim().to_string();
    assert!(!hostname.is_empty());
    let output = project.nap(&["run", "--rm", "-T", "--host", "h9", "web", "true"]);
    assert_ne!(output.status.code(), Some(0));
    assert!(
        text(&output.stderr).contains("h9"),
        "{}",
        text(&output.stderr)
    );

    // `down` removes the one-off left behind.
    let output = project.nap(&["down"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(one_offs(&project.name).is_empty());
}

#[test]
fn run_rm_removes_the_container_on_ctrl_c() {
    let project = LabProject::new("e2erunint", 43, None);
    project.write_compose(COMPOSE);
    let inventory = project.inventory.to_string_lossy().to_string();
    let mut child = nap_command(project.dir.path())
        .args([
            "--hosts",
            &inventory,
            "-p",
            &project.name,
            "run",
            "--rm",
            "-T",
            "--no-deps",
            "db",
            "sleep",
            "300",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start nap run");
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let running = project_containers(&project.name, "{{.Names}} {{.State}}")
            .iter()
            .any(|(_, line)| line.contains("-run-") && line.ends_with("running"));
        if running {
            break;
        }
        assert!(Instant::now() < deadline, "the one-off never ran");
        std::thread::sleep(Duration::from_millis(200));
    }
    // --no-deps: nothing else was started.
    assert_eq!(containers_on_hosts(&project.name).len(), 1);
    let pid = child.id().to_string();
    assert!(
        std::process::Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .unwrap()
            .success()
    );
    let status = child.wait().unwrap();
    assert!(!status.success(), "an interrupted run is not a success");
    assert!(
        one_offs(&project.name).is_empty(),
        "--rm left it after Ctrl-C"
    );
}

#[test]
fn down_rmi_local_removes_the_built_images_and_all_every_services_image() {
    let project = LabProject::new("e2ermi", 44, None);
    let web = project.dir.path().join("web");
    std::fs::create_dir_all(&web).unwrap();
    std::fs::write(
        web.join("Dockerfile"),
        "FROM nap/busybox:lab\nCMD [\"sleep\", \"3600\"]\n",
    )
    .unwrap();
    // An image of this test's own, on every host, for `--rmi all`.
    for host in HOSTS {
        assert!(
            docker(host, &["tag", "nap/busybox:lab", "nap/rmi-probe:1"])
                .status
                .success()
        );
    }
    let compose = "services:
  web:
    build: ./web
    deploy:
      replicas: 3
  probe:
    image: nap/rmi-probe:1
    command: [sleep, '3600']
";
    project.write_compose(compose);
    project.up(&[]);
    let has = |host: &str, image: &str| docker(host, &["image", "inspect", image]).status.success();
    assert!(HOSTS.iter().any(|host| has(host, "e2ermi-web")));
    let output = project.nap(&["down", "--rmi", "local"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    for host in HOSTS {
        assert!(
            !has(host, "e2ermi-web"),
            "the built image is left on {host}"
        );
        assert!(
            has(host, "nap/rmi-probe:1"),
            "--rmi local removed a named image on {host}"
        );
        assert!(
            has(host, "nap/busybox:lab"),
            "the lab image is gone on {host}"
        );
    }
    project.up(&[]);
    let output = project.nap(&["down", "--rmi", "all"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    for host in HOSTS {
        assert!(!has(host, "nap/rmi-probe:1"), "--rmi all left it on {host}");
        assert!(!has(host, "e2ermi-web"));
        assert!(
            has(host, "nap/busybox:lab"),
            "the base image is gone on {host}"
        );
    }
}
