//! A recording fake of [`HostShell`] for in-process tests of the host actor: it records every
//! script and every command with its stdin, and answers status 0 with empty output unless a
//! test programmed something else ([`FakeShell::answer`], [`FakeShell::unreachable`]). It runs
//! nothing. Compiled for the crate's tests and with the `fakes` feature.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use futures_util::FutureExt;
use futures_util::future::BoxFuture;

use super::shell::HostShell;
use super::{HostErrorKind, HostOperationError};
use crate::ssh::CommandOutput;

/// What a shell was asked to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShellCall {
    /// A script (routes, rules).
    Script(String),
    /// A fixed command with its stdin (a hosts-file write).
    WithStdin {
        /// The command.
        command: String,
        /// Its stdin.
        stdin: Vec<u8>,
    },
}

/// The record and the programmed answers.
#[derive(Default)]
struct State {
    /// Every call, in order.
    calls: Vec<ShellCall>,
    /// Answers for scripts or commands containing a text, first match wins.
    answers: Vec<(String, CommandOutput)>,
    /// `Some(message)`: the host's shell does not answer (connecting fails with it).
    unreachable: Option<String>,
}

/// The fake shell of one host; cloning it shares the record (a test keeps one clone, the actor
/// another).
#[derive(Clone)]
pub struct FakeShell {
    /// The host's name (errors name it).
    host: String,
    /// Whether the host has `ssh:`.
    configured: bool,
    /// The record and the answers.
    state: Arc<Mutex<State>>,
}

impl FakeShell {
    /// A reachable shell on `host`.
    pub fn new(host: &str) -> FakeShell {
        FakeShell {
            host: host.to_string(),
            configured: true,
            state: Arc::default(),
        }
    }

    /// A host without `ssh:` (hosts files are written by exec).
    pub fn none(host: &str) -> FakeShell {
        FakeShell {
            configured: false,
            ..FakeShell::new(host)
        }
    }

    /// This fake as the host actor holds it.
    pub fn shared(&self) -> Arc<dyn HostShell> {
        Arc::new(self.clone())
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Scripts and commands containing `text` answer `status` with `stdout`.
    pub fn answer(&self, text: &str, status: u32, stdout: &str) {
        self.state().answers.push((
            text.to_string(),
            CommandOutput {
                status,
                stdout: stdout.as_bytes().to_vec(),
                stderr: if status == 0 {
                    Vec::new()
                } else {
                    b"fake: failed".to_vec()
                },
            },
        ));
    }

    /// The host's shell stops answering: connecting and every call fail with `message`.
    pub fn unreachable(&self, message: &str) {
        self.state().unreachable = Some(message.to_string());
    }

    /// Every call so far, in order.
    pub fn calls(&self) -> Vec<ShellCall> {
        self.state().calls.clone()
    }

    fn refused(&self) -> Option<HostOperationError> {
        if !self.configured {
            return Some(HostOperationError::new(
                &self.host,
                HostErrorKind::Ssh,
                "has no ssh: in the inventory",
            ));
        }
        self.state()
            .unreachable
            .clone()
            .map(|message| HostOperationError::new(&self.host, HostErrorKind::Ssh, message))
    }

    fn run(&self, call: ShellCall) -> Result<CommandOutput, HostOperationError> {
        if let Some(error) = self.refused() {
            return Err(error);
        }
        let text = match &call {
            ShellCall::Script(script) => script.clone(),
            ShellCall::WithStdin { command, .. } => command.clone(),
        };
        let mut state = self.state();
        state.calls.push(call);
        let answer = state
            .answers
            .iter()
            .find(|(pattern, _)| text.contains(pattern.as_str()))
            .map(|(_, output)| output.clone());
        Ok(answer.unwrap_or(CommandOutput {
            status: 0,
            stdout: Vec::new(),
            stderr: Vec::new(),
        }))
    }
}

impl HostShell for FakeShell {
    fn configured(&self) -> bool {
        self.configured
    }

    fn connect(&self) -> BoxFuture<'_, Result<(), HostOperationError>> {
        std::future::ready(self.refused().map_or(Ok(()), Err)).boxed()
    }

    fn run_script<'a>(
        &'a self,
        script: &'a str,
    ) -> BoxFuture<'a, Result<CommandOutput, HostOperationError>> {
        std::future::ready(self.run(ShellCall::Script(script.to_string()))).boxed()
    }

    fn run_with_stdin<'a>(
        &'a self,
        command: &'static str,
        stdin: &'a [u8],
    ) -> BoxFuture<'a, Result<CommandOutput, HostOperationError>> {
        let call = ShellCall::WithStdin {
            command: command.to_string(),
            stdin: stdin.to_vec(),
        };
        std::future::ready(self.run(call)).boxed()
    }
}
