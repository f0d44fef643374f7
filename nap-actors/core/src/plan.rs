//! Observe → reconcile → plan: what must happen on which host to reach the desired state.
//!
//! [`desired_state`] turns a project and an inventory into containers placed on hosts (via
//! the scheduler), project networks with a subnet per host, a fixed address for every
//! container and the complete name table every container gets as `extra_hosts`.
//! [`reconcile`] compares that with the [`ObservedState`] read from the daemons' labels and
//! returns a [`Plan`]: a DAG of operations, each one Docker or SSH call, in dependency
//! order. Nothing here performs an operation; the actors do.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt::Write as _;
use std::net::Ipv4Addr;
use std::sync::Arc;

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::compose::{DependsOnCondition, Project, Service};
use crate::graph::DependencyGraph;
use crate::inventory::{Inventory, Ipv4Cidr, NetworkMode};
use crate::scheduler::{
    self, Constraint, HostSpec, PlacementPolicy, PublishedPort, Resources, ScheduleError,
    ScheduleInput, ServiceDemand, Strategy,
};
use crate::units;

/// Label: the compose project a container, network or volume belongs to.
pub const LABEL_PROJECT: &str = "nap.project";
/// Label: the service of a container.
pub const LABEL_SERVICE: &str = "nap.service";
/// Label: the replica number of a container, from 1.
pub const LABEL_REPLICA: &str = "nap.replica";
/// Label: the inventory host a container was placed on.
pub const LABEL_HOST: &str = "nap.host";
/// Label: the hash of the service's normalized config the container was created from.
pub const LABEL_CONFIG_HASH: &str = "nap.config-hash";
/// Label: the SHA-256 of a container's `extra_hosts` as created (the service's own entries,
/// then the name table), so reconcile knows the table a container holds from the listing
/// alone, without inspecting it.
pub const LABEL_EXTRA_HOSTS_HASH: &str = "nap.extra-hosts-hash";
/// Label: the project network key a Docker network was created for.
pub const LABEL_NETWORK: &str = "nap.network";

/// Why a plan could not be made.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// No host fits a replica (the message names the service, replica and each host's reason).
    #[error(transparent)]
    Schedule(#[from] ScheduleError),
    /// A constraint or resource value could not be read (the loader normally catches these).
    #[error("service {service:?}: {message}")]
    Service {
        /// The service.
        service: String,
        /// What is wrong.
        message: String,
    },
    /// The routed pool has no subnet or address left.
    #[error("network {network:?} on host {host:?}: {message}")]
    Addressing {
        /// The project network.
        network: String,
        /// The host.
        host: String,
        /// What ran out.
        message: String,
    },
    /// Services depend on each other in a circle.
    #[error("dependency cycle between services: {0}")]
    Cycle(String),
}

/// What a rollout does when a new replica fails (`deploy.update_config.failure_action`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureAction {
    /// Put the replica's previous container back and stop the rollout.
    Rollback,
    /// Stop the rollout, leaving the failed replica as it is.
    Pause,
    /// Go on with the next replicas.
    Continue,
}

/// How a service's changed replicas are replaced, from `deploy.update_config` (a service
/// without one is recreated all at once, as by `docker compose up`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct RolloutPolicy {
    /// Replicas replaced at once (0: all). Default 1.
    pub parallelism: u64,
    /// Pause between batches, in milliseconds. Default 0.
    pub delay_ms: u64,
    /// `order: start-first`: the new container runs (at a new address) and is healthy before
    /// the old one stops; peers switch to it, then the old one goes. Default stop-first.
    pub start_first: bool,
    /// How long a new replica must keep running (and not turn unhealthy) to count as
    /// updated, in milliseconds. Default 5 s, as Swarm's.
    pub monitor_ms: u64,
    /// What happens when it does not. Default pause, as Swarm's.
    pub failure_action: FailureAction,
}

/// Default `monitor`, as Docker Swarm's.
const DEFAULT_MONITOR_MS: u64 = 5_000;

/// A service's rollout policy, when it has an `update_config`.
pub fn rollout_policy(name: &str, service: &Service) -> Result<Option<RolloutPolicy>, PlanError> {
    let Some(config) = service
        .deploy
        .as_ref()
        .and_then(|deploy| deploy.update_config.as_ref())
    else {
        return Ok(None);
    };
    let millis = |field: &str, text: &Option<String>, default: u64| match text {
        None => Ok(default),
        Some(text) => units::parse_duration(text)
            .map(|d| d.as_millis() as u64)
            .map_err(|message| PlanError::Service {
                service: name.to_string(),
                message: format!("deploy.update_config.{field}: {message}"),
            }),
    };
    Ok(Some(RolloutPolicy {
        parallelism: config.parallelism.unwrap_or(1),
        delay_ms: millis("delay", &config.delay, 0)?,
        start_first: config.order.as_deref() == Some("start-first"),
        monitor_ms: millis("monitor", &config.monitor, DEFAULT_MONITOR_MS)?,
        failure_action: match config.failure_action.as_deref() {
            Some("rollback") => FailureAction::Rollback,
            Some("continue") => FailureAction::Continue,
            _ => FailureAction::Pause,
        },
    }))
}

/// The name a container is renamed to while its replacement starts (its id's first 12
/// characters keep two rollouts apart).
pub fn aside_name(container: &str, id: &str) -> String {
    format!("{container}-old-{}", &id[..id.len().min(12)])
}

/// Hash of a service's normalized config: SHA-256 over canonical JSON (object keys sorted,
/// empty fields left out), ignoring what does not change the container (replica count,
/// placement, update policy, profiles, `depends_on`). Stable across key order and nap
/// versions that add fields left empty.
pub fn config_hash(service: &Service) -> String {
    let mut service = service.clone();
    service.scale = None;
    service.profiles.clear();
    if let Some(deploy) = &mut service.deploy {
        deploy.replicas = None;
        deploy.placement = None;
        deploy.update_config = None;
        deploy.rollback_config = None;
        deploy.mode = None;
    }
    // Fix: a `deploy:` left empty by the clearing above serialized as `"deploy": {}`, so
    // adding `deploy.replicas` (or a placement) to a service without `deploy:` changed the
    // hash and recreated every replica.
    if service.deploy.as_ref() == Some(&crate::compose::Deploy::default()) {
        service.deploy = None;
    }
    // Fix: `depends_on` orders starts but does not change the container (compose leaves it
    // out of its service hash too); adding a dependency recreated the dependent service.
    service.depends_on.clear();
    service.extensions.remove("x-nap");
    let value = serde_json::to_value(&service).unwrap_or(serde_json::Value::Null);
    let mut canonical = String::new();
    write_canonical_json(&value, &mut canonical);
    let digest = Sha256::digest(canonical.as_bytes());
    digest
        .iter()
        .fold(String::with_capacity(64), |mut out, byte| {
            let _ = write!(out, "{byte:02x}");
            out
        })
}

