//! The hosts-file patcher: one per deployment, the keeper of the project's name table.
//!
//! It knows, for every container of the project, the table the container was created with
//! (its `extra_hosts`, which Docker writes into the hosts file on every start) and the table it
//! should resolve now. In routed and published mode the two are equal for every container an
//! `up` creates, because nap assigns addresses before anything starts: then the patcher never
//! touches a file. When they differ (replicas added or removed while a peer kept running, an
//! address that changed), it rewrites the running container's hosts file through the
//! container's host actor — and again each time the host actor reports that the container
//! started, since Docker then rewrites the file from `extra_hosts`.
//!
//! State: `tables` is filled by [`Track`] before the plan runs and changed by plan
//! operations ([`PatchHosts`]); `patches` counts files actually rewritten. Both live as long
//! as the deployment.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use actix::prelude::*;
use nap_core::plan::HostEntry;

use crate::actors::host::{
    HostActor, HostErrorKind, HostOperationError, OperationResult, PatchHostsFile, PatchResult,
};
use crate::actors::{Outcome, Stop, ask};
use crate::progress::{Event, Progress};

/// A container's two tables.
#[derive(Debug, Clone)]
struct Table {
    /// What its `extra_hosts` hold (what Docker writes on start), name table part only;
    /// `None`: not read yet (the host actor reads it from the container when patching).
    baked: Option<Arc<[HostEntry]>>,
    /// What it should resolve.
    wanted: Arc<[HostEntry]>,
}

/// The patcher actor. See the module documentation.
pub struct PatcherActor {
    hosts: HashMap<String, Addr<HostActor>>,
    tables: HashMap<(String, String), Table>,
    patches: usize,
    progress: Progress,
}

impl PatcherActor {
    /// A patcher that reaches containers through `hosts`.
    pub fn new(hosts: HashMap<String, Addr<HostActor>>, progress: Progress) -> PatcherActor {
        PatcherActor {
            hosts,
            tables: HashMap::new(),
            patches: 0,
            progress,
        }
    }
}

impl Actor for PatcherActor {
    type Context = Context<Self>;
}

/// Remember a container's tables (before the plan runs, for every container the deployment
/// keeps or creates).
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub struct Track {
    /// Host.
    pub host: String,
    /// Container name.
    pub container: String,
    /// The table its `extra_hosts` hold (`None`: read it from the container when patching).
    pub baked: Option<Arc<[HostEntry]>>,
    /// The table it should resolve (shared with every container of the same view).
    pub wanted: Arc<[HostEntry]>,
}

impl Handler<Track> for PatcherActor {
    type Result = ();

    fn handle(&mut self, message: Track, _: &mut Context<Self>) {
        self.tables.insert(
            (message.host, message.container),
            Table {
                baked: message.baked,
                wanted: message.wanted,
            },
        );
    }
}

/// A plan operation: make a running container resolve `entries`.
#[derive(Debug, Clone, Message)]
#[rtype(result = "OperationResult")]
pub struct PatchHosts {
    /// Host.
    pub host: String,
    /// Container name.
    pub container: String,
    /// The complete table.
    pub entries: Vec<HostEntry>,
}

/// A container of the project started and has its address (reported by its service actor).
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub struct ContainerStarted {
    /// Service.
    pub service: String,
    /// Replica.
    pub replica: u32,
    /// Host.
    pub host: String,
    /// Container name.
    pub container: String,
    /// Container id.
    pub container_id: String,
    /// Address on its first network.
    pub ip: Option<std::net::Ipv4Addr>,
}

/// A container on a host started (by anyone): Docker rewrote its hosts file. Sent by the
/// host actor's event stream.
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub struct ContainerRestarted {
    /// Host.
    pub host: String,
    /// Container name.
    pub container: String,
}

/// How many hosts files were rewritten so far.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "usize")]
pub struct PatchCount;

impl Handler<PatchCount> for PatcherActor {
    type Result = usize;

    fn handle(&mut self, _: PatchCount, _: &mut Context<Self>) -> usize {
        self.patches
    }
}

impl Handler<Stop> for PatcherActor {
    type Result = ();

