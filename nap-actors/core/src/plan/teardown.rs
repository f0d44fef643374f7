//! Teardown: the plan that removes a project (`nap down`).

use std::collections::{BTreeMap, BTreeSet};

use crate::inventory::Ipv4Cidr;
use crate::plan::operation::PlanBuilder;
use crate::plan::{ObservedNetwork, ObservedState, Operation, Plan};

/// What `nap down` removes besides containers and the project's networks.
#[derive(Debug, Clone, Copy, Default)]
pub struct TeardownOptions {
    /// Also the project's named volumes (`-v`), and containers' anonymous volumes.
    pub volumes: bool,
    /// The project runs in routed mode: remove its routes and forwarding rules (over SSH).
    pub routed: bool,
}

/// The operations that remove a project from the hosts (`nap down`): every container, then
/// the hosts files they read (one removal per host), the routes between the project's subnets
/// (routed mode), then the project's networks (those labelled with the project) and, with
/// [`TeardownOptions::volumes`], its named volumes.
/// Without `volumes`, volumes are kept, as by `docker compose down`.
pub fn teardown(project: &str, observed: &ObservedState, options: TeardownOptions) -> Plan {
    let mut builder = PlanBuilder {
        operations: Vec::new(),
    };
    let mut removals_by_host: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for container in observed.containers.iter().chain(&observed.one_offs) {
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
    // The hosts files, once no container reads them.
    let mut files_by_host: BTreeMap<&str, (BTreeSet<&str>, Vec<String>)> = BTreeMap::new();
    for container in &observed.containers {
        if let Some(file) = &container.hosts_file {
            let (files, images) = files_by_host.entry(container.host.as_str()).or_default();
            files.insert(file.as_str());
            if !container.image.is_empty() && !images.contains(&container.image) {
                images.push(container.image.clone());
            }
        }
    }
    for (host, (files, images)) in files_by_host {
        if let Ok(folder) = crate::hosts_file::folder(project, host) {
            builder.push(
                Operation::RemoveHostsFiles {
                    host: host.to_string(),
                    folder: folder.clone(),
                    files: files.into_iter().map(str::to_string).collect(),
                    images,
                },
                removals_by_host.get(host).cloned().unwrap_or_default(),
            );
        }
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
