//! Reads one compose file's YAML values into the canonical model types.
//!
//! Every short syntax becomes its long form here (ports, volumes, `environment` lists,
//! `depends_on` lists, string commands), relative paths become absolute against the file's
//! base folder, and every type error names the file, line and key. It reads no files itself
//! and knows nothing of other compose files; merging and `extends` are the loader's.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use serde_yaml::Value;

use crate::compose::LoadError;
use crate::compose::model::*;
use crate::compose::names;
use crate::compose::source::{Location, SourceMap};
use crate::units;

/// A non-fatal finding, printed as a warning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// Where it was found.
    pub location: Location,
    /// What was found.
    pub message: String,
}

impl std::fmt::Display for Warning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.location, self.message)
    }
}

/// What reading one file needs: its source map, the folder relative paths resolve against,
/// the home folder for `~`, and where warnings go.
pub(crate) struct FileContext<'a> {
    pub map: &'a SourceMap,
    pub base_dir: &'a Path,
    pub home: Option<&'a str>,
    pub warnings: &'a mut Vec<Warning>,
}

/// Compose service keys nap reads.
const SERVICE_KEYS: &[&str] = &[
    "build",
    "cap_add",
    "cap_drop",
    "command",
    "container_name",
    "depends_on",
    "deploy",
    "dns",
    "entrypoint",
    "env_file",
    "environment",
    "expose",
    "extends",
    "extra_hosts",
    "healthcheck",
    "hostname",
    "image",
    "init",
    "ipc",
    "labels",
    "links",
    "logging",
    "network_mode",
    "networks",
    "pid",
    "ports",
    "privileged",
    "profiles",
    "read_only",
    "restart",
    "scale",
    "security_opt",
    "shm_size",
    "stdin_open",
    "stop_grace_period",
    "stop_signal",
    "sysctls",
    "tmpfs",
    "tty",
    "user",
    "volumes",
    "volumes_from",
    "working_dir",
];

/// Compose service keys that nap does not deploy yet: accepted with a warning.
const UNSUPPORTED_SERVICE_KEYS: &[&str] = &[
    "annotations",
    "attach",
    "blkio_config",
    "cgroup",
    "cgroup_parent",
    "configs",
    "cpu_count",
    "cpu_percent",
    "cpu_period",
    "cpu_quota",
    "cpu_rt_period",
    "cpu_rt_runtime",
    "cpu_shares",
    "cpus",
    "cpuset",
    "credential_spec",
    "develop",
    "device_cgroup_rules",
    "devices",
    "dns_opt",
    "dns_search",
    "domainname",
    "external_links",
    "gpus",
    "group_add",
    "isolation",
    "label_file",
    "mac_address",
    "mem_limit",
    "mem_reservation",
    "mem_swappiness",
    "memswap_limit",
    "models",
    "oom_kill_disable",
    "oom_score_adj",
    "pids_limit",
    "platform",
    "post_start",
    "pre_stop",
    "provider",
    "pull_policy",
    "runtime",
    "secrets",
    "storage_opt",
    "ulimits",
    "use_api_socket",
    "userns_mode",
    "uts",
    "volume_driver",
];

impl FileContext<'_> {
    fn invalid(&self, path: &str, message: impl std::fmt::Display) -> LoadError {
        LoadError::Invalid {
            location: self.map.locate(path),
            key: path.to_string(),
            message: message.to_string(),
        }
    }

    fn warn(&mut self, path: &str, message: impl Into<String>) {
        let location = self.map.locate(path);
        self.warnings.push(Warning {
            location,
            message: message.into(),
        });
    }

    /// An absolute, lexically normalized path for a relative or `~` path.
    pub(crate) fn resolve_path(&self, raw: &str) -> String {
        let expanded = match (raw.strip_prefix('~'), self.home) {
            (Some(rest), Some(home)) if rest.is_empty() || rest.starts_with('/') => {
                format!("{home}{rest}")
            }
            _ => raw.to_string(),
        };
        let joined = self.base_dir.join(expanded);
        normalize_path(&joined).to_string_lossy().into_owned()
    }
}

/// Removes `.` and resolves `..` without touching the file system.
pub(crate) fn normalize_path(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Sequence(_) => "a list",
        Value::Mapping(_) => "a mapping",
        Value::Tagged(_) => "a tagged value",
    }
}

fn key_string(key: &Value) -> Option<String> {
    scalar_text(key)
}

fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(text) => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        Value::Bool(flag) => Some(flag.to_string()),
        _ => None,
    }
}

/// Entries of a mapping with string keys, or an error naming `path`.
pub(crate) fn mapping_entries<'v>(
    ctx: &FileContext,
    path: &str,
    value: &'v Value,
) -> Result<Vec<(String, &'v Value)>, LoadError> {
    match value {
        Value::Mapping(mapping) => mapping
            .iter()
            .map(|(key, value)| {
                key_string(key)
                    .map(|key| (key, value))
                    .ok_or_else(|| ctx.invalid(path, "mapping keys must be strings"))
            })
            .collect(),
        Value::Null => Ok(Vec::new()),
        other => Err(ctx.invalid(path, format!("must be a mapping, not {}", type_name(other)))),
    }
}

fn string(ctx: &FileContext, path: &str, value: &Value) -> Result<String, LoadError> {
    scalar_text(value)
        .ok_or_else(|| ctx.invalid(path, format!("must be a string, not {}", type_name(value))))
}

fn optional_string(
    ctx: &FileContext,
    path: &str,
    value: &Value,
) -> Result<Option<String>, LoadError> {
    match value {
        Value::Null => Ok(None),
        other => string(ctx, path, other).map(Some),
    }
}

fn boolean(ctx: &FileContext, path: &str, value: &Value) -> Result<bool, LoadError> {
    match value {
        Value::Bool(flag) => Ok(*flag),
        Value::String(text) => match text.to_ascii_lowercase().as_str() {
            "true" | "yes" | "on" => Ok(true),
            "false" | "no" | "off" => Ok(false),
            _ => Err(ctx.invalid(path, format!("must be a boolean, not {text:?}"))),
        },
        other => Err(ctx.invalid(path, format!("must be a boolean, not {}", type_name(other)))),
    }
}

fn unsigned(ctx: &FileContext, path: &str, value: &Value) -> Result<u64, LoadError> {
    let parsed = match value {
        Value::Number(number) => number.as_u64(),
        Value::String(text) => text.trim().parse::<u64>().ok(),
        _ => None,
    };
    parsed.ok_or_else(|| {
        ctx.invalid(
            path,
            format!(
                "must be a non-negative integer, not {}",
                scalar_text(value).unwrap_or_else(|| type_name(value).to_string())
            ),
        )
    })
}

