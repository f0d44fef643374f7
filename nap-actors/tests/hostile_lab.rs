//! Hostile containers on the lab: a container tries to write into its own hosts file what
//! would run as root on its host if nap ever put that file into a shell (here-document
//! terminators, command substitutions, backticks, quotes, `exit`) or to make it huge, and a
//! peer is scaled so that nap rewrites the hosts files. The container cannot write the file
//! (nap's, bind-mounted read-only), nothing runs on the host, nap does not hang, and what
//! the container reads is nap's file, written from nap's data alone.
//!
//! Traffic goes only to the lab's hosts (through `$NAP_LAB_DIR`) and to loopback.

mod common;

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{LabProject, docker, exec_in, nap_command, server, text};
use serde_json::Value;

/// Tries to write `content` as the container's `/etc/hosts` (as the container itself would);
/// answers whether it could, and what it said.
fn plant_hosts_file(host: &str, container: &str, content: &[u8]) -> (bool, String) {
    let socket = format!("unix://{}/{host}/docker.sock", common::lab_dir().display());
    let mut child = Command::new("docker")
        .args(["-H", &socket, "exec", "-i", container, "sh", "-c"])
        .arg("cat > /etc/hosts")
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("docker exec");
    let _ = child.stdin.take().unwrap().write_all(content);
    let output = child.wait_with_output().unwrap();
    (output.status.success(), text(&output.stderr))
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
fn a_container_cannot_write_its_hosts_file_and_nothing_it_holds_reaches_a_shell() {
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
    // The file is nap's, bind-mounted read-only: the container cannot change it, not even as
    // root, nor make it huge.
    let (written, said) = plant_hosts_file(&host, &victim, payload.as_bytes());
    assert!(!written, "the container wrote its hosts file");
    assert!(said.contains("Read-only file system"), "{said}");
    let huge = vec![b'x'; 4 << 20];
    assert!(!plant_hosts_file(&host, &victim, &huge).0);
    let hosts_path = text(&docker(&host, &["inspect", "-f", "{{.HostsPath}}", &victim]).stdout)
        .trim()
        .to_string();
    assert!(
        hosts_path.starts_with(&format!("/var/lib/nap/{name}/{host}/v-")),
        "{hosts_path}"
    );
    let inode = |path: &str| {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata(path).map(|m| m.ino()).unwrap_or(0)
    };
    let before = inode(&hosts_path);

    // Scaling a peer makes nap write every host's files (one write per host).
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
    let writes: Vec<Value> = common::events(&output)
        .into_iter()
        .filter(|event| event["event"] == "finished" && event["op"] == "write_hosts_files")
        .collect();
    assert!(
        writes
            .iter()
            .filter(|event| event["host"] == host.as_str())
            .count()
            == 1,
        "one write on the victim's host: {writes:#?}"
    );
    for marker in &markers {
        assert!(
            !marker.exists(),
            "{} was created on the host",
            marker.display()
        );
    }
    // What the victim reads is nap's file, rewritten in place (same inode), holding the new
    // peer, and nothing of what it tried to plant.
    assert_eq!(inode(&hosts_path), before, "rewritten in place");
    let (ok, hosts) = exec_in(&host, &victim, "cat /etc/hosts");
    assert!(ok, "{hosts}");
    assert_eq!(hosts, std::fs::read_to_string(&hosts_path).unwrap());
    for planted in ["NAP_HOSTS_EOF", "touch", "github.com", "xxxx"] {
        assert!(!hosts.contains(planted), "{planted:?} survived:\n{hosts}");
    }
    assert!(hosts.starts_with("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"));
    assert!(hosts.contains(&format!("\t{name}-peer-2\n")), "{hosts}");
}
