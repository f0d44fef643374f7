//! The remote shell seam: [`HostShell`], the root shell the host actor runs its fixed
//! scripts in (routes and rules, hosts-file writes with their data on stdin), and its one real
//! implementation, [`SshShell`] — the settings a connection is made with, the session
//! (connected once, on first use, or handed over by the preflight), and the root shells kept
//! open for scripts (routes, rules) so a host's login and shell start-up files are paid once.
//! Which shell is a root shell (`sh` for root, `sudo -n sh` otherwise) is decided here.
//!
//! Tests drive the host actor with `fake_shell::FakeShell` instead, which records every
//! script and answers what the test programs. What a script's status means (a failed route
//! script is an error naming it) is the host actor's, whichever shell answered.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use nap_core::inventory::{Host, Inventory};
use tokio::sync::OnceCell;

use super::{HostContext, HostErrorKind, HostOperationError, lock};
use crate::ssh::{CommandLimits, CommandOutput, RemoteShell, SshError, SshOptions, SshSession};

/// Root shells kept open per host for scripts (routes, hosts files). Each holds one SSH
/// channel of the 8 nap uses per connection; a warm shell runs a script in milliseconds, so
/// two keep a host's patches flowing while leaving channels for everything else.
pub(super) const SHELLS_PER_HOST: usize = 2;

/// How long one command over SSH may take (routes, rules, a hosts file).
const REMOTE_COMMAND_TIMEOUT: Duration = Duration::from_secs(60);

/// Why a host has no SSH session in this deployment (remembered, so a host with a bad key
/// is refused once, not once per container).
#[derive(Debug, Clone, thiserror::Error)]
pub enum SshUnavailable {
    /// The preflight found the host's sshd not answering; its error, as it reported it.
    #[error("{0}")]
    Preflight(String),
    /// Connecting on first use failed.
    #[error(transparent)]
    Connect(Arc<SshError>),
}

/// Where the host's SSH settings come from.
#[derive(Debug, Clone)]
pub struct SshSettings {
    /// Private key to try first; `None`: the agent, then `~/.ssh/id_ed25519`, `id_ecdsa`,
    /// `id_rsa`.
    pub identity: Option<PathBuf>,
    /// known_hosts file the host key is checked against.
    pub known_hosts: PathBuf,
    /// The ssh-agent socket (`SSH_AUTH_SOCK`).
    pub agent_socket: Option<PathBuf>,
    /// The home directory holding the default key files.
    pub home: PathBuf,
}

impl SshSettings {
    /// The inventory's settings, the agent from `SSH_AUTH_SOCK`, and `~/.ssh/known_hosts` by
    /// default.
    pub fn from_inventory(inventory: &Inventory) -> SshSettings {
        let home = std::env::var_os("HOME")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("/root"));
        let known_hosts = inventory
            .ssh
            .known_hosts
            .clone()
            .unwrap_or_else(|| home.join(".ssh/known_hosts"));
        SshSettings {
            identity: inventory.ssh.identity.clone(),
            known_hosts,
            agent_socket: std::env::var_os("SSH_AUTH_SOCK")
                .filter(|socket| !socket.is_empty())
                .map(PathBuf::from),
            home,
        }
    }

    /// The connection options for these settings.
    pub fn ssh_options(&self, connect_timeout: Duration) -> SshOptions {
        SshOptions {
            identity: self.identity.clone(),
            agent_socket: self.agent_socket.clone(),
            home: Some(self.home.clone()),
            passphrase_prompt: true,
            known_hosts: self.known_hosts.clone(),
            connect_timeout,
        }
    }
}

/// The command that starts a root shell for `target`'s user.
pub fn root_shell(target: &nap_core::inventory::SshTarget) -> &'static str {
    if target.user == "root" {
        "sh"
    } else {
        "sudo -n sh"
    }
}

/// A root shell on the host, for the host actor's fixed scripts. Object-safe; the host actor
/// holds an `Arc<dyn HostShell>`. Errors are the transport's (no `ssh:`, a refused login, a
/// broken channel, a time limit), naming the host; a script's exit status is answered, not
/// judged, except where an implementation says otherwise.
pub trait HostShell: Send + Sync {
    /// Whether the host has a shell at all (an `ssh:` in the inventory).
    fn configured(&self) -> bool;

