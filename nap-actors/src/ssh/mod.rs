//! SSH to Docker hosts: one authenticated connection per host, over which nap runs small shell
//! commands as the inventory's SSH user (installing routes, rewriting a container's hosts file
//! in place with its content on stdin).
//!
//! The server's host key is always checked against a known_hosts file by nap's own reader
//! ([`known_hosts`]): an unknown, changed or `@revoked` key ends the connection with an error
//! that names the host and the file. There is no "accept new keys" mode, and this module never
//! writes a known_hosts file. Login is by public key only ([`auth`]): an identity file, the
//! ssh-agent, or the default key files. Every remote command has a time limit and an output
//! cap ([`CommandLimits`]).
//!
//! This module does not decide which commands to run, retry anything, or tunnel the Docker API;
//! its callers do that.

pub mod auth;
pub mod known_hosts;
mod session;

use std::borrow::Cow;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use nap_core::inventory::SshTarget;

pub use session::{RemoteShell, SshSession};

/// How many commands run at once over one connection. OpenSSH's sshd refuses more than
/// `MaxSessions` (default 10) open channels per connection; further commands wait their turn.
pub const MAX_CONCURRENT_COMMANDS: usize = 8;

/// How long a remote command may run unless its caller says otherwise.
pub const DEFAULT_COMMAND_TIMEOUT: Duration = Duration::from_secs(60);

/// How much stdout and stderr together a remote command may write unless its caller says
/// otherwise.
pub const DEFAULT_OUTPUT_LIMIT: usize = 16 << 20;

/// How many of stderr's last lines a failed command's error quotes.
const STDERR_TAIL_LINES: usize = 5;

/// How many characters of a command an error quotes.
const COMMAND_SUMMARY_CHARS: usize = 80;

/// Where and how to connect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshOptions {
    /// The private key to try first (OpenSSH or PKCS#8 format; an encrypted one is decrypted
    /// with a passphrase asked on the terminal). `None`: the agent, then the default key files
    /// under [`SshOptions::home`].
    pub identity: Option<PathBuf>,
    /// The ssh-agent's socket (`SSH_AUTH_SOCK`), whose keys are tried after the identity file
    /// (or first, without one).
    pub agent_socket: Option<PathBuf>,
    /// The home directory whose `.ssh/id_ed25519`, `id_ecdsa`, `id_rsa` are tried when no
    /// identity is set.
    pub home: Option<PathBuf>,
    /// Whether an encrypted key's passphrase may be asked on the terminal (only ever when
    /// stdin is a terminal).
    pub passphrase_prompt: bool,
    /// The known_hosts file the server's host key must be listed in.
    pub known_hosts: PathBuf,
    /// How long opening the connection, the key exchange and authentication may take together.
    pub connect_timeout: Duration,
}

/// A host as errors name it: its inventory name and `user@address:port`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshHost {
    /// The host's name in the inventory.
    pub name: String,
    /// Where its sshd listens, and the login user.
    pub target: SshTarget,
}

impl fmt::Display for SshHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let SshTarget {
            user,
            address,
            port,
        } = &self.target;
        write!(f, "{:?} ({user}@{address}:{port})", self.name)
    }
}

/// Bounds on one remote command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommandLimits {
    /// How long it may run, from sending it to its channel closing.
    pub timeout: Duration,
    /// How many bytes of stdout and stderr together it may write.
    pub max_output: usize,
}

impl Default for CommandLimits {
    fn default() -> CommandLimits {
        CommandLimits {
            timeout: DEFAULT_COMMAND_TIMEOUT,
            max_output: DEFAULT_OUTPUT_LIMIT,
        }
    }
}

impl CommandLimits {
    /// The default output cap with this time limit.
    pub fn with_timeout(timeout: Duration) -> CommandLimits {
        CommandLimits {
            timeout,
            ..CommandLimits::default()
        }
    }
}

/// What a command left behind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandOutput {
    /// The exit status.
    pub status: u32,
    /// Everything written to stdout.
    pub stdout: Vec<u8>,
    /// Everything written to stderr.
    pub stderr: Vec<u8>,
}

