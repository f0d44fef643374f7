//! `nap_actors::ssh` against the lab's real sshds: commands run with their output, stdin and
//! exit status intact, concurrently over one connection; and connections are refused, with
//! errors that say why and how to fix it, for unknown or changed host keys, a missing or
//! unauthorized identity, a closed port and a server that never answers.
//!
//! Traffic goes only to the lab's addresses (from `$NAP_LAB_DIR/lab.env`) and to loopback.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use nap_actors::ssh::{SshError, SshOptions, SshSession};
use nap_core::inventory::SshTarget;
use russh::keys::HashAlg;

fn lab_dir() -> PathBuf {
    PathBuf::from(
        std::env::var("NAP_LAB_DIR")
            .expect("NAP_LAB_DIR is not set: run the suite with tests/run, which starts the lab"),
    )
}

/// A value from `$NAP_LAB_DIR/lab.env` (`export KEY=value` lines).
fn lab_env(key: &str) -> String {
    let path = lab_dir().join("lab.env");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    text.lines()
        .filter_map(|line| line.split_once('='))
        .find(|(name, _)| name.trim().trim_start_matches("export ").trim() == key)
        .map(|(_, value)| value.trim().trim_matches('"').to_string())
        .unwrap_or_else(|| panic!("{} has no {key}", path.display()))
}

/// Lab host `k` (1, 2 or 3) as root on port 22.
fn lab_target(k: u32) -> SshTarget {
    SshTarget {
        user: "root".to_string(),
        address: lab_env(&format!("NAP_LAB_H{k}_ADDR")),
        port: 22,
    }
}

fn lab_options() -> SshOptions {
    let lab = lab_dir();
    SshOptions {
        identity: Some(lab.join("id_ed25519")),
        agent_socket: None,
        home: None,
        passphrase_prompt: false,
        known_hosts: lab.join("known_hosts"),
        connect_timeout: Duration::from_secs(10),
    }
}

/// The base64 host key the lab's known_hosts records for `address`.
fn lab_host_key(address: &str) -> String {
    let path = lab_dir().join("known_hosts");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    text.lines()
        .find_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            (fields.len() >= 3 && fields[0] == address && fields[1] == "ssh-ed25519")
                .then(|| fields[2].to_string())
        })
        .unwrap_or_else(|| panic!("{} has no ssh-ed25519 key for {address}", path.display()))
}

fn fingerprint(base64_key: &str) -> String {
    russh::keys::parse_public_key_base64(base64_key)
        .expect("a valid public key")
        .fingerprint(HashAlg::Sha256)
        .to_string()
}

/// Fails the test instead of hanging it.
async fn within<T>(future: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(60), future)
        .await
        .expect("the test took over 60 s")
}

async fn connect_lab(k: u32) -> SshSession {
    SshSession::connect(&format!("h{k}"), &lab_target(k), &lab_options())
        .await
        .unwrap_or_else(|e| panic!("connect to lab host h{k}: {e}"))
}

/// A path under /tmp no other test run uses.
fn unique_tmp_path(what: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("/tmp/nap-ssh-test-{}-{nanos}-{what}", std::process::id())
}

fn text(bytes: &[u8]) -> &str {
    std::str::from_utf8(bytes).expect("utf-8 output")
}

#[tokio::test]
async fn run_collects_stdout_stderr_and_status() {
    within(async {
        let session = connect_lab(1).await;
        let output = session
            .run("echo hello; echo oops >&2; exit 3", None)
            .await
            .expect("run");
        assert_eq!(text(&output.stdout), "hello\n");
        // The host's shell start-up files may write to stderr first; the command's line is last.
        assert!(
            text(&output.stderr).ends_with("oops\n"),
            "{:?}",
            text(&output.stderr)
        );
        assert_eq!(output.status, 3);

        let output = session.run("true", None).await.expect("run true");
        assert_eq!(
            (output.status, output.stdout.len(), output.stderr.len()),
            (0, 0, 0)
        );
        session.close().await;
    })
    .await;
}

