//! The host inventory: where nap may place containers, and how to reach each host.
//!
//! Read from `nap-hosts.yml` (found as `--hosts`, `$NAP_HOSTS`, or beside the first compose
//! file); with no inventory, the single local daemon named `local`. Validation errors name
//! the file, line, host and field. Relative paths (SSH identity, known_hosts, TLS files)
//! resolve against the inventory's folder. This module reads files through the compose
//! loader's [`FileSystem`] and connects to nothing.

use std::collections::BTreeMap;
use std::fmt;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_yaml::Value;

use crate::compose::source::{Location, MAX_NESTING, SourceMap};
use crate::compose::{FileSystem, Warning, names};
use crate::scheduler::{Resources, Strategy};
use crate::units;

/// The file name looked for beside the first compose file.
pub const DEFAULT_INVENTORY_NAME: &str = "nap-hosts.yml";

/// The name of the implicit host when there is no inventory.
pub const LOCAL_HOST_NAME: &str = "local";

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
    fn host(&self) -> Option<&str> {
        match self {
            DockerEndpoint::Unix { .. } => None,
            DockerEndpoint::Tcp { host, .. } | DockerEndpoint::Https { host, .. } => Some(host),
            DockerEndpoint::Ssh { target } => Some(&target.address),
        }
    }
}

/// `user@address[:port]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SshTarget {
    /// Login user (default `root`).
    pub user: String,
    /// Address or name.
    pub address: String,
    /// Port (default 22).
    pub port: u16,
}

/// Why an SSH target cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SshTargetError {
    /// `@address` with nothing before the `@`.
    #[error("{text:?} has an empty user")]
    EmptyUser {
        /// The target as written.
        text: String,
    },
    /// The port is not a number from 0 to 65535.
    #[error("{text:?} has an invalid port {port:?}")]
    Port {
        /// The target as written.
        text: String,
        /// The port as written.
        port: String,
    },
    /// No address.
    #[error("{text:?} has no address")]
    NoAddress {
        /// The target as written.
        text: String,
    },
}

impl SshTarget {
    /// Parses `[user@]address[:port]`.
    pub fn parse(text: &str) -> Result<SshTarget, SshTargetError> {
        let (user, rest) = match text.split_once('@') {
            Some((user, rest)) if !user.is_empty() => (user.to_string(), rest),
            Some(_) => {
                return Err(SshTargetError::EmptyUser {
                    text: text.to_string(),
                });
            }
            None => ("root".to_string(), text),
        };
        let (address, port) = match rest.rsplit_once(':') {
            Some((address, port)) if !address.contains(':') => (
                address.to_string(),
                port.parse::<u16>().map_err(|_| SshTargetError::Port {
                    text: text.to_string(),
                    port: port.to_string(),
                })?,
            ),
            _ => (rest.to_string(), 22),
        };
        if address.is_empty() {
            return Err(SshTargetError::NoAddress {
                text: text.to_string(),
            });
        }
        Ok(SshTarget {
            user,
            address,
            port,
        })
    }
}

impl fmt::Display for SshTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.port == 22 {
            write!(f, "{}@{}", self.user, self.address)
        } else {
            write!(f, "{}@{}:{}", self.user, self.address, self.port)
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
}

/// How containers on different hosts reach each other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum NetworkMode {
    /// Each host owns a subnet of the pool; nap routes the subnets between hosts (like
    /// flannel's host-gw) and names resolve to container addresses.
    Routed,
    /// Names resolve to the host's address; services reach each other on published ports.
    Published,
    /// One daemon: Docker's own DNS on the project network, as in compose.
    Local,
}

/// An IPv4 network in CIDR form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Ipv4Cidr {
    /// The network address (host bits zero).
    pub network: Ipv4Addr,
    /// Prefix length.
    pub prefix: u8,
}

