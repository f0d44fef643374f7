//! Read-only questions across hosts for `nap top`, `nap images` and `nap ls`: every host is
//! asked at once; a host that does not answer is an error naming it, never a silent gap.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use bollard::query_parameters::ListContainersOptionsBuilder;
use futures_util::future::join_all;
use nap_core::inventory::Inventory;
use nap_core::plan::{LABEL_PROJECT, LABEL_REPLICA, LABEL_SERVICE};
use serde::Serialize;

use crate::observe::{self, ObserveError};
use crate::status::{label, name};

/// The processes of one container (`nap top`).
#[derive(Debug, Clone, Serialize)]
pub struct Top {
    /// Container name.
    pub container: String,
    /// Its host.
    pub host: String,
    /// `ps`'s column titles.
    pub titles: Vec<String>,
    /// One row per process.
    pub processes: Vec<Vec<String>>,
}

/// One image a project's container runs (`nap images`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImageRow {
    /// Container name.
    pub container: String,
    /// Service.
    pub service: String,
    /// Host.
    pub host: String,
    /// The image as the container names it (`nginx:1.27`).
    pub image: String,
    /// The image's id on that host.
    pub id: String,
    /// Its size in bytes, as the host reports it.
    pub size: i64,
}

/// One project nap finds on the inventory's hosts (`nap ls`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProjectRow {
    /// The project name (the `nap.project` label).
    pub name: String,
    /// Containers by state, `running(3), exited(1)`.
    pub status: String,
    /// The hosts that hold its containers.
    pub hosts: Vec<String>,
}

/// Why a question could not be answered.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// A host did not answer.
    #[error(transparent)]
    Observe(#[from] ObserveError),
    /// A host answered the listing but not the question.
    #[error("host {host:?}: {source}")]
    Docker {
        /// The host.
        host: String,
        /// What Docker said.
        #[source]
        source: bollard::errors::Error,
    },
}

/// Containers labelled with `project` (or with any project when `None`), on every host.
async fn listed(
    inventory: &Inventory,
    project: Option<&str>,
) -> Result<
    Vec<(
        String,
        bollard::Docker,
        Vec<bollard::models::ContainerSummary>,
    )>,
    QueryError,
> {
    let clients = observe::connect_all(inventory).await?;
    let label = match project {
        Some(project) => format!("{LABEL_PROJECT}={project}"),
        None => LABEL_PROJECT.to_string(),
    };
    let filters = HashMap::from([("label".to_string(), vec![label])]);
    let options = ListContainersOptionsBuilder::default()
        .all(true)
        .filters(&filters)
        .build();
    let results = join_all(clients.iter().map(|(host, docker)| {
        let options = options.clone();
        async move {
            docker
                .list_containers(Some(options))
                .await
                .map(|list| (host.clone(), docker.clone(), list))
                .map_err(|source| QueryError::Docker {
                    host: host.clone(),
                    source,
                })
        }
    }))
    .await;
    results.into_iter().collect()
}

/// The processes of the project's running containers of `services` (all when empty).
pub async fn top(
    project: &str,
    inventory: &Inventory,
    services: &[String],
) -> Result<Vec<Top>, QueryError> {
    let hosts = listed(inventory, Some(project)).await?;
    let mut asks = Vec::new();
    for (host, docker, containers) in &hosts {
        for summary in containers {
            let service = label(summary, LABEL_SERVICE);
            let running = summary
                .state
                .as_ref()
                .is_some_and(|state| state.to_string() == "running");
            if running && (services.is_empty() || services.contains(&service)) {
                let replica: u32 = label(summary, LABEL_REPLICA).parse().unwrap_or(0);
                asks.push((
                    service,
                    replica,
                    host.clone(),
                    docker.clone(),
                    name(summary),
                ));
            }
        }
    }
    asks.sort_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
    let answers = join_all(
        asks.into_iter()
            .map(|(_, _, host, docker, container)| async move {
                let answer = docker
                    .top_processes(&container, None::<bollard::query_parameters::TopOptions>)
                    .await
                    .map_err(|source| QueryError::Docker {
                        host: host.clone(),
                        source,
                    })?;
                Ok::<_, QueryError>(Top {
                    container,
                    host,
                    titles: answer.titles.unwrap_or_default(),
                    processes: answer.processes.unwrap_or_default(),
                })
            }),
    )
    .await;
    answers.into_iter().collect()
}