fn write_canonical_json(value: &serde_json::Value, out: &mut String) {
    match value {
        serde_json::Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (index, key) in keys.iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                out.push_str(&serde_json::Value::String((*key).clone()).to_string());
                out.push(':');
                write_canonical_json(&map[*key], out);
            }
            out.push('}');
        }
        serde_json::Value::Array(items) => {
            out.push('[');
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                write_canonical_json(item, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

/// The container name of a replica: `container_name`, else `<project>-<service>-<n>`.
pub fn container_name(
    project: &str,
    service_name: &str,
    service: &Service,
    replica: u32,
) -> String {
    match &service.container_name {
        Some(name) => name.clone(),
        None => format!("{project}-{service_name}-{replica}"),
    }
}

/// One container as a daemon reports it (from its `nap.*` labels and inspect data).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ObservedContainer {
    /// Inventory host it runs on.
    pub host: String,
    /// Container id.
    pub id: String,
    /// Container name (without the leading `/`).
    pub name: String,
    /// `nap.service`.
    pub service: String,
    /// `nap.replica`.
    pub replica: u32,
    /// `nap.config-hash`.
    pub config_hash: String,
    /// Docker's state: `running`, `exited`, `created`, `restarting`, `paused`, `dead`.
    pub state: String,
    /// Exit code, for exited containers.
    pub exit_code: Option<i64>,
    /// Address on each Docker network, by Docker network name.
    pub addresses: BTreeMap<String, Ipv4Addr>,
    /// `HostConfig.ExtraHosts` as created (`name:address`); empty when the container has
    /// [`LABEL_EXTRA_HOSTS_HASH`] (it is then not inspected).
    pub extra_hosts: Vec<String>,
    /// Its [`LABEL_EXTRA_HOSTS_HASH`], when it has one.
    pub extra_hosts_hash: Option<String>,
}

/// One Docker network on a host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ObservedNetwork {
    /// Inventory host.
    pub host: String,
    /// Docker network name.
    pub name: String,
    /// Its IPv4 subnet, when it has one.
    pub subnet: Option<Ipv4Cidr>,
    /// `nap.project`, when nap made it.
    pub project: Option<String>,
}

/// What the daemons hold, read from labels: the state nap reconciles against.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ObservedState {
    /// The project's containers on every reachable host.
    pub containers: Vec<ObservedContainer>,
    /// Every network on every reachable host (all of them, so subnets never collide).
    pub networks: Vec<ObservedNetwork>,
    /// Named volumes present, as (host, volume name).
    pub volumes: BTreeSet<(String, String)>,
    /// Images present, as (host, image reference).
    pub images: BTreeSet<(String, String)>,
    /// Named volumes labelled with the project, as (host, volume name): what `down -v`
    /// removes.
    pub project_volumes: BTreeSet<(String, String)>,
}

impl ObservedState {
    /// Adds another host's observations.
    pub fn merge(&mut self, other: ObservedState) {
        self.containers.extend(other.containers);
        self.networks.extend(other.networks);
        self.volumes.extend(other.volumes);
        self.images.extend(other.images);
        self.project_volumes.extend(other.project_volumes);
    }
}

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

/// One line of a container's name table.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct HostEntry {
    /// The name.
    pub name: String,
    /// What it resolves to.
    pub address: Ipv4Addr,
}

impl HostEntry {
    /// The `extra_hosts` form, `name:address`.
    pub fn extra_host(&self) -> String {
        let mut text = String::with_capacity(self.name.len() + 16);
        self.push_extra_host(&mut text);
        text
    }

    /// Appends the `extra_hosts` form to `text`. Built by hand: `format!` made this a quarter
    /// of `nap up`'s time at 2,000 containers (each carries every peer's entry).
    pub fn push_extra_host(&self, text: &mut String) {
        text.push_str(&self.name);
        text.push(':');
        for (index, octet) in self.address.octets().into_iter().enumerate() {
            if index > 0 {
                text.push('.');
            }
            if octet >= 100 {
                text.push(char::from(b'0' + octet / 100));
            }
            if octet >= 10 {
                text.push(char::from(b'0' + octet / 10 % 10));
            }
            text.push(char::from(b'0' + octet % 10));
        }
    }

    /// Whether `text` is this entry in the `extra_hosts` form (compared without allocating).
    pub fn is_extra_host(&self, text: &str) -> bool {
        text.strip_prefix(self.name.as_str())
            .and_then(|rest| rest.strip_prefix(':'))
            .is_some_and(|address| address.parse::<Ipv4Addr>() == Ok(self.address))
    }
}

/// The [`LABEL_EXTRA_HOSTS_HASH`] of a container created with `own` entries then `table`
/// as its `extra_hosts`: SHA-256 over the entries, each followed by a newline.
pub fn extra_hosts_hash(own: &[String], table: &[HostEntry]) -> String {
    let mut hasher = Sha256::new();
    for entry in own {
        hasher.update(entry.as_bytes());
        hasher.update(b"\n");
    }
    let mut text = String::with_capacity(64);
    for entry in table {
        text.clear();
        entry.push_extra_host(&mut text);
        text.push('\n');
        hasher.update(text.as_bytes());
    }
    hasher
        .finalize()
        .iter()
        .fold(String::with_capacity(64), |mut hex, byte| {
            let _ = write!(hex, "{byte:02x}");
            hex
        })
}

/// Whether an existing container holds `desired`'s name table: by its
/// [`LABEL_EXTRA_HOSTS_HASH`] when it has one, else by its `extra_hosts` (containers created
/// before the label).
pub fn holds_table(existing: &ObservedContainer, desired: &DesiredContainer) -> bool {
    match &existing.extra_hosts_hash {
        Some(hash) => *hash == desired.extra_hosts_hash,
        None => extra_hosts_match(
            &existing.extra_hosts,
            &desired.service_extra_hosts,
            &desired.extra_hosts,
        ),
    }
}

/// Whether a container's `extra_hosts` as created are the service's own entries followed by
/// `table`, in order: what [`reconcile`] checks to keep a container's name table.
pub fn extra_hosts_match(
    created: &[String],
    service_extra_hosts: &[String],
    table: &[HostEntry],
) -> bool {
    created.len() == service_extra_hosts.len() + table.len()
        && created[..service_extra_hosts.len()] == *service_extra_hosts
        && created[service_extra_hosts.len()..]
            .iter()
            .zip(table)
            .all(|(text, entry)| entry.is_extra_host(text))
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
    /// The complete name table (`extra_hosts`), empty in local mode. Shared: every container
    /// with the same view (host, networks, links) holds the same table.
    pub extra_hosts: Arc<[HostEntry]>,
    /// The service's own `extra_hosts` (`name:address`), which come first in the
    /// container's `extra_hosts`, before the name table.
    pub service_extra_hosts: Vec<String>,
    /// [`extra_hosts_hash`] of the service's own entries and the name table.
    pub extra_hosts_hash: String,
    /// The `nap.*` labels it is created with.
    pub labels: BTreeMap<String, String>,
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
    /// Services whose containers run once and exit (`restart: no` or unset, and some
    /// dependent waits for `service_completed_successfully`).
    #[serde(skip)]
    pub one_shot_services: BTreeSet<String>,
    /// Rollout policies of services that have a `deploy.update_config`.
    pub rollouts: BTreeMap<String, RolloutPolicy>,
}