/// Why a network in CIDR form cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CidrError {
    /// No `/`.
    #[error("{text:?} is not in CIDR form (a.b.c.d/n)")]
    NotCidr {
        /// The text.
        text: String,
    },
    /// The part before `/` is not an IPv4 address.
    #[error("{text:?} has an invalid address")]
    Address {
        /// The text.
        text: String,
    },
    /// The part after `/` is not a number from 0 to 32.
    #[error("{text:?} has an invalid prefix length")]
    Prefix {
        /// The text.
        text: String,
    },
    /// The address has bits set past the prefix.
    #[error("{text:?} has host bits set (did you mean {network}?)")]
    HostBits {
        /// The text.
        text: String,
        /// The network the text probably meant.
        network: Ipv4Cidr,
    },
}

impl Ipv4Cidr {
    /// Parses `a.b.c.d/n`; host bits must be zero.
    pub fn parse(text: &str) -> Result<Ipv4Cidr, CidrError> {
        let (address, prefix) = text.split_once('/').ok_or_else(|| CidrError::NotCidr {
            text: text.to_string(),
        })?;
        let network: Ipv4Addr = address.parse().map_err(|_| CidrError::Address {
            text: text.to_string(),
        })?;
        let prefix: u8 =
            prefix
                .parse()
                .ok()
                .filter(|p| *p <= 32)
                .ok_or_else(|| CidrError::Prefix {
                    text: text.to_string(),
                })?;
        let cidr = Ipv4Cidr { network, prefix };
        if u32::from(network) & !cidr.mask() != 0 {
            return Err(CidrError::HostBits {
                text: text.to_string(),
                network: Ipv4Cidr {
                    network: Ipv4Addr::from(u32::from(network) & cidr.mask()),
                    prefix,
                },
            });
        }
        Ok(cidr)
    }

    fn mask(&self) -> u32 {
        if self.prefix == 0 {
            0
        } else {
            u32::MAX << (32 - u32::from(self.prefix))
        }
    }

    /// Whether `address` is inside.
    pub fn contains(&self, address: Ipv4Addr) -> bool {
        u32::from(address) & self.mask() == u32::from(self.network)
    }

    /// How many subnets of `prefix` it holds.
    pub fn subnet_count(&self, prefix: u8) -> u64 {
        if prefix < self.prefix {
            0
        } else {
            1u64 << (prefix - self.prefix)
        }
    }

    /// The `index`th subnet of length `prefix`.
    pub fn subnet(&self, prefix: u8, index: u64) -> Option<Ipv4Cidr> {
        if index >= self.subnet_count(prefix) || prefix > 32 {
            return None;
        }
        let size = 1u64 << (32 - u32::from(prefix));
        let start = u64::from(u32::from(self.network)) + index * size;
        Some(Ipv4Cidr {
            network: Ipv4Addr::from(u32::try_from(start).ok()?),
            prefix,
        })
    }

    /// The `offset`th address of the network (`.1` is offset 1).
    pub fn address(&self, offset: u32) -> Option<Ipv4Addr> {
        let size = 1u64 << (32 - u32::from(self.prefix));
        (u64::from(offset) < size).then(|| Ipv4Addr::from(u32::from(self.network) + offset))
    }

    /// Whether two networks overlap.
    pub fn overlaps(&self, other: &Ipv4Cidr) -> bool {
        self.contains(other.network) || other.contains(self.network)
    }
}

impl fmt::Display for Ipv4Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

impl Serialize for Ipv4Cidr {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// `network:` settings.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NetworkSettings {
    /// Routed, published or local.
    pub mode: NetworkMode,
    /// Routed mode: the pool project-network subnets (one /24 per network and host) come from.
    pub pool: Ipv4Cidr,
}

/// `ssh:` settings.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SshSettings {
    /// Private key; default: the user's keys and agent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub identity: Option<PathBuf>,
    /// known_hosts file; default `~/.ssh/known_hosts`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub known_hosts: Option<PathBuf>,
}

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
    /// The file it came from; `None` for the implicit local host.
    #[serde(skip)]
    pub source: Option<PathBuf>,
    /// How nap came to read it: whether the user named it decides whether its `plugins:`
    /// may be loaded without asking.
    #[serde(skip)]
    pub origin: InventoryOrigin,
}

/// How the inventory was chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum InventoryOrigin {
    /// No file: the implicit local host.
    #[default]
    Local,
    /// Named by the user with `--hosts`.
    Flag,
    /// Named by the user with `$NAP_HOSTS`.
    Environment,
    /// Found by nap beside the first compose file; it came with the project (perhaps a
    /// cloned repository), so nap does not run code it lists without consent.
    Discovered,
}

