//! The one pipeline every verb runs: **connect → observe → desired → plan → execute**.
//!
//! `nap plan` stops after the plan, `up` and `watch` execute a [`Goal::Deploy`] plan, `down` a
//! [`Goal::Remove`] plan; later verbs add a goal here instead of a path of their own. The
//! stages:
//!
//! 1. [`connect`] every host's Docker API (or reuse the clients of a running `watch`);
//! 2. [`observe`] what the hosts hold, as much as the goal needs ([`Goal::detail`]);
//! 3. [`plan`], pure but for the plugins' placement hooks: the desired state (the core's
//!    scheduler with [`Plugins`] as its policy) and the reconcile plan for a deployment, the
//!    core's teardown plan for a removal;
//! 4. execution by the actors, in [`crate::deploy`].
//!
//! Nothing here changes a host.

use bollard::Docker;
use nap_core::compose::Project;
use nap_core::inventory::{Inventory, NetworkMode};
use nap_core::plan::{
    self, DesiredState, ObservedState, OneOff, Plan, PlanError, ReconcileOptions, TeardownOptions,
};

use crate::observe::{self, Detail, ObserveError};
use crate::plugins::Plugins;

/// What a verb wants the hosts to hold.
#[derive(Debug, Clone, Copy)]
pub enum Goal {
    /// The project's desired state (`plan`, `up`, `watch`).
    Deploy(ReconcileOptions),
    /// Nothing of the project (`down`); `volumes` also removes its volumes.
    Remove {
        /// Also remove the project's named volumes and containers' anonymous ones.
        volumes: bool,
    },
}

impl Goal {
    /// How much of each container the goal needs observed: a removal needs the listing
    /// alone, no name tables.
    pub fn detail(self) -> Detail {
        match self {
            Goal::Deploy(_) => Detail::WithExtraHosts,
            Goal::Remove { .. } => Detail::Listing,
        }
    }
}

/// The Docker clients of the inventory's hosts, by host name, in inventory order.
pub type Clients = Vec<(String, Docker)>;

/// What the planning stage produced.
#[derive(Debug, Clone)]
pub struct Planned {
    /// The project as planned: for a deployment, with every build's context hash filled.
    pub project: Project,
    /// What the hosts held.
    pub observed: ObservedState,
    /// The desired state (`None` for a removal).
    pub desired: Option<DesiredState>,
    /// The operations that take the hosts from `observed` to the goal.
    pub plan: Plan,
    /// Warnings of optional plugins that failed and were skipped.
    pub warnings: Vec<String>,
}

/// Stage 1: connects to every host; an unreachable one is an error naming it.
pub async fn connect(inventory: &Inventory) -> Result<Clients, ObserveError> {
    observe::connect_all(inventory).await
}

/// Stage 2: what the connected hosts hold of `project`, in the detail `goal` needs.
pub async fn observe(
    project: &str,
    inventory: &Inventory,
    clients: &[(String, Docker)],
    goal: Goal,
) -> Result<ObservedState, ObserveError> {
    observe::observe_connected(project, inventory, clients, goal.detail()).await
}

/// Stage 3: the desired state and the plan for `goal` from what was observed. Pure but for
/// reading the build contexts (their hashes) and the plugins' placement hooks, which may
/// block up to their time limit per call: run it on a blocking thread inside an async
/// runtime ([`plan_blocking`]).
///
/// With `one_off` (`nap run`), a deployment's desired state also holds that one-off container.
pub fn plan(
    project: &Project,
    inventory: &Inventory,
    observed: ObservedState,
    plugins: &Plugins,
    goal: Goal,
    one_off: Option<&OneOff>,
) -> Result<Planned, PlanError> {
    match goal {
        Goal::Deploy(options) => {
            // Every deployment plan knows its builds' context hashes: they are part of the
            // config hash, and say whether the builder's image is current.
            let project =
                &crate::build::hash_contexts(project).map_err(|error| PlanError::Build {
                    message: error.to_string(),
                })?;
            let mut policy = plugins.placement_policy(&project.name);
            let desired = plan::desired_state_with_one_off(
                project,
                inventory,
                &observed,
                &mut policy,
                one_off,
            )?;
            let plan = plan::reconcile(&desired, &observed, options);
            Ok(Planned {
                project: project.clone(),
                observed,
                desired: Some(desired),
                plan,
                warnings: policy.take_warnings(),
            })
        }
        Goal::Remove { volumes } => {
            let plan = plan::teardown(
                &project.name,
                &observed,
                TeardownOptions {
                    volumes,
                    routed: inventory.network.mode == NetworkMode::Routed
                        && inventory.hosts.len() > 1,
                },
            );
            Ok(Planned {
                project: project.clone(),
                observed,
                desired: None,
                plan,
                warnings: Vec::new(),
            })
        }
    }
}

