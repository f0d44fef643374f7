//! Name tables: every name a container must resolve (services, replicas, aliases, links)
//! and the address it resolves to from that container's host, shared between containers
//! that see the same table; and the hosts files that hold them, one per host and view.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::Ipv4Addr;
use std::sync::Arc;

use serde::Serialize;

use crate::compose::Project;
use crate::hosts_file;
use crate::inventory::{Inventory, NetworkMode};
use crate::plan::{DesiredContainer, DesiredHostsFile, ObservedContainer, ObservedState};

/// One line of a container's name table.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct HostEntry {
    /// The name.
    pub name: String,
    /// What it resolves to.
    pub address: Ipv4Addr,
}

impl HostEntry {
    /// The `extra_hosts` form, `name:address`.
    pub fn extra_host(&self) -> String {
        let mut text = String::with_capacity(self.name.len() + 16);
        self.push_extra_host(&mut text);
        text
    }

    /// Appends the `extra_hosts` form to `text`. Built by hand: `format!` made this a quarter
    /// of `nap up`'s time at 2,000 containers (each carries every peer's entry).
    pub fn push_extra_host(&self, text: &mut String) {
        text.push_str(&self.name);
        text.push(':');
        for (index, octet) in self.address.octets().into_iter().enumerate() {
            if index > 0 {
                text.push('.');
            }
            if octet >= 100 {
                text.push(char::from(b'0' + octet / 100));
            }
            if octet >= 10 {
                text.push(char::from(b'0' + octet / 10 % 10));
            }
            text.push(char::from(b'0' + octet % 10));
        }
    }

    /// Whether `text` is this entry in the `extra_hosts` form (compared without allocating).
    pub fn is_extra_host(&self, text: &str) -> bool {
        text.strip_prefix(self.name.as_str())
            .and_then(|rest| rest.strip_prefix(':'))
            .is_some_and(|address| address.parse::<Ipv4Addr>() == Ok(self.address))
    }
}

/// Whether an existing container reads `desired`'s hosts file: its
/// [`LABEL_HOSTS_FILE`](crate::plan::LABEL_HOSTS_FILE) names the same file (or both have
/// none). A container made by an older nap has no such label but a name table in
/// `extra_hosts`: it does not.
pub fn holds_hosts_file(existing: &ObservedContainer, desired: &DesiredContainer) -> bool {
    existing.hosts_file == desired.hosts_file
}

/// Every container's name table, in `containers` order (see [`name_table`]). A table
/// depends only on the viewer's host, networks and links, so it is computed once per distinct
/// view and shared: 2,000 containers on 200 hosts make 200 tables, not 2,000 (each as long
/// as the project is large). What a table lists, apart from its order, depends only on the
/// networks and links, so that part ([`peer_names`]) is computed once per pair of them.
pub(super) fn name_tables(
    project: &Project,
    inventory: &Inventory,
    containers: &[DesiredContainer],
) -> Vec<Arc<[HostEntry]>> {
    // Peers by service and replica (stably); a viewer sees its host's first, then the rest.
    let mut by_service: Vec<&DesiredContainer> = containers.iter().collect();
    by_service.sort_by(|a, b| (&a.service, a.replica).cmp(&(&b.service, b.replica)));
    let host_addresses: HashMap<&str, Ipv4Addr> = inventory
        .hosts
        .iter()
        .filter_map(|host| {
            let address = host.address.as_deref()?.parse().ok()?;
            Some((host.name.as_str(), address))
        })
        .collect();
    // (host, sorted network keys, links) → the table.
    type ViewKey<'a> = (&'a str, Vec<&'a str>, &'a [String]);
    let mut views: HashMap<ViewKey, Arc<[HostEntry]>> = HashMap::new();
    let mut peers_of: HashMap<(Vec<&str>, &[String]), Vec<PeerNames>> = HashMap::new();
    containers
        .iter()
        .map(|viewer| {
            let mut networks: Vec<&str> = viewer.networks.iter().map(|n| n.key.as_str()).collect();
            networks.sort_unstable();
            networks.dedup();
            let links = project.services[&viewer.service].links.as_slice();
            let key = (viewer.host.as_str(), networks, links);
            if let Some(table) = views.get(&key) {
                return table.clone();
            }
            let peers = peers_of.entry((key.1.clone(), links)).or_insert_with(|| {
                peer_names(
                    project,
                    inventory.network.mode,
                    &host_addresses,
                    &key.1,
                    links,
                    &by_service,
                )
            });
            let table = name_table(&viewer.host, peers);
            views.insert(key, table.clone());
            table
        })
        .collect()
}

