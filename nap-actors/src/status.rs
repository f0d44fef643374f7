//! `ps` and `logs` across hosts: what the daemons hold for a project, asked of every host at
//! once.
//!
//! [`ps`] lists every container labelled with the project on every host, with its service,
//! replica, host, address, state and health; a host that does not answer appears as one
//! `unreachable` row, never silently left out. [`logs`] follows (or dumps the tail of) the
//! logs of the project's containers on every host and merges them line by line into one
//! stream, each line tagged `service-n@host`. Read-only.

use std::collections::HashMap;
use std::net::Ipv4Addr;

use bollard::Docker;
use bollard::query_parameters::{ListContainersOptionsBuilder, LogsOptionsBuilder};
use futures_util::StreamExt;
use futures_util::future::join_all;
use nap_core::inventory::Inventory;
use nap_core::plan::{LABEL_PROJECT, LABEL_REPLICA, LABEL_SERVICE};
use serde::Serialize;
use tokio::sync::mpsc;

use crate::actors::host::docker_message;
use crate::observe;

/// One row of `nap ps`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PsEntry {
    /// Container id (empty for an unreachable host's row).
    pub id: String,
    /// Service (empty for an unreachable host's row).
    pub service: String,
    /// Replica number.
    pub replica: u32,
    /// Container name.
    pub container: String,
    /// Host.
    pub host: String,
    /// Address on its first network.
    pub ip: Option<Ipv4Addr>,
    /// `running`, `exited`, …, or `unreachable`.
    pub state: String,
    /// `healthy`, `unhealthy`, `starting`, or empty without a healthcheck.
    pub health: String,
    /// Docker's status text (`Up 3 minutes (healthy)`), or why the host is unreachable.
    pub status: String,
    /// Published ports, each reachable at the host's address.
    pub ports: Vec<PublishedPort>,
}

/// A published port of a container: where to reach it, and what it is inside.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PublishedPort {
    /// The host's address (the inventory's, else the one Docker bound).
    pub host_address: String,
    /// The port on the host.
    pub host_port: u16,
    /// The container's port.
    pub container_port: u16,
    /// `tcp`, `udp` or `sctp`.
    pub protocol: String,
}

impl std::fmt::Display for PublishedPort {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}:{}->{}/{}",
            self.host_address, self.host_port, self.container_port, self.protocol
        )
    }
}

/// Which rows `nap ps` shows.
#[derive(Debug, Clone, Default)]
pub struct PsOptions {
    /// Stopped containers too (`-a`); by default only running ones, as Compose.
    pub all: bool,
    /// Only these services (empty: all).
    pub services: Vec<String>,
    /// Only containers in these states (`--status`, `--filter status=`); implies `all`.
    pub statuses: Vec<String>,
}

impl PsOptions {
    /// Whether a row in `state` of `service` is shown.
    pub fn shows(&self, service: &str, state: &str) -> bool {
        let by_service = self.services.is_empty() || self.services.iter().any(|s| s == service);
        let by_state = if self.statuses.is_empty() {
            self.all || state == "running"
        } else {
            self.statuses.iter().any(|s| s == state)
        };
        by_service && by_state
    }
}

/// The published ports of a listed container; `host_address` is where the host is reached.
fn published_ports(
    summary: &bollard::models::ContainerSummary,
    host_address: Option<&str>,
) -> Vec<PublishedPort> {
    let mut ports: Vec<PublishedPort> = summary
        .ports
        .iter()
        .flatten()
        .filter_map(|port| {
            let host_port = port.public_port?;
            let bound = port.ip.as_deref().unwrap_or("0.0.0.0");
            // IPv6 duplicates of an IPv4 binding say nothing more.
            if bound.contains(':') {
                return None;
            }
            let host_address = match (bound, host_address) {
                ("0.0.0.0", Some(address)) => address.to_string(),
                (bound, _) => bound.to_string(),
            };
            Some(PublishedPort {
                host_address,
                host_port,
                container_port: port.private_port,
                protocol: port
                    .typ
                    .map(|typ| typ.to_string())
                    .unwrap_or_else(|| "tcp".to_string()),
            })
        })
        .collect();
    ports.sort_by_key(|port| (port.container_port, port.host_port));
    ports.dedup();
    ports
}

