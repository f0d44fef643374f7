//! The scheduler: decides which Docker host runs each replica of each service.
//!
//! Given what each service asks for ([`ServiceDemand`]: replica count, placement
//! constraints, fixed published host ports, resource reservations, a placement
//! strategy and an optional colocation target), the hosts of the inventory
//! ([`HostSpec`]: name, labels, optional capacity) and where replicas already run
//! ([`Placement`]s observed on the hosts), [`schedule`] returns one placement per
//! replica, sorted by service name and replica number.
//!
//! What it does:
//! - filters hosts per replica: placement constraints (`node.labels.<key>` and
//!   `node.hostname`, with Swarm's semantics), published-port collisions and,
//!   where a host's capacity is known, resource reservations;
//! - ranks the hosts that pass with the service's [`Strategy`] (spread or
//!   binpack) and lets a [`PlacementPolicy`] hook override the choice;
//! - keeps replicas where they already run when they still fit, so scheduling an
//!   unchanged project moves nothing;
//! - places services that share a container's namespaces or volumes
//!   (`colocate_with`) on the host of their target;
//! - places a replica whose state is on a host already ([`StatePin`]) on that host,
//!   and refuses ([`ScheduleError::StateWouldMove`]) when that host no longer fits;
//! - explains, when a replica fits nowhere, why each host rejected it.
//!
//! What it does not do: no I/O, no Docker, no clock, no randomness. It does not
//! read compose files (an adapter turns the compose model into
//! [`ServiceDemand`]s), does not ask hosts for their capacity (the inventory
//! does), and does not start, stop or remove containers (the reconciler turns
//! the difference between the observed and the returned placements into
//! actions). The same input always gives the same output.

mod constraint;
mod error;
mod place;
mod policy;
mod ports;
#[cfg(test)]
mod tests;

pub use constraint::*;
pub use error::*;
use place::*;
pub use policy::*;
pub use ports::*;

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// One Docker host the scheduler may place replicas on.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostSpec {
    /// The host's name, unique in the inventory; `node.hostname` constraints
    /// compare against it.
    pub name: String,
    /// The host's labels; `node.labels.<key>` constraints compare against them.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// What the host offers to reservations; `None` means unknown or
    /// unlimited, and then reservations are not checked on this host. A zero
    /// field inside `Some` means that dimension is not limited either.
    #[serde(default)]
    pub capacity: Option<Resources>,
}

/// An amount of CPU and memory: a host's capacity or a replica's reservation.
#[derive(
    Debug, Default, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]

pub struct Resources {
    /// CPU in billionths of a CPU (Docker's `NanoCPUs`): 1.5 CPUs is
    /// 1_500_000_000.
    #[serde(default)]
    pub nano_cpus: u64,
    /// Memory in bytes.
    #[serde(default)]
    pub memory_bytes: u64,
}

impl Resources {
    /// Adds `other` field by field, saturating instead of overflowing.
    fn saturating_add(self, other: Resources) -> Resources {
        Resources {
            nano_cpus: self.nano_cpus.saturating_add(other.nano_cpus),
            memory_bytes: self.memory_bytes.saturating_add(other.memory_bytes),
        }
    }
}

/// How the scheduler ranks the hosts that pass the filters.
#[derive(
    Debug, Default, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Strategy {
    /// Spread a service's replicas evenly over the hosts: the host with the
    /// fewest replicas of this service, then the fewest containers of the
    /// whole project, then the first name.
    #[default]
    Spread,
    /// Fill hosts before using new ones: the host with the most reserved
    /// resources already (as a fraction of its capacity, when known), then the
    /// most containers, then the first name.
    Binpack,
}

impl fmt::Display for Strategy {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(match self {
            Strategy::Spread => "spread",
            Strategy::Binpack => "binpack",
        })
    }
}

