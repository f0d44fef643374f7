//! The placement policy hook: how a plugin (or the default) picks a host among the
//! candidates that passed the filters.
use super::{HostSpec, ServiceDemand};

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

/// Why a placement policy gave no answer: its own message, which the scheduler's error
/// quotes after naming the policy, the service and the replica.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct PolicyError {
    /// What went wrong, in the policy's words.
    pub message: String,
}

impl PolicyError {
    /// An error with this message.
    pub fn new(message: impl Into<String>) -> PolicyError {
        PolicyError {
            message: message.into(),
        }
    }
}

/// A hook for plugins: overrides nap's choice of host for a replica.
pub trait PlacementPolicy {
    /// The policy's name, used in error messages.
    fn name(&self) -> &str;

    /// Given the candidates that passed nap's own filters, ordered best-first
    /// by nap's strategy (never empty), returns the chosen host's name, which
    /// must be one of the candidates, or `None` to keep nap's choice (the first
    /// candidate). An `Err` aborts scheduling with its message.
    ///
    /// Called once for each replica that is not kept where it runs, in the
    /// order the scheduler places them; not called for replicas of colocated
    /// services, whose host is fixed by their target.
    fn choose(
        &mut self,
        service: &ServiceDemand,
        replica: u32,
        candidates: &[Candidate<'_>],
    ) -> Result<Option<String>, PolicyError>;

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
    ) -> Result<Option<String>, PolicyError> {
        Ok(None)
    }

    fn inspects_candidates(&self) -> bool {
        false
    }
}