/// The health Docker prints inside a status text.
fn health_from_status(status: &str) -> &'static str {
    if status.contains("(healthy)") {
        "healthy"
    } else if status.contains("(unhealthy)") {
        "unhealthy"
    } else if status.contains("(health: starting)") {
        "starting"
    } else {
        ""
    }
}

async fn list(
    project: &str,
    docker: &Docker,
) -> Result<Vec<bollard::models::ContainerSummary>, bollard::errors::Error> {
    let filters = HashMap::from([(
        "label".to_string(),
        vec![format!("{LABEL_PROJECT}={project}")],
    )]);
    let options = ListContainersOptionsBuilder::default()
        .all(true)
        .filters(&filters)
        .build();
    docker.list_containers(Some(options)).await
}

/// A label of a listed container (empty when it has none).
pub(crate) fn label(summary: &bollard::models::ContainerSummary, key: &str) -> String {
    summary
        .labels
        .as_ref()
        .and_then(|labels| labels.get(key).cloned())
        .unwrap_or_default()
}

/// A listed container's name, without Docker's leading `/`.
pub(crate) fn name(summary: &bollard::models::ContainerSummary) -> String {
    summary
        .names
        .as_ref()
        .and_then(|names| names.first())
        .map(|name| name.trim_start_matches('/').to_string())
        .unwrap_or_default()
}

/// The containers of `project` on every host of `inventory` that `options` shows, in
/// (service, replica, host) order; unreachable hosts last, one row each.
pub async fn ps(project: &str, inventory: &Inventory, options: &PsOptions) -> Vec<PsEntry> {
    let results = join_all(inventory.hosts.iter().map(|host| async move {
        let docker = observe::connect(host)
            .await
            .map_err(|error| error.message)?;
        list(project, &docker)
            .await
            .map_err(|error| docker_message(&error))
    }))
    .await;
    let mut rows = Vec::new();
    let mut unreachable = Vec::new();
    for (host, result) in inventory.hosts.iter().zip(results) {
        match result {
            Ok(containers) => {
                for summary in containers {
                    let status = summary.status.clone().unwrap_or_default();
                    let ip = summary
                        .network_settings
                        .as_ref()
                        .and_then(|settings| settings.networks.as_ref())
                        .and_then(|networks| {
                            let mut endpoints: Vec<_> = networks.iter().collect();
                            endpoints.sort_by(|a, b| a.0.cmp(b.0));
                            endpoints.into_iter().find_map(|(_, endpoint)| {
                                endpoint.ip_address.as_deref()?.parse().ok()
                            })
                        });
                    let state = summary
                        .state
                        .as_ref()
                        .map(|state| state.to_string())
                        .unwrap_or_default();
                    let service = label(&summary, LABEL_SERVICE);
                    if !options.shows(&service, &state) {
                        continue;
                    }
                    rows.push(PsEntry {
                        id: summary.id.clone().unwrap_or_default(),
                        ports: published_ports(&summary, host.address.as_deref()),
                        service,
                        replica: label(&summary, LABEL_REPLICA).parse().unwrap_or(0),
                        container: name(&summary),
                        host: host.name.clone(),
                        ip,
                        state,
                        health: health_from_status(&status).to_string(),
                        status,
                    });
                }
            }
            Err(message) => unreachable.push(PsEntry {
                id: String::new(),
                ports: Vec::new(),
                service: String::new(),
                replica: 0,
                container: String::new(),
                host: host.name.clone(),
                ip: None,
                state: "unreachable".to_string(),
                health: String::new(),
                status: message,
            }),
        }
    }
    rows.sort_by(|a, b| (&a.service, a.replica, &a.host).cmp(&(&b.service, b.replica, &b.host)));
    rows.extend(unreachable);
    rows
}

/// What `nap logs` shows.
#[derive(Debug, Clone, Default)]
pub struct LogsOptions {
    /// Keep following.
    pub follow: bool,
    /// Lines from the end of each container's log (`None`: all).
    pub tail: Option<u64>,
    /// Only these services (empty: all).
    pub services: Vec<String>,
    /// Only lines since this Unix time (`--since`).
    pub since: Option<i64>,
    /// Only lines before this Unix time (`--until`).
    pub until: Option<i64>,
    /// Docker's timestamp before each line (`-t`).
    pub timestamps: bool,
    /// Only this replica of each service (`--index`).
    pub index: Option<u32>,
}

