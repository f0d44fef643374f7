//! Observing hosts: connects to each host's Docker API and reads what it holds into the core's
//! [`ObservedState`]: the project's containers (by their `nap.project` label, with each
//! container's addresses, image and `nap.hosts-file` label, from the listing alone: nothing is
//! inspected), every network with its subnet and gateway, volumes and images. One-off containers
//! (`nap run`) are kept apart from the replicas, in [`ObservedState::one_offs`].
//!
//! All hosts are asked concurrently. This module only reads; it never changes a host.

use std::collections::{BTreeMap, HashMap};
use std::net::Ipv4Addr;

use bollard::Docker;
use bollard::query_parameters::{
    ListContainersOptionsBuilder, ListImagesOptions, ListNetworksOptions, ListVolumesOptions,
};
use futures_util::future::join_all;
use nap_core::build::LABEL_BUILD_HASH;
use nap_core::inventory::{Host, Inventory, Ipv4Cidr};
use nap_core::plan::{
    LABEL_CONFIG_HASH, LABEL_HOSTS_FILE, LABEL_ONE_OFF, LABEL_PROJECT, LABEL_REPLICA,
    LABEL_SERVICE, ObservedContainer, ObservedImage, ObservedNetwork, ObservedState,
};

/// How much to read of each container. Both read the listings alone (a container's
/// hosts file is its `nap.hosts-file` label); kept so a verb says what it needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detail {
    /// What a deployment reconciles against.
    WithExtraHosts,
    /// What removing the project needs (`down`).
    Listing,
}

/// A host that could not be observed.
#[derive(Debug, thiserror::Error)]
#[error("host {host:?} ({endpoint}): {message}")]
pub struct HostError {
    /// The inventory host.
    pub host: String,
    /// Its Docker endpoint.
    pub endpoint: String,
    /// What went wrong.
    pub message: String,
}

/// Hosts that could not be observed, each named.
#[derive(Debug, thiserror::Error)]
#[error("{} unreachable: {}", if .0.len() == 1 { "a host is" } else { "hosts are" }, .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
pub struct ObserveError(pub Vec<HostError>);

