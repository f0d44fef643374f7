//! Reconcile: the desired state compared with the observed one gives the plan that turns
//! one into the other.

use std::collections::{BTreeMap, BTreeSet};

use crate::compose::DependsOnCondition;
use crate::hosts_file;
use crate::inventory::Ipv4Cidr;
use crate::plan::holds_hosts_file;
use crate::plan::operation::PlanBuilder;
use crate::plan::{
    DesiredBuild, DesiredContainer, DesiredState, ObservedContainer, ObservedState, Operation,
    PlacementRecord, Plan, aside_name,
};

/// When the images of `build:` services are built.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum BuildPolicy {
    /// When a container needs the image and the builder has none with the context's hash.
    #[default]
    Changed,
    /// Always (`up --build`, `nap build`).
    Always,
    /// Never (`up --no-build`): the image is fetched as any other (pulled, or copied from a
    /// daemon that has it).
    Never,
}

/// Options of a reconcile.
#[derive(Debug, Clone, Copy, Default)]
pub struct ReconcileOptions {
    /// Remove containers of services no longer in the project.
    pub remove_orphans: bool,
    /// Recreate every container even when unchanged.
    pub force_recreate: bool,
    /// When images of `build:` services are built.
    pub build: BuildPolicy,
}

/// Compares the desired state with what the daemons hold and returns the operations that
/// close the gap. A project already in its desired state gets an empty plan.
///
/// The plan is built in phases, each a method of a `Reconciler`: networks, routes and volumes;
/// each container's [`Fate`]; images; the hosts files (one write per host, when any
/// container comes or goes); removals; creates; starts in dependency order (with rollouts and
/// readiness waits); then the rollouts' retirements.
pub fn reconcile(
    desired: &DesiredState,
    observed: &ObservedState,
    options: ReconcileOptions,
) -> Plan {
    let fates: Vec<(&DesiredContainer, Fate)> = desired
        .containers
        .iter()
        .map(|container| (container, fate(container, desired, observed, options)))
        .collect();
    let mut reconciler = Reconciler::new(desired, observed, options);
    reconciler.networks_routes_and_volumes();
    reconciler.images(&fates);
    let start_first = fates.iter().any(|(container, fate)| {
        matches!(fate, Fate::Replace(_))
            && desired
                .rollouts
                .get(&container.service)
                .is_some_and(|policy| policy.start_first)
    });
    let files_change = reconciler.membership_changes(&fates);
    if files_change && !start_first {
        reconciler.hosts_files();
    }
    reconciler.removals();
    reconciler.creates(&fates);
    for service in &desired.start_order {
        reconciler.starts(service, &fates);
    }
    if files_change && start_first {
        // Peers switch to the start-first replacements once those are up.
        let after = reconciler.replace_ids.clone();
        reconciler.hosts_files_after(after);
    }
    reconciler.rollout_ends();
    reconciler.into_plan()
}

/// What becomes of one desired container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fate<'a> {
    /// It runs as wanted (or, one-shot, has completed): nothing to do.
    Keep,
    /// It exists as wanted but is stopped: start it.
    Start,
    /// Create it (after removing the container it `replaces`, when there is one).
    Create {
        /// Why, as the plan prints it: `new`, `config changed`, `forced`, `moved from h1`,
        /// `hosts file changed`.
        reason: String,
        /// The container of the same name on the same host, removed first.
        replaces: Option<&'a ObservedContainer>,
    },
    /// Replace the running container by its rollout policy.
    Replace(&'a ObservedContainer),
}

