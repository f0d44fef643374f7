//! SSH to Docker hosts: one authenticated connection per host, over which nap runs small shell
//! commands as the inventory's SSH user (installing routes, rewriting a container's hosts file
//! in place with its content on stdin).
//!
//! The server's host key is always checked against a known_hosts file: an unknown key or a
//! changed one ends the connection with an error that says how to fix it. There is no
//! "accept new keys" mode, and this module never writes a known_hosts file. Authentication is by
//! one private key file only (no agent, no password, no keyboard-interactive).
//!
//! This module does not decide which commands to run, retry anything, or tunnel the Docker API;
//! its callers do that.

use std::borrow::Cow;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use nap_core::inventory::SshTarget;
use russh::client::{self, AuthResult};
use russh::keys::{
    Algorithm, HashAlg, PrivateKey, PrivateKeyWithHashAlg, PublicKey, PublicKeyOrCertificate,
};
use russh::{ChannelMsg, Disconnect, Preferred};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;
use tokio::time::{Instant, timeout_at};
use tracing::Instrument;

/// How many commands run at once over one connection. OpenSSH's sshd refuses more than
/// `MaxSessions` (default 10) open channels per connection; further commands wait their turn.
pub const MAX_CONCURRENT_COMMANDS: usize = 8;

/// How often a refused channel open is tried again (50 ms, 100 ms, … apart).
const CHANNEL_OPEN_RETRIES: u64 = 5;

/// How often an idle connection is probed, so that a host that went away is noticed.
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(30);

/// How many of stderr's last lines a failed command's error quotes.
const STDERR_TAIL_LINES: usize = 5;

/// How many characters of a command an error quotes.
const COMMAND_SUMMARY_CHARS: usize = 80;

/// Where and how to connect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshOptions {
    /// The private key to authenticate with (OpenSSH or PKCS#8 format, not encrypted).
    pub identity: PathBuf,
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
    #[error("{}", unknown_host_key_message(host, key_type, fingerprint, known_hosts, *known_hosts_missing))]
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
    /// The known_hosts file could not be read or has a broken entry for this host.
    #[error("cannot check the host key of host {host} against {}: {source}", known_hosts.display())]
    KnownHosts {
        /// The host.
        host: Arc<SshHost>,
        /// The known_hosts file.
        known_hosts: PathBuf,
        /// Why.
        source: russh::keys::Error,
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
        "host {host} refused authentication as {user:?} with the key in {} (is its public key in that user's authorized_keys?){}",
        identity.display(),
        methods_hint(remaining_methods)
    )]
    AuthenticationRefused {
        /// The host.
        host: Arc<SshHost>,
        /// The login user.
        user: String,
        /// The identity file.
        identity: PathBuf,
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

/// An open, authenticated connection to one host. Cheap to clone: clones share the
/// connection, and commands may run concurrently over it (one channel each, at most
/// [`MAX_CONCURRENT_COMMANDS`] at a time). The connection ends when the last clone is dropped,
/// or at once with [`SshSession::close`].
#[derive(Clone)]
pub struct SshSession {
    inner: Arc<SessionInner>,
}

struct SessionInner {
    host: Arc<SshHost>,
    handle: client::Handle<HostKeyChecker>,
    /// One permit per command running; limits open channels below sshd's `MaxSessions`.
    channels: Semaphore,
}

impl fmt::Debug for SshSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SshSession")
            .field("host", &self.inner.host)
            .field("closed", &self.inner.handle.is_closed())
            .finish()
    }
}

impl SshSession {
    /// Connects to `target`, checks its host key against `options.known_hosts` and
    /// authenticates with `options.identity`. `host_name` is the inventory name, for messages.
    pub async fn connect(
        host_name: &str,
        target: &SshTarget,
        options: &SshOptions,
    ) -> Result<SshSession, SshError> {
        let host = Arc::new(SshHost {
            name: host_name.to_string(),
            target: target.clone(),
        });
        let span = tracing::debug_span!("ssh_connect", host = host_name);
        SshSession::connect_host(host, options)
            .instrument(span)
            .await
    }