/// What one service asks of the scheduler.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceDemand {
    /// The service's name, unique in the project.
    pub name: String,
    /// How many replicas to place (0 places none).
    pub replicas: u32,
    /// Constraints every replica's host must satisfy.
    #[serde(default)]
    pub constraints: Vec<Constraint>,
    /// Fixed host ports each replica publishes: two containers on one host
    /// cannot publish the same (address, port, protocol), and an
    /// every-address port collides with any address on that port and protocol.
    #[serde(default)]
    pub published_ports: Vec<PublishedPort>,
    /// What each replica reserves (`deploy.resources.reservations`); checked
    /// against the capacity of hosts that declare one, whatever the strategy,
    /// and used by binpack to rank hosts.
    #[serde(default)]
    pub reservation: Resources,
    /// This service's strategy; `None` uses the project's default.
    #[serde(default)]
    pub strategy: Option<Strategy>,
    /// A service this one must share a host with (`network_mode: service:X`,
    /// `volumes_from: X`, `ipc: service:X`, `pid: service:X`): replica `n` goes
    /// to the host of the target's replica `((n - 1) % target_replicas) + 1`.
    #[serde(default)]
    pub colocate_with: Option<String>,
    /// Replicas whose state (a named volume, a writable bind mount) is on a host already:
    /// replica number → that host. Such a replica goes there or nowhere; the scheduler
    /// never moves state by placing the replica elsewhere.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub state_pins: BTreeMap<u32, StatePin>,
}

/// Where a replica's state is: the host it must run on.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatePin {
    /// The host that holds the state.
    pub host: String,
    /// What the state is, for messages: `volume demo_data`, `bind mount /srv/db`.
    pub state: String,
}

/// One replica of one service on one host.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Placement {
    /// The service's name.
    pub service: String,
    /// The replica number, from 1.
    pub replica: u32,
    /// The host's name.
    pub host: String,
}

/// Everything [`schedule`] looks at.
#[derive(Debug, Clone, Copy)]
pub struct ScheduleInput<'a> {
    /// The project's services, in any order.
    pub services: &'a [ServiceDemand],
    /// The inventory's hosts, in any order.
    pub hosts: &'a [HostSpec],
    /// The strategy of services that name none.
    pub default_strategy: Strategy,
    /// Where replicas run now (observed state), in any order; kept where they
    /// still fit.
    pub existing: &'a [Placement],
}

/// Places every replica of every service on a host.
///
/// Steps, all deterministic (hosts and services are taken in name order
/// whatever the input order, never in hash order):
/// 1. validates the input: unique host and service names, known and acyclic
///    colocation targets, no port published twice by one service, and at least
///    one host when any replica is asked for;
/// 2. keeps each existing placement whose host still exists, whose replica
///    number is within the new count, whose constraints still hold, whose
///    colocation target replica is kept on the same host and whose ports
///    collide with no placement kept before it, and, for a replica with a
///    [`StatePin`], whose host is the pinned one; reservations are not
///    re-checked for them (running containers are not evicted because of
///    reservations, they are only accounted);
/// 3. places every other pinned replica of a service that colocates with none on
///    its pinned host, or fails with [`ScheduleError::StateWouldMove`] naming the
///    host that rejects it and the host it would go to otherwise;
/// 4. places the other replicas service by service, a colocated service after
///    its target and otherwise by name, replicas in ascending order, each on
///    the best host (by the service's strategy) among those that pass the
///    filters, unless `policy` chooses another candidate.
///
/// Returns one placement per replica, sorted by service name and replica.
/// Placements of replicas beyond the new count or of services no longer in the
/// project are left out.
pub fn schedule(
    input: &ScheduleInput<'_>,
    policy: &mut dyn PlacementPolicy,
) -> Result<Vec<Placement>, ScheduleError> {
    let mut scheduler = Scheduler::new(input)?;
    scheduler.keep_existing(input.existing);
    scheduler.place_pinned()?;
    for position in 0..scheduler.order.len() {
        let service = scheduler.order[position];
        scheduler.place_service(service, policy)?;
    }
    Ok(scheduler.into_placements())
}
