//! One SSH connection: connecting (TCP, key exchange with the host key checked against
//! known_hosts, login through [`super::auth`]), running bounded commands on channels of their
//! own, and kept shells ([`RemoteShell`]) that run scripts one after another.
//!
//! It does not choose commands or retry them; a command that overran its time or output limit
//! has its channel closed, and a kept shell that failed once is closed for good.

use std::borrow::Cow;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use nap_core::inventory::SshTarget;
use russh::client;
use russh::keys::{Algorithm, HashAlg, PublicKey, PublicKeyOrCertificate};
use russh::{ChannelMsg, Disconnect, Preferred};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;
use tokio::time::{Instant, timeout_at};
use tracing::Instrument;

use super::known_hosts::{HostKeyVerdict, KnownHosts};
use super::{
    CommandLimits, CommandOutput, MAX_CONCURRENT_COMMANDS, SshError, SshHost, SshOptions,
    command_summary, stderr_tail,
};

/// How often a refused channel open is tried again (50 ms, 100 ms, … apart).
const CHANNEL_OPEN_RETRIES: u64 = 5;

/// How often an idle connection is probed, so that a host that went away is noticed.
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(30);

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
    /// logs in with the identities of `options` ([`super::auth`]). `host_name` is the inventory name, for messages.
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
            super::auth::authenticate(&mut handle, &host, options),
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
    /// and collects stdout, stderr and the exit status, within the default
    /// [`CommandLimits`]. A non-zero status is not an error here.
    pub async fn run(
        &self,
        command: &str,
        stdin: Option<&[u8]>,
    ) -> Result<CommandOutput, SshError> {
        self.run_limited(command, stdin, CommandLimits::default())
            .await
    }

    /// [`SshSession::run`] within `limits`: past its time limit or output cap the channel is
    /// closed and the error names the host and the command.
    pub async fn run_limited(
        &self,
        command: &str,
        stdin: Option<&[u8]>,
        limits: CommandLimits,
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
        let deadline = Instant::now() + limits.timeout;
        let timed_out = || SshError::CommandTimeout {
            host: host.clone(),
            command: summary.clone(),
            after: limits.timeout,
        };
        let _permit = self
            .inner
            .channels
            .acquire()
            .await
            .map_err(|_| SshError::Disconnected { host: host.clone() })?;
        tracing::debug!(host = host.name, command = summary, "running");

        let channel = timeout_at(deadline, self.open_channel())
            .await
            .map_err(|_| timed_out())?
            .map_err(|source| channel_error("opening a channel", source))?;
        timeout_at(deadline, channel.exec(true, command))
            .await
            .map_err(|_| timed_out())?
            .map_err(|source| channel_error("sending the command", source))?;
        let (mut reader, writer) = channel.split();
        let write_stdin = async {
            if let Some(bytes) = stdin {
                writer.data(bytes).await?;
            }
            writer.eof().await
        };

        let mut stdout = Vec::new();
        let mut stderr = Vec::new();
        let mut status = None;
        let mut signal = None;
        let mut write_error = None;
        let collected = match timeout_at(deadline, async {
            tokio::pin!(write_stdin);
            let mut writing = true;
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
                        Some(ChannelMsg::Failure) => return Err(SshError::ExecRefused {
                            host: host.clone(),
                            command: summary.clone(),
                        }),
                        Some(_) => {}
                        // The channel is closed: everything has arrived (data may follow the status).
                        None => return Ok(()),
                    },
                }
                if stdout.len() + stderr.len() > limits.max_output {
                    return Err(SshError::OutputTooLarge {
                        host: host.clone(),
                        command: summary.clone(),
                        limit: limits.max_output,
                    });
                }
            }
        })
        .await
        {
            Ok(collected) => collected,
            Err(_) => Err(timed_out()),
        };
        if let Err(error) = collected {
            // Stop the command and drop what it still sends.
            let _ = writer.signal(russh::Sig::KILL).await;
            if let Err(close_error) = writer.close().await {
                tracing::debug!(%close_error, "closing an abandoned channel");
            }
            return Err(error);
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
            closed: false,
        })
    }

    /// Like [`SshSession::run`], but a non-zero exit status is an error naming the host, the
    /// command's first line, the status and stderr's last lines.
    pub async fn run_checked(
        &self,
        command: &str,
        stdin: Option<&[u8]>,
    ) -> Result<CommandOutput, SshError> {
        self.run_checked_limited(command, stdin, CommandLimits::default())
            .await
    }

    /// [`SshSession::run_checked`] within `limits`.
    pub async fn run_checked_limited(
        &self,
        command: &str,
        stdin: Option<&[u8]>,
        limits: CommandLimits,
    ) -> Result<CommandOutput, SshError> {
        let output = self.run_limited(command, stdin, limits).await?;
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

/// The key types known_hosts records for this host, so they can be negotiated first (as
/// OpenSSH does): otherwise a host listed only with, say, its RSA key would count as unknown
/// when it also offers an Ed25519 key. A file that cannot be read yields nothing here; the key
/// check reports it.
async fn known_key_algorithms(address: &str, port: u16, known_hosts: &Path) -> Vec<Algorithm> {
    let address = address.to_string();
    let path = known_hosts.to_path_buf();
    tokio::task::spawn_blocking(move || {
        KnownHosts::read(&path)
            .map(|file| file.key_algorithms(&address, port))
            .unwrap_or_default()
    })
    .await
    .unwrap_or_default()
}

/// `default` reordered so that algorithms of the `known` key types come first.
pub(super) fn preferred_host_key_algorithms(
    default: &[Algorithm],
    known: &[Algorithm],
) -> Vec<Algorithm> {
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

/// The client side of the connection: checks the host key and records why it refused one,
/// so that [`SshSession::connect`] can say so instead of a bare "unknown server key".
pub(super) struct HostKeyChecker {
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

/// Checks `key` against the known_hosts file (read off the async threads).
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
        KnownHosts::read(&path).map(|file| file.check(&address, port, &key))
    })
    .await
    .unwrap_or_else(|join_error| Err(std::io::Error::other(join_error)));
    let known_hosts = known_hosts.to_path_buf();
    let unknown = |known_hosts_missing, cert_authority_line| SshError::UnknownHostKey {
        host: host.clone(),
        key_type: key_type.clone(),
        fingerprint: fingerprint.clone(),
        known_hosts: known_hosts.clone(),
        known_hosts_missing,
        cert_authority_line,
    };
    match outcome {
        Ok(HostKeyVerdict::Known { .. }) => Ok(()),
        Ok(HostKeyVerdict::Unknown {
            cert_authority_line,
        }) => Err(unknown(false, cert_authority_line)),
        Ok(HostKeyVerdict::Revoked { line }) => Err(SshError::HostKeyRevoked {
            host: host.clone(),
            key_type,
            fingerprint,
            known_hosts,
            line,
        }),
        Ok(HostKeyVerdict::Changed { line }) => Err(SshError::HostKeyChanged {
            host: host.clone(),
            key_type,
            fingerprint,
            known_hosts,
            line,
        }),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Err(unknown(true, None)),
        Err(source) => Err(SshError::KnownHosts {
            host: host.clone(),
            known_hosts,
            source,
        }),
    }
}