    fn handle(&mut self, _: Stop, ctx: &mut Context<Self>) {
        ctx.stop();
    }
}

/// A rewrite finished (sent by the patcher to itself, so the count lives in the actor).
#[derive(Message)]
#[rtype(result = "()")]
struct Patched {
    /// How the file was rewritten (or that it held the table already).
    result: PatchResult,
    /// Host.
    host: String,
    /// Container name.
    container: String,
    /// How many entries the table has.
    entries: usize,
    /// Why it was patched: `plan` or `restart`.
    reason: &'static str,
}

impl Handler<Patched> for PatcherActor {
    type Result = ();

    fn handle(&mut self, message: Patched, _: &mut Context<Self>) {
        let via = match message.result {
            PatchResult::UpToDate => return,
            PatchResult::Ssh => "ssh",
            PatchResult::Exec => "exec",
        };
        self.patches += 1;
        self.progress.emit(Event::HostsPatched {
            host: message.host,
            container: message.container,
            entries: message.entries,
            via: via.to_string(),
            reason: message.reason.to_string(),
        });
    }
}

/// A rewrite under way: a future that does not borrow the actor.
type PatchWork = Pin<Box<dyn Future<Output = OperationResult>>>;

impl PatcherActor {
    /// Has `container`'s host actor make its hosts file resolve `table.wanted`; the result is
    /// reported back to the patcher ([`Patched`]) and answered as the operation's outcome.
    fn patch(
        &self,
        host: String,
        container: String,
        table: Table,
        reason: &'static str,
        ctx: &mut Context<Self>,
    ) -> PatchWork {
        let Some(actor) = self.hosts.get(&host).cloned() else {
            let error =
                HostOperationError::new(host, HostErrorKind::Unavailable, "not in the inventory");
            return Box::pin(std::future::ready(Err(error)));
        };
        let me = ctx.address();
        let entries = table.wanted.len();
        Box::pin(async move {
            let patch = PatchHostsFile {
                container: container.clone(),
                baked: table.baked,
                wanted: table.wanted,
            };
            let result = ask(&actor, &host, patch).await??;
            me.do_send(Patched {
                result,
                host,
                container,
                entries,
                reason,
            });
            Ok(Outcome::from(result))
        })
    }
}

impl Handler<PatchHosts> for PatcherActor {
    type Result = ResponseFuture<OperationResult>;

    fn handle(&mut self, message: PatchHosts, ctx: &mut Context<Self>) -> Self::Result {
        let key = (message.host.clone(), message.container.clone());
        let table = self.tables.entry(key).or_insert_with(|| Table {
            baked: Some(Arc::from(Vec::new())),
            wanted: Arc::from(Vec::new()),
        });
        table.wanted = message.entries.into();
        let table = table.clone();
        self.patch(message.host, message.container, table, "plan", ctx)
    }
}

impl Handler<ContainerStarted> for PatcherActor {
    type Result = ();

    fn handle(&mut self, message: ContainerStarted, _: &mut Context<Self>) {
        // Addresses are assigned before creation in routed mode and come from the inventory in
        // published mode, so a start changes no table; the event is kept for plugins and
        // progress. (Where Docker picks the address — local mode — Docker's DNS resolves.)
        tracing::debug!(
            service = %message.service,
            replica = message.replica,
            host = %message.host,
            container = %message.container,
            ip = ?message.ip,
            "container started"
        );
    }
}

impl Handler<ContainerRestarted> for PatcherActor {
    type Result = ();

    fn handle(&mut self, message: ContainerRestarted, ctx: &mut Context<Self>) {
        tracing::debug!(host = %message.host, container = %message.container, "container started (event)");
        let key = (message.host.clone(), message.container.clone());
        let Some(table) = self.tables.get(&key).cloned() else {
            return;
        };
        if table.baked.as_ref() == Some(&table.wanted) {
            return;
        }
        let work = self.patch(message.host, message.container, table, "restart", ctx);
        ctx.spawn(work.into_actor(self).map(|result, _, _| {
            if let Err(error) = result {
                tracing::warn!("re-patching after a restart failed: {error}");
            }
        }));
    }
}
