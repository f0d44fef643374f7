//! `up` and `down` as library calls: the [`pipeline`]'s stages, then execution by the actors —
//! the one path `nap up`, `nap watch` and `nap down` share, each a [`Goal`] with its options.
//!
//! A run connects to every host at once (or reuses a running `watch`'s clients), observes,
//! plans (the pure core decides), and unless the plan is empty checks SSH to every host the
//! plan touches before any change, starts the actors — one [`HostActor`] per host, one
//! [`ServiceActor`] per service (deployments only) and the
//! [`CoordinatorActor`] — and waits for the coordinator's report. Must run inside an actix
//! `System`.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use bollard::Docker;
use futures_util::future::join_all;
use nap_core::compose::Project;
use nap_core::inventory::{DockerEndpoint, Inventory};
use nap_core::plan::{self, BuildPolicy, OneOff, Operation, Plan, ReconcileOptions};
use serde::Serialize;

use crate::build::BuildFlags;
use crate::coordinator::{CoordinatorActor, ExecutionReport, Executors};
use crate::deployment::Deployment;
use crate::host_actor::{HostActor, ImageSource, SshSettings, SshShell, Stop};
use crate::observe::ObserveError;
use crate::pipeline::{self, Goal, Planned};
use crate::plugins::Plugins;
use crate::progress::{Event, Progress};
use crate::service_actor::ServiceActor;
use crate::ssh::{RemoteShell, SshSession};

/// How long connecting to a host over SSH (TCP, key exchange, login) may take.
const SSH_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Flags of `nap up`.
#[derive(Debug, Clone)]
pub struct UpOptions {
    /// Remove containers of services no longer in the project.
    pub remove_orphans: bool,
    /// Recreate every container.
    pub force_recreate: bool,
    /// Copy images from the local daemon or another host instead of pulling.
    pub ship_images: bool,
    /// How long a wait for healthy or completed may take.
    pub wait_timeout: Duration,
    /// Loaded plugins (their `post_start` hooks are called for every started container).
    pub plugins: Plugins,
    /// Only these services (and, unless `no_deps`, what they depend on); empty: all.
    pub services: Vec<String>,
    /// With `services`: leave their dependencies as they are.
    pub no_deps: bool,
    /// Seconds a container being removed or recreated gets to stop (`-t`); `None`: its own
    /// grace period.
    pub stop_timeout: Option<i32>,
    /// Hosts gone for good (`--forget-host`): their recorded containers are forgotten.
    pub forget_hosts: BTreeSet<String>,
    /// A host to empty (`nap host drain`): nothing is placed there, its replicas move.
    pub drain_host: Option<String>,
    /// When images of `build:` services are built (`--build`, `--no-build`).
    pub build: BuildPolicy,
    /// `--no-cache`, `--pull` of those builds (`nap build`).
    pub build_flags: BuildFlags,
}

impl Default for UpOptions {
    fn default() -> UpOptions {
        UpOptions {
            remove_orphans: false,
            force_recreate: false,
            ship_images: false,
            wait_timeout: Duration::from_secs(300),
            plugins: Plugins::default(),
            services: Vec::new(),
            no_deps: false,
            stop_timeout: None,
            forget_hosts: BTreeSet::new(),
            drain_host: None,
            build: BuildPolicy::Changed,
            build_flags: BuildFlags::default(),
        }
    }
}

