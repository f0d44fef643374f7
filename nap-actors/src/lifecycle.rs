//! The lifecycle verbs across hosts: `stop`, `start`, `restart`, `kill`, `pause`, `unpause`
//! and `rm`, with Docker Compose's semantics, on the project's containers (all, or those of
//! the services named) wherever they run.
//!
//! The containers are found from the daemons' labels (every host is asked at once), each
//! action is the one Docker API call it names, on every container at once, and each
//! container's result is a progress line (`Container shop-web-2 @h2  Stopped`). Containers
//! keep their identity (id, name, address), and their names stay right across `start` and
//! `restart` with nothing re-applied: their `/etc/hosts` is nap's file for their view on the
//! host, bind-mounted read-only, which Docker does not rewrite.

use std::time::Instant;

use bollard::Docker;
use bollard::query_parameters::{
    KillContainerOptions, RemoveContainerOptions, RestartContainerOptions, StopContainerOptions,
};
use futures_util::future::join_all;
use nap_core::plan::ObservedContainer;

use crate::deploy::DeployError;
use crate::deployment::Deployment;
use crate::observe::{self, Detail, ObserveError};
use crate::progress::{Event, Progress};

/// What to do to each container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// `stop [-t SECONDS]`: running containers, SIGTERM then SIGKILL after the timeout.
    Stop {
        /// Seconds before SIGKILL (Docker's default, 10, when `None`).
        timeout: Option<i32>,
    },
    /// `start`: containers that are not running.
    Start,
    /// `restart [-t SECONDS]`: every container, running or not.
    Restart {
        /// Seconds before SIGKILL.
        timeout: Option<i32>,
    },
    /// `kill [-s SIGNAL]`: running containers.
    Kill {
        /// The signal (Docker's default, SIGKILL, when `None`).
        signal: Option<String>,
    },
    /// `pause`: running containers.
    Pause,
    /// `unpause`: paused containers.
    Unpause,
    /// `rm [-s] [-v]`: stopped containers (with `stop`, running ones are stopped first).
    Remove {
        /// Stop running containers first (`-s`).
        stop: bool,
        /// Also remove their anonymous volumes (`-v`).
        volumes: bool,
    },
}

impl Action {
    /// The progress operation name (`stop_container`, …).
    fn op(&self) -> &'static str {
        match self {
            Action::Stop { .. } => "stop_container",
            Action::Start => "start_container",
            Action::Restart { .. } => "restart_container",
            Action::Kill { .. } => "kill_container",
            Action::Pause => "pause_container",
            Action::Unpause => "unpause_container",
            Action::Remove { .. } => "remove_container",
        }
    }

    /// The progress word for a container it acted on.
    fn outcome(&self) -> &'static str {
        match self {
            Action::Stop { .. } => "stopped",
            Action::Start => "started",
            Action::Restart { .. } => "restarted",
            Action::Kill { .. } => "killed",
            Action::Pause => "paused",
            Action::Unpause => "unpaused",
            Action::Remove { .. } => "removed",
        }
    }

    /// Whether it acts on a container in Docker's `state` (as Compose chooses them).
    pub fn applies_to(&self, state: &str) -> bool {
        match self {
            Action::Stop { .. } | Action::Kill { .. } | Action::Pause => {
                matches!(state, "running" | "restarting")
            }
            Action::Start => matches!(state, "exited" | "created"),
            Action::Restart { .. } => true,
            Action::Unpause => state == "paused",
            Action::Remove { stop, .. } => *stop || matches!(state, "exited" | "created" | "dead"),
        }
    }
}

/// Why a lifecycle verb could not run at all (a container it fails on is a line of the
/// report, not an error).
#[derive(Debug, thiserror::Error)]
pub enum LifecycleError {
    /// A host did not answer: which containers it holds is unknown, so nothing was done.
    #[error("{0}; nothing was changed on any host")]
    Observe(#[from] ObserveError),
    /// A service named is not in the project.
    #[error("no such service: {0:?}")]
    UnknownService(String),
    /// Re-applying the names after a start failed to start.
    #[error("the containers were started, but their names could not be re-applied: {0}")]
    Names(#[from] DeployError),
}

/// What a verb did.
#[derive(Debug, Clone, Default)]
pub struct LifecycleReport {
    /// Containers acted on.
    pub succeeded: usize,
    /// Containers the action failed on, each with its error.
    pub failed: Vec<String>,
}

/// The project's containers of `services` (all when empty) that `action` applies to, on
/// every host.
pub fn targets<'a>(
    containers: &'a [ObservedContainer],
    services: &[String],
    action: &Action,
) -> Vec<&'a ObservedContainer> {
    let mut chosen: Vec<&ObservedContainer> = containers
        .iter()
        .filter(|container| services.is_empty() || services.contains(&container.service))
        .filter(|container| action.applies_to(&container.state))
        .collect();
    chosen.sort_by(|a, b| (&a.service, a.replica).cmp(&(&b.service, b.replica)));
    chosen
}