/// `x-nap` service settings.
fn service_strategy(service: &Service) -> Result<Option<Strategy>, String> {
    let Some(settings) = service.extensions.get("x-nap") else {
        return Ok(None);
    };
    match settings.get("strategy").and_then(|value| value.as_str()) {
        None => Ok(None),
        Some("spread") => Ok(Some(Strategy::Spread)),
        Some("binpack") => Ok(Some(Strategy::Binpack)),
        Some(other) => Err(format!("x-nap.strategy {other:?} is not spread or binpack")),
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
            reservation.nano_cpus = units::parse_nano_cpus(cpus).map_err(error)?;
        }
        if let Some(memory) = &reserved.memory {
            reservation.memory_bytes = units::parse_bytes(memory).map_err(error)?;
        }
    }
    Ok(ServiceDemand {
        name: name.to_string(),
        replicas,
        constraints,
        published_ports,
        reservation,
        strategy: service_strategy(service).map_err(error)?,
        colocate_with: service.colocated_with().map(str::to_string),
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
    let hosts = host_specs(inventory);
    let mut rollouts = BTreeMap::new();
    for (name, service) in &project.services {
        if let Some(policy) = rollout_policy(name, service)? {
            rollouts.insert(name.clone(), policy);
        }
    }
    let demands = project
        .services
        .iter()
        .map(|(name, service)| service_demand(name, service, &hosts))
        .collect::<Result<Vec<_>, _>>()?;
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
    let placements = scheduler::schedule(
        &ScheduleInput {
            services: &demands,
            hosts: &hosts,
            default_strategy: inventory.strategy,
            existing: &existing,
        },
        policy,
    )?;

    let mode = inventory.network.mode;
    let mut containers: Vec<DesiredContainer> = placements
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
                image: service.image.clone().unwrap_or_default(),
                networks: Vec::new(),
                extra_hosts: Arc::from(Vec::new()),
                service_extra_hosts: service.extra_hosts.clone(),
                extra_hosts_hash: String::new(),
                labels,
            }
        })
        .collect();

    // Networks: each project network exists on every host that runs a container on it.
    let mut networks: Vec<DesiredNetwork> = Vec::new();
    let mut needed: BTreeSet<(String, String)> = BTreeSet::new();
    for container in &containers {
        let service = &project.services[&container.service];
        for key in service.networks.keys() {
            if !project.networks[key].external {
                needed.insert((key.clone(), container.host.clone()));
            }
        }
    }
    let mut used_subnets: Vec<Ipv4Cidr> =
        observed.networks.iter().filter_map(|n| n.subnet).collect();
    let mut next_subnet_index = 0u64;
    let pool = inventory.network.pool;
    for (key, host) in &needed {
        let network = &project.networks[key];
        let subnet = if mode == NetworkMode::Routed {
            let existing = observed
                .networks
                .iter()
                .find(|observed| observed.host == *host && observed.name == network.name)
                .and_then(|observed| observed.subnet);
            match existing {
                Some(subnet) => Some(subnet),
                None => {
                    let subnet = loop {
                        let Some(candidate) = pool.subnet(24, next_subnet_index) else {
                            return Err(PlanError::Addressing {
                                network: key.clone(),
                                host: host.clone(),
                                message: format!("the pool {pool} has no free /24 left"),
                            });
                        };
                        next_subnet_index += 1;
                        if !used_subnets.iter().any(|used| used.overlaps(&candidate)) {
                            break candidate;
                        }
                    };
                    used_subnets.push(subnet);
                    Some(subnet)
                }
            }
        } else {
            None
        };
        networks.push(DesiredNetwork {
            host: host.clone(),
            key: key.clone(),
            name: network.name.clone(),
            subnet,
            driver: network
                .driver
                .clone()
                .unwrap_or_else(|| "bridge".to_string()),
        });
    }
    networks.sort_by(|a, b| (&a.host, &a.key).cmp(&(&b.host, &b.key)));

    // Addresses: a container keeps the address its name had; new names take the lowest free.
    let mut taken: BTreeMap<(String, String), BTreeSet<Ipv4Addr>> = BTreeMap::new();
    for container in &observed.containers {
        for (network_name, address) in &container.addresses {
            taken
                .entry((container.host.clone(), network_name.clone()))
                .or_default()
                .insert(*address);
        }
    }
    // Fix: fixed `ipv4_address`es were not reserved, so a container without one could be
    // given the same address as a container that has it fixed.
    for container in &containers {
        let service = &project.services[&container.service];
        for (key, options) in &service.networks {
            if let Some(address) = options
                .as_ref()
                .and_then(|o| o.ipv4_address.as_deref())
                .and_then(|a| a.parse::<Ipv4Addr>().ok())
            {
                taken
                    .entry((container.host.clone(), project.networks[key].name.clone()))
                    .or_default()
                    .insert(address);
            }
        }
    }
    for container in &mut containers {
        let service = &project.services[&container.service];
        for (key, options) in &service.networks {
            let network = &project.networks[key];
            let mut aliases = vec![container.service.clone()];
            if let Some(options) = options {
                aliases.extend(options.aliases.iter().cloned());
            }
            let fixed = options
                .as_ref()
                .and_then(|o| o.ipv4_address.as_deref())
                .and_then(|a| a.parse::<Ipv4Addr>().ok());
            let subnet = networks
                .iter()
                .find(|n| n.host == container.host && n.key == *key)
                .and_then(|n| n.subnet);
            let ipv4_address = match (fixed, subnet) {
                (Some(address), _) => Some(address),
                (None, Some(subnet)) => {
                    let existing = observed
                        .containers
                        .iter()
                        .find(|o| o.name == container.name && o.host == container.host);
                    // A start-first rollout runs the new container beside the old one, so
                    // it needs an address of its own (peers switch to it once it is healthy).
                    let surge = existing.is_some_and(|o| {
                        o.config_hash != container.config_hash
                            && rollouts
                                .get(&container.service)
                                .is_some_and(|policy| policy.start_first)
                    });
                    let previous = existing
                        .and_then(|o| o.addresses.get(&network.name))
                        .copied()
                        .filter(|address| subnet.contains(*address))
                        .filter(|_| !surge);
                    match previous {
                        Some(address) => Some(address),
                        None => {
                            let used = taken
                                .entry((container.host.clone(), network.name.clone()))
                                .or_default();
                            let address = (2..255)
                                .filter_map(|offset| subnet.address(offset))
                                .find(|address| !used.contains(address))
                                .ok_or_else(|| PlanError::Addressing {
                                    network: key.clone(),
                                    host: container.host.clone(),
                                    message: format!("subnet {subnet} has no free address"),
                                })?;
                            used.insert(address);
                            Some(address)
                        }
                    }
                }
                (None, None) => None,
            };
            container.networks.push(NetworkAttachment {
                key: key.clone(),
                network: network.name.clone(),
                ipv4_address,
                aliases,
            });
        }
    }

    // Name tables: every name of every peer, same-host replicas first.
    if matches!(mode, NetworkMode::Routed | NetworkMode::Published) {
        let tables = name_tables(project, inventory, &containers);
        for (container, table) in containers.iter_mut().zip(tables) {
            container.extra_hosts = table;
        }
    }
    // Hashed once per distinct table and service entries, like the tables themselves.
    let mut hashes: HashMap<(*const HostEntry, &[String]), String> = HashMap::new();
    for container in &mut containers {
        let service = &project.services[&container.service];
        container.extra_hosts_hash = hashes
            .entry((
                container.extra_hosts.as_ptr(),
                service.extra_hosts.as_slice(),
            ))
            .or_insert_with(|| extra_hosts_hash(&service.extra_hosts, &container.extra_hosts))
            .clone();
    }

    let mut volumes = BTreeSet::new();
    for container in &containers {
        let service = &project.services[&container.service];
        for mount in &service.volumes {
            if mount.kind == "volume"
                && let Some(volume) = mount.source.as_ref().and_then(|s| project.volumes.get(s))
                && !volume.external
            {
                volumes.insert((container.host.clone(), volume.name.clone()));
            }
        }
    }

    let mut routes: BTreeMap<String, Vec<Route>> = BTreeMap::new();
    if mode == NetworkMode::Routed && inventory.hosts.len() > 1 {
        for host in &inventory.hosts {
            let mut host_routes: Vec<Route> = networks
                .iter()
                .filter(|network| network.host != host.name)
                .filter_map(|network| {
                    let via = inventory.host(&network.host)?.address.clone()?;
                    Some(Route {
                        subnet: network.subnet?,
                        via,
                    })
                })
                .collect();
            host_routes.sort();
            if networks.iter().any(|network| network.host == host.name) {
                routes.insert(host.name.clone(), host_routes);
            }
        }
    }

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
    graph
        .layers()
        .map_err(|cycle| PlanError::Cycle(cycle.to_string()))?;

    Ok(DesiredState {
        project: project.name.clone(),
        mode,
        containers,
        networks,
        volumes,
        routes,
        pool: (mode == NetworkMode::Routed).then_some(pool),
        dependencies,
        one_shot_services,
        rollouts,
    })
}

