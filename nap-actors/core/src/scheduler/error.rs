//! Why a replica fits nowhere: each host's rejection reason and the error text that lists
//! them.

use std::fmt;

use super::{Constraint, PublishedPort};
use crate::units::format_bytes;

/// Why one host cannot take one replica.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RejectionReason {
    /// A placement constraint does not hold on the host.
    ConstraintNotSatisfied {
        /// The constraint.
        constraint: Constraint,
        /// What the host has for the attribute: `zone=b`, `zone not set`,
        /// `hostname h2`.
        actual: String,
    },
    /// A container already placed on the host publishes a colliding port.
    PortInUse {
        /// The replica's port.
        port: PublishedPort,
        /// The container holding it, as `<service>-<replica>`.
        used_by: String,
    },
    /// The reservations placed on the host leave too little CPU.
    NotEnoughCpu {
        /// The replica's CPU reservation, in billionths of a CPU.
        needed_nano_cpus: u64,
        /// What the host has left, in billionths of a CPU.
        free_nano_cpus: u64,
    },
    /// The reservations placed on the host leave too little memory.
    NotEnoughMemory {
        /// The replica's memory reservation, in bytes.
        needed_bytes: u64,
        /// What the host has left, in bytes.
        free_bytes: u64,
    },
}

impl fmt::Display for RejectionReason {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RejectionReason::ConstraintNotSatisfied { constraint, actual } => {
                write!(
                    formatter,
                    "constraint {constraint} not satisfied ({actual})"
                )
            }
            RejectionReason::PortInUse { port, used_by } => {
                write!(formatter, "published port {port} already used by {used_by}")
            }
            RejectionReason::NotEnoughCpu {
                needed_nano_cpus,
                free_nano_cpus,
            } => write!(
                formatter,
                "not enough cpu (needs {}, {} free)",
                format_cpus(*needed_nano_cpus),
                format_cpus(*free_nano_cpus)
            ),
            RejectionReason::NotEnoughMemory {
                needed_bytes,
                free_bytes,
            } => write!(
                formatter,
                "not enough memory (needs {}, {} free)",
                format_bytes(*needed_bytes),
                format_bytes(*free_bytes)
            ),
        }
    }
}

/// Why the host holding a replica's state cannot take it any more.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PinRejection {
    /// The host is not in the inventory.
    NotInInventory,
    /// A filter rejects it.
    Rejected(RejectionReason),
    /// The replica must run beside a colocation target that is on another host.
    Colocation {
        /// The service it colocates with.
        target: String,
        /// The target's replica it follows.
        target_replica: u32,
        /// The target replica's host.
        host: String,
    },
}

impl fmt::Display for PinRejection {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PinRejection::NotInInventory => {
                formatter.write_str("it is not in the inventory or is being drained")
            }
            PinRejection::Rejected(reason) => write!(formatter, "{reason}"),
            PinRejection::Colocation {
                target,
                target_replica,
                host,
            } => write!(
                formatter,
                "the replica must run beside {target:?} replica {target_replica}, which is on {host}"
            ),
        }
    }
}

/// One host and why it cannot take a replica.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostRejection {
    /// The host's name.
    pub host: String,
    /// The first filter it failed, in the order constraints, ports, cpu, memory.
    pub reason: RejectionReason,
}

