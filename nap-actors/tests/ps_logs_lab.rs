//! End-to-end: `nap ps` and `nap logs` flags against the lab, as a Compose user types them —
//! `ps` shows running containers unless `-a`, `-q` ids, `--services`, `--status` and
//! `--filter status=`, a PORTS column naming the host address to reach; `logs --since`,
//! `--until`, `-t`, `--no-log-prefix`, `--index`, and a clear error for a bad time.

use serde_json::Value;

mod common;

use common::*;

const COMPOSE: &str = "services:
  web:
    image: nap/busybox:lab
    command: [httpd, -f, -p, '80']
    ports: ['18080:80']
  worker:
    image: nap/busybox:lab
    command: [sh, -c, 'echo hello from $$HOSTNAME; sleep 3600']
    init: true
    deploy: {replicas: 2}
  once:
    image: nap/busybox:lab
    command: [sh, -c, 'echo done']
";

fn stdout_of(project: &LabProject, args: &[&str]) -> String {
    let output = project.nap(args);
    assert!(
        output.status.success(),
        "nap {args:?}: {}",
        text(&output.stderr)
    );
    text(&output.stdout)
}

fn rows(project: &LabProject, args: &[&str]) -> Vec<Value> {
    let mut all = vec!["ps", "--format", "json"];
    all.extend_from_slice(args);
    serde_json::from_str::<Value>(&stdout_of(project, &all))
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

fn names(rows: &[Value]) -> Vec<String> {
    rows.iter()
        .map(|row| row["container"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn ps_and_logs_take_composes_flags() {
    let project = LabProject::new("e2eps", 29, None);
    project.write_compose(COMPOSE);
    project.up(&[]);
    // `once` has exited by the time its dependants… it has none: wait for it.
    for _ in 0..50 {
        if rows(&project, &["-a", "--status", "exited"]).len() == 1 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }

    let running = rows(&project, &[]);
    assert_eq!(
        names(&running),
        ["e2eps-web-1", "e2eps-worker-1", "e2eps-worker-2"],
        "running only by default"
    );
    let all = rows(&project, &["-a"]);
    assert_eq!(all.len(), 4, "{all:#?}");
    assert_eq!(
        names(&rows(&project, &["--status", "exited"])),
        ["e2eps-once-1"]
    );
    assert_eq!(
        names(&rows(&project, &["--filter", "status=running", "worker"])),
        ["e2eps-worker-1", "e2eps-worker-2"]
    );

    let ids = stdout_of(&project, &["ps", "-q"]);
    let ids: Vec<&str> = ids.lines().collect();
    assert_eq!(ids.len(), 3, "{ids:?}");
    assert!(ids.iter().all(|id| id.len() == 64), "{ids:?}");
    assert_eq!(
        stdout_of(&project, &["ps", "-a", "--services"]),
        "once\nweb\nworker\n"
    );

    // The published port, at the address of the host that runs web.
    let web = &running[0];
    let host_address = lab_host_address(web["host"].as_str().unwrap());
    assert_eq!(
        web["ports"],
        serde_json::json!([{
            "host_address": host_address,
            "host_port": 18080,
            "container_port": 80,
            "protocol": "tcp",
        }])
    );
    let table = stdout_of(&project, &["ps"]);
    assert!(
        table.lines().next().unwrap().ends_with("PORTS")
            && table.contains(&format!("{host_address}:18080->80/tcp")),
        "{table}"
    );
    let bad = project.nap(&["ps", "--status", "sleeping"]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(text(&bad.stderr).contains("invalid status \"sleeping\""));

    // logs
    let plain = stdout_of(
        &project,
        &["logs", "--no-log-prefix", "--index", "2", "worker"],
    );
    let lines: Vec<&str> = plain.lines().collect();
    assert_eq!(lines.len(), 1, "{plain}");
    assert!(lines[0].starts_with("hello from "), "{plain}");
    let stamped = stdout_of(&project, &["logs", "-t", "--no-log-prefix", "once"]);
    assert!(
        stamped.starts_with("20") && stamped.trim_end().ends_with("Z done"),
        "{stamped}"
    );
    assert_eq!(
        stdout_of(
            &project,
            &["logs", "--since", "1h", "--no-log-prefix", "once"]
        ),
        "done\n"
    );
    assert_eq!(
        stdout_of(
            &project,
            &["logs", "--until", "2001-09-09T01:46:40Z", "once"]
        ),
        "",
        "nothing was logged before 2001"
    );
    let prefixed = stdout_of(&project, &["logs", "worker"]);
    assert!(
        prefixed.contains("worker-1@") && prefixed.contains("| hello from"),
        "{prefixed}"
    );
    let bad = project.nap(&["logs", "--since", "yesterday"]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(
        text(&bad.stderr).contains("--since: invalid time \"yesterday\""),
        "{}",
        text(&bad.stderr)
    );
}

/// A lab host's address, from the lab's `lab.env` (`export NAP_LAB_HK_ADDR=…`).
fn lab_host_address(host: &str) -> String {
    let key = format!("NAP_LAB_{}_ADDR=", host.to_uppercase());
    let env = std::fs::read_to_string(lab_dir().join("lab.env")).unwrap();
    env.lines()
        .find_map(|line| {
            line.trim_start_matches("export ")
                .strip_prefix(key.as_str())
        })
        .unwrap_or_else(|| panic!("lab.env has no {key}"))
        .to_string()
}
