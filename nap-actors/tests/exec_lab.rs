//! End-to-end: `nap exec` against the lab — a command runs in the replica asked for, on the
//! host that runs it; its exit status is nap's; stdin is streamed; `-e`, `-w`, `-u` reach it;
//! a TTY is allocated when stdin is a terminal (under `script`) and not with `-T`; a replica
//! that does not exist is an error naming what exists.

use std::io::Write;
use std::process::{Output, Stdio};

use serde_json::Value;

mod common;

use common::*;

const COMPOSE: &str = "services:
  web:
    image: nap/busybox:lab
    command: [sleep, '3600']
    init: true
    deploy: {replicas: 2}
";

fn exec(project: &LabProject, args: &[&str]) -> Output {
    let mut all = vec!["exec"];
    all.extend_from_slice(args);
    project.nap(&all)
}

#[test]
fn exec_runs_in_the_replica_asked_for_and_passes_its_status_through() {
    let project = LabProject::new("e2eexec", 25, None);
    project.write_compose(COMPOSE);
    project.up(&[]);
    let rows = project.ps();
    let second: &Value = rows
        .iter()
        .find(|row| row["service"] == "web" && row["replica"] == 2)
        .expect("web replica 2");
    let host = second["host"].as_str().unwrap();
    let container = second["container"].as_str().unwrap();

    // The replica asked for, on its own host: its hostname is that container's.
    let output = exec(&project, &["--index", "2", "-T", "web", "hostname"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let inspect = docker(host, &["inspect", "-f", "{{.Config.Hostname}}", container]);
    assert_eq!(text(&output.stdout).trim(), text(&inspect.stdout).trim());

    // The command's status is nap's; its stderr is nap's stderr.
    let output = exec(
        &project,
        &["-T", "web", "sh", "-c", "echo oops >&2; exit 7"],
    );
    assert_eq!(output.status.code(), Some(7), "{}", text(&output.stderr));
    assert!(text(&output.stderr).contains("oops"));

    // -e, -w, -u.
    let output = exec(
        &project,
        &[
            "-T",
            "-e",
            "GREETING=hi",
            "-w",
            "/tmp",
            "-u",
            "1000",
            "web",
            "sh",
            "-c",
            "echo $GREETING $(pwd) $(id -u)",
        ],
    );
    assert_eq!(
        text(&output.stdout).trim(),
        "hi /tmp 1000",
        "{}",
        text(&output.stderr)
    );

    // stdin is streamed, and its end ends the command's.
    let inventory = project.inventory.display().to_string();
    let mut child = nap_command(project.dir.path())
        .args([
            "--hosts",
            &inventory,
            "-p",
            &project.name,
            "exec",
            "-T",
            "web",
            "sh",
            "-c",
            "wc -l",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"one\ntwo\nthree\n")
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert_eq!(text(&output.stdout).trim(), "3");

    // No pseudo-TTY without a terminal or with -T.
    let output = exec(&project, &["-T", "web", "sh", "-c", "tty; true"]);
    assert!(
        text(&output.stdout).contains("not a tty"),
        "{}",
        text(&output.stdout)
    );

    // A replica that does not exist names the ones that do.
    let output = exec(&project, &["--index", "9", "web", "true"]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("has no replica 9") && stderr.contains("2 on "),
        "{stderr}"
    );
}

#[test]
fn exec_allocates_a_tty_when_stdin_is_a_terminal() {
    let project = LabProject::new("e2eexectty", 26, None);
    project.write_compose(COMPOSE);
    project.up(&[]);
    // `script` runs nap on a pseudo-terminal of its own, as a user's shell would.
    let nap = env!("CARGO_BIN_EXE_nap");
    let line = format!(
        "{nap} --hosts {} -p {} exec web sh -c 'tty; exit 3'",
        project.inventory.display(),
        project.name
    );
    let output = std::process::Command::new("script")
        .args(["-qec", &line, "/dev/null"])
        .current_dir(project.dir.path())
        .env_remove("NAP_HOSTS")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stdout = text(&output.stdout);
    assert!(
        stdout.contains("/dev/pts/"),
        "{stdout}{}",
        text(&output.stderr)
    );
    assert_eq!(output.status.code(), Some(3), "{stdout}");
}

#[test]
fn cp_copies_files_and_folders_both_ways_with_the_replica_on_its_host() {
    let project = LabProject::new("e2ecp", 34, None);
    project.write_compose(COMPOSE);
    project.up(&[]);
    let local = tempfile::tempdir().unwrap();
    let ok = |args: &[&str]| {
        let output = project.nap(args);
        assert!(
            output.status.success(),
            "nap {args:?}: {}",
            text(&output.stderr)
        );
    };

    // A file into replica 2, under a new name, then read there.
    let note = local.path().join("note.txt");
    std::fs::write(&note, "hello across hosts\n").unwrap();
    ok(&[
        "cp",
        "--index",
        "2",
        note.to_str().unwrap(),
        "web:/tmp/copied.txt",
    ]);
    let output = exec(
        &project,
        &["--index", "2", "-T", "web", "cat", "/tmp/copied.txt"],
    );
    assert_eq!(text(&output.stdout), "hello across hosts\n");
    // Only replica 2 got it.
    let output = exec(
        &project,
        &["--index", "1", "-T", "web", "cat", "/tmp/copied.txt"],
    );
    assert!(!output.status.success());

    // A folder out of it, into an existing local folder, and a file out under a new name.
    let made = exec(
        &project,
        &[
            "--index",
            "2",
            "-T",
            "web",
            "sh",
            "-c",
            "mkdir -p /tmp/tree/sub && echo deep > /tmp/tree/sub/leaf && chmod 4755 /tmp/tree/sub/leaf",
        ],
    );
    assert!(made.status.success(), "{}", text(&made.stderr));
    ok(&[
        "cp",
        "--index",
        "2",
        "web:/tmp/tree",
        local.path().to_str().unwrap(),
    ]);
    let leaf = local.path().join("tree/sub/leaf");
    assert_eq!(std::fs::read_to_string(&leaf).unwrap(), "deep\n");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&leaf).unwrap().permissions().mode();
    assert_eq!(
        mode & 0o6000,
        0,
        "no set-user-id bit from a container: {mode:o}"
    );
    let renamed = local.path().join("hostname-of-2");
    ok(&[
        "cp",
        "--index",
        "2",
        "web:/etc/hostname",
        renamed.to_str().unwrap(),
    ]);
    assert!(!std::fs::read_to_string(&renamed).unwrap().trim().is_empty());

    // Nothing but the copies was left in the local folder.
    let mut names: Vec<String> = std::fs::read_dir(local.path())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["hostname-of-2", "note.txt", "tree"]);

    let bad = project.nap(&["cp", "web:/a", "web:/b"]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(text(&bad.stderr).contains("one side must be SERVICE:PATH"));
}