fn small_unsigned(ctx: &FileContext, path: &str, value: &Value) -> Result<u32, LoadError> {
    let number = unsigned(ctx, path, value)?;
    u32::try_from(number).map_err(|_| ctx.invalid(path, format!("{number} is too large")))
}

fn float(ctx: &FileContext, path: &str, value: &Value) -> Result<f64, LoadError> {
    let parsed = match value {
        Value::Number(number) => number.as_f64(),
        Value::String(text) => text.trim().parse::<f64>().ok(),
        _ => None,
    };
    parsed.ok_or_else(|| ctx.invalid(path, "must be a number"))
}

/// A string or a list of strings.
fn string_list(ctx: &FileContext, path: &str, value: &Value) -> Result<Vec<String>, LoadError> {
    match value {
        Value::Null => Ok(Vec::new()),
        Value::Sequence(items) => items
            .iter()
            .enumerate()
            .map(|(index, item)| string(ctx, &format!("{path}[{index}]"), item))
            .collect(),
        other => Ok(vec![string(ctx, path, other)?]),
    }
}

/// A list of strings only.
fn strict_string_list(
    ctx: &FileContext,
    path: &str,
    value: &Value,
) -> Result<Vec<String>, LoadError> {
    match value {
        Value::Sequence(_) | Value::Null => string_list(ctx, path, value),
        other => Err(ctx.invalid(path, format!("must be a list, not {}", type_name(other)))),
    }
}

/// `KEY=VALUE` list or `KEY: VALUE` map; `KEY` alone or a null value is `None`.
fn key_value_map(
    ctx: &FileContext,
    path: &str,
    value: &Value,
) -> Result<BTreeMap<String, Option<String>>, LoadError> {
    let mut out = BTreeMap::new();
    match value {
        Value::Sequence(items) => {
            for (index, item) in items.iter().enumerate() {
                let entry = string(ctx, &format!("{path}[{index}]"), item)?;
                match entry.split_once('=') {
                    Some((key, value)) => out.insert(key.to_string(), Some(value.to_string())),
                    None => out.insert(entry, None),
                };
            }
        }
        other => {
            for (key, value) in mapping_entries(ctx, path, other)? {
                let entry_path = format!("{path}.{key}");
                out.insert(key, optional_string(ctx, &entry_path, value)?);
            }
        }
    }
    Ok(out)
}

/// Like [`key_value_map`], with absent values as empty strings (labels, sysctls).
fn label_map(
    ctx: &FileContext,
    path: &str,
    value: &Value,
) -> Result<BTreeMap<String, String>, LoadError> {
    Ok(key_value_map(ctx, path, value)?
        .into_iter()
        .map(|(key, value)| (key, value.unwrap_or_default()))
        .collect())
}

fn json(value: &Value) -> serde_json::Value {
    serde_json::to_value(value).unwrap_or(serde_json::Value::Null)
}

/// Why a command line cannot be split into words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ShellSplitError {
    /// A `'` without its closing `'`.
    #[error("unterminated single quote")]
    SingleQuote,
    /// A `"` without its closing `"`.
    #[error("unterminated double quote")]
    DoubleQuote,
}

/// Splits a command line the way a POSIX shell splits words (quotes and backslashes),
/// as compose does for string `command` and `entrypoint`.
pub fn shell_split(line: &str) -> Result<Vec<String>, ShellSplitError> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(inner) => word.push(inner),
                        None => return Err(ShellSplitError::SingleQuote),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(escaped @ ('"' | '\\' | '$' | '`')) => word.push(escaped),
                            Some('\n') => {}
                            Some(other) => {
                                word.push('\\');
                                word.push(other);
                            }
                            None => return Err(ShellSplitError::DoubleQuote),
                        },
                        Some(inner) => word.push(inner),
                        None => return Err(ShellSplitError::DoubleQuote),
                    }
                }
            }
            '\\' => {
                in_word = true;
                match chars.next() {
                    Some('\n') => {}
                    Some(escaped) => word.push(escaped),
                    None => word.push('\\'),
                }
            }
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            other => {
                in_word = true;
                word.push(other);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    Ok(words)
}

fn command(ctx: &FileContext, path: &str, value: &Value) -> Result<Option<Vec<String>>, LoadError> {
    match value {
        Value::Null => Ok(None),
        Value::Sequence(_) => string_list(ctx, path, value).map(Some),
        other => {
            let line = string(ctx, path, other)?;
            shell_split(&line)
                .map(Some)
                .map_err(|reason| ctx.invalid(path, reason))
        }
    }
}

