//! One host: how its Docker API is reached ([`DockerEndpoint`], parsed as `DOCKER_HOST`
//! spells it), its TLS client files, and what the inventory says about it ([`Host`]).

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use serde::Serialize;

use super::*;
use crate::scheduler::Resources;

/// How a host's Docker API is reached.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum DockerEndpoint {
    /// `unix:///path/to/docker.sock`.
    Unix {
        /// The socket.
        path: PathBuf,
    },
    /// `tcp://host:port`: plain HTTP, unauthenticated (labs only).
    Tcp {
        /// Address or name.
        host: String,
        /// Port (default 2375).
        port: u16,
    },
    /// `https://host:port` (or `tcp://` with `tls:`): HTTP over TLS with client certificates.
    Https {
        /// Address or name.
        host: String,
        /// Port (default 2376).
        port: u16,
    },
    /// `ssh://user@host[:port]`: the API tunnelled over SSH to the host's socket.
    Ssh {
        /// SSH target.
        target: SshTarget,
    },
}

impl fmt::Display for DockerEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DockerEndpoint::Unix { path } => write!(f, "unix://{}", path.display()),
            DockerEndpoint::Tcp { host, port } => write!(f, "tcp://{host}:{port}"),
            DockerEndpoint::Https { host, port } => write!(f, "https://{host}:{port}"),
            DockerEndpoint::Ssh { target } => write!(f, "ssh://{target}"),
        }
    }
}

/// Why a Docker host URL cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EndpointError {
    /// The port is not a number from 0 to 65535.
    #[error("{url:?} has an invalid port {port:?}")]
    Port {
        /// The URL.
        url: String,
        /// The port as written.
        port: String,
    },
    /// `tcp://` or `https://` without a host.
    #[error("{url:?} has no host")]
    NoHost {
        /// The URL.
        url: String,
    },
    /// `unix://` without a path.
    #[error("{url:?} has no socket path")]
    NoSocketPath {
        /// The URL.
        url: String,
    },
    /// An `ssh://` URL whose target is wrong.
    #[error(transparent)]
    Ssh(#[from] SshTargetError),
    /// Another scheme.
    #[error("{url:?} is not a Docker host URL (expected unix://, tcp://, https:// or ssh://)")]
    Scheme {
        /// The URL.
        url: String,
    },
}

impl DockerEndpoint {
    /// Parses a Docker host URL as `DOCKER_HOST` spells it.
    pub fn parse(url: &str) -> Result<DockerEndpoint, EndpointError> {
        let split_host_port =
            |rest: &str, default_port: u16| -> Result<(String, u16), EndpointError> {
                let rest = rest.trim_end_matches('/');
                let (host, port) = match rest.rsplit_once(':') {
                    Some((host, port)) => (
                        host,
                        port.parse::<u16>().map_err(|_| EndpointError::Port {
                            url: url.to_string(),
                            port: port.to_string(),
                        })?,
                    ),
                    None => (rest, default_port),
                };
                if host.is_empty() {
                    return Err(EndpointError::NoHost {
                        url: url.to_string(),
                    });
                }
                Ok((host.to_string(), port))
            };
        if let Some(path) = url.strip_prefix("unix://") {
            if path.is_empty() {
                return Err(EndpointError::NoSocketPath {
                    url: url.to_string(),
                });
            }
            return Ok(DockerEndpoint::Unix {
                path: PathBuf::from(path),
            });
        }
        if let Some(rest) = url
            .strip_prefix("tcp://")
            .or_else(|| url.strip_prefix("http://"))
        {
            let (host, port) = split_host_port(rest, 2375)?;
            return Ok(DockerEndpoint::Tcp { host, port });
        }
        if let Some(rest) = url.strip_prefix("https://") {
            let (host, port) = split_host_port(rest, 2376)?;
            return Ok(DockerEndpoint::Https { host, port });
        }
        if let Some(rest) = url.strip_prefix("ssh://") {
            return Ok(DockerEndpoint::Ssh {
                target: SshTarget::parse(rest.trim_end_matches('/'))?,
            });
        }
        Err(EndpointError::Scheme {
            url: url.to_string(),
        })
    }

    /// The host part, for deriving the host's address.
    pub(super) fn host(&self) -> Option<&str> {
        match self {
            DockerEndpoint::Unix { .. } => None,
            DockerEndpoint::Tcp { host, .. } | DockerEndpoint::Https { host, .. } => Some(host),
            DockerEndpoint::Ssh { target } => Some(&target.address),
        }
    }
}

/// Client certificate files for `https://` daemons.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TlsFiles {
    /// CA certificate the daemon's certificate must chain to.
    pub ca: PathBuf,
    /// Client certificate.
    pub cert: PathBuf,
    /// Client key.
    pub key: PathBuf,
}

/// One Docker host.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Host {
    /// Its name in the inventory (`node.hostname` in constraints).
    pub name: String,
    /// How to reach its Docker API.
    pub docker: DockerEndpoint,
    /// How to reach it over SSH, for hosts-file patching and routes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ssh: Option<SshTarget>,
    /// The address other hosts reach it at (routes, published ports).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// Labels for placement constraints (`node.labels.K`).
    pub labels: BTreeMap<String, String>,
    /// Capacity for binpack, when declared.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub capacity: Option<Resources>,
    /// TLS client files.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsFiles>,
    /// `builder: true`: images of `build:` services are built here (unless a host is the
    /// local daemon; see [`Inventory::builder`]).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub builder: bool,
}
