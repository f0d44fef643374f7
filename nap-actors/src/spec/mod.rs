//! Docker create requests from the compose model.
//!
//! [`container_spec`] turns one placed container of a service (a [`DesiredContainer`]) into
//! the `ContainerCreateBody` to create it with and the networks to connect before it starts;
//! [`network_spec`] and [`volume_spec`] give the create requests for project networks and
//! named volumes. The mapping follows Docker Compose v2 (`getCreateConfigs`,
//! `buildContainerVolumes`, `getDeployResources`, `defaultNetworkSettings` in
//! `pkg/compose/create.go`), so a service means on each host what it means to compose.
//!
//! Pure functions: no I/O, no Docker calls. Values the loader keeps as written (durations,
//! sizes, CPU counts, `x: {…}` option maps) are converted here, and one that cannot be is a
//! [`SpecError`] naming the service and the field. Not mapped: what Docker cannot express per
//! container (`build`, `profiles`, `deploy.placement`, `depends_on`, replica counts) and
//! `links` (a Docker link only reaches a container on the same daemon; nap's name table in
//! the container's hosts file resolves link aliases instead).

mod host_config;
mod mounts;
mod network;
mod resources;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_resources;

use host_config::{
    healthcheck, log_config, ports, restart_policy, security_options, set_resources,
};
use mounts::{resolve_service_reference, volumes, volumes_from};
use network::networking;
pub use network::{network_spec, volume_spec};
use resources::set_service_resources;
use std::collections::{BTreeMap, HashMap};

use bollard::models::{ContainerCreateBody, EndpointSettings, HostConfig};
use nap_core::compose::Project;
use nap_core::plan::{DesiredContainer, LABEL_HOSTS_FILE};
use nap_core::units;
use serde_json::{Map, Value};

/// Everything needed to create one container.
#[derive(Debug, Clone, PartialEq)]
pub struct ContainerSpec {
    /// Docker container name.
    pub name: String,
    /// The create body.
    pub body: ContainerCreateBody,
    /// Networks to connect after create and before start, as (Docker network name, endpoint).
    /// Docker API < 1.44 (the hosts here speak 1.41) accepts only one network in
    /// `NetworkingConfig` at create time, so the primary network goes in the body and the
    /// rest here, as Compose v2 does.
    pub additional_networks: Vec<(String, EndpointSettings)>,
}

/// Why a container could not be described to Docker.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    /// The container's service is not in the project.
    #[error("service {service:?}: not in the project")]
    UnknownService {
        /// The service.
        service: String,
    },
    /// A field's value cannot be expressed to Docker.
    #[error("service {service:?}: {field}: {message}")]
    Invalid {
        /// The service.
        service: String,
        /// The field, dotted as in the compose file (`healthcheck.interval`, `volumes[2]`).
        field: String,
        /// What is wrong.
        message: String,
    },
}

/// The service being converted, for error messages.
struct ServiceContext<'a> {
    name: &'a str,
}

