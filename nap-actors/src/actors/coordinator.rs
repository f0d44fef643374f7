//! The coordinator: walks a plan's operation graph and hands each operation, once everything
//! it waits for has succeeded, to the actor that carries it out.
//!
//! Host-level operations (networks, volumes, images, routes, removals, and the waits for
//! healthy or completed) go to the host's [`HostActor`]; a replica's create, start and
//! replacement go to its service's [`ServiceActor`]; hosts-file writes (one per host) go to the
//! host actor too. Operations whose dependencies are done run
//! at once, so independent services and different hosts proceed in parallel. When an
//! operation fails, everything that waits on it (directly or not) is skipped and reported;
//! the rest of the plan still runs, so one bad host does not stop the others. The plan itself
//! is the core's (`nap_core::plan`): the coordinator decides nothing about what to do.
//!
//! State: `remaining` (unfinished dependencies per operation), `status`, `ready` (operations
//! whose dependencies have all succeeded, not yet handed out) and `unfinished` change as
//! operations finish; `done` is taken when the last one does, which ends the run. Each
//! finished operation costs work in proportion to its dependents only, so a plan of
//! thousands of operations is walked in linear time.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use nap_core::compose::Project;
use nap_core::plan::{
    DesiredContainer, DesiredState, Operation, PlacementRecord, Plan, PlannedOperation,
};
use serde::Serialize;
use tokio::sync::oneshot;

use crate::actors::ask;
use crate::actors::host::{
    BuildImage, CreateNetwork, CreateVolume, EnsureImage, EnsureRoutes, HostActor, HostErrorKind,
    HostOperationError, ImageSource, OperationResult, RemoveContainer, RemoveHostsFiles,
    RemoveNetwork, RemoveRoutes, RemoveVolume, WaitCondition, WaitContainer, WriteHostsFiles,
};
use crate::actors::service::{CreateReplica, ReplaceReplica, ServiceActor, StartReplica};
use crate::progress::{Event, Progress};
use crate::spec;

/// Everything the coordinator hands work to, and the settings operations need.
pub struct Executors {
    /// The project (its services and networks, for create bodies).
    pub project: Arc<Project>,
    /// The desired state the plan came from (`None` for a teardown).
    pub desired: Option<Arc<DesiredState>>,
    /// One actor per host.
    pub hosts: HashMap<String, Addr<HostActor>>,
    /// One actor per service.
    pub services: HashMap<String, Addr<ServiceActor>>,
    /// Daemons images can be copied from (other hosts, the local daemon).
    pub image_sources: Vec<ImageSource>,
    /// Copy images instead of pulling them.
    pub ship_images: bool,
    /// `--no-cache`, `--pull` of the images built.
    pub build_flags: crate::build::BuildFlags,
    /// How long a wait for healthy or completed may take.
    pub wait_timeout: Duration,
    /// Removing containers also removes their anonymous volumes.
    pub remove_volumes: bool,
    /// Seconds a container being removed gets to stop (`down -t`, `up -t`); `None`: its own.
    pub stop_timeout: Option<i32>,
    /// Where progress goes.
    pub progress: Progress,
}

/// A failed operation.
#[derive(Debug, Clone, Serialize)]
pub struct FailedOperation {
    /// The operation.
    pub operation: PlannedOperation,
    /// Why, naming the host.
    pub error: String,
}

/// How a plan's execution ended.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ExecutionReport {
    /// Operations that succeeded.
    pub succeeded: usize,
    /// Operations that failed, with their errors.
    pub failed: Vec<FailedOperation>,
    /// Operations not run because one they wait for failed.
    pub skipped: Vec<PlannedOperation>,
    /// Mutating Docker/SSH operations that ran (creates, starts, removals, writes…).
    pub mutations: usize,
    /// Hosts-file writes that changed a host's files (one per host at most per run).
    pub hosts_writes: usize,
    /// Seconds the execution took.
    pub seconds: f64,
}

impl ExecutionReport {
    /// Whether everything succeeded.
    pub fn is_success(&self) -> bool {
        self.failed.is_empty() && self.skipped.is_empty()
    }