/// Decides `container`'s fate from what its host holds under its name.
pub fn fate<'a>(
    container: &DesiredContainer,
    desired: &DesiredState,
    observed: &'a ObservedState,
    options: ReconcileOptions,
) -> Fate<'a> {
    let mut same_name = observed
        .containers
        .iter()
        .filter(|o| o.name == container.name);
    let first = same_name.clone().next();
    let here = same_name.find(|o| o.host == container.host);
    match here {
        Some(existing)
            if existing.config_hash == container.config_hash && !options.force_recreate =>
        {
            let completed = existing.state == "exited"
                && existing.exit_code == Some(0)
                && desired.one_shot_services.contains(&container.service);
            if !holds_hosts_file(existing, container) {
                // Made by an older nap (its table in `extra_hosts`) or reading another file:
                // the mount is fixed at create.
                Fate::Create {
                    reason: "hosts file changed".to_string(),
                    replaces: Some(existing),
                }
            } else if existing.state == "running" || completed {
                Fate::Keep
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
        None => match first {
            Some(elsewhere) => Fate::Create {
                reason: format!("moved from {}", elsewhere.host),
                replaces: None,
            },
            None => Fate::Create {
                reason: "new".to_string(),
                replaces: None,
            },
        },
    }
}

/// One reconcile in progress: the inputs and the operation ids later phases wait on.
struct Reconciler<'a> {
    /// What the project wants.
    desired: &'a DesiredState,
    /// What the daemons hold.
    observed: &'a ObservedState,
    /// `--remove-orphans`, `--force-recreate`.
    options: ReconcileOptions,
    /// The operations so far.
    builder: PlanBuilder,
    /// Things the plan does not do, for the user (orphans left alone).
    notes: Vec<String>,
    /// Per host: the network and volume creations its containers' creates wait for.
    infrastructure: BTreeMap<String, Vec<usize>>,
    /// Per host: the route operation its starts wait for.
    routes_done: BTreeMap<String, usize>,
    /// Per (host, container name): the removal of a container nobody wants any more.
    removal_of: BTreeMap<(String, String), usize>,
    /// Per (host, image): the operation that brings the image there.
    image_ops: BTreeMap<(String, String), usize>,
    /// Per container name: its create.
    create_of: BTreeMap<&'a str, usize>,
    /// Per service: the operations dependents wait on, with the condition each one meets.
    ready_of_service: BTreeMap<&'a str, Vec<(DependsOnCondition, usize)>>,
    /// Every rollout replacement.
    replace_ids: Vec<usize>,
    /// Every hosts-file write.
    write_ids: Vec<usize>,
    /// Old containers of start-first rollouts, retired once every host's files name the
    /// replacements: (host, aside name, the replacement).
    retire_later: Vec<(String, String, usize)>,
}

