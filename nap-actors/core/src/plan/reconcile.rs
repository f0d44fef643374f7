//! Reconcile: the desired state compared with the observed one gives the plan that turns
//! one into the other.

use std::collections::{BTreeMap, BTreeSet};

use crate::compose::DependsOnCondition;
use crate::inventory::Ipv4Cidr;
use crate::plan::holds_table;
use crate::plan::operation::PlanBuilder;
use crate::plan::{
    DesiredContainer, DesiredState, ObservedContainer, ObservedState, Operation, PlacementRecord,
    Plan, aside_name,
};

/// Options of a reconcile.
#[derive(Debug, Clone, Copy, Default)]
pub struct ReconcileOptions {
    /// Remove containers of services no longer in the project.
    pub remove_orphans: bool,
    /// Recreate every container even when unchanged.
    pub force_recreate: bool,
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