/// Why a connection or a command failed. Every message names the host.
#[derive(Debug, thiserror::Error)]
pub enum SshError {
    /// The TCP connection could not be opened.
    #[error("cannot connect to host {host}: {source}")]
    Connect {
        /// The host.
        host: Arc<SshHost>,
        /// Why.
        source: std::io::Error,
    },
    /// Connecting took longer than [`SshOptions::connect_timeout`].
    #[error("cannot connect to host {host}: no answer within {after:?} while {stage}")]
    ConnectTimeout {
        /// The host.
        host: Arc<SshHost>,
        /// The timeout.
        after: Duration,
        /// What was going on (`opening the tcp connection`, `exchanging keys`, `authenticating`).
        stage: &'static str,
    },
    /// The server's host key is not in the known_hosts file.
    #[error("{}{}", unknown_host_key_message(host, key_type, fingerprint, known_hosts, *known_hosts_missing), cert_authority_hint(known_hosts, *cert_authority_line))]
    UnknownHostKey {
        /// The host.
        host: Arc<SshHost>,
        /// The offered key's type (`ssh-ed25519`).
        key_type: String,
        /// The offered key's fingerprint (`SHA256:…`).
        fingerprint: String,
        /// The known_hosts file that was read.
        known_hosts: PathBuf,
        /// Whether that file does not exist at all.
        known_hosts_missing: bool,
        /// A `@cert-authority` line for this host, which nap does not use.
        cert_authority_line: Option<usize>,
    },
    /// The host's key is listed under `@revoked`.
    #[error(
        "host key of host {host} is revoked: it offered {key_type} key {fingerprint}, which line {line} of {} marks @revoked; nap refuses it whatever other lines say",
        known_hosts.display()
    )]
    HostKeyRevoked {
        /// The host.
        host: Arc<SshHost>,
        /// The offered key's type.
        key_type: String,
        /// The offered key's fingerprint.
        fingerprint: String,
        /// The known_hosts file.
        known_hosts: PathBuf,
        /// The `@revoked` line (from 1).
        line: usize,
    },
    /// The known_hosts file records a different key of the same type for this host.
    #[error("{}", changed_host_key_message(host, key_type, fingerprint, known_hosts, *line))]
    HostKeyChanged {
        /// The host.
        host: Arc<SshHost>,
        /// The offered key's type (`ssh-ed25519`).
        key_type: String,
        /// The offered key's fingerprint (`SHA256:…`).
        fingerprint: String,
        /// The known_hosts file.
        known_hosts: PathBuf,
        /// The line (from 1) that records the other key.
        line: usize,
    },
    /// The known_hosts file could not be read.
    #[error("cannot check the host key of host {host} against {}: {source}", known_hosts.display())]
    KnownHosts {
        /// The host.
        host: Arc<SshHost>,
        /// The known_hosts file.
        known_hosts: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The server presented a host certificate instead of a plain host key.
    #[error(
        "host {host} presented a host certificate; nap checks plain host keys against known_hosts and accepts no certificates"
    )]
    HostCertificate {
        /// The host.
        host: Arc<SshHost>,
    },
    /// The private key file could not be read or decoded.
    #[error("cannot read identity file {} for host {host}: {source}", identity.display())]
    ReadIdentity {
        /// The host.
        host: Arc<SshHost>,
        /// The identity file.
        identity: PathBuf,
        /// Why.
        source: russh::keys::Error,
    },
    /// The server did not accept the key.
    #[error(
        "host {host} refused authentication as {user:?}; tried: {}{}",
        tried_hint(tried),
        methods_hint(remaining_methods)
    )]
    AuthenticationRefused {
        /// The host.
        host: Arc<SshHost>,
        /// The login user.
        user: String,
        /// The keys tried, by file path or agent comment, with type and fingerprint.
        tried: Vec<String>,
        /// The methods the server said it would still accept.
        remaining_methods: Vec<String>,
    },
    /// The connection is closed (the host went away, or [`SshSession::close`] was called).
    #[error("the ssh connection to host {host} is closed")]
    Disconnected {
        /// The host.
        host: Arc<SshHost>,
    },
    /// An SSH protocol error outside a command.
    #[error("ssh error with host {host} while {during}: {source}")]
    Protocol {
        /// The host.
        host: Arc<SshHost>,
        /// What was going on.
        during: &'static str,
        /// Why.
        source: russh::Error,
    },
    /// A command could not be started or its channel broke.
    #[error("cannot run `{command}` on host {host}: {during}: {source}")]
    Channel {
        /// The host.
        host: Arc<SshHost>,
        /// The command's first line.
        command: String,
        /// What was going on.
        during: &'static str,
        /// Why.
        source: russh::Error,
    },
    /// The server refused to start the command.
    #[error("host {host} refused to run `{command}`")]
    ExecRefused {
        /// The host.
        host: Arc<SshHost>,
        /// The command's first line.
        command: String,
    },
    /// The command ended without an exit status (killed by a signal, or the channel was cut).
    #[error("`{command}` on host {host} ended without an exit status{}", signal.as_ref().map(|signal| format!(" (killed by signal {signal})")).unwrap_or_default())]
    NoExitStatus {
        /// The host.
        host: Arc<SshHost>,
        /// The command's first line.
        command: String,
        /// The signal, when the server named one.
        signal: Option<String>,
    },
    /// The command ran longer than its time limit; its channel was closed.
    #[error("`{command}` on host {host} did not finish within {after:?}; its channel was closed")]
    CommandTimeout {
        /// The host.
        host: Arc<SshHost>,
        /// The command's first line.
        command: String,
        /// The limit.
        after: Duration,
    },
    /// The command wrote more than its output cap; its channel was closed.
    #[error(
        "`{command}` on host {host} wrote more than {limit} bytes of output; its channel was closed"
    )]
    OutputTooLarge {
        /// The host.
        host: Arc<SshHost>,
        /// The command's first line.
        command: String,
        /// The cap, in bytes.
        limit: usize,
    },
    /// A kept shell failed earlier and is not used again.
    #[error("the remote shell on host {host} failed earlier and was closed")]
    ShellClosed {
        /// The host.
        host: Arc<SshHost>,
    },
    /// The command exited with a non-zero status ([`SshSession::run_checked`]).
    #[error(
        "`{command}` failed on host {host} with exit status {status}{}",
        stderr_hint(stderr_tail)
    )]
    CommandFailed {
        /// The host.
        host: Arc<SshHost>,
        /// The command's first line.
        command: String,
        /// The exit status.
        status: u32,
        /// stderr's last lines, joined with `; `.
        stderr_tail: String,
    },
}

