//! One-off containers (`nap run`): a container of a service that is not one of its replicas,
//! placed beside them, on the service's networks with an address of its own and the name table
//! of its view, labelled [`LABEL_ONE_OFF`] so that no later deployment counts it as a replica
//! (observe keeps it apart, in [`ObservedState::one_offs`]) and `down` removes it.
//!
//! Its host is the one the user names (`--host`), which must satisfy the service's placement
//! constraints, or else the least busy host that already runs a replica of the service (its
//! networks, volumes and image are there), or else the least busy host the constraints allow.
//! A service with state (a named volume, a writable bind mount) runs its one-off where replica
//! 1's state is, whose volume it mounts; `--host` elsewhere is refused.
//! No peer's table lists it, as no service name resolves to a `docker compose run` container.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::compose::Project;
use crate::inventory::Inventory;
use crate::plan::{
    DesiredContainer, LABEL_CONFIG_HASH, LABEL_HOST, LABEL_ONE_OFF, LABEL_PROJECT, LABEL_REPLICA,
    LABEL_SERVICE, PlanError, config_hash,
};
use crate::scheduler::Constraint;

use super::host_specs;
use super::state::{is_stateless_path, replica_volume};

/// A one-off container to add to a deployment's desired state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OneOff {
    /// Its service.
    pub service: String,
    /// Its container name (`<project>-<service>-run-<id>`, or `--name`).
    pub name: String,
    /// The inventory host it must run on (`--host`); `None`: nap chooses.
    pub host: Option<String>,
}

/// Whether a container carries the one-off label.
pub fn is_one_off(labels: &BTreeMap<String, String>) -> bool {
    labels
        .get(LABEL_ONE_OFF)
        .is_some_and(|value| value == "true")
}

/// The one-off container `one_off` asks for, placed among `containers` (the replicas already
/// placed, which it does not change). Networks and name table are set later, with the rest.
pub(super) fn place(
    project: &Project,
    inventory: &Inventory,
    containers: &[DesiredContainer],
    one_off: &OneOff,
) -> Result<DesiredContainer, PlanError> {
    let error = |message: String| PlanError::Service {
        service: one_off.service.clone(),
        message,
    };
    let service = project
        .services
        .get(&one_off.service)
        .ok_or_else(|| error("not in the project".to_string()))?;
    let constraints = service
        .constraints()
        .iter()
        .map(|text| Constraint::parse(text).map_err(|e| error(e.to_string())))
        .collect::<Result<Vec<_>, _>>()?;
    let hosts = host_specs(inventory);
    let allowed: Vec<&str> = hosts
        .iter()
        .filter(|host| constraints.iter().all(|c| c.is_satisfied_by(host)))
        .map(|host| host.name.as_str())
        .collect();
    let load = |host: &str| containers.iter().filter(|c| c.host == host).count();
    // The one-off mounts replica 1's state (its volume is named as replica 1's): it runs where
    // that state is, never beside an empty copy of it.
    let state = service.volumes.iter().find_map(|mount| {
        let source = mount.source.as_deref()?;
        let stateful = match mount.kind.as_str() {
            "volume" => replica_volume(project, source, 1).is_some(),
            "bind" => !mount.read_only && !is_stateless_path(source),
            _ => false,
        };
        stateful.then_some(source)
    });
    let state_host = state.and_then(|_| {
        containers
            .iter()
            .find(|c| c.service == one_off.service && c.replica == 1)
            .map(|c| c.host.as_str())
    });
    let host = match &one_off.host {
        Some(name) if state_host.is_some_and(|holder| holder != name) => {
            return Err(error(format!(
                "--host {name:?}: the service's state ({}) is on host {:?}; a one-off runs where it is",
                state.unwrap_or_default(),
                state_host.unwrap_or_default()
            )));
        }
        None if state_host.is_some() => state_host.unwrap_or_default().to_string(),
        Some(name) => {
            if inventory.host(name).is_none() {
                return Err(error(format!(
                    "--host {name:?} is not in the inventory (its hosts: {})",
                    hosts
                        .iter()
                        .map(|h| h.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
            if !allowed.contains(&name.as_str()) {
                return Err(error(format!(
                    "--host {name:?} does not satisfy the service's placement constraints ({})",
                    service.constraints().join(", ")
                )));
            }
            name.clone()
        }
        None => {
            let running: Vec<&str> = allowed
                .iter()
                .copied()
                .filter(|host| {
                    containers
                        .iter()
                        .any(|c| c.service == one_off.service && c.host == *host)
                })
                .collect();
            let candidates = if running.is_empty() {
                &allowed
            } else {
                &running
            };
            // Least busy first; inventory order breaks ties.
            candidates
                .iter()
                .min_by_key(|host| load(host))
                .ok_or_else(|| {
                    error(format!(
                        "no host of the inventory satisfies the placement constraints ({})",
                        service.constraints().join(", ")
                    ))
                })?
                .to_string()
        }
    };
    let config_hash = config_hash(service);
    let labels = BTreeMap::from([
        (LABEL_PROJECT.to_string(), project.name.clone()),
        (LABEL_SERVICE.to_string(), one_off.service.clone()),
        (LABEL_REPLICA.to_string(), "1".to_string()),
        (LABEL_HOST.to_string(), host.clone()),
        (LABEL_CONFIG_HASH.to_string(), config_hash.clone()),
        (LABEL_ONE_OFF.to_string(), "true".to_string()),
    ]);
    Ok(DesiredContainer {
        name: one_off.name.clone(),
        service: one_off.service.clone(),
        replica: 1,
        host,
        config_hash,
        image: service.image_name(&project.name, &one_off.service),
        networks: Vec::new(),
        extra_hosts: Arc::from(Vec::new()),
        service_extra_hosts: service.extra_hosts.clone(),
        hosts_file: None,
        labels,
    })
}
