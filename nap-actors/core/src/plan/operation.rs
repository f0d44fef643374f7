//! A plan's operations and the plan itself: a DAG of operations, each one Docker, SSH or
//! hosts-file call on one host, with its text form (the form `nap plan` prints and tests
//! compare).

use std::collections::BTreeSet;
use std::fmt::Write as _;

use serde::Serialize;

use crate::inventory::Ipv4Cidr;
use crate::plan::{DesiredHostsFile, RolloutPolicy, Route};

/// One step of a plan: one Docker or SSH call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Operation {
    /// Create a project network on a host.
    CreateNetwork {
        /// Host.
        host: String,
        /// Project network key.
        key: String,
        /// Docker name.
        name: String,
        /// Subnet (routed mode).
        #[serde(skip_serializing_if = "Option::is_none")]
        subnet: Option<Ipv4Cidr>,
    },
    /// Install (idempotently) the routes to the other hosts' subnets, over SSH.
    EnsureRoutes {
        /// Host.
        host: String,
        /// Every route the host needs.
        routes: Vec<Route>,
        /// The pool forwarded without NAT.
        pool: Ipv4Cidr,
        /// The project's subnets on this host: traffic from the pool to them is accepted and
        /// traffic from them to the pool is not masqueraded.
        local_subnets: Vec<Ipv4Cidr>,
    },
    /// Remove the routes to the project's subnets on other hosts and the project's forwarding
    /// rules, over SSH (`nap down`).
    RemoveRoutes {
        /// Host.
        host: String,
        /// The other hosts' subnets of the project.
        subnets: Vec<Ipv4Cidr>,
    },
    /// Remove a named volume (`nap down -v`).
    RemoveVolume {
        /// Host.
        host: String,
        /// Docker volume name.
        name: String,
    },
    /// Create a named volume on a host.
    CreateVolume {
        /// Host.
        host: String,
        /// Docker volume name.
        name: String,
    },
    /// Make an image present on a host: pull, or copy from a daemon that has it.
    EnsureImage {
        /// Host.
        host: String,
        /// Image reference.
        image: String,
    },
    /// Build a `build:` service's image on the builder host (its context sent from here).
    BuildImage {
        /// The builder host.
        host: String,
        /// The service.
        service: String,
        /// The image it is built as.
        image: String,
        /// Why (`not built yet`, `context changed`, `--build`).
        reason: String,
    },
    /// Copy a built image from the builder host, unless the host holds the same image ID
    /// already (`docker save | docker load`, streamed, checked by image ID).
    ShipImage {
        /// Host.
        host: String,
        /// Image reference.
        image: String,
        /// The builder host it is copied from.
        from: String,
    },
    /// Stop and remove a container.
    RemoveContainer {
        /// Host.
        host: String,
        /// Container name.
        container: String,
        /// Container id.
        id: String,
        /// Why (`config changed`, `scaled down`, `moved to h2`, `orphan`).
        reason: String,
    },
    /// Create a container (not started).
    CreateContainer {
        /// Host.
        host: String,
        /// Service.
        service: String,
        /// Replica.
        replica: u32,
        /// Container name.
        container: String,
        /// Why (`new`, `config changed`, `moved from h1`).
        reason: String,
    },
    /// Replace a changed replica under its rollout policy: set the old container aside
    /// (renamed; stopped first unless start-first), create and start the new one, wait until
    /// it is healthy and has run for `monitor_ms`. On failure, `failure_action` says whether
    /// the old container is put back. Stop-first removes the old container on success;
    /// start-first leaves it running for [`Operation::RetireContainer`].
    ReplaceContainer {
        /// Host.
        host: String,
        /// Service.
        service: String,
        /// Replica.
        replica: u32,
        /// Container name.
        container: String,
        /// The old container's id.
        old_id: String,
        /// The name the old container has while set aside.
        aside: String,
        /// The service's rollout policy.
        policy: RolloutPolicy,
        /// Milliseconds to wait before starting (the policy's delay between batches).
        delay_ms: u64,
    },
    /// Remove a replica's old container once its start-first replacement is serving and
    /// every peer resolves the new one.
    RetireContainer {
        /// Host.
        host: String,
        /// The old container's name while set aside.
        container: String,
    },
    /// Start a container.
    StartContainer {
        /// Host.
        host: String,
        /// Container name.
        container: String,
    },
    /// Wait until a container's healthcheck passes.
    WaitHealthy {
        /// Host.
        host: String,
        /// Container name.
        container: String,
    },
    /// Wait until a container exits with status 0.
    WaitCompleted {
        /// Host.
        host: String,
        /// Container name.
        container: String,
    },
    /// Write the host's hosts files (one per view) in place, in one command over SSH or,
    /// without SSH, through a Docker helper container made from `image`.
    WriteHostsFiles {
        /// Host.
        host: String,
        /// The project's folder on the host ([`crate::hosts_file::folder`]).
        folder: String,
        /// The files, with what they hold.
        files: Vec<DesiredHostsFile>,
        /// Images on the host (its services'), for the helper container: the first that
        /// can run `dd` is used.
        images: Vec<String>,
    },
    /// Remove the project's hosts files from a host (`nap down`).
    RemoveHostsFiles {
        /// Host.
        host: String,
        /// The project's folder on the host.
        folder: String,
        /// The files its containers read.
        files: Vec<String>,
        /// Images on the host (its containers'), for the helper container.
        images: Vec<String>,
    },
    /// Remove a project network from a host.
    RemoveNetwork {
        /// Host.
        host: String,
        /// Docker name.
        name: String,
    },
}