impl SshError {
    /// Whether the host could not be reached at all (refused, no answer, connection lost),
    /// as opposed to a host key, login or command problem.
    pub fn is_unreachable(&self) -> bool {
        matches!(
            self,
            SshError::Connect { .. }
                | SshError::ConnectTimeout { .. }
                | SshError::Disconnected { .. }
        )
    }

    /// The host the error is about.
    pub fn host(&self) -> &SshHost {
        match self {
            SshError::Connect { host, .. }
            | SshError::ConnectTimeout { host, .. }
            | SshError::UnknownHostKey { host, .. }
            | SshError::HostKeyChanged { host, .. }
            | SshError::HostKeyRevoked { host, .. }
            | SshError::CommandTimeout { host, .. }
            | SshError::OutputTooLarge { host, .. }
            | SshError::ShellClosed { host }
            | SshError::KnownHosts { host, .. }
            | SshError::HostCertificate { host }
            | SshError::ReadIdentity { host, .. }
            | SshError::AuthenticationRefused { host, .. }
            | SshError::Disconnected { host }
            | SshError::Protocol { host, .. }
            | SshError::Channel { host, .. }
            | SshError::ExecRefused { host, .. }
            | SshError::NoExitStatus { host, .. }
            | SshError::CommandFailed { host, .. } => host,
        }
    }
}

/// How known_hosts names a host: `address` on port 22, else `[address]:port`.
fn known_hosts_entry(target: &SshTarget) -> String {
    if target.port == 22 {
        target.address.clone()
    } else {
        format!("[{}]:{}", target.address, target.port)
    }
}

/// The `ssh-keyscan -t` name and the usual host key file for an OpenSSH key type.
fn key_type_names(key_type: &str) -> Option<(&'static str, &'static str)> {
    if key_type == "ssh-ed25519" {
        Some(("ed25519", "/etc/ssh/ssh_host_ed25519_key.pub"))
    } else if key_type.starts_with("ecdsa-sha2-") {
        Some(("ecdsa", "/etc/ssh/ssh_host_ecdsa_key.pub"))
    } else if key_type == "ssh-rsa" || key_type.starts_with("rsa-sha2-") {
        Some(("rsa", "/etc/ssh/ssh_host_rsa_key.pub"))
    } else {
        None
    }
}

/// Quotes `text` for a POSIX shell when it needs it.
fn shell_quote(text: &str) -> Cow<'_, str> {
    let plain = !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-:+@%,=".contains(c));
    if plain {
        Cow::Borrowed(text)
    } else {
        Cow::Owned(format!("'{}'", text.replace('\'', r"'\''")))
    }
}

