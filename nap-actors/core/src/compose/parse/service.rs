//! One service definition: the keys nap reads, those it warns about, and the small ones
//! (`build`, `depends_on`, `env_file`, `extends`, `extra_hosts`, `links`) read here; ports,
//! volumes, networks, `deploy`, `healthcheck`, `secrets`/`configs` and the resource and
//! namespace keys (`resources.rs`) have their own files.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde_yaml::Value;

use super::FileContext;
use super::build::parse_build;
use super::command::command;
use super::deploy::{parse_deploy, parse_restart};
use super::healthcheck::parse_healthcheck;
use super::networks::parse_service_networks;
use super::ports::parse_ports;
use super::read::*;
use super::resources::parse_resource_key;
use super::secrets::{FileKind, parse_service_refs};
use super::volumes::parse_volumes;
use crate::compose::LoadError;
use crate::compose::model::*;
use crate::compose::names;

/// Compose service keys nap reads.
pub(super) const SERVICE_KEYS: &[&str] = &[
    "blkio_config",
    "build",
    "cap_add",
    "cap_drop",
    "cgroup",
    "cgroup_parent",
    "command",
    "configs",
    "container_name",
    "cpu_count",
    "cpu_percent",
    "cpu_period",
    "cpu_quota",
    "cpu_rt_period",
    "cpu_rt_runtime",
    "cpu_shares",
    "cpus",
    "cpuset",
    "depends_on",
    "deploy",
    "device_cgroup_rules",
    "devices",
    "dns",
    "dns_opt",
    "dns_search",
    "domainname",
    "entrypoint",
    "env_file",
    "environment",
    "expose",
    "extends",
    "extra_hosts",
    "group_add",
    "healthcheck",
    "hostname",
    "image",
    "init",
    "ipc",
    "isolation",
    "label_file",
    "labels",
    "links",
    "logging",
    "mac_address",
    "mem_limit",
    "mem_reservation",
    "mem_swappiness",
    "memswap_limit",
    "network_mode",
    "networks",
    "oom_kill_disable",
    "oom_score_adj",
    "pid",
    "pids_limit",
    "platform",
    "ports",
    "privileged",
    "profiles",
    "read_only",
    "restart",
    "runtime",
    "scale",
    "secrets",
    "security_opt",
    "shm_size",
    "stdin_open",
    "stop_grace_period",
    "stop_signal",
    "storage_opt",
    "sysctls",
    "tmpfs",
    "tty",
    "ulimits",
    "user",
    "userns_mode",
    "uts",
    "volume_driver",
    "volumes",
    "volumes_from",
    "working_dir",
];

/// Compose service keys that nap does not deploy yet: accepted with a warning.
pub(super) const UNSUPPORTED_SERVICE_KEYS: &[&str] = &[
    "annotations",
    "attach",
    "credential_spec",
    "develop",
    "external_links",
    "gpus",
    "models",
    "post_start",
    "pre_stop",
    "provider",
    "pull_policy",
    "use_api_socket",
];

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
            "label_file" => {
                service.label_file = string_list(ctx, path, value)?
                    .iter()
                    .map(|file| PathBuf::from(ctx.resolve_path(file)))
                    .collect()
            }
            "links" => {
                service.links = strict_string_list(ctx, path, value)?;
                check_links(ctx, path, &service.links, false)?;
            }
            "domainname" => {
                service.domainname = optional_string(ctx, path, value)?;
                if let Some(name) = &service.domainname {
                    names::check_host_name(name)
                        .map_err(|reason| ctx.invalid(path, format!("domainname {reason}")))?;
                }
            }
            "secrets" => service.secrets = parse_service_refs(ctx, FileKind::Secret, path, value)?,
            "configs" => service.configs = parse_service_refs(ctx, FileKind::Config, path, value)?,
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
            resource if parse_resource_key(ctx, resource, path, value, &mut service)? => {}
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

pub(super) fn parse_condition(
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

pub(super) fn parse_depends_on(
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

pub(super) fn parse_env_file(
    ctx: &FileContext,
    path: &str,
    value: &Value,
) -> Result<Vec<EnvFile>, LoadError> {
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

pub(super) fn parse_extends(
    ctx: &FileContext,
    path: &str,
    value: &Value,
) -> Result<Extends, LoadError> {
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

pub(super) fn parse_extra_hosts(
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
pub(super) fn check_links(
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