/// One peer's entries in the tables of viewers on some networks with some links.
struct PeerNames<'a> {
    /// The peer's host.
    host: &'a str,
    /// The address its names resolve to.
    address: Ipv4Addr,
    /// Its names, in table order.
    names: Vec<&'a str>,
}

/// For viewers on `networks` (sorted keys) whose service has `links`: every peer on a shared
/// network that has an address, in `by_service` order (every container sorted by service and
/// replica), with `<service>`, the container name, `container_name`'s value, `hostname`,
/// network aliases and link aliases. Addresses are the peer's on its first shared network
/// (routed mode) or the peer's host address.
fn peer_names<'a>(
    project: &'a Project,
    mode: NetworkMode,
    host_addresses: &HashMap<&str, Ipv4Addr>,
    networks: &[&str],
    links: &'a [String],
    by_service: &[&'a DesiredContainer],
) -> Vec<PeerNames<'a>> {
    let link_aliases: BTreeMap<&str, Vec<&str>> =
        links.iter().fold(BTreeMap::new(), |mut map, link| {
            let (target, alias) = link.split_once(':').unwrap_or((link, link));
            map.entry(target).or_insert_with(Vec::new).push(alias);
            map
        });
    let mut peers = Vec::new();
    for peer in by_service {
        // A one-off container (`nap run`) is nobody's peer.
        if super::one_off::is_one_off(&peer.labels) {
            continue;
        }
        let mut shared = peer
            .networks
            .iter()
            .filter(|n| networks.binary_search(&n.key.as_str()).is_ok())
            .peekable();
        let Some(first_shared) = shared.peek() else {
            continue;
        };
        let address = match mode {
            NetworkMode::Routed => match first_shared.ipv4_address {
                Some(address) => address,
                None => continue,
            },
            _ => match host_addresses.get(peer.host.as_str()) {
                Some(address) => *address,
                None => continue,
            },
        };
        let peer_service = &project.services[&peer.service];
        let names = [peer.service.as_str(), peer.name.as_str()]
            .into_iter()
            .chain(peer_service.hostname.as_deref())
            .chain(
                shared.flat_map(|attachment| attachment.aliases.iter().skip(1).map(String::as_str)),
            )
            .chain(
                link_aliases
                    .get(peer.service.as_str())
                    .into_iter()
                    .flatten()
                    .copied(),
            )
            .collect();
        peers.push(PeerNames {
            host: &peer.host,
            address,
            names,
        });
    }
    peers
}

/// FNV-1a, for the name tables' sets of short names (millions of lookups at 2,000
/// containers; SipHash's resistance to chosen keys buys nothing for names from the project).
struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Fnv {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl std::hash::Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.0 = (self.0 ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3);
        }
    }
}

type FnvBuild = std::hash::BuildHasherDefault<Fnv>;