/// Why [`schedule`](super::schedule) could not place every replica.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    /// Replicas are asked for but the inventory has no host.
    #[error("no hosts to schedule on: the inventory is empty")]
    NoHosts,
    /// Two hosts have the same name.
    #[error("host {host:?} is listed more than once")]
    DuplicateHost {
        /// The repeated name.
        host: String,
    },
    /// Two services have the same name.
    #[error("service {service:?} is listed more than once")]
    DuplicateService {
        /// The repeated name.
        service: String,
    },
    /// A service publishes the same host port twice, so no host can take it.
    #[error("service {service:?} publishes port {port} more than once")]
    DuplicatePublishedPort {
        /// The service.
        service: String,
        /// The repeated port.
        port: PublishedPort,
    },
    /// A service colocates with a service that is not in the project.
    #[error(
        "service {service:?} must share a host with {target:?}, which is not a service of the project"
    )]
    UnknownColocationTarget {
        /// The colocated service.
        service: String,
        /// The missing target.
        target: String,
    },
    /// Services colocate with each other in a loop.
    #[error("services colocate with each other in a cycle: {}", cycle.join(" -> "))]
    ColocationCycle {
        /// The services of the cycle, the first repeated at the end.
        cycle: Vec<String>,
    },
    /// A service with replicas colocates with a service that has none.
    #[error("service {service:?} must share a host with {target:?}, which has no replicas")]
    ColocationTargetWithoutReplicas {
        /// The colocated service.
        service: String,
        /// The target, scaled to zero.
        target: String,
    },
    /// No host passes the filters for a replica.
    #[error(
        "no host fits service {service:?} replica {replica}: {}",
        format_rejections(rejections)
    )]
    NoHostFits {
        /// The service.
        service: String,
        /// The replica, from 1.
        replica: u32,
        /// Every host, sorted by name, with why it was rejected.
        rejections: Vec<HostRejection>,
    },
    /// The host a colocated replica must go to rejects it.
    #[error(
        "no host fits service {service:?} replica {replica}: it must run beside {target:?} replica {target_replica} on {host}, which rejects it: {reason}"
    )]
    ColocationHostRejected {
        /// The colocated service.
        service: String,
        /// The replica, from 1.
        replica: u32,
        /// The service it colocates with.
        target: String,
        /// The target's replica it follows.
        target_replica: u32,
        /// The target replica's host.
        host: String,
        /// Why that host rejects the replica.
        reason: Box<RejectionReason>,
    },
    /// The target replica of a colocated replica has no host. The scheduler
    /// places targets first, so this only guards against a bug.
    #[error(
        "service {service:?} replica {replica} must run beside {target:?} replica {target_replica}, which has no host"
    )]
    ColocationTargetUnplaced {
        /// The colocated service.
        service: String,
        /// The replica, from 1.
        replica: u32,
        /// The service it colocates with.
        target: String,
        /// The target's replica it follows.
        target_replica: u32,
    },
    /// A replica's state is on a host that can no longer take the replica: placing it
    /// elsewhere would start it without its data, so nothing is placed.
    #[error(
        "service {service:?} replica {replica}: its {state} is on host {holder}, which can no longer take it ({reason}); {}",
        match would_go_to {
            Some(host) => format!("it would move to host {host}, without its data"),
            None => "no other host fits it either".to_string(),
        }
    )]
    StateWouldMove {
        /// The service.
        service: String,
        /// The replica, from 1.
        replica: u32,
        /// What the state is (`volume demo_data`).
        state: String,
        /// The host that holds it.
        holder: String,
        /// Why that host cannot take the replica.
        reason: Box<PinRejection>,
        /// The host the replica would go to without its state, if any fits.
        would_go_to: Option<String>,
    },
    /// The placement policy chose a host that did not pass the filters.
    #[error(
        "placement policy {policy:?} chose host {host:?} for service {service:?} replica {replica}, which is not among the candidates ({})",
        format_names(candidates)
    )]
    PolicyChoseNonCandidate {
        /// The policy's name.
        policy: String,
        /// The service.
        service: String,
        /// The replica, from 1.
        replica: u32,
        /// The host it chose.
        host: String,
        /// The candidates it was given, best first.
        candidates: Vec<String>,
    },
    /// The placement policy returned an error.
    #[error(
        "placement policy {policy:?} failed for service {service:?} replica {replica}: {message}"
    )]
    PolicyFailed {
        /// The policy's name.
        policy: String,
        /// The service.
        service: String,
        /// The replica, from 1.
        replica: u32,
        /// The policy's message ([`super::PolicyError`]'s text: kept as text, not as a
        /// `source`, because the message holds it and an error chain would print it twice).
        message: String,
    },
}

/// How many hosts an error message lists before summing up the rest.
pub(super) const LISTED_HOSTS: usize = 20;

/// `h1: reason; h2: reason; ... and 12 more hosts`.
pub(super) fn format_rejections(rejections: &[HostRejection]) -> String {
    let mut parts: Vec<String> = rejections
        .iter()
        .take(LISTED_HOSTS)
        .map(|rejection| format!("{}: {}", rejection.host, rejection.reason))
        .collect();
    if rejections.len() > LISTED_HOSTS {
        parts.push(format!(
            "and {} more hosts",
            rejections.len() - LISTED_HOSTS
        ));
    }
    parts.join("; ")
}

/// `h1, h2, ... and 12 more`.
pub(super) fn format_names(names: &[String]) -> String {
    let mut listed = names
        .iter()
        .take(LISTED_HOSTS)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if names.len() > LISTED_HOSTS {
        listed.push_str(&format!(" and {} more", names.len() - LISTED_HOSTS));
    }
    listed
}

/// `2 cpus`, `1 cpu`, `0.25 cpus` (to a thousandth, rounded down).
pub(super) fn format_cpus(nano_cpus: u64) -> String {
    let whole = nano_cpus / 1_000_000_000;
    let thousandths = (nano_cpus % 1_000_000_000) / 1_000_000;
    let number = if thousandths == 0 {
        whole.to_string()
    } else {
        let fraction = format!("{thousandths:03}");
        format!("{whole}.{}", fraction.trim_end_matches('0'))
    };
    if nano_cpus == 1_000_000_000 {
        "1 cpu".to_string()
    } else {
        format!("{number} cpus")
    }
}
