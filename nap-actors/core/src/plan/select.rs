//! `nap up SERVICE…`: the part of a deployment's plan that concerns some services — those
//! named and, unless `--no-deps`, what they depend on — leaving every other service's
//! containers as they are, as `docker compose up SERVICE` does.
//!
//! Kept: the selected services' containers (created, replaced, retired, started, waited for,
//! removed when scaled down), the images their hosts need, the networks, volumes and routes
//! they use being created, and every hosts-file rewrite (names stay right everywhere).
//! Dropped: everything else, including removals of networks, volumes, routes and orphans.
//!
//! `nap run SERVICE` ([`for_one_off`]) is the same cut for SERVICE's dependencies, plus the
//! creation (not the start: `nap run` attaches first) of the one-off container alone, with
//! what it needs on its host; SERVICE's replicas are left as they are.

use std::collections::{BTreeSet, HashMap};

use crate::graph::DependencyGraph;

use super::{DesiredState, ObservedState, OneOff, Operation, Plan};

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
        | Operation::WriteHostsFiles { .. } => true,
        Operation::RemoveNetwork { .. }
        | Operation::RemoveHostsFiles { .. }
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

/// The plan's operations for a one-off container of `one_off.service` (see the module doc):
/// its dependencies' (all of them with `with_dependencies`, none without) and the one-off's
/// image and creation, with the networks, volumes and routes they need.
pub fn for_one_off(
    plan: &Plan,
    desired: &DesiredState,
    observed: &ObservedState,
    graph: &DependencyGraph,
    one_off: &OneOff,
    with_dependencies: bool,
) -> Plan {
    let services = self::with_dependencies(
        graph,
        std::slice::from_ref(&one_off.service),
        with_dependencies,
    );
    let cut = only_services(plan, desired, observed, &services);
    // The service's replicas and their rollouts' set-aside names: left as they are.
    let replicas: BTreeSet<&str> = desired
        .containers
        .iter()
        .map(|container| (container.service.as_str(), container.name.as_str()))
        .chain(
            observed
                .containers
                .iter()
                .map(|container| (container.service.as_str(), container.name.as_str())),
        )
        .filter(|(service, name)| *service == one_off.service && *name != one_off.name)
        .map(|(_, name)| name)
        .chain(
            cut.operations
                .iter()
                .filter_map(|planned| match &planned.operation {
                    Operation::ReplaceContainer { aside, service, .. }
                        if *service == one_off.service =>
                    {
                        Some(aside.as_str())
                    }
                    _ => None,
                }),
        )
        .collect();
    let images: BTreeSet<(&str, &str)> = desired
        .containers
        .iter()
        .filter(|container| container.service != one_off.service || container.name == one_off.name)
        .filter(|container| services.contains(&container.service))
        .map(|container| (container.host.as_str(), container.image.as_str()))
        .collect();
    cut.only(|operation| match operation {
        Operation::EnsureImage { host, image } => images.contains(&(host.as_str(), image.as_str())),
        Operation::CreateContainer { container, .. } => !replicas.contains(container.as_str()),
        Operation::ReplaceContainer { service, .. } => *service != one_off.service,
        Operation::StartContainer { container, .. }
        | Operation::WaitHealthy { container, .. }
        | Operation::WaitCompleted { container, .. } => {
            *container != one_off.name && !replicas.contains(container.as_str())
        }
        Operation::RemoveContainer { container, .. }
        | Operation::RetireContainer { container, .. } => !replicas.contains(container.as_str()),
        _ => true,
    })
}
