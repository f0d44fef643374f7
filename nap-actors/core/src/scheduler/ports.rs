//! Published host ports: what a replica reserves on its host, and when two collide.

use std::fmt;

use serde::{Deserialize, Serialize};

/// One fixed host port a replica publishes (`ports: ["80:8080"]`); ports
/// without a fixed host port do not collide and are not listed.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct PublishedPort {
    /// The host address it binds; `None`, `""`, `0.0.0.0` and `::` mean every
    /// address, and collide with any address on the same port and protocol.
    #[serde(default)]
    pub host_ip: Option<String>,
    /// The host port.
    pub port: u16,
    /// `tcp`, `udp` or `sctp`; compared case-insensitively, empty means `tcp`.
    #[serde(default = "default_protocol")]
    pub protocol: String,
}

/// The protocol of a port that names none.
pub(super) fn default_protocol() -> String {
    "tcp".to_string()
}

impl PublishedPort {
    /// A TCP port on every host address.
    pub fn tcp(port: u16) -> PublishedPort {
        PublishedPort {
            host_ip: None,
            port,
            protocol: default_protocol(),
        }
    }

    /// The port with its address and protocol normalized for comparison.
    pub(super) fn normalized(&self) -> NormalizedPort {
        let host_ip = self
            .host_ip
            .as_deref()
            .map(str::trim)
            .filter(|ip| !matches!(*ip, "" | "0.0.0.0" | "::" | "[::]"))
            .map(str::to_string);
        let protocol = self.protocol.trim().to_ascii_lowercase();
        NormalizedPort {
            host_ip,
            port: self.port,
            protocol: if protocol.is_empty() {
                default_protocol()
            } else {
                protocol
            },
        }
    }
}

impl fmt::Display for PublishedPort {
    /// `80/tcp`, `127.0.0.1:80/tcp`, `[::1]:53/udp`.
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let normalized = self.normalized();
        match &normalized.host_ip {
            Some(ip) if ip.contains(':') && !ip.starts_with('[') => write!(formatter, "[{ip}]:")?,
            Some(ip) => write!(formatter, "{ip}:")?,
            None => {}
        }
        write!(formatter, "{}/{}", normalized.port, normalized.protocol)
    }
}

/// A published port ready for comparison.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct NormalizedPort {
    /// `None` means every address.
    host_ip: Option<String>,
    /// The host port.
    pub(super) port: u16,
    /// Lowercase, never empty.
    protocol: String,
}

impl NormalizedPort {
    /// Whether two containers publishing these ports cannot share a host.
    pub(super) fn collides_with(&self, other: &NormalizedPort) -> bool {
        self.port == other.port
            && self.protocol == other.protocol
            && (self.host_ip.is_none() || other.host_ip.is_none() || self.host_ip == other.host_ip)
    }
}
