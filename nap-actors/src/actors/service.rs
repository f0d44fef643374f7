//! The service actor: one per compose service, driving its replicas through
//! create → start, and replacing them under the service's rollout policy.
//!
//! Asked by the coordinator, it builds each replica's Docker create body from the compose
//! model ([`crate::spec`]), has the replica's host actor create and start it, and reports every
//! start — with the container's id and address — to the progress output
//! (`Event::ContainerStarted`) and the plugins' `post_start` hooks. It decides nothing about
//! order or placement; the waits for `service_healthy` and `service_completed_successfully`
//! are the host actor's (the coordinator asks it directly). Names need nothing at a start: the
//! container reads its host's hosts file, written before it was created.
//!
//! State: `created` maps a container name to its id from its creation until its start (so
//! the start need not ask the daemon for it). The actor owns no task of its own; it ends when
//! the coordinator's run drops the last address.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use nap_core::compose::Project;
use nap_core::plan::decide::{self, AfterFailedReplica};
use nap_core::plan::{DesiredContainer, RolloutPolicy};

use crate::actors::host::{
    CreateContainer, HostActor, HostErrorKind, HostOperationError, MonitorContainer,
    OperationResult, RemoveContainer, RenameContainer, StartContainer, StartedContainer,
    StopContainer, WaitCondition, WaitContainer,
};
use crate::actors::{Outcome, ask};
use crate::plugins::Plugins;
use crate::progress::{Event, Progress};
use crate::spec;

/// Reports a started container: to the progress output and the plugins' `post_start` hooks
/// (a failing hook is a warning naming the plugin).
async fn announce(
    progress: &Progress,
    plugins: &Plugins,
    project: &str,
    service: &str,
    container: &DesiredContainer,
    started: &StartedContainer,
) {
    progress.emit(Event::ContainerStarted {
        service: service.to_string(),
        replica: container.replica,
        host: container.host.clone(),
        container: container.name.clone(),
        container_id: started.id.clone(),
        ip: started.ip,
    });
    if plugins.list.is_empty() {
        return;
    }
    let mut names = vec![service.to_string(), container.name.clone()];
    for network in &container.networks {
        for alias in &network.aliases {
            if !names.contains(alias) {
                names.push(alias.clone());
            }
        }
    }
    let event = nap_plugin_api::payload::ContainerStarted {
        project: project.to_string(),
        service: service.to_string(),
        replica: container.replica,
        host: container.host.clone(),
        container: container.name.clone(),
        container_id: started.id.clone(),
        ip: started.ip.map(|ip| ip.to_string()),
        names,
        config: serde_json::Value::Null,
    };
    for message in plugins.post_start(&event).await {
        progress.emit(Event::Warning { message });
    }
}

/// The service actor. See the module documentation.
pub struct ServiceActor {
    /// The compose service's name; fixed.
    service: String,
    /// The compose project (create bodies come from it); fixed.
    project: Arc<Project>,
    /// The host actors, by inventory host name; fixed.
    hosts: HashMap<String, Addr<HostActor>>,
    /// Where started containers and warnings are reported.
    progress: Progress,
    /// The plugins whose `post_start` hooks hear of every start; fixed.
    plugins: Plugins,
    /// Container name → id, from its creation until its start.
    created: BTreeMap<String, String>,
}

impl ServiceActor {
    /// An actor for `service` of `project`.
    pub fn new(
        service: &str,
        project: Arc<Project>,
        hosts: HashMap<String, Addr<HostActor>>,
        progress: Progress,
    ) -> ServiceActor {
        ServiceActor {
            service: service.to_string(),
            project,
            hosts,
            progress,
            plugins: Plugins::default(),
            created: BTreeMap::new(),
        }
    }

    /// Call these plugins' `post_start` hooks for every container it starts.
    pub fn with_plugins(mut self, plugins: Plugins) -> ServiceActor {
        self.plugins = plugins;
        self
    }

