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
//! - explains, when a replica fits nowhere, why each host rejected it.
//!
//! What it does not do: no I/O, no Docker, no clock, no randomness. It does not
//! read compose files (an adapter turns the compose model into
//! [`ServiceDemand`]s), does not ask hosts for their capacity (the inventory
//! does), and does not start, stop or remove containers (the reconciler turns
//! the difference between the observed and the returned placements into
//! actions). The same input always gives the same output.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;

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

/// A placement constraint (`deploy.placement.constraints`), restricted to the
/// attributes nap knows about its hosts.
///
/// Values compare case-insensitively, as in Swarm; label keys compare exactly.
/// A label constraint on a label the host does not have fails with `==` and
/// holds with `!=`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Constraint {
    /// `node.labels.<key>==<value>`: the host has the label with that value.
    LabelEq {
        /// The label key.
        key: String,
        /// The value the label must have.
        value: String,
    },
    /// `node.labels.<key>!=<value>`: the host lacks the label or has another
    /// value.
    LabelNe {
        /// The label key.
        key: String,
        /// The value the label must not have.
        value: String,
    },
    /// `node.hostname==<name>`: the host has that name.
    HostnameEq(String),
    /// `node.hostname!=<name>`: the host has another name.
    HostnameNe(String),
}

/// Why a constraint's text could not be parsed. Every message quotes the text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConstraintError {
    /// Neither `==` nor `!=` appears in the text.
    #[error(
        "invalid constraint {constraint:?}: expected <attribute>==<value> or <attribute>!=<value>"
    )]
    MissingOperator {
        /// The constraint as written.
        constraint: String,
    },
    /// Nothing stands before the operator.
    #[error("invalid constraint {constraint:?}: nothing before the operator")]
    MissingAttribute {
        /// The constraint as written.
        constraint: String,
    },
    /// The attribute is not one nap can evaluate (`node.role`, `node.id`,
    /// `engine.labels.*`, ...).
    #[error(
        "unsupported constraint {constraint:?}: nap supports node.labels.<key> and node.hostname"
    )]
    UnsupportedAttribute {
        /// The constraint as written.
        constraint: String,
    },
    /// `node.labels.` is not followed by a key.
    #[error("invalid constraint {constraint:?}: the label key after node.labels. is empty")]
    EmptyLabelKey {
        /// The constraint as written.
        constraint: String,
    },
    /// The label key has characters other than letters, digits, `.`, `-`, `_`.
    #[error(
        "invalid constraint {constraint:?}: label key {key:?} may only contain letters, digits, '.', '-' and '_'"
    )]
    InvalidLabelKey {
        /// The constraint as written.
        constraint: String,
        /// The offending key.
        key: String,
    },
    /// Nothing stands after the operator.
    #[error("invalid constraint {constraint:?}: the value after the operator is empty")]
    EmptyValue {
        /// The constraint as written.
        constraint: String,
    },
    /// The value contains `=`, `!` or a control character (usually a typo such
    /// as `===`).
    #[error(
        "invalid constraint {constraint:?}: value {value:?} may not contain '=', '!' or control characters"
    )]
    InvalidValue {
        /// The constraint as written.
        constraint: String,
        /// The offending value.
        value: String,
    },
}

/// The prefix of label constraints.
const LABEL_PREFIX: &str = "node.labels.";
/// The attribute of hostname constraints.
const HOSTNAME_ATTRIBUTE: &str = "node.hostname";

impl Constraint {
    /// Parses a constraint as written in a compose file: `node.labels.zone==a`,
    /// `node.labels.zone != a` (spaces around the operator are allowed),
    /// `node.hostname==h1`, `node.hostname!=h1`. Anything else is rejected
    /// with a message naming the text and the reason.
    pub fn parse(text: &str) -> Result<Constraint, ConstraintError> {
        let constraint = || text.to_string();
        let equal_at = text.find("==");
        let not_equal_at = text.find("!=");
        let (operator_at, is_equal) = match (equal_at, not_equal_at) {
            (Some(equal), Some(not_equal)) if not_equal < equal => (not_equal, false),
            (Some(equal), _) => (equal, true),
            (None, Some(not_equal)) => (not_equal, false),
            (None, None) => {
                return Err(ConstraintError::MissingOperator {
                    constraint: constraint(),
                });
            }
        };
        // Both operators are two ASCII bytes, so these are char boundaries.
        let attribute = text.get(..operator_at).unwrap_or_default().trim();
        let value = text.get(operator_at + 2..).unwrap_or_default().trim();
        if attribute.is_empty() {
            return Err(ConstraintError::MissingAttribute {
                constraint: constraint(),
            });
        }
        let lowercase_attribute = attribute.to_ascii_lowercase();
        let label_key = if lowercase_attribute == HOSTNAME_ATTRIBUTE {
            None
        } else if lowercase_attribute == LABEL_PREFIX.trim_end_matches('.') {
            return Err(ConstraintError::EmptyLabelKey {
                constraint: constraint(),
            });
        } else if lowercase_attribute.starts_with(LABEL_PREFIX) {
            let key = attribute.get(LABEL_PREFIX.len()..).unwrap_or_default();
            if key.is_empty() {
                return Err(ConstraintError::EmptyLabelKey {
                    constraint: constraint(),
                });
            }
            if !key
                .chars()
                .all(|character| character.is_ascii_alphanumeric() || "._-".contains(character))
            {
                return Err(ConstraintError::InvalidLabelKey {
                    constraint: constraint(),
                    key: key.to_string(),
                });
            }
            Some(key.to_string())
        } else {
            return Err(ConstraintError::UnsupportedAttribute {
                constraint: constraint(),
            });
        };
        if value.is_empty() {
            return Err(ConstraintError::EmptyValue {
                constraint: constraint(),
            });
        }
        if value
            .chars()
            .any(|character| character == '=' || character == '!' || character.is_control())
        {
            return Err(ConstraintError::InvalidValue {
                constraint: constraint(),
                value: value.to_string(),
            });
        }
        let value = value.to_string();
        Ok(match (label_key, is_equal) {
            (Some(key), true) => Constraint::LabelEq { key, value },
            (Some(key), false) => Constraint::LabelNe { key, value },
            (None, true) => Constraint::HostnameEq(value),
            (None, false) => Constraint::HostnameNe(value),
        })
    }

    /// Whether the constraint holds on `host`.
    pub fn is_satisfied_by(&self, host: &HostSpec) -> bool {
        match self {
            Constraint::LabelEq { key, value } => host
                .labels
                .get(key)
                .is_some_and(|actual| equal_ignoring_case(actual, value)),
            Constraint::LabelNe { key, value } => !host
                .labels
                .get(key)
                .is_some_and(|actual| equal_ignoring_case(actual, value)),
            Constraint::HostnameEq(name) => equal_ignoring_case(&host.name, name),
            Constraint::HostnameNe(name) => !equal_ignoring_case(&host.name, name),
        }
    }

    /// What the host has for the constraint's attribute, for error messages:
    /// `zone=b`, `zone not set`, `hostname h2`.
    fn describe_actual(&self, host: &HostSpec) -> String {
        match self {
            Constraint::LabelEq { key, .. } | Constraint::LabelNe { key, .. } => {
                match host.labels.get(key) {
                    Some(actual) => format!("{key}={actual}"),
                    None => format!("{key} not set"),
                }
            }
            Constraint::HostnameEq(_) | Constraint::HostnameNe(_) => {
                format!("hostname {}", host.name)
            }
        }
    }
}

impl fmt::Display for Constraint {
    /// The canonical text: `node.labels.zone==a`, `node.hostname!=h1`.
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Constraint::LabelEq { key, value } => write!(formatter, "{LABEL_PREFIX}{key}=={value}"),
            Constraint::LabelNe { key, value } => write!(formatter, "{LABEL_PREFIX}{key}!={value}"),
            Constraint::HostnameEq(name) => write!(formatter, "{HOSTNAME_ATTRIBUTE}=={name}"),
            Constraint::HostnameNe(name) => write!(formatter, "{HOSTNAME_ATTRIBUTE}!={name}"),
        }
    }
}

impl FromStr for Constraint {
    type Err = ConstraintError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Constraint::parse(text)
    }
}

impl TryFrom<String> for Constraint {
    type Error = ConstraintError;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        Constraint::parse(&text)
    }
}

impl From<Constraint> for String {
    fn from(constraint: Constraint) -> String {
        constraint.to_string()
    }
}

/// Compares like Go's `strings.EqualFold`, which Swarm uses for constraint
/// values.
fn equal_ignoring_case(left: &str, right: &str) -> bool {
    if left.is_ascii() && right.is_ascii() {
        return left.eq_ignore_ascii_case(right);
    }
    left.chars()
        .flat_map(char::to_lowercase)
        .eq(right.chars().flat_map(char::to_lowercase))
}

/// One fixed host port a replica publishes (`ports: ["80:8080"]`); ports
/// without a fixed host port do not collide and are not listed.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct PublishedPort {
    /// The host address it binds; `None`, `""`, `0.0.0.0` and `::` mean every
    /// address, and collide with any address on the same port and protocol.
    #[serde(default)]
    pub host_ip: Option<String>,
    /// The host port.
    pub port: u16,
    /// `tcp`, `udp` or `sctp`; compared case-insensitively, empty means `tcp`.
    #[serde(default = "default_protocol")]
    pub protocol: String,
}

/// The protocol of a port that names none.
fn default_protocol() -> String {
    "tcp".to_string()
}