/// Reads one service definition.
pub(crate) fn parse_service(
    ctx: &mut FileContext,
    name: &str,
    value: &Value,
) -> Result<Service, LoadError> {
    let base = format!("services.{name}");
    let mut service = Service::default();
    if matches!(value, Value::Null) {
        return Ok(service);
    }
    for (key, value) in mapping_entries(ctx, &base, value)? {
        let path = format!("{base}.{key}");
        let path = path.as_str();
        match key.as_str() {
            "build" => service.build = Some(parse_build(ctx, path, value)?),
            "cap_add" => service.cap_add = string_list(ctx, path, value)?,
            "cap_drop" => service.cap_drop = string_list(ctx, path, value)?,
            "command" => service.command = command(ctx, path, value)?,
            "container_name" => {
                service.container_name = optional_string(ctx, path, value)?;
                if let Some(name) = &service.container_name {
                    names::check_container_name(name)
                        .map_err(|reason| ctx.invalid(path, reason))?;
                }
            }
            "depends_on" => service.depends_on = parse_depends_on(ctx, path, value)?,
            "deploy" => service.deploy = parse_deploy(ctx, path, value)?,
            "dns" => service.dns = string_list(ctx, path, value)?,
            "entrypoint" => service.entrypoint = command(ctx, path, value)?,
            "env_file" => service.env_file = parse_env_file(ctx, path, value)?,
            "environment" => service.environment = key_value_map(ctx, path, value)?,
            "expose" => service.expose = string_list(ctx, path, value)?,
            "extends" => service.extends = Some(parse_extends(ctx, path, value)?),
            "extra_hosts" => service.extra_hosts = parse_extra_hosts(ctx, path, value)?,
            "healthcheck" => service.healthcheck = Some(parse_healthcheck(ctx, path, value)?),
            "hostname" => {
                service.hostname = optional_string(ctx, path, value)?;
                if let Some(name) = &service.hostname {
                    names::check_host_name(name)
                        .map_err(|reason| ctx.invalid(path, format!("hostname {reason}")))?;
                }
            }
            "image" => service.image = optional_string(ctx, path, value)?,
            "init" => service.init = Some(boolean(ctx, path, value)?),
            "ipc" => service.ipc = optional_string(ctx, path, value)?,
            "labels" => service.labels = label_map(ctx, path, value)?,
            "links" => {
                service.links = strict_string_list(ctx, path, value)?;
                check_links(ctx, path, &service.links, false)?;
            }
            "domainname" => {
                if let Some(name) = optional_string(ctx, path, value)? {
                    names::check_host_name(&name)
                        .map_err(|reason| ctx.invalid(path, format!("domainname {reason}")))?;
                }
                ctx.warn(
                    path,
                    format!("service {name:?}: \"domainname\" is not supported by nap yet and is ignored"),
                );
            }
            "external_links" => {
                let links = strict_string_list(ctx, path, value)?;
                check_links(ctx, path, &links, true)?;
                ctx.warn(
                    path,
                    format!("service {name:?}: \"external_links\" is not supported by nap yet and is ignored"),
                );
            }
            "logging" => service.logging = Some(json(value)),
            "network_mode" => service.network_mode = optional_string(ctx, path, value)?,
            "networks" => service.networks = parse_service_networks(ctx, path, value)?,
            "pid" => service.pid = optional_string(ctx, path, value)?,
            "ports" => service.ports = parse_ports(ctx, path, value)?,
            "privileged" => service.privileged = Some(boolean(ctx, path, value)?),
            "profiles" => service.profiles = strict_string_list(ctx, path, value)?,
            "read_only" => service.read_only = Some(boolean(ctx, path, value)?),
            "restart" => service.restart = parse_restart(ctx, path, value)?,
            "scale" => service.scale = Some(small_unsigned(ctx, path, value)?),
            "security_opt" => service.security_opt = string_list(ctx, path, value)?,
            "shm_size" => service.shm_size = parse_bytes_text(ctx, path, value)?,
            "stdin_open" => service.stdin_open = Some(boolean(ctx, path, value)?),
            "stop_grace_period" => {
                service.stop_grace_period = parse_duration_text(ctx, path, value)?
            }
            "stop_signal" => service.stop_signal = optional_string(ctx, path, value)?,
            "sysctls" => service.sysctls = label_map(ctx, path, value)?,
            "tmpfs" => service.tmpfs = string_list(ctx, path, value)?,
            "tty" => service.tty = Some(boolean(ctx, path, value)?),
            "user" => service.user = optional_string(ctx, path, value)?,
            "volumes" => service.volumes = parse_volumes(ctx, path, value)?,
            "volumes_from" => service.volumes_from = strict_string_list(ctx, path, value)?,
            "working_dir" => service.working_dir = optional_string(ctx, path, value)?,
            extension if extension.starts_with("x-") => {
                service.extensions.insert(key.clone(), json(value));
            }
            unsupported if UNSUPPORTED_SERVICE_KEYS.contains(&unsupported) => {
                ctx.warn(
                    path,
                    format!("service {name:?}: {unsupported:?} is not supported by nap yet and is ignored"),
                );
            }
            unknown => {
                debug_assert!(!SERVICE_KEYS.contains(&unknown));
                ctx.warn(
                    path,
                    format!("service {name:?}: unknown key {unknown:?} is ignored"),
                );
            }
        }
    }
    Ok(service)
}

fn parse_build(ctx: &mut FileContext, path: &str, value: &Value) -> Result<Build, LoadError> {
    let resolve_context = |ctx: &FileContext, context: String| {
        if context.contains("://") || context.starts_with("git@") {
            context
        } else {
            ctx.resolve_path(&context)
        }
    };
    match value {
        Value::Mapping(_) => {
            let mut build = Build::default();
            for (key, value) in mapping_entries(ctx, path, value)? {
                let key_path = format!("{path}.{key}");
                match key.as_str() {
                    "context" => {
                        build.context = optional_string(ctx, &key_path, value)?
                            .map(|context| resolve_context(ctx, context))
                    }
                    "dockerfile" => build.dockerfile = optional_string(ctx, &key_path, value)?,
                    "args" => build.args = key_value_map(ctx, &key_path, value)?,
                    "target" => build.target = optional_string(ctx, &key_path, value)?,
                    _ => {}
                }
            }
            Ok(build)
        }
        other => Ok(Build {
            context: Some(resolve_context(ctx, string(ctx, path, other)?)),
            ..Build::default()
        }),
    }
}

fn parse_condition(
    ctx: &FileContext,
    path: &str,
    value: &Value,
) -> Result<DependsOnCondition, LoadError> {
    match string(ctx, path, value)?.as_str() {
        "service_started" => Ok(DependsOnCondition::ServiceStarted),
        "service_healthy" => Ok(DependsOnCondition::ServiceHealthy),
        "service_completed_successfully" => Ok(DependsOnCondition::ServiceCompletedSuccessfully),
        other => Err(ctx.invalid(
            path,
            format!(
                "unknown condition {other:?} (expected service_started, service_healthy or service_completed_successfully)"
            ),
        )),
    }
}

fn parse_depends_on(
    ctx: &FileContext,
    path: &str,
    value: &Value,
) -> Result<BTreeMap<String, DependsOn>, LoadError> {
    let mut out = BTreeMap::new();
    if let Value::Sequence(_) = value {
        for name in string_list(ctx, path, value)? {
            out.insert(name, DependsOn::default());
        }
        return Ok(out);
    }
    for (name, entry) in mapping_entries(ctx, path, value)? {
        let entry_path = format!("{path}.{name}");
        let mut depends_on = DependsOn::default();
        for (key, value) in mapping_entries(ctx, &entry_path, entry)? {
            let key_path = format!("{entry_path}.{key}");
            match key.as_str() {
                "condition" => depends_on.condition = parse_condition(ctx, &key_path, value)?,
                "required" => depends_on.required = boolean(ctx, &key_path, value)?,
                "restart" => depends_on.restart = boolean(ctx, &key_path, value)?,
                other => {
                    return Err(ctx.invalid(
                        &key_path,
                        format!("unknown key {other:?} (expected condition, required or restart)"),
                    ));
                }
            }
        }
        out.insert(name, depends_on);
    }
    Ok(out)
}

fn parse_env_file(ctx: &FileContext, path: &str, value: &Value) -> Result<Vec<EnvFile>, LoadError> {
    let items: Vec<&Value> = match value {
        Value::Sequence(items) => items.iter().collect(),
        Value::Null => Vec::new(),
        other => vec![other],
    };
    let mut out = Vec::new();
    for (index, item) in items.into_iter().enumerate() {
        let item_path = format!("{path}[{index}]");
        let (file, required) = match item {
            Value::Mapping(_) => {
                let mut file = None;
                let mut required = true;
                for (key, value) in mapping_entries(ctx, &item_path, item)? {
                    match key.as_str() {
                        "path" => file = Some(string(ctx, &item_path, value)?),
                        "required" => required = boolean(ctx, &item_path, value)?,
                        _ => {}
                    }
                }
                let file =
                    file.ok_or_else(|| ctx.invalid(&item_path, "env_file entry needs a path"))?;
                (file, required)
            }
            other => (string(ctx, &item_path, other)?, true),
        };
        out.push(EnvFile {
            path: PathBuf::from(ctx.resolve_path(&file)),
            required,
        });
    }
    Ok(out)
}