/// [`plan`] on a blocking thread, so placement plugins never stall the actors of a running
/// `watch`.
pub async fn plan_blocking(
    project: &Project,
    inventory: &Inventory,
    observed: ObservedState,
    plugins: &Plugins,
    goal: Goal,
    one_off: Option<OneOff>,
) -> Result<Planned, PlanError> {
    let (project, inventory, plugins) = (project.clone(), inventory.clone(), plugins.clone());
    tokio::task::spawn_blocking(move || {
        plan(
            &project,
            &inventory,
            observed,
            &plugins,
            goal,
            one_off.as_ref(),
        )
    })
    .await
    .expect("planning does not panic")
}

/// Stages 1 to 3 for `nap plan`: against the hosts, or against an empty state when
/// `offline` (connecting to nothing).
pub async fn plan_only(
    project: &Project,
    inventory: &Inventory,
    plugins: &Plugins,
    goal: Goal,
    offline: bool,
) -> Result<Planned, PipelineError> {
    let observed = if offline {
        ObservedState::default()
    } else {
        let clients = connect(inventory).await?;
        observe(&project.name, inventory, &clients, goal).await?
    };
    Ok(plan_blocking(project, inventory, observed, plugins, goal, None).await?)
}

/// Why planning failed.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// A host did not answer.
    #[error(transparent)]
    Observe(#[from] ObserveError),
    /// No desired state fits.
    #[error(transparent)]
    Plan(#[from] PlanError),
}

#[cfg(test)]
mod tests {
    use super::*;
    use nap_core::compose::{self, LoadOptions, MemoryFileSystem};

    fn project(text: &str) -> Project {
        let fs = MemoryFileSystem::default().with("/app/compose.yaml", text);
        let options = LoadOptions {
            working_dir: "/app".into(),
            ..LoadOptions::default()
        };
        compose::load_with(&options, &fs).unwrap().project
    }

    fn inventory() -> Inventory {
        let text = "hosts:\n  h1: {docker: 'unix:///nonexistent/h1.sock', address: 10.210.9.1}\n  h2: {docker: 'unix:///nonexistent/h2.sock', address: 10.210.9.2}\nnetwork: {mode: published}\n";
        Inventory::parse(std::path::Path::new("/app/nap-hosts.yml"), text)
            .unwrap()
            .0
    }

    #[test]
    fn a_deployment_from_nothing_creates_and_a_removal_of_nothing_is_empty() {
        let project =
            project("name: p\nservices:\n  web:\n    image: nginx\n    deploy: {replicas: 2}\n");
        let inventory = inventory();
        let deploy = plan(
            &project,
            &inventory,
            ObservedState::default(),
            &Plugins::default(),
            Goal::Deploy(ReconcileOptions::default()),
            None,
        )
        .unwrap();
        let desired = deploy.desired.expect("a deployment has a desired state");
        assert_eq!(desired.containers.len(), 2);
        assert!(
            deploy.plan.to_text().contains("create container p-web-1"),
            "{}",
            deploy.plan.to_text()
        );
        let remove = plan(
            &project,
            &inventory,
            ObservedState::default(),
            &Plugins::default(),
            Goal::Remove { volumes: true },
            None,
        )
        .unwrap();
        assert!(remove.desired.is_none());
        assert!(
            remove.plan.operations.is_empty(),
            "{}",
            remove.plan.to_text()
        );
        assert_eq!(Goal::Remove { volumes: false }.detail(), Detail::Listing);
    }
}
