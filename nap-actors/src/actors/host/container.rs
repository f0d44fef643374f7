//! Containers on a host: create, start, wait for healthy or completed, rename, stop, monitor
//! through a rollout's monitor period, remove; and the crash-loop check and log tail that
//! failure messages quote.

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use actix::prelude::*;
use bollard::models::{ContainerInspectResponse, ContainerStateStatusEnum, HealthStatusEnum};
use futures_util::StreamExt;

use super::error::is_not_found;
use super::{HostActor, HostContext, HostErrorKind, HostOperationError, OperationResult, Outcome};
use crate::spec::ContainerSpec;

/// How often a wait looks at the container again.
const WAIT_POLL: Duration = Duration::from_millis(200);

/// Log lines quoted when a container fails.
const FAILURE_LOG_LINES: &str = "10";

/// Create a container (and connect its further networks). Returns its id.
#[derive(Message)]
#[rtype(result = "Result<String, HostOperationError>")]
pub struct CreateContainer {
    /// Everything Docker needs.
    pub spec: ContainerSpec,
}

impl Handler<CreateContainer> for HostActor {
    type Result = ResponseFuture<Result<String, HostOperationError>>;

    fn handle(&mut self, message: CreateContainer, _: &mut Context<Self>) -> Self::Result {
        let host = self.context();
        Box::pin(async move {
            let spec = message.spec;
            let id = host
                .docker
                .create_container(&spec.name, spec.body)
                .await
                .map_err(|error| {
                    host.docker_error(&format!("creating container {}", spec.name), error)
                })?;
            for (network, endpoint) in spec.additional_networks {
                let request = bollard::models::NetworkConnectRequest {
                    container: id.clone(),
                    endpoint_config: Some(endpoint),
                };
                host.docker
                    .connect_network(&network, request)
                    .await
                    .map_err(|error| {
                        host.docker_error(
                            &format!("connecting container {} to {network}", spec.name),
                            error,
                        )
                    })?;
            }
            Ok(id)
        })
    }
}

/// What a started container looks like.
#[derive(Debug, Clone)]
pub struct StartedContainer {
    /// Id.
    pub id: String,
    /// Address on its first network, if it has one.
    pub ip: Option<Ipv4Addr>,
}

/// Start a container; returns its id and address. What the caller already knows is not
/// asked again: with its id and a fixed address (routed mode) nothing is, with its id only
/// the address is read from the container listing (small) rather than a full inspect (which
/// carries the whole name table); without its id, the container is inspected.
#[derive(Message)]
#[rtype(result = "Result<StartedContainer, HostOperationError>")]
pub struct StartContainer {
    /// Container name.
    pub container: String,
    /// The network whose address is reported.
    pub network: Option<String>,
    /// Its id, when the caller created it.
    pub id: Option<String>,
    /// Its address on `network`, when the desired state fixed it.
    pub address: Option<Ipv4Addr>,
}

impl Handler<StartContainer> for HostActor {
    type Result = ResponseFuture<Result<StartedContainer, HostOperationError>>;

    fn handle(&mut self, message: StartContainer, _: &mut Context<Self>) -> Self::Result {
        let host = self.context();
        Box::pin(async move {
            host.docker
                .start_container(&message.container)
                .await
                .map_err(|error| {
                    host.docker_error(&format!("starting {}", message.container), error)
                })?;
            match (message.id, message.address) {
                (Some(id), Some(address)) if message.network.is_some() => {
                    return Ok(StartedContainer {
                        id,
                        ip: Some(address),
                    });
                }
                (Some(id), _) => {
                    let listed = host.docker.list_container(&id).await.map_err(|error| {
                        host.docker_error(&format!("listing {}", message.container), error)
                    })?;
                    let networks = listed
                        .into_iter()
                        .find(|summary| summary.id.as_deref() == Some(id.as_str()))
                        .and_then(|summary| summary.network_settings)
                        .and_then(|settings| settings.networks)
                        .unwrap_or_default();
                    let endpoint = match &message.network {
                        Some(network) => networks.get(network),
                        None => networks.values().next(),
                    };
                    let ip = endpoint
                        .and_then(|endpoint| endpoint.ip_address.as_deref())
                        .and_then(|address| address.parse().ok());
                    return Ok(StartedContainer { id, ip });
                }
                (None, _) => {}
            }
            let inspect = host.inspect(&message.container).await?;
            let networks = inspect
                .network_settings
                .and_then(|settings| settings.networks)
                .unwrap_or_default();
            let endpoint = match &message.network {
                Some(network) => networks.get(network),
                None => networks.values().next(),
            };
            let ip = endpoint
                .and_then(|endpoint| endpoint.ip_address.as_deref())
                .and_then(|address| address.parse().ok());
            Ok(StartedContainer {
                id: inspect.id.unwrap_or_default(),
                ip,
            })
        })
    }
}