/// Why a deployment could not even start.
#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    /// A host did not answer; nothing was changed anywhere.
    #[error("{0}; nothing was changed on any host")]
    Unreachable(ObserveError),
    /// The desired state cannot be computed (no host fits, addresses exhausted…).
    #[error(transparent)]
    Plan(#[from] nap_core::plan::PlanError),
    /// A host the plan needs over SSH refused or did not answer; nothing was changed.
    #[error("cannot connect over SSH, so nothing was changed on any host:\n  - {}", .0.join("\n  - "))]
    Ssh(Vec<String>),
    /// The hosts record could not be read or written.
    #[error(transparent)]
    Records(#[from] crate::records::RecordsError),
    /// `nap host drain` named a host the inventory does not have.
    #[error("cannot drain host {0:?}: it is not in the inventory")]
    UnknownDrainHost(String),
}

// By hand rather than `#[from]`, which would also make the observe error the source and print
// it twice in an error chain (the message already holds it).
impl From<ObserveError> for DeployError {
    fn from(error: ObserveError) -> Self {
        DeployError::Unreachable(error)
    }
}

/// What `up` or `down` did.
#[derive(Debug, Clone, Serialize)]
pub struct DeployReport {
    /// The plan that was executed.
    pub plan: Plan,
    /// How it went.
    pub execution: ExecutionReport,
    /// The host actors that carried the plan out, still running, with their clients and
    /// SSH sessions, for as long as the caller keeps them (`nap watch` does, until the next
    /// change, to reuse them). `None` for an empty plan.
    #[serde(skip)]
    pub actors: Option<DeploymentActors>,
}

/// A deployment's long-lived actors, and the connections they own.
#[derive(Clone)]
pub struct DeploymentActors {
    /// One per host.
    pub hosts: HashMap<String, Addr<HostActor>>,
    /// Which set of actors this is (a reused set keeps its number).
    pub generation: u64,
    /// What they were started for: reused only for the same project and inventory.
    project: String,
    inventory: Inventory,
    clients: Vec<(String, Docker)>,
    sessions: HashMap<String, SshSession>,
}

/// Numbers the sets of actors.
static GENERATIONS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

impl std::fmt::Debug for DeploymentActors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeploymentActors")
            .field("hosts", &self.hosts.keys().collect::<Vec<_>>())
            .field("generation", &self.generation)
            .finish_non_exhaustive()
    }
}

impl DeploymentActors {
    /// Stops every host actor and waits until they have.
    pub async fn stop(&self) {
        join_all(self.hosts.values().map(|host| host.send(Stop))).await;
    }
}

/// The local daemon as an image source, when the inventory does not already include it.
async fn local_image_source(inventory: &Inventory) -> Option<ImageSource> {
    let daemon = match crate::docker::resolve_local_daemon(&|key| std::env::var(key).ok()) {
        Ok(daemon) => daemon,
        Err(error) => {
            tracing::warn!(%error, "the local daemon is not used as an image source");
            return None;
        }
    };
    let includes_local = inventory.hosts.iter().any(|host| {
        host.docker == daemon.docker
            || matches!(&host.docker, DockerEndpoint::Unix { path } if path.as_os_str() == "/var/run/docker.sock" || path.as_os_str() == "/run/docker.sock")
                && matches!(&daemon.docker, DockerEndpoint::Unix { .. })
    });
    if includes_local {
        return None;
    }
    let docker = tokio::time::timeout(
        Duration::from_secs(5),
        crate::docker::connect_endpoint("the local daemon", &daemon.docker, daemon.tls.as_ref()),
    )
    .await
    .ok()?
    .ok()?;
    Some(ImageSource {
        name: "the local daemon".to_string(),
        docker: crate::docker::BollardDocker::shared(docker),
        trusted: true,
    })
}

/// What the SSH preflight found: a session per host that answered, and the hosts whose sshd
/// did not answer although the plan could do without it (their hosts files are patched by
/// exec), each with the error.
struct SshPreflight {
    sessions: HashMap<String, (SshSession, Option<RemoteShell>)>,
    unreachable: Vec<(String, String)>,
}