/// One line of a merged log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LogLine {
    /// `service-n@host`.
    pub source: String,
    /// Service.
    pub service: String,
    /// Host.
    pub host: String,
    /// `stdout` or `stderr`.
    pub stream: String,
    /// The line, without its newline.
    pub line: String,
}

/// Streams the project's logs from every host into `lines` until every container's log ends
/// (or, with `follow`, until the receiver is dropped). Hosts that cannot be reached are
/// returned as errors after the others finish.
pub async fn logs(
    project: &str,
    inventory: &Inventory,
    options: &LogsOptions,
    lines: mpsc::Sender<LogLine>,
) -> Vec<String> {
    let results = join_all(inventory.hosts.iter().map(|host| {
        let lines = lines.clone();
        async move {
            let docker = observe::connect(host)
                .await
                .map_err(|error| error.to_string())?;
            let containers = list(project, &docker)
                .await
                .map_err(|error| format!("{}: {}", host.name, docker_message(&error)))?;
            let streams = containers
                .into_iter()
                .filter(|summary| {
                    options.services.is_empty()
                        || options.services.contains(&label(summary, LABEL_SERVICE))
                })
                .filter(|summary| {
                    options
                        .index
                        .is_none_or(|index| label(summary, LABEL_REPLICA) == index.to_string())
                })
                .map(|summary| {
                    let docker = docker.clone();
                    let lines = lines.clone();
                    let service = label(&summary, LABEL_SERVICE);
                    let replica = label(&summary, LABEL_REPLICA);
                    let source = format!("{service}-{replica}@{}", host.name);
                    let container = name(&summary);
                    let host_name = host.name.clone();
                    let mut builder = LogsOptionsBuilder::default()
                        .stdout(true)
                        .stderr(true)
                        .follow(options.follow)
                        .timestamps(options.timestamps);
                    if let Some(tail) = options.tail {
                        builder = builder.tail(&tail.to_string());
                    }
                    if let Some(since) = options.since {
                        builder = builder.since(i32::try_from(since).unwrap_or(i32::MAX));
                    }
                    if let Some(until) = options.until {
                        builder = builder.until(i32::try_from(until).unwrap_or(i32::MAX));
                    }
                    let log_options = builder.build();
                    async move {
                        let mut stream = docker.logs(&container, Some(log_options));
                        let mut partial: HashMap<&'static str, String> = HashMap::new();
                        while let Some(Ok(chunk)) = stream.next().await {
                            let kind = match chunk {
                                bollard::container::LogOutput::StdErr { .. } => "stderr",
                                _ => "stdout",
                            };
                            let text = String::from_utf8_lossy(&chunk.into_bytes()).into_owned();
                            let buffer = partial.entry(kind).or_default();
                            buffer.push_str(&text);
                            while let Some(end) = buffer.find('\n') {
                                let line: String = buffer.drain(..=end).collect();
                                let sent = lines
                                    .send(LogLine {
                                        source: source.clone(),
                                        service: service.clone(),
                                        host: host_name.clone(),
                                        stream: kind.to_string(),
                                        line: line.trim_end_matches(['\n', '\r']).to_string(),
                                    })
                                    .await;
                                if sent.is_err() {
                                    return;
                                }
                            }
                        }
                        for (kind, rest) in partial {
                            if !rest.is_empty() {
                                let _ = lines
                                    .send(LogLine {
                                        source: source.clone(),
                                        service: service.clone(),
                                        host: host_name.clone(),
                                        stream: kind.to_string(),
                                        line: rest,
                                    })
                                    .await;
                            }
                        }
                    }
                });
            join_all(streams).await;
            Ok::<(), String>(())
        }
    }))
    .await;
    drop(lines);
    results.into_iter().filter_map(Result::err).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn health_is_read_from_the_status_text() {
        assert_eq!(health_from_status("Up 3 minutes (healthy)"), "healthy");
        assert_eq!(
            health_from_status("Up 1 second (health: starting)"),
            "starting"
        );
        assert_eq!(health_from_status("Up 2 hours (unhealthy)"), "unhealthy");
        assert_eq!(health_from_status("Exited (0) 1 minute ago"), "");
    }
}