/// What a wait waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitCondition {
    /// Its healthcheck passes.
    Healthy,
    /// It exits with status 0.
    Completed,
}

/// Wait until a container is healthy or has completed, at most `timeout`.
#[derive(Message)]
#[rtype(result = "OperationResult")]
pub struct WaitContainer {
    /// Container name.
    pub container: String,
    /// For what.
    pub condition: WaitCondition,
    /// How long at most.
    pub timeout: Duration,
}

impl Handler<WaitContainer> for HostActor {
    type Result = ResponseFuture<OperationResult>;

    fn handle(&mut self, message: WaitContainer, _: &mut Context<Self>) -> Self::Result {
        let host = self.context();
        Box::pin(async move {
            let started = Instant::now();
            let name = &message.container;
            let mut first_restart_count = None;
            loop {
                let inspect = host.inspect(name).await?;
                host.check_not_crash_looping(name, &inspect, &mut first_restart_count)
                    .await?;
                let state = inspect.state.unwrap_or_default();
                let status = state.status;
                let exited = matches!(
                    status,
                    Some(ContainerStateStatusEnum::EXITED | ContainerStateStatusEnum::DEAD)
                );
                match message.condition {
                    WaitCondition::Completed if exited => {
                        let code = state.exit_code.unwrap_or(-1);
                        if code == 0 {
                            return Ok(Outcome::Completed);
                        }
                        let logs = host.last_logs(name).await;
                        return Err(host.error(
                            HostErrorKind::Container,
                            format!(
                                "{name} exited with status {code}; its last output:\n    {logs}"
                            ),
                        ));
                    }
                    WaitCondition::Healthy => {
                        let health = state.health.and_then(|health| health.status);
                        match health {
                            Some(HealthStatusEnum::HEALTHY) => return Ok(Outcome::Healthy),
                            Some(HealthStatusEnum::UNHEALTHY) => {
                                let logs = host.last_logs(name).await;
                                return Err(host.error(
                                    HostErrorKind::Container,
                                    format!("{name} is unhealthy; its last output:\n    {logs}"),
                                ));
                            }
                            None | Some(HealthStatusEnum::NONE | HealthStatusEnum::EMPTY)
                                if !exited =>
                            {
                                return Err(host.error(HostErrorKind::Container, format!(
                                    "{name} has no healthcheck, so service_healthy cannot be waited for"
                                )));
                            }
                            _ if exited => {
                                let code = state.exit_code.unwrap_or(-1);
                                let logs = host.last_logs(name).await;
                                return Err(host.error(HostErrorKind::Container, format!(
                                    "{name} exited with status {code} before it was healthy; its last output:\n    {logs}"
                                )));
                            }
                            _ => {}
                        }
                    }
                    WaitCondition::Completed => {}
                }
                if started.elapsed() >= message.timeout {
                    let what = match message.condition {
                        WaitCondition::Healthy => "healthy",
                        WaitCondition::Completed => "complete",
                    };
                    let logs = host.last_logs(name).await;
                    return Err(host.error(HostErrorKind::Timeout, format!(
                        "{name} did not become {what} within {}s (--wait-timeout); its last output:\n    {logs}",
                        message.timeout.as_secs()
                    )));
                }
                tokio::time::sleep(WAIT_POLL).await;
            }
        })
    }
}

/// Rename a container.
#[derive(Message)]
#[rtype(result = "OperationResult")]
pub struct RenameContainer {
    /// Current name.
    pub from: String,
    /// New name.
    pub to: String,
}

impl Handler<RenameContainer> for HostActor {
    type Result = ResponseFuture<OperationResult>;

    fn handle(&mut self, message: RenameContainer, _: &mut Context<Self>) -> Self::Result {
        let host = self.context();
        Box::pin(async move {
            host.docker
                .rename_container(&message.from, &message.to)
                .await
                .map(|()| Outcome::Renamed)
                .map_err(|error| {
                    host.docker_error(
                        &format!("renaming {} to {}", message.from, message.to),
                        error,
                    )
                })
        })
    }
}

/// Stop a container (with its own grace period), keeping it.
#[derive(Message)]
#[rtype(result = "OperationResult")]
pub struct StopContainer {
    /// Container name.
    pub container: String,
}

impl Handler<StopContainer> for HostActor {
    type Result = ResponseFuture<OperationResult>;

    fn handle(&mut self, message: StopContainer, _: &mut Context<Self>) -> Self::Result {
        let host = self.context();
        Box::pin(async move {
            match host.docker.stop_container(&message.container, None).await {
                Ok(())
                | Err(bollard::errors::Error::DockerResponseServerError {
                    status_code: 304, ..
                }) => Ok(Outcome::Stopped),
                Err(error) => {
                    Err(host.docker_error(&format!("stopping {}", message.container), error))
                }
            }
        })
    }
}

