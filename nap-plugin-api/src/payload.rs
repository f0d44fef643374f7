//! The JSON payloads that hooks receive and answer with, and how nap applies a placement answer.
//!
//! These are plain serde types, shared by nap and by plugins written in Rust; a plugin in another
//! language reads and writes the same JSON. Nothing here loads libraries or calls hooks.

use std::collections::{BTreeMap, HashSet};

use serde::{Deserialize, Serialize};

/// Asks a plugin where one replica of a service should go.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScheduleRequest {
    /// The compose project name.
    pub project: String,
    /// The service being placed.
    pub service: String,
    /// The replica number (1-based, as in container names).
    pub replica: u32,
    /// The hosts that passed nap's filters (constraints, ports, resources), in nap's order of
    /// preference, narrowed and reordered by the placement plugins loaded before this one.
    pub candidates: Vec<Candidate>,
    /// The plugin's configuration from the inventory (`null` when there is none).
    #[serde(default)]
    pub config: serde_json::Value,
}

/// One host that could take the replica.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Candidate {
    /// The host's name in the inventory.
    pub name: String,
    /// The host's labels from the inventory.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Containers of the project already on the host (kept or placed earlier), all services.
    #[serde(default)]
    pub containers: usize,
    /// Replicas of this same service already on the host (kept or placed earlier).
    #[serde(default)]
    pub service_replicas: usize,
}

/// A plugin's answer to a [`ScheduleRequest`].
///
/// On the wire it is an object with exactly one key: `{"keep": true}`, `{"pick": "h2"}` or
/// `{"scores": {"h1": 1.0, "h2": 0.5}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "DecisionWire", into = "DecisionWire")]
pub enum ScheduleDecision {
    /// Keep nap's order of candidates.
    Keep,
    /// Put the replica on this host (which must be a candidate).
    Pick(String),
    /// Score the candidates; higher is better, ties keep nap's order, hosts left out are excluded.
    Scores(BTreeMap<String, f64>),
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct DecisionWire {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    keep: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pick: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    scores: Option<BTreeMap<String, f64>>,
}

/// Why a decision's JSON object is not one of the three forms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DecisionFormError {
    /// `{"keep": false}`.
    #[error("`keep` must be true")]
    KeepFalse,
    /// None of the keys, or more than one.
    #[error("expected exactly one of `keep`, `pick` or `scores`")]
    NotOneKey,
}

impl TryFrom<DecisionWire> for ScheduleDecision {
    type Error = DecisionFormError;

    fn try_from(wire: DecisionWire) -> Result<Self, DecisionFormError> {
        match (wire.keep, wire.pick, wire.scores) {
            (Some(true), None, None) => Ok(ScheduleDecision::Keep),
            (Some(false), None, None) => Err(DecisionFormError::KeepFalse),
            (None, Some(host), None) => Ok(ScheduleDecision::Pick(host)),
            (None, None, Some(scores)) => Ok(ScheduleDecision::Scores(scores)),
            _ => Err(DecisionFormError::NotOneKey),
        }
    }
}

impl From<ScheduleDecision> for DecisionWire {
    fn from(decision: ScheduleDecision) -> Self {
        let mut wire = DecisionWire {
            keep: None,
            pick: None,
            scores: None,
        };
        match decision {
            ScheduleDecision::Keep => wire.keep = Some(true),
            ScheduleDecision::Pick(host) => wire.pick = Some(host),
            ScheduleDecision::Scores(scores) => wire.scores = Some(scores),
        }
        wire
    }
}

/// A decision that does not fit the candidates it answered.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DecisionError {
    /// `pick` named a host that was not a candidate.
    #[error("picked host `{0}` is not a candidate")]
    UnknownPick(String),
    /// `scores` named a host that was not a candidate.
    #[error("scored host `{0}` is not a candidate")]
    UnknownScore(String),
    /// A score was NaN or infinite.
    #[error("score for host `{0}` is not a finite number")]
    NotFinite(String),
    /// `scores` left every candidate out.
    #[error("scores exclude every candidate")]
    NothingLeft,
}

