//! The desired state: a project and an inventory turned into containers placed on hosts
//! (by the scheduler), project networks with a subnet per host, a fixed address for every
//! container and the name table every container gets.

pub mod name_table;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::Ipv4Addr;
use std::sync::Arc;

use serde::Serialize;

use crate::compose::{DependsOnCondition, Project, Service};
use crate::graph::DependencyGraph;
use crate::inventory::{Inventory, Ipv4Cidr, NetworkMode};
use crate::plan::{
    LABEL_CONFIG_HASH, LABEL_HOST, LABEL_PROJECT, LABEL_REPLICA, LABEL_SERVICE, ObservedState,
    PlanError, RolloutPolicy, config_hash, container_name, extra_hosts_hash, rollout_policy,
};
use crate::scheduler::{
    self, Constraint, HostSpec, PlacementPolicy, PublishedPort, Resources, ScheduleInput,
    ServiceDemand, Strategy,
};
use crate::units;
use name_table::{HostEntry, name_tables};

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
    let start_order = graph
        .start_order()
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
        start_order,
        one_shot_services,
        rollouts,
    })
}
