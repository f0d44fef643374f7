//! Reading `nap-hosts.yml`: the top-level fields, each host's fields and labels, and the
//! checks across them (addresses and SSH for routed and published modes, the pool's size).
//! Errors name the file, line, host and field.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde_yaml::Value;

use super::*;
use crate::compose::source::{Location, MAX_NESTING, SourceMap};
use crate::compose::{FileSystem, Warning, names};
use crate::scheduler::{Resources, Strategy};
use crate::units;

impl Inventory {
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
            allow_plain_tcp: false,
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
                        let host = reader.host(&name, host, &resolve)?;
                        if host.builder
                            && let Some(first) = inventory.hosts.iter().find(|h| h.builder)
                        {
                            return Err(reader.invalid(
                                &format!("hosts.{name}.builder"),
                                format!(
                                    "host {name:?}: only one host can be the builder, and {:?} is already",
                                    first.name
                                ),
                            ));
                        }
                        inventory.hosts.push(host);
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
                "plugins" => inventory.plugins = reader.plugins(entry, &resolve)?,
                "allow_plain_tcp" => {
                    inventory.allow_plain_tcp = entry.as_bool().ok_or_else(|| {
                        reader.invalid("allow_plain_tcp", "expected true or false".to_string())
                    })?;
                }
                other => {
                    return Err(reader.invalid(other, format!("unknown top-level field {other:?} (expected hosts, ssh, network, strategy, plugins or allow_plain_tcp)")));
                }
            }
        }
        if !saw_hosts || inventory.hosts.is_empty() {
            return Err(reader.invalid("hosts", "the inventory lists no hosts".to_string()));
        }
        inventory.hosts.sort_by(|a, b| a.name.cmp(&b.name));
        // One warning for every plain-HTTP daemon, at the first one's line.
        let plain: Vec<&Host> = inventory
            .hosts
            .iter()
            .filter(|host| matches!(host.docker, DockerEndpoint::Tcp { .. }))
            .collect();
        if let Some(first) = plain.first()
            && !inventory.allow_plain_tcp
        {
            let names: Vec<String> = plain
                .iter()
                .map(|host| format!("{:?} ({})", host.name, host.docker))
                .collect();
            warnings.push(Warning {
                location: reader.map.locate(&format!("hosts.{}.docker", first.name)),
                message: format!(
                    "plain, unauthenticated HTTP to the Docker API of {}; use https:// with tls: or ssh:// outside a lab, or set `allow_plain_tcp: true` in the inventory of a lab on this machine",
                    names.join(", ")
                ),
            });
        }
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

pub(super) struct Reader<'a> {
    map: &'a SourceMap,
}

impl Reader<'_> {
    pub(super) fn invalid(&self, path: &str, message: impl fmt::Display) -> InventoryError {
        InventoryError::Invalid {
            location: self.map.locate(path),
            field: path.to_string(),
            message: message.to_string(),
        }
    }

    pub(super) fn mapping<'v>(
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

    pub(super) fn string(&self, path: &str, value: &Value) -> Result<String, InventoryError> {
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
        let mut builder = false;
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
                "builder" => {
                    builder = match value {
                        Value::Bool(flag) => *flag,
                        _ => {
                            return Err(self.invalid(
                                &path,
                                format!("host {name:?}: builder must be true or false"),
                            ));
                        }
                    }
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
                        "host {name:?}: unknown field {other:?} (expected docker, ssh, address, labels, resources, tls or builder)"
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
            builder,
        })
    }
}