impl InventoryOrigin {
    /// Whether the user named the file (`--hosts`, `$NAP_HOSTS`).
    pub fn named_by_user(self) -> bool {
        matches!(self, InventoryOrigin::Flag | InventoryOrigin::Environment)
    }
}

/// An inventory file and how it was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocatedInventory {
    /// The file.
    pub path: PathBuf,
    /// How it was found.
    pub origin: InventoryOrigin,
}

/// A plugin the inventory loads: `- path.so` or `- {path: path.so, config: {...}, optional: true}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PluginEntry {
    /// The `.so` file (relative paths resolve against the inventory's folder).
    pub path: PathBuf,
    /// Settings handed to the plugin with every call.
    pub config: serde_json::Value,
    /// A failing `schedule` hook falls back to nap's own choice.
    pub optional: bool,
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

/// The default routed pool.
pub fn default_pool() -> Ipv4Cidr {
    Ipv4Cidr {
        network: Ipv4Addr::new(172, 30, 0, 0),
        prefix: 16,
    }
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
            }],
            ssh: SshSettings::default(),
            network: NetworkSettings {
                mode: NetworkMode::Local,
                pool: default_pool(),
            },
            strategy: Strategy::Spread,
            plugins: Vec::new(),
            source: None,
            origin: InventoryOrigin::Local,
        })
    }

    /// A host by name.
    pub fn host(&self, name: &str) -> Option<&Host> {
        self.hosts.iter().find(|host| host.name == name)
    }

    /// Reads and validates an inventory file.
    pub fn read(
        path: &Path,
        fs: &dyn FileSystem,
    ) -> Result<(Inventory, Vec<Warning>), InventoryError> {
        let text = fs
            .read_to_string(path)
            .map_err(|error| InventoryError::Read {
                path: path.to_path_buf(),
                error,
            })?;
        Inventory::parse(path, &text)
    }

    /// Parses inventory text that came from `path`.
    pub fn parse(path: &Path, text: &str) -> Result<(Inventory, Vec<Warning>), InventoryError> {
        let map = SourceMap::build(path, text);
        if let Some(line) = map.too_deep() {
            return Err(InventoryError::Yaml {
                location: Location {
                    file: path.to_path_buf(),
                    line: Some(line),
                },
                message: format!("lists and mappings nested more than {MAX_NESTING} deep"),
            });
        }
        let base_dir = path.parent().unwrap_or(Path::new("/"));
        let value: Value = serde_yaml::from_str(text).map_err(|error| InventoryError::Yaml {
            location: Location::of_yaml_error(path, text, &error),
            message: error.to_string(),
        })?;
        let reader = Reader { map: &map };
        let mut warnings = Vec::new();
        let mut inventory = Inventory {
            hosts: Vec::new(),
            ssh: SshSettings::default(),
            network: NetworkSettings {
                mode: NetworkMode::Routed,
                pool: default_pool(),
            },
            strategy: Strategy::Spread,
            plugins: Vec::new(),
            source: Some(path.to_path_buf()),
            origin: InventoryOrigin::Discovered,
        };
        let resolve = |raw: &str| crate::compose::normalize_path(&base_dir.join(raw));
        let mut saw_hosts = false;
        for (key, entry) in reader.mapping("", &value)? {
            match key.as_str() {
                "hosts" => {
                    saw_hosts = true;
                    for (name, host) in reader.mapping("hosts", entry)? {
                        inventory
                            .hosts
                            .push(reader.host(&name, host, &resolve, &mut warnings)?);
                    }
                }
                "ssh" => {
                    for (field, value) in reader.mapping("ssh", entry)? {
                        let path = format!("ssh.{field}");
                        match field.as_str() {
                            "identity" => {
                                inventory.ssh.identity =
                                    Some(resolve(&reader.string(&path, value)?))
                            }
                            "known_hosts" => {
                                inventory.ssh.known_hosts =
                                    Some(resolve(&reader.string(&path, value)?))
                            }
                            other => {
                                return Err(reader.invalid(
                                    &path,
                                    format!(
                                        "unknown field {other:?} (expected identity or known_hosts)"
                                    ),
                                ));
                            }
                        }
                    }
                }
                "network" => {
                    for (field, value) in reader.mapping("network", entry)? {
                        let path = format!("network.{field}");
                        match field.as_str() {
                            "mode" => {
                                inventory.network.mode = match reader.string(&path, value)?.as_str() {
                                    "routed" => NetworkMode::Routed,
                                    "published" => NetworkMode::Published,
                                    "local" => NetworkMode::Local,
                                    other => return Err(reader.invalid(&path, format!("unknown mode {other:?} (expected routed, published or local)"))),
                                }
                            }
                            "pool" => {
                                let pool = Ipv4Cidr::parse(&reader.string(&path, value)?)
                                    .map_err(|message| reader.invalid(&path, message))?;
                                if pool.prefix > 24 {
                                    return Err(reader.invalid(&path, format!("pool {pool} is smaller than one /24; nap gives each network on each host a /24")));
                                }
                                inventory.network.pool = pool;
                            }
                            other => return Err(reader.invalid(&path, format!("unknown field {other:?} (expected mode or pool)"))),
                        }
                    }
                }
                "strategy" => {
                    inventory.strategy = match reader.string("strategy", entry)?.as_str() {
                        "spread" => Strategy::Spread,
                        "binpack" => Strategy::Binpack,
                        other => {
                            return Err(reader.invalid(
                                "strategy",
                                format!("unknown strategy {other:?} (expected spread or binpack)"),
                            ));
                        }
                    }
                }
                "plugins" => {
                    let Value::Sequence(items) = entry else {
                        return Err(reader.invalid("plugins", "must be a list of .so paths"));
                    };
                    for (index, item) in items.iter().enumerate() {
                        let field = format!("plugins[{index}]");
                        let entry = match item {
                            Value::Mapping(map) => {
                                let mut path = None;
                                let mut config = serde_json::Value::Null;
                                let mut optional = false;
                                for (key, value) in map {
                                    match key.as_str().unwrap_or_default() {
                                        "path" => {
                                            path = Some(resolve(
                                                &reader.string(&format!("{field}.path"), value)?,
                                            ));
                                        }
                                        "config" => {
                                            config =
                                                serde_json::to_value(value).map_err(|error| {
                                                    reader.invalid(
                                                        &format!("{field}.config"),
                                                        error.to_string(),
                                                    )
                                                })?;
                                        }
                                        "optional" => {
                                            optional = value.as_bool().ok_or_else(|| {
                                                reader.invalid(
                                                    &format!("{field}.optional"),
                                                    "must be true or false",
                                                )
                                            })?;
                                        }
                                        other => {
                                            return Err(reader.invalid(
                                                &field,
                                                format!("unknown plugin field {other:?} (expected path, config or optional)"),
                                            ));
                                        }
                                    }
                                }
                                let Some(path) = path else {
                                    return Err(reader.invalid(&field, "a plugin needs a path"));
                                };
                                PluginEntry {
                                    path,
                                    config,
                                    optional,
                                }
                            }
                            other => PluginEntry {
                                path: resolve(&reader.string(&field, other)?),
                                config: serde_json::Value::Null,
                                optional: false,
                            },
                        };
                        inventory.plugins.push(entry);
                    }
                }
                other => {
                    return Err(reader.invalid(other, format!("unknown top-level field {other:?} (expected hosts, ssh, network, strategy or plugins)")));
                }
            }
        }
        if !saw_hosts || inventory.hosts.is_empty() {
            return Err(reader.invalid("hosts", "the inventory lists no hosts".to_string()));
        }
        inventory.hosts.sort_by(|a, b| a.name.cmp(&b.name));
        if inventory.network.mode == NetworkMode::Local && inventory.hosts.len() > 1 {
            return Err(reader.invalid(
                "network.mode",
                "mode local works with one host only; use routed or published",
            ));
        }
        let subnets_needed = inventory.hosts.len() as u64;
        if inventory.network.pool.subnet_count(24) < subnets_needed {
            return Err(reader.invalid(
                "network.pool",
                format!(
                    "pool {} has {} /24 subnets, fewer than the {} hosts",
                    inventory.network.pool,
                    inventory.network.pool.subnet_count(24),
                    subnets_needed
                ),
            ));
        }
        if matches!(
            inventory.network.mode,
            NetworkMode::Routed | NetworkMode::Published
        ) {
            for host in &inventory.hosts {
                if host.address.is_none() {
                    return Err(reader.invalid(&format!("hosts.{}", host.name), format!(
                        "host {:?} needs an address (set `address:`, or use a tcp://, https:// or ssh:// docker URL, or ssh:) for {} networking",
                        host.name,
                        if inventory.network.mode == NetworkMode::Routed { "routed" } else { "published" }
                    )));
                }
                if inventory.network.mode == NetworkMode::Routed
                    && host.ssh.is_none()
                    && inventory.hosts.len() > 1
                {
                    return Err(reader.invalid(&format!("hosts.{}", host.name), format!(
                        "host {:?} needs ssh: in routed mode (nap installs the routes between hosts over SSH); or use network.mode: published",
                        host.name
                    )));
                }
            }
        }
        Ok((inventory, warnings))
    }
}

