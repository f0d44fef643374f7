//! End-to-end: `nap ps` and `nap logs` flags against the lab, as a Compose user types them —
//! `ps` shows running containers unless `-a`, `-q` ids, `--services`, `--status` and
//! `--filter status=`, a PORTS column naming the host address to reach; `logs --since`,
//! `--until`, `-t`, `--no-log-prefix`, `--index`, and a clear error for a bad time.

use serde_json::Value;

mod common;

use common::*;

/// The project, with web published on host port `port` (distinct per test: tests run at
/// once on the same hosts).
fn compose(port: u16) -> String {
    format!(
        "services:
  web:
    image: nap/busybox:lab
    command: [httpd, -f, -p, '80']
    ports: ['{port}:80']
  worker:
    image: nap/busybox:lab
    command: [sh, -c, 'echo hello from $$HOSTNAME; sleep 3600']
    init: true
    deploy: {{replicas: 2}}
  once:
    image: nap/busybox:lab
    command: [sh, -c, 'echo done']
"
    )
}

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
    project.write_compose(&compose(18080));
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

#[test]
fn top_images_ls_and_port_answer_across_hosts() {
    let project = LabProject::new("e2equery", 32, None);
    project.write_compose(&compose(18081));
    project.up(&[]);

    let web = rows(&project, &["web"]);
    let host_address = lab_host_address(web[0]["host"].as_str().unwrap());
    assert_eq!(
        stdout_of(&project, &["port", "web", "80"]),
        format!("{host_address}:18081\n")
    );
    let missing = project.nap(&["port", "web", "81"]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(
        text(&missing.stderr).contains("publishes no 81/tcp"),
        "{}",
        text(&missing.stderr)
    );

    let tops: Value =
        serde_json::from_str(&stdout_of(&project, &["top", "--format", "json", "worker"])).unwrap();
    let tops = tops.as_array().unwrap();
    assert_eq!(tops.len(), 2, "{tops:#?}");
    assert!(
        tops.iter().all(|top| top["processes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|process| process.to_string().contains("sleep 3600"))),
        "{tops:#?}"
    );
    let table = stdout_of(&project, &["top", "web"]);
    assert!(
        table.starts_with("e2equery-web-1 @h") && table.contains("httpd"),
        "{table}"
    );

    let images: Value =
        serde_json::from_str(&stdout_of(&project, &["images", "--format", "json"])).unwrap();
    let images = images.as_array().unwrap();
    assert_eq!(
        images.len(),
        4,
        "every container, the exited one too: {images:#?}"
    );
    assert!(images.iter().all(|row| row["image"] == "nap/busybox:lab"
        && row["id"].as_str().unwrap().starts_with("sha256:")));
    // One line per distinct image id (each lab host imported the image itself).
    let distinct: std::collections::BTreeSet<&str> = images
        .iter()
        .map(|row| row["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        stdout_of(&project, &["images", "-q"])
            .lines()
            .collect::<Vec<_>>(),
        distinct.into_iter().collect::<Vec<_>>()
    );

    let listed: Value =
        serde_json::from_str(&stdout_of(&project, &["ls", "--format", "json"])).unwrap();
    let ours = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|row| row["name"] == "e2equery")
        .unwrap_or_else(|| panic!("{listed:#}"))
        .clone();
    assert!(
        ours["status"].as_str().unwrap().contains("running(3)"),
        "{ours:#}"
    );
    assert!(
        stdout_of(&project, &["ls", "-q"])
            .lines()
            .any(|line| line == "e2equery")
    );
}