#[tokio::test]
async fn each_lab_host_is_the_one_reached() {
    within(async {
        for k in 1..=3 {
            let session = connect_lab(k).await;
            let output = session
                .run_checked("hostname; ip -o -4 addr show", None)
                .await
                .expect("hostname");
            let stdout = text(&output.stdout);
            assert!(stdout.starts_with(&format!("h{k}\n")), "{stdout}");
            assert!(
                stdout.contains(&format!("inet {}/", lab_target(k).address)),
                "{stdout}"
            );
            session.close().await;
        }
    })
    .await;
}

#[tokio::test]
async fn stdin_round_trips_bytes_then_eof() {
    within(async {
        let session = connect_lab(1).await;
        // Every byte value, and more than one SSH packet and channel window's worth.
        let content: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
        let path = unique_tmp_path("stdin");
        let output = session
            .run_checked(
                &format!("cat > {path} && cat {path}; rm -f {path}"),
                Some(&content),
            )
            .await
            .expect("write and read back");
        assert_eq!(output.stdout.len(), content.len());
        assert!(output.stdout == content, "the bytes read back differ");

        // No stdin: the command sees EOF at once rather than waiting.
        let output = session.run_checked("cat", None).await.expect("cat");
        assert!(output.stdout.is_empty());

        // A command that exits without reading its stdin still reports its status.
        let output = session.run("exit 4", Some(&content)).await.expect("exit 4");
        assert_eq!(output.status, 4);

        let output = session
            .run_checked(&format!("test ! -e {path} && echo gone"), None)
            .await
            .expect("check cleanup");
        assert_eq!(text(&output.stdout), "gone\n");
        session.close().await;
    })
    .await;
}

#[tokio::test]
async fn many_commands_run_concurrently_over_one_connection() {
    within(async {
        let session = connect_lab(2).await;
        // More commands than sshd's default MaxSessions (10) open channels. Each waits until
        // 8 of them (nap's cap on channels per connection) have started: if they ran one after
        // another, none would see the others and each would print no `out` line.
        let barrier = format!("/tmp/nap-ssh-barrier-{}", std::process::id());
        let runs = (0..24).map(|i| {
            let session = session.clone();
            let barrier = barrier.clone();
            async move {
                let command = format!(
                    "mkdir -p {barrier}; touch {barrier}/{i}; n=0; \
                     while [ $(ls {barrier} | wc -l) -lt 8 ] && [ $n -lt 200 ]; do sleep 0.05; n=$((n+1)); done; \
                     [ $(ls {barrier} | wc -l) -ge 8 ] && echo out{i}; echo err{i} >&2; exit {i}"
                );
                let output = session
                    .run(&command, None)
                    .await
                    .unwrap_or_else(|e| panic!("command {i}: {e}"));
                (i, output)
            }
        });
        let results = futures_util::future::join_all(runs).await;
        let _ = session.run(&format!("rm -rf {barrier}"), None).await;
        for (i, output) in results {
            assert_eq!(text(&output.stdout), format!("out{i}\n"));
            // The host's shell start-up files may write to stderr first (seen: pyenv's rehash
            // racing with itself); the command's own line comes last.
            assert!(
                text(&output.stderr).ends_with(&format!("err{i}\n")),
                "{:?}",
                text(&output.stderr)
            );
            assert_eq!(output.status, i);
        }
        session.close().await;
    })
    .await;
}

#[tokio::test]
async fn run_checked_fails_naming_host_status_and_stderr() {
    within(async {
        let session = connect_lab(3).await;
        let error = session
            .run_checked(
                "echo first problem >&2; echo bad thing >&2; exit 7\necho never",
                None,
            )
            .await
            .expect_err("exit 7 is a failure");
        let message = error.to_string();
        assert!(
            matches!(error, SshError::CommandFailed { status: 7, .. }),
            "{message}"
        );
        assert_eq!(
            message,
            format!(
                "`echo first problem >&2; echo bad thing >&2; exit 7…` failed on host \"h3\" \
                 (root@{}:22) with exit status 7; stderr: first problem; bad thing",
                lab_target(3).address
            )
        );
        assert_eq!(error.host().name, "h3");

        let output = session
            .run_checked("echo fine", None)
            .await
            .expect("status 0 passes");
        assert_eq!(text(&output.stdout), "fine\n");
        session.close().await;
    })
    .await;
}