fn parse_extends(ctx: &FileContext, path: &str, value: &Value) -> Result<Extends, LoadError> {
    match value {
        Value::Mapping(_) => {
            let mut service = None;
            let mut file = None;
            for (key, value) in mapping_entries(ctx, path, value)? {
                let key_path = format!("{path}.{key}");
                match key.as_str() {
                    "service" => service = Some(string(ctx, &key_path, value)?),
                    "file" => {
                        file = Some(PathBuf::from(
                            ctx.resolve_path(&string(ctx, &key_path, value)?),
                        ))
                    }
                    other => {
                        return Err(ctx.invalid(
                            &key_path,
                            format!("unknown key {other:?} (expected service or file)"),
                        ));
                    }
                }
            }
            let service = service.ok_or_else(|| ctx.invalid(path, "extends needs a service"))?;
            Ok(Extends { service, file })
        }
        other => Ok(Extends {
            service: string(ctx, path, other)?,
            file: None,
        }),
    }
}

fn parse_extra_hosts(
    ctx: &FileContext,
    path: &str,
    value: &Value,
) -> Result<Vec<String>, LoadError> {
    let mut out = Vec::new();
    let check = |item_path: &str, name: &str, addresses: &str, out: &mut Vec<String>| {
        // compose v2 splits several addresses on ','.
        for address in addresses.split(',') {
            let entry = names::check_extra_host(name, address)
                .map_err(|reason| ctx.invalid(item_path, reason))?;
            out.push(entry);
        }
        Ok::<(), LoadError>(())
    };
    match value {
        Value::Mapping(_) => {
            for (host, address) in mapping_entries(ctx, path, value)? {
                let key_path = format!("{path}.{host}");
                for address in string_list(ctx, &key_path, address)? {
                    check(&key_path, &host, &address, &mut out)?;
                }
            }
        }
        other => {
            for (index, entry) in string_list(ctx, path, other)?.into_iter().enumerate() {
                let item_path = if matches!(other, Value::Sequence(_)) {
                    format!("{path}[{index}]")
                } else {
                    path.to_string()
                };
                // compose v2 accepts `host=address` and `host:address`, `=` first.
                let (host, address) = entry
                    .split_once('=')
                    .filter(|(host, _)| !host.contains(':'))
                    .or_else(|| entry.split_once(':'))
                    .ok_or_else(|| {
                        ctx.invalid(
                            &item_path,
                            format!("extra host {entry:?} must be name:address or name=address"),
                        )
                    })?;
                check(&item_path, host, address, &mut out)?;
            }
        }
    }
    Ok(out)
}

/// `links` (`service[:alias]`) or `external_links` (`container[:alias]`): the alias is a host
/// name; an external link's container is a container name.
fn check_links(
    ctx: &FileContext,
    path: &str,
    links: &[String],
    external: bool,
) -> Result<(), LoadError> {
    for (index, link) in links.iter().enumerate() {
        let item_path = format!("{path}[{index}]");
        let (target, alias) = link.split_once(':').unwrap_or((link, link));
        if external {
            names::check_container_name(target)
                .map_err(|reason| ctx.invalid(&item_path, reason))?;
        }
        names::check_host_name(alias)
            .map_err(|reason| ctx.invalid(&item_path, format!("link alias {reason}")))?;
    }
    Ok(())
}

fn parse_duration_text(
    ctx: &FileContext,
    path: &str,
    value: &Value,
) -> Result<Option<String>, LoadError> {
    let Some(text) = optional_string(ctx, path, value)? else {
        return Ok(None);
    };
    units::parse_duration(&text).map_err(|reason| ctx.invalid(path, reason.to_string()))?;
    Ok(Some(text))
}

fn parse_bytes_text(
    ctx: &FileContext,
    path: &str,
    value: &Value,
) -> Result<Option<String>, LoadError> {
    let Some(text) = optional_string(ctx, path, value)? else {
        return Ok(None);
    };
    units::parse_bytes(&text).map_err(|reason| ctx.invalid(path, reason.to_string()))?;
    Ok(Some(text))
}

fn parse_healthcheck(
    ctx: &FileContext,
    path: &str,
    value: &Value,
) -> Result<Healthcheck, LoadError> {
    let mut healthcheck = Healthcheck::default();
    for (key, value) in mapping_entries(ctx, path, value)? {
        let key_path = format!("{path}.{key}");
        let key_path = key_path.as_str();
        match key.as_str() {
            "test" => {
                healthcheck.test = match value {
                    Value::Sequence(_) => Some(string_list(ctx, key_path, value)?),
                    Value::Null => None,
                    other => Some(vec!["CMD-SHELL".to_string(), string(ctx, key_path, other)?]),
                };
                if let Some(test) = &healthcheck.test
                    && let Some(first) = test.first()
                    && !matches!(first.as_str(), "NONE" | "CMD" | "CMD-SHELL")
                {
                    return Err(ctx.invalid(
                        key_path,
                        format!(
                            "a test list must start with CMD, CMD-SHELL or NONE, not {first:?}"
                        ),
                    ));
                }
            }
            "interval" => healthcheck.interval = parse_duration_text(ctx, key_path, value)?,
            "timeout" => healthcheck.timeout = parse_duration_text(ctx, key_path, value)?,
            "start_period" => healthcheck.start_period = parse_duration_text(ctx, key_path, value)?,
            "start_interval" => {
                healthcheck.start_interval = parse_duration_text(ctx, key_path, value)?
            }
            "retries" => healthcheck.retries = Some(unsigned(ctx, key_path, value)?),
            "disable" => healthcheck.disable = boolean(ctx, key_path, value)?,
            other => {
                return Err(ctx.invalid(key_path, format!("unknown healthcheck key {other:?}")));
            }
        }
    }
    Ok(healthcheck)
}

fn parse_restart(
    ctx: &FileContext,
    path: &str,
    value: &Value,
) -> Result<Option<String>, LoadError> {
    let Some(restart) = optional_string(ctx, path, value)? else {
        return Ok(None);
    };
    let valid = match restart.split_once(':') {
        Some(("on-failure", count)) => count.parse::<u32>().is_ok(),
        Some(_) => false,
        None => matches!(
            restart.as_str(),
            "no" | "always" | "on-failure" | "unless-stopped"
        ),
    };
    if !valid {
        return Err(ctx.invalid(
            path,
            format!("invalid restart policy {restart:?} (expected no, always, on-failure[:N] or unless-stopped)"),
        ));
    }
    Ok(Some(restart))
}

