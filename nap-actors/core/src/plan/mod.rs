//! Observe → reconcile → plan: what must happen on which host to reach the desired state.
//!
//! [`desired_state`] turns a project and an inventory into containers placed on hosts (via
//! the scheduler), project networks with a subnet per host, a fixed address for every
//! container, the complete name table every container resolves and the hosts files that hold
//! it (one per host and view).
//! [`reconcile`] compares that with the [`ObservedState`] read from the daemons' labels and
//! returns a [`Plan`]: a DAG of operations, each one Docker or SSH call, in dependency
//! order. Nothing here performs an operation; the actors do. The few choices an actor makes
//! while carrying one out (a replacement's steps, what follows a failed replica, pull or
//! copy, SSH or exec) are [`decide`]'s.

use crate::scheduler::ScheduleError;

/// Why a plan could not be made.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// No host fits a replica (the message names the service, replica and each host's reason).
    #[error(transparent)]
    Schedule(#[from] ScheduleError),
    /// A constraint or resource value could not be read (the loader normally catches these).
    #[error("service {service:?}: {message}")]
    Service {
        /// The service.
        service: String,
        /// What is wrong.
        message: String,
    },
    /// The routed pool has no subnet or address left.
    #[error("network {network:?} on host {host:?}: {message}")]
    Addressing {
        /// The project network.
        network: String,
        /// The host.
        host: String,
        /// What ran out.
        message: String,
    },
    /// A replica's state is on a host that can no longer take it ([`ScheduleError::StateWouldMove`]),
    /// with the command that moves the data.
    #[error("{error}; {hint}")]
    StateWouldMove {
        /// The scheduler's refusal (kept as text: the message holds it).
        error: Box<ScheduleError>,
        /// What to run.
        hint: String,
    },
    /// One replica's state is on two hosts: no host can take it whole.
    #[error(
        "service {service:?} replica {replica}: its state is on two hosts ({first}, {second}); move one with `nap volume move` first"
    )]
    StateSplit {
        /// The service.
        service: String,
        /// The replica.
        replica: u32,
        /// The first piece of state and its host.
        first: String,
        /// The other, on another host.
        second: String,
    },
    /// A host that runs containers of the project (so its hosts record says) is no longer in
    /// the inventory: planning without it would start second copies of them.
    #[error(
        "host {host} is no longer in the inventory but runs {} of project {project:?} (recorded on {}); nap stops before any change so that no second copy starts: put the host back in the inventory and run `nap host drain {host}` to move its replicas away, or, if the host is gone for good, run `nap up --forget-host {host}`",
        containers.join(", "),
        recorded_on.join(", ")
    )]
    HostLeftInventory {
        /// The project.
        project: String,
        /// The host.
        host: String,
        /// The containers it runs.
        containers: Vec<String>,
        /// The hosts whose records name it.
        recorded_on: Vec<String>,
    },
    /// Services depend on each other in a circle.
    #[error("dependency cycle between services: {0}")]
    Cycle(String),
    /// A build context cannot be read or used (the runtime's message, naming the service).
    #[error("{message}")]
    Build {
        /// What is wrong.
        message: String,
    },
}

pub mod decide;
mod desired;
mod hash;
mod labels;
mod observed;
mod operation;
mod reconcile;
pub mod records;
mod rollout;
pub mod select;
mod teardown;

pub use desired::name_table::{HostEntry, holds_hosts_file};
pub use desired::one_off::{OneOff, is_one_off};
pub use desired::state::replica_volume;
pub use desired::{
    DesiredBuild, DesiredContainer, DesiredHostsFile, DesiredNetwork, DesiredState,
    NetworkAttachment, Route, desired_state, desired_state_with_one_off, host_specs,
};
pub use hash::config_hash;
pub use labels::*;
pub use observed::{ObservedContainer, ObservedImage, ObservedNetwork, ObservedState};
pub use operation::{Operation, PlacementRecord, Plan, PlannedOperation};
pub use reconcile::{BuildPolicy, Fate, ReconcileOptions, fate, reconcile};
pub use rollout::{FailureAction, RolloutPolicy, rollout_policy};
pub use teardown::{TeardownOptions, teardown};
