//! The observed state: what the daemons hold for a project, read from their labels.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;

use serde::Serialize;

use crate::inventory::Ipv4Cidr;

/// One container as a daemon reports it (from its `nap.*` labels and inspect data).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ObservedContainer {
    /// Inventory host it runs on.
    pub host: String,
    /// Container id.
    pub id: String,
    /// Container name (without the leading `/`).
    pub name: String,
    /// `nap.service`.
    pub service: String,
    /// `nap.replica`.
    pub replica: u32,
    /// `nap.config-hash`.
    pub config_hash: String,
    /// Docker's state: `running`, `exited`, `created`, `restarting`, `paused`, `dead`.
    pub state: String,
    /// Exit code, for exited containers.
    pub exit_code: Option<i64>,
    /// Address on each Docker network, by Docker network name.
    pub addresses: BTreeMap<String, Ipv4Addr>,
    /// The image it was created from, as the listing reports it.
    pub image: String,
    /// Its [`LABEL_HOSTS_FILE`](crate::plan::LABEL_HOSTS_FILE): the nap hosts file it reads,
    /// when it has one.
    pub hosts_file: Option<String>,
}

/// One Docker network on a host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ObservedNetwork {
    /// Inventory host.
    pub host: String,
    /// Docker network name.
    pub name: String,
    /// Its IPv4 subnet, when it has one.
    pub subnet: Option<Ipv4Cidr>,
    /// Its IPv4 gateway, when the daemon reports one (the default `bridge` network's is what
    /// `host-gateway` stands for).
    pub gateway: Option<Ipv4Addr>,
    /// `nap.project`, when nap made it.
    pub project: Option<String>,
}

/// One image under one reference on one host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ObservedImage {
    /// The image ID (`sha256:…`).
    pub id: String,
    /// Its [`LABEL_BUILD_HASH`](crate::build::LABEL_BUILD_HASH), when nap built it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub build_hash: Option<String>,
}

/// What the daemons hold, read from labels: the state nap reconciles against.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ObservedState {
    /// The project's containers on every reachable host.
    pub containers: Vec<ObservedContainer>,
    /// Every network on every reachable host (all of them, so subnets never collide).
    pub networks: Vec<ObservedNetwork>,
    /// Named volumes present, as (host, volume name).
    pub volumes: BTreeSet<(String, String)>,
    /// Images present, as (host, image reference).
    pub images: BTreeSet<(String, String)>,
    /// The same images' IDs and build hashes, by (host, image reference).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub image_details: BTreeMap<(String, String), ObservedImage>,
    /// Named volumes labelled with the project, as (host, volume name): what `down -v`
    /// removes.
    pub project_volumes: BTreeSet<(String, String)>,
    /// The project's one-off containers (`nap run`): never replicas, but their addresses are
    /// taken and `down` removes them.
    pub one_offs: Vec<ObservedContainer>,
}

impl ObservedState {
    /// Adds another host's observations.
    pub fn merge(&mut self, other: ObservedState) {
        self.containers.extend(other.containers);
        self.networks.extend(other.networks);
        self.volumes.extend(other.volumes);
        self.images.extend(other.images);
        self.image_details.extend(other.image_details);
        self.project_volumes.extend(other.project_volumes);
        self.one_offs.extend(other.one_offs);
    }
}