fn parse_resources(ctx: &FileContext, path: &str, value: &Value) -> Result<Resources, LoadError> {
    let mut resources = Resources::default();
    for (key, value) in mapping_entries(ctx, path, value)? {
        let key_path = format!("{path}.{key}");
        match key.as_str() {
            "cpus" => {
                let cpus = float(ctx, &key_path, value)?;
                if cpus < 0.0 {
                    return Err(ctx.invalid(&key_path, "cpus must not be negative"));
                }
                resources.cpus = Some(string(ctx, &key_path, value)?);
            }
            "memory" => resources.memory = parse_bytes_text(ctx, &key_path, value)?,
            "pids" => resources.pids = Some(unsigned(ctx, &key_path, value)?),
            "devices" | "generic_resources" => {}
            other => return Err(ctx.invalid(&key_path, format!("unknown resources key {other:?}"))),
        }
    }
    Ok(resources)
}

fn parse_update_config(
    ctx: &FileContext,
    path: &str,
    value: &Value,
) -> Result<UpdateConfig, LoadError> {
    let mut config = UpdateConfig::default();
    for (key, value) in mapping_entries(ctx, path, value)? {
        let key_path = format!("{path}.{key}");
        let key_path = key_path.as_str();
        match key.as_str() {
            "parallelism" => config.parallelism = Some(unsigned(ctx, key_path, value)?),
            "delay" => config.delay = parse_duration_text(ctx, key_path, value)?,
            "monitor" => config.monitor = parse_duration_text(ctx, key_path, value)?,
            "max_failure_ratio" => config.max_failure_ratio = Some(float(ctx, key_path, value)?),
            "failure_action" => {
                let action = string(ctx, key_path, value)?;
                if !matches!(action.as_str(), "rollback" | "pause" | "continue") {
                    return Err(ctx.invalid(
                        key_path,
                        format!("invalid failure_action {action:?} (expected rollback, pause or continue)"),
                    ));
                }
                config.failure_action = Some(action);
            }
            "order" => {
                let order = string(ctx, key_path, value)?;
                if !matches!(order.as_str(), "start-first" | "stop-first") {
                    return Err(ctx.invalid(
                        key_path,
                        format!("invalid order {order:?} (expected start-first or stop-first)"),
                    ));
                }
                config.order = Some(order);
            }
            other => {
                return Err(ctx.invalid(key_path, format!("unknown update_config key {other:?}")));
            }
        }
    }
    Ok(config)
}

fn parse_deploy(
    ctx: &mut FileContext,
    path: &str,
    value: &Value,
) -> Result<Option<Deploy>, LoadError> {
    if value.is_null() {
        return Ok(None);
    }
    let mut deploy = Deploy::default();
    for (key, value) in mapping_entries(ctx, path, value)? {
        let key_path = format!("{path}.{key}");
        let key_path = key_path.as_str();
        match key.as_str() {
            "mode" => {
                let mode = string(ctx, key_path, value)?;
                if !matches!(mode.as_str(), "replicated" | "global") {
                    return Err(ctx.invalid(
                        key_path,
                        format!("invalid mode {mode:?} (expected replicated or global)"),
                    ));
                }
                deploy.mode = Some(mode);
            }
            "replicas" => deploy.replicas = Some(small_unsigned(ctx, key_path, value)?),
            "placement" => {
                let mut placement = Placement::default();
                for (key, value) in mapping_entries(ctx, key_path, value)? {
                    let inner = format!("{key_path}.{key}");
                    match key.as_str() {
                        "constraints" => {
                            placement.constraints = strict_string_list(ctx, &inner, value)?;
                            for (index, constraint) in placement.constraints.iter().enumerate() {
                                crate::scheduler::Constraint::parse(constraint).map_err(
                                    |error| {
                                        ctx.invalid(&format!("{inner}[{index}]"), error.to_string())
                                    },
                                )?;
                            }
                        }
                        "preferences" => {
                            placement.preferences = match value {
                                Value::Sequence(items) => items.iter().map(json).collect(),
                                _ => return Err(ctx.invalid(&inner, "must be a list")),
                            }
                        }
                        "max_replicas_per_node" => {
                            placement.max_replicas_per_node =
                                Some(small_unsigned(ctx, &inner, value)?)
                        }
                        other => {
                            return Err(
                                ctx.invalid(&inner, format!("unknown placement key {other:?}"))
                            );
                        }
                    }
                }
                deploy.placement = Some(placement);
            }
            "resources" => {
                let mut resources = ResourcesConfig::default();
                for (key, value) in mapping_entries(ctx, key_path, value)? {
                    let inner = format!("{key_path}.{key}");
                    match key.as_str() {
                        "limits" => resources.limits = Some(parse_resources(ctx, &inner, value)?),
                        "reservations" => {
                            resources.reservations = Some(parse_resources(ctx, &inner, value)?)
                        }
                        other => {
                            return Err(
                                ctx.invalid(&inner, format!("unknown resources key {other:?}"))
                            );
                        }
                    }
                }
                deploy.resources = Some(resources);
            }
            "update_config" => {
                deploy.update_config = Some(parse_update_config(ctx, key_path, value)?)
            }
            "rollback_config" => {
                deploy.rollback_config = Some(parse_update_config(ctx, key_path, value)?)
            }
            "restart_policy" => deploy.restart_policy = Some(json(value)),
            "labels" => deploy.labels = label_map(ctx, key_path, value)?,
            "endpoint_mode" => {}
            other => ctx.warn(key_path, format!("unknown deploy key {other:?} is ignored")),
        }
    }
    Ok(Some(deploy))
}

fn parse_service_networks(
    ctx: &FileContext,
    path: &str,
    value: &Value,
) -> Result<BTreeMap<String, Option<ServiceNetwork>>, LoadError> {
    let mut out = BTreeMap::new();
    if let Value::Sequence(_) = value {
        for name in string_list(ctx, path, value)? {
            out.insert(name, None);
        }
        return Ok(out);
    }
    for (name, entry) in mapping_entries(ctx, path, value)? {
        let entry_path = format!("{path}.{name}");
        if entry.is_null() {
            out.insert(name, None);
            continue;
        }
        let mut network = ServiceNetwork::default();
        for (key, value) in mapping_entries(ctx, &entry_path, entry)? {
            let key_path = format!("{entry_path}.{key}");
            match key.as_str() {
                "aliases" => {
                    network.aliases = strict_string_list(ctx, &key_path, value)?;
                    for (index, alias) in network.aliases.iter().enumerate() {
                        names::check_host_name(alias).map_err(|reason| {
                            ctx.invalid(&format!("{key_path}[{index}]"), format!("alias {reason}"))
                        })?;
                    }
                }
                "ipv4_address" => network.ipv4_address = optional_string(ctx, &key_path, value)?,
                "ipv6_address" => network.ipv6_address = optional_string(ctx, &key_path, value)?,
                "priority" => {
                    network.priority = Some(
                        i64::try_from(unsigned(ctx, &key_path, value)?)
                            .map_err(|_| ctx.invalid(&key_path, "too large"))?,
                    )
                }
                _ => {}
            }
        }
        out.insert(name, Some(network));
    }
    Ok(out)
}