    async fn connect_host(
        host: Arc<SshHost>,
        options: &SshOptions,
    ) -> Result<SshSession, SshError> {
        let target = &host.target;
        let key = read_identity(&host, &options.identity).await?;
        let known_algorithms =
            known_key_algorithms(&target.address, target.port, &options.known_hosts).await;

        let deadline = Instant::now() + options.connect_timeout;
        let timed_out = |stage| SshError::ConnectTimeout {
            host: host.clone(),
            after: options.connect_timeout,
            stage,
        };
        let stream = timeout_at(
            deadline,
            TcpStream::connect((target.address.as_str(), target.port)),
        )
        .await
        .map_err(|_| timed_out("opening the tcp connection"))?
        .map_err(|source| SshError::Connect {
            host: host.clone(),
            source,
        })?;
        if let Err(error) = stream.set_nodelay(true) {
            tracing::debug!(%error, "cannot set TCP_NODELAY");
        }

        let refusal = Arc::new(Mutex::new(None));
        let checker = HostKeyChecker {
            host: host.clone(),
            known_hosts: options.known_hosts.clone(),
            refusal: refusal.clone(),
        };
        let config = client::Config {
            preferred: Preferred {
                key: Cow::Owned(preferred_host_key_algorithms(
                    &Preferred::DEFAULT.key,
                    &known_algorithms,
                )),
                ..Preferred::DEFAULT
            },
            keepalive_interval: Some(KEEPALIVE_INTERVAL),
            nodelay: true,
            ..client::Config::default()
        };
        let handshake = timeout_at(
            deadline,
            client::connect_stream(Arc::new(config), stream, checker),
        )
        .await
        .map_err(|_| timed_out("exchanging keys"))?;
        let mut handle = match handshake {
            Ok(handle) => handle,
            Err(source) => {
                let refused = refusal
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .take();
                return Err(refused.unwrap_or(SshError::Protocol {
                    host,
                    during: "exchanging keys",
                    source,
                }));
            }
        };

        timeout_at(
            deadline,
            authenticate(&mut handle, &host, key, &options.identity),
        )
        .await
        .map_err(|_| timed_out("authenticating"))??;
        tracing::debug!("connected");
        Ok(SshSession {
            inner: Arc::new(SessionInner {
                host,
                handle,
                channels: Semaphore::new(MAX_CONCURRENT_COMMANDS),
            }),
        })
    }

    /// The host this session is connected to.
    pub fn host(&self) -> &SshHost {
        &self.inner.host
    }

    /// Runs `command` through the remote user's shell, writes `stdin` (if any) and then EOF,
    /// and collects stdout, stderr and the exit status. A non-zero status is not an error here.
    pub async fn run(
        &self,
        command: &str,
        stdin: Option<&[u8]>,
    ) -> Result<CommandOutput, SshError> {
        let host = &self.inner.host;
        let summary = command_summary(command);
        let channel_error = |during, source| match source {
            russh::Error::SendError | russh::Error::RecvError if self.inner.handle.is_closed() => {
                SshError::Disconnected { host: host.clone() }
            }
            source => SshError::Channel {
                host: host.clone(),
                command: summary.clone(),
                during,
                source,
            },
        };
        let _permit = self
            .inner
            .channels
            .acquire()
            .await
            .map_err(|_| SshError::Disconnected { host: host.clone() })?;
        tracing::debug!(host = host.name, command = summary, "running");

        let channel = self
            .open_channel()
            .await
            .map_err(|source| channel_error("opening a channel", source))?;
        channel
            .exec(true, command)
            .await
            .map_err(|source| channel_error("sending the command", source))?;
        let (mut reader, writer) = channel.split();
        let write_stdin = async {
            if let Some(bytes) = stdin {
                writer.data(bytes).await?;
            }
            writer.eof().await
        };
        tokio::pin!(write_stdin);

        let mut stdout = Vec::new();
        let mut stderr = Vec::new();
        let mut status = None;
        let mut signal = None;
        let mut writing = true;
        let mut write_error = None;
        loop {
            tokio::select! {
                written = &mut write_stdin, if writing => {
                    writing = false;
                    write_error = written.err();
                }
                message = reader.wait() => match message {
                    Some(ChannelMsg::Data { data }) => stdout.extend_from_slice(&data),
                    Some(ChannelMsg::ExtendedData { data, ext: 1 }) => {
                        stderr.extend_from_slice(&data);
                    }
                    Some(ChannelMsg::ExitStatus { exit_status }) => status = Some(exit_status),
                    Some(ChannelMsg::ExitSignal { signal_name, .. }) => {
                        signal = Some(format!("{signal_name:?}"));
                    }
                    // The only request sent with want_reply is the exec.
                    Some(ChannelMsg::Failure) => {
                        if let Err(error) = writer.close().await {
                            tracing::debug!(%error, "closing a refused channel");
                        }
                        return Err(SshError::ExecRefused {
                            host: host.clone(),
                            command: summary,
                        });
                    }
                    Some(_) => {}
                    // The channel is closed: everything has arrived (data may follow the status).
                    None => break,
                },
            }
        }
        match (status, write_error) {
            // The command may exit without reading its stdin; its status tells the story.
            (Some(status), _) => Ok(CommandOutput {
                status,
                stdout,
                stderr,
            }),
            (None, Some(source)) => Err(channel_error("writing stdin", source)),
            (None, None) => Err(SshError::NoExitStatus {
                host: host.clone(),
                command: summary,
                signal,
            }),
        }
    }

