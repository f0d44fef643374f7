//! Never two copies: the record, kept on every host of a project, of which hosts run which of
//! its containers, and the refusal when the inventory no longer names one of them.
//!
//! There is no control plane: a host dropped from the inventory is not observed any more, so
//! without a record its containers would be forgotten while they keep running, and `up`
//! would start second copies elsewhere. Each host holds the whole map (a label-only Docker
//! volume, [`record_volume_name`], label [`LABEL_HOSTS_RECORD`] holding JSON); the maps read
//! from all hosts are merged. This module is pure: it renders, parses, merges and checks
//! records; `nap-actors/src/records.rs` reads and writes them.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::plan::{DesiredState, ObservedState, PlanError};

/// Label of a hosts record: the JSON of a [`HostsRecord`].
pub const LABEL_HOSTS_RECORD: &str = "nap.hosts-record";

/// Label naming the project a hosts record is of.
pub const LABEL_RECORD_OF: &str = "nap.record-of";

/// The longest record label nap reads (a record is a few bytes per container).
pub const MAX_RECORD_BYTES: usize = 1 << 20;

/// The name of the volume that holds `project`'s hosts record on each host.
pub fn record_volume_name(project: &str) -> String {
    format!("nap-hosts-{project}")
}

/// Which hosts run which containers of a project.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostsRecord {
    /// Host name → the names of the project's containers on it.
    pub hosts: BTreeMap<String, BTreeSet<String>>,
}

/// A record label that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    /// Longer than [`MAX_RECORD_BYTES`].
    #[error("the hosts record on host {host} is {bytes} bytes, more than nap reads")]
    TooLarge {
        /// The host it is on.
        host: String,
        /// Its length.
        bytes: usize,
    },
    /// Not a record.
    #[error("the hosts record on host {host} cannot be read: {message}")]
    Invalid {
        /// The host it is on.
        host: String,
        /// What is wrong.
        message: String,
    },
}

impl HostsRecord {
    /// The record label's value.
    pub fn render(&self) -> String {
        serde_json::to_string(self).expect("a record serializes")
    }

    /// A record label read from `host`.
    pub fn parse(host: &str, text: &str) -> Result<HostsRecord, RecordError> {
        if text.len() > MAX_RECORD_BYTES {
            return Err(RecordError::TooLarge {
                host: host.to_string(),
                bytes: text.len(),
            });
        }
        serde_json::from_str(text).map_err(|error| RecordError::Invalid {
            host: host.to_string(),
            message: error.to_string(),
        })
    }

    /// Adds `other`'s hosts and containers.
    pub fn merge(&mut self, other: &HostsRecord) {
        for (host, containers) in &other.hosts {
            self.hosts
                .entry(host.clone())
                .or_default()
                .extend(containers.iter().cloned());
        }
    }

    /// What runs while a deployment is under way: the observed containers and the desired
    /// ones, so a nap killed half-way leaves every host it may have used named.
    pub fn during(observed: &ObservedState, desired: Option<&DesiredState>) -> HostsRecord {
        let mut record = HostsRecord::default();
        for container in &observed.containers {
            record.add(&container.host, &container.name);
        }
        if let Some(desired) = desired {
            record.merge(&HostsRecord::after(desired));
        }
        record
    }

    /// What runs once a deployment of `desired` succeeded.
    pub fn after(desired: &DesiredState) -> HostsRecord {
        let mut record = HostsRecord::default();
        for container in &desired.containers {
            record.add(&container.host, &container.name);
        }
        record
    }

    fn add(&mut self, host: &str, container: &str) {
        self.hosts
            .entry(host.to_string())
            .or_default()
            .insert(container.to_string());
    }

    /// The record without `hosts`.
    pub fn without(mut self, hosts: &BTreeSet<String>) -> HostsRecord {
        self.hosts.retain(|host, _| !hosts.contains(host));
        self
    }
}

/// Refuses when a host the records name as running containers of `project` is not among
/// `inventory_hosts` and not in `forget` (`--forget-host`). `records` are (host it was read
/// from, record).
pub fn check_recorded_hosts(
    project: &str,
    records: &[(String, HostsRecord)],
    inventory_hosts: &BTreeSet<String>,
    forget: &BTreeSet<String>,
) -> Result<(), PlanError> {
    let mut merged = HostsRecord::default();
    for (_, record) in records {
        merged.merge(record);
    }
    for (host, containers) in &merged.hosts {
        if containers.is_empty() || inventory_hosts.contains(host) || forget.contains(host) {
            continue;
        }
        let recorded_on = records
            .iter()
            .filter(|(_, record)| record.hosts.contains_key(host))
            .map(|(on, _)| on.clone())
            .collect();
        return Err(PlanError::HostLeftInventory {
            project: project.to_string(),
            host: host.clone(),
            containers: containers.iter().cloned().collect(),
            recorded_on,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(entries: &[(&str, &[&str])]) -> HostsRecord {
        HostsRecord {
            hosts: entries
                .iter()
                .map(|(host, containers)| {
                    (
                        host.to_string(),
                        containers.iter().map(|c| c.to_string()).collect(),
                    )
                })
                .collect(),
        }
    }

    fn names(hosts: &[&str]) -> BTreeSet<String> {
        hosts.iter().map(|host| host.to_string()).collect()
    }

    #[test]
    fn a_host_gone_from_the_inventory_that_still_runs_containers_is_refused() {
        let records = vec![
            (
                "h2".to_string(),
                record(&[("h1", &["demo-db-1"]), ("h2", &["demo-web-1"])]),
            ),
            ("h3".to_string(), record(&[("h1", &["demo-db-1"])])),
        ];
        let error =
            check_recorded_hosts("demo", &records, &names(&["h2", "h3"]), &names(&[])).unwrap_err();
        let text = error.to_string();
        for needle in [
            "host h1",
            "demo-db-1",
            "project \"demo\"",
            "recorded on h2, h3",
            "nap host drain h1",
            "--forget-host h1",
        ] {
            assert!(text.contains(needle), "{needle:?} not in {text:?}");
        }
        assert!(
            check_recorded_hosts("demo", &records, &names(&["h2", "h3"]), &names(&["h1"])).is_ok()
        );
        assert!(check_recorded_hosts("demo", &records, &names(&["h1", "h2"]), &names(&[])).is_ok());
    }

    #[test]
    fn records_round_trip_and_bad_ones_name_their_host() {
        let original = record(&[("h1", &["demo-db-1", "demo-web-2"])]);
        assert_eq!(
            HostsRecord::parse("h1", &original.render()).unwrap(),
            original
        );
        let error = HostsRecord::parse("h2", "{not json").unwrap_err();
        assert!(error.to_string().contains("host h2"), "{error}");
        let huge = "x".repeat(MAX_RECORD_BYTES + 1);
        assert!(matches!(
            HostsRecord::parse("h3", &huge),
            Err(RecordError::TooLarge { .. })
        ));
    }
}