/// Connects over SSH, before anything changes, to every host that has `ssh:` and that the
/// plan touches, so a refused host key or login stops the deployment before its first
/// mutating call. A host whose sshd does not answer stops it too when the plan installs or
/// removes routes there (only SSH can); otherwise the deployment goes on without SSH there,
/// with a warning. A host key or login problem always stops it.
async fn connect_ssh(
    inventory: &Inventory,
    plan: &Plan,
    progress: &Progress,
) -> Result<SshPreflight, DeployError> {
    let settings = SshSettings::from_inventory(inventory);
    let options = settings.ssh_options(SSH_CONNECT_TIMEOUT);
    let touched: BTreeSet<&str> = plan
        .operations
        .iter()
        .map(|planned| planned.operation.host())
        .collect();
    let hosts: Vec<_> = inventory
        .hosts
        .iter()
        .filter(|host| touched.contains(host.name.as_str()))
        .filter_map(|host| Some((host.name.clone(), host.ssh.clone()?)))
        .collect();
    let results = join_all(hosts.iter().map(|(name, target)| {
        let options = &options;
        async move {
            let session = SshSession::connect(name, target, options).await?;
            // A warm root shell, so the first route or hosts-file script runs at once.
            let shell = session
                .open_shell(crate::host_actor::root_shell(target))
                .await
                .ok();
            Ok::<_, crate::ssh::SshError>((session, shell))
        }
    }))
    .await;
    let needs_ssh: BTreeSet<&str> = plan
        .operations
        .iter()
        .filter(|planned| {
            matches!(
                planned.operation,
                Operation::EnsureRoutes { .. } | Operation::RemoveRoutes { .. }
            )
        })
        .map(|planned| planned.operation.host())
        .collect();
    let mut sessions = HashMap::new();
    let mut unreachable = Vec::new();
    let mut errors = Vec::new();
    for ((name, _), result) in hosts.into_iter().zip(results) {
        match result {
            Ok(session) => {
                sessions.insert(name, session);
            }
            Err(error) if error.is_unreachable() && !needs_ssh.contains(name.as_str()) => {
                unreachable.push((name, error.to_string()));
            }
            Err(error) if error.is_unreachable() => errors.push(format!(
                "{error} (the plan changes routes on {name}, which needs SSH)"
            )),
            Err(error) => errors.push(error.to_string()),
        }
    }
    if !errors.is_empty() {
        return Err(DeployError::Ssh(errors));
    }
    for (name, error) in &unreachable {
        progress.emit(Event::Warning {
            message: format!(
                "{error}; going on without SSH on {name}: its hosts files are written through the Docker API (a helper container) instead"
            ),
        });
    }
    Ok(SshPreflight {
        sessions,
        unreachable,
    })
}

fn start_actors(
    project: &str,
    inventory: &Inventory,
    clients: &[(String, Docker)],
    preflight: SshPreflight,
) -> DeploymentActors {
    let SshPreflight {
        mut sessions,
        unreachable,
    } = preflight;
    let session_handles: HashMap<String, SshSession> = sessions
        .iter()
        .map(|(name, (session, _))| (name.clone(), session.clone()))
        .collect();
    let ssh_settings = SshSettings::from_inventory(inventory);
    let mut hosts = HashMap::new();
    {
        for (name, docker) in clients {
            let host = inventory
                .host(name)
                .expect("clients come from the inventory")
                .clone();
            let mut shell = SshShell::new(host.clone(), ssh_settings.clone());
            if let Some((session, kept)) = sessions.remove(name) {
                shell = shell.with_session(session);
                if let Some(kept) = kept {
                    shell = shell.with_shell(kept);
                }
            } else if let Some((_, error)) = unreachable.iter().find(|(host, _)| host == name) {
                shell = shell.with_unreachable(error.clone());
            }
            let docker = crate::docker::BollardDocker::shared(docker.clone());
            let actor = HostActor::new(host, project, docker, Arc::new(shell));
            hosts.insert(name.clone(), actor.start());
        }
    }
    DeploymentActors {
        hosts,
        generation: GENERATIONS.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        project: project.to_string(),
        inventory: inventory.clone(),
        clients: clients.to_vec(),
        sessions: session_handles,
    }
}

fn emit_plan(progress: &Progress, plan: &Plan) {
    let mut hosts: Vec<String> = plan
        .operations
        .iter()
        .map(|planned| planned.operation.host().to_string())
        .collect();
    hosts.sort();
    hosts.dedup();
    progress.emit(Event::Plan {
        project: plan.project.clone(),
        operations: plan.operations.len(),
        hosts,
    });
}

fn emit_done(progress: &Progress, plan: &Plan, report: &ExecutionReport) {
    progress.emit(Event::Done {
        project: plan.project.clone(),
        succeeded: report.succeeded,
        failed: report.failed.len(),
        skipped: report.skipped.len(),
        not_deployed: report.not_deployed(plan).into_iter().cloned().collect(),
        hosts_writes: report.hosts_writes,
        seconds: report.seconds,
    });
}

/// Deploys: makes the hosts hold the project's desired state. Must run in an actix System.
pub async fn up(
    deployment: &Deployment,
    options: &UpOptions,
    progress: &Progress,
) -> Result<DeployReport, DeployError> {
    up_reusing(deployment, options, progress, None).await
}