impl ServiceContext<'_> {
    fn invalid(&self, field: impl Into<String>, message: impl Into<String>) -> SpecError {
        SpecError::Invalid {
            service: self.name.to_string(),
            field: field.into(),
            message: message.into(),
        }
    }

    fn integer(&self, field: &str, value: u64) -> Result<i64, SpecError> {
        i64::try_from(value).map_err(|_| self.invalid(field, format!("{value} is too large")))
    }

    fn nanoseconds(&self, field: &str, text: &str) -> Result<i64, SpecError> {
        let duration = units::parse_duration(text)
            .map_err(|reason| self.invalid(field, reason.to_string()))?;
        i64::try_from(duration.as_nanos())
            .map_err(|_| self.invalid(field, format!("duration {text:?} is too large")))
    }

    fn bytes(&self, field: &str, text: &str) -> Result<i64, SpecError> {
        let bytes =
            units::parse_bytes(text).map_err(|reason| self.invalid(field, reason.to_string()))?;
        self.integer(field, bytes)
    }

    /// A mapping, or `None` for null.
    fn object<'v>(
        &self,
        field: &str,
        value: &'v Value,
    ) -> Result<Option<&'v Map<String, Value>>, SpecError> {
        match value {
            Value::Null => Ok(None),
            Value::Object(map) => Ok(Some(map)),
            other => Err(self.invalid(
                field,
                format!("must be a mapping, not {}", json_type(other)),
            )),
        }
    }

    /// A scalar as text (numbers and booleans as written).
    fn text(&self, field: &str, value: &Value) -> Result<String, SpecError> {
        match value {
            Value::String(text) => Ok(text.clone()),
            Value::Number(number) => Ok(number.to_string()),
            Value::Bool(flag) => Ok(flag.to_string()),
            other => {
                Err(self.invalid(field, format!("must be a string, not {}", json_type(other))))
            }
        }
    }

    fn boolean(&self, field: &str, value: &Value) -> Result<bool, SpecError> {
        match value {
            Value::Bool(flag) => Ok(*flag),
            Value::String(text) if text == "true" => Ok(true),
            Value::String(text) if text == "false" => Ok(false),
            other => Err(self.invalid(field, format!("must be true or false, not {other}"))),
        }
    }

    fn unsigned(&self, field: &str, value: &Value) -> Result<u64, SpecError> {
        let parsed = match value {
            Value::Number(number) => number.as_u64(),
            Value::String(text) => text.trim().parse().ok(),
            _ => None,
        };
        parsed.ok_or_else(|| self.invalid(field, format!("must be a whole number, not {value}")))
    }

    /// A mapping of scalars as text.
    fn string_map(
        &self,
        field: &str,
        value: &Value,
    ) -> Result<Option<HashMap<String, String>>, SpecError> {
        let Some(map) = self.object(field, value)? else {
            return Ok(None);
        };
        map.iter()
            .map(|(key, value)| {
                let text = match value {
                    Value::Null => String::new(),
                    other => self.text(&format!("{field}.{key}"), other)?,
                };
                Ok((key.clone(), text))
            })
            .collect::<Result<HashMap<_, _>, _>>()
            .map(Some)
    }
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

fn non_empty<T>(items: Vec<T>) -> Option<Vec<T>> {
    (!items.is_empty()).then_some(items)
}

fn non_empty_map<K, V>(map: HashMap<K, V>) -> Option<HashMap<K, V>> {
    (!map.is_empty()).then_some(map)
}

fn to_hash_map(map: &BTreeMap<String, String>) -> HashMap<String, String> {
    map.iter()
        .map(|(key, value)| (key.clone(), value.clone()))
        .collect()
}

