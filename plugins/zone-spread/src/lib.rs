//! `zone-spread`: a placement plugin that spreads each service's replicas across the values of
//! a host label (default `zone`) before spreading them within a zone.
//!
//! It scores every candidate by how many replicas of the service its zone already holds, then by
//! how many the host itself holds; fewer is better, and equal scores keep nap's order. It only
//! reads the request: no I/O, no state between calls.

use std::collections::{BTreeMap, HashMap};

use nap_plugin_api::{Hooks, Plugin, PluginError, ScheduleDecision, ScheduleRequest, nap_plugin};

/// The label read when `config.label` is not set.
const DEFAULT_LABEL: &str = "zone";

/// The plugin; stateless.
struct ZoneSpread;

impl Plugin for ZoneSpread {
    fn name(&self) -> &str {
        "zone-spread"
    }

    fn version(&self) -> &str {
        env!("CARGO_PKG_VERSION")
    }

    fn optional(&self) -> bool {
        true
    }

    fn hooks(&self) -> Hooks {
        Hooks::SCHEDULE
    }

    fn schedule(&self, request: &ScheduleRequest) -> Result<ScheduleDecision, PluginError> {
        let label = match request.config.get("label") {
            None | Some(serde_json::Value::Null) => DEFAULT_LABEL,
            Some(serde_json::Value::String(label)) => label.as_str(),
            Some(other) => return Err(format!("config.label must be a string, got {other}").into()),
        };
        // Hosts without the label share one zone (the empty one).
        let zone_of = |labels: &BTreeMap<String, String>| -> String {
            labels.get(label).cloned().unwrap_or_default()
        };
        let mut replicas_per_zone: HashMap<String, usize> = HashMap::new();
        for candidate in &request.candidates {
            *replicas_per_zone
                .entry(zone_of(&candidate.labels))
                .or_default() += candidate.service_replicas;
        }
        // Lexicographic (zone replicas, host replicas) folded into one number: the host count
        // never reaches `weight`, so it only breaks ties within a zone.
        let weight = request
            .candidates
            .iter()
            .map(|c| c.service_replicas)
            .sum::<usize>()
            + 1;
        let scores = request
            .candidates
            .iter()
            .map(|candidate| {
                let zone_replicas = replicas_per_zone[&zone_of(&candidate.labels)];
                let cost = zone_replicas * weight + candidate.service_replicas;
                (candidate.name.clone(), -(cost as f64))
            })
            .collect();
        Ok(ScheduleDecision::Scores(scores))
    }
}

nap_plugin!(ZoneSpread, ZoneSpread);