/// [`up`], reusing the actors (Docker clients, SSH sessions and kept shells) of a previous
/// deployment of the same project to the same inventory when their SSH sessions are still
/// open, so `nap watch` does not reconnect on every change. The report's actors are then the
/// same set (same [`DeploymentActors::generation`]).
pub async fn up_reusing(
    deployment: &Deployment,
    options: &UpOptions,
    progress: &Progress,
    previous: Option<&DeploymentActors>,
) -> Result<DeployReport, DeployError> {
    let goal = Goal::Deploy(ReconcileOptions {
        remove_orphans: options.remove_orphans,
        force_recreate: options.force_recreate,
        build: options.build,
    });
    let run = Run {
        project: &deployment.project,
        inventory: &deployment.inventory,
        goal,
        options,
        progress,
        keep: None,
        one_off: None,
    };
    run.go(previous).await
}

/// `nap run`'s first half: deploys what the one-off container `one_off` of a service needs
/// (its dependencies unless `options.no_deps`, the networks, volumes, routes and image on its
/// host) and creates it, not started, from `run_project` (the project with that service changed
/// by `nap run`'s flags). The service's replicas are left as they are. The report's plan
/// places the one-off (its [`PlacementRecord`](nap_core::plan::PlacementRecord)); its actors
/// are stopped.
pub async fn create_one_off(
    deployment: &Deployment,
    run_project: &Project,
    one_off: &OneOff,
    options: &UpOptions,
    progress: &Progress,
) -> Result<DeployReport, DeployError> {
    let run = Run {
        project: &deployment.project,
        inventory: &deployment.inventory,
        goal: Goal::Deploy(ReconcileOptions::default()),
        options,
        progress,
        keep: None,
        one_off: Some((one_off, run_project)),
    };
    run.go_and_stop().await
}

/// Flags of `nap down`.
#[derive(Debug, Clone, Copy, Default)]
pub struct DownOptions {
    /// Also remove named volumes and anonymous ones.
    pub volumes: bool,
    /// Seconds each container gets to stop before it is killed (`-t`).
    pub timeout: Option<i32>,
}

/// Removes the project from every host. Must run in an actix System.
pub async fn down(
    project: &Project,
    inventory: &Inventory,
    options: DownOptions,
    progress: &Progress,
) -> Result<DeployReport, DeployError> {
    let run = Run {
        project,
        inventory,
        goal: Goal::Remove {
            volumes: options.volumes,
        },
        options: &UpOptions {
            wait_timeout: Duration::from_secs(60),
            stop_timeout: options.timeout,
            ..UpOptions::default()
        },
        progress,
        keep: None,
        one_off: None,
    };
    run.go_and_stop().await
}

/// Why `nap build` cannot start.
#[derive(Debug, thiserror::Error)]
pub enum BuildVerbError {
    /// A service named is not in the project.
    #[error("no such service: {0:?}")]
    UnknownService(String),
    /// A service named has no `build:`.
    #[error("service {0:?} has no build: section (its image is pulled, not built)")]
    NotBuilt(String),
    /// The deployment pipeline failed.
    #[error(transparent)]
    Deploy(#[from] DeployError),
}

/// `nap build [SERVICE…]`: builds the images of `services` (every `build:` service when
/// empty) on the builder host, changed or not, as `docker compose build` does; nothing is
/// shipped, created or started. The deployment's plan cut down to its builds.
pub async fn build(
    deployment: &Deployment,
    services: &[String],
    flags: BuildFlags,
    progress: &Progress,
) -> Result<DeployReport, BuildVerbError> {
    for service in services {
        match deployment.project.services.get(service) {
            None => return Err(BuildVerbError::UnknownService(service.clone())),
            Some(found) if found.build.is_none() => {
                return Err(BuildVerbError::NotBuilt(service.clone()));
            }
            Some(_) => {}
        }
    }
    let keep = |operation: &Operation| {
        matches!(operation, Operation::BuildImage { service, .. }
            if services.is_empty() || services.contains(service))
    };
    let options = UpOptions {
        build: BuildPolicy::Always,
        build_flags: flags,
        ..UpOptions::default()
    };
    let run = Run {
        project: &deployment.project,
        inventory: &deployment.inventory,
        goal: Goal::Deploy(ReconcileOptions {
            build: BuildPolicy::Always,
            ..ReconcileOptions::default()
        }),
        options: &options,
        progress,
        keep: Some(&keep),
        one_off: None,
    };
    Ok(run.go_and_stop().await?)
}

/// One pass of the pipeline that changes hosts: `up`, `watch` and `down` are this with their
/// goal and options.
struct Run<'a> {
    /// The project.
    project: &'a Project,
    /// Its hosts.
    inventory: &'a Inventory,
    /// Deploy or remove.
    goal: Goal,
    /// Flags (for a removal, only `wait_timeout` matters).
    options: &'a UpOptions,
    /// Where events go.
    progress: &'a Progress,
    /// Only the operations this accepts are carried out (`None`: the whole plan; `nap build`
    /// keeps its builds).
    keep: Option<&'a (dyn Fn(&Operation) -> bool + Sync)>,
    /// `nap run`: the one-off container to create (not start), with `project` as its service
    /// is changed by `nap run`'s flags (the replicas are planned from the project as it is).
    one_off: Option<(&'a OneOff, &'a Project)>,
}