    /// The replicas of `plan` that are not up as planned: an operation bringing up their
    /// container failed or did not run. In `plan.placements` order.
    pub fn not_deployed<'a>(&self, plan: &'a Plan) -> Vec<&'a PlacementRecord> {
        let containers: BTreeSet<&str> = self
            .failed
            .iter()
            .map(|failed| &failed.operation)
            .chain(&self.skipped)
            .filter_map(|planned| planned.operation.deploys_container())
            .collect();
        plan.placements
            .iter()
            .filter(|placement| containers.contains(placement.container.as_str()))
            .collect()
    }
}

/// Where an operation is in its run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    /// Some operation it waits for has not succeeded yet.
    Waiting,
    /// Handed to its actor.
    Running,
    /// Done.
    Succeeded,
    /// Its actor answered an error.
    Failed,
    /// Not run: an operation it waits for failed.
    Skipped,
}

/// The coordinator actor. See the module documentation.
pub struct CoordinatorActor {
    /// The plan being walked; fixed.
    plan: Plan,
    /// The actors and settings operations are handed to; fixed.
    executors: Arc<Executors>,
    /// The desired state's containers by name (empty for a teardown); fixed.
    containers: HashMap<String, DesiredContainer>,
    /// Per operation, how many operations it waits for have not succeeded yet; counts down.
    remaining: BTreeMap<usize, usize>,
    /// Per operation, the operations that wait for it; fixed.
    dependents: BTreeMap<usize, Vec<usize>>,
    /// Per operation, where it is (see [`Status`]).
    status: BTreeMap<usize, Status>,
    /// Operations whose dependencies have all succeeded, not yet handed out.
    ready: Vec<usize>,
    /// Operations neither finished nor skipped; the run ends at 0.
    unfinished: usize,
    /// What happened so far; handed out when the run ends.
    report: ExecutionReport,
    /// When the run began.
    started: Instant,
    /// Where the report goes; taken when the last operation is done.
    done: Option<oneshot::Sender<ExecutionReport>>,
}

impl CoordinatorActor {
    /// A coordinator for `plan`; the report arrives on the returned receiver when the last
    /// operation is done.
    pub fn new(
        plan: Plan,
        executors: Executors,
    ) -> (CoordinatorActor, oneshot::Receiver<ExecutionReport>) {
        let (done, receiver) = oneshot::channel();
        let containers = executors
            .desired
            .as_ref()
            .map(|desired| {
                desired
                    .containers
                    .iter()
                    .map(|c| (c.name.clone(), c.clone()))
                    .collect()
            })
            .unwrap_or_default();
        let mut remaining = BTreeMap::new();
        let mut dependents: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
        let mut status = BTreeMap::new();
        for planned in &plan.operations {
            remaining.insert(planned.id, planned.after.len());
            status.insert(planned.id, Status::Waiting);
            for before in &planned.after {
                dependents.entry(*before).or_default().push(planned.id);
            }
        }
        let ready = plan
            .operations
            .iter()
            .filter(|planned| planned.after.is_empty())
            .map(|planned| planned.id)
            .collect();
        let unfinished = plan.operations.len();
        let coordinator = CoordinatorActor {
            plan,
            executors: Arc::new(executors),
            containers,
            remaining,
            dependents,
            status,
            ready,
            unfinished,
            report: ExecutionReport::default(),
            started: Instant::now(),
            done: Some(done),
        };
        (coordinator, receiver)
    }

    fn operation(&self, id: usize) -> &PlannedOperation {
        // Ids are positions from 1 (`PlanBuilder`).
        &self.plan.operations[id - 1]
    }

    fn dispatch_ready(&mut self, ctx: &mut Context<Self>) {
        let mut ready = std::mem::take(&mut self.ready);
        ready.sort_unstable();
        for id in ready {
            if self.status[&id] != Status::Waiting {
                continue;
            }
            self.status.insert(id, Status::Running);
            let planned = self.operation(id).clone();
            let (op, subject) = describe(&planned.operation);
            self.executors.progress.emit(Event::Started {
                id,
                host: planned.operation.host().to_string(),
                op: op.to_string(),
                subject,
            });
            let began = Instant::now();
            let work = run(self.executors.clone(), &self.containers, &planned.operation);
            ctx.spawn(work.into_actor(self).map(move |result, actor, ctx| {
                actor.finish(id, result, began.elapsed().as_secs_f64(), ctx);
            }));
        }
        self.maybe_done(ctx);
    }