#[tokio::test]
async fn close_ends_the_session_for_every_clone() {
    within(async {
        let session = connect_lab(1).await;
        let clone = session.clone();
        session.close().await;
        let error = clone
            .run("echo too late", None)
            .await
            .expect_err("closed session");
        assert!(
            matches!(error, SshError::Disconnected { .. }),
            "unexpected error: {error}"
        );
        assert!(error.to_string().contains("is closed"), "{error}");
        session.close().await; // again: nothing happens
    })
    .await;
}

#[tokio::test]
async fn an_unknown_host_key_is_refused_with_instructions() {
    within(async {
        let temp = tempfile::tempdir().unwrap();
        let target = lab_target(1);
        let expected_fingerprint = fingerprint(&lab_host_key(&target.address));
        for (known_hosts, exists) in [
            (temp.path().join("empty_known_hosts"), true),
            (temp.path().join("no_such_known_hosts"), false),
        ] {
            if exists {
                std::fs::write(&known_hosts, "").unwrap();
            }
            let options = SshOptions {
                known_hosts: known_hosts.clone(),
                ..lab_options()
            };
            let error = SshSession::connect("h1", &target, &options)
                .await
                .expect_err("unknown host key");
            let message = error.to_string();
            match &error {
                SshError::UnknownHostKey {
                    key_type,
                    fingerprint,
                    known_hosts_missing,
                    ..
                } => {
                    assert_eq!(key_type, "ssh-ed25519");
                    assert_eq!(fingerprint, &expected_fingerprint);
                    assert_eq!(*known_hosts_missing, !exists, "{message}");
                }
                other => panic!("expected an unknown host key error, got: {other}"),
            }
            assert!(
                message.starts_with(&format!(
                    "unknown host key for host \"h1\" (root@{}:22)",
                    target.address
                )),
                "{message}"
            );
            assert!(message.contains(&expected_fingerprint), "{message}");
            assert!(
                message.contains(&format!(
                    "ssh-keyscan -p 22 -t ed25519 {} >> {}",
                    target.address,
                    known_hosts.display()
                )),
                "{message}"
            );
            assert_eq!(message.contains("does not exist"), !exists, "{message}");
            assert!(
                !exists || std::fs::read(&known_hosts).unwrap().is_empty(),
                "known_hosts was written to"
            );
            assert!(
                exists || !known_hosts.exists(),
                "a known_hosts file was created"
            );
        }
    })
    .await;
}

#[tokio::test]
async fn a_changed_host_key_is_refused_naming_the_line() {
    within(async {
        let temp = tempfile::tempdir().unwrap();
        let target = lab_target(1);
        // h2's real key recorded for h1's address: a valid key, but not h1's.
        let other_key = lab_host_key(&lab_target(2).address);
        let known_hosts = temp.path().join("known_hosts");
        std::fs::write(
            &known_hosts,
            format!(
                "# a comment line\n192.0.2.1 ssh-ed25519 {other_key}\n{} ssh-ed25519 {other_key}\n",
                target.address
            ),
        )
        .unwrap();
        let options = SshOptions {
            known_hosts: known_hosts.clone(),
            ..lab_options()
        };
        let error = SshSession::connect("h1", &target, &options)
            .await
            .expect_err("changed host key");
        let message = error.to_string();
        assert!(
            matches!(error, SshError::HostKeyChanged { line: 3, .. }),
            "expected a changed key at line 3, got: {message}"
        );
        assert!(
            message.starts_with(&format!(
                "host key of host \"h1\" (root@{}:22) has changed",
                target.address
            )),
            "{message}"
        );
        assert!(
            message.contains(&format!("line 3 of {}", known_hosts.display())),
            "{message}"
        );
        assert!(message.contains("may be an attack"), "{message}");
        assert!(message.contains("removed deliberately"), "{message}");
        assert!(
            message.contains(&fingerprint(&lab_host_key(&target.address))),
            "{message}"
        );
    })
    .await;
}

#[tokio::test]
async fn a_missing_identity_file_is_named() {
    within(async {
        let temp = tempfile::tempdir().unwrap();
        let identity = temp.path().join("no_such_key");
        let options = SshOptions {
            identity: Some(identity.clone()),
            ..lab_options()
        };
        let error = SshSession::connect("h1", &lab_target(1), &options)
            .await
            .expect_err("missing identity");
        let message = error.to_string();
        assert!(
            matches!(error, SshError::ReadIdentity { .. }),
            "unexpected error: {message}"
        );
        assert!(
            message.starts_with(&format!(
                "cannot read identity file {} for host \"h1\"",
                identity.display()
            )),
            "{message}"
        );
    })
    .await;
}