fn unknown_host_key_message(
    host: &SshHost,
    key_type: &str,
    fingerprint: &str,
    known_hosts: &Path,
    known_hosts_missing: bool,
) -> String {
    let entry = known_hosts_entry(&host.target);
    let file = known_hosts.display();
    let missing = if known_hosts_missing {
        " (the file does not exist)"
    } else {
        ""
    };
    let (scan_type, check_on_host) = match key_type_names(key_type) {
        Some((scan_name, key_file)) => (
            format!(" -t {scan_name}"),
            format!(" (on the host: `ssh-keygen -lf {key_file}`)"),
        ),
        None => (String::new(), String::new()),
    };
    format!(
        "unknown host key for host {host}: it offered {key_type} key {fingerprint}, and {file}{missing} has no {key_type} key for `{entry}`; \
         check that fingerprint out of band{check_on_host}, then add the key with \
         `ssh-keyscan -p {port}{scan_type} {address} >> {quoted_file}` (the entry is `{entry}`)",
        port = host.target.port,
        address = shell_quote(&host.target.address),
        quoted_file = shell_quote(&known_hosts.to_string_lossy()),
    )
}

fn changed_host_key_message(
    host: &SshHost,
    key_type: &str,
    fingerprint: &str,
    known_hosts: &Path,
    line: usize,
) -> String {
    let entry = known_hosts_entry(&host.target);
    format!(
        "host key of host {host} has changed: it offered {key_type} key {fingerprint}, but line {line} of {file} records a different one for `{entry}`; \
         this may be an attack (someone intercepting the connection) or the host was reinstalled; \
         nap will not connect until the old line is removed deliberately \
         (`ssh-keygen -R {quoted_entry} -f {quoted_file}`) after the new fingerprint was checked out of band",
        file = known_hosts.display(),
        quoted_entry = shell_quote(&entry),
        quoted_file = shell_quote(&known_hosts.to_string_lossy()),
    )
}

fn cert_authority_hint(known_hosts: &Path, line: Option<usize>) -> String {
    match line {
        Some(line) => format!(
            "; note: {}:{line} is a @cert-authority entry for this host, but nap accepts no host certificates: list the host's own key instead",
            known_hosts.display()
        ),
        None => String::new(),
    }
}

fn tried_hint(tried: &[String]) -> String {
    if tried.is_empty() {
        "no keys (no identity file set, no agent, no default key file)".to_string()
    } else {
        tried.join(", ")
    }
}

fn methods_hint(remaining_methods: &[String]) -> String {
    if remaining_methods.is_empty() {
        String::new()
    } else {
        format!("; it accepts: {}", remaining_methods.join(", "))
    }
}

fn stderr_hint(stderr_tail: &str) -> String {
    if stderr_tail.is_empty() {
        "; no stderr".to_string()
    } else {
        format!("; stderr: {stderr_tail}")
    }
}

/// A command's first non-empty line, shortened, with `…` when something was left out.
fn command_summary(command: &str) -> String {
    let mut lines = command
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty());
    let first = lines.next().unwrap_or_default();
    let mut summary: String = first.chars().take(COMMAND_SUMMARY_CHARS).collect();
    if summary.len() < first.len() || lines.next().is_some() {
        summary.push('…');
    }
    summary
}

/// stderr's last non-empty lines, joined with `; `.
fn stderr_tail(stderr: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr);
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim_end)
        .filter(|line| !line.is_empty())
        .collect();
    lines[lines.len().saturating_sub(STDERR_TAIL_LINES)..].join("; ")
}

#[cfg(test)]
mod tests {
    use super::session::preferred_host_key_algorithms;
    use super::*;
    use russh::Preferred;
    use russh::keys::Algorithm;

    fn host(port: u16) -> Arc<SshHost> {
        Arc::new(SshHost {
            name: "h1".to_string(),
            target: SshTarget {
                user: "root".to_string(),
                address: "10.0.0.5".to_string(),
                port,
            },
        })
    }

    fn unknown(port: u16, missing: bool) -> String {
        SshError::UnknownHostKey {
            host: host(port),
            key_type: "ssh-ed25519".to_string(),
            fingerprint: "SHA256:abc".to_string(),
            known_hosts: PathBuf::from("/etc/nap/known_hosts"),
            known_hosts_missing: missing,
            cert_authority_line: None,
        }
        .to_string()
    }

