//! Observe → reconcile → plan: what must happen on which host to reach the desired state.
//!
//! [`desired_state`] turns a project and an inventory into containers placed on hosts (via
//! the scheduler), project networks with a subnet per host, a fixed address for every
//! container and the complete name table every container gets as `extra_hosts`.
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
mod rollout;
pub mod select;
mod teardown;

pub use desired::name_table::{HostEntry, extra_hosts_match, holds_table};
pub use desired::{
    DesiredBuild, DesiredContainer, DesiredNetwork, DesiredState, NetworkAttachment, Route,
    desired_state, host_specs,
};
pub use hash::{config_hash, extra_hosts_hash};
pub use labels::*;
pub use observed::{ObservedContainer, ObservedImage, ObservedNetwork, ObservedState};
pub use operation::{Operation, PlacementRecord, Plan, PlannedOperation};
pub use reconcile::{BuildPolicy, Fate, ReconcileOptions, fate, reconcile};
pub use rollout::{FailureAction, RolloutPolicy, rollout_policy};
pub use teardown::{TeardownOptions, teardown};