/// Every container's name table, in `containers` order (see [`name_table`]). A table
/// depends only on the viewer's host, networks and links, so it is computed once per distinct
/// view and shared: 2,000 containers on 200 hosts make 200 tables, not 2,000 (each as long
/// as the project is large). What a table lists, apart from its order, depends only on the
/// networks and links, so that part ([`peer_names`]) is computed once per pair of them.
fn name_tables(
    project: &Project,
    inventory: &Inventory,
    containers: &[DesiredContainer],
) -> Vec<Arc<[HostEntry]>> {
    // Peers by service and replica (stably); a viewer sees its host's first, then the rest.
    let mut by_service: Vec<&DesiredContainer> = containers.iter().collect();
    by_service.sort_by(|a, b| (&a.service, a.replica).cmp(&(&b.service, b.replica)));
    let host_addresses: HashMap<&str, Ipv4Addr> = inventory
        .hosts
        .iter()
        .filter_map(|host| {
            let address = host.address.as_deref()?.parse().ok()?;
            Some((host.name.as_str(), address))
        })
        .collect();
    // (host, sorted network keys, links) → the table.
    type ViewKey<'a> = (&'a str, Vec<&'a str>, &'a [String]);
    let mut views: HashMap<ViewKey, Arc<[HostEntry]>> = HashMap::new();
    let mut peers_of: HashMap<(Vec<&str>, &[String]), Vec<PeerNames>> = HashMap::new();
    containers
        .iter()
        .map(|viewer| {
            let mut networks: Vec<&str> = viewer.networks.iter().map(|n| n.key.as_str()).collect();
            networks.sort_unstable();
            networks.dedup();
            let links = project.services[&viewer.service].links.as_slice();
            let key = (viewer.host.as_str(), networks, links);
            if let Some(table) = views.get(&key) {
                return table.clone();
            }
            let peers = peers_of.entry((key.1.clone(), links)).or_insert_with(|| {
                peer_names(
                    project,
                    inventory.network.mode,
                    &host_addresses,
                    &key.1,
                    links,
                    &by_service,
                )
            });
            let table = name_table(&viewer.host, peers);
            views.insert(key, table.clone());
            table
        })
        .collect()
}

/// One peer's entries in the tables of viewers on some networks with some links.
struct PeerNames<'a> {
    /// The peer's host.
    host: &'a str,
    /// The address its names resolve to.
    address: Ipv4Addr,
    /// Its names, in table order.
    names: Vec<&'a str>,
}

/// For viewers on `networks` (sorted keys) whose service has `links`: every peer on a shared
/// network that has an address, in `by_service` order (every container sorted by service and
/// replica), with `<service>`, the container name, `container_name`'s value, `hostname`,
/// network aliases and link aliases. Addresses are the peer's on its first shared network
/// (routed mode) or the peer's host address.
fn peer_names<'a>(
    project: &'a Project,
    mode: NetworkMode,
    host_addresses: &HashMap<&str, Ipv4Addr>,
    networks: &[&str],
    links: &'a [String],
    by_service: &[&'a DesiredContainer],
) -> Vec<PeerNames<'a>> {
    let link_aliases: BTreeMap<&str, Vec<&str>> =
        links.iter().fold(BTreeMap::new(), |mut map, link| {
            let (target, alias) = link.split_once(':').unwrap_or((link, link));
            map.entry(target).or_insert_with(Vec::new).push(alias);
            map
        });
    let mut peers = Vec::new();
    for peer in by_service {
        let mut shared = peer
            .networks
            .iter()
            .filter(|n| networks.binary_search(&n.key.as_str()).is_ok())
            .peekable();
        let Some(first_shared) = shared.peek() else {
            continue;
        };
        let address = match mode {
            NetworkMode::Routed => match first_shared.ipv4_address {
                Some(address) => address,
                None => continue,
            },
            _ => match host_addresses.get(peer.host.as_str()) {
                Some(address) => *address,
                None => continue,
            },
        };
        let peer_service = &project.services[&peer.service];
        let names = [peer.service.as_str(), peer.name.as_str()]
            .into_iter()
            .chain(peer_service.hostname.as_deref())
            .chain(
                shared.flat_map(|attachment| attachment.aliases.iter().skip(1).map(String::as_str)),
            )
            .chain(
                link_aliases
                    .get(peer.service.as_str())
                    .into_iter()
                    .flatten()
                    .copied(),
            )
            .collect();
        peers.push(PeerNames {
            host: &peer.host,
            address,
            names,
        });
    }
    peers
}

/// FNV-1a, for the name tables' sets of short names (millions of lookups at 2,000
/// containers; SipHash's resistance to chosen keys buys nothing for names from the project).
struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Fnv {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl std::hash::Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.0 = (self.0 ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3);
        }
    }
}

type FnvBuild = std::hash::BuildHasherDefault<Fnv>;