    #[test]
    fn host_is_named_with_user_address_and_port() {
        assert_eq!(host(22).to_string(), r#""h1" (root@10.0.0.5:22)"#);
    }

    #[test]
    fn unknown_host_key_says_how_to_add_it_on_port_22() {
        assert_eq!(
            unknown(22, false),
            "unknown host key for host \"h1\" (root@10.0.0.5:22): it offered ssh-ed25519 key SHA256:abc, \
             and /etc/nap/known_hosts has no ssh-ed25519 key for `10.0.0.5`; check that fingerprint out of band \
             (on the host: `ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub`), then add the key with \
             `ssh-keyscan -p 22 -t ed25519 10.0.0.5 >> /etc/nap/known_hosts` (the entry is `10.0.0.5`)"
        );
    }

    #[test]
    fn unknown_host_key_uses_the_bracketed_entry_on_other_ports() {
        let message = unknown(2222, false);
        assert!(
            message.contains("`ssh-keyscan -p 2222 -t ed25519 10.0.0.5 >> /etc/nap/known_hosts`"),
            "{message}"
        );
        assert!(
            message.contains("(the entry is `[10.0.0.5]:2222`)"),
            "{message}"
        );
        assert!(message.contains("(root@10.0.0.5:2222)"), "{message}");
    }

    #[test]
    fn unknown_host_key_says_when_the_file_is_missing() {
        assert!(
            unknown(22, true).contains("/etc/nap/known_hosts (the file does not exist) has no")
        );
        assert!(!unknown(22, false).contains("does not exist"));
    }

    #[test]
    fn unknown_host_key_quotes_paths_for_the_shell() {
        let message = SshError::UnknownHostKey {
            host: host(22),
            key_type: "ssh-foo".to_string(),
            fingerprint: "SHA256:abc".to_string(),
            known_hosts: PathBuf::from("/home/a b/known_hosts"),
            known_hosts_missing: false,
            cert_authority_line: None,
        }
        .to_string();
        assert!(
            message.contains("`ssh-keyscan -p 22 10.0.0.5 >> '/home/a b/known_hosts'`"),
            "{message}"
        );
    }

    #[test]
    fn changed_host_key_names_the_line_and_the_danger() {
        let message = SshError::HostKeyChanged {
            host: host(2222),
            key_type: "ssh-ed25519".to_string(),
            fingerprint: "SHA256:abc".to_string(),
            known_hosts: PathBuf::from("/etc/nap/known_hosts"),
            line: 7,
        }
        .to_string();
        assert_eq!(
            message,
            "host key of host \"h1\" (root@10.0.0.5:2222) has changed: it offered ssh-ed25519 key SHA256:abc, \
             but line 7 of /etc/nap/known_hosts records a different one for `[10.0.0.5]:2222`; \
             this may be an attack (someone intercepting the connection) or the host was reinstalled; \
             nap will not connect until the old line is removed deliberately \
             (`ssh-keygen -R '[10.0.0.5]:2222' -f /etc/nap/known_hosts`) after the new fingerprint was checked out of band"
        );
    }

    #[test]
    fn identity_and_authentication_errors_name_the_file_and_host() {
        let read = SshError::ReadIdentity {
            host: host(22),
            identity: PathBuf::from("/keys/id"),
            source: std::io::Error::from(std::io::ErrorKind::NotFound).into(),
        }
        .to_string();
        assert!(
            read.starts_with(
                "cannot read identity file /keys/id for host \"h1\" (root@10.0.0.5:22): "
            ),
            "{read}"
        );
        let refused = SshError::AuthenticationRefused {
            host: host(22),
            user: "root".to_string(),
            tried: vec!["/keys/id (ssh-ed25519 SHA256:abc)".to_string()],
            remaining_methods: vec!["publickey".to_string()],
        }
        .to_string();
        assert_eq!(
            refused,
            "host \"h1\" (root@10.0.0.5:22) refused authentication as \"root\"; \
             tried: /keys/id (ssh-ed25519 SHA256:abc); it accepts: publickey"
        );
    }

    #[test]
    fn command_failed_names_command_status_and_stderr_tail() {
        let error = SshError::CommandFailed {
            host: host(22),
            command: command_summary("ip route replace 10.1.0.0/24 via 10.0.0.6\nsecond line"),
            status: 2,
            stderr_tail: stderr_tail(b"one\ntwo\n\nthree\nfour\nfive\nsix\n"),
        };
        assert_eq!(
            error.to_string(),
            "`ip route replace 10.1.0.0/24 via 10.0.0.6…` failed on host \"h1\" (root@10.0.0.5:22) \
             with exit status 2; stderr: two; three; four; five; six"
        );
        let quiet = SshError::CommandFailed {
            host: host(22),
            command: "true".to_string(),
            status: 1,
            stderr_tail: stderr_tail(b""),
        };
        assert!(quiet.to_string().ends_with("exit status 1; no stderr"));
    }

    #[test]
    fn revoked_cert_authority_and_bounds_errors_name_host_file_and_command() {
        let revoked = SshError::HostKeyRevoked {
            host: host(22),
            key_type: "ssh-ed25519".to_string(),
            fingerprint: "SHA256:abc".to_string(),
            known_hosts: PathBuf::from("/etc/nap/known_hosts"),
            line: 4,
        }
        .to_string();
        assert_eq!(
            revoked,
            "host key of host \"h1\" (root@10.0.0.5:22) is revoked: it offered ssh-ed25519 key SHA256:abc, \
             which line 4 of /etc/nap/known_hosts marks @revoked; nap refuses it whatever other lines say"
        );
        let ca = SshError::UnknownHostKey {
            host: host(22),
            key_type: "ssh-ed25519".to_string(),
            fingerprint: "SHA256:abc".to_string(),
            known_hosts: PathBuf::from("/etc/nap/known_hosts"),
            known_hosts_missing: false,
            cert_authority_line: Some(2),
        }
        .to_string();
        assert!(
            ca.ends_with(
                "; note: /etc/nap/known_hosts:2 is a @cert-authority entry for this host, \
                 but nap accepts no host certificates: list the host's own key instead"
            ),
            "{ca}"
        );
        let timeout = SshError::CommandTimeout {
            host: host(22),
            command: "sleep 30".to_string(),
            after: Duration::from_secs(1),
        };
        assert_eq!(
            timeout.to_string(),
            "`sleep 30` on host \"h1\" (root@10.0.0.5:22) did not finish within 1s; its channel was closed"
        );
        let cap = SshError::OutputTooLarge {
            host: host(22),
            command: "yes".to_string(),
            limit: 16,
        };
        assert!(
            cap.to_string()
                .contains("wrote more than 16 bytes of output")
        );
        let nothing = SshError::AuthenticationRefused {
            host: host(22),
            user: "root".to_string(),
            tried: Vec::new(),
            remaining_methods: Vec::new(),
        };
        assert!(
            nothing
                .to_string()
                .ends_with("tried: no keys (no identity file set, no agent, no default key file)")
        );
    }

    #[test]
    fn command_summary_shortens_long_commands() {
        assert_eq!(command_summary("  \n echo hi \n"), "echo hi");
        let long = "x".repeat(200);
        let summary = command_summary(&long);
        assert_eq!(summary.chars().count(), COMMAND_SUMMARY_CHARS + 1);
        assert!(summary.ends_with('…'));
    }

    #[test]
    fn connect_timeout_names_the_stage() {
        let error = SshError::ConnectTimeout {
            host: host(22),
            after: Duration::from_secs(10),
            stage: "exchanging keys",
        };
        assert_eq!(
            error.to_string(),
            "cannot connect to host \"h1\" (root@10.0.0.5:22): no answer within 10s while exchanging keys"
        );
    }

    #[test]
    fn known_key_types_are_negotiated_first() {
        let default = Preferred::DEFAULT.key.to_vec();
        let preferred = preferred_host_key_algorithms(&default, &[Algorithm::Rsa { hash: None }]);
        assert!(matches!(
            preferred[..3],
            [
                Algorithm::Rsa { .. },
                Algorithm::Rsa { .. },
                Algorithm::Rsa { .. }
            ]
        ));
        assert_eq!(preferred.len(), default.len());
        assert_eq!(preferred_host_key_algorithms(&default, &[]), default);
    }

    /// Compile-time checks: sessions and errors cross threads, and the futures can be spawned.
    #[allow(dead_code)]
    fn assert_send(session: &SshSession, target: &SshTarget, options: &SshOptions) {
        fn send<T: Send>(_: &T) {}
        fn send_sync_static<T: Send + Sync + 'static>() {}
        send_sync_static::<SshSession>();
        send_sync_static::<SshError>();
        send(&SshSession::connect("h", target, options));
        send(&session.run("true", None));
        send(&session.run_checked("true", None));
        send(&session.close());
    }
}