    /// Opens a session channel. sshd counts a channel until it has processed our close, which
    /// can lag behind the permit being released under load: a refused open is retried a few
    /// times, briefly, before it counts as an error.
    async fn open_channel(&self) -> Result<russh::Channel<client::Msg>, russh::Error> {
        let mut attempt = 0u64;
        loop {
            match self.inner.handle.channel_open_session().await {
                Err(russh::Error::ChannelOpenFailure(_)) if attempt < CHANNEL_OPEN_RETRIES => {
                    attempt += 1;
                    tokio::time::sleep(Duration::from_millis(50 * attempt)).await;
                }
                result => return result,
            }
        }
    }

    /// Starts `command` (a shell such as `sh` or `sudo -n sh`) on a channel of its own that
    /// stays open: scripts sent to it run without a new channel, login and shell start-up
    /// files each time (a host's `.bashrc` can take longer than the work). It holds one of
    /// the session's channel permits until dropped.
    pub async fn open_shell(&self, command: &str) -> Result<RemoteShell, SshError> {
        let host = &self.inner.host;
        let permit = self
            .inner
            .channels
            .acquire()
            .await
            .map_err(|_| SshError::Disconnected { host: host.clone() })?;
        let channel_error = |during, source| SshError::Channel {
            host: host.clone(),
            command: command_summary(command),
            during,
            source,
        };
        let channel = self
            .open_channel()
            .await
            .map_err(|source| channel_error("opening a channel", source))?;
        channel
            .exec(true, command)
            .await
            .map_err(|source| channel_error("starting the shell", source))?;
        permit.forget();
        Ok(RemoteShell {
            session: self.clone(),
            channel,
            scripts: 0,
            buffer: Vec::new(),
        })
    }

    /// Like [`SshSession::run`], but a non-zero exit status is an error naming the host, the
    /// command's first line, the status and stderr's last lines.
    pub async fn run_checked(
        &self,
        command: &str,
        stdin: Option<&[u8]>,
    ) -> Result<CommandOutput, SshError> {
        let output = self.run(command, stdin).await?;
        if output.status != 0 {
            return Err(SshError::CommandFailed {
                host: self.inner.host.clone(),
                command: command_summary(command),
                status: output.status,
                stderr_tail: stderr_tail(&output.stderr),
            });
        }
        Ok(output)
    }

    /// Ends the connection now, for every clone. Commands still running fail with
    /// [`SshError::Disconnected`] or [`SshError::NoExitStatus`]. Closing a closed session does
    /// nothing.
    pub async fn close(&self) {
        if self.inner.handle.is_closed() {
            return;
        }
        self.inner.channels.close();
        if let Err(error) = self
            .inner
            .handle
            .disconnect(Disconnect::ByApplication, "nap is done", "en")
            .await
        {
            tracing::debug!(host = self.inner.host.name, %error, "disconnect");
        }
    }

    /// Whether the connection has ended.
    pub fn is_closed(&self) -> bool {
        self.inner.handle.is_closed()
    }
}

/// Reads and decodes the private key off the async threads.
async fn read_identity(host: &Arc<SshHost>, identity: &Path) -> Result<PrivateKey, SshError> {
    let path = identity.to_path_buf();
    tokio::task::spawn_blocking(move || russh::keys::load_secret_key(path, None))
        .await
        .unwrap_or_else(|join_error| Err(std::io::Error::other(join_error).into()))
        .map_err(|source| SshError::ReadIdentity {
            host: host.clone(),
            identity: identity.to_path_buf(),
            source,
        })
}

/// The key types known_hosts records for this host, so they can be negotiated first (as
/// OpenSSH does): otherwise a host listed only with, say, its RSA key would count as unknown
/// when it also offers an Ed25519 key. A file that cannot be read yields nothing here; the key
/// check reports it.
async fn known_key_algorithms(address: &str, port: u16, known_hosts: &Path) -> Vec<Algorithm> {
    let address = address.to_string();
    let path = known_hosts.to_path_buf();
    tokio::task::spawn_blocking(move || {
        russh::keys::known_hosts::known_host_keys_path(&address, port, path)
            .map(|keys| keys.into_iter().map(|(_, key)| key.algorithm()).collect())
            .unwrap_or_default()
    })
    .await
    .unwrap_or_default()
}