/// The name table of a viewer on `host`, from [`peer_names`]: the same-host peers' entries
/// first, then the others'; each name once with all its addresses (each once), names in
/// first-seen order.
fn name_table(host: &str, peers: &[PeerNames<'_>]) -> Arc<[HostEntry]> {
    let same_host = peers.iter().filter(|peer| peer.host == host);
    let other_hosts = peers.iter().filter(|peer| peer.host != host);
    let mut groups: Vec<(&str, Vec<Ipv4Addr>)> = Vec::new();
    let mut group_of: HashMap<&str, usize, FnvBuild> = HashMap::default();
    let mut seen: HashSet<(&str, Ipv4Addr), FnvBuild> = HashSet::default();
    for peer in same_host.chain(other_hosts) {
        for name in &peer.names {
            if seen.insert((name, peer.address)) {
                let group = *group_of.entry(name).or_insert_with(|| {
                    groups.push((name, Vec::new()));
                    groups.len() - 1
                });
                groups[group].1.push(peer.address);
            }
        }
    }
    groups
        .into_iter()
        .flat_map(|(name, addresses)| {
            addresses.into_iter().map(move |address| HostEntry {
                name: name.to_string(),
                address,
            })
        })
        .collect()
}

/// One step of a plan: one Docker or SSH call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Operation {
    /// Create a project network on a host.
    CreateNetwork {
        /// Host.
        host: String,
        /// Project network key.
        key: String,
        /// Docker name.
        name: String,
        /// Subnet (routed mode).
        #[serde(skip_serializing_if = "Option::is_none")]
        subnet: Option<Ipv4Cidr>,
    },
    /// Install (idempotently) the routes to the other hosts' subnets, over SSH.
    EnsureRoutes {
        /// Host.
        host: String,
        /// Every route the host needs.
        routes: Vec<Route>,
        /// The pool forwarded without NAT.
        pool: Ipv4Cidr,
        /// The project's subnets on this host: traffic from the pool to them is accepted and
        /// traffic from them to the pool is not masqueraded.
        local_subnets: Vec<Ipv4Cidr>,
    },
    /// Remove the routes to the project's subnets on other hosts and the project's forwarding
    /// rules, over SSH (`nap down`).
    RemoveRoutes {
        /// Host.
        host: String,
        /// The other hosts' subnets of the project.
        subnets: Vec<Ipv4Cidr>,
    },
    /// Remove a named volume (`nap down -v`).
    RemoveVolume {
        /// Host.
        host: String,
        /// Docker volume name.
        name: String,
    },
    /// Create a named volume on a host.
    CreateVolume {
        /// Host.
        host: String,
        /// Docker volume name.
        name: String,
    },
    /// Make an image present on a host: pull, or copy from a daemon that has it.
    EnsureImage {
        /// Host.
        host: String,
        /// Image reference.
        image: String,
    },
    /// Stop and remove a container.
    RemoveContainer {
        /// Host.
        host: String,
        /// Container name.
        container: String,
        /// Container id.
        id: String,
        /// Why (`config changed`, `scaled down`, `moved to h2`, `orphan`).
        reason: String,
    },
    /// Create a container (not started).
    CreateContainer {
        /// Host.
        host: String,
        /// Service.
        service: String,
        /// Replica.
        replica: u32,
        /// Container name.
        container: String,
        /// Why (`new`, `config changed`, `moved from h1`).
        reason: String,
    },
    /// Replace a changed replica under its rollout policy: set the old container aside
    /// (renamed; stopped first unless start-first), create and start the new one, wait until
    /// it is healthy and has run for `monitor_ms`. On failure, `failure_action` says whether
    /// the old container is put back. Stop-first removes the old container on success;
    /// start-first leaves it running for [`Operation::RetireContainer`].
    ReplaceContainer {
        /// Host.
        host: String,
        /// Service.
        service: String,
        /// Replica.
        replica: u32,
        /// Container name.
        container: String,
        /// The old container's id.
        old_id: String,
        /// The name the old container has while set aside.
        aside: String,
        /// The service's rollout policy.
        policy: RolloutPolicy,
        /// Milliseconds to wait before starting (the policy's delay between batches).
        delay_ms: u64,
    },
    /// Remove a replica's old container once its start-first replacement is serving and
    /// every peer resolves the new one.
    RetireContainer {
        /// Host.
        host: String,
        /// The old container's name while set aside.
        container: String,
    },
    /// Start a container.
    StartContainer {
        /// Host.
        host: String,
        /// Container name.
        container: String,
    },
    /// Wait until a container's healthcheck passes.
    WaitHealthy {
        /// Host.
        host: String,
        /// Container name.
        container: String,
    },
    /// Wait until a container exits with status 0.
    WaitCompleted {
        /// Host.
        host: String,
        /// Container name.
        container: String,
    },
    /// Rewrite a running container's name table in its hosts file.
    PatchHosts {
        /// Host.
        host: String,
        /// Container name.
        container: String,
        /// The complete table.
        entries: Vec<HostEntry>,
    },
    /// Remove a project network from a host.
    RemoveNetwork {
        /// Host.
        host: String,
        /// Docker name.
        name: String,
    },
}

impl Operation {
    /// The host the operation runs on.
    pub fn host(&self) -> &str {
        match self {
            Operation::CreateNetwork { host, .. }
            | Operation::EnsureRoutes { host, .. }
            | Operation::RemoveRoutes { host, .. }
            | Operation::CreateVolume { host, .. }
            | Operation::RemoveVolume { host, .. }
            | Operation::EnsureImage { host, .. }
            | Operation::RemoveContainer { host, .. }
            | Operation::CreateContainer { host, .. }
            | Operation::ReplaceContainer { host, .. }
            | Operation::RetireContainer { host, .. }
            | Operation::StartContainer { host, .. }
            | Operation::WaitHealthy { host, .. }
            | Operation::WaitCompleted { host, .. }
            | Operation::PatchHosts { host, .. }
            | Operation::RemoveNetwork { host, .. } => host,
        }
    }

    /// The project container a container operation brings up (create, replace, start, wait);
    /// `None` for the others, removals and patches included.
    pub fn deploys_container(&self) -> Option<&str> {
        match self {
            Operation::CreateContainer { container, .. }
            | Operation::ReplaceContainer { container, .. }
            | Operation::StartContainer { container, .. }
            | Operation::WaitHealthy { container, .. }
            | Operation::WaitCompleted { container, .. } => Some(container),
            _ => None,
        }
    }

    /// Whether it changes anything on a host (everything but the waits).
    pub fn is_mutating(&self) -> bool {
        !matches!(
            self,
            Operation::WaitHealthy { .. } | Operation::WaitCompleted { .. }
        )
    }