impl Operation {
    /// The host the operation runs on.
    pub fn host(&self) -> &str {
        match self {
            Operation::CreateNetwork { host, .. }
            | Operation::EnsureRoutes { host, .. }
            | Operation::RemoveRoutes { host, .. }
            | Operation::CreateVolume { host, .. }
            | Operation::RemoveVolume { host, .. }
            | Operation::EnsureImage { host, .. }
            | Operation::BuildImage { host, .. }
            | Operation::ShipImage { host, .. }
            | Operation::RemoveContainer { host, .. }
            | Operation::CreateContainer { host, .. }
            | Operation::ReplaceContainer { host, .. }
            | Operation::RetireContainer { host, .. }
            | Operation::StartContainer { host, .. }
            | Operation::WaitHealthy { host, .. }
            | Operation::WaitCompleted { host, .. }
            | Operation::WriteHostsFiles { host, .. }
            | Operation::RemoveHostsFiles { host, .. }
            | Operation::RemoveNetwork { host, .. } => host,
        }
    }

    /// The project container a container operation brings up (create, replace, start, wait);
    /// `None` for the others, removals and hosts-file writes included.
    pub fn deploys_container(&self) -> Option<&str> {
        match self {
            Operation::CreateContainer { container, .. }
            | Operation::ReplaceContainer { container, .. }
            | Operation::StartContainer { container, .. }
            | Operation::WaitHealthy { container, .. }
            | Operation::WaitCompleted { container, .. } => Some(container),
            _ => None,
        }
    }

    /// Whether it changes anything on a host (everything but the waits).
    pub fn is_mutating(&self) -> bool {
        !matches!(
            self,
            Operation::WaitHealthy { .. } | Operation::WaitCompleted { .. }
        )
    }

    fn describe(&self) -> String {
        match self {
            Operation::CreateNetwork { name, subnet, .. } => match subnet {
                Some(subnet) => format!("create network {name} ({subnet})"),
                None => format!("create network {name}"),
            },
            Operation::EnsureRoutes { routes, .. } => {
                let list: Vec<String> = routes
                    .iter()
                    .map(|r| format!("{} via {}", r.subnet, r.via))
                    .collect();
                format!("ensure routes [{}]", list.join(", "))
            }
            Operation::RemoveRoutes { subnets, .. } => {
                let list: Vec<String> = subnets.iter().map(ToString::to_string).collect();
                format!("remove routes [{}]", list.join(", "))
            }
            Operation::CreateVolume { name, .. } => format!("create volume {name}"),
            Operation::RemoveVolume { name, .. } => format!("remove volume {name}"),
            Operation::EnsureImage { image, .. } => format!("ensure image {image}"),
            Operation::BuildImage {
                service,
                image,
                reason,
                ..
            } => format!("build image {image} of service {service} ({reason})"),
            Operation::ShipImage { image, from, .. } => format!("ship image {image} from {from}"),
            Operation::RemoveContainer {
                container, reason, ..
            } => format!("remove container {container} ({reason})"),
            Operation::CreateContainer {
                container, reason, ..
            } => format!("create container {container} ({reason})"),
            Operation::ReplaceContainer {
                container, policy, ..
            } => format!(
                "replace {container} ({}, monitor {} ms)",
                if policy.start_first {
                    "start-first"
                } else {
                    "stop-first"
                },
                policy.monitor_ms
            ),
            Operation::RetireContainer { container, .. } => format!("retire {container}"),
            Operation::StartContainer { container, .. } => format!("start {container}"),
            Operation::WaitHealthy { container, .. } => format!("wait for {container} healthy"),
            Operation::WaitCompleted { container, .. } => {
                format!("wait for {container} to complete")
            }
            Operation::WriteHostsFiles { files, .. } => {
                let list: Vec<String> = files
                    .iter()
                    .map(|file| format!("{} ({} entries)", file.file, file.table.len()))
                    .collect();
                format!("write hosts files [{}]", list.join(", "))
            }
            Operation::RemoveHostsFiles { folder, files, .. } => {
                format!("remove hosts files {folder}/[{}]", files.join(", "))
            }
            Operation::RemoveNetwork { name, .. } => format!("remove network {name}"),
        }
    }
}

/// A numbered operation and the operations it waits for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlannedOperation {
    /// Position in the plan, from 1.
    pub id: usize,
    /// What to do.
    #[serde(flatten)]
    pub operation: Operation,
    /// Ids that must finish first.
    pub after: Vec<usize>,
}

/// Where a replica runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlacementRecord {
    /// Service.
    pub service: String,
    /// Replica.
    pub replica: u32,
    /// Container name.
    pub container: String,
    /// Host.
    pub host: String,
}