/// `default` reordered so that algorithms of the `known` key types come first.
fn preferred_host_key_algorithms(default: &[Algorithm], known: &[Algorithm]) -> Vec<Algorithm> {
    let is_known = |algorithm: &Algorithm| {
        known.iter().any(|known| match (algorithm, known) {
            (Algorithm::Rsa { .. }, Algorithm::Rsa { .. }) => true,
            (algorithm, known) => algorithm == known,
        })
    };
    let (mut preferred, others): (Vec<Algorithm>, Vec<Algorithm>) =
        default.iter().cloned().partition(is_known);
    preferred.extend(others);
    preferred
}

/// Offers the key; a refusal is inspected, not an error by itself.
async fn authenticate(
    handle: &mut client::Handle<HostKeyChecker>,
    host: &Arc<SshHost>,
    key: PrivateKey,
    identity: &Path,
) -> Result<(), SshError> {
    let protocol_error = |source| SshError::Protocol {
        host: host.clone(),
        during: "authenticating",
        source,
    };
    let hash = if key.algorithm().is_rsa() {
        handle
            .best_supported_rsa_hash()
            .await
            .map_err(protocol_error)?
            .flatten()
    } else {
        None
    };
    let user = host.target.user.clone();
    let result = handle
        .authenticate_publickey(
            user.clone(),
            PrivateKeyWithHashAlg::new(Arc::new(key), hash),
        )
        .await
        .map_err(protocol_error)?;
    match result {
        AuthResult::Success => Ok(()),
        AuthResult::Failure {
            remaining_methods, ..
        } => Err(SshError::AuthenticationRefused {
            host: host.clone(),
            user,
            identity: identity.to_path_buf(),
            remaining_methods: remaining_methods.iter().map(String::from).collect(),
        }),
    }
}

/// The client side of the connection: checks the host key and records why it refused one,
/// so that [`SshSession::connect`] can say so instead of a bare "unknown server key".
struct HostKeyChecker {
    host: Arc<SshHost>,
    known_hosts: PathBuf,
    /// Set when the host key is refused; read by `connect` once the handshake has failed.
    refusal: Arc<Mutex<Option<SshError>>>,
}

impl client::Handler for HostKeyChecker {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        server_key: &PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        let verdict = match server_key {
            PublicKeyOrCertificate::PublicKey { key, .. } => {
                check_host_key(&self.host, &self.known_hosts, key.clone()).await
            }
            PublicKeyOrCertificate::Certificate(_) => Err(SshError::HostCertificate {
                host: self.host.clone(),
            }),
        };
        match verdict {
            Ok(()) => Ok(true),
            Err(refusal) => {
                tracing::debug!(%refusal, "host key refused");
                *self.refusal.lock().unwrap_or_else(PoisonError::into_inner) = Some(refusal);
                Ok(false)
            }
        }
    }
}

/// Checks `key` against the known_hosts file (off the async threads).
async fn check_host_key(
    host: &Arc<SshHost>,
    known_hosts: &Path,
    key: PublicKey,
) -> Result<(), SshError> {
    let key_type = key.algorithm().as_str().to_string();
    let fingerprint = key.fingerprint(HashAlg::Sha256).to_string();
    let address = host.target.address.clone();
    let port = host.target.port;
    let path = known_hosts.to_path_buf();
    let outcome = tokio::task::spawn_blocking(move || {
        // russh reads a file it cannot open as empty: tell "missing" and "unreadable" apart.
        if let Err(error) = std::fs::File::open(&path) {
            return match error.kind() {
                std::io::ErrorKind::NotFound => HostKeyVerdict::Unknown { file_missing: true },
                _ => HostKeyVerdict::Unreadable(error.into()),
            };
        }
        match russh::keys::check_known_hosts_path(&address, port, &key, &path) {
            Ok(true) => HostKeyVerdict::Known,
            Ok(false) => HostKeyVerdict::Unknown {
                file_missing: false,
            },
            Err(russh::keys::Error::KeyChanged { line }) => {
                let line = std::fs::read_to_string(&path)
                    .map(|text| file_line_number(&text, line))
                    .unwrap_or(line);
                HostKeyVerdict::Changed { line }
            }
            Err(source) => HostKeyVerdict::Unreadable(source),
        }
    })
    .await
    .unwrap_or_else(|join_error| {
        HostKeyVerdict::Unreadable(std::io::Error::other(join_error).into())
    });
    let known_hosts = known_hosts.to_path_buf();
    match outcome {
        HostKeyVerdict::Known => Ok(()),
        HostKeyVerdict::Unknown { file_missing } => Err(SshError::UnknownHostKey {
            host: host.clone(),
            key_type,
            fingerprint,
            known_hosts,
            known_hosts_missing: file_missing,
        }),
        HostKeyVerdict::Changed { line } => Err(SshError::HostKeyChanged {
            host: host.clone(),
            key_type,
            fingerprint,
            known_hosts,
            line,
        }),
        HostKeyVerdict::Unreadable(source) => Err(SshError::KnownHosts {
            host: host.clone(),
            known_hosts,
            source,
        }),
    }
}

