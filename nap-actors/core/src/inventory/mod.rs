//! The host inventory: where nap may place containers, and how to reach each host.
//!
//! Read from `nap-hosts.yml` (found as `--hosts`, `$NAP_HOSTS`, or beside the first compose
//! file); with no inventory, the single local daemon named `local`. Validation errors name
//! the file, line, host and field. Relative paths (SSH identity, known_hosts, TLS files)
//! resolve against the inventory's folder. This module reads files through the compose
//! loader's [`FileSystem`](crate::compose::FileSystem) and connects to nothing.
//!
//! `mod.rs` holds the [`Inventory`] and its errors, and the implicit local inventory; `parse`
//! reads the file, `host`, `ssh`, `network` and `plugins` hold the types of each section,
//! `locate` finds the file.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Serialize;

use crate::compose::source::Location;
use crate::scheduler::Strategy;

mod host;
mod locate;
mod network;
mod parse;
mod plugins;
mod ssh;
#[cfg(test)]
mod tests;

pub use host::{DockerEndpoint, EndpointError, Host, TlsFiles};
pub use locate::{DEFAULT_INVENTORY_NAME, InventoryOrigin, LocatedInventory, locate_inventory};
pub use network::{CidrError, Ipv4Cidr, NetworkMode, NetworkSettings, default_pool};
pub use plugins::PluginEntry;
pub use ssh::{SshSettings, SshTarget, SshTargetError};

/// The name of the implicit host when there is no inventory.
pub const LOCAL_HOST_NAME: &str = "local";

/// The inventory.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Inventory {
    /// Hosts, in name order.
    pub hosts: Vec<Host>,
    /// SSH settings shared by all hosts.
    pub ssh: SshSettings,
    /// Cross-host networking.
    pub network: NetworkSettings,
    /// The project's default scheduling strategy.
    pub strategy: Strategy,
    /// Plugins to load (`.so` files), in order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub plugins: Vec<PluginEntry>,
    /// `allow_plain_tcp: true`: the inventory's `tcp://` daemons are a lab's on this machine,
    /// so plain HTTP is not warned about.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub allow_plain_tcp: bool,
    /// The file it came from; `None` for the implicit local host.
    #[serde(skip)]
    pub source: Option<PathBuf>,
    /// How nap came to read it: whether the user named it decides whether its `plugins:`
    /// may be loaded without asking.
    #[serde(skip)]
    pub origin: InventoryOrigin,
}

/// Why an inventory is invalid. Messages name the file, line, host and field.
#[derive(Debug, thiserror::Error)]
pub enum InventoryError {
    /// The file could not be read.
    #[error("{}: cannot read the host inventory: {error}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error (in the message, so not a separate `source`).
        error: std::io::Error,
    },
    /// Not valid YAML (duplicate host names are reported here too).
    #[error("{location}: invalid YAML in the host inventory: {message}")]
    Yaml {
        /// Where.
        location: Location,
        /// The parser's message.
        message: String,
    },
    /// A field is wrong.
    #[error("{location}: {field}: {message}")]
    Invalid {
        /// Where.
        location: Location,
        /// Dotted path (`hosts.h1.docker`).
        field: String,
        /// What is wrong.
        message: String,
    },
}

/// Why the implicit local inventory cannot be made: `DOCKER_HOST` is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("DOCKER_HOST: {source}")]
pub struct LocalInventoryError {
    /// What is wrong with the URL.
    #[source]
    pub source: EndpointError,
}

impl Inventory {
    /// The implicit inventory: the local daemon (`DOCKER_HOST` or the default socket).
    pub fn local(docker_host: Option<&str>) -> Result<Inventory, LocalInventoryError> {
        let docker = match docker_host.filter(|host| !host.is_empty()) {
            Some(url) => {
                DockerEndpoint::parse(url).map_err(|source| LocalInventoryError { source })?
            }
            None => DockerEndpoint::Unix {
                path: PathBuf::from("/var/run/docker.sock"),
            },
        };
        Ok(Inventory {
            hosts: vec![Host {
                name: LOCAL_HOST_NAME.to_string(),
                docker,
                ssh: None,
                address: None,
                labels: BTreeMap::new(),
                capacity: None,
                tls: None,
                builder: false,
            }],
            ssh: SshSettings::default(),
            network: NetworkSettings {
                mode: NetworkMode::Local,
                pool: default_pool(),
            },
            strategy: Strategy::Spread,
            plugins: Vec::new(),
            allow_plain_tcp: false,
            source: None,
            origin: InventoryOrigin::Local,
        })
    }

    /// A host by name.
    pub fn host(&self, name: &str) -> Option<&Host> {
        self.hosts.iter().find(|host| host.name == name)
    }

    /// Where images of `build:` services are built: the local daemon when a host is it (a
    /// `unix://` socket is a daemon on this machine, so the context never crosses a network),
    /// else the host marked `builder: true`, else the first host. `None` without hosts.
    pub fn builder(&self) -> Option<&Host> {
        self.hosts
            .iter()
            .find(|host| matches!(host.docker, DockerEndpoint::Unix { .. }))
            .or_else(|| self.hosts.iter().find(|host| host.builder))
            .or_else(|| self.hosts.first())
    }
}