/// Carries `action` out on the project's containers of `services` on every host.
pub async fn run(
    deployment: &Deployment,
    services: &[String],
    action: &Action,
    progress: &Progress,
) -> Result<LifecycleReport, LifecycleError> {
    if let Some(unknown) = services
        .iter()
        .find(|service| !deployment.project.services.contains_key(*service))
    {
        return Err(LifecycleError::UnknownService(unknown.clone()));
    }
    let project = &deployment.project.name;
    let inventory = &deployment.inventory;
    let clients = observe::connect_all(inventory).await?;
    let observed =
        observe::observe_connected(project, inventory, &clients, Detail::Listing).await?;
    let chosen = targets(&observed.containers, services, action);
    let results = join_all(chosen.iter().enumerate().map(|(index, container)| {
        let docker = clients
            .iter()
            .find(|(host, _)| *host == container.host)
            .map(|(_, docker)| docker)
            .expect("observed containers come from connected hosts");
        let id = index + 1;
        async move {
            progress.emit(Event::Started {
                id,
                host: container.host.clone(),
                op: action.op().to_string(),
                subject: container.name.clone(),
            });
            let started = Instant::now();
            let result = act(docker, &container.name, &container.state, action).await;
            progress.emit(Event::Finished {
                id,
                host: container.host.clone(),
                op: action.op().to_string(),
                subject: container.name.clone(),
                ok: result.is_ok(),
                outcome: if result.is_ok() {
                    action.outcome().to_string()
                } else {
                    "failed".to_string()
                },
                error: result.as_ref().err().map(|error| {
                    format!("{} on host {:?}: {error}", container.name, container.host)
                }),
                seconds: started.elapsed().as_secs_f64(),
            });
            result.map(|()| (container.host.clone(), container.name.clone()))
        }
    }))
    .await;
    let mut report = LifecycleReport::default();
    for (result, container) in results.into_iter().zip(&chosen) {
        match result {
            Ok(_) => {
                report.succeeded += 1;
            }
            Err(error) => report.failed.push(format!(
                "{} on host {:?}: {error}",
                container.name, container.host
            )),
        }
    }
    Ok(report)
}

/// One container's Docker call.
async fn act(
    docker: &Docker,
    name: &str,
    state: &str,
    action: &Action,
) -> Result<(), bollard::errors::Error> {
    match action {
        Action::Stop { timeout } => {
            let options = StopContainerOptions {
                t: *timeout,
                ..Default::default()
            };
            docker.stop_container(name, Some(options)).await
        }
        Action::Start => docker.start_container(name, None).await,
        Action::Restart { timeout } => {
            let options = RestartContainerOptions {
                t: *timeout,
                ..Default::default()
            };
            docker.restart_container(name, Some(options)).await
        }
        Action::Kill { signal } => {
            let options = KillContainerOptions {
                signal: signal.clone().unwrap_or_else(|| "SIGKILL".to_string()),
            };
            docker.kill_container(name, Some(options)).await
        }
        Action::Pause => docker.pause_container(name).await,
        Action::Unpause => docker.unpause_container(name).await,
        Action::Remove { stop, volumes } => {
            if *stop && matches!(state, "running" | "restarting" | "paused") {
                docker
                    .stop_container(name, None::<StopContainerOptions>)
                    .await?;
            }
            let options = RemoveContainerOptions {
                v: *volumes,
                force: false,
                ..Default::default()
            };
            docker.remove_container(name, Some(options)).await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_verb_acts_on_the_states_compose_acts_on() {
        let table: [(Action, &[&str], &[&str]); 7] = [
            (
                Action::Stop { timeout: None },
                &["running", "restarting"],
                &["exited", "paused", "created"],
            ),
            (
                Action::Start,
                &["exited", "created"],
                &["running", "paused"],
            ),
            (
                Action::Restart { timeout: None },
                &["running", "exited", "created"],
                &[],
            ),
            (
                Action::Kill { signal: None },
                &["running"],
                &["exited", "created"],
            ),
            (Action::Pause, &["running"], &["paused", "exited"]),
            (Action::Unpause, &["paused"], &["running", "exited"]),
            (
                Action::Remove {
                    stop: false,
                    volumes: false,
                },
                &["exited", "created", "dead"],
                &["running", "paused"],
            ),
        ];
        for (action, acts, skips) in table {
            for state in acts {
                assert!(action.applies_to(state), "{action:?} on {state}");
            }
            for state in skips {
                assert!(!action.applies_to(state), "{action:?} must skip {state}");
            }
        }
        assert!(
            Action::Remove {
                stop: true,
                volumes: false
            }
            .applies_to("running")
        );
    }
}