    fn host(&self, name: &str) -> Result<Addr<HostActor>, HostOperationError> {
        self.hosts.get(name).cloned().ok_or_else(|| {
            HostOperationError::new(name, HostErrorKind::Unavailable, "not in the inventory")
        })
    }
}

impl Actor for ServiceActor {
    type Context = Context<Self>;
}

/// A create body that cannot be built from the compose model.
fn spec_error(host: &str, error: spec::SpecError) -> HostOperationError {
    HostOperationError::new(host, HostErrorKind::Invalid, error.to_string()).with_source(error)
}

/// Create one replica's container.
#[derive(Message)]
#[rtype(result = "OperationResult")]
pub struct CreateReplica {
    /// The replica as the desired state has it.
    pub container: DesiredContainer,
}

impl Handler<CreateReplica> for ServiceActor {
    type Result = ResponseFuture<OperationResult>;

    fn handle(&mut self, message: CreateReplica, ctx: &mut Context<Self>) -> Self::Result {
        let container = message.container;
        let host = self.host(&container.host);
        let spec = spec::container_spec(&self.project, &container);
        let me = ctx.address();
        Box::pin(async move {
            let host = host?;
            let spec = spec.map_err(|error| spec_error(&container.host, error))?;
            let id = ask(&host, &container.host, CreateContainer { spec }).await??;
            // Recorded before the coordinator hears of the creation, so before the start.
            me.do_send(Created {
                container: container.name.clone(),
                id,
            });
            Ok(Outcome::Created)
        })
    }
}

/// A creation finished (the actor records the id until the start).
#[derive(Message)]
#[rtype(result = "()")]
struct Created {
    container: String,
    id: String,
}

impl Handler<Created> for ServiceActor {
    type Result = ();

    fn handle(&mut self, message: Created, _: &mut Context<Self>) {
        self.created.insert(message.container, message.id);
    }
}

/// Start one replica's container and report it started.
#[derive(Message)]
#[rtype(result = "OperationResult")]
pub struct StartReplica {
    /// The replica.
    pub container: DesiredContainer,
}

impl Handler<StartReplica> for ServiceActor {
    type Result = ResponseFuture<OperationResult>;

    fn handle(&mut self, message: StartReplica, _: &mut Context<Self>) -> Self::Result {
        let container = message.container;
        let host = self.host(&container.host);
        let progress = self.progress.clone();
        let plugins = self.plugins.clone();
        let project = self.project.name.clone();
        let service = self.service.clone();
        let id = self.created.remove(&container.name);
        Box::pin(async move {
            let host = host?;
            let first = container.networks.first();
            let start = StartContainer {
                container: container.name.clone(),
                network: first.map(|n| n.network.clone()),
                id,
                address: first.and_then(|n| n.ipv4_address),
            };
            let started = ask(&host, &container.host, start).await??;
            announce(
                &progress, &plugins, &project, &service, &container, &started,
            )
            .await;
            Ok(Outcome::Started)
        })
    }
}

/// Replace one replica under its service's rollout policy (`deploy.update_config`).
#[derive(Message)]
#[rtype(result = "OperationResult")]
pub struct ReplaceReplica {
    /// The replica's new container.
    pub container: DesiredContainer,
    /// The name the old container takes meanwhile.
    pub aside: String,
    /// The policy.
    pub policy: RolloutPolicy,
    /// Wait this long first (the delay between batches).
    pub delay: Duration,
    /// How long waiting for healthy may take.
    pub wait_timeout: Duration,
}

impl Handler<ReplaceReplica> for ServiceActor {
    type Result = ResponseFuture<OperationResult>;

