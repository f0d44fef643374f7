//! The service dependency graph: which services must start before which.
//!
//! Edges come from `depends_on`, `links`, and the keys that share another service's
//! namespaces (`network_mode`/`ipc`/`pid: service:X`, `volumes_from`). The graph finds cycles
//! (returned as the path that closes, `a -> b -> a`) and gives a deterministic start order
//! in layers. It knows nothing about hosts or containers.

use std::collections::{BTreeMap, BTreeSet};

use crate::compose::{DependsOnCondition, Project, Service};

/// Why one service waits for another.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
///
/// Ordered weakest first, so that of two edges between the same services the stronger is kept.
pub enum EdgeKind {
    /// Shares the other's network, IPC, PID namespace or volumes.
    Namespace,
    /// `links`.
    Link,
    /// `depends_on` with its condition.
    DependsOn(DependsOnCondition),
}

/// A dependency: `from` waits for `to`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Edge {
    /// The dependent service.
    pub from: String,
    /// The service it waits for.
    pub to: String,
    /// Why.
    pub kind: EdgeKind,
}

impl Edge {
    /// The condition `to` must meet before `from` starts.
    pub fn condition(&self) -> DependsOnCondition {
        match self.kind {
            EdgeKind::DependsOn(condition) => condition,
            EdgeKind::Link | EdgeKind::Namespace => DependsOnCondition::ServiceStarted,
        }
    }
}

/// The dependency graph of a project's services.
#[derive(Debug, Clone, Default)]
pub struct DependencyGraph {
    nodes: BTreeSet<String>,
    /// Dependencies of each service, by dependency name (the strongest condition wins).
    edges: BTreeMap<String, BTreeMap<String, Edge>>,
}

/// The services of a dependency cycle, first repeated at the end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cycle(pub Vec<String>);

impl std::fmt::Display for Cycle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0.join(" -> "))
    }
}

/// The dependencies a service declares, with why.
pub fn service_dependencies(service: &Service) -> Vec<(String, EdgeKind)> {
    let mut out: Vec<(String, EdgeKind)> = service
        .depends_on
        .iter()
        .map(|(name, depends_on)| (name.clone(), EdgeKind::DependsOn(depends_on.condition)))
        .collect();
    for link in &service.links {
        let target = link.split(':').next().unwrap_or(link);
        out.push((target.to_string(), EdgeKind::Link));
    }
    for mode in [&service.network_mode, &service.ipc, &service.pid]
        .into_iter()
        .flatten()
    {
        if let Some(target) = mode.strip_prefix("service:") {
            out.push((target.to_string(), EdgeKind::Namespace));
        }
    }
    for entry in &service.volumes_from {
        if !entry.starts_with("container:") {
            let target = entry.split(':').next().unwrap_or(entry);
            out.push((target.to_string(), EdgeKind::Namespace));
        }
    }
    out
}

impl DependencyGraph {
    /// Builds the graph of `project`'s enabled services; dependencies on services that are
    /// not in the project are left out (the loader reports them).
    pub fn from_project(project: &Project) -> DependencyGraph {
        let mut graph = DependencyGraph::default();
        for name in project.services.keys() {
            graph.nodes.insert(name.clone());
        }
        for (name, service) in &project.services {
            for (target, kind) in service_dependencies(service) {
                if project.services.contains_key(&target) {
                    graph.add_edge(name, &target, kind);
                }
            }
        }
        graph
    }

    /// Adds a node.
    pub fn add_node(&mut self, name: &str) {
        self.nodes.insert(name.to_string());
    }

    /// Adds `from` waits for `to`; a second edge between the same pair keeps the stronger
    /// condition (`depends_on` over links, healthy over started).
    pub fn add_edge(&mut self, from: &str, to: &str, kind: EdgeKind) {
        self.nodes.insert(from.to_string());
        self.nodes.insert(to.to_string());
        let entry = self.edges.entry(from.to_string()).or_default();
        let edge = Edge {
            from: from.to_string(),
            to: to.to_string(),
            kind,
        };
        match entry.get(to) {
            Some(existing) if existing.kind >= kind => {}
            _ => {
                entry.insert(to.to_string(), edge);
            }
        }
    }

    /// What `service` waits for, in name order.
    pub fn dependencies(&self, service: &str) -> impl Iterator<Item = &Edge> {
        self.edges
            .get(service)
            .into_iter()
            .flat_map(|edges| edges.values())
    }

    /// The services that wait for `service`, in name order.
    pub fn dependents(&self, service: &str) -> Vec<&str> {
        self.edges
            .iter()
            .filter(|(_, edges)| edges.contains_key(service))
            .map(|(name, _)| name.as_str())
            .collect()
    }