fn parse_port_number(ctx: &FileContext, path: &str, text: &str) -> Result<u16, LoadError> {
    match text.trim().parse::<u16>() {
        Ok(port) if port > 0 => Ok(port),
        _ => Err(ctx.invalid(path, format!("invalid port {text:?}"))),
    }
}

fn parse_port_range(ctx: &FileContext, path: &str, text: &str) -> Result<(u16, u16), LoadError> {
    match text.split_once('-') {
        Some((start, end)) => {
            let start = parse_port_number(ctx, path, start)?;
            let end = parse_port_number(ctx, path, end)?;
            if end < start {
                return Err(ctx.invalid(path, format!("invalid port range {text:?}")));
            }
            Ok((start, end))
        }
        None => {
            let port = parse_port_number(ctx, path, text)?;
            Ok((port, port))
        }
    }
}

/// Parses a short-syntax port (`[ip:][published:]target[/protocol]`), expanding ranges the way
/// compose does.
fn parse_short_port(ctx: &FileContext, path: &str, spec: &str) -> Result<Vec<Port>, LoadError> {
    let (address_part, protocol) = match spec.rsplit_once('/') {
        Some((rest, protocol)) => (rest, protocol.to_ascii_lowercase()),
        None => (spec, "tcp".to_string()),
    };
    if !matches!(protocol.as_str(), "tcp" | "udp" | "sctp") {
        return Err(ctx.invalid(
            path,
            format!("invalid protocol {protocol:?} in port {spec:?}"),
        ));
    }
    // An IPv6 host address is written in brackets.
    let (host_ip, rest) = if let Some(stripped) = address_part.strip_prefix('[') {
        let Some((ip, rest)) = stripped.split_once(']') else {
            return Err(ctx.invalid(path, format!("invalid port {spec:?}")));
        };
        (Some(ip.to_string()), rest.strip_prefix(':').unwrap_or(rest))
    } else {
        let parts: Vec<&str> = address_part.split(':').collect();
        match parts.len() {
            1 | 2 => (None, address_part),
            3 => (
                Some(parts[0].to_string()),
                &address_part[parts[0].len() + 1..],
            ),
            _ => {
                // An unbracketed IPv6 address: everything before the last two parts.
                let cut = address_part
                    .rmatch_indices(':')
                    .nth(1)
                    .map(|(index, _)| index)
                    .unwrap_or(0);
                (
                    Some(address_part[..cut].to_string()),
                    &address_part[cut + 1..],
                )
            }
        }
    };
    let host_ip = host_ip.filter(|ip| !ip.is_empty());
    let (published, target) = match rest.rsplit_once(':') {
        Some((published, target)) => (Some(published), target),
        None => (None, rest),
    };
    let published = published.filter(|published| !published.is_empty());
    let (target_start, target_end) = parse_port_range(ctx, path, target)?;
    let port = |target: u16, published: Option<String>| Port {
        mode: "ingress".to_string(),
        host_ip: host_ip.clone(),
        target,
        published,
        protocol: protocol.clone(),
    };
    let Some(published) = published else {
        return Ok((target_start..=target_end)
            .map(|target| port(target, None))
            .collect());
    };
    let (published_start, published_end) = parse_port_range(ctx, path, published)?;
    if target_start == target_end {
        let published = if published_start == published_end {
            published_start.to_string()
        } else {
            format!("{published_start}-{published_end}")
        };
        return Ok(vec![port(target_start, Some(published))]);
    }
    if published_end - published_start != target_end - target_start {
        return Err(ctx.invalid(path, format!("port ranges of different sizes in {spec:?}")));
    }
    Ok((0..=target_end - target_start)
        .map(|offset| {
            port(
                target_start + offset,
                Some((published_start + offset).to_string()),
            )
        })
        .collect())
}

fn parse_ports(ctx: &FileContext, path: &str, value: &Value) -> Result<Vec<Port>, LoadError> {
    let Value::Sequence(items) = value else {
        if value.is_null() {
            return Ok(Vec::new());
        }
        return Err(ctx.invalid(path, format!("must be a list, not {}", type_name(value))));
    };
    let mut ports = Vec::new();
    for (index, item) in items.iter().enumerate() {
        let item_path = format!("{path}[{index}]");
        match item {
            Value::Mapping(_) => {
                let mut port = Port {
                    mode: "ingress".to_string(),
                    host_ip: None,
                    target: 0,
                    published: None,
                    protocol: "tcp".to_string(),
                };
                for (key, value) in mapping_entries(ctx, &item_path, item)? {
                    let key_path = format!("{item_path}.{key}");
                    match key.as_str() {
                        "target" => {
                            port.target =
                                parse_port_number(ctx, &key_path, &string(ctx, &key_path, value)?)?
                        }
                        "published" => {
                            let published = string(ctx, &key_path, value)?;
                            parse_port_range(ctx, &key_path, &published)?;
                            port.published = Some(published);
                        }
                        "host_ip" => port.host_ip = optional_string(ctx, &key_path, value)?,
                        "protocol" => {
                            port.protocol = string(ctx, &key_path, value)?.to_ascii_lowercase()
                        }
                        "mode" => {
                            let mode = string(ctx, &key_path, value)?;
                            if !matches!(mode.as_str(), "ingress" | "host") {
                                return Err(ctx.invalid(
                                    &key_path,
                                    format!("invalid mode {mode:?} (expected ingress or host)"),
                                ));
                            }
                            port.mode = mode;
                        }
                        "name" | "app_protocol" => {}
                        other => {
                            return Err(
                                ctx.invalid(&key_path, format!("unknown port key {other:?}"))
                            );
                        }
                    }
                }
                if port.target == 0 {
                    return Err(ctx.invalid(&item_path, "a port needs a target"));
                }
                ports.push(port);
            }
            other => {
                let spec = string(ctx, &item_path, other)?;
                ports.extend(parse_short_port(ctx, &item_path, &spec)?);
            }
        }
    }
    Ok(ports)
}

fn is_path_source(source: &str) -> bool {
    source.starts_with('.') || source.starts_with('/') || source.starts_with('~')
}