/// Why a host label is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
enum LabelError {
    /// The key holds something other than letters, digits, `.`, `_` and `-`.
    #[error("label key {key:?} may use only letters, digits, '.', '_' and '-'")]
    Key { key: String },
    /// The value is too long or holds a control character.
    #[error(
        "label {key:?}: value {value:?} must be at most 1024 characters without control characters"
    )]
    Value { key: String, value: String },
}

/// A host label: the key letters, digits, `.`, `_` and `-` (what `node.labels.<key>` can
/// name); the value at most 1024 characters, without control characters (no line breaks).
fn check_label(key: &str, value: &str) -> Result<(), LabelError> {
    if key.is_empty()
        || !key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
    {
        return Err(LabelError::Key {
            key: key.to_string(),
        });
    }
    if value.chars().count() > 1024 || value.chars().any(char::is_control) {
        return Err(LabelError::Value {
            key: key.to_string(),
            value: value.to_string(),
        });
    }
    Ok(())
}

struct Reader<'a> {
    map: &'a SourceMap,
}

impl Reader<'_> {
    fn invalid(&self, path: &str, message: impl fmt::Display) -> InventoryError {
        InventoryError::Invalid {
            location: self.map.locate(path),
            field: path.to_string(),
            message: message.to_string(),
        }
    }

    fn mapping<'v>(
        &self,
        path: &str,
        value: &'v Value,
    ) -> Result<Vec<(String, &'v Value)>, InventoryError> {
        match value {
            Value::Mapping(mapping) => mapping
                .iter()
                .map(|(key, value)| match key {
                    Value::String(key) => Ok((key.clone(), value)),
                    Value::Number(number) => Ok((number.to_string(), value)),
                    _ => Err(self.invalid(path, "keys must be strings")),
                })
                .collect(),
            Value::Null => Ok(Vec::new()),
            _ => Err(self.invalid(
                if path.is_empty() { "(top level)" } else { path },
                "must be a mapping",
            )),
        }
    }

    fn string(&self, path: &str, value: &Value) -> Result<String, InventoryError> {
        match value {
            Value::String(text) => Ok(text.clone()),
            Value::Number(number) => Ok(number.to_string()),
            Value::Bool(flag) => Ok(flag.to_string()),
            _ => Err(self.invalid(path, "must be a string")),
        }
    }

    fn host(
        &self,
        name: &str,
        value: &Value,
        resolve: &dyn Fn(&str) -> PathBuf,
        warnings: &mut Vec<Warning>,
    ) -> Result<Host, InventoryError> {
        let base = format!("hosts.{name}");
        if let Err(reason) = names::check_host_name(name) {
            return Err(self.invalid(
                &format!("hosts.{}", name.escape_debug()),
                format!("host name {reason}"),
            ));
        }
        let mut docker = None;
        let mut ssh = None;
        let mut address = None;
        let mut labels = BTreeMap::new();
        let mut capacity = None;
        let mut tls_fields: BTreeMap<String, PathBuf> = BTreeMap::new();
        for (field, value) in self.mapping(&base, value)? {
            let path = format!("{base}.{field}");
            match field.as_str() {
                "docker" => {
                    docker = Some(DockerEndpoint::parse(&self.string(&path, value)?).map_err(
                        |message| self.invalid(&path, format!("host {name:?}: {message}")),
                    )?)
                }
                "ssh" => {
                    let target =
                        SshTarget::parse(&self.string(&path, value)?).map_err(|message| {
                            self.invalid(&path, format!("host {name:?}: {message}"))
                        })?;
                    names::check_user_name(&target.user)
                        .and_then(|()| names::check_address(&target.address))
                        .map_err(|message| {
                            self.invalid(&path, format!("host {name:?}: {message}"))
                        })?;
                    ssh = Some(target);
                }
                "address" => {
                    let text = self.string(&path, value)?;
                    names::check_address(&text).map_err(|message| {
                        self.invalid(&path, format!("host {name:?}: {message}"))
                    })?;
                    address = Some(text);
                }
                "labels" => {
                    for (key, value) in self.mapping(&path, value)? {
                        let label_path = format!("{path}.{}", key.escape_debug());
                        let label = self.string(&label_path, value)?;
                        check_label(&key, &label).map_err(|message| {
                            self.invalid(&label_path, format!("host {name:?}: {message}"))
                        })?;
                        labels.insert(key, label);
                    }
                }
                "resources" => {
                    let mut resources = Resources::default();
                    for (key, value) in self.mapping(&path, value)? {
                        let field_path = format!("{path}.{key}");
                        let text = self.string(&field_path, value)?;
                        match key.as_str() {
                            "cpus" => resources.nano_cpus = units::parse_nano_cpus(&text).map_err(|m| self.invalid(&field_path, format!("host {name:?}: {m}")))?,
                            "memory" => resources.memory_bytes = units::parse_bytes(&text).map_err(|m| self.invalid(&field_path, format!("host {name:?}: {m}")))?,
                            other => return Err(self.invalid(&field_path, format!("host {name:?}: unknown resource {other:?} (expected cpus or memory)"))),
                        }
                    }
                    capacity = Some(resources);
                }
                "tls" => {
                    for (key, value) in self.mapping(&path, value)? {
                        let field_path = format!("{path}.{key}");
                        if !matches!(key.as_str(), "ca" | "cert" | "key") {
                            return Err(self.invalid(&field_path, format!("host {name:?}: unknown tls field {key:?} (expected ca, cert and key)")));
                        }
                        tls_fields.insert(key, resolve(&self.string(&field_path, value)?));
                    }
                }
                other => {
                    return Err(self.invalid(&path, format!(
                        "host {name:?}: unknown field {other:?} (expected docker, ssh, address, labels, resources or tls)"
                    )));
                }
            }
        }
        let docker = docker
            .ok_or_else(|| self.invalid(&base, format!("host {name:?} has no docker: URL")))?;
        let docker_address = match &docker {
            DockerEndpoint::Ssh { target } => names::check_user_name(&target.user)
                .and_then(|()| names::check_address(&target.address)),
            other => other.host().map_or(Ok(()), names::check_address),
        };
        docker_address.map_err(|message| {
            self.invalid(
                &format!("{base}.docker"),
                format!("host {name:?}: {message}"),
            )
        })?;
        let tls = if tls_fields.is_empty() {
            None
        } else {
            let mut take = |key: &str| {
                tls_fields.remove(key).ok_or_else(|| {
                    self.invalid(
                        &format!("{base}.tls"),
                        format!("host {name:?}: tls needs ca, cert and key (missing {key})"),
                    )
                })
            };
            Some(TlsFiles {
                ca: take("ca")?,
                cert: take("cert")?,
                key: take("key")?,
            })
        };
        let docker = match (docker, &tls) {
            (DockerEndpoint::Tcp { host, port }, Some(_)) => DockerEndpoint::Https { host, port },
            (DockerEndpoint::Https { .. }, None) => {
                return Err(self.invalid(
                    &format!("{base}.docker"),
                    format!("host {name:?}: an https:// daemon needs tls: {{ca, cert, key}}"),
                ));
            }
            (docker, _) => docker,
        };
        if let DockerEndpoint::Tcp { .. } = docker {
            warnings.push(Warning {
                location: self.map.locate(&format!("{base}.docker")),
                message: format!(
                    "host {name:?}: {docker} is plain, unauthenticated HTTP; use https:// with tls: or ssh:// outside a lab"
                ),
            });
        }
        let address = address
            .or_else(|| {
                ssh.as_ref()
                    .map(|target: &SshTarget| target.address.clone())
            })
            .or_else(|| docker.host().map(str::to_string));
        Ok(Host {
            name: name.to_string(),
            docker,
            ssh,
            address,
            labels,
            capacity,
            tls,
        })
    }
}