/// The create body and extra networks of `container`, a placed replica of one of
/// `project`'s services.
///
/// The image is the container's (compose's `<project>-<service>` when the service has none);
/// labels are the service's with the container's `nap.*` labels over them. A container with a
/// nap hosts file (its view's, on its host) gets it bind-mounted read-only at `/etc/hosts`
/// and no `extra_hosts` (the service's own are in the file; Docker writes no hosts file
/// then); in routed mode one without a `hostname:` is named after its container, which the
/// file maps to its own fixed address (the line Docker would write for it). A container
/// without one (local mode, `network_mode: host` or `none`) keeps the service's
/// `extra_hosts` for Docker to write. The primary network
/// (highest `priority`, then by key, as compose picks it) goes in the body and
/// `host_config.network_mode`; the others are in
/// [`additional_networks`](ContainerSpec::additional_networks). `service:X` in
/// `network_mode`, `ipc`, `pid` and `volumes_from` names the container of X the scheduler
/// placed this replica beside (replica `((n - 1) % replicas(X)) + 1`).
pub fn container_spec(
    project: &Project,
    container: &DesiredContainer,
) -> Result<ContainerSpec, SpecError> {
    let service =
        project
            .services
            .get(&container.service)
            .ok_or_else(|| SpecError::UnknownService {
                service: container.service.clone(),
            })?;
    let context = ServiceContext {
        name: &container.service,
    };
    let (exposed_ports, port_bindings) = ports(&context, service)?;
    let (binds, mounts) = volumes(&context, project, service, container.replica)?;
    let networking = networking(&context, project, service, container)?;
    let (security_opt, unconfined_paths) = security_options(service);

    let hosts_mount = match &container.hosts_file {
        Some(file) => {
            let folder = nap_core::hosts_file::folder(&project.name, &container.host)
                .map_err(|error| context.invalid("hosts file", error.to_string()))?;
            Some(bollard::models::Mount {
                target: Some("/etc/hosts".to_string()),
                source: Some(format!("{folder}/{file}")),
                typ: Some(bollard::models::MountType::BIND),
                read_only: Some(true),
                ..bollard::models::Mount::default()
            })
        }
        None => None,
    };
    let extra_hosts = if hosts_mount.is_some() {
        Vec::new()
    } else {
        service.extra_hosts.clone()
    };
    let mut mounts = mounts;
    mounts.extend(hosts_mount);
    // The line Docker writes for a container's own hostname is in the file when the hostname
    // is its container name and the file maps that to its own fixed address (routed mode).
    let routed = container
        .networks
        .iter()
        .any(|network| network.ipv4_address.is_some());
    let hostname = service.hostname.clone().or_else(|| {
        (routed
            && container.hosts_file.is_some()
            && container.name.len() <= 63
            && nap_core::hosts_file::is_safe_name(&container.name))
        .then(|| container.name.clone())
    });
    let resolve = |field: &str, value: &Option<String>| {
        value
            .as_deref()
            .map(|value| resolve_service_reference(&context, project, field, value, container))
            .transpose()
    };

    let mut host_config = HostConfig {
        binds: non_empty(binds),
        mounts: non_empty(mounts),
        cap_add: non_empty(service.cap_add.clone()),
        cap_drop: non_empty(service.cap_drop.clone()),
        network_mode: Some(networking.mode),
        init: service.init,
        ipc_mode: resolve("ipc", &service.ipc)?,
        pid_mode: resolve("pid", &service.pid)?,
        readonly_rootfs: service.read_only,
        privileged: service.privileged,
        restart_policy: restart_policy(&context, service)?,
        shm_size: service
            .shm_size
            .as_deref()
            .map(|size| context.bytes("shm_size", size))
            .transpose()?,
        sysctls: non_empty_map(to_hash_map(&service.sysctls)),
        port_bindings: non_empty_map(port_bindings),
        volumes_from: non_empty(volumes_from(&context, project, service, container)?),
        dns: non_empty(service.dns.clone()),
        extra_hosts: non_empty(extra_hosts),
        security_opt: non_empty(security_opt),
        tmpfs: non_empty_map(
            service
                .tmpfs
                .iter()
                .map(|entry| {
                    let (target, options) = entry.split_once(':').unwrap_or((entry, ""));
                    (target.to_string(), options.to_string())
                })
                .collect(),
        ),
        log_config: log_config(&context, service)?,
        ..HostConfig::default()
    };
    if unconfined_paths {
        host_config.masked_paths = Some(Vec::new());
        host_config.readonly_paths = Some(Vec::new());
    }
    set_service_resources(&context, service, &mut host_config)?;
    set_resources(&context, service, &mut host_config)?;

    let mut labels = to_hash_map(&service.labels);
    labels.extend(to_hash_map(&container.labels));
    // Which hosts file it reads, so later deployments know from the listing.
    if let Some(file) = &container.hosts_file {
        labels.insert(LABEL_HOSTS_FILE.to_string(), file.clone());
    }
    let image = if container.image.is_empty() {
        service
            .image
            .clone()
            .unwrap_or_else(|| format!("{}-{}", project.name, container.service))
    } else {
        container.image.clone()
    };
    let environment: Vec<String> = service
        .environment
        .iter()
        .filter_map(|(key, value)| value.as_ref().map(|value| format!("{key}={value}")))
        .collect();

    let body = ContainerCreateBody {
        hostname,
        domainname: service.domainname.clone(),
        user: service.user.clone(),
        exposed_ports: non_empty(exposed_ports),
        tty: service.tty,
        open_stdin: service.stdin_open,
        // A one-off (`nap run`) is attached to: its stdin closes when nap's ends, as with
        // `docker run -i` (without this, Docker ends the attached output at stdin's end).
        stdin_once: (nap_core::plan::is_one_off(&container.labels)
            && service.stdin_open == Some(true))
        .then_some(true),
        env: non_empty(environment),
        cmd: service.command.clone(),
        healthcheck: service
            .healthcheck
            .as_ref()
            .map(|check| healthcheck(&context, check))
            .transpose()?,
        image: Some(image),
        working_dir: service.working_dir.clone(),
        entrypoint: service.entrypoint.clone(),
        network_disabled: networking.disabled.then_some(true),
        labels: Some(labels),
        stop_signal: service.stop_signal.clone(),
        stop_timeout: service
            .stop_grace_period
            .as_deref()
            .map(|text| {
                units::parse_duration(text)
                    .map_err(|reason| context.invalid("stop_grace_period", reason.to_string()))
                    .and_then(|duration| context.integer("stop_grace_period", duration.as_secs()))
            })
            .transpose()?,
        host_config: Some(host_config),
        networking_config: networking.config,
        ..ContainerCreateBody::default()
    };
    Ok(ContainerSpec {
        name: container.name.clone(),
        body,
        additional_networks: networking.additional,
    })
}