fn parse_short_volume(ctx: &FileContext, path: &str, spec: &str) -> Result<VolumeMount, LoadError> {
    let parts: Vec<&str> = spec.split(':').collect();
    let (source, target, mode) = match parts.as_slice() {
        [target] => (None, *target, None),
        [source, target] => (Some(*source), *target, None),
        [source, target, mode] => (Some(*source), *target, Some(*mode)),
        _ => return Err(ctx.invalid(path, format!("invalid volume {spec:?}"))),
    };
    if target.is_empty() || !target.starts_with('/') {
        return Err(ctx.invalid(
            path,
            format!("invalid volume {spec:?}: the target must be an absolute path"),
        ));
    }
    let source = source.filter(|source| !source.is_empty());
    let kind = match source {
        Some(source) if is_path_source(source) => "bind",
        _ => "volume",
    };
    let mut mount = VolumeMount {
        kind: kind.to_string(),
        source: source.map(|source| {
            if kind == "bind" {
                ctx.resolve_path(source)
            } else {
                source.to_string()
            }
        }),
        target: clean_target(target),
        read_only: false,
        bind: (kind == "bind").then(|| serde_json::json!({"create_host_path": true})),
        volume: None,
        tmpfs: None,
        consistency: None,
    };
    for option in mode
        .unwrap_or("")
        .split(',')
        .filter(|option| !option.is_empty())
    {
        match option {
            "ro" => mount.read_only = true,
            "rw" => mount.read_only = false,
            "z" | "Z" => {
                if let Some(serde_json::Value::Object(bind)) = &mut mount.bind {
                    bind.insert("selinux".into(), option.into());
                }
            }
            "nocopy" => mount.volume = Some(serde_json::json!({"nocopy": true})),
            "cached" | "delegated" | "consistent" => mount.consistency = Some(option.to_string()),
            "shared" | "rshared" | "slave" | "rslave" | "private" | "rprivate" => {
                if let Some(serde_json::Value::Object(bind)) = &mut mount.bind {
                    bind.insert("propagation".into(), option.into());
                }
            }
            other => {
                return Err(ctx.invalid(path, format!("invalid volume mode {other:?} in {spec:?}")));
            }
        }
    }
    Ok(mount)
}

/// A mount target as compose keeps it: lexically cleaned (`/etc/app/` is `/etc/app`), so
/// that two spellings of one path are one mount when files are merged.
fn clean_target(target: &str) -> String {
    normalize_path(Path::new(target))
        .to_string_lossy()
        .into_owned()
}

fn parse_volumes(
    ctx: &FileContext,
    path: &str,
    value: &Value,
) -> Result<Vec<VolumeMount>, LoadError> {
    let Value::Sequence(items) = value else {
        if value.is_null() {
            return Ok(Vec::new());
        }
        return Err(ctx.invalid(path, format!("must be a list, not {}", type_name(value))));
    };
    let mut mounts = Vec::new();
    for (index, item) in items.iter().enumerate() {
        let item_path = format!("{path}[{index}]");
        match item {
            Value::Mapping(_) => {
                let mut kind = None;
                let mut mount = VolumeMount {
                    kind: String::new(),
                    source: None,
                    target: String::new(),
                    read_only: false,
                    bind: None,
                    volume: None,
                    tmpfs: None,
                    consistency: None,
                };
                for (key, value) in mapping_entries(ctx, &item_path, item)? {
                    let key_path = format!("{item_path}.{key}");
                    match key.as_str() {
                        "type" => kind = Some(string(ctx, &key_path, value)?),
                        "source" => mount.source = optional_string(ctx, &key_path, value)?,
                        "target" => mount.target = string(ctx, &key_path, value)?,
                        "read_only" => mount.read_only = boolean(ctx, &key_path, value)?,
                        "bind" => mount.bind = Some(json(value)),
                        "volume" => mount.volume = Some(json(value)),
                        "tmpfs" => mount.tmpfs = Some(json(value)),
                        "consistency" => {
                            mount.consistency = optional_string(ctx, &key_path, value)?
                        }
                        other => {
                            return Err(
                                ctx.invalid(&key_path, format!("unknown volume key {other:?}"))
                            );
                        }
                    }
                }
                let kind = kind
                    .ok_or_else(|| ctx.invalid(&item_path, "a long-syntax volume needs a type"))?;
                if !matches!(
                    kind.as_str(),
                    "volume" | "bind" | "tmpfs" | "npipe" | "cluster" | "image"
                ) {
                    return Err(ctx.invalid(&item_path, format!("invalid volume type {kind:?}")));
                }
                if mount.target.is_empty() {
                    return Err(ctx.invalid(&item_path, "a volume needs a target"));
                }
                mount.target = clean_target(&mount.target);
                if kind == "bind" {
                    let source = mount
                        .source
                        .as_deref()
                        .ok_or_else(|| ctx.invalid(&item_path, "a bind mount needs a source"))?;
                    mount.source = Some(ctx.resolve_path(source));
                }
                mount.kind = kind;
                mounts.push(mount);
            }
            other => {
                let spec = string(ctx, &item_path, other)?;
                mounts.push(parse_short_volume(ctx, &item_path, &spec)?);
            }
        }
    }
    Ok(mounts)
}

/// `external: true`, or the legacy `external: {name: N}` (which also names the object).
fn parse_external(
    ctx: &FileContext,
    path: &str,
    value: &Value,
    name: &mut String,
    named: &mut bool,
) -> Result<bool, LoadError> {
    match value {
        Value::Mapping(_) => {
            for (inner, value) in mapping_entries(ctx, path, value)? {
                if inner == "name" {
                    *name = string(ctx, path, value)?;
                    *named = true;
                }
            }
            Ok(true)
        }
        other => boolean(ctx, path, other),
    }
}

/// Reads one top-level network.
pub(crate) fn parse_network(
    ctx: &mut FileContext,
    key: &str,
    value: &Value,
) -> Result<(Network, bool), LoadError> {
    let path = format!("networks.{key}");
    let mut network = Network::default();
    let mut named = false;
    for (field, value) in mapping_entries(ctx, &path, value)? {
        let field_path = format!("{path}.{field}");
        match field.as_str() {
            "name" => {
                network.name = string(ctx, &field_path, value)?;
                named = true;
            }
            "driver" => network.driver = optional_string(ctx, &field_path, value)?,
            "driver_opts" => network.driver_opts = label_map(ctx, &field_path, value)?,
            "external" => {
                network.external =
                    parse_external(ctx, &field_path, value, &mut network.name, &mut named)?
            }
            "internal" => network.internal = boolean(ctx, &field_path, value)?,
            "ipam" => network.ipam = Some(json(value)),
            "labels" => network.labels = label_map(ctx, &field_path, value)?,
            "attachable" | "enable_ipv6" | "enable_ipv4" => {}
            extension if extension.starts_with("x-") => {}
            other => ctx.warn(
                &field_path,
                format!("unknown network key {other:?} is ignored"),
            ),
        }
    }
    Ok((network, named))
}

