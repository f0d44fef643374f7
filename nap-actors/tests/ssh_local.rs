//! `nap_actors::ssh` against an sshd of the test's own on 127.0.0.1 (a free port, a temp dir,
//! its own host key and authorized_keys): login through an ssh-agent holding an encrypted key,
//! an encrypted key without agent or terminal refused with the key named, a `@revoked` host key
//! refused, a `@cert-authority` line named and refused, and a command's time limit and output cap.
//!
//! Skips with a message when `/usr/sbin/sshd` is missing (tests/run installs openssh-server).
//! Traffic goes only to loopback.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nap_actors::ssh::{CommandLimits, SshError, SshOptions, SshSession};
use nap_core::inventory::SshTarget;

const SSHD: &str = "/usr/sbin/sshd";
const PASSPHRASE: &str = "correct horse battery";

/// A running sshd and the files it uses; stopped when dropped.
struct LocalSshd {
    dir: tempfile::TempDir,
    port: u16,
    child: Child,
}

impl Drop for LocalSshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn keygen(path: &Path, passphrase: &str, extra: &[&str]) {
    let status = Command::new("ssh-keygen")
        .args([
            "-q",
            "-t",
            "ed25519",
            "-N",
            passphrase,
            "-C",
            "nap-test-key",
            "-f",
        ])
        .arg(path)
        .args(extra)
        .status()
        .expect("run ssh-keygen (openssh-client)");
    assert!(status.success(), "ssh-keygen failed for {}", path.display());
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn user() -> String {
    let output = Command::new("id").arg("-un").output().expect("run id");
    String::from_utf8(output.stdout).unwrap().trim().to_string()
}

/// Starts sshd, authorizing the public keys of `clients`. `None` when sshd is not installed.
fn start_sshd(clients: &[&Path]) -> Option<LocalSshd> {
    if !Path::new(SSHD).exists() {
        eprintln!("skipping: {SSHD} is missing (install openssh-server; tests/run does)");
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let host_key = dir.path().join("host_key");
    keygen(&host_key, "", &[]);
    let mut authorized = String::new();
    for client in clients {
        authorized += &std::fs::read_to_string(client.with_extension("pub")).unwrap();
    }
    std::fs::write(dir.path().join("authorized_keys"), authorized).unwrap();
    let port = free_port();
    let config = dir.path().join("sshd_config");
    std::fs::write(
        &config,
        format!(
            "Port {port}\nListenAddress 127.0.0.1\nHostKey {host}\nAuthorizedKeysFile {dir}/authorized_keys\n\
             PidFile {dir}/sshd.pid\nStrictModes no\nUsePAM no\nPasswordAuthentication no\n\
             KbdInteractiveAuthentication no\nPermitRootLogin yes\nLogLevel ERROR\n",
            host = host_key.display(),
            dir = dir.path().display(),
        ),
    )
    .unwrap();
    // sshd wants its privilege separation directory.
    let _ = std::fs::create_dir_all("/run/sshd");
    let child = Command::new(SSHD)
        .args(["-D", "-e", "-f"])
        .arg(&config)
        .stdin(Stdio::null())
        .spawn()
        .expect("start sshd");
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "sshd did not start on port {port}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    Some(LocalSshd { dir, port, child })
}

impl LocalSshd {
    fn host_public_key(&self) -> String {
        let text = std::fs::read_to_string(self.dir.path().join("host_key.pub")).unwrap();
        text.split_whitespace()
            .take(2)
            .collect::<Vec<_>>()
            .join(" ")
    }

    fn target(&self) -> SshTarget {
        SshTarget {
            user: user(),
            address: "127.0.0.1".to_string(),
            port: self.port,
        }
    }

    /// A known_hosts file with `text` in it, `{key}` standing for the host key and `{host}`
    /// for `[127.0.0.1]:port`.
    fn known_hosts(&self, name: &str, text: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        let text = text
            .replace("{key}", &self.host_public_key())
            .replace("{host}", &format!("[127.0.0.1]:{}", self.port));
        std::fs::write(&path, text).unwrap();
        path
    }

    fn options(&self, identity: Option<PathBuf>) -> SshOptions {
        SshOptions {
            identity,
            agent_socket: None,
            home: None,
            passphrase_prompt: false,
            known_hosts: self.known_hosts("known_hosts", "{host} {key}\n"),
            connect_timeout: Duration::from_secs(10),
        }
    }
}

/// A client key without passphrase, authorized on the sshd to come.
fn plain_key(dir: &Path) -> PathBuf {
    let path = dir.join("id_plain");
    keygen(&path, "", &[]);
    path
}

#[tokio::test]
async fn login_through_the_agent_with_an_encrypted_key() {
    let keys = tempfile::tempdir().unwrap();
    let encrypted = keys.path().join("id_encrypted");
    keygen(&encrypted, PASSPHRASE, &[]);
    let Some(sshd) = start_sshd(&[&encrypted]) else {
        return;
    };
    let socket = keys.path().join("agent.sock");
    let mut agent = Command::new("ssh-agent")
        .arg("-D")
        .arg("-a")
        .arg(&socket)
        .stdout(Stdio::null())
        .spawn()
        .expect("start ssh-agent");
    let started = Instant::now();
    while !socket.exists() {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "ssh-agent did not start"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let askpass = keys.path().join("askpass");
    std::fs::write(&askpass, format!("#!/bin/sh\necho '{PASSPHRASE}'\n")).unwrap();
    std::fs::set_permissions(
        &askpass,
        std::os::unix::fs::PermissionsExt::from_mode(0o700),
    )
    .unwrap();
    let added = Command::new("ssh-add")
        .arg(&encrypted)
        .env("SSH_AUTH_SOCK", &socket)
        .env("SSH_ASKPASS", &askpass)
        .env("SSH_ASKPASS_REQUIRE", "force")
        .env("DISPLAY", "none")
        .stdin(Stdio::null())
        .status()
        .expect("run ssh-add");
    assert!(added.success(), "ssh-add failed");

    let options = SshOptions {
        agent_socket: Some(socket.clone()),
        ..sshd.options(None)
    };
    let result = async {
        let session = SshSession::connect("local", &sshd.target(), &options).await?;
        session.run_checked("echo via-agent", None).await
    }
    .await;
    let _ = agent.kill();
    let _ = agent.wait();
    let output = result.expect("login through the agent");
    assert_eq!(output.stdout, b"via-agent\n");
}

#[tokio::test]
async fn an_encrypted_key_without_agent_or_terminal_is_named() {
    let keys = tempfile::tempdir().unwrap();
    let encrypted = keys.path().join("id_encrypted");
    keygen(&encrypted, PASSPHRASE, &[]);
    let Some(sshd) = start_sshd(&[&encrypted]) else {
        return;
    };
    let error = SshSession::connect(
        "local",
        &sshd.target(),
        &sshd.options(Some(encrypted.clone())),
    )
    .await
    .expect_err("no way to decrypt the key");
    let message = error.to_string();
    assert!(
        matches!(error, SshError::AuthenticationRefused { .. }),
        "{message}"
    );
    assert!(
        message.contains(&format!(
            "tried: {} (encrypted, and stdin is no terminal to ask its passphrase)",
            encrypted.display()
        )),
        "{message}"
    );
    assert!(!message.contains(PASSPHRASE));
}

#[tokio::test]
async fn a_revoked_host_key_is_refused_even_when_listed() {
    let keys = tempfile::tempdir().unwrap();
    let identity = plain_key(keys.path());
    let Some(sshd) = start_sshd(&[&identity]) else {
        return;
    };
    let known_hosts = sshd.known_hosts("revoked", "{host} {key}\n@revoked * {key}\n");
    let options = SshOptions {
        known_hosts: known_hosts.clone(),
        ..sshd.options(Some(identity))
    };
    let error = SshSession::connect("local", &sshd.target(), &options)
        .await
        .expect_err("revoked host key");
    let message = error.to_string();
    assert!(
        matches!(error, SshError::HostKeyRevoked { line: 2, .. }),
        "{message}"
    );
    assert!(
        message.contains(&format!("line 2 of {}", known_hosts.display())),
        "{message}"
    );
    assert!(
        message.starts_with("host key of host \"local\""),
        "{message}"
    );
}

#[tokio::test]
async fn a_cert_authority_line_is_named_and_accepts_no_plain_key() {
    let keys = tempfile::tempdir().unwrap();
    let identity = plain_key(keys.path());
    let Some(sshd) = start_sshd(&[&identity]) else {
        return;
    };
    let ca = keys.path().join("ca");
    keygen(&ca, "", &[]);
    let ca_key = std::fs::read_to_string(ca.with_extension("pub")).unwrap();
    let known_hosts = sshd.known_hosts("ca", &format!("@cert-authority {{host}} {ca_key}"));
    let options = SshOptions {
        known_hosts: known_hosts.clone(),
        ..sshd.options(Some(identity))
    };
    let error = SshSession::connect("local", &sshd.target(), &options)
        .await
        .expect_err("no host certificates");
    let message = error.to_string();
    assert!(
        matches!(
            error,
            SshError::UnknownHostKey {
                cert_authority_line: Some(1),
                ..
            }
        ),
        "{message}"
    );
    assert!(
        message.contains(&format!(
            "{}:1 is a @cert-authority entry",
            known_hosts.display()
        )),
        "{message}"
    );
}

async fn connect_plain(keys: &Path) -> Option<(LocalSshd, SshSession)> {
    let identity = plain_key(keys);
    let sshd = start_sshd(&[&identity])?;
    let session = SshSession::connect("local", &sshd.target(), &sshd.options(Some(identity)))
        .await
        .expect("connect to the local sshd");
    Some((sshd, session))
}

#[tokio::test]
async fn a_command_past_its_time_limit_fails_fast() {
    let keys = tempfile::tempdir().unwrap();
    let Some((_sshd, session)) = connect_plain(keys.path()).await else {
        return;
    };
    let started = Instant::now();
    let error = session
        .run_limited(
            "sleep 30",
            None,
            CommandLimits::with_timeout(Duration::from_secs(1)),
        )
        .await
        .expect_err("time limit");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
    let message = error.to_string();
    assert!(
        matches!(error, SshError::CommandTimeout { .. }),
        "{message}"
    );
    assert!(
        message.contains("`sleep 30` on host \"local\""),
        "{message}"
    );
    // The session still works.
    let output = session.run_checked("echo still-here", None).await.unwrap();
    assert_eq!(output.stdout, b"still-here\n");

    // A kept shell that timed out is closed and not used again.
    let mut shell = session.open_shell("sh").await.unwrap();
    let started = Instant::now();
    let error = shell
        .run_limited(
            "sleep 30",
            CommandLimits::with_timeout(Duration::from_secs(1)),
        )
        .await
        .expect_err("time limit in a shell");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(matches!(error, SshError::CommandTimeout { .. }), "{error}");
    assert!(shell.is_closed());
    let again = shell.run("echo no").await.expect_err("closed shell");
    assert!(matches!(again, SshError::ShellClosed { .. }), "{again}");
}

#[tokio::test]
async fn output_past_the_cap_fails() {
    let keys = tempfile::tempdir().unwrap();
    let Some((_sshd, session)) = connect_plain(keys.path()).await else {
        return;
    };
    let started = Instant::now();
    let error = session
        .run("yes | head -c 50M", None)
        .await
        .expect_err("output cap");
    let message = error.to_string();
    assert!(
        matches!(
            error,
            SshError::OutputTooLarge {
                limit: 16777216,
                ..
            }
        ),
        "{message}"
    );
    assert!(message.contains("on host \"local\""), "{message}");
    assert!(started.elapsed() < Duration::from_secs(30));

    let mut shell = session.open_shell("sh").await.unwrap();
    let error = shell
        .run_limited(
            "yes | head -c 5M",
            CommandLimits {
                max_output: 1 << 20,
                ..CommandLimits::default()
            },
        )
        .await
        .expect_err("output cap in a shell");
    assert!(matches!(error, SshError::OutputTooLarge { .. }), "{error}");
    assert!(shell.is_closed());
}