    /// Connects, once (later calls answer the first one's result): whether the host's shell
    /// answers, so a hosts file can be written by exec instead when it does not.
    fn connect(&self) -> BoxFuture<'_, Result<(), HostOperationError>>;

    /// Runs `script` (fixed text from the core, no data in it) in a root shell, within a time
    /// limit; answers its status, stdout and stderr.
    fn run_script<'a>(
        &'a self,
        script: &'a str,
    ) -> BoxFuture<'a, Result<CommandOutput, HostOperationError>>;

    /// Runs `command`, a fixed command with no data in it, in a root shell with `stdin` as
    /// its input (how data reaches a host), within a time limit; answers its status, stdout
    /// and stderr. [`SshShell`] answers a non-zero status as an error naming the host's
    /// address, the command and stderr's tail.
    fn run_with_stdin<'a>(
        &'a self,
        command: &'static str,
        stdin: &'a [u8],
    ) -> BoxFuture<'a, Result<CommandOutput, HostOperationError>>;
}

/// [`HostShell`] over SSH: a session per host, connected on first use unless the preflight
/// handed one over, and up to [`SHELLS_PER_HOST`] warm root shells.
pub struct SshShell {
    /// The inventory host (its name names every error; its `ssh:` is the target); fixed.
    host: Host,
    /// Where SSH keys and known_hosts come from, for a connection made on first use.
    settings: SshSettings,
    /// The SSH session: set before the plan runs by the preflight (or remembered as
    /// unreachable), else connected on first use; shared by every script after that.
    session: OnceCell<Result<SshSession, SshUnavailable>>,
    /// Warm root shells not in use right now; a script takes one out and puts it back.
    shells: Mutex<Vec<RemoteShell>>,
    /// At most [`SHELLS_PER_HOST`] shells exist at once; a script holds a permit.
    slots: tokio::sync::Semaphore,
}

impl SshShell {
    /// The shell of `host`, connected on first use with `settings`.
    pub fn new(host: Host, settings: SshSettings) -> SshShell {
        SshShell {
            host,
            settings,
            session: OnceCell::new(),
            shells: Mutex::new(Vec::new()),
            slots: tokio::sync::Semaphore::new(SHELLS_PER_HOST),
        }
    }

    /// Use an SSH session connected (and its host key checked) before the plan ran.
    pub fn with_session(self, session: SshSession) -> SshShell {
        let _ = self.session.set(Ok(session));
        self
    }

    /// SSH was tried before the plan ran and the host did not answer: do not try again in
    /// this deployment; hosts files are patched by exec instead.
    pub fn with_unreachable(self, message: String) -> SshShell {
        let _ = self.session.set(Err(SshUnavailable::Preflight(message)));
        self
    }

    /// Use a root shell already started on that session (so the first script does not wait
    /// for the host's login and shell start-up files).
    pub fn with_shell(self, shell: RemoteShell) -> SshShell {
        lock(&self.shells).push(shell);
        self
    }

    fn error(&self, kind: HostErrorKind, message: impl Into<String>) -> HostOperationError {
        HostOperationError::new(self.host.name.clone(), kind, message)
    }

    /// An SSH error on this host, its message as SSH's.
    fn ssh_error(&self, error: SshError) -> HostOperationError {
        self.error(HostErrorKind::Ssh, error.to_string())
            .with_source(error)
    }

    /// The SSH session, connected on first use.
    async fn session(&self) -> Result<SshSession, HostOperationError> {
        let Some(target) = self.host.ssh.clone() else {
            return Err(self.error(HostErrorKind::Ssh, "has no ssh: in the inventory"));
        };
        let settings = self.settings.clone();
        let name = self.host.name.clone();
        let result = self
            .session
            .get_or_init(|| async move {
                SshSession::connect(
                    &name,
                    &target,
                    &settings.ssh_options(Duration::from_secs(10)),
                )
                .await
                .map_err(|error| SshUnavailable::Connect(Arc::new(error)))
            })
            .await;
        match result {
            Ok(session) => Ok(session.clone()),
            Err(unavailable) => {
                let error = self.error(HostErrorKind::Ssh, unavailable.to_string());
                Err(match unavailable {
                    SshUnavailable::Connect(cause) => error.with_source(cause.clone()),
                    SshUnavailable::Preflight(_) => error,
                })
            }
        }
    }

