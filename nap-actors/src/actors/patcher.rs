//! The hosts-file patcher: one per deployment, the keeper of the project's name table.
//!
//! It knows, for every container of the project, the table the container was created with
//! (its `extra_hosts`, which Docker writes into the hosts file on every start) and the table it
//! should resolve now. In routed and published mode the two are equal for every container an
//! `up` creates, because nap assigns addresses before anything starts: then the patcher never
//! touches a file. When they differ (replicas added or removed while a peer kept running, an
//! address that changed), it rewrites the running container's hosts file through the
//! container's host actor — and again each time the host actor's event stream reports that
//! the container started ([`ContainerRestarted`]), since Docker then rewrites the file from
//! `extra_hosts`.
//!
//! State: `tables` is filled by [`Track`] before the plan runs and changed by plan
//! operations ([`PatchHosts`]); `patches` counts files actually rewritten; both live as long
//! as the deployment. `repatches` holds the rewrites started by restarts, the patcher's own
//! tasks: [`Stop`] aborts them and answers once they have ended.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use actix::prelude::*;
use nap_core::plan::HostEntry;
use tokio::task::JoinSet;

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
    /// The host actors, by inventory host name; fixed.
    hosts: HashMap<String, Addr<HostActor>>,
    /// Per (host, container name), the container's two tables.
    tables: HashMap<(String, String), Table>,
    /// Hosts files rewritten so far (not counting ones that held the table).
    patches: usize,
    /// Where rewrites are reported.
    progress: Progress,
    /// Rewrites started by a container's restart, until they end (finished ones are reaped
    /// when the next starts); aborted and awaited by [`Stop`].
    repatches: JoinSet<()>,
}

impl PatcherActor {
    /// A patcher that reaches containers through `hosts`.
    pub fn new(hosts: HashMap<String, Addr<HostActor>>, progress: Progress) -> PatcherActor {
        PatcherActor {
            hosts,
            tables: HashMap::new(),
            patches: 0,
            progress,
            repatches: JoinSet::new(),
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
    type Result = ResponseActFuture<Self, ()>;

    /// Aborts the rewrites under way and answers once they have ended; then the actor stops.
    fn handle(&mut self, _: Stop, _: &mut Context<Self>) -> Self::Result {
        let mut repatches = std::mem::take(&mut self.repatches);
        repatches.abort_all();
        let ended = async move { while repatches.join_next().await.is_some() {} };
        Box::pin(ended.into_actor(self).map(|(), _, ctx| ctx.stop()))
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
        while self.repatches.try_join_next().is_some() {}
        self.repatches.spawn_local(async move {
            if let Err(error) = work.await {
                tracing::warn!("re-patching after a restart failed: {error}");
            }
        });
    }
}