enum HostKeyVerdict {
    Known,
    Unknown { file_missing: bool },
    Changed { line: usize },
    Unreadable(russh::keys::Error),
}

/// russh numbers known_hosts lines without counting `#` comment lines; this turns its number
/// into the file's own line number (from 1).
fn file_line_number(text: &str, russh_line: usize) -> usize {
    let mut counted = 0;
    for (index, line) in text.split_inclusive('\n').enumerate() {
        if !line.starts_with('#') {
            counted += 1;
            if counted == russh_line {
                return index + 1;
            }
        }
    }
    russh_line
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

/// A shell kept running on one channel ([`SshSession::open_shell`]). Scripts run one after
/// another; each one's output and exit status come back when it ends.
pub struct RemoteShell {
    session: SshSession,
    channel: russh::Channel<client::Msg>,
    scripts: u64,
    buffer: Vec<u8>,
}

impl fmt::Debug for RemoteShell {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteShell")
            .field("host", &self.session.inner.host)
            .field("scripts", &self.scripts)
            .finish_non_exhaustive()
    }
}

impl Drop for RemoteShell {
    fn drop(&mut self) {
        self.session.inner.channels.add_permits(1);
    }
}

impl RemoteShell {
    /// Runs `script` in a subshell of the remote shell (so `exit` or `set -e` in it end only
    /// the script); returns its stdout and exit status. The script may contain here-documents.
    /// A failure of the channel is an error, after which the shell is unusable.
    pub async fn run(&mut self, script: &str) -> Result<CommandOutput, SshError> {
        self.scripts += 1;
        let marker = format!("--nap-script-{}-done--", self.scripts);
        let wrapped = format!("(\n{script}\n)\nprintf '\\n%s %d\\n' '{marker}' $?\n");
        let host = self.session.inner.host.clone();
        let summary = command_summary(script);
        self.channel
            .data(wrapped.as_bytes())
            .await
            .map_err(|source| SshError::Channel {
                host: host.clone(),
                command: summary.clone(),
                during: "sending the script",
                source,
            })?;
        let mut stderr = Vec::new();
        let needle = format!("\n{marker} ");
        loop {
            if let Some(at) = find(&self.buffer, needle.as_bytes()) {
                let after = at + needle.len();
                if let Some(end) = self.buffer[after..].iter().position(|b| *b == b'\n') {
                    let status: u32 = std::str::from_utf8(&self.buffer[after..after + end])
                        .ok()
                        .and_then(|text| text.trim().parse().ok())
                        .unwrap_or(u32::MAX);
                    let stdout = self.buffer[..at].to_vec();
                    self.buffer.drain(..after + end + 1);
                    return Ok(CommandOutput {
                        status,
                        stdout,
                        stderr,
                    });
                }
            }
            match self.channel.wait().await {
                Some(ChannelMsg::Data { data }) => self.buffer.extend_from_slice(&data),
                Some(ChannelMsg::ExtendedData { data, ext: 1 }) => stderr.extend_from_slice(&data),
                Some(ChannelMsg::Failure) => {
                    return Err(SshError::ExecRefused {
                        host,
                        command: summary,
                    });
                }
                Some(_) => {}
                None => {
                    return Err(SshError::NoExitStatus {
                        host,
                        command: summary,
                        signal: None,
                    });
                }
            }
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

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
            identity: PathBuf::from("/keys/id"),
            remaining_methods: vec!["publickey".to_string()],
        }
        .to_string();
        assert_eq!(
            refused,
            "host \"h1\" (root@10.0.0.5:22) refused authentication as \"root\" with the key in /keys/id \
             (is its public key in that user's authorized_keys?); it accepts: publickey"
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
    fn russh_line_numbers_are_mapped_past_comment_lines() {
        let text = "# nap lab\n10.0.0.1 ssh-ed25519 AAAA\n# old\n\n10.0.0.5 ssh-ed25519 BBBB\n";
        // russh skips comment lines when counting: the fifth line is its third.
        assert_eq!(file_line_number(text, 3), 5);
        assert_eq!(file_line_number(text, 1), 2);
        assert_eq!(file_line_number("a\nb\n", 2), 2);
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