impl Run<'_> {
    /// [`Run::go`] without a previous deployment, then its actors stopped (and awaited): for
    /// the verbs that keep nothing running (`down`).
    async fn go_and_stop(&self) -> Result<DeployReport, DeployError> {
        let report = self.go(None).await?;
        if let Some(actors) = &report.actors {
            actors.stop().await;
        }
        Ok(DeployReport {
            actors: None,
            ..report
        })
    }

    /// Connect (or reuse `previous`), observe, plan, and — unless the plan is empty — carry
    /// the plan out with the actors and report.
    async fn go(&self, previous: Option<&DeploymentActors>) -> Result<DeployReport, DeployError> {
        let (project, inventory, progress) = (self.project, self.inventory, self.progress);
        let reusable = previous
            .filter(|actors| actors.project == project.name && actors.inventory == *inventory);
        let clients = match reusable {
            Some(actors) => actors.clients.clone(),
            None => pipeline::connect(inventory).await?,
        };
        let observed = pipeline::observe(&project.name, inventory, &clients, self.goal).await?;
        // Never two copies: the hosts' records name every host that runs the project.
        let mut recorded = crate::records::read(&project.name, &clients).await?;
        if matches!(self.goal, Goal::Deploy(_)) {
            let hosts = inventory.hosts.iter().map(|h| h.name.clone()).collect();
            plan::records::check_recorded_hosts(
                &project.name,
                &recorded,
                &hosts,
                &self.options.forget_hosts,
            )?;
        }
        let planning_inventory = self.planning_inventory()?;
        let mut planned = pipeline::plan_blocking(
            project,
            &planning_inventory,
            observed,
            &self.options.plugins,
            self.goal,
            self.one_off.map(|(one_off, _)| one_off.clone()),
        )
        .await?;
        if let Some(keep) = self.keep {
            planned.plan = planned.plan.only(keep);
        }
        if let (Some((one_off, _)), Some(desired)) = (self.one_off, &planned.desired) {
            let graph = nap_core::graph::DependencyGraph::from_project(project);
            planned.plan = nap_core::plan::select::for_one_off(
                &planned.plan,
                desired,
                &planned.observed,
                &graph,
                one_off,
                !self.options.no_deps,
            );
        }
        if let (Goal::Deploy(_), Some(desired), None) = (self.goal, &planned.desired, self.one_off)
            && !self.options.services.is_empty()
        {
            let graph = nap_core::graph::DependencyGraph::from_project(project);
            let services = nap_core::plan::select::with_dependencies(
                &graph,
                &self.options.services,
                !self.options.no_deps,
            );
            planned.plan = nap_core::plan::select::only_services(
                &planned.plan,
                desired,
                &planned.observed,
                &services,
            );
        }
        for message in &planned.warnings {
            progress.emit(Event::Warning {
                message: message.clone(),
            });
        }
        let plan = &planned.plan;
        for note in &plan.notes {
            progress.emit(Event::Warning {
                message: note.clone(),
            });
        }
        emit_plan(progress, plan);
        if plan.operations.is_empty() {
            let execution = ExecutionReport::default();
            self.record_after(&planned, &execution, &clients, &mut recorded)
                .await?;
            emit_done(progress, plan, &execution);
            return Ok(DeployReport {
                plan: planned.plan,
                execution,
                actors: None,
            });
        }
        let sessions_alive = |actors: &DeploymentActors| {
            plan.operations.iter().all(|planned| {
                let host = planned.operation.host();
                let needs_ssh = inventory.host(host).is_some_and(|h| h.ssh.is_some());
                !needs_ssh
                    || actors
                        .sessions
                        .get(host)
                        .is_some_and(|session| !session.is_closed())
            })
        };
        let actors = match reusable {
            Some(actors) if sessions_alive(actors) => actors.clone(),
            _ => {
                let preflight = connect_ssh(inventory, plan, progress).await?;
                start_actors(&project.name, inventory, &clients, preflight)
            }
        };
        if self.keep.is_none() && matches!(self.goal, Goal::Deploy(_)) {
            let mut during =
                plan::records::HostsRecord::during(&planned.observed, planned.desired.as_ref());
            // What was recorded for hosts still in the inventory stays until the run is over.
            for (_, record) in &recorded {
                during.merge(&record.clone().without(&self.options.forget_hosts));
            }
            crate::records::replace(&project.name, &clients, &mut recorded, Some(&during)).await?;
        }
        let execution = self.execute(&planned, &actors, &clients).await;
        self.record_after(&planned, &execution, &clients, &mut recorded)
            .await?;
        emit_done(progress, plan, &execution);
        Ok(DeployReport {
            plan: planned.plan,
            execution,
            actors: Some(actors),
        })
    }

    /// The inventory the desired state is planned on: without the host being drained.
    fn planning_inventory(&self) -> Result<Inventory, DeployError> {
        let mut inventory = self.inventory.clone();
        if let Some(drained) = &self.options.drain_host {
            if inventory.host(drained).is_none() {
                return Err(DeployError::UnknownDrainHost(drained.clone()));
            }
            inventory.hosts.retain(|host| host.name != *drained);
        }
        Ok(inventory)
    }

    /// After a run that succeeded: the record of what runs now (a deployment of the whole
    /// project), or none (a removal).
    async fn record_after(
        &self,
        planned: &Planned,
        execution: &ExecutionReport,
        clients: &[(String, Docker)],
        recorded: &mut Vec<(String, plan::records::HostsRecord)>,
    ) -> Result<(), DeployError> {
        if self.keep.is_some() || !execution.failed.is_empty() || !execution.skipped.is_empty() {
            return Ok(());
        }
        let project = &self.project.name;
        match (&self.goal, &planned.desired) {
            (Goal::Deploy(_), Some(desired)) if self.options.services.is_empty() => {
                let after = plan::records::HostsRecord::after(desired);
                crate::records::replace(project, clients, recorded, Some(&after)).await?;
            }
            (Goal::Remove { .. }, _) => {
                crate::records::replace(project, clients, recorded, None).await?;
            }
            _ => {}
        }
        Ok(())
    }

    /// Stage 4: the service actors of a deployment, the image sources it may copy from, and
    /// the coordinator that runs the plan with them.
    async fn execute(
        &self,
        planned: &Planned,
        actors: &DeploymentActors,
        clients: &[(String, Docker)],
    ) -> ExecutionReport {
        let project = Arc::new(match self.one_off {
            Some((_, run_project)) => run_project.clone(),
            None => planned.project.clone(),
        });
        let plan = &planned.plan;
        let mut services = HashMap::new();
        if planned.desired.is_some() {
            for service in project.services.keys() {
                let actor = ServiceActor::new(
                    service,
                    project.clone(),
                    actors.hosts.clone(),
                    self.progress.clone(),
                )
                .with_plugins(self.options.plugins.clone())
                .start();
                services.insert(service.clone(), actor);
            }
        }
        let mut image_sources: Vec<ImageSource> = clients
            .iter()
            .map(|(name, docker)| ImageSource {
                name: name.clone(),
                docker: crate::docker::BollardDocker::shared(docker.clone()),
                trusted: false,
            })
            .collect();
        let needs_images = plan
            .operations
            .iter()
            .any(|planned| matches!(planned.operation, Operation::EnsureImage { .. }));
        if needs_images && let Some(local) = local_image_source(self.inventory).await {
            image_sources.push(local);
        }
        let executors = Executors {
            project,
            desired: planned.desired.clone().map(Arc::new),
            hosts: actors.hosts.clone(),
            services,
            image_sources,
            ship_images: self.options.ship_images,
            build_flags: self.options.build_flags,
            wait_timeout: self.options.wait_timeout,
            remove_volumes: matches!(self.goal, Goal::Remove { volumes: true }),
            stop_timeout: self.options.stop_timeout,
            progress: self.progress.clone(),
        };
        let (coordinator, report) = CoordinatorActor::new(plan.clone(), executors);
        coordinator.start();
        report.await.unwrap_or_default()
    }
}
