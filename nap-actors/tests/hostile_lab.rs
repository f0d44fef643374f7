//! Hostile containers on the lab: a container writes into its own hosts file what would run
//! as root on its host if nap ever put that file into a shell (here-document terminators,
//! command substitutions, backticks, quotes, `exit`), or makes the file huge, and a peer is
//! scaled so that nap rewrites it. Nothing may run on the host, nap may not hang, the file is
//! rebuilt from nap's data alone, and a container whose file cannot be handled is one failed
//! operation naming it and its host while the rest goes on.
//!
//! Traffic goes only to the lab's hosts (through `$NAP_LAB_DIR`) and to loopback.

mod common;

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{LabProject, docker, exec_in, nap_command, server, text};
use serde_json::Value;

/// Writes `content` as the container's `/etc/hosts` (as the container itself could).
fn plant_hosts_file(host: &str, container: &str, content: &[u8]) {
    let socket = format!("unix://{}/{host}/docker.sock", common::lab_dir().display());
    let mut child = Command::new("docker")
        .args(["-H", &socket, "exec", "-i", container, "sh", "-c"])
        .arg("cat > /etc/hosts")
        .stdin(Stdio::piped())
        .spawn()
        .expect("docker exec");
    child.stdin.take().unwrap().write_all(content).unwrap();
    assert!(child.wait().unwrap().success(), "planting into {container}");
}

