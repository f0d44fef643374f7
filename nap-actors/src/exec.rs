//! `nap exec`: runs a command in one replica of a service, on whatever host runs it, as
//! `docker compose exec` does on one host.
//!
//! The replica is found from the daemons' labels (every host is asked; no control plane): the
//! service's replica `index` (1 by default), which must be running. The command runs through
//! the Docker API of its host (an exec, attached): stdin is streamed to it, its output to
//! stdout and stderr, and its exit status becomes nap's. With a TTY the local terminal is put
//! in raw mode for the command's life (restored however it ends), its size is sent at the
//! start and on every `SIGWINCH`, and keys such as Ctrl-C go to the command, as with
//! `docker compose exec`.

use bollard::Docker;
use bollard::exec::{ResizeExecOptions, StartExecOptions, StartExecResults};
use bollard::models::ExecConfig;
use futures_util::StreamExt;
use nap_core::inventory::Inventory;
use tokio::io::AsyncWriteExt;

use crate::observe::{self, FindReplicaError, ObserveError};
use crate::terminal;

/// What to run, and how (`nap exec`'s flags).
#[derive(Debug, Clone, Default)]
pub struct ExecRequest {
    /// The service.
    pub service: String,
    /// Which replica (1-based), as `--index`.
    pub index: u32,
    /// The command and its arguments.
    pub command: Vec<String>,
    /// `-u`: user (name or uid[:gid]).
    pub user: Option<String>,
    /// `-w`: working directory.
    pub workdir: Option<String>,
    /// `-e KEY=VALUE`s.
    pub env: Vec<String>,
    /// `--privileged`.
    pub privileged: bool,
    /// Allocate a pseudo-TTY (not `-T`, and stdin is a terminal).
    pub tty: bool,
    /// Stream stdin to the command (`-i`, on by default).
    pub stdin: bool,
    /// `-d`: start it and return at once.
    pub detach: bool,
}

/// Why a command could not be run (its own failure is its exit status, not an error).
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    /// A host did not answer, so the replica cannot be found for sure.
    #[error(transparent)]
    Observe(#[from] ObserveError),
    /// No such replica, or it is not running.
    #[error("{0}")]
    NotRunning(String),
    /// The Docker API refused or failed.
    #[error("exec in {container} on host {host:?}: {source}")]
    Docker {
        /// The container.
        container: String,
        /// Its host.
        host: String,
        /// What Docker said.
        #[source]
        source: bollard::errors::Error,
    },
    /// Reading stdin or writing the output failed.
    #[error("exec in {container}: {source}")]
    Io {
        /// The container.
        container: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
}

/// Runs `request` in its replica of `project` and returns the command's exit status.
pub async fn exec(
    project: &str,
    inventory: &Inventory,
    request: &ExecRequest,
) -> Result<i64, ExecError> {
    let found = observe::find_replica(project, inventory, &request.service, request.index)
        .await
        .map_err(|error| match error {
            FindReplicaError::Observe(error) => ExecError::Observe(error),
            FindReplicaError::Missing(message) => ExecError::NotRunning(message),
        })?;
    let target = &found.container;
    if target.state != "running" {
        return Err(ExecError::NotRunning(format!(
            "container {} of service {:?} on host {:?} is not running ({})",
            target.name, request.service, target.host, target.state
        )));
    }
    run_in(&found.docker, &target.host, &target.name, request).await
}

/// Runs the exec in `container` on `host`.
async fn run_in(
    docker: &Docker,
    host: &str,
    container: &str,
    request: &ExecRequest,
) -> Result<i64, ExecError> {
    let docker_error = |source| ExecError::Docker {
        container: container.to_string(),
        host: host.to_string(),
        source,
    };
    let io_error = |source| ExecError::Io {
        container: container.to_string(),
        source,
    };
    let config = ExecConfig {
        attach_stdin: Some(request.stdin && !request.detach),
        attach_stdout: Some(!request.detach),
        attach_stderr: Some(!request.detach),
        tty: Some(request.tty),
        env: (!request.env.is_empty()).then(|| request.env.clone()),
        cmd: Some(request.command.clone()),
        privileged: Some(request.privileged),
        user: request.user.clone(),
        working_dir: request.workdir.clone(),
        ..Default::default()
    };
    let created = docker
        .create_exec(container, config)
        .await
        .map_err(docker_error)?;
    let options = StartExecOptions {
        detach: request.detach,
        tty: request.tty,
        output_capacity: None,
    };
    let started = docker
        .start_exec(&created.id, Some(options))
        .await
        .map_err(docker_error)?;
    let StartExecResults::Attached { mut output, input } = started else {
        return Ok(0);
    };
    // Raw mode for a TTY, restored when this guard drops, however the exec ends.
    let _raw = if request.tty {
        terminal::RawMode::enable().map_err(io_error)?
    } else {
        None
    };
    let resizer = request
        .tty
        .then(|| tokio::spawn(forward_window_size(docker.clone(), created.id.clone())));
    let stdin = request.stdin.then(|| {
        tokio::spawn(async move {
            let mut input = input;
            let _ = tokio::io::copy(&mut tokio::io::stdin(), &mut input).await;
            // End of our stdin: the command's stdin ends too.
            let _ = input.shutdown().await;
        })
    });
    let mut stdout = tokio::io::stdout();
    let mut stderr = tokio::io::stderr();
    while let Some(chunk) = output.next().await {
        terminal::write_output(chunk.map_err(docker_error)?, &mut stdout, &mut stderr)
            .await
            .map_err(io_error)?;
    }
    if let Some(task) = resizer {
        task.abort();
    }
    if let Some(task) = stdin {
        task.abort();
    }
    let inspect = docker
        .inspect_exec(&created.id)
        .await
        .map_err(docker_error)?;
    Ok(inspect.exit_code.unwrap_or(0))
}

/// Sends the terminal's size now and after every `SIGWINCH`, until aborted.
async fn forward_window_size(docker: Docker, exec: String) {
    terminal::follow_window_size(|size: terminal::Size| {
        let (docker, exec) = (docker.clone(), exec.clone());
        async move {
            let options = ResizeExecOptions {
                height: size.rows,
                width: size.columns,
            };
            let _ = docker.resize_exec(&exec, options).await;
        }
    })
    .await;
}