/// An error with its causes (`client error (Connect): invalid peer certificate: UnknownIssuer`),
/// so a refused TLS certificate or a closed port says why.
pub fn with_causes(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// Every Docker client comes from [`crate::docker::connect`]; re-exported here for callers.
pub use crate::docker::connect;

/// The exit code Docker prints in a container's status (`Exited (3) 2 minutes ago`).
fn exit_code_from_status(status: &str) -> Option<i64> {
    let rest = status.strip_prefix("Exited (")?;
    rest.split(')').next()?.parse().ok()
}

fn text<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

/// Reads one host.
pub async fn observe_host(
    project: &str,
    host: &Host,
    docker: &Docker,
    _detail: Detail,
) -> Result<ObservedState, HostError> {
    let error = |what: &str, e: bollard::errors::Error| HostError {
        host: host.name.clone(),
        endpoint: host.docker.to_string(),
        message: format!("{what}: {}", with_causes(&e)),
    };
    let filters = HashMap::from([(
        "label".to_string(),
        vec![format!("{LABEL_PROJECT}={project}")],
    )]);
    let options = ListContainersOptionsBuilder::default()
        .all(true)
        .filters(&filters)
        .build();
    let (containers, networks, volumes, images) = tokio::join!(
        docker.list_containers(Some(options)),
        docker.list_networks(None::<ListNetworksOptions>),
        docker.list_volumes(None::<ListVolumesOptions>),
        docker.list_images(None::<ListImagesOptions>),
    );
    let containers = containers.map_err(|e| error("listing containers", e))?;
    let networks = networks.map_err(|e| error("listing networks", e))?;
    let volumes = volumes.map_err(|e| error("listing volumes", e))?;
    let images = images.map_err(|e| error("listing images", e))?;

    let mut state = ObservedState::default();
    for summary in containers {
        let labels = summary.labels.clone().unwrap_or_default();
        let name = summary
            .names
            .as_ref()
            .and_then(|names| names.first())
            .map(|name| name.trim_start_matches('/').to_string())
            .unwrap_or_default();
        let addresses: BTreeMap<String, Ipv4Addr> = summary
            .network_settings
            .as_ref()
            .and_then(|settings| settings.networks.as_ref())
            .map(|networks| {
                networks
                    .iter()
                    .filter_map(|(network, endpoint)| {
                        let address = endpoint.ip_address.as_deref()?.parse().ok()?;
                        Some((network.clone(), address))
                    })
                    .collect()
            })
            .unwrap_or_default();
        let status = summary.status.clone().unwrap_or_default();
        let one_off = labels.get(LABEL_ONE_OFF).map(String::as_str) == Some("true");
        let list = if one_off {
            &mut state.one_offs
        } else {
            &mut state.containers
        };
        list.push(ObservedContainer {
            host: host.name.clone(),
            id: summary.id.clone().unwrap_or_default(),
            name,
            service: labels.get(LABEL_SERVICE).cloned().unwrap_or_default(),
            replica: labels
                .get(LABEL_REPLICA)
                .and_then(|replica| replica.parse().ok())
                .unwrap_or(0),
            config_hash: labels.get(LABEL_CONFIG_HASH).cloned().unwrap_or_default(),
            state: summary.state.as_ref().map(text).unwrap_or_default(),
            exit_code: exit_code_from_status(&status),
            addresses,
            image: summary.image.clone().unwrap_or_default(),
            // Only a name nap makes: the label names a file on the host.
            hosts_file: labels
                .get(LABEL_HOSTS_FILE)
                .filter(|file| nap_core::hosts_file::is_view_file_name(file))
                .cloned(),
        });
    }
    for network in networks {
        let subnet = network
            .ipam
            .as_ref()
            .and_then(|ipam| ipam.config.as_ref())
            .and_then(|configs| {
                configs
                    .iter()
                    .find_map(|config| Ipv4Cidr::parse(config.subnet.as_deref()?).ok())
            });
        let gateway = network
            .ipam
            .as_ref()
            .and_then(|ipam| ipam.config.as_ref())
            .and_then(|configs| {
                configs
                    .iter()
                    .find_map(|config| config.gateway.as_deref()?.parse().ok())
            });
        state.networks.push(ObservedNetwork {
            host: host.name.clone(),
            name: network.name.unwrap_or_default(),
            subnet,
            gateway,
            project: network
                .labels
                .and_then(|labels| labels.get(LABEL_PROJECT).cloned()),
        });
    }
    for volume in volumes.volumes.unwrap_or_default() {
        if volume.labels.get(LABEL_PROJECT).map(String::as_str) == Some(project) {
            state
                .project_volumes
                .insert((host.name.clone(), volume.name.clone()));
        }
        state.volumes.insert((host.name.clone(), volume.name));
    }
    for image in images {
        let details = ObservedImage {
            id: image.id.clone(),
            build_hash: image.labels.get(LABEL_BUILD_HASH).cloned(),
        };
        for tag in image.repo_tags {
            // `shop-web` is `shop-web:latest`: a reference written without a tag finds it.
            if let Some(name) = tag.strip_suffix(":latest") {
                state
                    .image_details
                    .insert((host.name.clone(), name.to_string()), details.clone());
            }
            state
                .image_details
                .insert((host.name.clone(), tag.clone()), details.clone());
            state.images.insert((host.name.clone(), tag));
        }
    }
    state
        .containers
        .sort_by(|a, b| (&a.host, &a.name).cmp(&(&b.host, &b.name)));
    Ok(state)
}

/// Every host's Docker client, connected concurrently; fails naming each host that did not
/// answer.
pub async fn connect_all(inventory: &Inventory) -> Result<Vec<(String, Docker)>, ObserveError> {
    let results = join_all(inventory.hosts.iter().map(connect)).await;
    let mut clients = Vec::new();
    let mut errors: Vec<HostError> = Vec::new();
    for (host, result) in inventory.hosts.iter().zip(results) {
        match result {
            Ok(docker) => clients.push((host.name.clone(), docker)),
            Err(error) => errors.push(error),
        }
    }
    if errors.is_empty() {
        Ok(clients)
    } else {
        Err(ObserveError(errors))
    }
}

/// Reads every connected host.
pub async fn observe_connected(
    project: &str,
    inventory: &Inventory,
    clients: &[(String, Docker)],
    detail: Detail,
) -> Result<ObservedState, ObserveError> {
    let results = join_all(clients.iter().map(|(name, docker)| async move {
        let host = inventory
            .host(name)
            .expect("clients come from the inventory");
        observe_host(project, host, docker, detail).await
    }))
    .await;
    let mut state = ObservedState::default();
    let mut errors = Vec::new();
    for result in results {
        match result {
            Ok(host_state) => state.merge(host_state),
            Err(error) => errors.push(error),
        }
    }
    if errors.is_empty() {
        Ok(state)
    } else {
        Err(ObserveError(errors))
    }
}

/// A replica of a service, found on whichever host holds it, with that host's client.
#[derive(Debug)]
pub struct FoundReplica {
    /// The container.
    pub container: ObservedContainer,
    /// Its host's Docker client.
    pub docker: Docker,
}

/// Why a replica was not found.
#[derive(Debug, thiserror::Error)]
pub enum FindReplicaError {
    /// A host did not answer, so the replica cannot be found for sure.
    #[error(transparent)]
    Observe(#[from] ObserveError),
    /// No such replica; the message names the ones there are.
    #[error("{0}")]
    Missing(String),
}

/// Replica `index` of `service` in `project`, asked of every host (the labels say where it
/// runs): the one lookup of `nap exec` and `nap cp`.
pub async fn find_replica(
    project: &str,
    inventory: &Inventory,
    service: &str,
    index: u32,
) -> Result<FoundReplica, FindReplicaError> {
    let clients = connect_all(inventory).await?;
    let observed = observe_connected(project, inventory, &clients, Detail::Listing).await?;
    let replicas: Vec<&ObservedContainer> = observed
        .containers
        .iter()
        .filter(|container| container.service == service)
        .collect();
    let Some(target) = replicas.iter().find(|container| container.replica == index) else {
        let known: Vec<String> = replicas
            .iter()
            .map(|c| format!("{} on {}", c.replica, c.host))
            .collect();
        return Err(FindReplicaError::Missing(if replicas.is_empty() {
            format!(
                "service {service:?} has no container in project {project:?} (run nap up first)"
            )
        } else {
            format!(
                "service {service:?} has no replica {index} (it has {})",
                known.join(", ")
            )
        }));
    };
    let docker = clients
        .iter()
        .find(|(host, _)| *host == target.host)
        .map(|(_, docker)| docker.clone())
        .expect("observed containers come from connected hosts");
    Ok(FoundReplica {
        container: (*target).clone(),
        docker,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_from_status() {
        assert_eq!(exit_code_from_status("Exited (0) 3 seconds ago"), Some(0));
        assert_eq!(
            exit_code_from_status("Exited (137) About a minute ago"),
            Some(137)
        );
        assert_eq!(exit_code_from_status("Up 2 minutes"), None);
    }
}