/// The name table of a viewer on `host`, from [`peer_names`]: the same-host peers' entries
/// first, then the others'; each name once with all its addresses (each once), names in
/// first-seen order.
fn name_table(host: &str, peers: &[PeerNames<'_>]) -> Arc<[HostEntry]> {
    let same_host = peers.iter().filter(|peer| peer.host == host);
    let other_hosts = peers.iter().filter(|peer| peer.host != host);
    let mut groups: Vec<(&str, Vec<Ipv4Addr>)> = Vec::new();
    let mut group_of: HashMap<&str, usize, FnvBuild> = HashMap::default();
    let mut seen: HashSet<(&str, Ipv4Addr), FnvBuild> = HashSet::default();
    for peer in same_host.chain(other_hosts) {
        for name in &peer.names {
            if seen.insert((name, peer.address)) {
                let group = *group_of.entry(name).or_insert_with(|| {
                    groups.push((name, Vec::new()));
                    groups.len() - 1
                });
                groups[group].1.push(peer.address);
            }
        }
    }
    groups
        .into_iter()
        .flat_map(|(name, addresses)| {
            addresses.into_iter().map(move |address| HostEntry {
                name: name.to_string(),
                address,
            })
        })
        .collect()
}

/// Gives every container its name table and hosts file, and answers the hosts files every
/// host needs (by host, then file). A file is one per host and view: the viewer's networks,
/// links and own `extra_hosts` (the table depends on the first two, the file's lines on
/// all three), so 2,000 containers of one network on 200 hosts make 200 files. Containers
/// without project networks get none, except `network_mode: service:X`, which shares X's
/// network namespace and so reads the file of the replica of X beside it (mounted read-only
/// in it too, so it cannot write X's file either).
pub(super) fn set_name_tables(
    project: &Project,
    inventory: &Inventory,
    observed: &ObservedState,
    containers: &mut [DesiredContainer],
) -> Vec<DesiredHostsFile> {
    let tables = name_tables(project, inventory, containers);
    let gateways: HashMap<&str, Ipv4Addr> = observed
        .networks
        .iter()
        .filter(|network| network.name == "bridge")
        .filter_map(|network| Some((network.host.as_str(), network.gateway?)))
        .collect();
    let mut files: BTreeMap<(String, String), DesiredHostsFile> = BTreeMap::new();
    for (container, table) in containers.iter_mut().zip(tables) {
        container.extra_hosts = table;
        if container.networks.is_empty() {
            continue;
        }
        let mut networks: Vec<&str> = container.networks.iter().map(|n| n.key.as_str()).collect();
        networks.sort_unstable();
        networks.dedup();
        let service = &project.services[&container.service];
        let file = hosts_file::view_file_name(&networks, &service.links, &service.extra_hosts);
        files
            .entry((container.host.clone(), file.clone()))
            .or_insert_with(|| DesiredHostsFile {
                host: container.host.clone(),
                file: file.clone(),
                table: container.extra_hosts.clone(),
                extra_hosts: service.extra_hosts.clone(),
                host_gateway: gateways.get(container.host.as_str()).copied(),
            });
        container.hosts_file = Some(file);
    }
    // `network_mode: service:X`: the file of X's replica beside it (the one the spec's
    // `container:` reference names: replica ((n - 1) % replicas(X)) + 1).
    type FileAndTable = (Option<String>, Arc<[HostEntry]>);
    let of_replica: HashMap<(String, u32), FileAndTable> = containers
        .iter()
        .map(|c| {
            (
                (c.service.clone(), c.replica),
                (c.hosts_file.clone(), c.extra_hosts.clone()),
            )
        })
        .collect();
    let mut replicas: HashMap<&str, u32> = HashMap::new();
    for container in containers.iter() {
        *replicas.entry(container.service.as_str()).or_default() += 1;
    }
    let replicas: HashMap<String, u32> = replicas
        .into_iter()
        .map(|(service, count)| (service.to_string(), count))
        .collect();
    for container in containers.iter_mut() {
        let service = &project.services[&container.service];
        let Some(target) = service
            .network_mode
            .as_deref()
            .and_then(|mode| mode.strip_prefix("service:"))
        else {
            continue;
        };
        let Some(count) = replicas.get(target).copied().filter(|count| *count > 0) else {
            continue;
        };
        let replica = (container.replica - 1) % count + 1;
        if let Some((file, table)) = of_replica.get(&(target.to_string(), replica)) {
            container.hosts_file = file.clone();
            container.extra_hosts = table.clone();
        }
    }
    files.into_values().collect()
}