/// Runs the lab project's nap with `args`, killing it if it has not ended after `limit`
/// (a hang is a failure of its own, reported as such).
fn nap_within(project: &LabProject, args: &[&str], limit: Duration) -> Output {
    let inventory = project.inventory.to_string_lossy().to_string();
    let mut child = nap_command(project.dir.path())
        .args(["--hosts", &inventory, "-p", &project.name])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run nap");
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > limit {
            child.kill().unwrap();
            let output = child.wait_with_output().unwrap();
            panic!(
                "nap {args:?} hung for {limit:?}:\n{}\n{}",
                text(&output.stdout),
                text(&output.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    child.wait_with_output().unwrap()
}

fn compose(peers: u32) -> String {
    format!(
        "services:\n  victim:\n    image: nap/busybox:lab\n    command: {}\n    deploy:\n      placement:\n        constraints: [node.hostname == h1]\n  peer:\n    image: nap/busybox:lab\n    command: {}\n    deploy:\n      replicas: {peers}\n",
        server(7100),
        server(7101)
    )
}

/// The row of `service` replica `replica` in `nap ps`.
fn row(project: &LabProject, service: &str, replica: u64) -> (String, String) {
    let rows = project.ps();
    let row: &Value = rows
        .iter()
        .find(|row| row["service"] == service && row["replica"] == replica)
        .unwrap_or_else(|| panic!("no {service}-{replica} in {rows:#?}"));
    (
        row["host"].as_str().unwrap().to_string(),
        row["container"].as_str().unwrap().to_string(),
    )
}

#[test]
fn a_planted_hosts_file_runs_nothing_on_the_host_and_is_rebuilt_from_nap_s_data() {
    let project = LabProject::new("e2ehostile", 20, None);
    let name = project.name.clone();
    project.write_compose(&compose(1));
    project.up(&[]);
    let (host, victim) = row(&project, "victim", 1);

    // Each payload would create its marker on the host (the lab's sshd shares this machine's
    // filesystem) if any of it were run by a shell there.
    let markers: Vec<PathBuf> = (0..5)
        .map(|i| std::env::temp_dir().join(format!("nap-pwned-{}-{i}", std::process::id())))
        .collect();
    for marker in &markers {
        let _ = std::fs::remove_file(marker);
    }
    let m = |i: usize| markers[i].display().to_string();
    let payload = format!(
        "127.0.0.1\tlocalhost\n\
         NAP_HOSTS_EOF\n\
         touch {}\n\
         $(touch {})\n\
         `touch {}`\n\
         '; touch {}; '\n\
         \"; touch {}; exit 0; \"\n\
         exit\n\
         6.6.6.6\tgithub.com\n",
        m(0),
        m(1),
        m(2),
        m(3),
        m(4)
    );
    plant_hosts_file(&host, &victim, payload.as_bytes());

    // Scaling a peer makes nap rewrite the victim's file.
    project.write_compose(&compose(2));
    let output = nap_within(
        &project,
        &["up", "--format", "json", "--wait-timeout", "60"],
        Duration::from_secs(180),
    );
    assert!(
        output.status.success(),
        "{}\n{}",
        text(&output.stdout),
        text(&output.stderr)
    );
    let patched: Vec<Value> = common::events(&output)
        .into_iter()
        .filter(|event| event["event"] == "hosts_patched" && event["container"] == victim)
        .collect();
    assert_eq!(patched.len(), 1, "the victim's file is rewritten once");
    for marker in &markers {
        assert!(
            !marker.exists(),
            "{} was created on the host",
            marker.display()
        );
    }

    // The file is nap's: Docker's header, the container's own line, nap's table; nothing of
    // what was planted.
    let (ok, hosts) = exec_in(&host, &victim, "cat /etc/hosts");
    assert!(ok, "{hosts}");
    for planted in ["NAP_HOSTS_EOF", "touch", "github.com", "exit"] {
        assert!(!hosts.contains(planted), "{planted:?} survived:\n{hosts}");
    }
    assert!(hosts.starts_with("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"));
    let inspect = docker(
        &host,
        &["inspect", "--format", "{{.Config.Hostname}}", &victim],
    );
    let hostname = text(&inspect.stdout).trim().to_string();
    assert!(
        hosts
            .lines()
            .any(|line| line.ends_with(&format!("\t{hostname}"))),
        "its own line ({hostname}):\n{hosts}"
    );
    assert!(hosts.contains("# nap: begin"), "{hosts}");
    let (ok, reached) = exec_in(
        &host,
        &victim,
        &format!("nc -w 2 {name}-peer-2 7101 </dev/null && nc -w 2 peer 7101 </dev/null"),
    );
    assert!(
        ok,
        "the victim reaches the new peer by name: {reached}\n{hosts}"
    );
}

#[test]
fn a_huge_hosts_file_fails_only_its_own_container_naming_it_and_its_host() {
    let project = LabProject::new("e2ehuge", 21, None);
    let name = project.name.clone();
    project.write_compose(&compose(1));
    project.up(&[]);
    let (host, victim) = row(&project, "victim", 1);
    let (peer_host, peer) = row(&project, "peer", 1);
    // 4 MiB of one endless line: more than nap reads back from a container.
    let mut huge = b"127.0.0.1\tlocalhost\n".to_vec();
    huge.extend(std::iter::repeat_n(b'x', 4 << 20));
    plant_hosts_file(&host, &victim, &huge);

    project.write_compose(&compose(2));
    let output = nap_within(
        &project,
        &["up", "--format", "json", "--wait-timeout", "60"],
        Duration::from_secs(180),
    );
    let stderr = text(&output.stderr);
    let stdout = text(&output.stdout);
    assert!(!output.status.success(), "{stdout}\n{stderr}");
    let failed: Vec<Value> = common::events(&output)
        .into_iter()
        .filter(|event| event["event"] == "finished" && event["ok"] == false)
        .collect();
    assert_eq!(
        failed.len(),
        1,
        "only the victim's patch fails: {failed:#?}"
    );
    assert_eq!(failed[0]["host"], host.as_str());
    assert_eq!(failed[0]["subject"], victim.as_str());
    let error = failed[0]["error"].as_str().unwrap_or_default();
    assert!(
        error.contains(&victim) && error.contains("larger than"),
        "names the container and what is wrong: {error}"
    );
    assert!(stderr.contains(&victim), "the summary names it: {stderr}");
    // The rest went on: the new replica runs, and the other peer resolves it.
    let (ok, reached) = exec_in(
        &peer_host,
        &peer,
        &format!("nc -w 2 {name}-peer-2 7101 </dev/null"),
    );
    assert!(ok, "{reached}");
}