    fn describe(&self) -> String {
        match self {
            Operation::CreateNetwork { name, subnet, .. } => match subnet {
                Some(subnet) => format!("create network {name} ({subnet})"),
                None => format!("create network {name}"),
            },
            Operation::EnsureRoutes { routes, .. } => {
                let list: Vec<String> = routes
                    .iter()
                    .map(|r| format!("{} via {}", r.subnet, r.via))
                    .collect();
                format!("ensure routes [{}]", list.join(", "))
            }
            Operation::RemoveRoutes { subnets, .. } => {
                let list: Vec<String> = subnets.iter().map(ToString::to_string).collect();
                format!("remove routes [{}]", list.join(", "))
            }
            Operation::CreateVolume { name, .. } => format!("create volume {name}"),
            Operation::RemoveVolume { name, .. } => format!("remove volume {name}"),
            Operation::EnsureImage { image, .. } => format!("ensure image {image}"),
            Operation::RemoveContainer {
                container, reason, ..
            } => format!("remove container {container} ({reason})"),
            Operation::CreateContainer {
                container, reason, ..
            } => format!("create container {container} ({reason})"),
            Operation::ReplaceContainer {
                container, policy, ..
            } => format!(
                "replace {container} ({}, monitor {} ms)",
                if policy.start_first {
                    "start-first"
                } else {
                    "stop-first"
                },
                policy.monitor_ms
            ),
            Operation::RetireContainer { container, .. } => format!("retire {container}"),
            Operation::StartContainer { container, .. } => format!("start {container}"),
            Operation::WaitHealthy { container, .. } => format!("wait for {container} healthy"),
            Operation::WaitCompleted { container, .. } => {
                format!("wait for {container} to complete")
            }
            Operation::PatchHosts {
                container, entries, ..
            } => format!("patch hosts of {container} ({} entries)", entries.len()),
            Operation::RemoveNetwork { name, .. } => format!("remove network {name}"),
        }
    }
}

/// A numbered operation and the operations it waits for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlannedOperation {
    /// Position in the plan, from 1.
    pub id: usize,
    /// What to do.
    #[serde(flatten)]
    pub operation: Operation,
    /// Ids that must finish first.
    pub after: Vec<usize>,
}

/// Where a replica runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlacementRecord {
    /// Service.
    pub service: String,
    /// Replica.
    pub replica: u32,
    /// Container name.
    pub container: String,
    /// Host.
    pub host: String,
}

/// The plan: placements, and the operations that realize them, in dependency order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Plan {
    /// Project name.
    pub project: String,
    /// Every desired replica's host.
    pub placements: Vec<PlacementRecord>,
    /// The DAG of operations (each after only lower ids).
    pub operations: Vec<PlannedOperation>,
    /// Things the user should know (orphans left in place).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

impl Plan {
    /// Whether the plan changes nothing.
    pub fn is_empty(&self) -> bool {
        self.operations.iter().all(|op| !op.operation.is_mutating())
    }

    /// The text form `nap plan` prints.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let hosts: BTreeSet<&str> = self.placements.iter().map(|p| p.host.as_str()).collect();
        let _ = writeln!(
            out,
            "project {}: {} containers on {} hosts",
            self.project,
            self.placements.len(),
            hosts.len()
        );
        let _ = writeln!(out, "placements:");
        for placement in &self.placements {
            let _ = writeln!(
                out,
                "  {:<30} {:<10} {}",
                format!("{}[{}]", placement.service, placement.replica),
                placement.host,
                placement.container
            );
        }
        if self.is_empty() {
            let _ = writeln!(out, "operations: none (up to date)");
        } else {
            let _ = writeln!(out, "operations:");
            for planned in &self.operations {
                let after = if planned.after.is_empty() {
                    String::new()
                } else {
                    let ids: Vec<String> =
                        planned.after.iter().map(|id| format!("#{id}")).collect();
                    format!("  after {}", ids.join(" "))
                };
                let _ = writeln!(
                    out,
                    "  #{:<3} {:<8} {}{}",
                    planned.id,
                    planned.operation.host(),
                    planned.operation.describe(),
                    after
                );
            }
        }
        for note in &self.notes {
            let _ = writeln!(out, "note: {note}");
        }
        out
    }
}

/// Options of a reconcile.
#[derive(Debug, Clone, Copy, Default)]
pub struct ReconcileOptions {
    /// Remove containers of services no longer in the project.
    pub remove_orphans: bool,
    /// Recreate every container even when unchanged.
    pub force_recreate: bool,
}

struct PlanBuilder {
    operations: Vec<PlannedOperation>,
}

impl PlanBuilder {
    fn push(&mut self, operation: Operation, mut after: Vec<usize>) -> usize {
        after.sort_unstable();
        after.dedup();
        let id = self.operations.len() + 1;
        self.operations.push(PlannedOperation {
            id,
            operation,
            after,
        });
        id
    }
}

