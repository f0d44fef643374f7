//! Addressing: the project networks each host needs with a /24 of the routed pool each
//! (kept from the observed network, never overlapping any network seen on any host), a fixed
//! address per container (kept per container name across recreation), and the routes each
//! host needs to the others' subnets.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;

use crate::compose::Project;
use crate::inventory::{Inventory, Ipv4Cidr, NetworkMode};
use crate::plan::{
    DesiredContainer, DesiredNetwork, NetworkAttachment, ObservedState, PlanError, RolloutPolicy,
    Route,
};

/// The project networks on every host that runs a container on them, with their subnets.
pub(super) fn project_networks(
    project: &Project,
    inventory: &Inventory,
    observed: &ObservedState,
    containers: &[DesiredContainer],
) -> Result<Vec<DesiredNetwork>, PlanError> {
    let mode = inventory.network.mode;
    // Networks: each project network exists on every host that runs a container on it.
    let mut networks: Vec<DesiredNetwork> = Vec::new();
    let mut needed: BTreeSet<(String, String)> = BTreeSet::new();
    for container in containers {
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
    Ok(networks)
}

/// Attaches every container to its service's networks, with its aliases and (routed mode) its
/// address: a container keeps the address its name had; new names take the lowest free.
pub(super) fn attach_networks(
    project: &Project,
    observed: &ObservedState,
    rollouts: &BTreeMap<String, RolloutPolicy>,
    networks: &[DesiredNetwork],
    containers: &mut [DesiredContainer],
) -> Result<(), PlanError> {
    let mut taken: BTreeMap<(String, String), BTreeSet<Ipv4Addr>> = BTreeMap::new();
    // One-off containers (`nap run`) hold their addresses too.
    for container in observed.containers.iter().chain(&observed.one_offs) {
        for (network_name, address) in &container.addresses {
            taken
                .entry((container.host.clone(), network_name.clone()))
                .or_default()
                .insert(*address);
        }
    }
    // Fix: fixed `ipv4_address`es were not reserved, so a container without one could be
    // given the same address as a container that has it fixed.
    for container in containers.iter() {
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
    for container in containers.iter_mut() {
        let service = &project.services[&container.service];
        for (key, options) in &service.networks {
            let network = &project.networks[key];
            let mut aliases = vec![container.service.clone()];
            if let Some(options) = options {
                aliases.extend(options.aliases.iter().cloned());
            }
            // A one-off container answers to no service name, as with `docker compose run`.
            if super::one_off::is_one_off(&container.labels) {
                aliases.clear();
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
    Ok(())
}

/// The routes each host that runs project containers needs to the other hosts' subnets
/// (routed mode with more than one host).
pub(super) fn routes(
    inventory: &Inventory,
    networks: &[DesiredNetwork],
) -> BTreeMap<String, Vec<Route>> {
    let mode = inventory.network.mode;
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
    routes
}
