//! `nap up SERVICE…`: the part of a deployment's plan that concerns some services — those
//! named and, unless `--no-deps`, what they depend on — leaving every other service's
//! containers as they are, as `docker compose up SERVICE` does.
//!
//! Kept: the selected services' containers (created, replaced, retired, started, waited for,
//! removed when scaled down), the images their hosts need, the networks, volumes and routes
//! they use being created, and every hosts-file rewrite (names stay right everywhere).
//! Dropped: everything else, including removals of networks, volumes, routes and orphans.

use std::collections::{BTreeSet, HashMap};

use crate::graph::DependencyGraph;

use super::{DesiredState, ObservedState, Operation, Plan};

/// The services `named` and, with `with_dependencies`, every service they depend on,
/// transitively (`depends_on`, `links`, shared namespaces).
pub fn with_dependencies(
    graph: &DependencyGraph,
    named: &[String],
    with_dependencies: bool,
) -> BTreeSet<String> {
    let mut selected: BTreeSet<String> = named.iter().cloned().collect();
    if !with_dependencies {
        return selected;
    }
    let mut stack: Vec<String> = named.to_vec();
    while let Some(service) = stack.pop() {
        for edge in graph.dependencies(&service) {
            if selected.insert(edge.to.clone()) {
                stack.push(edge.to.clone());
            }
        }
    }
    selected
}

/// The plan's operations for `services` only (see the module doc).
pub fn only_services(
    plan: &Plan,
    desired: &DesiredState,
    observed: &ObservedState,
    services: &BTreeSet<String>,
) -> Plan {
    let mut service_of: HashMap<&str, &str> = HashMap::new();
    for container in &observed.containers {
        service_of.insert(&container.name, &container.service);
    }
    for container in &desired.containers {
        service_of.insert(&container.name, &container.service);
    }
    for planned in &plan.operations {
        if let Operation::ReplaceContainer { aside, service, .. } = &planned.operation {
            service_of.insert(aside, service);
        }
    }
    let images: BTreeSet<(&str, &str)> = desired
        .containers
        .iter()
        .filter(|container| services.contains(&container.service))
        .map(|container| (container.host.as_str(), container.image.as_str()))
        .collect();
    let selected = |container: &str| {
        service_of
            .get(container)
            .is_some_and(|service| services.contains(*service))
    };
    plan.only(|operation| match operation {
        Operation::CreateNetwork { .. }
        | Operation::CreateVolume { .. }
        | Operation::EnsureRoutes { .. }
        | Operation::PatchHosts { .. } => true,
        Operation::RemoveNetwork { .. }
        | Operation::RemoveVolume { .. }
        | Operation::RemoveRoutes { .. } => false,
        Operation::EnsureImage { host, image } | Operation::ShipImage { host, image, .. } => {
            images.contains(&(host.as_str(), image.as_str()))
        }
        Operation::BuildImage { service, .. } => services.contains(service),
        Operation::CreateContainer { service, .. }
        | Operation::ReplaceContainer { service, .. } => services.contains(service),
        Operation::RemoveContainer { container, .. }
        | Operation::RetireContainer { container, .. }
        | Operation::StartContainer { container, .. }
        | Operation::WaitHealthy { container, .. }
        | Operation::WaitCompleted { container, .. } => selected(container),
    })
}