/// The images of the project's containers, with their id and size on each host.
pub async fn images(project: &str, inventory: &Inventory) -> Result<Vec<ImageRow>, QueryError> {
    let hosts = listed(inventory, Some(project)).await?;
    let mut rows = Vec::new();
    for (host, docker, containers) in &hosts {
        let ids: BTreeSet<String> = containers
            .iter()
            .filter_map(|summary| summary.image_id.clone())
            .collect();
        let sizes: HashMap<String, i64> = join_all(ids.into_iter().map(|id| async move {
            let size = docker
                .inspect_image(&id)
                .await
                .ok()
                .and_then(|image| image.size)
                .unwrap_or(0);
            (id, size)
        }))
        .await
        .into_iter()
        .collect();
        for summary in containers {
            let id = summary.image_id.clone().unwrap_or_default();
            rows.push(ImageRow {
                container: name(summary),
                service: label(summary, LABEL_SERVICE),
                host: host.clone(),
                image: summary.image.clone().unwrap_or_default(),
                size: sizes.get(&id).copied().unwrap_or(0),
                id,
            });
        }
    }
    rows.sort_by(|a, b| (&a.service, &a.container).cmp(&(&b.service, &b.container)));
    Ok(rows)
}

/// Every project with containers on the inventory's hosts (with `all`, also those with no
/// running container).
pub async fn projects(inventory: &Inventory, all: bool) -> Result<Vec<ProjectRow>, QueryError> {
    let hosts = listed(inventory, None).await?;
    let mut states: BTreeMap<String, BTreeMap<String, usize>> = BTreeMap::new();
    let mut where_: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (host, _, containers) in &hosts {
        for summary in containers {
            let project = label(summary, LABEL_PROJECT);
            let state = summary
                .state
                .as_ref()
                .map(|state| state.to_string())
                .unwrap_or_default();
            *states
                .entry(project.clone())
                .or_default()
                .entry(state)
                .or_default() += 1;
            where_.entry(project).or_default().insert(host.clone());
        }
    }
    Ok(states
        .into_iter()
        .filter(|(_, by_state)| all || by_state.contains_key("running"))
        .map(|(name, by_state)| ProjectRow {
            status: by_state
                .iter()
                .map(|(state, count)| format!("{state}({count})"))
                .collect::<Vec<_>>()
                .join(", "),
            hosts: where_
                .remove(&name)
                .unwrap_or_default()
                .into_iter()
                .collect(),
            name,
        })
        .collect())
}

/// One container event of the project, from one host (`nap events`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ContainerEvent {
    /// When, as the host's daemon reports it (Unix seconds).
    pub time: i64,
    /// The host.
    pub host: String,
    /// Service.
    pub service: String,
    /// Container name.
    pub container: String,
    /// Docker's action (`create`, `start`, `die`, `stop`, `health_status: healthy`…).
    pub action: String,
    /// Container id.
    pub id: String,
}

/// Streams the project's container events from every host into `sender` until the receiver
/// is dropped; a host whose stream fails is reported on `sender`'s side by the returned
/// errors once every stream has ended.
pub async fn events(
    project: &str,
    inventory: &Inventory,
    sender: tokio::sync::mpsc::Sender<ContainerEvent>,
) -> Result<Vec<String>, QueryError> {
    use futures_util::StreamExt;
    let clients = observe::connect_all(inventory).await?;
    let filters = HashMap::from([
        ("type".to_string(), vec!["container".to_string()]),
        (
            "label".to_string(),
            vec![format!("{LABEL_PROJECT}={project}")],
        ),
    ]);
    let options = bollard::query_parameters::EventsOptionsBuilder::default()
        .filters(&filters)
        .build();
    let streams: Vec<_> = clients
        .iter()
        .map(|(host, docker)| {
            let (sender, options) = (sender.clone(), options.clone());
            async move {
                let mut stream = docker.events(Some(options));
                while let Some(event) = stream.next().await {
                    let event = match event {
                        Ok(event) => event,
                        Err(error) => return Err(format!("host {host:?}: {error}")),
                    };
                    let attributes = event
                        .actor
                        .as_ref()
                        .and_then(|actor| actor.attributes.clone())
                        .unwrap_or_default();
                    let sent = sender
                        .send(ContainerEvent {
                            time: event.time.unwrap_or(0),
                            host: host.clone(),
                            service: attributes.get(LABEL_SERVICE).cloned().unwrap_or_default(),
                            container: attributes.get("name").cloned().unwrap_or_default(),
                            action: event.action.clone().unwrap_or_default(),
                            id: event.actor.and_then(|actor| actor.id).unwrap_or_default(),
                        })
                        .await;
                    if sent.is_err() {
                        return Ok(());
                    }
                }
                Ok(())
            }
        })
        .collect();
    drop(sender);
    let ended = join_all(streams).await;
    Ok(ended.into_iter().filter_map(Result::err).collect())
}
