//! Name tables: every name a container must resolve (services, replicas, aliases, links)
//! and the address it resolves to from that container's host, shared between containers
//! that see the same table.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::Ipv4Addr;
use std::sync::Arc;

use serde::Serialize;

use crate::compose::Project;
use crate::inventory::{Inventory, NetworkMode};
use crate::plan::{DesiredContainer, ObservedContainer, extra_hosts_hash};

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

/// Whether an existing container holds `desired`'s name table: by its
/// [`LABEL_EXTRA_HOSTS_HASH`](crate::plan::LABEL_EXTRA_HOSTS_HASH) when it has one, else by its `extra_hosts` (containers created
/// before the label).
pub fn holds_table(existing: &ObservedContainer, desired: &DesiredContainer) -> bool {
    match &existing.extra_hosts_hash {
        Some(hash) => *hash == desired.extra_hosts_hash,
        None => extra_hosts_match(
            &existing.extra_hosts,
            &desired.service_extra_hosts,
            &desired.extra_hosts,
        ),
    }
}

/// Whether a container's `extra_hosts` as created are the service's own entries followed by
/// `table`, in order: what [`reconcile`](crate::plan::reconcile) checks to keep a container's name table.
pub fn extra_hosts_match(
    created: &[String],
    service_extra_hosts: &[String],
    table: &[HostEntry],
) -> bool {
    created.len() == service_extra_hosts.len() + table.len()
        && created[..service_extra_hosts.len()] == *service_extra_hosts
        && created[service_extra_hosts.len()..]
            .iter()
            .zip(table)
            .all(|(text, entry)| entry.is_extra_host(text))
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

/// Gives every container its name table (every name of every peer, same-host replicas
/// first) and that table's hash, computed once per distinct table and service entries.
pub(super) fn set_name_tables(
    project: &Project,
    inventory: &Inventory,
    containers: &mut [DesiredContainer],
) {
    let tables = name_tables(project, inventory, containers);
    for (container, table) in containers.iter_mut().zip(tables) {
        container.extra_hosts = table;
    }
    // Hashed once per distinct table and service entries, like the tables themselves.
    let mut hashes: HashMap<(*const HostEntry, &[String]), String> = HashMap::new();
    for container in containers.iter_mut() {
        let service = &project.services[&container.service];
        container.extra_hosts_hash = hashes
            .entry((
                container.extra_hosts.as_ptr(),
                service.extra_hosts.as_slice(),
            ))
            .or_insert_with(|| extra_hosts_hash(&service.extra_hosts, &container.extra_hosts))
            .clone();
    }
}
