//! SSH on a host: the settings a connection is made with, the session (connected once, on
//! first use, or handed over by the preflight), and the root shells kept open for scripts
//! (routes, rules) so a host's login and shell start-up files are paid once. Which shell is
//! a root shell (`sh` for root, `sudo -n sh` otherwise) is decided here.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use nap_core::inventory::Inventory;

use super::{HostContext, HostErrorKind, HostOperationError, lock};
use crate::ssh::{CommandLimits, SshError, SshOptions, SshSession};

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

impl HostContext {
    /// The SSH session, connected on first use.
    pub(super) async fn ssh(&self) -> Result<SshSession, HostOperationError> {
        let Some(target) = self.host.ssh.clone() else {
            return Err(self.error(HostErrorKind::Ssh, "has no ssh: in the inventory"));
        };
        let settings = self.ssh_settings.clone();
        let name = self.name.clone();
        let result = self
            .ssh
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

    /// Runs a root shell script over SSH (through `sudo -n` for another user).
    pub(super) async fn run_script(&self, script: &str) -> Result<String, HostOperationError> {
        let session = self.ssh().await?;
        // At most SHELLS_PER_HOST shells exist, each holding one of the session's channels.
        let _slot = self
            .shell_slots
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

    /// Runs `command`, a fixed command with no data in it, in a root shell over SSH (through
    /// `sudo -n` for another user), with `stdin` as its input: how data reaches a host.
    pub(super) async fn run_with_stdin(
        &self,
        command: &'static str,
        stdin: &[u8],
    ) -> Result<String, HostOperationError> {
        debug_assert!(
            !command.contains('\''),
            "fixed commands hold no single quote"
        );
        let session = self.ssh().await?;
        let shell = self.host.ssh.as_ref().map_or("sh", root_shell);
        let line = format!("{shell} -c '{command}'");
        let output = session
            .run_checked_limited(
                &line,
                Some(stdin),
                CommandLimits::with_timeout(REMOTE_COMMAND_TIMEOUT),
            )
            .await
            .map_err(|error| self.ssh_error(error))?;
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }

    /// An SSH error on this host, its message as SSH's.
    fn ssh_error(&self, error: SshError) -> HostOperationError {
        self.error(HostErrorKind::Ssh, error.to_string())
            .with_source(error)
    }
}