    fn handle(&mut self, message: ReplaceReplica, _: &mut Context<Self>) -> Self::Result {
        let container = message.container;
        let host = self.host(&container.host);
        let spec = spec::container_spec(&self.project, &container);
        let progress = self.progress.clone();
        let plugins = self.plugins.clone();
        let project = self.project.name.clone();
        let service = self.service.clone();
        Box::pin(async move {
            let host = host?;
            let on = container.host.clone();
            let spec = spec.map_err(|error| spec_error(&on, error))?;
            let has_healthcheck = spec
                .body
                .healthcheck
                .as_ref()
                .and_then(|check| check.test.as_ref())
                .is_some_and(|test| test.first().is_some_and(|word| word != "NONE"));
            let policy = message.policy;
            let steps = decide::replace_steps(&policy, has_healthcheck);
            let name = container.name.clone();
            let aside = message.aside;
            tokio::time::sleep(message.delay).await;
            ask(
                &host,
                &on,
                RenameContainer {
                    from: name.clone(),
                    to: aside.clone(),
                },
            )
            .await??;
            if steps.stop_old_first {
                ask(
                    &host,
                    &on,
                    StopContainer {
                        container: aside.clone(),
                    },
                )
                .await??;
            }
            let attempt = async {
                let id = ask(&host, &on, CreateContainer { spec }).await??;
                let first = container.networks.first();
                let started: StartedContainer = ask(
                    &host,
                    &on,
                    StartContainer {
                        container: name.clone(),
                        network: first.map(|n| n.network.clone()),
                        id: Some(id),
                        address: first.and_then(|n| n.ipv4_address),
                    },
                )
                .await??;
                if steps.wait_healthy {
                    ask(
                        &host,
                        &on,
                        WaitContainer {
                            container: name.clone(),
                            condition: WaitCondition::Healthy,
                            timeout: message.wait_timeout,
                        },
                    )
                    .await??;
                }
                ask(
                    &host,
                    &on,
                    MonitorContainer {
                        container: name.clone(),
                        duration: Duration::from_millis(policy.monitor_ms),
                    },
                )
                .await??;
                Ok::<_, HostOperationError>(started)
            }
            .await;
            match attempt {
                Ok(started) => {
                    if steps.remove_old_after {
                        ask(
                            &host,
                            &on,
                            RemoveContainer {
                                container: aside.clone(),
                                volumes: false,
                                timeout: None,
                            },
                        )
                        .await??;
                    }
                    announce(
                        &progress, &plugins, &project, &service, &container, &started,
                    )
                    .await;
                    Ok(Outcome::Replaced {
                        old_serves: policy.start_first,
                    })
                }
                Err(cause) => match decide::after_failed_replica(&policy) {
                    AfterFailedReplica::RollBack { restart_old } => {
                        // Put the previous container back under its name.
                        let _ = ask(
                            &host,
                            &on,
                            RemoveContainer {
                                container: name.clone(),
                                volumes: false,
                                timeout: None,
                            },
                        )
                        .await;
                        ask(
                            &host,
                            &on,
                            RenameContainer {
                                from: aside,
                                to: name.clone(),
                            },
                        )
                        .await??;
                        if restart_old {
                            ask(
                                &host,
                                &on,
                                StartContainer {
                                    container: name.clone(),
                                    network: None,
                                    id: None,
                                    address: None,
                                },
                            )
                            .await??;
                        }
                        let message = format!(
                            "{name}: the update failed and was rolled back to the previous configuration (failure_action: rollback): {}",
                            cause.message
                        );
                        Err(HostOperationError::new(
                            cause.host.clone(),
                            HostErrorKind::Rollout,
                            message,
                        )
                        .with_source(cause))
                    }
                    AfterFailedReplica::Pause => {
                        let message = format!(
                            "{name}: the update failed and the rollout of {service} is paused (failure_action: pause); the previous container is kept as {aside}: {}",
                            cause.message
                        );
                        Err(HostOperationError::new(
                            cause.host.clone(),
                            HostErrorKind::Rollout,
                            message,
                        )
                        .with_source(cause))
                    }
                    AfterFailedReplica::Continue => {
                        progress.emit(Event::Warning {
                            message: format!(
                                "{name}: the update failed; going on with the next replicas (failure_action: continue): {cause}"
                            ),
                        });
                        Ok(Outcome::UpdateFailedContinuing)
                    }
                },
            }
        })
    }
}