    /// The first cycle found, walking services in name order.
    pub fn find_cycle(&self) -> Option<Cycle> {
        #[derive(Clone, Copy, PartialEq)]
        enum Mark {
            Unvisited,
            InProgress,
            Done,
        }
        let mut marks: BTreeMap<&str, Mark> = self
            .nodes
            .iter()
            .map(|n| (n.as_str(), Mark::Unvisited))
            .collect();
        for start in &self.nodes {
            if marks[start.as_str()] != Mark::Unvisited {
                continue;
            }
            // Iterative DFS: a stack of (node, its remaining dependencies).
            let mut path: Vec<&str> = vec![start];
            let mut stack: Vec<Vec<&str>> =
                vec![self.dependencies(start).map(|e| e.to.as_str()).collect()];
            marks.insert(start, Mark::InProgress);
            while let Some(pending) = stack.last_mut() {
                match pending.pop() {
                    Some(next) => match marks.get(next).copied().unwrap_or(Mark::Done) {
                        Mark::InProgress => {
                            let from = path.iter().position(|n| *n == next).unwrap_or(0);
                            let mut cycle: Vec<String> =
                                path[from..].iter().map(|n| n.to_string()).collect();
                            cycle.push(next.to_string());
                            return Some(Cycle(cycle));
                        }
                        Mark::Unvisited => {
                            marks.insert(next, Mark::InProgress);
                            path.push(next);
                            let mut deps: Vec<&str> =
                                self.dependencies(next).map(|e| e.to.as_str()).collect();
                            deps.reverse();
                            stack.push(deps);
                        }
                        Mark::Done => {}
                    },
                    None => {
                        stack.pop();
                        if let Some(done) = path.pop() {
                            marks.insert(done, Mark::Done);
                        }
                    }
                }
            }
        }
        None
    }

    /// Services in layers: each layer depends only on earlier ones; names sorted in a layer.
    /// Fails with the cycle when there is one.
    pub fn layers(&self) -> Result<Vec<Vec<String>>, Cycle> {
        if let Some(cycle) = self.find_cycle() {
            return Err(cycle);
        }
        let mut remaining: BTreeMap<&str, usize> = self
            .nodes
            .iter()
            .map(|name| (name.as_str(), self.dependencies(name).count()))
            .collect();
        let mut layers = Vec::new();
        while !remaining.is_empty() {
            let ready: Vec<String> = remaining
                .iter()
                .filter(|(_, count)| **count == 0)
                .map(|(name, _)| name.to_string())
                .collect();
            for name in &ready {
                remaining.remove(name.as_str());
                for dependent in self.dependents(name) {
                    if let Some(count) = remaining.get_mut(dependent) {
                        *count -= 1;
                    }
                }
            }
            layers.push(ready);
        }
        Ok(layers)
    }

    /// Services in start order (the layers, flattened).
    pub fn start_order(&self) -> Result<Vec<String>, Cycle> {
        Ok(self.layers()?.into_iter().flatten().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph(edges: &[(&str, &str)]) -> DependencyGraph {
        let mut graph = DependencyGraph::default();
        for (from, to) in edges {
            graph.add_edge(
                from,
                to,
                EdgeKind::DependsOn(DependsOnCondition::ServiceStarted),
            );
        }
        graph
    }

    #[test]
    fn layers_in_dependency_order() {
        let graph = graph(&[
            ("web", "api"),
            ("api", "db"),
            ("api", "cache"),
            ("worker", "db"),
        ]);
        assert_eq!(
            graph.layers().unwrap(),
            vec![vec!["cache", "db"], vec!["api", "worker"], vec!["web"]]
        );
        assert_eq!(graph.dependents("db"), ["api", "worker"]);
    }

    #[test]
    fn cycles_are_printed_as_a_path() {
        let graph = graph(&[("a", "b"), ("b", "c"), ("c", "a"), ("d", "a")]);
        assert_eq!(graph.find_cycle().unwrap().to_string(), "a -> b -> c -> a");
        let graph = graph_self();
        assert_eq!(graph.find_cycle().unwrap().to_string(), "x -> x");
    }

    fn graph_self() -> DependencyGraph {
        graph(&[("x", "x")])
    }

    #[test]
    fn stronger_condition_wins() {
        let mut graph = DependencyGraph::default();
        graph.add_edge("a", "b", EdgeKind::Link);
        graph.add_edge(
            "a",
            "b",
            EdgeKind::DependsOn(DependsOnCondition::ServiceHealthy),
        );
        graph.add_edge(
            "a",
            "b",
            EdgeKind::DependsOn(DependsOnCondition::ServiceStarted),
        );
        let edge = graph.dependencies("a").next().unwrap();
        assert_eq!(edge.condition(), DependsOnCondition::ServiceHealthy);
    }
}