impl PublishedPort {
    /// A TCP port on every host address.
    pub fn tcp(port: u16) -> PublishedPort {
        PublishedPort {
            host_ip: None,
            port,
            protocol: default_protocol(),
        }
    }

    /// The port with its address and protocol normalized for comparison.
    fn normalized(&self) -> NormalizedPort {
        let host_ip = self
            .host_ip
            .as_deref()
            .map(str::trim)
            .filter(|ip| !matches!(*ip, "" | "0.0.0.0" | "::" | "[::]"))
            .map(str::to_string);
        let protocol = self.protocol.trim().to_ascii_lowercase();
        NormalizedPort {
            host_ip,
            port: self.port,
            protocol: if protocol.is_empty() {
                default_protocol()
            } else {
                protocol
            },
        }
    }
}

impl fmt::Display for PublishedPort {
    /// `80/tcp`, `127.0.0.1:80/tcp`, `[::1]:53/udp`.
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let normalized = self.normalized();
        match &normalized.host_ip {
            Some(ip) if ip.contains(':') && !ip.starts_with('[') => write!(formatter, "[{ip}]:")?,
            Some(ip) => write!(formatter, "{ip}:")?,
            None => {}
        }
        write!(formatter, "{}/{}", normalized.port, normalized.protocol)
    }
}

/// A published port ready for comparison.
#[derive(Debug, Clone, PartialEq, Eq)]
struct NormalizedPort {
    /// `None` means every address.
    host_ip: Option<String>,
    /// The host port.
    port: u16,
    /// Lowercase, never empty.
    protocol: String,
}

impl NormalizedPort {
    /// Whether two containers publishing these ports cannot share a host.
    fn collides_with(&self, other: &NormalizedPort) -> bool {
        self.port == other.port
            && self.protocol == other.protocol
            && (self.host_ip.is_none() || other.host_ip.is_none() || self.host_ip == other.host_ip)
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

/// One host that passed nap's filters for a replica, as a [`PlacementPolicy`] sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Candidate<'a> {
    /// The host.
    pub host: &'a HostSpec,
    /// Replicas of the service being placed that the host holds so far: kept ones and ones
    /// placed earlier in this run.
    pub service_replicas: u64,
    /// Containers of the project the host holds so far, all services counted.
    pub containers: u64,
}

/// A hook for plugins: overrides nap's choice of host for a replica.
pub trait PlacementPolicy {
    /// The policy's name, used in error messages.
    fn name(&self) -> &str;

    /// Given the candidates that passed nap's own filters, ordered best-first
    /// by nap's strategy (never empty), returns the chosen host's name, which
    /// must be one of the candidates, or `None` to keep nap's choice (the first
    /// candidate). An `Err` aborts scheduling with the message.
    ///
    /// Called once for each replica that is not kept where it runs, in the
    /// order the scheduler places them; not called for replicas of colocated
    /// services, whose host is fixed by their target.
    fn choose(
        &mut self,
        service: &ServiceDemand,
        replica: u32,
        candidates: &[Candidate<'_>],
    ) -> Result<Option<String>, String>;

    /// Whether [`PlacementPolicy::choose`] needs to be called at all. A
    /// policy that always keeps nap's choice returns `false`, which spares the
    /// scheduler listing every candidate for every replica. Defaults to `true`.
    fn inspects_candidates(&self) -> bool {
        true
    }
}

/// The policy that keeps nap's choice.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct DefaultPolicy;

impl PlacementPolicy for DefaultPolicy {
    fn name(&self) -> &str {
        "default"
    }

    fn choose(
        &mut self,
        _service: &ServiceDemand,
        _replica: u32,
        _candidates: &[Candidate<'_>],
    ) -> Result<Option<String>, String> {
        Ok(None)
    }

    fn inspects_candidates(&self) -> bool {
        false
    }
}

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

/// One host and why it cannot take a replica.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostRejection {
    /// The host's name.
    pub host: String,
    /// The first filter it failed, in the order constraints, ports, cpu, memory.
    pub reason: RejectionReason,
}

/// Why [`schedule`] could not place every replica.
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
        /// The policy's message.
        message: String,
    },
}

/// How many hosts an error message lists before summing up the rest.
const LISTED_HOSTS: usize = 20;

