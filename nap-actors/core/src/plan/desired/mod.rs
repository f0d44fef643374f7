//! The desired state: a project and an inventory turned into containers placed on hosts
//! (by the scheduler), project networks with a subnet per host, a fixed address for every
//! container, the name table every container resolves and the hosts files (one per host and
//! view) that hold those tables.

mod addressing;
pub mod name_table;
pub mod one_off;
pub(crate) mod state;

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::sync::Arc;

use serde::Serialize;

use crate::compose::{DependsOnCondition, Project, Service};
use crate::graph::DependencyGraph;
use crate::inventory::{Inventory, Ipv4Cidr, NetworkMode};
use crate::plan::{
    LABEL_CONFIG_HASH, LABEL_HOST, LABEL_PROJECT, LABEL_REPLICA, LABEL_SERVICE, ObservedState,
    PlanError, RolloutPolicy, config_hash, container_name, replica_volume_name, rollout_policy,
};
use crate::scheduler::{
    self, Constraint, HostSpec, PlacementPolicy, PublishedPort, Resources, ScheduleInput,
    ServiceDemand, Strategy,
};
use crate::units;
use name_table::HostEntry;

/// A service's attachment of one container to one Docker network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NetworkAttachment {
    /// The project network key (`default`, `back`).
    pub key: String,
    /// The Docker network name (`demo_default`).
    pub network: String,
    /// The fixed address (routed mode).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ipv4_address: Option<Ipv4Addr>,
    /// DNS aliases on the network (the service name and the network's aliases).
    pub aliases: Vec<String>,
}

/// A container the project wants: where it runs and how it is wired.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DesiredContainer {
    /// Container name.
    pub name: String,
    /// Service.
    pub service: String,
    /// Replica number, from 1.
    pub replica: u32,
    /// Inventory host.
    pub host: String,
    /// [`config_hash`] of the service.
    pub config_hash: String,
    /// The image reference.
    pub image: String,
    /// Networks, with fixed addresses in routed mode.
    pub networks: Vec<NetworkAttachment>,
    /// The complete name table of its view, empty in local mode. Shared: every container
    /// with the same view (host, networks, links) resolves the same table.
    pub extra_hosts: Arc<[HostEntry]>,
    /// The service's own `extra_hosts` (`name:address`), written into its hosts file before
    /// the name table.
    pub service_extra_hosts: Vec<String>,
    /// The name of the hosts file nap keeps for its view on its host
    /// ([`hosts_file::view_file_name`](crate::hosts_file::view_file_name)), bind-mounted
    /// read-only at `/etc/hosts`; `None` in local mode and for containers without a network
    /// namespace of their own on project networks (`network_mode: host`, `none`).
    pub hosts_file: Option<String>,
    /// The `nap.*` labels it is created with.
    pub labels: BTreeMap<String, String>,
}

/// One hosts file nap keeps on a host: for every container of one view there (same
/// networks, links and service `extra_hosts`), bind-mounted read-only at `/etc/hosts`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DesiredHostsFile {
    /// Inventory host.
    pub host: String,
    /// The file's name in the project's folder ([`crate::hosts_file::folder`]).
    pub file: String,
    /// The name table (shared with the containers of the view).
    #[serde(skip)]
    pub table: Arc<[HostEntry]>,
    /// The service's own `extra_hosts` (`name:address` or `name:host-gateway`).
    pub extra_hosts: Vec<String>,
    /// The address `host-gateway` stands for on this host: the gateway of its daemon's
    /// default `bridge` network, as observed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host_gateway: Option<Ipv4Addr>,
}

/// A project network on one host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DesiredNetwork {
    /// Inventory host.
    pub host: String,
    /// The project network key.
    pub key: String,
    /// Docker network name.
    pub name: String,
    /// The subnet (routed mode).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subnet: Option<Ipv4Cidr>,
    /// Docker network driver.
    pub driver: String,
}

/// A route another host's containers are reached by.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Route {
    /// The other host's subnet.
    pub subnet: Ipv4Cidr,
    /// The other host's address.
    pub via: String,
}