/// Watch a container for `duration`: it must keep running and not turn unhealthy.
#[derive(Message)]
#[rtype(result = "OperationResult")]
pub struct MonitorContainer {
    /// Container name.
    pub container: String,
    /// How long.
    pub duration: Duration,
}

impl Handler<MonitorContainer> for HostActor {
    type Result = ResponseFuture<OperationResult>;

    fn handle(&mut self, message: MonitorContainer, _: &mut Context<Self>) -> Self::Result {
        let host = self.context();
        Box::pin(async move {
            let started = Instant::now();
            let name = &message.container;
            let mut first_restart_count = None;
            loop {
                let inspect = host.inspect(name).await?;
                // A restart between two looks would otherwise pass for "kept running".
                host.check_not_crash_looping(name, &inspect, &mut first_restart_count)
                    .await?;
                let state = inspect.state.unwrap_or_default();
                let unhealthy = state
                    .health
                    .as_ref()
                    .and_then(|health| health.status)
                    .is_some_and(|status| status == HealthStatusEnum::UNHEALTHY);
                if state.running != Some(true) || unhealthy {
                    let what = if unhealthy {
                        "turned unhealthy".to_string()
                    } else {
                        format!("exited with status {}", state.exit_code.unwrap_or(-1))
                    };
                    let logs = host.last_logs(name).await;
                    return Err(host.error(HostErrorKind::Container, format!(
                        "{name} {what} {:.1}s into its {}s monitor period; its last output:\n    {logs}",
                        started.elapsed().as_secs_f64(),
                        message.duration.as_secs_f64()
                    )));
                }
                if started.elapsed() >= message.duration {
                    return Ok(Outcome::Stable);
                }
                tokio::time::sleep(WAIT_POLL).await;
            }
        })
    }
}

/// Stop and remove a container (nothing if it is gone).
#[derive(Message)]
#[rtype(result = "OperationResult")]
pub struct RemoveContainer {
    /// Container name or id.
    pub container: String,
    /// Also its anonymous volumes.
    pub volumes: bool,
    /// Seconds to wait for it to stop before it is killed (`None`: its own grace period,
    /// its `stop_grace_period`, else Docker's 10 s).
    pub timeout: Option<i32>,
}

impl Handler<RemoveContainer> for HostActor {
    type Result = ResponseFuture<OperationResult>;

    fn handle(&mut self, message: RemoveContainer, _: &mut Context<Self>) -> Self::Result {
        let host = self.context();
        Box::pin(async move {
            // Stop with the timeout asked for, else the container's own grace period.
            match host
                .docker
                .stop_container(&message.container, message.timeout)
                .await
            {
                Ok(()) => {}
                Err(error) if is_not_found(&error) => return Ok(Outcome::AlreadyGone),
                // 304: already stopped.
                Err(bollard::errors::Error::DockerResponseServerError {
                    status_code: 304, ..
                }) => {}
                Err(error) => {
                    return Err(
                        host.docker_error(&format!("stopping {}", message.container), error)
                    );
                }
            }
            let result = host
                .docker
                .remove_container(&message.container, message.volumes)
                .await;
            host.removal(result, &format!("removing {}", message.container))
        })
    }
}

impl HostContext {
    pub(super) async fn inspect(
        &self,
        container: &str,
    ) -> Result<ContainerInspectResponse, HostOperationError> {
        self.docker
            .inspect_container(container)
            .await
            .map_err(|error| self.docker_error(&format!("inspecting {container}"), error))
    }

    /// Fails when Docker is restarting the container again and again (a restart policy on a
    /// container that keeps failing), so waits and monitors say so at once rather than at their
    /// timeout. `first_restart_count` is the count seen at the first look.
    pub(super) async fn check_not_crash_looping(
        &self,
        name: &str,
        inspect: &ContainerInspectResponse,
        first_restart_count: &mut Option<i64>,
    ) -> Result<(), HostOperationError> {
        let restart_count = inspect.restart_count.unwrap_or(0);
        let initial = *first_restart_count.get_or_insert(restart_count);
        let state = inspect.state.clone().unwrap_or_default();
        if state.restarting == Some(true) || restart_count > initial {
            let code = state.exit_code.unwrap_or(-1);
            let logs = self.last_logs(name).await;
            return Err(self.error(HostErrorKind::Container, format!(
                "{name} is crash-looping (Docker restarted it {restart_count} times; last exit status {code}); its last output:\n    {logs}"
            )));
        }
        Ok(())
    }

    /// The container's last log lines, for failure messages.
    pub(super) async fn last_logs(&self, container: &str) -> String {
        let mut logs = self.docker.logs_tail(container, FAILURE_LOG_LINES);
        let mut text = String::new();
        while let Some(Ok(chunk)) = logs.next().await {
            text.push_str(&String::from_utf8_lossy(&chunk.into_bytes()));
        }
        let lines: Vec<&str> = text.lines().collect();
        if lines.is_empty() {
            "(no output)".to_string()
        } else {
            lines.join("\n    ")
        }
    }
}