    fn finish(
        &mut self,
        id: usize,
        result: OperationResult,
        seconds: f64,
        ctx: &mut Context<Self>,
    ) {
        let planned = self.operation(id).clone();
        let (op, subject) = describe(&planned.operation);
        let host = planned.operation.host().to_string();
        match result {
            Ok(outcome) => {
                self.status.insert(id, Status::Succeeded);
                self.unfinished -= 1;
                self.report.succeeded += 1;
                if planned.operation.is_mutating() && !outcome.changed_nothing() {
                    self.report.mutations += 1;
                }
                if matches!(planned.operation, Operation::WriteHostsFiles { .. })
                    && !outcome.changed_nothing()
                {
                    self.report.hosts_writes += 1;
                }
                self.executors.progress.emit(Event::Finished {
                    id,
                    host,
                    op: op.to_string(),
                    subject,
                    ok: true,
                    outcome: outcome.to_string(),
                    error: None,
                    seconds,
                });
                for dependent in self.dependents.get(&id).cloned().unwrap_or_default() {
                    if let Some(left) = self.remaining.get_mut(&dependent) {
                        *left = left.saturating_sub(1);
                        if *left == 0 {
                            self.ready.push(dependent);
                        }
                    }
                }
            }
            Err(error) => {
                self.status.insert(id, Status::Failed);
                self.unfinished -= 1;
                self.executors.progress.emit(Event::Finished {
                    id,
                    host,
                    op: op.to_string(),
                    subject,
                    ok: false,
                    outcome: "failed".to_string(),
                    error: Some(error.to_string()),
                    seconds,
                });
                self.report.failed.push(FailedOperation {
                    operation: planned,
                    error: error.to_string(),
                });
                self.skip_dependents_of(id, id);
            }
        }
        self.dispatch_ready(ctx);
    }

    fn skip_dependents_of(&mut self, id: usize, root: usize) {
        for dependent in self.dependents.get(&id).cloned().unwrap_or_default() {
            if self.status[&dependent] != Status::Waiting {
                continue;
            }
            self.status.insert(dependent, Status::Skipped);
            self.unfinished -= 1;
            let planned = self.operation(dependent).clone();
            let (op, subject) = describe(&planned.operation);
            self.executors.progress.emit(Event::Skipped {
                id: dependent,
                host: planned.operation.host().to_string(),
                op: op.to_string(),
                subject,
                because_of: root,
            });
            self.report.skipped.push(planned);
            self.skip_dependents_of(dependent, root);
        }
    }

    fn maybe_done(&mut self, ctx: &mut Context<Self>) {
        if self.unfinished > 0 || self.done.is_none() {
            return;
        }
        let mut report = std::mem::take(&mut self.report);
        report.seconds = self.started.elapsed().as_secs_f64();
        if let Some(done) = self.done.take() {
            let _ = done.send(report);
        }
        ctx.stop();
    }
}

impl Actor for CoordinatorActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.dispatch_ready(ctx);
    }
}

/// The snake_case kind of an operation and what it works on, for progress lines.
pub fn describe(operation: &Operation) -> (&'static str, String) {
    match operation {
        Operation::CreateNetwork { name, .. } => ("create_network", name.clone()),
        Operation::RemoveNetwork { name, .. } => ("remove_network", name.clone()),
        Operation::EnsureRoutes { routes, .. } => {
            ("ensure_routes", format!("{} subnets", routes.len()))
        }
        Operation::RemoveRoutes { subnets, .. } => {
            ("remove_routes", format!("{} subnets", subnets.len()))
        }
        Operation::CreateVolume { name, .. } => ("create_volume", name.clone()),
        Operation::RemoveVolume { name, .. } => ("remove_volume", name.clone()),
        Operation::EnsureImage { image, .. } => ("ensure_image", image.clone()),
        Operation::BuildImage { image, .. } => ("build_image", image.clone()),
        Operation::ShipImage { image, .. } => ("ship_image", image.clone()),
        Operation::RemoveContainer { container, .. } => ("remove_container", container.clone()),
        Operation::CreateContainer { container, .. } => ("create_container", container.clone()),
        Operation::ReplaceContainer { container, .. } => ("replace_container", container.clone()),
        Operation::RetireContainer { container, .. } => ("retire_container", container.clone()),
        Operation::StartContainer { container, .. } => ("start_container", container.clone()),
        Operation::WaitHealthy { container, .. } => ("wait_healthy", container.clone()),
        Operation::WaitCompleted { container, .. } => ("wait_completed", container.clone()),
        Operation::WriteHostsFiles { files, .. } => {
            ("write_hosts_files", format!("{} files", files.len()))
        }
        Operation::RemoveHostsFiles { files, .. } => {
            ("remove_hosts_files", format!("{} files", files.len()))
        }
    }
}