/// An image a `build:` service runs, and where it is built.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DesiredBuild {
    /// The service.
    pub service: String,
    /// The image it is built as (`<project>-<service>`, or its `image:`).
    pub image: String,
    /// The host it is built on ([`Inventory::builder`]).
    pub host: String,
    /// The content hash of its context, when the runtime computed it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub context_hash: Option<String>,
}

/// Everything the project wants, placed and addressed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DesiredState {
    /// Project name.
    pub project: String,
    /// Network mode.
    pub mode: NetworkMode,
    /// Containers, by service then replica.
    pub containers: Vec<DesiredContainer>,
    /// Networks, by host then key.
    pub networks: Vec<DesiredNetwork>,
    /// Named volumes needed on each host, as (host, Docker volume name).
    pub volumes: BTreeSet<(String, String)>,
    /// Routes each host needs to the other hosts' subnets (routed mode), by host.
    pub routes: BTreeMap<String, Vec<Route>>,
    /// The routed pool (routed mode).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pool: Option<Ipv4Cidr>,
    /// For each service, what its containers must reach before dependents start.
    #[serde(skip)]
    pub dependencies: BTreeMap<String, Vec<(String, DependsOnCondition)>>,
    /// Every service, each after the services it depends on (the dependency graph's layers,
    /// names sorted within a layer).
    #[serde(skip)]
    pub start_order: Vec<String>,
    /// Services whose containers run once and exit (`restart: no` or unset, and some
    /// dependent waits for `service_completed_successfully`).
    #[serde(skip)]
    pub one_shot_services: BTreeSet<String>,
    /// Rollout policies of services that have a `deploy.update_config`.
    pub rollouts: BTreeMap<String, RolloutPolicy>,
    /// The hosts files every host needs, by host then file name (empty in local mode).
    #[serde(skip)]
    pub hosts_files: Vec<DesiredHostsFile>,
    /// The images of `build:` services, by service.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub builds: Vec<DesiredBuild>,
}

/// An `x-nap.strategy` that is neither `spread` nor `binpack`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("x-nap.strategy {0:?} is not spread or binpack")]
struct UnknownStrategy(String);

/// `x-nap` service settings.
fn service_strategy(service: &Service) -> Result<Option<Strategy>, UnknownStrategy> {
    let Some(settings) = service.extensions.get("x-nap") else {
        return Ok(None);
    };
    match settings.get("strategy").and_then(|value| value.as_str()) {
        None => Ok(None),
        Some("spread") => Ok(Some(Strategy::Spread)),
        Some("binpack") => Ok(Some(Strategy::Binpack)),
        Some(other) => Err(UnknownStrategy(other.to_string())),
    }
}

fn service_demand(
    name: &str,
    service: &Service,
    hosts: &[HostSpec],
) -> Result<ServiceDemand, PlanError> {
    let error = |message: String| PlanError::Service {
        service: name.to_string(),
        message,
    };
    let constraints = service
        .constraints()
        .iter()
        .map(|text| Constraint::parse(text).map_err(|e| error(e.to_string())))
        .collect::<Result<Vec<_>, _>>()?;
    let replicas = if service.is_global() {
        let eligible = hosts
            .iter()
            .filter(|host| constraints.iter().all(|c| c.is_satisfied_by(host)))
            .count();
        u32::try_from(eligible).unwrap_or(u32::MAX)
    } else {
        service.replicas()
    };
    let published_ports = service
        .ports
        .iter()
        .filter_map(|port| {
            port.fixed_published_port().map(|number| PublishedPort {
                host_ip: port.host_ip.clone(),
                port: number,
                protocol: port.protocol.clone(),
            })
        })
        .collect();
    let mut reservation = Resources::default();
    if let Some(reserved) = service
        .deploy
        .as_ref()
        .and_then(|deploy| deploy.resources.as_ref())
        .and_then(|resources| resources.reservations.as_ref())
    {
        if let Some(cpus) = &reserved.cpus {
            reservation.nano_cpus =
                units::parse_nano_cpus(cpus).map_err(|e| error(e.to_string()))?;
        }
        if let Some(memory) = &reserved.memory {
            reservation.memory_bytes =
                units::parse_bytes(memory).map_err(|e| error(e.to_string()))?;
        }
    }
    Ok(ServiceDemand {
        name: name.to_string(),
        replicas,
        constraints,
        published_ports,
        reservation,
        strategy: service_strategy(service).map_err(|e| error(e.to_string()))?,
        colocate_with: service.colocated_with().map(str::to_string),
        state_pins: BTreeMap::new(),
    })
}