impl<'a> Reconciler<'a> {
    fn new(
        desired: &'a DesiredState,
        observed: &'a ObservedState,
        options: ReconcileOptions,
    ) -> Reconciler<'a> {
        Reconciler {
            desired,
            observed,
            options,
            builder: PlanBuilder {
                operations: Vec::new(),
            },
            notes: Vec::new(),
            infrastructure: BTreeMap::new(),
            routes_done: BTreeMap::new(),
            removal_of: BTreeMap::new(),
            image_ops: BTreeMap::new(),
            create_of: BTreeMap::new(),
            ready_of_service: BTreeMap::new(),
            replace_ids: Vec::new(),
            write_ids: Vec::new(),
            retire_later: Vec::new(),
        }
    }

    /// Networks, routes and volumes each host lacks.
    fn networks_routes_and_volumes(&mut self) {
        let (desired, observed) = (self.desired, self.observed);
        for network in &desired.networks {
            let exists = observed
                .networks
                .iter()
                .any(|o| o.host == network.host && o.name == network.name);
            if !exists {
                let id = self.builder.push(
                    Operation::CreateNetwork {
                        host: network.host.clone(),
                        key: network.key.clone(),
                        name: network.name.clone(),
                        subnet: network.subnet,
                    },
                    Vec::new(),
                );
                self.infrastructure
                    .entry(network.host.clone())
                    .or_default()
                    .push(id);
            }
        }
        let any_network_created = self
            .builder
            .operations
            .iter()
            .any(|op| matches!(op.operation, Operation::CreateNetwork { .. }));
        if let Some(pool) = desired.pool {
            for (host, routes) in &desired.routes {
                // A host with no peer subnet to reach has nothing to install (its project
                // runs on it alone); once a peer appears, that peer's new network brings
                // this host's routes into the plan.
                if routes.is_empty() {
                    continue;
                }
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
                    let id = self.builder.push(
                        Operation::EnsureRoutes {
                            host: host.clone(),
                            routes: routes.clone(),
                            pool,
                            local_subnets,
                        },
                        Vec::new(),
                    );
                    self.routes_done.insert(host.clone(), id);
                }
            }
        }
        for (host, name) in &desired.volumes {
            if !observed.volumes.contains(&(host.clone(), name.clone())) {
                let id = self.builder.push(
                    Operation::CreateVolume {
                        host: host.clone(),
                        name: name.clone(),
                    },
                    Vec::new(),
                );
                self.infrastructure
                    .entry(host.clone())
                    .or_default()
                    .push(id);
            }
        }
    }

    /// Whether the project's members change: a container is created, replaced or removed
    /// (scaled down, moved, orphaned with `--remove-orphans`), or a host needs a hosts file no
    /// container there reads yet. Then every host's files are written, in one write per host;
    /// otherwise none is (a second `up` writes nothing).
    fn membership_changes(&self, fates: &[(&DesiredContainer, Fate)]) -> bool {
        let (desired, observed) = (self.desired, self.observed);
        if desired.hosts_files.is_empty() {
            return false;
        }
        let comes = fates
            .iter()
            .any(|(_, fate)| matches!(fate, Fate::Create { .. } | Fate::Replace(_)));
        let desired_names: BTreeSet<(&str, &str)> = desired
            .containers
            .iter()
            .map(|c| (c.host.as_str(), c.name.as_str()))
            .collect();
        let goes = observed.containers.iter().any(|existing| {
            !desired_names.contains(&(existing.host.as_str(), existing.name.as_str()))
                && (self.options.remove_orphans
                    || desired.dependencies.contains_key(&existing.service))
        });
        let unread = desired.hosts_files.iter().any(|file| {
            !observed.containers.iter().any(|existing| {
                existing.host == file.host && existing.hosts_file.as_deref() == Some(&file.file)
            })
        });
        comes || goes || unread
    }

    /// One write per host of all its hosts files, before anything else changes.
    fn hosts_files(&mut self) {
        self.hosts_files_after(Vec::new());
    }

    /// One write per host of all its hosts files, after `after` (and the image its helper
    /// container would be made from, where the plan brings it).
    fn hosts_files_after(&mut self, after: Vec<usize>) {
        let desired = self.desired;
        let mut by_host: BTreeMap<&str, Vec<crate::plan::DesiredHostsFile>> = BTreeMap::new();
        for file in &desired.hosts_files {
            by_host.entry(&file.host).or_default().push(file.clone());
        }
        for (host, files) in by_host {
            let Ok(folder) = hosts_file::folder(&desired.project, host) else {
                // The loader and the inventory refuse such names; nothing is written under an
                // unsafe one (and the spec refuses to create the container).
                continue;
            };
            let mut images: Vec<String> = Vec::new();
            for container in desired.containers.iter().filter(|c| c.host == host) {
                if !container.image.is_empty() && !images.contains(&container.image) {
                    images.push(container.image.clone());
                }
            }
            let mut waits = after.clone();
            for image in &images {
                if let Some(id) = self.image_ops.get(&(host.to_string(), image.clone())) {
                    waits.push(*id);
                }
            }
            waits.sort_unstable();
            let id = self.builder.push(
                Operation::WriteHostsFiles {
                    host: host.to_string(),
                    folder: folder.clone(),
                    files,
                    images,
                },
                waits,
            );
            self.write_ids.push(id);
        }
    }

    /// Removals of containers nobody wants any more (scaled down, moved, orphaned).
    fn removals(&mut self) {
        let (desired, observed) = (self.desired, self.observed);
        let desired_names: BTreeSet<(&str, &str)> = desired
            .containers
            .iter()
            .map(|c| (c.host.as_str(), c.name.as_str()))
            .collect();
        for existing in &observed.containers {
            if desired_names.contains(&(existing.host.as_str(), existing.name.as_str())) {
                continue;
            }
            let wanted_service = desired.dependencies.contains_key(&existing.service);
            if !wanted_service && !self.options.remove_orphans {
                self.notes.push(format!(
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
            // Peers stop resolving it before it goes.
            let id = self.builder.push(
                Operation::RemoveContainer {
                    host: existing.host.clone(),
                    container: existing.name.clone(),
                    id: existing.id.clone(),
                    reason,
                },
                self.write_ids.clone(),
            );
            self.removal_of
                .insert((existing.host.clone(), existing.name.clone()), id);
        }
    }

    /// Images on hosts where containers will be created: built images first (built once on
    /// the builder when it lacks one with the context's hash, then shipped to the other hosts
    /// that need it), then the others (pulled or copied).
    fn images(&mut self, fates: &[(&DesiredContainer, Fate)]) {
        let mut built_services = BTreeSet::new();
        if self.options.build != BuildPolicy::Never {
            for build in &self.desired.builds {
                built_services.insert(build.service.as_str());
                self.built_image(build, fates);
            }
        }
        for (container, fate) in fates {
            if built_services.contains(container.service.as_str()) {
                continue;
            }
            if let Fate::Create { .. } | Fate::Replace(_) = fate {
                let key = (container.host.clone(), container.image.clone());
                if !self.observed.images.contains(&key) && !self.image_ops.contains_key(&key) {
                    let id = self.builder.push(
                        Operation::EnsureImage {
                            host: container.host.clone(),
                            image: container.image.clone(),
                        },
                        Vec::new(),
                    );
                    self.image_ops.insert(key, id);
                }
            }
        }
    }

    /// Whether `host` holds `build`'s image with the context's hash.
    fn holds_build(&self, host: &str, build: &DesiredBuild) -> bool {
        self.observed
            .image_details
            .get(&(host.to_string(), build.image.clone()))
            .is_some_and(|image| {
                build.context_hash.is_none() || image.build_hash == build.context_hash
            })
    }

    /// The build and the shipments of one `build:` service's image.
    fn built_image(&mut self, build: &DesiredBuild, fates: &[(&DesiredContainer, Fate)]) {
        let forced = self.options.build == BuildPolicy::Always;
        let needing: BTreeSet<&str> = fates
            .iter()
            .filter(|(container, fate)| {
                container.service == build.service
                    && matches!(fate, Fate::Create { .. } | Fate::Replace(_))
            })
            .map(|(container, _)| container.host.as_str())
            .filter(|host| forced || !self.holds_build(host, build))
            .collect();
        if needing.is_empty() && !forced {
            return;
        }
        let on_builder = self
            .observed
            .image_details
            .get(&(build.host.clone(), build.image.clone()));
        let reason = match on_builder {
            _ if forced => Some("--build"),
            None => Some("not built yet"),
            Some(_) if self.holds_build(&build.host, build) => None,
            Some(_) => Some("context changed"),
        };
        let build_id = reason.map(|reason| {
            self.builder.push(
                Operation::BuildImage {
                    host: build.host.clone(),
                    service: build.service.clone(),
                    image: build.image.clone(),
                    reason: reason.to_string(),
                },
                Vec::new(),
            )
        });
        for host in needing {
            let key = (host.to_string(), build.image.clone());
            if host == build.host {
                if let Some(id) = build_id {
                    self.image_ops.insert(key, id);
                }
                continue;
            }
            let id = self.builder.push(
                Operation::ShipImage {
                    host: host.to_string(),
                    image: build.image.clone(),
                    from: build.host.clone(),
                },
                build_id.into_iter().collect(),
            );
            self.image_ops.insert(key, id);
        }
    }

    /// What a container's create or replacement waits for on its host: the networks and
    /// volumes made there, its image, and every host's hosts-file write (a container only
    /// comes or goes once every file names the project's new members, so an `up` cut short
    /// never leaves one host's file behind the containers the next `up` sees).
    fn infrastructure_for(&self, container: &DesiredContainer) -> Vec<usize> {
        let mut after = self
            .infrastructure
            .get(&container.host)
            .cloned()
            .unwrap_or_default();
        after.extend(self.write_ids.iter().copied());
        if let Some(id) = self
            .image_ops
            .get(&(container.host.clone(), container.image.clone()))
        {
            after.push(*id);
        }
        after
    }

    /// Creates (after removing what they replace, and what frees their name).
    fn creates(&mut self, fates: &[(&'a DesiredContainer, Fate)]) {
        for (container, fate) in fates {
            let Fate::Create { reason, replaces } = fate else {
                continue;
            };
            let mut after = self.infrastructure_for(container);
            if let Some(old) = replaces {
                let id = self.builder.push(
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
            for (key, id) in &self.removal_of {
                if key.1 == container.name {
                    after.push(*id);
                }
            }
            let id = self.builder.push(
                Operation::CreateContainer {
                    host: container.host.clone(),
                    service: container.service.clone(),
                    replica: container.replica,
                    container: container.name.clone(),
                    reason: reason.clone(),
                },
                after,
            );
            self.create_of.insert(container.name.as_str(), id);
        }
    }

    /// Starts, patches and rollout replacements of one service's replicas, after what its
    /// dependencies' conditions need; then the waits its dependents need.
    fn starts(&mut self, service: &'a str, fates: &[(&'a DesiredContainer, Fate<'a>)]) {
        let desired = self.desired;
        let Some(dependencies) = desired.dependencies.get(service) else {
            return;
        };
        let mut waits: Vec<usize> = Vec::new();
        for (dependency, condition) in dependencies {
            if let Some(readiness) = self.ready_of_service.get(dependency.as_str()) {
                waits.extend(
                    readiness
                        .iter()
                        .filter(|(kind, _)| kind == condition)
                        .map(|(_, id)| *id),
                );
            }
        }
        // The conditions dependents wait for on this service.
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
        let mut readiness = Vec::new();
        let mut batches: Vec<Vec<usize>> = Vec::new();
        let mut replaced_so_far = 0u64;
        for (container, fate) in of_service {
            let start_after = |mut after: Vec<usize>, routes_done: &BTreeMap<String, usize>| {
                after.extend(waits.iter().copied());
                if let Some(id) = routes_done.get(&container.host) {
                    after.push(*id);
                }
                after
            };
            let start_id = match fate {
                Fate::Keep => None,
                Fate::Replace(existing) => {
                    let policy = desired.rollouts[service];
                    // parallelism 0: every replica in one batch.
                    let batch =
                        replaced_so_far.checked_div(policy.parallelism).unwrap_or(0) as usize;
                    replaced_so_far += 1;
                    let mut after = self.infrastructure_for(container);
                    if batch > 0 {
                        after.extend(batches[batch - 1].iter().copied());
                    }
                    let aside = aside_name(&existing.name, &existing.id);
                    let id = self.builder.push(
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
                        start_after(after, &self.routes_done),
                    );
                    if batches.len() <= batch {
                        batches.push(Vec::new());
                    }
                    batches[batch].push(id);
                    self.replace_ids.push(id);
                    if policy.start_first {
                        self.retire_later.push((container.host.clone(), aside, id));
                    }
                    Some(id)
                }
                Fate::Start => Some(self.builder.push(
                    Operation::StartContainer {
                        host: container.host.clone(),
                        container: container.name.clone(),
                    },
                    start_after(Vec::new(), &self.routes_done),
                )),
                Fate::Create { .. } => {
                    let create = self.create_of[container.name.as_str()];
                    Some(self.builder.push(
                        Operation::StartContainer {
                            host: container.host.clone(),
                            container: container.name.clone(),
                        },
                        start_after(vec![create], &self.routes_done),
                    ))
                }
            };
            if let Some(start) = start_id {
                readiness.push((DependsOnCondition::ServiceStarted, start));
                if wanted.contains(&DependsOnCondition::ServiceHealthy) {
                    let id = self.builder.push(
                        Operation::WaitHealthy {
                            host: container.host.clone(),
                            container: container.name.clone(),
                        },
                        vec![start],
                    );
                    readiness.push((DependsOnCondition::ServiceHealthy, id));
                }
                if wanted.contains(&DependsOnCondition::ServiceCompletedSuccessfully) {
                    let id = self.builder.push(
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
        self.ready_of_service.insert(service, readiness);
    }

    /// The old containers of start-first rollouts keep serving until every host's files
    /// name their replacements.
    fn rollout_ends(&mut self) {
        for (host, aside, replace) in std::mem::take(&mut self.retire_later) {
            let mut after = vec![replace];
            after.extend(self.write_ids.iter().copied());
            self.builder.push(
                Operation::RetireContainer {
                    host,
                    container: aside,
                },
                after,
            );
        }
    }

    fn into_plan(self) -> Plan {
        Plan {
            project: self.desired.project.clone(),
            placements: self
                .desired
                .containers
                .iter()
                .map(|c| PlacementRecord {
                    service: c.service.clone(),
                    replica: c.replica,
                    container: c.name.clone(),
                    host: c.host.clone(),
                })
                .collect(),
            operations: self.builder.operations,
            notes: self.notes,
        }
    }
}