type Work = Pin<Box<dyn Future<Output = OperationResult>>>;

/// How long an old container of a start-first rollout keeps running after every peer has
/// switched to its replacement: a client that resolved the name just before the switch still
/// reaches it, and requests in flight finish.
const RETIRE_DRAIN: Duration = Duration::from_secs(1);

/// The operation cannot be handed to an actor (none for the host or service, or what it
/// names is not in the desired state).
fn failure(host: &str, kind: HostErrorKind, message: impl Into<String>) -> HostOperationError {
    HostOperationError::new(host, kind, message)
}

/// Hands `message` to `actor` (the host's, or the service's) and waits for the outcome.
fn hand_to<A, M>(actor: Option<&Addr<A>>, host: &str, message: M) -> Work
where
    A: Actor<Context = Context<A>> + Handler<M>,
    M: Message<Result = OperationResult> + Send + 'static,
{
    let host = host.to_string();
    let actor = actor.cloned();
    Box::pin(async move {
        let Some(actor) = actor else {
            return Err(failure(
                &host,
                HostErrorKind::Unavailable,
                "no actor for this host or service",
            ));
        };
        ask(&actor, &host, message).await?
    })
}

/// The future that carries out one operation.
fn run(
    executors: Arc<Executors>,
    containers: &HashMap<String, DesiredContainer>,
    operation: &Operation,
) -> Work {
    let hosts = &executors.hosts;
    let host_name = operation.host().to_string();
    let host = hosts.get(&host_name);
    let desired_container = |name: &str| {
        containers.get(name).cloned().ok_or_else(|| {
            failure(
                &host_name,
                HostErrorKind::Invalid,
                format!("container {name} is not in the desired state"),
            )
        })
    };
    match operation {
        Operation::CreateNetwork { name, .. } => {
            let network = executors.desired.as_ref().and_then(|desired| {
                desired
                    .networks
                    .iter()
                    .find(|n| n.host == host_name && &n.name == name)
                    .cloned()
            });
            let Some(network) = network else {
                return Box::pin(std::future::ready(Err(failure(
                    &host_name,
                    HostErrorKind::Invalid,
                    format!("network {name} is not in the desired state"),
                ))));
            };
            let request = spec::network_spec(&executors.project, &network);
            hand_to(host, &host_name, CreateNetwork { request })
        }
        Operation::RemoveNetwork { name, .. } => {
            hand_to(host, &host_name, RemoveNetwork { name: name.clone() })
        }
        Operation::CreateVolume { name, .. } => {
            let request = spec::volume_spec(&executors.project, name);
            hand_to(host, &host_name, CreateVolume { request })
        }
        Operation::RemoveVolume { name, .. } => {
            hand_to(host, &host_name, RemoveVolume { name: name.clone() })
        }
        Operation::EnsureRoutes {
            routes,
            pool,
            local_subnets,
            ..
        } => hand_to(
            host,
            &host_name,
            EnsureRoutes {
                routes: routes.clone(),
                pool: *pool,
                local_subnets: local_subnets.clone(),
            },
        ),
        Operation::RemoveRoutes { subnets, .. } => hand_to(
            host,
            &host_name,
            RemoveRoutes {
                subnets: subnets.clone(),
            },
        ),
        Operation::EnsureImage { image, .. } => {
            let sources = executors
                .image_sources
                .iter()
                .filter(|source| source.name != host_name)
                .cloned()
                .collect();
            hand_to(
                host,
                &host_name,
                EnsureImage {
                    image: image.clone(),
                    ship: executors.ship_images,
                    sources,
                    exact: false,
                },
            )
        }
        Operation::ShipImage { image, from, .. } => {
            let sources = executors
                .image_sources
                .iter()
                .filter(|source| &source.name == from)
                .map(|source| ImageSource {
                    trusted: true,
                    ..source.clone()
                })
                .collect();
            hand_to(
                host,
                &host_name,
                EnsureImage {
                    image: image.clone(),
                    ship: true,
                    sources,
                    exact: true,
                },
            )
        }
        Operation::BuildImage { service, image, .. } => {
            let Some(build) = executors
                .project
                .services
                .get(service)
                .and_then(|service| service.build.clone())
            else {
                return Box::pin(std::future::ready(Err(failure(
                    &host_name,
                    HostErrorKind::Invalid,
                    format!("service {service} has no build: in the project"),
                ))));
            };
            hand_to(
                host,
                &host_name,
                BuildImage {
                    service: service.clone(),
                    image: image.clone(),
                    build,
                    project_dir: executors.project.working_dir.clone(),
                    flags: executors.build_flags,
                    progress: executors.progress.clone(),
                },
            )
        }
        Operation::RemoveContainer { container, .. } => hand_to(
            host,
            &host_name,
            RemoveContainer {
                container: container.clone(),
                volumes: executors.remove_volumes,
                timeout: executors.stop_timeout,
            },
        ),
        Operation::CreateContainer {
            service, container, ..
        } => match desired_container(container) {
            Ok(container) => hand_to(
                executors.services.get(service),
                &host_name,
                CreateReplica { container },
            ),
            Err(error) => Box::pin(std::future::ready(Err(error))),
        },
        Operation::ReplaceContainer {
            container,
            aside,
            policy,
            delay_ms,
            ..
        } => match desired_container(container) {
            Ok(desired) => {
                let service = desired.service.clone();
                hand_to(
                    executors.services.get(&service),
                    &host_name,
                    ReplaceReplica {
                        container: desired,
                        aside: aside.clone(),
                        policy: *policy,
                        delay: Duration::from_millis(*delay_ms),
                        wait_timeout: executors.wait_timeout,
                    },
                )
            }
            Err(error) => Box::pin(std::future::ready(Err(error))),
        },
        Operation::RetireContainer { container, .. } => {
            let remove = hand_to(
                host,
                &host_name,
                RemoveContainer {
                    container: container.clone(),
                    volumes: false,
                    timeout: executors.stop_timeout,
                },
            );
            Box::pin(async move {
                // Peers resolve the new container now; let what is in flight to the old finish.
                tokio::time::sleep(RETIRE_DRAIN).await;
                remove.await
            })
        }
        Operation::StartContainer { container, .. } => match desired_container(container) {
            Ok(container) => {
                let service = container.service.clone();
                hand_to(
                    executors.services.get(&service),
                    &host_name,
                    StartReplica { container },
                )
            }
            Err(error) => Box::pin(std::future::ready(Err(error))),
        },
        Operation::WaitHealthy { container, .. } | Operation::WaitCompleted { container, .. } => {
            let condition = if matches!(operation, Operation::WaitHealthy { .. }) {
                WaitCondition::Healthy
            } else {
                WaitCondition::Completed
            };
            match desired_container(container) {
                Ok(_) => hand_to(
                    host,
                    &host_name,
                    WaitContainer {
                        container: container.clone(),
                        condition,
                        timeout: executors.wait_timeout,
                    },
                ),
                Err(error) => Box::pin(std::future::ready(Err(error))),
            }
        }
        Operation::WriteHostsFiles {
            folder,
            files,
            images,
            ..
        } => hand_to(
            host,
            &host_name,
            WriteHostsFiles {
                folder: folder.clone(),
                files: files.clone(),
                images: images.clone(),
            },
        ),
        Operation::RemoveHostsFiles {
            folder,
            files,
            images,
            ..
        } => hand_to(
            host,
            &host_name,
            RemoveHostsFiles {
                folder: folder.clone(),
                files: files.clone(),
                images: images.clone(),
            },
        ),
    }
}