/// The scheduler's view of the inventory's hosts.
pub fn host_specs(inventory: &Inventory) -> Vec<HostSpec> {
    inventory
        .hosts
        .iter()
        .map(|host| HostSpec {
            name: host.name.clone(),
            labels: host.labels.clone(),
            capacity: host.capacity,
        })
        .collect()
}

/// Places and addresses every container of `project` on `inventory`'s hosts, keeping what
/// `observed` already runs where it still fits.
pub fn desired_state(
    project: &Project,
    inventory: &Inventory,
    observed: &ObservedState,
    policy: &mut dyn PlacementPolicy,
) -> Result<DesiredState, PlanError> {
    desired_state_with_one_off(project, inventory, observed, policy, None)
}

/// [`desired_state`] with, when `one_off` is given, that one-off container (`nap run`) placed
/// beside the replicas (see [`one_off`]), addressed and given its view's name table; no
/// replica's table lists it.
pub fn desired_state_with_one_off(
    project: &Project,
    inventory: &Inventory,
    observed: &ObservedState,
    policy: &mut dyn PlacementPolicy,
    one_off: Option<&one_off::OneOff>,
) -> Result<DesiredState, PlanError> {
    let mut rollouts = BTreeMap::new();
    for (name, service) in &project.services {
        if let Some(policy) = rollout_policy(name, service)? {
            rollouts.insert(name.clone(), policy);
        }
    }
    let placements = placements(project, inventory, observed, policy)?;
    let mode = inventory.network.mode;
    let pool = inventory.network.pool;
    let mut containers = placed_containers(project, &placements);
    if let Some(one_off) = one_off {
        let container = one_off::place(project, inventory, &containers, one_off)?;
        containers.push(container);
    }
    let networks = addressing::project_networks(project, inventory, observed, &containers)?;
    addressing::attach_networks(project, observed, &rollouts, &networks, &mut containers)?;
    let hosts_files = if matches!(mode, NetworkMode::Routed | NetworkMode::Published) {
        name_table::set_name_tables(project, inventory, observed, &mut containers)
    } else {
        Vec::new()
    };
    let volumes = named_volumes(project, &containers);
    let routes = addressing::routes(inventory, &networks);
    let dependencies = dependencies(project)?;
    let builds = match inventory.builder() {
        Some(builder) => project
            .services
            .iter()
            .filter_map(|(name, service)| {
                Some(DesiredBuild {
                    service: name.clone(),
                    image: service.image_name(&project.name, name),
                    host: builder.name.clone(),
                    context_hash: service.build.as_ref()?.context_hash.clone(),
                })
            })
            .collect(),
        None => Vec::new(),
    };
    Ok(DesiredState {
        project: project.name.clone(),
        mode,
        containers,
        networks,
        volumes,
        routes,
        pool: (mode == NetworkMode::Routed).then_some(pool),
        dependencies: dependencies.by_service,
        start_order: dependencies.start_order,
        one_shot_services: dependencies.one_shot,
        rollouts,
        hosts_files,
        builds,
    })
}