impl ScheduleDecision {
    /// The candidate names in the order nap should try them.
    ///
    /// `Keep` returns nap's order; `Pick` returns the one host; `Scores` returns the scored
    /// hosts by descending score, ties in nap's order (a stable sort), unscored hosts dropped.
    pub fn ranked<'a>(&self, candidates: &'a [Candidate]) -> Result<Vec<&'a str>, DecisionError> {
        let names: Vec<&'a str> = candidates.iter().map(|c| c.name.as_str()).collect();
        match self {
            ScheduleDecision::Keep => Ok(names),
            ScheduleDecision::Pick(host) => names
                .iter()
                .find(|name| **name == host.as_str())
                .map(|name| vec![*name])
                .ok_or_else(|| DecisionError::UnknownPick(host.clone())),
            ScheduleDecision::Scores(scores) => {
                let known: HashSet<&str> = names.iter().copied().collect();
                for (host, score) in scores {
                    if !known.contains(host.as_str()) {
                        return Err(DecisionError::UnknownScore(host.clone()));
                    }
                    if !score.is_finite() {
                        return Err(DecisionError::NotFinite(host.clone()));
                    }
                }
                let mut scored: Vec<(&'a str, f64)> = names
                    .into_iter()
                    .filter_map(|name| scores.get(name).map(|score| (name, *score)))
                    .collect();
                if scored.is_empty() {
                    return Err(DecisionError::NothingLeft);
                }
                scored.sort_by(|a, b| b.1.total_cmp(&a.1));
                Ok(scored.into_iter().map(|(name, _)| name).collect())
            }
        }
    }
}

/// Tells a plugin that a container has started.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContainerStarted {
    /// The compose project name.
    pub project: String,
    /// The service the container belongs to.
    pub service: String,
    /// The replica number (1-based).
    pub replica: u32,
    /// The host it runs on.
    pub host: String,
    /// The container's name.
    pub container: String,
    /// The Docker container id.
    pub container_id: String,
    /// The container's address on the project network, when it has one.
    #[serde(default)]
    pub ip: Option<String>,
    /// The names other containers can resolve it by.
    #[serde(default)]
    pub names: Vec<String>,
    /// The plugin's configuration from the inventory (`null` when there is none).
    #[serde(default)]
    pub config: serde_json::Value,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn candidate(name: &str) -> Candidate {
        Candidate {
            name: name.to_owned(),
            labels: BTreeMap::new(),
            containers: 0,
            service_replicas: 0,
        }
    }

    #[test]
    fn decisions_round_trip_through_their_wire_form() {
        for (json, decision) in [
            (r#"{"keep":true}"#, ScheduleDecision::Keep),
            (r#"{"pick":"h2"}"#, ScheduleDecision::Pick("h2".to_owned())),
            (
                r#"{"scores":{"h1":1.0}}"#,
                ScheduleDecision::Scores(BTreeMap::from([("h1".to_owned(), 1.0)])),
            ),
        ] {
            assert_eq!(
                serde_json::from_str::<ScheduleDecision>(json).unwrap(),
                decision
            );
            assert_eq!(serde_json::to_string(&decision).unwrap(), json);
        }
        for bad in [
            r#"{}"#,
            r#"{"keep":false}"#,
            r#"{"keep":true,"pick":"h1"}"#,
            r#"{"x":1}"#,
        ] {
            assert!(
                serde_json::from_str::<ScheduleDecision>(bad).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn scores_rank_descending_with_ties_in_nap_order_and_drop_unscored_hosts() {
        let candidates = [
            candidate("h1"),
            candidate("h2"),
            candidate("h3"),
            candidate("h4"),
        ];
        let scores = BTreeMap::from([
            ("h1".to_owned(), 1.0),
            ("h2".to_owned(), 2.0),
            ("h4".to_owned(), 1.0),
        ]);
        let ranked = ScheduleDecision::Scores(scores)
            .ranked(&candidates)
            .unwrap();
        assert_eq!(ranked, ["h2", "h1", "h4"]);
        assert_eq!(
            ScheduleDecision::Pick("h9".to_owned()).ranked(&candidates),
            Err(DecisionError::UnknownPick("h9".to_owned()))
        );
        assert_eq!(
            ScheduleDecision::Scores(BTreeMap::new()).ranked(&candidates),
            Err(DecisionError::NothingLeft)
        );
    }
}