    async fn script(&self, script: &str) -> Result<CommandOutput, HostOperationError> {
        let session = self.session().await?;
        // At most SHELLS_PER_HOST shells exist, each holding one of the session's channels.
        let _slot = self
            .slots
            .acquire()
            .await
            .map_err(|_| self.error(HostErrorKind::Unavailable, "shutting down"))?;
        // A warm shell from the pool (taken out, so no lock is held while it runs), else a new one.
        let pooled = lock(&self.shells).pop();
        let mut shell = match pooled {
            Some(shell) => shell,
            None => {
                let command = self.host.ssh.as_ref().map_or("sh", root_shell);
                session
                    .open_shell(command)
                    .await
                    .map_err(|error| self.ssh_error(error))?
            }
        };
        // A broken or timed-out shell is dropped (not put back); the next script opens a new
        // one.
        let output = shell
            .run_limited(script, CommandLimits::with_timeout(REMOTE_COMMAND_TIMEOUT))
            .await
            .map_err(|error| self.ssh_error(error))?;
        lock(&self.shells).push(shell);
        Ok(output)
    }

    async fn with_stdin(
        &self,
        command: &'static str,
        stdin: &[u8],
    ) -> Result<CommandOutput, HostOperationError> {
        let session = self.session().await?;
        let shell = self.host.ssh.as_ref().map_or("sh", root_shell);
        let line = format!("{shell} -c '{command}'");
        session
            .run_checked_limited(
                &line,
                Some(stdin),
                CommandLimits::with_timeout(REMOTE_COMMAND_TIMEOUT),
            )
            .await
            .map_err(|error| self.ssh_error(error))
    }
}

impl HostShell for SshShell {
    fn configured(&self) -> bool {
        self.host.ssh.is_some()
    }

    fn connect(&self) -> BoxFuture<'_, Result<(), HostOperationError>> {
        async move { self.session().await.map(drop) }.boxed()
    }

    fn run_script<'a>(
        &'a self,
        script: &'a str,
    ) -> BoxFuture<'a, Result<CommandOutput, HostOperationError>> {
        self.script(script).boxed()
    }

    fn run_with_stdin<'a>(
        &'a self,
        command: &'static str,
        stdin: &'a [u8],
    ) -> BoxFuture<'a, Result<CommandOutput, HostOperationError>> {
        self.with_stdin(command, stdin).boxed()
    }
}

impl HostContext {
    /// Runs a root shell script on the host (over SSH, through `sudo -n` for another user);
    /// a non-zero status is an error naming the script. Answers its stdout.
    pub(super) async fn run_script(&self, script: &str) -> Result<String, HostOperationError> {
        let output = self.shell.run_script(script).await?;
        if output.status != 0 {
            let stderr = String::from_utf8_lossy(&output.stderr);
            let first_line = script
                .lines()
                .find(|line| !line.trim().is_empty())
                .unwrap_or("");
            return Err(self.error(
                HostErrorKind::Ssh,
                format!(
                    "script `{first_line}` … failed with status {} over ssh: {}",
                    output.status,
                    stderr.trim()
                ),
            ));
        }
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }

    /// Runs `command`, a fixed command with no data in it, in a root shell on the host (over
    /// SSH, through `sudo -n` for another user), with `stdin` as its input: how data reaches
    /// a host. A non-zero status is an error. Answers its stdout.
    pub(super) async fn run_with_stdin(
        &self,
        command: &'static str,
        stdin: &[u8],
    ) -> Result<String, HostOperationError> {
        debug_assert!(
            !command.contains('\''),
            "fixed commands hold no single quote"
        );
        let output = self.shell.run_with_stdin(command, stdin).await?;
        if output.status != 0 {
            let first_line = command.lines().next().unwrap_or("");
            return Err(self.error(
                HostErrorKind::Ssh,
                format!(
                    "`{first_line}` failed with exit status {}: {}",
                    output.status,
                    String::from_utf8_lossy(&output.stderr).trim()
                ),
            ));
        }
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }
}