/// A shell kept running on one channel ([`SshSession::open_shell`]). Scripts run one after
/// another; each one's output and exit status come back when it ends.
pub struct RemoteShell {
    session: SshSession,
    channel: russh::Channel<client::Msg>,
    scripts: u64,
    buffer: Vec<u8>,
    /// Set once a script failed (channel error, time limit, output cap): the channel is then
    /// closed and every later script fails with [`SshError::ShellClosed`].
    closed: bool,
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
    /// the script) within the default [`CommandLimits`]; returns its stdout and exit status.
    /// The script may contain here-documents.
    pub async fn run(&mut self, script: &str) -> Result<CommandOutput, SshError> {
        self.run_limited(script, CommandLimits::default()).await
    }

    /// [`RemoteShell::run`] within `limits`. Any failure (the channel broke, the time limit or
    /// the output cap was passed) closes the shell: it is not used again.
    pub async fn run_limited(
        &mut self,
        script: &str,
        limits: CommandLimits,
    ) -> Result<CommandOutput, SshError> {
        let host = self.session.inner.host.clone();
        if self.closed {
            return Err(SshError::ShellClosed { host });
        }
        let summary = command_summary(script);
        let outcome = match timeout_at(
            Instant::now() + limits.timeout,
            self.run_script(script, limits.max_output),
        )
        .await
        {
            Ok(outcome) => outcome,
            Err(_) => Err(SshError::CommandTimeout {
                host,
                command: summary,
                after: limits.timeout,
            }),
        };
        if outcome.is_err() {
            self.closed = true;
            self.buffer = Vec::new();
            let _ = self.channel.signal(russh::Sig::KILL).await;
            if let Err(error) = self.channel.close().await {
                tracing::debug!(%error, "closing a failed remote shell");
            }
        }
        outcome
    }

    /// Whether a failed script closed this shell.
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    async fn run_script(
        &mut self,
        script: &str,
        max_output: usize,
    ) -> Result<CommandOutput, SshError> {
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
            // The marker line itself may follow the capped output.
            if self.buffer.len() + stderr.len() > max_output + needle.len() + 16 {
                return Err(SshError::OutputTooLarge {
                    host,
                    command: summary,
                    limit: max_output,
                });
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