/// Finds the inventory: `--hosts`, else `$NAP_HOSTS`, else `nap-hosts.yml` beside the first
/// compose file. `None` means the implicit local host.
pub fn locate_inventory(
    explicit: Option<&Path>,
    env_value: Option<&str>,
    compose_dir: &Path,
    fs: &dyn FileSystem,
) -> Option<LocatedInventory> {
    let located = |path: PathBuf, origin| Some(LocatedInventory { path, origin });
    if let Some(path) = explicit {
        return located(path.to_path_buf(), InventoryOrigin::Flag);
    }
    if let Some(path) = env_value.filter(|value| !value.is_empty()) {
        return located(PathBuf::from(path), InventoryOrigin::Environment);
    }
    let beside = compose_dir.join(DEFAULT_INVENTORY_NAME);
    if fs.is_file(&beside) {
        return located(beside, InventoryOrigin::Discovered);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const LAB: &str = "hosts:
  h1:
    docker: tcp://10.210.0.11:2375
    ssh: root@10.210.0.11
    labels: {zone: a}
  h2:
    docker: unix:///run/h2/docker.sock
    ssh: admin@10.210.0.12:2222
    labels: {zone: b}
ssh:
  identity: id_ed25519
  known_hosts: known_hosts
network:
  mode: routed
  pool: 172.30.0.0/16
";

    fn parse(text: &str) -> Result<Inventory, InventoryError> {
        Inventory::parse(Path::new("/lab/nap-hosts.yml"), text).map(|(inventory, _)| inventory)
    }

    #[test]
    fn reads_the_documented_form() {
        let inventory = parse(LAB).unwrap();
        assert_eq!(inventory.hosts.len(), 2);
        let h2 = inventory.host("h2").unwrap();
        assert_eq!(
            h2.docker,
            DockerEndpoint::Unix {
                path: "/run/h2/docker.sock".into()
            }
        );
        assert_eq!(h2.ssh.as_ref().unwrap().port, 2222);
        assert_eq!(h2.address.as_deref(), Some("10.210.0.12"));
        assert_eq!(
            inventory.ssh.identity.as_deref(),
            Some(Path::new("/lab/id_ed25519"))
        );
        assert_eq!(inventory.network.pool.to_string(), "172.30.0.0/16");
        assert_eq!(inventory.host("h1").unwrap().labels["zone"], "a");
    }

    #[test]
    fn errors_name_host_field_and_line() {
        let text = LAB.replace("unix:///run/h2/docker.sock", "ftp://x");
        let message = parse(&text).unwrap_err().to_string();
        assert!(
            message.starts_with("/lab/nap-hosts.yml:7: hosts.h2.docker: host \"h2\""),
            "{message}"
        );
        let text = LAB.replace("pool: 172.30.0.0/16", "pool: 172.30.0.1/16");
        let message = parse(&text).unwrap_err().to_string();
        assert!(
            message.contains(":15: network.pool") && message.contains("host bits"),
            "{message}"
        );
        let text = LAB.replace("  h2:", "  h1:");
        let message = parse(&text).unwrap_err().to_string();
        assert!(
            message.contains("duplicate") || message.contains("duplicated"),
            "{message}"
        );
        let message = parse("hosts:\n  a:\n    ssh: x\n").unwrap_err().to_string();
        assert!(message.contains("has no docker"), "{message}");
        let message = parse("hosts:\n  a:\n    docker: unix:///s\n    bogus: 1\n")
            .unwrap_err()
            .to_string();
        assert!(message.contains(":4: hosts.a.bogus"), "{message}");
    }

    #[test]
    fn deep_nesting_is_refused_before_serde_yaml() {
        let text = format!("hosts:\n  a:\n    labels: {}\n", "[".repeat(50_000));
        let message = parse(&text).unwrap_err().to_string();
        assert_eq!(
            message,
            "/lab/nap-hosts.yml:3: invalid YAML in the host inventory: lists and mappings nested more than 128 deep"
        );
    }

    #[test]
    fn routed_mode_needs_addresses_and_ssh() {
        let text = "hosts:\n  a:\n    docker: unix:///a.sock\n  b:\n    docker: unix:///b.sock\n";
        let message = parse(text).unwrap_err().to_string();
        assert!(message.contains("needs an address"), "{message}");
        let text = "hosts:\n  a:\n    docker: tcp://10.0.0.1:2375\n  b:\n    docker: tcp://10.0.0.2:2375\n";
        let message = parse(text).unwrap_err().to_string();
        assert!(message.contains("needs ssh"), "{message}");
        let text = format!("{text}network: {{mode: published}}\n");
        assert!(parse(&text).is_ok());
    }

    #[test]
    fn endpoints_and_cidrs() {
        assert_eq!(
            DockerEndpoint::parse("tcp://10.0.0.1").unwrap(),
            DockerEndpoint::Tcp {
                host: "10.0.0.1".into(),
                port: 2375
            }
        );
        assert_eq!(
            DockerEndpoint::parse("https://d.example:3000").unwrap(),
            DockerEndpoint::Https {
                host: "d.example".into(),
                port: 3000
            }
        );
        assert!(DockerEndpoint::parse("tcp://:99").is_err());
        let pool = Ipv4Cidr::parse("172.30.0.0/16").unwrap();
        assert_eq!(pool.subnet(24, 3).unwrap().to_string(), "172.30.3.0/24");
        assert_eq!(pool.subnet_count(24), 256);
        assert!(pool.subnet(24, 256).is_none());
        assert_eq!(
            pool.subnet(24, 1).unwrap().address(7).unwrap().to_string(),
            "172.30.1.7"
        );
        assert!(Ipv4Cidr::parse("10.0.0.0/33").is_err());
    }

    #[test]
    fn local_default() {
        let inventory = Inventory::local(None).unwrap();
        assert_eq!(inventory.hosts[0].name, "local");
        assert_eq!(inventory.network.mode, NetworkMode::Local);
        let inventory = Inventory::local(Some("tcp://127.0.0.1:2375")).unwrap();
        assert!(matches!(
            inventory.hosts[0].docker,
            DockerEndpoint::Tcp { .. }
        ));
    }

    #[test]
    fn the_origin_says_whether_the_user_named_the_inventory() {
        use crate::compose::MemoryFileSystem;
        let fs = MemoryFileSystem::default().with("/app/nap-hosts.yml", "hosts: {}\n");
        let locate = |flag: Option<&str>, env: Option<&str>| {
            locate_inventory(flag.map(Path::new), env, Path::new("/app"), &fs)
                .map(|found| (found.path.display().to_string(), found.origin))
        };
        let at = |path: &str, origin| Some((path.to_string(), origin));
        assert_eq!(
            locate(Some("/x/h.yml"), Some("/y/h.yml")),
            at("/x/h.yml", InventoryOrigin::Flag)
        );
        assert_eq!(
            locate(None, Some("/y/h.yml")),
            at("/y/h.yml", InventoryOrigin::Environment)
        );
        assert_eq!(
            locate(None, Some("")),
            at("/app/nap-hosts.yml", InventoryOrigin::Discovered)
        );
        let empty = MemoryFileSystem::default();
        assert_eq!(
            locate_inventory(None, None, Path::new("/app"), &empty),
            None
        );
        assert!(InventoryOrigin::Flag.named_by_user());
        assert!(InventoryOrigin::Environment.named_by_user());
        assert!(!InventoryOrigin::Discovered.named_by_user());
    }
}