/// Where every replica goes: the scheduler's answer, keeping replicas where they run.
fn placements(
    project: &Project,
    inventory: &Inventory,
    observed: &ObservedState,
    policy: &mut dyn PlacementPolicy,
) -> Result<Vec<scheduler::Placement>, PlanError> {
    let hosts = host_specs(inventory);
    let mut demands = project
        .services
        .iter()
        .map(|(name, service)| service_demand(name, service, &hosts))
        .collect::<Result<Vec<_>, _>>()?;
    let mut state_kinds = BTreeMap::new();
    for demand in &mut demands {
        let service = &project.services[&demand.name];
        let pins = state::state_pins(project, observed, &demand.name, service, demand.replicas)?;
        for (replica, (pin, kind)) in pins {
            state_kinds.insert((demand.name.clone(), replica), kind);
            demand.state_pins.insert(replica, pin);
        }
    }
    let existing: Vec<scheduler::Placement> = observed
        .containers
        .iter()
        .filter(|container| project.services.contains_key(&container.service))
        .filter(|container| {
            let service = &project.services[&container.service];
            container.name
                == container_name(
                    &project.name,
                    &container.service,
                    service,
                    container.replica,
                )
        })
        .map(|container| scheduler::Placement {
            service: container.service.clone(),
            replica: container.replica,
            host: container.host.clone(),
        })
        .collect();
    scheduler::schedule(
        &ScheduleInput {
            services: &demands,
            hosts: &hosts,
            default_strategy: inventory.strategy,
            existing: &existing,
        },
        policy,
    )
    .map_err(|error| state::refusal(error, &state_kinds))
}

/// One desired container per placement, with its name, labels and config hash (networks and
/// name table come later).
fn placed_containers(
    project: &Project,
    placements: &[scheduler::Placement],
) -> Vec<DesiredContainer> {
    placements
        .iter()
        .map(|placement| {
            let service = &project.services[&placement.service];
            let name = container_name(
                &project.name,
                &placement.service,
                service,
                placement.replica,
            );
            let config_hash = config_hash(service);
            let labels = BTreeMap::from([
                (LABEL_PROJECT.to_string(), project.name.clone()),
                (LABEL_SERVICE.to_string(), placement.service.clone()),
                (LABEL_REPLICA.to_string(), placement.replica.to_string()),
                (LABEL_HOST.to_string(), placement.host.clone()),
                (LABEL_CONFIG_HASH.to_string(), config_hash.clone()),
            ]);
            DesiredContainer {
                name,
                service: placement.service.clone(),
                replica: placement.replica,
                host: placement.host.clone(),
                config_hash,
                image: service.image_name(&project.name, &placement.service),
                networks: Vec::new(),
                extra_hosts: Arc::from(Vec::new()),
                service_extra_hosts: service.extra_hosts.clone(),
                hosts_file: None,
                labels,
            }
        })
        .collect()
}

/// The project's named volumes each host needs (not external ones): each replica its own
/// ([`replica_volume_name`]).
fn named_volumes(project: &Project, containers: &[DesiredContainer]) -> BTreeSet<(String, String)> {
    let mut volumes = BTreeSet::new();
    for container in containers {
        let service = &project.services[&container.service];
        for mount in &service.volumes {
            if mount.kind == "volume"
                && let Some(volume) = mount.source.as_ref().and_then(|s| project.volumes.get(s))
                && !volume.external
            {
                volumes.insert((
                    container.host.clone(),
                    replica_volume_name(&volume.name, container.replica),
                ));
            }
        }
    }
    volumes
}

/// What the dependency graph gives the desired state.
struct Dependencies {
    /// Each service's dependencies with their conditions.
    by_service: BTreeMap<String, Vec<(String, DependsOnCondition)>>,
    /// Services some dependent waits for to complete.
    one_shot: BTreeSet<String>,
    /// Every service after those it depends on.
    start_order: Vec<String>,
}

/// Each service's dependencies, the one-shot services and the start order; a cycle is an
/// error.
fn dependencies(project: &Project) -> Result<Dependencies, PlanError> {
    let graph = DependencyGraph::from_project(project);
    let mut dependencies = BTreeMap::new();
    let mut one_shot_services = BTreeSet::new();
    for name in project.services.keys() {
        let edges: Vec<(String, DependsOnCondition)> = graph
            .dependencies(name)
            .map(|edge| (edge.to.clone(), edge.condition()))
            .collect();
        for (dependency, condition) in &edges {
            if *condition == DependsOnCondition::ServiceCompletedSuccessfully {
                one_shot_services.insert(dependency.clone());
            }
        }
        dependencies.insert(name.clone(), edges);
    }
    let start_order = graph
        .start_order()
        .map_err(|cycle| PlanError::Cycle(cycle.to_string()))?;
    Ok(Dependencies {
        by_service: dependencies,
        one_shot: one_shot_services,
        start_order,
    })
}