/// Reads one top-level volume.
pub(crate) fn parse_volume(
    ctx: &mut FileContext,
    key: &str,
    value: &Value,
) -> Result<(Volume, bool), LoadError> {
    let path = format!("volumes.{key}");
    let mut volume = Volume::default();
    let mut named = false;
    for (field, value) in mapping_entries(ctx, &path, value)? {
        let field_path = format!("{path}.{field}");
        match field.as_str() {
            "name" => {
                volume.name = string(ctx, &field_path, value)?;
                named = true;
            }
            "driver" => volume.driver = optional_string(ctx, &field_path, value)?,
            "driver_opts" => volume.driver_opts = label_map(ctx, &field_path, value)?,
            "external" => {
                volume.external =
                    parse_external(ctx, &field_path, value, &mut volume.name, &mut named)?
            }
            "labels" => volume.labels = label_map(ctx, &field_path, value)?,
            extension if extension.starts_with("x-") => {}
            other => ctx.warn(
                &field_path,
                format!("unknown volume key {other:?} is ignored"),
            ),
        }
    }
    Ok((volume, named))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_ctx<T>(f: impl FnOnce(&mut FileContext) -> T) -> (T, Vec<Warning>) {
        let map = SourceMap::without_lines(Path::new("/p/compose.yaml"));
        let mut warnings = Vec::new();
        let mut ctx = FileContext {
            map: &map,
            base_dir: Path::new("/p"),
            home: Some("/home/u"),
            warnings: &mut warnings,
        };
        let out = f(&mut ctx);
        (out, warnings)
    }

    fn ports(spec: &str) -> Vec<String> {
        with_ctx(|ctx| parse_short_port(ctx, "p", spec))
            .0
            .unwrap()
            .into_iter()
            .map(|port| {
                format!(
                    "{}|{}|{}|{}",
                    port.host_ip.unwrap_or_default(),
                    port.published.unwrap_or_default(),
                    port.target,
                    port.protocol
                )
            })
            .collect()
    }

    #[test]
    fn short_ports() {
        assert_eq!(ports("80"), ["||80|tcp"]);
        assert_eq!(ports("8080:80"), ["|8080|80|tcp"]);
        assert_eq!(ports("127.0.0.1:8080:80/udp"), ["127.0.0.1|8080|80|udp"]);
        assert_eq!(ports("3000-3001"), ["||3000|tcp", "||3001|tcp"]);
        assert_eq!(
            ports("9090-9091:8080-8081"),
            ["|9090|8080|tcp", "|9091|8081|tcp"]
        );
        assert_eq!(ports("8000-8010:80"), ["|8000-8010|80|tcp"]);
        assert_eq!(ports("[::1]:6001:6001"), ["::1|6001|6001|tcp"]);
        assert_eq!(ports("127.0.0.1::80"), ["127.0.0.1||80|tcp"]);
        for bad in ["abc", "80/xyz", "1-2:3-5", "0", "70000"] {
            assert!(
                with_ctx(|ctx| parse_short_port(ctx, "p", bad)).0.is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn short_volumes() {
        let (mount, _) = with_ctx(|ctx| parse_short_volume(ctx, "v", "./src/../data:/data:ro,z"));
        let mount = mount.unwrap();
        assert_eq!(mount.kind, "bind");
        assert_eq!(mount.source.as_deref(), Some("/p/data"));
        assert!(mount.read_only);
        let (mount, _) = with_ctx(|ctx| parse_short_volume(ctx, "v", "~/x:/x"));
        assert_eq!(mount.unwrap().source.as_deref(), Some("/home/u/x"));
        let (mount, _) = with_ctx(|ctx| parse_short_volume(ctx, "v", "db:/var/lib/db"));
        let mount = mount.unwrap();
        assert_eq!(
            (mount.kind.as_str(), mount.source.as_deref()),
            ("volume", Some("db"))
        );
        let (mount, _) = with_ctx(|ctx| parse_short_volume(ctx, "v", "/anon"));
        assert_eq!(mount.unwrap().source, None);
        let (mount, _) = with_ctx(|ctx| parse_short_volume(ctx, "v", "./conf/:/etc/app/./x/:ro"));
        let mount = mount.unwrap();
        assert_eq!(mount.source.as_deref(), Some("/p/conf"));
        assert_eq!(mount.target, "/etc/app/x");
        assert!(
            with_ctx(|ctx| parse_short_volume(ctx, "v", "a:relative"))
                .0
                .is_err()
        );
        assert!(
            with_ctx(|ctx| parse_short_volume(ctx, "v", "a:/b:bogus"))
                .0
                .is_err()
        );
    }

    #[test]
    fn long_volume_targets_are_cleaned() {
        let value: Value = serde_yaml::from_str(
            "- {type: bind, source: ./conf/, target: /etc/grafana/provisioning/}\n- {type: tmpfs, target: //tmp/./cache/}\n",
        )
        .unwrap();
        let (mounts, _) = with_ctx(|ctx| parse_volumes(ctx, "v", &value));
        let targets: Vec<String> = mounts.unwrap().into_iter().map(|m| m.target).collect();
        assert_eq!(targets, ["/etc/grafana/provisioning", "/tmp/cache"]);
    }

    #[test]
    fn shell_words() {
        assert_eq!(
            shell_split("sh -c 'echo hi; sleep 1'").unwrap(),
            ["sh", "-c", "echo hi; sleep 1"]
        );
        assert_eq!(
            shell_split(r#"a "b \"c\"" d\ e"#).unwrap(),
            ["a", "b \"c\"", "d e"]
        );
        assert_eq!(shell_split("  ").unwrap(), Vec::<String>::new());
        assert_eq!(shell_split("''").unwrap(), [""]);
        assert!(shell_split("'open").is_err());
    }

    #[test]
    fn unknown_and_unsupported_keys_warn() {
        let value: Value =
            serde_yaml::from_str("image: x\nbogus: 1\nulimits: {}\nx-mine: 2\n").unwrap();
        let (service, warnings) = with_ctx(|ctx| parse_service(ctx, "web", &value));
        let service = service.unwrap();
        assert_eq!(service.extensions.len(), 1);
        assert_eq!(warnings.len(), 2);
        assert!(warnings[0].message.contains("unknown key \"bogus\""));
        assert!(warnings[1].message.contains("not supported"));
    }

    #[test]
    fn type_errors_name_the_key() {
        let value: Value = serde_yaml::from_str("image: x\nports: 80\n").unwrap();
        let (result, _) = with_ctx(|ctx| parse_service(ctx, "web", &value));
        let message = result.unwrap_err().to_string();
        assert!(
            message.contains("services.web.ports: must be a list"),
            "{message}"
        );
        let value: Value = serde_yaml::from_str("deploy: {replicas: many}\n").unwrap();
        let (result, _) = with_ctx(|ctx| parse_service(ctx, "web", &value));
        let message = result.unwrap_err().to_string();
        assert!(
            message.contains("services.web.deploy.replicas"),
            "{message}"
        );
    }
}