#[tokio::test]
async fn a_key_the_host_does_not_know_is_refused() {
    within(async {
        let temp = tempfile::tempdir().unwrap();
        let identity = generate_key(temp.path());
        let options = SshOptions {
            identity: Some(identity.clone()),
            ..lab_options()
        };
        let error = SshSession::connect("h1", &lab_target(1), &options)
            .await
            .expect_err("unauthorized key");
        let message = error.to_string();
        assert!(
            matches!(error, SshError::AuthenticationRefused { .. }),
            "unexpected error: {message}"
        );
        assert!(
            message.starts_with(&format!(
                "host \"h1\" (root@{}:22) refused authentication as \"root\"; tried: {} (ssh-ed25519 SHA256:",
                lab_target(1).address,
                identity.display()
            )),
            "{message}"
        );
    })
    .await;
}

fn generate_key(dir: &Path) -> PathBuf {
    let path = dir.join("id_ed25519_unknown");
    let status = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&path)
        .status()
        .expect("run ssh-keygen (openssh-client)");
    assert!(status.success(), "ssh-keygen failed");
    path
}

#[tokio::test]
async fn a_closed_port_cannot_be_connected_to() {
    within(async {
        let target = SshTarget {
            port: 1,
            ..lab_target(1)
        };
        let error = SshSession::connect("h1", &target, &lab_options())
            .await
            .expect_err("nothing listens on port 1");
        let message = error.to_string();
        assert!(
            matches!(error, SshError::Connect { .. }),
            "unexpected error: {message}"
        );
        assert!(
            message.starts_with(&format!(
                "cannot connect to host \"h1\" (root@{}:1): ",
                lab_target(1).address
            )),
            "{message}"
        );
    })
    .await;
}

#[tokio::test]
async fn a_server_that_never_answers_times_out() {
    within(async {
        // A loopback listener that takes the connection and never says a word.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let target = SshTarget {
            user: "root".to_string(),
            address: "127.0.0.1".to_string(),
            port,
        };
        let options = SshOptions {
            connect_timeout: Duration::from_millis(500),
            ..lab_options()
        };
        let error = SshSession::connect("silent", &target, &options)
            .await
            .expect_err("no ssh banner");
        let message = error.to_string();
        assert!(
            matches!(
                error,
                SshError::ConnectTimeout {
                    stage: "exchanging keys",
                    ..
                }
            ),
            "unexpected error: {message}"
        );
        assert_eq!(
            message,
            format!(
                "cannot connect to host \"silent\" (root@127.0.0.1:{port}): no answer within 500ms while exchanging keys"
            )
        );
        drop(listener);
    })
    .await;
}

#[tokio::test]
async fn a_kept_shell_runs_scripts_one_after_another() {
    within(async {
        let session = connect_lab(3).await;
        let mut shell = session.open_shell("sh").await.expect("open shell");
        let path = format!("/tmp/nap-ssh-shell-{}", std::process::id());
        // A here-document written in place, read back, then a failing script: `exit` ends
        // the script only, and the shell goes on.
        let written = shell
            .run(&format!(
                "cat > {path} <<'EOF'\nline one\nline two\nEOF\ncat {path}"
            ))
            .await
            .expect("write");
        assert_eq!(written.status, 0);
        assert!(
            text(&written.stdout).ends_with("line one\nline two\n"),
            "{:?}",
            text(&written.stdout)
        );
        let failed = shell.run("echo partial; exit 5").await.expect("run");
        assert_eq!(failed.status, 5);
        assert_eq!(text(&failed.stdout), "partial\n");
        let after = shell
            .run(&format!("cat {path}; rm {path}"))
            .await
            .expect("run");
        assert_eq!(
            (after.status, text(&after.stdout)),
            (0, "line one\nline two\n")
        );
        let nothing = shell.run("true").await.expect("run");
        assert_eq!((nothing.status, text(&nothing.stdout)), (0, ""));
    })
    .await;
}