/// `h1: reason; h2: reason; ... and 12 more hosts`.
fn format_rejections(rejections: &[HostRejection]) -> String {
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
fn format_names(names: &[String]) -> String {
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
fn format_cpus(nano_cpus: u64) -> String {
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

/// `512MiB`, `1.5GiB`, `100B` (to a hundredth of the unit, rounded down).
fn format_bytes(bytes: u64) -> String {
    const UNITS: [(u64, &str); 4] = [
        (1 << 40, "TiB"),
        (1 << 30, "GiB"),
        (1 << 20, "MiB"),
        (1 << 10, "KiB"),
    ];
    for (size, unit) in UNITS {
        if bytes >= size {
            let whole = bytes / size;
            let hundredths = (u128::from(bytes % size) * 100 / u128::from(size)) as u64;
            if hundredths == 0 {
                return format!("{whole}{unit}");
            }
            let fraction = format!("{hundredths:02}");
            return format!("{whole}.{}{unit}", fraction.trim_end_matches('0'));
        }
    }
    format!("{bytes}B")
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
///    collide with no placement kept before it; reservations are not
///    re-checked for them (running containers are not evicted because of
///    reservations, they are only accounted);
/// 3. places the other replicas service by service, a colocated service after
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
    for position in 0..scheduler.order.len() {
        let service = scheduler.order[position];
        scheduler.place_service(service, policy)?;
    }
    Ok(scheduler.into_placements())
}

/// A service with its ports normalized and its colocation resolved.
struct PreparedService<'a> {
    /// The service as given.
    demand: &'a ServiceDemand,
    /// Its published ports, in the order of `demand.published_ports`.
    ports: Vec<NormalizedPort>,
    /// Its strategy, the project's default filled in.
    strategy: Strategy,
    /// Index of the service it colocates with.
    colocate_with: Option<usize>,
}

/// One published port taken on a host.
struct PortUse {
    /// The index of the service holding it.
    service: usize,
    /// The replica holding it.
    replica: u32,
    /// Index in the service's `ports`.
    port_index: usize,
}

/// What is placed on one host so far.
#[derive(Default)]
struct HostState {
    /// Containers of the project placed on the host.
    containers: u64,
    /// The sum of their reservations.
    reserved: Resources,
    /// Taken ports by port number.
    ports: BTreeMap<u16, Vec<PortUse>>,
}

/// A host's rank for one service: the smallest key is the best host. The last
/// field is the host's index, so ties go to the first name.
type RankKey = (u64, u64, usize);

/// The target replica a colocated replica follows.
struct ColocationTarget {
    /// The target service's index.
    target: usize,
    /// The target's replica number.
    target_replica: u32,
    /// The target replica's host index, once placed.
    host: Option<usize>,
}

/// The scheduler's working state.
struct Scheduler<'a> {
    /// Hosts sorted by name; a host is named by its index here.
    hosts: Vec<&'a HostSpec>,
    /// Services sorted by name; a service is named by its index here.
    services: Vec<PreparedService<'a>>,
    /// Services in placement order: colocation targets first, then by name.
    order: Vec<usize>,
    /// What is placed on each host, by host index.
    host_states: Vec<HostState>,
    /// Per service: replica number to host index.
    assigned: Vec<BTreeMap<u32, usize>>,
}

impl<'a> Scheduler<'a> {
    /// Sorts and validates the input.
    fn new(input: &ScheduleInput<'a>) -> Result<Scheduler<'a>, ScheduleError> {
        let mut hosts: Vec<&HostSpec> = input.hosts.iter().collect();
        hosts.sort_by(|left, right| left.name.cmp(&right.name));
        if let Some(pair) = hosts.windows(2).find(|pair| pair[0].name == pair[1].name) {
            return Err(ScheduleError::DuplicateHost {
                host: pair[0].name.clone(),
            });
        }

        let mut demands: Vec<&ServiceDemand> = input.services.iter().collect();
        demands.sort_by(|left, right| left.name.cmp(&right.name));
        if let Some(pair) = demands.windows(2).find(|pair| pair[0].name == pair[1].name) {
            return Err(ScheduleError::DuplicateService {
                service: pair[0].name.clone(),
            });
        }

        let mut services = Vec::with_capacity(demands.len());
        for demand in &demands {
            let colocate_with = match &demand.colocate_with {
                None => None,
                Some(target) => match demands.binary_search_by(|other| other.name.cmp(target)) {
                    Ok(index) => Some(index),
                    Err(_) => {
                        return Err(ScheduleError::UnknownColocationTarget {
                            service: demand.name.clone(),
                            target: target.clone(),
                        });
                    }
                },
            };
            let ports: Vec<NormalizedPort> = demand
                .published_ports
                .iter()
                .map(PublishedPort::normalized)
                .collect();
            for (index, port) in ports.iter().enumerate() {
                if ports[..index]
                    .iter()
                    .any(|earlier| earlier.collides_with(port))
                {
                    return Err(ScheduleError::DuplicatePublishedPort {
                        service: demand.name.clone(),
                        port: demand.published_ports[index].clone(),
                    });
                }
            }
            services.push(PreparedService {
                demand,
                ports,
                strategy: demand.strategy.unwrap_or(input.default_strategy),
                colocate_with,
            });
        }

        let order = placement_order(&services)?;

        if hosts.is_empty() && services.iter().any(|service| service.demand.replicas > 0) {
            return Err(ScheduleError::NoHosts);
        }

        let host_states = hosts.iter().map(|_| HostState::default()).collect();
        let assigned = services.iter().map(|_| BTreeMap::new()).collect();
        Ok(Scheduler {
            hosts,
            services,
            order,
            host_states,
            assigned,
        })
    }

    /// The index of the host named `name`.
    fn host_index(&self, name: &str) -> Option<usize> {
        self.hosts
            .binary_search_by(|host| host.name.as_str().cmp(name))
            .ok()
    }

    /// The index of the service named `name`.
    fn service_index(&self, name: &str) -> Option<usize> {
        self.services
            .binary_search_by(|service| service.demand.name.as_str().cmp(name))
            .ok()
    }

    /// The first constraint of `service` that fails on `host`.
    fn constraint_rejection(&self, host: usize, service: usize) -> Option<RejectionReason> {
        let host_spec = self.hosts[host];
        self.services[service]
            .demand
            .constraints
            .iter()
            .find(|constraint| !constraint.is_satisfied_by(host_spec))
            .map(|constraint| RejectionReason::ConstraintNotSatisfied {
                constraint: constraint.clone(),
                actual: constraint.describe_actual(host_spec),
            })
    }

    /// The first port of `service` that collides with one taken on `host`.
    fn port_rejection(&self, host: usize, service: usize) -> Option<RejectionReason> {
        let prepared = &self.services[service];
        let taken_ports = &self.host_states[host].ports;
        for (port_index, port) in prepared.ports.iter().enumerate() {
            let Some(uses) = taken_ports.get(&port.port) else {
                continue;
            };
            for taken in uses {
                let holder = &self.services[taken.service];
                let collides = holder
                    .ports
                    .get(taken.port_index)
                    .is_some_and(|other| other.collides_with(port));
                if collides {
                    return Some(RejectionReason::PortInUse {
                        port: prepared.demand.published_ports[port_index].clone(),
                        used_by: format!("{}-{}", holder.demand.name, taken.replica),
                    });
                }
            }
        }
        None
    }

    /// Whether the reservation of `service` fits in what `host` has left.
    fn resource_rejection(&self, host: usize, service: usize) -> Option<RejectionReason> {
        let capacity = self.hosts[host].capacity?;
        let needed = self.services[service].demand.reservation;
        let reserved = self.host_states[host].reserved;
        if capacity.nano_cpus > 0 && needed.nano_cpus > 0 {
            let free = capacity.nano_cpus.saturating_sub(reserved.nano_cpus);
            if needed.nano_cpus > free {
                return Some(RejectionReason::NotEnoughCpu {
                    needed_nano_cpus: needed.nano_cpus,
                    free_nano_cpus: free,
                });
            }
        }
        if capacity.memory_bytes > 0 && needed.memory_bytes > 0 {
            let free = capacity.memory_bytes.saturating_sub(reserved.memory_bytes);
            if needed.memory_bytes > free {
                return Some(RejectionReason::NotEnoughMemory {
                    needed_bytes: needed.memory_bytes,
                    free_bytes: free,
                });
            }
        }
        None
    }

    /// The filters that change as replicas are placed: ports and resources.
    fn dynamic_rejection(&self, host: usize, service: usize) -> Option<RejectionReason> {
        self.port_rejection(host, service)
            .or_else(|| self.resource_rejection(host, service))
    }

    /// All filters, in the order constraints, ports, resources.
    fn rejection(&self, host: usize, service: usize) -> Option<RejectionReason> {
        self.constraint_rejection(host, service)
            .or_else(|| self.dynamic_rejection(host, service))
    }

    /// Why each host rejects a replica of `service`, for the error message.
    fn all_rejections(&self, service: usize) -> Vec<HostRejection> {
        (0..self.hosts.len())
            .filter_map(|host| {
                self.rejection(host, service).map(|reason| HostRejection {
                    host: self.hosts[host].name.clone(),
                    reason,
                })
            })
            .collect()
    }

    /// Records `replica` of `service` on `host`.
    fn assign(&mut self, service: usize, replica: u32, host: usize) {
        let prepared = &self.services[service];
        let state = &mut self.host_states[host];
        state.containers += 1;
        state.reserved = state.reserved.saturating_add(prepared.demand.reservation);
        for (port_index, port) in prepared.ports.iter().enumerate() {
            state.ports.entry(port.port).or_default().push(PortUse {
                service,
                replica,
                port_index,
            });
        }
        self.assigned[service].insert(replica, host);
    }

    /// The replica of `service`'s colocation target that replica `replica`
    /// follows, and its host if placed. `None` when `service` colocates with
    /// nothing.
    fn colocation_host(
        &self,
        service: usize,
        replica: u32,
    ) -> Option<Result<ColocationTarget, ScheduleError>> {
        let target = self.services[service].colocate_with?;
        let target_replicas = self.services[target].demand.replicas;
        if target_replicas == 0 {
            return Some(Err(ScheduleError::ColocationTargetWithoutReplicas {
                service: self.services[service].demand.name.clone(),
                target: self.services[target].demand.name.clone(),
            }));
        }
        let target_replica = (replica - 1) % target_replicas + 1;
        let host = self.assigned[target].get(&target_replica).copied();
        Some(Ok(ColocationTarget {
            target,
            target_replica,
            host,
        }))
    }

    /// Keeps the existing placements that still fit (see [`schedule`]).
    fn keep_existing(&mut self, existing: &[Placement]) {
        let mut observed: Vec<Vec<(u32, usize)>> =
            self.services.iter().map(|_| Vec::new()).collect();
        for placement in existing {
            let (Some(service), Some(host)) = (
                self.service_index(&placement.service),
                self.host_index(&placement.host),
            ) else {
                continue;
            };
            if placement.replica >= 1 && placement.replica <= self.services[service].demand.replicas
            {
                observed[service].push((placement.replica, host));
            }
        }
        for position in 0..self.order.len() {
            let service = self.order[position];
            let mut candidates = std::mem::take(&mut observed[service]);
            // Sorted so that, when a replica was observed on several hosts,
            // the first host by name that still fits keeps it.
            candidates.sort_unstable();
            for (replica, host) in candidates {
                if self.assigned[service].contains_key(&replica) {
                    continue;
                }
                if let Some(colocation) = self.colocation_host(service, replica) {
                    match colocation {
                        Ok(ColocationTarget {
                            host: Some(target_host),
                            ..
                        }) if target_host == host => {}
                        _ => continue,
                    }
                }
                if self.constraint_rejection(host, service).is_some()
                    || self.port_rejection(host, service).is_some()
                {
                    continue;
                }
                self.assign(service, replica, host);
            }
        }
    }

    /// The rank of `host` for `service`; smaller is better.
    fn rank_key(&self, host: usize, service: usize, replicas_of_service: u64) -> RankKey {
        let state = &self.host_states[host];
        match self.services[service].strategy {
            // Service first: each service's replicas end up evenly spread over
            // the hosts that can take them, so losing one host loses as few
            // replicas of any one service as possible. The project-wide count
            // only breaks ties, to even out the load between services.
            Strategy::Spread => (replicas_of_service, state.containers, host),
            Strategy::Binpack => (
                u64::MAX - fullness(self.hosts[host].capacity, state.reserved),
                u64::MAX - state.containers,
                host,
            ),
        }
    }

    /// Places the replicas of `service` that were not kept.
    fn place_service(
        &mut self,
        service: usize,
        policy: &mut dyn PlacementPolicy,
    ) -> Result<(), ScheduleError> {
        let replicas = self.services[service].demand.replicas;
        if self.assigned[service].len() as u64 >= u64::from(replicas) {
            return Ok(());
        }
        if self.services[service].colocate_with.is_some() {
            return self.place_colocated(service, replicas);
        }

        let mut replicas_per_host = vec![0_u64; self.hosts.len()];
        for &host in self.assigned[service].values() {
            replicas_per_host[host] += 1;
        }
        // The hosts that pass every filter right now, best first. Placing a
        // replica only changes the host it goes to, and only by taking ports
        // and resources, so a host that fails stays failed for the rest of
        // this service and only the chosen host needs checking again.
        let mut candidates: BTreeSet<RankKey> = (0..self.hosts.len())
            .filter(|&host| self.rejection(host, service).is_none())
            .map(|host| self.rank_key(host, service, replicas_per_host[host]))
            .collect();
        let inspects = policy.inspects_candidates();
        let mut candidate_list: Vec<Candidate<'a>> = Vec::new();
        let mut candidate_indexes: Vec<usize> = Vec::new();

        for replica in 1..=replicas {
            if self.assigned[service].contains_key(&replica) {
                continue;
            }
            let Some(&(_, _, best)) = candidates.first() else {
                return Err(ScheduleError::NoHostFits {
                    service: self.services[service].demand.name.clone(),
                    replica,
                    rejections: self.all_rejections(service),
                });
            };
            let chosen = if inspects {
                candidate_list.clear();
                candidate_indexes.clear();
                for &(_, _, host) in &candidates {
                    candidate_list.push(Candidate {
                        host: self.hosts[host],
                        service_replicas: replicas_per_host[host],
                        containers: self.host_states[host].containers,
                    });
                    candidate_indexes.push(host);
                }
                let demand = self.services[service].demand;
                match policy.choose(demand, replica, &candidate_list) {
                    Err(message) => {
                        return Err(ScheduleError::PolicyFailed {
                            policy: policy.name().to_string(),
                            service: demand.name.clone(),
                            replica,
                            message,
                        });
                    }
                    Ok(None) => best,
                    Ok(Some(name)) => {
                        let position = candidate_list
                            .iter()
                            .position(|candidate| candidate.host.name == name);
                        match position {
                            Some(position) => candidate_indexes[position],
                            None => {
                                return Err(ScheduleError::PolicyChoseNonCandidate {
                                    policy: policy.name().to_string(),
                                    service: demand.name.clone(),
                                    replica,
                                    host: name,
                                    candidates: candidate_list
                                        .iter()
                                        .map(|candidate| candidate.host.name.clone())
                                        .collect(),
                                });
                            }
                        }
                    }
                }
            } else {
                best
            };

            let old_key = self.rank_key(chosen, service, replicas_per_host[chosen]);
            candidates.remove(&old_key);
            self.assign(service, replica, chosen);
            replicas_per_host[chosen] += 1;
            if self.dynamic_rejection(chosen, service).is_none() {
                candidates.insert(self.rank_key(chosen, service, replicas_per_host[chosen]));
            }
        }
        Ok(())
    }

    /// Places the replicas of a colocated service that were not kept, each on
    /// the host of the target replica it follows.
    fn place_colocated(&mut self, service: usize, replicas: u32) -> Result<(), ScheduleError> {
        for replica in 1..=replicas {
            if self.assigned[service].contains_key(&replica) {
                continue;
            }
            let Some(colocation) = self.colocation_host(service, replica) else {
                return Ok(());
            };
            let ColocationTarget {
                target,
                target_replica,
                host,
            } = colocation?;
            let Some(host) = host else {
                return Err(ScheduleError::ColocationTargetUnplaced {
                    service: self.services[service].demand.name.clone(),
                    replica,
                    target: self.services[target].demand.name.clone(),
                    target_replica,
                });
            };
            if let Some(reason) = self.rejection(host, service) {
                return Err(ScheduleError::ColocationHostRejected {
                    service: self.services[service].demand.name.clone(),
                    replica,
                    target: self.services[target].demand.name.clone(),
                    target_replica,
                    host: self.hosts[host].name.clone(),
                    reason: Box::new(reason),
                });
            }
            self.assign(service, replica, host);
        }
        Ok(())
    }

    /// Every placement, sorted by service name and replica.
    fn into_placements(self) -> Vec<Placement> {
        let mut placements = Vec::new();
        for (service, assigned) in self.assigned.iter().enumerate() {
            let name = &self.services[service].demand.name;
            for (&replica, &host) in assigned {
                placements.push(Placement {
                    service: name.clone(),
                    replica,
                    host: self.hosts[host].name.clone(),
                });
            }
        }
        placements
    }
}

/// How full a host is, in billionths: the larger of the CPU and the memory
/// fraction reserved, over the dimensions its capacity limits; 0 when its
/// capacity is unknown (binpack then falls back to container counts).
fn fullness(capacity: Option<Resources>, reserved: Resources) -> u64 {
    let Some(capacity) = capacity else {
        return 0;
    };
    let fraction = |used: u64, total: u64| -> u64 {
        if total == 0 {
            return 0;
        }
        let billionths = u128::from(used) * 1_000_000_000 / u128::from(total);
        u64::try_from(billionths).unwrap_or(u64::MAX)
    };
    fraction(reserved.nano_cpus, capacity.nano_cpus)
        .max(fraction(reserved.memory_bytes, capacity.memory_bytes))
}

/// Services in placement order: a service after the one it colocates with,
/// otherwise by name (the services are sorted by name, so by index).
fn placement_order(services: &[PreparedService<'_>]) -> Result<Vec<usize>, ScheduleError> {
    let mut dependents: Vec<Vec<usize>> = services.iter().map(|_| Vec::new()).collect();
    let mut ready = BTreeSet::new();
    for (index, service) in services.iter().enumerate() {
        match service.colocate_with {
            Some(target) => dependents[target].push(index),
            None => {
                ready.insert(index);
            }
        }
    }
    let mut order = Vec::with_capacity(services.len());
    while let Some(index) = ready.pop_first() {
        order.push(index);
        ready.extend(dependents[index].iter().copied());
    }
    if order.len() == services.len() {
        return Ok(order);
    }

    // Every service left out is on a cycle or colocates, through others, with
    // one: follow targets from the first left out until a service repeats.
    let mut placed = vec![false; services.len()];
    for &index in &order {
        placed[index] = true;
    }
    let start = placed.iter().position(|&is_placed| !is_placed).unwrap_or(0);
    let mut path = vec![start];
    let mut current = start;
    while let Some(next) = services
        .get(current)
        .and_then(|service| service.colocate_with)
    {
        if let Some(position) = path.iter().position(|&visited| visited == next) {
            let mut cycle: Vec<usize> = path[position..].to_vec();
            // Start the cycle at its first name, so the message is the same
            // whichever service the walk began from.
            let smallest = cycle
                .iter()
                .enumerate()
                .min_by_key(|&(_, &service)| service)
                .map_or(0, |(position, _)| position);
            cycle.rotate_left(smallest);
            let mut names: Vec<String> = cycle
                .iter()
                .map(|&service| services[service].demand.name.clone())
                .collect();
            if let Some(first) = names.first().cloned() {
                names.push(first);
            }
            return Err(ScheduleError::ColocationCycle { cycle: names });
        }
        path.push(next);
        current = next;
    }
    // Unreachable: a service left out always leads to a cycle. Report the
    // walk as the cycle rather than panic.
    Err(ScheduleError::ColocationCycle {
        cycle: path
            .iter()
            .map(|&service| services[service].demand.name.clone())
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;
    const GIB: u64 = 1 << 30;
    const CPU: u64 = 1_000_000_000;

    fn host(name: &str, labels: &[(&str, &str)]) -> HostSpec {
        HostSpec {
            name: name.to_string(),
            labels: labels
                .iter()
                .map(|(key, value)| (key.to_string(), value.to_string()))
                .collect(),
            capacity: None,
        }
    }

    fn host_with_capacity(name: &str, nano_cpus: u64, memory_bytes: u64) -> HostSpec {
        HostSpec {
            capacity: Some(Resources {
                nano_cpus,
                memory_bytes,
            }),
            ..host(name, &[])
        }
    }

    fn hosts(names: &[&str]) -> Vec<HostSpec> {
        names.iter().map(|name| host(name, &[])).collect()
    }

    fn service(name: &str, replicas: u32) -> ServiceDemand {
        ServiceDemand {
            name: name.to_string(),
            replicas,
            ..ServiceDemand::default()
        }
    }

    fn with_constraints(mut demand: ServiceDemand, constraints: &[&str]) -> ServiceDemand {
        demand.constraints = constraints
            .iter()
            .map(|text| Constraint::parse(text).expect("valid constraint"))
            .collect();
        demand
    }

    fn with_port(mut demand: ServiceDemand, port: u16) -> ServiceDemand {
        demand.published_ports.push(PublishedPort::tcp(port));
        demand
    }

    fn with_reservation(
        mut demand: ServiceDemand,
        nano_cpus: u64,
        memory_bytes: u64,
    ) -> ServiceDemand {
        demand.reservation = Resources {
            nano_cpus,
            memory_bytes,
        };
        demand
    }

    fn binpack(mut demand: ServiceDemand) -> ServiceDemand {
        demand.strategy = Some(Strategy::Binpack);
        demand
    }

    fn colocated(mut demand: ServiceDemand, target: &str) -> ServiceDemand {
        demand.colocate_with = Some(target.to_string());
        demand
    }

    fn placement(service: &str, replica: u32, host: &str) -> Placement {
        Placement {
            service: service.to_string(),
            replica,
            host: host.to_string(),
        }
    }

    fn run_with(
        services: &[ServiceDemand],
        hosts: &[HostSpec],
        existing: &[Placement],
    ) -> Result<Vec<Placement>, ScheduleError> {
        let input = ScheduleInput {
            services,
            hosts,
            default_strategy: Strategy::Spread,
            existing,
        };
        schedule(&input, &mut DefaultPolicy)
    }

    fn run(services: &[ServiceDemand], hosts: &[HostSpec]) -> Vec<Placement> {
        run_with(services, hosts, &[]).expect("schedules")
    }

    /// `service -> host` for each replica, as `web-1@h1` strings.
    fn summary(placements: &[Placement]) -> Vec<String> {
        placements
            .iter()
            .map(|placement| {
                format!(
                    "{}-{}@{}",
                    placement.service, placement.replica, placement.host
                )
            })
            .collect()
    }

    /// How many replicas of `service` each host got, by host name.
    fn counts(placements: &[Placement], service: &str) -> BTreeMap<String, usize> {
        let mut counts = BTreeMap::new();
        for placement in placements
            .iter()
            .filter(|placement| placement.service == service)
        {
            *counts.entry(placement.host.clone()).or_insert(0) += 1;
        }
        counts
    }

    fn mixed_project() -> (Vec<ServiceDemand>, Vec<HostSpec>) {
        let services = vec![
            with_port(
                with_constraints(service("web", 4), &["node.labels.zone==a"]),
                80,
            ),
            with_reservation(binpack(service("worker", 5)), CPU, GIB),
            with_constraints(service("cache", 3), &["node.labels.disk!=hdd"]),
            colocated(service("sidecar", 4), "web"),
            service("db", 1),
        ];
        let mut host_list = vec![
            host("h1", &[("zone", "a"), ("disk", "ssd")]),
            host("h2", &[("zone", "a"), ("disk", "hdd")]),
            host("h3", &[("zone", "b")]),
            host("h4", &[("zone", "a")]),
            host("h5", &[("zone", "a"), ("disk", "ssd")]),
        ];
        host_list[0].capacity = Some(Resources {
            nano_cpus: 4 * CPU,
            memory_bytes: 8 * GIB,
        });
        host_list[2].capacity = Some(Resources {
            nano_cpus: 2 * CPU,
            memory_bytes: 2 * GIB,
        });
        (services, host_list)
    }

    #[test]
    fn same_input_gives_same_output() {
        let (services, host_list) = mixed_project();
        let first = run(&services, &host_list);
        let second = run(&services, &host_list);
        assert_eq!(first, second);
        assert_eq!(first.len(), 4 + 5 + 3 + 4 + 1);
    }

    #[test]
    fn output_does_not_depend_on_input_order() {
        let (services, host_list) = mixed_project();
        let expected = run(&services, &host_list);
        let mut reversed_services = services.clone();
        reversed_services.reverse();
        let mut reversed_hosts = host_list.clone();
        reversed_hosts.reverse();
        assert_eq!(run(&reversed_services, &reversed_hosts), expected);
        let mut rotated_hosts = host_list.clone();
        rotated_hosts.rotate_left(2);
        assert_eq!(run(&services, &rotated_hosts), expected);
    }

    #[test]
    fn output_is_sorted_by_service_then_replica() {
        let services = vec![service("b", 12), service("a", 11)];
        let placements = run(&services, &hosts(&["h1", "h2"]));
        let mut sorted = placements.clone();
        sorted.sort_by(|left, right| {
            (&left.service, left.replica).cmp(&(&right.service, right.replica))
        });
        assert_eq!(placements, sorted);
        assert_eq!(placements[0].replica, 1);
        assert_eq!(placements[9].replica, 10);
        assert_eq!(placements[10].replica, 11);
    }

    #[test]
    fn spread_evens_out_each_service() {
        let services = vec![service("api", 3), service("web", 4)];
        let placements = run(&services, &hosts(&["h1", "h2", "h3"]));
        for name in ["api", "web"] {
            let per_host = counts(&placements, name);
            let most = per_host.values().max().copied().unwrap_or(0);
            let least = if per_host.len() < 3 {
                0
            } else {
                per_host.values().min().copied().unwrap_or(0)
            };
            assert!(most - least <= 1, "{name}: {per_host:?}");
        }
        assert_eq!(counts(&placements, "api").len(), 3);
        // api goes first (by name) over h1, h2, h3; web's fourth replica then
        // goes where the project has the fewest containers, h1 being first.
        assert_eq!(
            summary(&placements),
            [
                "api-1@h1", "api-2@h2", "api-3@h3", "web-1@h1", "web-2@h2", "web-3@h3", "web-4@h1"
            ]
        );
    }

    #[test]
    fn spread_breaks_ties_by_project_containers() {
        // "a" fills h1 and h2; "b" then starts on h3, the least loaded host.
        let services = vec![service("a", 2), service("b", 2)];
        let placements = run(&services, &hosts(&["h1", "h2", "h3"]));
        assert_eq!(
            summary(&placements),
            ["a-1@h1", "a-2@h2", "b-1@h3", "b-2@h1"]
        );
    }

    #[test]
    fn label_equal_constraint_keeps_to_matching_hosts() {
        let services = vec![with_constraints(
            service("web", 4),
            &["node.labels.zone==a"],
        )];
        let host_list = vec![
            host("h1", &[("zone", "a")]),
            host("h2", &[("zone", "b")]),
            host("h3", &[]),
            host("h4", &[("zone", "A")]),
        ];
        let per_host = counts(&run(&services, &host_list), "web");
        assert_eq!(
            per_host,
            BTreeMap::from([("h1".to_string(), 2), ("h4".to_string(), 2)])
        );
    }

    #[test]
    fn label_not_equal_constraint_passes_hosts_without_the_label() {
        let services = vec![with_constraints(
            service("web", 4),
            &["node.labels.disk != hdd"],
        )];
        let host_list = vec![
            host("h1", &[("disk", "hdd")]),
            host("h2", &[("disk", "ssd")]),
            host("h3", &[]),
        ];
        let per_host = counts(&run(&services, &host_list), "web");
        assert_eq!(
            per_host,
            BTreeMap::from([("h2".to_string(), 2), ("h3".to_string(), 2)])
        );
    }

    #[test]
    fn hostname_constraints() {
        let services = vec![
            with_constraints(service("pinned", 2), &["node.hostname==h2"]),
            with_constraints(service("avoid", 2), &["node.hostname!=h1"]),
        ];
        let placements = run(&services, &hosts(&["h1", "h2", "h3"]));
        assert_eq!(
            summary(&placements),
            ["avoid-1@h2", "avoid-2@h3", "pinned-1@h2", "pinned-2@h2"]
        );
    }

    #[test]
    fn missing_label_fails_equal_and_reports_it() {
        let services = vec![with_constraints(
            service("web", 1),
            &["node.labels.zone==a"],
        )];
        let error = run_with(&services, &[host("h1", &[])], &[]).expect_err("no zone label");
        assert_eq!(
            error.to_string(),
            r#"no host fits service "web" replica 1: h1: constraint node.labels.zone==a not satisfied (zone not set)"#
        );
    }

    #[test]
    fn replicas_publishing_the_same_port_go_to_different_hosts() {
        let services = vec![with_port(service("web", 2), 80)];
        let placements = run(&services, &hosts(&["h1", "h2"]));
        assert_eq!(summary(&placements), ["web-1@h1", "web-2@h2"]);
    }

    #[test]
    fn more_replicas_than_hosts_for_a_fixed_port_fails_with_reasons() {
        let services = vec![with_port(service("web", 4), 80)];
        let error = run_with(&services, &hosts(&["h1", "h2", "h3"]), &[]).expect_err("no room");
        assert_eq!(
            error.to_string(),
            r#"no host fits service "web" replica 4: h1: published port 80/tcp already used by web-1; h2: published port 80/tcp already used by web-2; h3: published port 80/tcp already used by web-3"#
        );
        let ScheduleError::NoHostFits {
            replica,
            rejections,
            ..
        } = error
        else {
            panic!("expected NoHostFits");
        };
        assert_eq!(replica, 4);
        assert_eq!(rejections.len(), 3);
    }

    #[test]
    fn ports_collide_across_services_but_not_across_protocols_or_addresses() {
        let pinned =
            |name: &str, host_name: &str, host_ip: Option<&str>, port: u16, protocol: &str| {
                let mut demand =
                    with_constraints(service(name, 1), &[&format!("node.hostname=={host_name}")]);
                demand.published_ports.push(PublishedPort {
                    host_ip: host_ip.map(str::to_string),
                    port,
                    protocol: protocol.to_string(),
                });
                demand
            };
        let services = vec![
            pinned("dns", "h1", None, 53, "udp"),
            pinned("web", "h1", Some("0.0.0.0"), 53, "tcp"),
            pinned("local-a", "h2", Some("127.0.0.1"), 8080, "TCP"),
            pinned("local-b", "h2", Some("127.0.0.2"), 8080, ""),
            with_port(service("z-everywhere", 1), 8080),
        ];
        let placements = run(&services, &hosts(&["h1", "h2"]));
        // udp and tcp share port 53 on h1, two addresses share 8080 on h2,
        // and the every-address 8080 collides with both on h2, so goes to h1.
        assert_eq!(
            summary(&placements),
            [
                "dns-1@h1",
                "local-a-1@h2",
                "local-b-1@h2",
                "web-1@h1",
                "z-everywhere-1@h1"
            ]
        );
        let mut services = services;
        services.push(pinned("z-local", "h2", Some("127.0.0.2"), 8080, "tcp"));
        let error = run_with(&services, &hosts(&["h1", "h2"]), &[]).expect_err("taken");
        assert_eq!(
            error.to_string(),
            r#"no host fits service "z-local" replica 1: h1: constraint node.hostname==h2 not satisfied (hostname h1); h2: published port 127.0.0.2:8080/tcp already used by local-b-1"#
        );
    }

    #[test]
    fn a_service_publishing_a_port_twice_is_refused() {
        let services = vec![with_port(with_port(service("web", 1), 80), 80)];
        let error = run_with(&services, &hosts(&["h1"]), &[]).expect_err("duplicate port");
        assert_eq!(
            error.to_string(),
            r#"service "web" publishes port 80/tcp more than once"#
        );
    }

    #[test]
    fn binpack_fills_the_fullest_host_first() {
        let services = vec![with_reservation(binpack(service("worker", 5)), CPU, GIB)];
        let host_list = vec![
            host_with_capacity("h1", 2 * CPU, 8 * GIB),
            host_with_capacity("h2", 4 * CPU, 8 * GIB),
        ];
        let placements = run(&services, &host_list);
        // Replica 1: tie (both empty), h1 by name. Replica 2: h1 is fuller
        // (1/2 cpu) and fits. Replica 3: h1 is full, h2. Then h2 fills.
        assert_eq!(
            summary(&placements),
            [
                "worker-1@h1",
                "worker-2@h1",
                "worker-3@h2",
                "worker-4@h2",
                "worker-5@h2"
            ]
        );
    }

    #[test]
    fn binpack_prefers_the_host_other_services_filled() {
        let services = vec![
            with_reservation(service("a-db", 1), 0, 6 * GIB),
            with_reservation(binpack(service("b-worker", 2)), 0, GIB),
        ];
        let host_list = vec![
            host_with_capacity("h1", 0, 8 * GIB),
            host_with_capacity("h2", 0, 8 * GIB),
        ];
        let existing = [placement("a-db", 1, "h2")];
        let placements = run_with(&services, &host_list, &existing).expect("schedules");
        assert_eq!(
            summary(&placements),
            ["a-db-1@h2", "b-worker-1@h2", "b-worker-2@h2"]
        );
    }

    #[test]
    fn binpack_without_capacity_stacks_by_container_count() {
        let services = vec![service("a", 1), binpack(service("b", 3))];
        let placements = run(&services, &hosts(&["h1", "h2"]));
        assert_eq!(
            summary(&placements),
            ["a-1@h1", "b-1@h1", "b-2@h1", "b-3@h1"]
        );
    }

    #[test]
    fn binpack_refuses_when_nothing_has_room() {
        let services = vec![with_reservation(
            binpack(service("worker", 3)),
            CPU,
            3 * GIB,
        )];
        let host_list = vec![
            host_with_capacity("h1", 8 * CPU, 4 * GIB),
            host_with_capacity("h2", 3 * CPU / 2, 8 * GIB),
        ];
        let error = run_with(&services, &host_list, &[]).expect_err("no room");
        assert_eq!(
            error.to_string(),
            r#"no host fits service "worker" replica 3: h1: not enough memory (needs 3GiB, 1GiB free); h2: not enough cpu (needs 1 cpu, 0.5 cpus free)"#
        );
    }

    #[test]
    fn capacity_is_checked_with_spread_too() {
        let services = vec![with_reservation(service("web", 4), 0, 512 * MIB)];
        let host_list = vec![
            host_with_capacity("h1", 0, GIB),
            host_with_capacity("h2", 0, 512 * MIB),
        ];
        let error = run_with(&services, &host_list, &[]).expect_err("no room");
        assert_eq!(
            error.to_string(),
            r#"no host fits service "web" replica 4: h1: not enough memory (needs 512MiB, 0B free); h2: not enough memory (needs 512MiB, 0B free)"#
        );
        let services = vec![with_reservation(service("web", 3), 0, 512 * MIB)];
        assert_eq!(
            counts(&run(&services, &host_list), "web").get("h1"),
            Some(&2)
        );
    }

    #[test]
    fn error_lists_each_hosts_reason() {
        let services = vec![
            with_reservation(service("db", 1), 0, 512 * MIB),
            with_reservation(
                with_port(
                    with_constraints(service("web", 2), &["node.labels.zone==a"]),
                    80,
                ),
                0,
                512 * MIB,
            ),
        ];
        let mut host_list = vec![
            host("h1", &[("zone", "a")]),
            host("h2", &[("zone", "b")]),
            host("h3", &[("zone", "a")]),
        ];
        host_list[2].capacity = Some(Resources {
            nano_cpus: 0,
            memory_bytes: 768 * MIB,
        });
        let existing = [placement("db", 1, "h3")];
        let error = run_with(&services, &host_list, &existing).expect_err("no room");
        assert_eq!(
            error.to_string(),
            r#"no host fits service "web" replica 2: h1: published port 80/tcp already used by web-1; h2: constraint node.labels.zone==a not satisfied (zone=b); h3: not enough memory (needs 512MiB, 256MiB free)"#
        );
    }

    #[test]
    fn long_rejection_lists_are_cut() {
        let host_list: Vec<HostSpec> = (0..25)
            .map(|index| host(&format!("h{index:02}"), &[]))
            .collect();
        let services = vec![with_constraints(
            service("web", 1),
            &["node.hostname==elsewhere"],
        )];
        let message = run_with(&services, &host_list, &[])
            .expect_err("nowhere")
            .to_string();
        assert!(message.contains("h19: constraint"), "{message}");
        assert!(!message.contains("h20:"), "{message}");
        assert!(message.ends_with("; and 5 more hosts"), "{message}");
    }

    #[test]
    fn colocated_services_follow_their_target() {
        let services = vec![
            colocated(service("a-sidecar", 5), "web"),
            service("web", 3),
            colocated(service("b-logs", 1), "a-sidecar"),
        ];
        let placements = run(&services, &hosts(&["h1", "h2", "h3"]));
        let host_of = |name: &str, replica: u32| {
            placements
                .iter()
                .find(|placement| placement.service == name && placement.replica == replica)
                .map(|placement| placement.host.clone())
                .expect("placed")
        };
        for replica in 1..=5 {
            assert_eq!(
                host_of("a-sidecar", replica),
                host_of("web", (replica - 1) % 3 + 1)
            );
        }
        assert_eq!(host_of("b-logs", 1), host_of("a-sidecar", 1));
    }

    #[test]
    fn colocated_replica_fails_when_the_target_host_rejects_it() {
        let services = vec![
            with_port(service("web", 1), 80),
            with_port(colocated(service("proxy", 1), "web"), 80),
        ];
        let error = run_with(&services, &hosts(&["h1", "h2"]), &[]).expect_err("port taken");
        assert_eq!(
            error.to_string(),
            r#"no host fits service "proxy" replica 1: it must run beside "web" replica 1 on h1, which rejects it: published port 80/tcp already used by web-1"#
        );
    }

    #[test]
    fn colocation_cycle_and_unknown_target_are_errors() {
        let services = vec![
            colocated(service("c", 1), "a"),
            colocated(service("a", 1), "b"),
            colocated(service("b", 1), "c"),
            service("d", 1),
        ];
        let error = run_with(&services, &hosts(&["h1"]), &[]).expect_err("cycle");
        assert_eq!(
            error.to_string(),
            "services colocate with each other in a cycle: a -> b -> c -> a"
        );

        let services = vec![colocated(service("a", 1), "a")];
        let error = run_with(&services, &hosts(&["h1"]), &[]).expect_err("self cycle");
        assert_eq!(
            error.to_string(),
            "services colocate with each other in a cycle: a -> a"
        );

        let services = vec![colocated(service("a", 1), "ghost")];
        let error = run_with(&services, &hosts(&["h1"]), &[]).expect_err("unknown");
        assert_eq!(
            error.to_string(),
            r#"service "a" must share a host with "ghost", which is not a service of the project"#
        );

        let services = vec![service("web", 0), colocated(service("proxy", 1), "web")];
        let error = run_with(&services, &hosts(&["h1"]), &[]).expect_err("target scaled to zero");
        assert_eq!(
            error.to_string(),
            r#"service "proxy" must share a host with "web", which has no replicas"#
        );
    }

    #[test]
    fn rescheduling_the_output_moves_nothing() {
        let (services, host_list) = mixed_project();
        let first = run(&services, &host_list);
        let second = run_with(&services, &host_list, &first).expect("schedules");
        assert_eq!(first, second);
        let mut shuffled = first.clone();
        shuffled.reverse();
        assert_eq!(
            run_with(&services, &host_list, &shuffled).expect("schedules"),
            first
        );
    }

    #[test]
    fn existing_placements_are_kept_even_where_nap_would_not_choose() {
        let services = vec![service("web", 3)];
        let existing = [
            placement("web", 1, "h3"),
            placement("web", 2, "h3"),
            placement("web", 3, "h3"),
        ];
        let placements =
            run_with(&services, &hosts(&["h1", "h2", "h3"]), &existing).expect("schedules");
        assert_eq!(summary(&placements), ["web-1@h3", "web-2@h3", "web-3@h3"]);
    }

    #[test]
    fn existing_placement_is_dropped_when_its_constraint_no_longer_holds() {
        let services = vec![with_constraints(
            service("web", 2),
            &["node.labels.zone==a"],
        )];
        let host_list = vec![
            host("h1", &[("zone", "a")]),
            host("h2", &[("zone", "b")]),
            host("h3", &[("zone", "a")]),
        ];
        let existing = [placement("web", 1, "h3"), placement("web", 2, "h2")];
        let placements = run_with(&services, &host_list, &existing).expect("schedules");
        assert_eq!(summary(&placements), ["web-1@h3", "web-2@h1"]);
    }

    #[test]
    fn existing_placement_is_dropped_when_its_host_vanished() {
        let services = vec![service("web", 2)];
        let existing = [placement("web", 1, "gone"), placement("web", 2, "h2")];
        let placements = run_with(&services, &hosts(&["h1", "h2"]), &existing).expect("schedules");
        assert_eq!(summary(&placements), ["web-1@h1", "web-2@h2"]);
    }

    #[test]
    fn existing_placements_that_collide_keep_only_the_first() {
        let services = vec![with_port(service("web", 2), 80)];
        let existing = [placement("web", 2, "h1"), placement("web", 1, "h1")];
        let placements = run_with(&services, &hosts(&["h1", "h2"]), &existing).expect("schedules");
        assert_eq!(summary(&placements), ["web-1@h1", "web-2@h2"]);
    }

    #[test]
    fn existing_placements_of_removed_services_and_bad_replicas_are_dropped() {
        let services = vec![service("web", 1)];
        let existing = [
            placement("old", 1, "h1"),
            placement("web", 0, "h2"),
            placement("web", 1, "h2"),
            placement("web", 1, "h1"),
        ];
        let placements = run_with(&services, &hosts(&["h1", "h2"]), &existing).expect("schedules");
        // Observed twice: the first host by name keeps it.
        assert_eq!(summary(&placements), ["web-1@h1"]);
    }

    #[test]
    fn existing_colocated_placement_moves_with_its_target() {
        let services = vec![
            with_constraints(service("web", 1), &["node.hostname==h2"]),
            colocated(service("proxy", 1), "web"),
        ];
        let existing = [placement("web", 1, "h1"), placement("proxy", 1, "h1")];
        let placements = run_with(&services, &hosts(&["h1", "h2"]), &existing).expect("schedules");
        assert_eq!(summary(&placements), ["proxy-1@h2", "web-1@h2"]);
    }

    #[test]
    fn scaling_down_and_up_keeps_the_lower_replicas() {
        let host_list = hosts(&["h1", "h2", "h3", "h4"]);
        let five = run(&[service("web", 5)], &host_list);
        let two = run_with(&[service("web", 2)], &host_list, &five).expect("schedules");
        assert_eq!(two, five[..2].to_vec());
        let seven = run_with(&[service("web", 7)], &host_list, &two).expect("schedules");
        assert_eq!(seven[..2], two[..]);
        assert_eq!(seven.len(), 7);
        let per_host = counts(&seven, "web");
        assert!(
            per_host.values().all(|&count| count == 1 || count == 2),
            "{per_host:?}"
        );
        let again = run_with(&[service("web", 7)], &host_list, &seven).expect("schedules");
        assert_eq!(again, seven);
    }

    #[test]
    fn kept_placements_are_accounted_before_new_ones() {
        // "b" runs on h1 with port 80; a new "a" (placed first by name) must
        // not take h1's port 80 and evict it.
        let services = vec![
            with_port(service("a", 1), 80),
            with_port(service("b", 1), 80),
        ];
        let existing = [placement("b", 1, "h1")];
        let placements = run_with(&services, &hosts(&["h1", "h2"]), &existing).expect("schedules");
        assert_eq!(summary(&placements), ["a-1@h2", "b-1@h1"]);
    }

    /// Chooses the last candidate and records what it was offered.
    struct LastCandidate {
        offered: Vec<Vec<String>>,
        /// `host:service_replicas/containers` of each candidate, per call.
        counts: Vec<Vec<String>>,
    }

    impl PlacementPolicy for LastCandidate {
        fn name(&self) -> &str {
            "last"
        }

        fn choose(
            &mut self,
            _service: &ServiceDemand,
            _replica: u32,
            candidates: &[Candidate<'_>],
        ) -> Result<Option<String>, String> {
            self.offered.push(
                candidates
                    .iter()
                    .map(|candidate| candidate.host.name.clone())
                    .collect(),
            );
            self.counts.push(
                candidates
                    .iter()
                    .map(|candidate| {
                        format!(
                            "{}:{}/{}",
                            candidate.host.name, candidate.service_replicas, candidate.containers
                        )
                    })
                    .collect(),
            );
            Ok(candidates
                .last()
                .map(|candidate| candidate.host.name.clone()))
        }
    }

    /// Returns a fixed answer.
    struct FixedAnswer(Result<Option<String>, String>);

    impl PlacementPolicy for FixedAnswer {
        fn name(&self) -> &str {
            "fixed"
        }

        fn choose(
            &mut self,
            _service: &ServiceDemand,
            _replica: u32,
            _candidates: &[Candidate<'_>],
        ) -> Result<Option<String>, String> {
            self.0.clone()
        }
    }

    fn run_with_policy(
        services: &[ServiceDemand],
        hosts: &[HostSpec],
        policy: &mut dyn PlacementPolicy,
    ) -> Result<Vec<Placement>, ScheduleError> {
        let input = ScheduleInput {
            services,
            hosts,
            default_strategy: Strategy::Spread,
            existing: &[],
        };
        schedule(&input, policy)
    }

    #[test]
    fn policy_can_choose_among_the_candidates() {
        let services = vec![
            with_port(
                with_constraints(service("web", 2), &["node.labels.zone!=b"]),
                80,
            ),
            colocated(service("proxy", 1), "web"),
        ];
        let host_list = vec![
            host("h1", &[]),
            host("h2", &[("zone", "b")]),
            host("h3", &[]),
            host("h4", &[]),
        ];
        let mut policy = LastCandidate {
            offered: Vec::new(),
            counts: Vec::new(),
        };
        let placements = run_with_policy(&services, &host_list, &mut policy).expect("schedules");
        assert_eq!(summary(&placements), ["proxy-1@h4", "web-1@h4", "web-2@h3"]);
        // Best first, h2 filtered out by its zone, h4 by port 80 once taken;
        // not asked for the colocated proxy.
        assert_eq!(policy.offered, [vec!["h1", "h3", "h4"], vec!["h1", "h3"]]);
    }

    #[test]
    fn policy_sees_replica_and_container_counts_including_kept_ones() {
        // web-1 is kept on h2 and db-1 on h1; the policy puts web-2 and web-3 on
        // the last candidate, h2.
        let services = vec![service("db", 1), service("web", 3)];
        let existing = [placement("web", 1, "h2"), placement("db", 1, "h1")];
        let mut policy = LastCandidate {
            offered: Vec::new(),
            counts: Vec::new(),
        };
        let input = ScheduleInput {
            services: &services,
            hosts: &hosts(&["h1", "h2"]),
            default_strategy: Strategy::Spread,
            existing: &existing,
        };
        let placements = schedule(&input, &mut policy).expect("schedules");
        assert_eq!(
            summary(&placements),
            ["db-1@h1", "web-1@h2", "web-2@h2", "web-3@h2"]
        );
        assert_eq!(
            policy.counts,
            [vec!["h1:0/1", "h2:1/1"], vec!["h1:0/1", "h2:2/2"]]
        );
    }

    #[test]
    fn policy_keeping_nap_choice_changes_nothing() {
        let (services, host_list) = mixed_project();
        let mut policy = FixedAnswer(Ok(None));
        assert_eq!(
            run_with_policy(&services, &host_list, &mut policy).expect("schedules"),
            run(&services, &host_list)
        );
    }

    #[test]
    fn policy_choosing_outside_the_candidates_is_an_error() {
        let services = vec![with_constraints(service("web", 1), &["node.hostname!=h2"])];
        let mut policy = FixedAnswer(Ok(Some("h2".to_string())));
        let error = run_with_policy(&services, &hosts(&["h1", "h2", "h3"]), &mut policy)
            .expect_err("h2 is filtered out");
        assert_eq!(
            error.to_string(),
            r#"placement policy "fixed" chose host "h2" for service "web" replica 1, which is not among the candidates (h1, h3)"#
        );
    }

    #[test]
    fn policy_error_names_the_policy() {
        let services = vec![service("web", 1)];
        let mut policy = FixedAnswer(Err("plugin crashed".to_string()));
        let error = run_with_policy(&services, &hosts(&["h1"]), &mut policy).expect_err("fails");
        assert_eq!(
            error.to_string(),
            r#"placement policy "fixed" failed for service "web" replica 1: plugin crashed"#
        );
    }

    #[test]
    fn no_hosts_duplicate_hosts_and_duplicate_services_are_errors() {
        assert_eq!(
            run_with(&[service("web", 1)], &[], &[]),
            Err(ScheduleError::NoHosts)
        );
        assert_eq!(run_with(&[service("web", 0)], &[], &[]), Ok(Vec::new()));
        assert_eq!(run_with(&[], &[], &[]), Ok(Vec::new()));
        assert_eq!(
            run_with(&[service("web", 1)], &hosts(&["h1", "h1"]), &[]),
            Err(ScheduleError::DuplicateHost {
                host: "h1".to_string()
            })
        );
        assert_eq!(
            run_with(
                &[service("web", 1), service("web", 2)],
                &hosts(&["h1"]),
                &[]
            ),
            Err(ScheduleError::DuplicateService {
                service: "web".to_string()
            })
        );
    }

    #[test]
    fn constraint_parse_accepts() {
        let table = [
            ("node.labels.zone==a", "node.labels.zone==a"),
            ("node.labels.zone != a", "node.labels.zone!=a"),
            ("  node.labels.zone   ==   a  ", "node.labels.zone==a"),
            (
                "node.labels.com.example.tier==front-end_1",
                "node.labels.com.example.tier==front-end_1",
            ),
            ("node.hostname==h1", "node.hostname==h1"),
            ("node.hostname!=h1", "node.hostname!=h1"),
            ("Node.Hostname == H1", "node.hostname==H1"),
            ("node.labels.Zone==a b", "node.labels.Zone==a b"),
        ];
        for (text, canonical) in table {
            let constraint =
                Constraint::parse(text).unwrap_or_else(|error| panic!("{text}: {error}"));
            assert_eq!(constraint.to_string(), canonical, "{text}");
            assert_eq!(
                Constraint::parse(canonical),
                Ok(constraint.clone()),
                "{canonical}"
            );
            assert_eq!(canonical.parse::<Constraint>(), Ok(constraint));
        }
        assert_eq!(
            Constraint::parse("node.labels.zone!=a"),
            Ok(Constraint::LabelNe {
                key: "zone".to_string(),
                value: "a".to_string()
            })
        );
        assert_eq!(
            Constraint::parse("node.hostname==h1"),
            Ok(Constraint::HostnameEq("h1".to_string()))
        );
    }

    #[test]
    fn constraint_parse_rejects() {
        let table = [
            (
                "node.role==manager",
                r#"unsupported constraint "node.role==manager": nap supports node.labels.<key> and node.hostname"#,
            ),
            (
                "node.id!=abc",
                r#"unsupported constraint "node.id!=abc": nap supports node.labels.<key> and node.hostname"#,
            ),
            (
                "engine.labels.os==linux",
                r#"unsupported constraint "engine.labels.os==linux": nap supports node.labels.<key> and node.hostname"#,
            ),
            (
                "node.platform.os==linux",
                r#"unsupported constraint "node.platform.os==linux": nap supports node.labels.<key> and node.hostname"#,
            ),
            (
                "node.labels.zone",
                r#"invalid constraint "node.labels.zone": expected <attribute>==<value> or <attribute>!=<value>"#,
            ),
            (
                "node.labels.zone=a",
                r#"invalid constraint "node.labels.zone=a": expected <attribute>==<value> or <attribute>!=<value>"#,
            ),
            (
                "",
                r#"invalid constraint "": expected <attribute>==<value> or <attribute>!=<value>"#,
            ),
            (
                "==a",
                r#"invalid constraint "==a": nothing before the operator"#,
            ),
            (
                "node.labels.==a",
                r#"invalid constraint "node.labels.==a": the label key after node.labels. is empty"#,
            ),
            (
                "node.labels==a",
                r#"invalid constraint "node.labels==a": the label key after node.labels. is empty"#,
            ),
            (
                "node.labels.zo ne==a",
                r#"invalid constraint "node.labels.zo ne==a": label key "zo ne" may only contain letters, digits, '.', '-' and '_'"#,
            ),
            (
                "node.labels.zone==",
                r#"invalid constraint "node.labels.zone==": the value after the operator is empty"#,
            ),
            (
                "node.labels.zone===a",
                r#"invalid constraint "node.labels.zone===a": value "=a" may not contain '=', '!' or control characters"#,
            ),
            (
                "node.labels.zone!==a",
                r#"invalid constraint "node.labels.zone!==a": value "=a" may not contain '=', '!' or control characters"#,
            ),
            (
                "node.hostname==a==b",
                r#"invalid constraint "node.hostname==a==b": value "a==b" may not contain '=', '!' or control characters"#,
            ),
        ];
        for (text, message) in table {
            let error = Constraint::parse(text).expect_err(text);
            assert_eq!(error.to_string(), message, "{text}");
        }
    }

    #[test]
    fn constraint_values_compare_case_insensitively() {
        let host_spec = host("Edge-1", &[("zone", "EU-West")]);
        let holds = |text: &str| {
            Constraint::parse(text)
                .expect("valid")
                .is_satisfied_by(&host_spec)
        };
        assert!(holds("node.labels.zone==eu-west"));
        assert!(!holds("node.labels.zone!=eu-west"));
        assert!(holds("node.hostname==edge-1"));
        assert!(!holds("node.labels.Zone==eu-west"));
        assert!(holds("node.labels.Zone!=eu-west"));
    }

    #[test]
    fn serde_shapes() {
        let demand: ServiceDemand = serde_json::from_str(
            r#"{"name":"web","replicas":2,"constraints":["node.labels.zone == a"],
                "published_ports":[{"port":80}],"strategy":"binpack"}"#,
        )
        .expect("parses");
        assert_eq!(demand.constraints[0].to_string(), "node.labels.zone==a");
        assert_eq!(demand.published_ports[0], PublishedPort::tcp(80));
        assert_eq!(demand.strategy, Some(Strategy::Binpack));
        let json = serde_json::to_string(&demand.constraints).expect("serializes");
        assert_eq!(json, r#"["node.labels.zone==a"]"#);
        assert_eq!(
            serde_json::to_string(&Strategy::default()).expect("serializes"),
            r#""spread""#
        );
        let bad: Result<Constraint, _> = serde_json::from_str(r#""node.role==manager""#);
        assert!(bad.is_err());
    }

    #[test]
    fn published_port_display() {
        let port = |host_ip: Option<&str>, port: u16, protocol: &str| PublishedPort {
            host_ip: host_ip.map(str::to_string),
            port,
            protocol: protocol.to_string(),
        };
        assert_eq!(port(None, 80, "tcp").to_string(), "80/tcp");
        assert_eq!(port(Some("0.0.0.0"), 80, "").to_string(), "80/tcp");
        assert_eq!(
            port(Some("127.0.0.1"), 53, "UDP").to_string(),
            "127.0.0.1:53/udp"
        );
        assert_eq!(port(Some("::1"), 443, "tcp").to_string(), "[::1]:443/tcp");
    }

    #[test]
    fn amounts_are_formatted_for_people() {
        assert_eq!(format_bytes(0), "0B");
        assert_eq!(format_bytes(512 * MIB), "512MiB");
        assert_eq!(format_bytes(3 * GIB / 2), "1.5GiB");
        assert_eq!(format_bytes(1536), "1.5KiB");
        assert_eq!(format_bytes(u64::MAX), "16777215.99TiB");
        assert_eq!(format_cpus(CPU), "1 cpu");
        assert_eq!(format_cpus(2 * CPU), "2 cpus");
        assert_eq!(format_cpus(CPU / 4), "0.25 cpus");
        assert_eq!(format_cpus(0), "0 cpus");
    }

    #[test]
    fn huge_numbers_do_not_panic() {
        let services = vec![with_reservation(
            binpack(service("web", 3)),
            u64::MAX,
            u64::MAX,
        )];
        let host_list = vec![
            host("unknown", &[]),
            host_with_capacity("full", u64::MAX, u64::MAX),
        ];
        let placements = run(&services, &host_list);
        assert_eq!(placements.len(), 3);
    }

    /// A small deterministic pseudo-random project: 40 hosts, 60 services.
    fn generated_project(seed: u64) -> (Vec<ServiceDemand>, Vec<HostSpec>) {
        let mut state = seed;
        let mut next = move |bound: u64| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (state >> 33) % bound
        };
        let host_list: Vec<HostSpec> = (0..40)
            .map(|index| {
                let mut spec = host(
                    &format!("h{index:02}"),
                    &[
                        ("zone", ["a", "b", "c"][next(3) as usize]),
                        ("disk", ["ssd", "hdd"][next(2) as usize]),
                    ],
                );
                if next(2) == 0 {
                    spec.capacity = Some(Resources {
                        nano_cpus: (1 + next(8)) * CPU,
                        memory_bytes: (1 + next(16)) * GIB,
                    });
                }
                spec
            })
            .collect();
        let mut services = Vec::new();
        for index in 0..60 {
            let mut demand = service(&format!("s{index:02}"), 1 + next(11) as u32);
            match next(4) {
                0 => demand = with_constraints(demand, &["node.labels.zone==b"]),
                1 => demand = with_constraints(demand, &["node.labels.disk!=hdd"]),
                _ => {}
            }
            if next(5) == 0 {
                demand = with_port(demand, 8000 + next(40) as u16);
            }
            if next(3) == 0 {
                demand = with_reservation(demand, next(4) * CPU / 4, next(4) * 256 * MIB);
            }
            if next(4) == 0 {
                demand.strategy = Some(Strategy::Binpack);
            }
            if index > 0 && next(8) == 0 {
                demand.colocate_with = Some(format!("s{:02}", next(index)));
                demand.published_ports.clear();
                demand.reservation = Resources::default();
                demand.constraints.clear();
            }
            services.push(demand);
        }
        (services, host_list)
    }

    #[test]
    fn generated_projects_respect_every_filter() {
        let mut scheduled = 0;
        for seed in 0..30 {
            let (services, host_list) = generated_project(seed);
            let Ok(placements) = run_with(&services, &host_list, &[]) else {
                continue;
            };
            scheduled += 1;
            let host_of: BTreeMap<(&str, u32), &str> = placements
                .iter()
                .map(|placement| {
                    (
                        (placement.service.as_str(), placement.replica),
                        placement.host.as_str(),
                    )
                })
                .collect();
            let mut ports_per_host: BTreeMap<(&str, u16), u32> = BTreeMap::new();
            let mut reserved_per_host: BTreeMap<&str, Resources> = BTreeMap::new();
            for demand in &services {
                for replica in 1..=demand.replicas {
                    let host_name = host_of[&(demand.name.as_str(), replica)];
                    let spec = host_list
                        .iter()
                        .find(|spec| spec.name == host_name)
                        .expect("known host");
                    assert!(
                        demand
                            .constraints
                            .iter()
                            .all(|constraint| constraint.is_satisfied_by(spec))
                    );
                    for port in &demand.published_ports {
                        *ports_per_host.entry((host_name, port.port)).or_insert(0) += 1;
                    }
                    let reserved = reserved_per_host.entry(host_name).or_default();
                    *reserved = reserved.saturating_add(demand.reservation);
                    if let Some(target) = &demand.colocate_with {
                        let target_replicas = services
                            .iter()
                            .find(|other| &other.name == target)
                            .map_or(0, |other| other.replicas);
                        let target_host =
                            host_of[&(target.as_str(), (replica - 1) % target_replicas + 1)];
                        assert_eq!(host_name, target_host);
                    }
                }
            }
            assert!(
                ports_per_host.values().all(|&count| count == 1),
                "seed {seed}"
            );
            for spec in &host_list {
                if let (Some(capacity), Some(reserved)) =
                    (spec.capacity, reserved_per_host.get(spec.name.as_str()))
                {
                    assert!(
                        reserved.nano_cpus <= capacity.nano_cpus,
                        "seed {seed} {}",
                        spec.name
                    );
                    assert!(
                        reserved.memory_bytes <= capacity.memory_bytes,
                        "seed {seed} {}",
                        spec.name
                    );
                }
            }
            assert_eq!(
                run_with(&services, &host_list, &placements),
                Ok(placements.clone())
            );
            let mut reversed_services = services.clone();
            reversed_services.reverse();
            let mut reversed_hosts = host_list.clone();
            reversed_hosts.reverse();
            assert_eq!(run(&reversed_services, &reversed_hosts), placements);
        }
        assert!(
            scheduled >= 25,
            "only {scheduled} generated projects scheduled"
        );
    }
}
