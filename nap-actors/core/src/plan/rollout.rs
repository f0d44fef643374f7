//! A service's rollout policy, read from `deploy.update_config`.

use serde::Serialize;

use crate::compose::Service;
use crate::plan::PlanError;
use crate::units;

/// What a rollout does when a new replica fails (`deploy.update_config.failure_action`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureAction {
    /// Put the replica's previous container back and stop the rollout.
    Rollback,
    /// Stop the rollout, leaving the failed replica as it is.
    Pause,
    /// Go on with the next replicas.
    Continue,
}

/// How a service's changed replicas are replaced, from `deploy.update_config` (a service
/// without one is recreated all at once, as by `docker compose up`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct RolloutPolicy {
    /// Replicas replaced at once (0: all). Default 1.
    pub parallelism: u64,
    /// Pause between batches, in milliseconds. Default 0.
    pub delay_ms: u64,
    /// `order: start-first`: the new container runs (at a new address) and is healthy before
    /// the old one stops; peers switch to it, then the old one goes. Default stop-first.
    pub start_first: bool,
    /// How long a new replica must keep running (and not turn unhealthy) to count as
    /// updated, in milliseconds. Default 5 s, as Swarm's.
    pub monitor_ms: u64,
    /// What happens when it does not. Default pause, as Swarm's.
    pub failure_action: FailureAction,
}

/// Default `monitor`, as Docker Swarm's.
const DEFAULT_MONITOR_MS: u64 = 5_000;

/// A service's rollout policy, when it has an `update_config`.
pub fn rollout_policy(name: &str, service: &Service) -> Result<Option<RolloutPolicy>, PlanError> {
    let Some(config) = service
        .deploy
        .as_ref()
        .and_then(|deploy| deploy.update_config.as_ref())
    else {
        return Ok(None);
    };
    let millis = |field: &str, text: &Option<String>, default: u64| match text {
        None => Ok(default),
        Some(text) => units::parse_duration(text)
            .map(|d| d.as_millis() as u64)
            .map_err(|message| PlanError::Service {
                service: name.to_string(),
                message: format!("deploy.update_config.{field}: {message}"),
            }),
    };
    Ok(Some(RolloutPolicy {
        parallelism: config.parallelism.unwrap_or(1),
        delay_ms: millis("delay", &config.delay, 0)?,
        start_first: config.order.as_deref() == Some("start-first"),
        monitor_ms: millis("monitor", &config.monitor, DEFAULT_MONITOR_MS)?,
        failure_action: match config.failure_action.as_deref() {
            Some("rollback") => FailureAction::Rollback,
            Some("continue") => FailureAction::Continue,
            _ => FailureAction::Pause,
        },
    }))
}