/// Compares the desired state with what the daemons hold and returns the operations that
/// close the gap. A project already in its desired state gets an empty plan.
pub fn reconcile(
    desired: &DesiredState,
    observed: &ObservedState,
    options: ReconcileOptions,
) -> Plan {
    let mut builder = PlanBuilder {
        operations: Vec::new(),
    };
    let mut notes = Vec::new();

    // Networks, volumes, routes, images per host.
    let mut infrastructure: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for network in &desired.networks {
        let exists = observed
            .networks
            .iter()
            .any(|o| o.host == network.host && o.name == network.name);
        if !exists {
            let id = builder.push(
                Operation::CreateNetwork {
                    host: network.host.clone(),
                    key: network.key.clone(),
                    name: network.name.clone(),
                    subnet: network.subnet,
                },
                Vec::new(),
            );
            infrastructure
                .entry(network.host.clone())
                .or_default()
                .push(id);
        }
    }
    let mut routes_done: BTreeMap<String, usize> = BTreeMap::new();
    let any_network_created = builder
        .operations
        .iter()
        .any(|op| matches!(op.operation, Operation::CreateNetwork { .. }));
    if let Some(pool) = desired.pool {
        for (host, routes) in &desired.routes {
            let container_created_here = desired.containers.iter().any(|c| {
                &c.host == host
                    && !observed.containers.iter().any(|o| {
                        o.name == c.name && o.host == c.host && o.config_hash == c.config_hash
                    })
            });
            if any_network_created || container_created_here {
                let local_subnets: Vec<Ipv4Cidr> = desired
                    .networks
                    .iter()
                    .filter(|network| &network.host == host)
                    .filter_map(|network| network.subnet)
                    .collect();
                let id = builder.push(
                    Operation::EnsureRoutes {
                        host: host.clone(),
                        routes: routes.clone(),
                        pool,
                        local_subnets,
                    },
                    Vec::new(),
                );
                routes_done.insert(host.clone(), id);
            }
        }
    }
    for (host, name) in &desired.volumes {
        if !observed.volumes.contains(&(host.clone(), name.clone())) {
            let id = builder.push(
                Operation::CreateVolume {
                    host: host.clone(),
                    name: name.clone(),
                },
                Vec::new(),
            );
            infrastructure.entry(host.clone()).or_default().push(id);
        }
    }

    // Decide each container's fate.
    enum Fate<'a> {
        Keep,
        Start,
        Patch(&'a ObservedContainer),
        Create {
            reason: String,
            replaces: Option<&'a ObservedContainer>,
        },
        Replace(&'a ObservedContainer),
    }
    let desired_names: BTreeSet<(&str, &str)> = desired
        .containers
        .iter()
        .map(|c| (c.host.as_str(), c.name.as_str()))
        .collect();
    let mut fates: Vec<(&DesiredContainer, Fate)> = Vec::new();
    for container in &desired.containers {
        let same_name: Vec<&ObservedContainer> = observed
            .containers
            .iter()
            .filter(|o| o.name == container.name)
            .collect();
        let here = same_name.iter().find(|o| o.host == container.host).copied();
        let fate = match here {
            Some(existing)
                if existing.config_hash == container.config_hash && !options.force_recreate =>
            {
                let completed = existing.state == "exited"
                    && existing.exit_code == Some(0)
                    && desired.one_shot_services.contains(&container.service);
                let table_kept = holds_table(existing, container);
                if existing.state == "running" || completed {
                    if existing.state == "running"
                        && !table_kept
                        && !container.extra_hosts.is_empty()
                    {
                        Fate::Patch(existing)
                    } else {
                        Fate::Keep
                    }
                } else if !table_kept {
                    Fate::Create {
                        reason: "name table changed".to_string(),
                        replaces: Some(existing),
                    }
                } else {
                    Fate::Start
                }
            }
            Some(existing)
                if existing.config_hash != container.config_hash
                    && existing.state == "running"
                    && desired.rollouts.contains_key(&container.service) =>
            {
                Fate::Replace(existing)
            }
            Some(existing) => Fate::Create {
                reason: if options.force_recreate {
                    "forced".to_string()
                } else {
                    "config changed".to_string()
                },
                replaces: Some(existing),
            },
            None => match same_name.first() {
                Some(elsewhere) => Fate::Create {
                    reason: format!("moved from {}", elsewhere.host),
                    replaces: None,
                },
                None => Fate::Create {
                    reason: "new".to_string(),
                    replaces: None,
                },
            },
        };
        fates.push((container, fate));
    }

    // Removals of containers nobody wants any more (scaled down, moved, orphaned).
    let mut removal_of: BTreeMap<(String, String), usize> = BTreeMap::new();
    for existing in &observed.containers {
        if desired_names.contains(&(existing.host.as_str(), existing.name.as_str())) {
            continue;
        }
        let wanted_service = desired.dependencies.contains_key(&existing.service);
        if !wanted_service && !options.remove_orphans {
            notes.push(format!(
                "container {} on {} belongs to service {:?}, which is not in the project; run with --remove-orphans to remove it",
                existing.name, existing.host, existing.service
            ));
            continue;
        }
        let reason = if !wanted_service {
            "orphan".to_string()
        } else if desired.containers.iter().any(|c| c.name == existing.name) {
            "moved".to_string()
        } else {
            "scaled down".to_string()
        };
        let id = builder.push(
            Operation::RemoveContainer {
                host: existing.host.clone(),
                container: existing.name.clone(),
                id: existing.id.clone(),
                reason,
            },
            Vec::new(),
        );
        removal_of.insert((existing.host.clone(), existing.name.clone()), id);
    }

    // Images on hosts where containers will be created.
    let mut image_ops: BTreeMap<(String, String), usize> = BTreeMap::new();
    for (container, fate) in &fates {
        if let Fate::Create { .. } | Fate::Replace(_) = fate {
            let key = (container.host.clone(), container.image.clone());
            if !observed.images.contains(&key) && !image_ops.contains_key(&key) {
                let id = builder.push(
                    Operation::EnsureImage {
                        host: container.host.clone(),
                        image: container.image.clone(),
                    },
                    Vec::new(),
                );
                image_ops.insert(key, id);
            }
        }
    }

    // Creates, then starts in dependency order.
    let mut create_of: BTreeMap<&str, usize> = BTreeMap::new();
    for (container, fate) in &fates {
        if let Fate::Create { reason, replaces } = fate {
            let mut after: Vec<usize> = infrastructure
                .get(&container.host)
                .cloned()
                .unwrap_or_default();
            if let Some(id) = image_ops.get(&(container.host.clone(), container.image.clone())) {
                after.push(*id);
            }
            if let Some(old) = replaces {
                let id = builder.push(
                    Operation::RemoveContainer {
                        host: old.host.clone(),
                        container: old.name.clone(),
                        id: old.id.clone(),
                        reason: reason.clone(),
                    },
                    Vec::new(),
                );
                after.push(id);
            }
            // A container moving between hosts frees its name first.
            for (key, id) in &removal_of {
                if key.1 == container.name {
                    after.push(*id);
                }
            }
            let id = builder.push(
                Operation::CreateContainer {
                    host: container.host.clone(),
                    service: container.service.clone(),
                    replica: container.replica,
                    container: container.name.clone(),
                    reason: reason.clone(),
                },
                after,
            );
            create_of.insert(container.name.as_str(), id);
        }
    }

    // Starting needs dependencies ready: walk services in dependency order.
    let mut ready_of_service: BTreeMap<&str, Vec<(DependsOnCondition, usize)>> = BTreeMap::new();
    let mut services_in_order: Vec<&str> = Vec::new();
    {
        let mut remaining: Vec<&str> = desired.dependencies.keys().map(String::as_str).collect();
        while !remaining.is_empty() {
            let before = remaining.len();
            remaining.retain(|service| {
                let ready = desired.dependencies[*service]
                    .iter()
                    .all(|(dependency, _)| services_in_order.contains(&dependency.as_str()));
                if ready {
                    services_in_order.push(service);
                }
                !ready
            });
            if remaining.len() == before {
                // A cycle (the loader rejects these); start the rest in name order.
                services_in_order.append(&mut remaining);
            }
        }
    }
    // Rollouts: replace ops of every service, the patches peers get, the old containers of
    // start-first rollouts to retire once those patches are done.
    let mut replace_ids: Vec<usize> = Vec::new();
    let mut patch_ids: Vec<usize> = Vec::new();
    let mut retire_later: Vec<(String, String, usize)> = Vec::new();
    for service in services_in_order {
        let mut waits: Vec<usize> = Vec::new();
        for (dependency, condition) in &desired.dependencies[service] {
            if let Some(readiness) = ready_of_service.get(dependency.as_str()) {
                waits.extend(
                    readiness
                        .iter()
                        .filter(|(kind, _)| kind == condition)
                        .map(|(_, id)| *id),
                );
            }
        }
        let mut readiness = Vec::new();
        // The conditions dependents wait for on this service: computed once per service.
        let wanted: BTreeSet<DependsOnCondition> = desired
            .dependencies
            .values()
            .flatten()
            .filter(|(dependency, _)| dependency == service)
            .map(|(_, condition)| *condition)
            .collect();
        let mut of_service: Vec<&(&DesiredContainer, Fate)> =
            fates.iter().filter(|(c, _)| c.service == service).collect();
        of_service.sort_by_key(|(c, _)| c.replica);
        let mut batches: Vec<Vec<usize>> = Vec::new();
        let mut replaced_so_far = 0u64;
        for (container, fate) in of_service {
            let start_after = |mut after: Vec<usize>| {
                after.extend(waits.iter().copied());
                if let Some(id) = routes_done.get(&container.host) {
                    after.push(*id);
                }
                after
            };
            let start_id = match fate {
                Fate::Keep => None,
                Fate::Patch(existing) => {
                    let mut after: Vec<usize> = create_of.values().copied().collect();
                    after.sort_unstable();
                    patch_ids.push(builder.push(
                        Operation::PatchHosts {
                            host: existing.host.clone(),
                            container: existing.name.clone(),
                            entries: container.extra_hosts.to_vec(),
                        },
                        after,
                    ));
                    None
                }
                Fate::Replace(existing) => {
                    let policy = desired.rollouts[service];
                    // parallelism 0: every replica in one batch.
                    let batch =
                        replaced_so_far.checked_div(policy.parallelism).unwrap_or(0) as usize;
                    replaced_so_far += 1;
                    let mut after: Vec<usize> = infrastructure
                        .get(&container.host)
                        .cloned()
                        .unwrap_or_default();
                    if let Some(id) =
                        image_ops.get(&(container.host.clone(), container.image.clone()))
                    {
                        after.push(*id);
                    }
                    if batch > 0 {
                        after.extend(batches[batch - 1].iter().copied());
                    }
                    let aside = aside_name(&existing.name, &existing.id);
                    let id = builder.push(
                        Operation::ReplaceContainer {
                            host: container.host.clone(),
                            service: container.service.clone(),
                            replica: container.replica,
                            container: container.name.clone(),
                            old_id: existing.id.clone(),
                            aside: aside.clone(),
                            policy,
                            delay_ms: if batch > 0 { policy.delay_ms } else { 0 },
                        },
                        start_after(after),
                    );
                    if batches.len() <= batch {
                        batches.push(Vec::new());
                    }
                    batches[batch].push(id);
                    replace_ids.push(id);
                    if policy.start_first {
                        retire_later.push((container.host.clone(), aside, id));
                    }
                    Some(id)
                }
                Fate::Start => Some(builder.push(
                    Operation::StartContainer {
                        host: container.host.clone(),
                        container: container.name.clone(),
                    },
                    start_after(Vec::new()),
                )),
                Fate::Create { .. } => {
                    let create = create_of[container.name.as_str()];
                    Some(builder.push(
                        Operation::StartContainer {
                            host: container.host.clone(),
                            container: container.name.clone(),
                        },
                        start_after(vec![create]),
                    ))
                }
            };
            if let Some(start) = start_id {
                readiness.push((DependsOnCondition::ServiceStarted, start));
                if wanted.contains(&DependsOnCondition::ServiceHealthy) {
                    let id = builder.push(
                        Operation::WaitHealthy {
                            host: container.host.clone(),
                            container: container.name.clone(),
                        },
                        vec![start],
                    );
                    readiness.push((DependsOnCondition::ServiceHealthy, id));
                }
                if wanted.contains(&DependsOnCondition::ServiceCompletedSuccessfully) {
                    let id = builder.push(
                        Operation::WaitCompleted {
                            host: container.host.clone(),
                            container: container.name.clone(),
                        },
                        vec![start],
                    );
                    readiness.push((DependsOnCondition::ServiceCompletedSuccessfully, id));
                }
            }
        }
        ready_of_service.insert(service, readiness);
    }
    // Peers switch to replaced containers only once those are up; the old containers of
    // start-first rollouts keep serving until every peer has switched.
    for id in &patch_ids {
        let after = &mut builder.operations[id - 1].after;
        after.extend(replace_ids.iter().copied());
        after.sort_unstable();
        after.dedup();
    }
    for (host, aside, replace) in retire_later {
        let mut after = vec![replace];
        after.extend(patch_ids.iter().copied());
        builder.push(
            Operation::RetireContainer {
                host,
                container: aside,
            },
            after,
        );
    }

    Plan {
        project: desired.project.clone(),
        placements: desired
            .containers
            .iter()
            .map(|c| PlacementRecord {
                service: c.service.clone(),
                replica: c.replica,
                container: c.name.clone(),
                host: c.host.clone(),
            })
            .collect(),
        operations: builder.operations,
        notes,
    }
}

/// What `nap down` removes besides containers and the project's networks.
#[derive(Debug, Clone, Copy, Default)]
pub struct TeardownOptions {
    /// Also the project's named volumes (`-v`), and containers' anonymous volumes.
    pub volumes: bool,
    /// The project runs in routed mode: remove its routes and forwarding rules (over SSH).
    pub routed: bool,
}

/// The operations that remove a project from the hosts (`nap down`): every container, then
/// the routes between the project's subnets (routed mode), then the project's networks (those
/// labelled with the project) and, with [`TeardownOptions::volumes`], its named volumes.
/// Without `volumes`, volumes are kept, as by `docker compose down`.
pub fn teardown(project: &str, observed: &ObservedState, options: TeardownOptions) -> Plan {
    let mut builder = PlanBuilder {
        operations: Vec::new(),
    };
    let mut removals_by_host: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for container in &observed.containers {
        let id = builder.push(
            Operation::RemoveContainer {
                host: container.host.clone(),
                container: container.name.clone(),
                id: container.id.clone(),
                reason: "down".to_string(),
            },
            Vec::new(),
        );
        removals_by_host
            .entry(container.host.as_str())
            .or_default()
            .push(id);
    }
    let project_networks: Vec<&ObservedNetwork> = observed
        .networks
        .iter()
        .filter(|network| network.project.as_deref() == Some(project))
        .collect();
    // Routes go before any network, so an interrupted `down` never leaves a route to a subnet
    // whose network is gone.
    let mut route_removals: Vec<usize> = Vec::new();
    if options.routed {
        let hosts: BTreeSet<&str> = project_networks.iter().map(|n| n.host.as_str()).collect();
        for host in hosts {
            let mut subnets: Vec<Ipv4Cidr> = project_networks
                .iter()
                .filter(|network| network.host != host)
                .filter_map(|network| network.subnet)
                .collect();
            subnets.sort();
            subnets.dedup();
            route_removals.push(builder.push(
                Operation::RemoveRoutes {
                    host: host.to_string(),
                    subnets,
                },
                Vec::new(),
            ));
        }
    }
    for network in &project_networks {
        let mut after = removals_by_host
            .get(network.host.as_str())
            .cloned()
            .unwrap_or_default();
        after.extend(route_removals.iter().copied());
        builder.push(
            Operation::RemoveNetwork {
                host: network.host.clone(),
                name: network.name.clone(),
            },
            after,
        );
    }
    if options.volumes {
        for (host, name) in &observed.project_volumes {
            let after = removals_by_host
                .get(host.as_str())
                .cloned()
                .unwrap_or_default();
            builder.push(
                Operation::RemoveVolume {
                    host: host.clone(),
                    name: name.clone(),
                },
                after,
            );
        }
    }
    Plan {
        project: project.to_string(),
        placements: Vec::new(),
        operations: builder.operations,
        notes: Vec::new(),
    }
}