/// The plan: placements, and the operations that realize them, in dependency order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Plan {
    /// Project name.
    pub project: String,
    /// Every desired replica's host.
    pub placements: Vec<PlacementRecord>,
    /// The DAG of operations (each after only lower ids).
    pub operations: Vec<PlannedOperation>,
    /// Things the user should know (orphans left in place).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

impl Plan {
    /// The plan of only the operations `keep` accepts, renumbered from 1; each keeps waiting
    /// for the kept operations it waited for, directly or through removed ones. Used by verbs
    /// that need one part of a deployment's plan (`nap restart` re-applying hosts files).
    pub fn only(&self, keep: impl Fn(&Operation) -> bool) -> Plan {
        let mut new_id = vec![0usize; self.operations.len() + 1];
        // For every old id, the kept ids it waits for (transitively through removed ones).
        let mut waits: Vec<BTreeSet<usize>> = vec![BTreeSet::new(); self.operations.len() + 1];
        let mut operations = Vec::new();
        for planned in &self.operations {
            let mut after = BTreeSet::new();
            for &dependency in &planned.after {
                if new_id[dependency] != 0 {
                    after.insert(new_id[dependency]);
                } else {
                    after.extend(waits[dependency].iter().copied());
                }
            }
            if keep(&planned.operation) {
                let id = operations.len() + 1;
                new_id[planned.id] = id;
                operations.push(PlannedOperation {
                    id,
                    operation: planned.operation.clone(),
                    after: after.iter().copied().collect(),
                });
            } else {
                waits[planned.id] = after;
            }
        }
        Plan {
            project: self.project.clone(),
            placements: self.placements.clone(),
            operations,
            notes: Vec::new(),
        }
    }

    /// Whether the plan changes nothing.
    pub fn is_empty(&self) -> bool {
        self.operations.iter().all(|op| !op.operation.is_mutating())
    }

    /// The text form `nap plan` prints.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let hosts: BTreeSet<&str> = self.placements.iter().map(|p| p.host.as_str()).collect();
        let _ = writeln!(
            out,
            "project {}: {} containers on {} hosts",
            self.project,
            self.placements.len(),
            hosts.len()
        );
        let _ = writeln!(out, "placements:");
        for placement in &self.placements {
            let _ = writeln!(
                out,
                "  {:<30} {:<10} {}",
                format!("{}[{}]", placement.service, placement.replica),
                placement.host,
                placement.container
            );
        }
        if self.is_empty() {
            let _ = writeln!(out, "operations: none (up to date)");
        } else {
            let _ = writeln!(out, "operations:");
            for planned in &self.operations {
                let after = if planned.after.is_empty() {
                    String::new()
                } else {
                    let ids: Vec<String> =
                        planned.after.iter().map(|id| format!("#{id}")).collect();
                    format!("  after {}", ids.join(" "))
                };
                let _ = writeln!(
                    out,
                    "  #{:<3} {:<8} {}{}",
                    planned.id,
                    planned.operation.host(),
                    planned.operation.describe(),
                    after
                );
            }
        }
        for note in &self.notes {
            let _ = writeln!(out, "note: {note}");
        }
        out
    }
}

/// Collects a plan's operations, numbering them from 1 in the order they are pushed.
pub(super) struct PlanBuilder {
    /// The operations so far.
    pub(super) operations: Vec<PlannedOperation>,
}

impl PlanBuilder {
    /// Adds `operation` to run after the operations `after`; returns its id.
    pub(super) fn push(&mut self, operation: Operation, mut after: Vec<usize>) -> usize {
        after.sort_unstable();
        after.dedup();
        let id = self.operations.len() + 1;
        self.operations.push(PlannedOperation {
            id,
            operation,
            after,
        });
        id
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn network(id: usize, name: &str, after: &[usize]) -> PlannedOperation {
        PlannedOperation {
            id,
            operation: Operation::RemoveNetwork {
                host: "h1".into(),
                name: name.into(),
            },
            after: after.to_vec(),
        }
    }

    #[test]
    fn a_part_of_a_plan_keeps_its_order_through_removed_operations() {
        let plan = Plan {
            project: "p".into(),
            placements: Vec::new(),
            operations: vec![
                network(1, "keep-a", &[]),
                network(2, "drop-b", &[1]),
                network(3, "keep-c", &[2]),
                network(4, "keep-d", &[]),
            ],
            notes: vec!["a note".into()],
        };
        let part = plan.only(|operation| {
            matches!(operation, Operation::RemoveNetwork { name, .. } if name.starts_with("keep"))
        });
        let shape: Vec<(usize, String, Vec<usize>)> = part
            .operations
            .iter()
            .map(|planned| match &planned.operation {
                Operation::RemoveNetwork { name, .. } => {
                    (planned.id, name.clone(), planned.after.clone())
                }
                _ => unreachable!(),
            })
            .collect();
        assert_eq!(
            shape,
            vec![
                (1, "keep-a".to_string(), vec![]),
                (2, "keep-c".to_string(), vec![1]),
                (3, "keep-d".to_string(), vec![]),
            ]
        );
        assert!(part.notes.is_empty());
    }
}
