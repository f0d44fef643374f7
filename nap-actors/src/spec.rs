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
//! `extra_hosts` resolves link aliases instead).

use std::cmp::Reverse;
use std::collections::{BTreeMap, HashMap};

use bollard::models::{
    ContainerCreateBody, EndpointIpamConfig, EndpointSettings, HealthConfig, HostConfig,
    HostConfigLogConfig, Ipam, IpamConfig, Mount, MountBindOptions,
    MountBindOptionsPropagationEnum, MountTmpfsOptions, MountType, MountVolumeOptions,
    NetworkCreateRequest, NetworkingConfig, PortBinding, PortMap, RestartPolicy,
    RestartPolicyNameEnum, VolumeCreateRequest,
};
use nap_core::compose::{Healthcheck, Project, Service, VolumeMount};
use nap_core::plan::{
    self, DesiredContainer, DesiredNetwork, LABEL_EXTRA_HOSTS_HASH, LABEL_NETWORK, LABEL_PROJECT,
    NetworkAttachment, container_name,
};
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
        let duration = units::parse_duration(text).map_err(|reason| self.invalid(field, reason))?;
        i64::try_from(duration.as_nanos())
            .map_err(|_| self.invalid(field, format!("duration {text:?} is too large")))
    }

    fn bytes(&self, field: &str, text: &str) -> Result<i64, SpecError> {
        let bytes = units::parse_bytes(text).map_err(|reason| self.invalid(field, reason))?;
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
/// labels are the service's with the container's `nap.*` labels over them; `extra_hosts` are
/// the service's own entries followed by the container's name table. The primary network
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
    let (binds, mounts) = volumes(&context, project, service)?;
    let networking = networking(&context, project, service, container)?;
    let (security_opt, unconfined_paths) = security_options(service);

    let mut extra_hosts = service.extra_hosts.clone();
    if networking.own_namespace {
        extra_hosts.extend(container.extra_hosts.iter().map(|entry| entry.extra_host()));
    }
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
    set_resources(&context, service, &mut host_config)?;

    let mut labels = to_hash_map(&service.labels);
    labels.extend(to_hash_map(&container.labels));
    // Which table the container holds, so later deployments need not inspect it.
    let extra_hosts_hash = if networking.own_namespace {
        container.extra_hosts_hash.clone()
    } else {
        plan::extra_hosts_hash(&service.extra_hosts, &[])
    };
    labels.insert(LABEL_EXTRA_HOSTS_HASH.to_string(), extra_hosts_hash);
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
        hostname: service.hostname.clone(),
        user: service.user.clone(),
        exposed_ports: non_empty(exposed_ports),
        tty: service.tty,
        open_stdin: service.stdin_open,
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
                    .map_err(|reason| context.invalid("stop_grace_period", reason))
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

/// The healthcheck with durations in nanoseconds; `disable` is the test `["NONE"]`.
fn healthcheck(context: &ServiceContext, check: &Healthcheck) -> Result<HealthConfig, SpecError> {
    let duration = |field: &str, value: &Option<String>| {
        value
            .as_deref()
            .map(|text| context.nanoseconds(&format!("healthcheck.{field}"), text))
            .transpose()
    };
    if check.start_interval.is_some() && check.start_period.is_none() {
        // As compose: the daemon ignores start_interval without a start period
        // (moby/moby#48874).
        return Err(context.invalid(
            "healthcheck.start_interval",
            "requires healthcheck.start_period to be set",
        ));
    }
    Ok(HealthConfig {
        test: if check.disable {
            Some(vec!["NONE".to_string()])
        } else {
            check.test.clone()
        },
        interval: duration("interval", &check.interval)?,
        timeout: duration("timeout", &check.timeout)?,
        retries: check
            .retries
            .map(|retries| context.integer("healthcheck.retries", retries))
            .transpose()?,
        start_period: duration("start_period", &check.start_period)?,
        start_interval: duration("start_interval", &check.start_interval)?,
    })
}

/// `ExposedPorts` (every `ports` target and every `expose` entry, ranges expanded) and
/// `PortBindings` (every `ports` entry; no published port means a random host port).
fn ports(context: &ServiceContext, service: &Service) -> Result<(Vec<String>, PortMap), SpecError> {
    let mut exposed: Vec<String> = Vec::new();
    let mut expose = |port: String| {
        if !exposed.contains(&port) {
            exposed.push(port);
        }
    };
    let mut bindings: PortMap = HashMap::new();
    for port in &service.ports {
        let key = format!("{}/{}", port.target, port.protocol);
        expose(key.clone());
        bindings
            .entry(key)
            .or_insert_with(|| Some(Vec::new()))
            .get_or_insert_with(Vec::new)
            .push(PortBinding {
                host_ip: port.host_ip.clone(),
                host_port: port.published.clone(),
            });
    }
    for (index, entry) in service.expose.iter().enumerate() {
        let field = format!("expose[{index}]");
        let (range, protocol) = entry.split_once('/').unwrap_or((entry, "tcp"));
        let protocol = protocol.to_ascii_lowercase();
        if !matches!(protocol.as_str(), "tcp" | "udp" | "sctp") {
            return Err(context.invalid(field, format!("invalid protocol {protocol:?}")));
        }
        let number = |text: &str| match text.trim().parse::<u16>() {
            Ok(port) if port > 0 => Ok(port),
            _ => Err(context.invalid(&field, format!("invalid port {entry:?}"))),
        };
        let (start, end) = match range.split_once('-') {
            Some((start, end)) => (number(start)?, number(end)?),
            None => {
                let port = number(range)?;
                (port, port)
            }
        };
        if end < start {
            return Err(context.invalid(&field, format!("invalid port range {entry:?}")));
        }
        for port in start..=end {
            expose(format!("{port}/{protocol}"));
        }
    }
    Ok((exposed, bindings))
}

/// A mount's `bind:` options.
struct BindOptions {
    create_host_path: bool,
    propagation: Option<MountBindOptionsPropagationEnum>,
    selinux: Option<String>,
    recursive: Option<String>,
}

impl BindOptions {
    fn read(
        context: &ServiceContext,
        field: &str,
        value: Option<&Value>,
    ) -> Result<BindOptions, SpecError> {
        let mut options = BindOptions {
            // compose-go's `create_host_path` defaults to true (an `OptOut`).
            create_host_path: true,
            propagation: None,
            selinux: None,
            recursive: None,
        };
        let Some(map) = value
            .map(|value| context.object(&format!("{field}.bind"), value))
            .transpose()?
            .flatten()
        else {
            return Ok(options);
        };
        for (key, value) in map {
            let key_field = format!("{field}.bind.{key}");
            match key.as_str() {
                "create_host_path" => {
                    options.create_host_path = context.boolean(&key_field, value)?
                }
                "propagation" => {
                    let propagation = context.text(&key_field, value)?;
                    options.propagation = Some(match propagation.as_str() {
                        "private" => MountBindOptionsPropagationEnum::PRIVATE,
                        "rprivate" => MountBindOptionsPropagationEnum::RPRIVATE,
                        "shared" => MountBindOptionsPropagationEnum::SHARED,
                        "rshared" => MountBindOptionsPropagationEnum::RSHARED,
                        "slave" => MountBindOptionsPropagationEnum::SLAVE,
                        "rslave" => MountBindOptionsPropagationEnum::RSLAVE,
                        other => {
                            return Err(context.invalid(
                                key_field,
                                format!("invalid propagation {other:?} (expected private, rprivate, shared, rshared, slave or rslave)"),
                            ));
                        }
                    });
                }
                "selinux" => {
                    let selinux = context.text(&key_field, value)?;
                    if !matches!(selinux.as_str(), "z" | "Z") {
                        return Err(context.invalid(
                            key_field,
                            format!("invalid selinux {selinux:?} (expected z or Z)"),
                        ));
                    }
                    options.selinux = Some(selinux);
                }
                "recursive" => {
                    let recursive = context.text(&key_field, value)?;
                    if !matches!(
                        recursive.as_str(),
                        "enabled" | "disabled" | "writable" | "readonly"
                    ) {
                        return Err(context.invalid(
                            key_field,
                            format!("invalid recursive {recursive:?} (expected enabled, disabled, writable or readonly)"),
                        ));
                    }
                    options.recursive = Some(recursive);
                }
                _ => {}
            }
        }
        Ok(options)
    }

    /// Whether the legacy `Binds` string cannot say it (compose's `bindRequiresMountAPI`).
    /// Only `Binds` creates a missing host path, so it is preferred.
    fn requires_mount_api(&self) -> bool {
        !self.create_host_path || self.propagation.is_some() || self.recursive.is_some()
    }

    fn mount_options(&self) -> MountBindOptions {
        let recursive = self.recursive.as_deref();
        MountBindOptions {
            propagation: self.propagation,
            create_mountpoint: self.create_host_path.then_some(true),
            non_recursive: (recursive == Some("disabled")).then_some(true),
            read_only_non_recursive: (recursive == Some("writable")).then_some(true),
            read_only_force_recursive: (recursive == Some("readonly")).then_some(true),
        }
    }
}

/// A mount's `volume:` options.
fn volume_options(
    context: &ServiceContext,
    field: &str,
    value: Option<&Value>,
) -> Result<Option<MountVolumeOptions>, SpecError> {
    let Some(map) = value
        .map(|value| context.object(&format!("{field}.volume"), value))
        .transpose()?
        .flatten()
    else {
        return Ok(None);
    };
    let mut options = MountVolumeOptions::default();
    for (key, value) in map {
        let key_field = format!("{field}.volume.{key}");
        match key.as_str() {
            "nocopy" => options.no_copy = context.boolean(&key_field, value)?.then_some(true),
            "subpath" => {
                options.subpath = Some(context.text(&key_field, value)?).filter(|s| !s.is_empty())
            }
            "labels" => {
                options.labels = context
                    .string_map(&key_field, value)?
                    .and_then(non_empty_map)
            }
            _ => {}
        }
    }
    Ok(Some(options))
}

/// Whether volume options need the Mount API (compose's `volumeRequiresMountAPI`).
fn volume_requires_mount_api(options: &Option<MountVolumeOptions>) -> bool {
    options.as_ref().is_some_and(|options| {
        options.no_copy == Some(true) || options.subpath.is_some() || options.labels.is_some()
    })
}

/// A mount's `tmpfs:` options: `size` in bytes (a number or a size like `64m`) and `mode`
/// (a number as written, or a string, octal when it starts with `0`).
fn tmpfs_options(
    context: &ServiceContext,
    field: &str,
    value: Option<&Value>,
) -> Result<Option<MountTmpfsOptions>, SpecError> {
    let Some(map) = value
        .map(|value| context.object(&format!("{field}.tmpfs"), value))
        .transpose()?
        .flatten()
    else {
        return Ok(None);
    };
    let mut options = MountTmpfsOptions::default();
    for (key, value) in map {
        let key_field = format!("{field}.tmpfs.{key}");
        match key.as_str() {
            "size" => {
                options.size_bytes = Some(match value {
                    Value::String(text) => context.bytes(&key_field, text)?,
                    other => context.integer(&key_field, context.unsigned(&key_field, other)?)?,
                })
            }
            "mode" => {
                let mode = match value {
                    Value::String(text) => {
                        let digits = text.trim();
                        let parsed = match digits.strip_prefix("0o") {
                            Some(octal) => i64::from_str_radix(octal, 8),
                            None if digits.len() > 1 && digits.starts_with('0') => {
                                i64::from_str_radix(&digits[1..], 8)
                            }
                            None => digits.parse(),
                        };
                        parsed.map_err(|_| {
                            context.invalid(&key_field, format!("invalid mode {text:?}"))
                        })?
                    }
                    other => context.integer(&key_field, context.unsigned(&key_field, other)?)?,
                };
                options.mode = Some(mode);
            }
            _ => {}
        }
    }
    Ok(Some(options))
}

/// The legacy `Binds` form, `source:target:rw|ro[,selinux]` (compose's `toBindString`).
fn bind_string(source: &str, mount: &VolumeMount, selinux: Option<&str>) -> String {
    let mut options = vec![if mount.read_only { "ro" } else { "rw" }];
    options.extend(selinux);
    format!("{source}:{}:{}", mount.target, options.join(","))
}

/// `Binds` and `Mounts`, in `volumes:` order. As compose: bind mounts and named volumes
/// without advanced options use `Binds` (which creates a missing host path); anonymous
/// volumes, tmpfs and the rest use `Mounts`.
fn volumes(
    context: &ServiceContext,
    project: &Project,
    service: &Service,
) -> Result<(Vec<String>, Vec<Mount>), SpecError> {
    let mut binds = Vec::new();
    let mut mounts = Vec::new();
    for (index, volume) in service.volumes.iter().enumerate() {
        let field = format!("volumes[{index}]");
        let mount = |typ: MountType, source: Option<String>| Mount {
            typ: Some(typ),
            source,
            target: Some(volume.target.clone()),
            read_only: volume.read_only.then_some(true),
            consistency: volume.consistency.clone(),
            ..Mount::default()
        };
        match volume.kind.as_str() {
            "bind" => {
                let source = volume
                    .source
                    .clone()
                    .ok_or_else(|| context.invalid(&field, "a bind mount needs a source"))?;
                let options = BindOptions::read(context, &field, volume.bind.as_ref())?;
                if options.requires_mount_api() {
                    mounts.push(Mount {
                        bind_options: Some(options.mount_options()),
                        ..mount(MountType::BIND, Some(source))
                    });
                } else {
                    binds.push(bind_string(&source, volume, options.selinux.as_deref()));
                }
            }
            "volume" => {
                let options = volume_options(context, &field, volume.volume.as_ref())?;
                let source = volume.source.as_ref().map(|source| {
                    project
                        .volumes
                        .get(source)
                        .map(|named| named.name.clone())
                        .unwrap_or_else(|| source.clone())
                });
                match source {
                    Some(name)
                        if !volume_requires_mount_api(&options)
                            && project.volumes.values().any(|named| named.name == name) =>
                    {
                        binds.push(bind_string(&name, volume, None));
                    }
                    source => mounts.push(Mount {
                        volume_options: options,
                        ..mount(MountType::VOLUME, source)
                    }),
                }
            }
            "tmpfs" => mounts.push(Mount {
                tmpfs_options: tmpfs_options(context, &field, volume.tmpfs.as_ref())?,
                ..mount(MountType::TMPFS, None)
            }),
            "npipe" => mounts.push(mount(MountType::NPIPE, volume.source.clone())),
            "cluster" => mounts.push(mount(MountType::CLUSTER, volume.source.clone())),
            "image" => mounts.push(mount(MountType::IMAGE, volume.source.clone())),
            other => {
                return Err(context.invalid(&field, format!("invalid volume type {other:?}")));
            }
        }
    }
    Ok((binds, mounts))
}

/// The container of service `target` that `container` was placed beside: replica
/// `((n - 1) % replicas) + 1`, as the scheduler pairs them.
fn colocated_container(
    context: &ServiceContext,
    project: &Project,
    field: &str,
    target: &str,
    container: &DesiredContainer,
) -> Result<String, SpecError> {
    let service = project.services.get(target).ok_or_else(|| {
        context.invalid(field, format!("service {target:?} is not in the project"))
    })?;
    let replicas = service.replicas().max(1);
    let replica = (container.replica.max(1) - 1) % replicas + 1;
    Ok(container_name(&project.name, target, service, replica))
}

/// `service:X` as `container:<X's container>`; anything else unchanged.
fn resolve_service_reference(
    context: &ServiceContext,
    project: &Project,
    field: &str,
    value: &str,
    container: &DesiredContainer,
) -> Result<String, SpecError> {
    match value.strip_prefix("service:") {
        Some(target) => Ok(format!(
            "container:{}",
            colocated_container(context, project, field, target, container)?
        )),
        None => Ok(value.to_string()),
    }
}

/// `volumes_from` as Docker takes it, `container[:ro|rw]`.
fn volumes_from(
    context: &ServiceContext,
    project: &Project,
    service: &Service,
    container: &DesiredContainer,
) -> Result<Vec<String>, SpecError> {
    service
        .volumes_from
        .iter()
        .enumerate()
        .map(|(index, entry)| {
            let (reference, mode) = match entry.rsplit_once(':') {
                Some((reference, mode)) if mode == "ro" || mode == "rw" => (reference, Some(mode)),
                _ => (entry.as_str(), None),
            };
            let name = match reference.strip_prefix("container:") {
                Some(name) => name.to_string(),
                None => colocated_container(
                    context,
                    project,
                    &format!("volumes_from[{index}]"),
                    reference,
                    container,
                )?,
            };
            Ok(match mode {
                Some(mode) => format!("{name}:{mode}"),
                None => name,
            })
        })
        .collect()
}

/// `security_opt` without compose's own `systempaths=unconfined`, and whether it was there.
fn security_options(service: &Service) -> (Vec<String>, bool) {
    let mut unconfined = false;
    let options = service
        .security_opt
        .iter()
        .filter(|option| {
            let is_unconfined = option.as_str() == "systempaths=unconfined";
            unconfined |= is_unconfined;
            !is_unconfined
        })
        .cloned()
        .collect();
    (options, unconfined)
}

fn restart_name(
    context: &ServiceContext,
    field: &str,
    condition: &str,
) -> Result<RestartPolicyNameEnum, SpecError> {
    match condition {
        "no" | "none" => Ok(RestartPolicyNameEnum::NO),
        "always" | "any" => Ok(RestartPolicyNameEnum::ALWAYS),
        "on-failure" => Ok(RestartPolicyNameEnum::ON_FAILURE),
        "unless-stopped" => Ok(RestartPolicyNameEnum::UNLESS_STOPPED),
        other => Err(context.invalid(
            field,
            format!("invalid restart policy {other:?} (expected no, always, on-failure[:N] or unless-stopped)"),
        )),
    }
}

/// `restart:`, overridden by `deploy.restart_policy` when that is set (as compose does). A
/// retry count is sent with `on-failure` only (the daemon rejects it with the others).
fn restart_policy(
    context: &ServiceContext,
    service: &Service,
) -> Result<Option<RestartPolicy>, SpecError> {
    let policy = |name: RestartPolicyNameEnum, attempts: Option<i64>| RestartPolicy {
        maximum_retry_count: attempts.filter(|_| name == RestartPolicyNameEnum::ON_FAILURE),
        name: Some(name),
    };
    let deploy_policy = service
        .deploy
        .as_ref()
        .and_then(|deploy| deploy.restart_policy.as_ref());
    if let Some(value) = deploy_policy
        && let Some(map) = context.object("deploy.restart_policy", value)?
    {
        let condition = map
            .get("condition")
            .filter(|value| !value.is_null())
            .map(|value| context.text("deploy.restart_policy.condition", value))
            .transpose()?;
        let attempts = map
            .get("max_attempts")
            .filter(|value| !value.is_null())
            .map(|value| {
                let field = "deploy.restart_policy.max_attempts";
                context.integer(field, context.unsigned(field, value)?)
            })
            .transpose()?;
        // Compose sends an empty policy name (the daemon's `no`) without a condition.
        let Some(condition) = condition else {
            return Ok(None);
        };
        let name = restart_name(context, "deploy.restart_policy.condition", &condition)?;
        return Ok(Some(policy(name, attempts)));
    }
    let Some(restart) = &service.restart else {
        return Ok(None);
    };
    let (condition, count) = match restart.split_once(':') {
        Some((condition, count)) => (condition, Some(count)),
        None => (restart.as_str(), None),
    };
    let attempts =
        count
            .map(|count| {
                count.trim().parse::<u32>().map(i64::from).map_err(|_| {
                    context.invalid("restart", format!("invalid retry count {count:?}"))
                })
            })
            .transpose()?;
    Ok(Some(policy(
        restart_name(context, "restart", condition)?,
        attempts,
    )))
}

/// `deploy.resources`: limits as `NanoCpus`, `Memory` and `PidsLimit`; the memory
/// reservation as `MemoryReservation` (a CPU reservation is Swarm's only).
fn set_resources(
    context: &ServiceContext,
    service: &Service,
    host_config: &mut HostConfig,
) -> Result<(), SpecError> {
    let Some(resources) = service
        .deploy
        .as_ref()
        .and_then(|deploy| deploy.resources.as_ref())
    else {
        return Ok(());
    };
    if let Some(limits) = &resources.limits {
        if let Some(cpus) = &limits.cpus {
            let field = "deploy.resources.limits.cpus";
            let nano_cpus =
                units::parse_nano_cpus(cpus).map_err(|reason| context.invalid(field, reason))?;
            host_config.nano_cpus = Some(context.integer(field, nano_cpus)?);
        }
        if let Some(memory) = &limits.memory {
            host_config.memory = Some(context.bytes("deploy.resources.limits.memory", memory)?);
        }
        if let Some(pids) = limits.pids {
            host_config.pids_limit = Some(context.integer("deploy.resources.limits.pids", pids)?);
        }
    }
    if let Some(memory) = resources
        .reservations
        .as_ref()
        .and_then(|reservations| reservations.memory.as_ref())
    {
        host_config.memory_reservation =
            Some(context.bytes("deploy.resources.reservations.memory", memory)?);
    }
    Ok(())
}

/// `logging:` as `LogConfig` (driver and options as strings).
fn log_config(
    context: &ServiceContext,
    service: &Service,
) -> Result<Option<HostConfigLogConfig>, SpecError> {
    let Some(map) = service
        .logging
        .as_ref()
        .map(|value| context.object("logging", value))
        .transpose()?
        .flatten()
    else {
        return Ok(None);
    };
    let driver = map
        .get("driver")
        .filter(|value| !value.is_null())
        .map(|value| context.text("logging.driver", value))
        .transpose()?;
    let options = map
        .get("options")
        .map(|value| context.string_map("logging.options", value))
        .transpose()?
        .flatten()
        .and_then(non_empty_map);
    Ok(Some(HostConfigLogConfig {
        typ: driver,
        config: options,
    }))
}

/// How the container is networked.
struct Networking {
    /// `HostConfig.NetworkMode`: the primary network's name, or the service's `network_mode`.
    mode: String,
    /// `network_mode: disabled`.
    disabled: bool,
    /// The primary network's endpoint.
    config: Option<NetworkingConfig>,
    /// The other networks, connected before start.
    additional: Vec<(String, EndpointSettings)>,
    /// Whether the container has its own network namespace (and so its own hosts file).
    own_namespace: bool,
}

fn endpoint_settings(service: &Service, attachment: &NetworkAttachment) -> EndpointSettings {
    let ipv6_address = service
        .networks
        .get(&attachment.key)
        .and_then(|options| options.as_ref())
        .and_then(|options| options.ipv6_address.clone());
    let ipam_config =
        (attachment.ipv4_address.is_some() || ipv6_address.is_some()).then(|| EndpointIpamConfig {
            ipv4_address: attachment.ipv4_address.map(|address| address.to_string()),
            ipv6_address,
            ..EndpointIpamConfig::default()
        });
    EndpointSettings {
        aliases: non_empty(attachment.aliases.clone()),
        ipam_config,
        ..EndpointSettings::default()
    }
}

/// The network mode and endpoints: the service's `network_mode` alone when set; otherwise
/// the attachments by compose's priority order (highest `priority` first, then by key).
fn networking(
    context: &ServiceContext,
    project: &Project,
    service: &Service,
    container: &DesiredContainer,
) -> Result<Networking, SpecError> {
    if let Some(mode) = &service.network_mode {
        let mode = resolve_service_reference(context, project, "network_mode", mode, container)?;
        return Ok(Networking {
            disabled: mode == "disabled",
            own_namespace: !mode.starts_with("container:"),
            mode,
            config: None,
            additional: Vec::new(),
        });
    }
    let priority = |attachment: &NetworkAttachment| {
        service
            .networks
            .get(&attachment.key)
            .and_then(|options| options.as_ref())
            .and_then(|options| options.priority)
            .unwrap_or(0)
    };
    let mut attachments: Vec<&NetworkAttachment> = container.networks.iter().collect();
    attachments.sort_by(|left, right| {
        (Reverse(priority(left)), &left.key).cmp(&(Reverse(priority(right)), &right.key))
    });
    let mut endpoints = attachments
        .into_iter()
        .map(|attachment| {
            (
                attachment.network.clone(),
                endpoint_settings(service, attachment),
            )
        })
        .collect::<Vec<_>>()
        .into_iter();
    let Some((primary, endpoint)) = endpoints.next() else {
        // As compose when the project has no network.
        return Ok(Networking {
            mode: "none".to_string(),
            disabled: false,
            config: None,
            additional: Vec::new(),
            own_namespace: true,
        });
    };
    Ok(Networking {
        config: Some(NetworkingConfig {
            endpoints_config: Some(HashMap::from([(primary.clone(), endpoint)])),
        }),
        mode: primary,
        disabled: false,
        additional: endpoints.collect(),
        own_namespace: true,
    })
}

/// The create request of a project network on one host: the compose network's driver,
/// options, `internal` and labels, with `nap.project` and `nap.network` over the labels. In
/// routed mode (`subnet` set) the IPAM config is that subnet with its `.1` as gateway;
/// otherwise the compose network's `ipam:` when it says anything. (`attachable` is not in
/// the compose model and is left to the daemon.)
pub fn network_spec(project: &Project, network: &DesiredNetwork) -> NetworkCreateRequest {
    let compose = project.networks.get(&network.key);
    let mut labels = compose
        .map(|compose| to_hash_map(&compose.labels))
        .unwrap_or_default();
    labels.insert(LABEL_PROJECT.to_string(), project.name.clone());
    labels.insert(LABEL_NETWORK.to_string(), network.key.clone());
    let ipam = match network.subnet {
        Some(subnet) => Some(Ipam {
            config: Some(vec![IpamConfig {
                subnet: Some(subnet.to_string()),
                gateway: subnet.address(1).map(|gateway| gateway.to_string()),
                ..IpamConfig::default()
            }]),
            ..Ipam::default()
        }),
        None => compose
            .and_then(|compose| compose.ipam.as_ref())
            .and_then(compose_ipam),
    };
    NetworkCreateRequest {
        name: network.name.clone(),
        driver: Some(network.driver.clone()),
        internal: compose.map(|compose| compose.internal),
        ipam,
        options: compose
            .map(|compose| to_hash_map(&compose.driver_opts))
            .and_then(non_empty_map),
        labels: Some(labels),
        ..NetworkCreateRequest::default()
    }
}

/// A compose `ipam:` (`driver`, `config: [{subnet, ip_range, gateway, aux_addresses}]`,
/// `options`) as Docker's, or `None` when it sets nothing. Values of the wrong shape are
/// skipped (the daemon validates addresses).
fn compose_ipam(value: &Value) -> Option<Ipam> {
    fn text(value: Option<&Value>) -> Option<String> {
        match value? {
            Value::String(text) if !text.is_empty() => Some(text.clone()),
            Value::Number(number) => Some(number.to_string()),
            _ => None,
        }
    }
    fn strings(value: Option<&Value>) -> Option<HashMap<String, String>> {
        let map: HashMap<String, String> = value?
            .as_object()?
            .iter()
            .filter_map(|(key, value)| Some((key.clone(), text(Some(value))?)))
            .collect();
        non_empty_map(map)
    }
    let map = value.as_object()?;
    let config: Vec<IpamConfig> = map
        .get("config")
        .and_then(Value::as_array)
        .map(|pools| {
            pools
                .iter()
                .filter_map(Value::as_object)
                .map(|pool| IpamConfig {
                    subnet: text(pool.get("subnet")),
                    ip_range: text(pool.get("ip_range")),
                    gateway: text(pool.get("gateway")),
                    auxiliary_addresses: strings(pool.get("aux_addresses")),
                })
                .collect()
        })
        .unwrap_or_default();
    let ipam = Ipam {
        driver: text(map.get("driver")),
        config: non_empty(config),
        options: strings(map.get("options")),
    };
    (ipam != Ipam::default()).then_some(ipam)
}

/// The create request of the named volume whose Docker name is `name`: the compose volume's
/// driver, driver options and labels, with `nap.project` over the labels. A name no project
/// volume has gets the name and the project label only.
pub fn volume_spec(project: &Project, name: &str) -> VolumeCreateRequest {
    let compose = project.volumes.values().find(|volume| volume.name == name);
    let mut labels = compose
        .map(|compose| to_hash_map(&compose.labels))
        .unwrap_or_default();
    labels.insert(LABEL_PROJECT.to_string(), project.name.clone());
    VolumeCreateRequest {
        name: Some(name.to_string()),
        driver: compose.and_then(|compose| compose.driver.clone()),
        driver_opts: compose
            .map(|compose| to_hash_map(&compose.driver_opts))
            .and_then(non_empty_map),
        labels: Some(labels),
        ..VolumeCreateRequest::default()
    }
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use nap_core::compose::{LoadOptions, MemoryFileSystem, load_with};
    use nap_core::inventory::Inventory;
    use nap_core::plan::{DesiredState, ObservedState, desired_state};
    use nap_core::scheduler::DefaultPolicy;

    use super::*;

    /// Two hosts, routed networking over 172.30.0.0/16.
    const ROUTED: &str = "\
hosts:
  h1:
    docker: tcp://10.0.0.1:2375
    ssh: root@10.0.0.1
  h2:
    docker: tcp://10.0.0.2:2375
    ssh: root@10.0.0.2
network:
  mode: routed
  pool: 172.30.0.0/16
";

    /// Loads `/p/compose.yaml` holding `compose`, with `environment` as the process
    /// environment.
    fn project_with_env(compose: &str, environment: &[(&str, &str)]) -> Project {
        let fs = MemoryFileSystem::default().with("/p/compose.yaml", compose);
        let options = LoadOptions {
            working_dir: PathBuf::from("/p"),
            environment: environment
                .iter()
                .map(|(key, value)| (key.to_string(), value.to_string()))
                .collect(),
            ..LoadOptions::default()
        };
        match load_with(&options, &fs) {
            Ok(loaded) => loaded.project,
            Err(error) => panic!("cannot load the test project: {error}"),
        }
    }

    fn project(compose: &str) -> Project {
        project_with_env(compose, &[])
    }

    fn routed() -> Inventory {
        match Inventory::parse(Path::new("/inv/nap-hosts.yml"), ROUTED) {
            Ok((inventory, _)) => inventory,
            Err(error) => panic!("cannot parse the test inventory: {error}"),
        }
    }

    fn local() -> Inventory {
        Inventory::local(None).expect("the local inventory")
    }

    fn desired(project: &Project, inventory: &Inventory) -> DesiredState {
        desired_state(
            project,
            inventory,
            &ObservedState::default(),
            &mut DefaultPolicy,
        )
        .unwrap_or_else(|error| panic!("desired_state failed: {error}"))
    }

    fn container<'a>(desired: &'a DesiredState, name: &str) -> &'a DesiredContainer {
        desired
            .containers
            .iter()
            .find(|container| container.name == name)
            .unwrap_or_else(|| panic!("no container {name}"))
    }

    /// The spec of container `name` of `project` placed on `inventory`.
    fn spec_on(project: &Project, inventory: &Inventory, name: &str) -> ContainerSpec {
        let desired = desired(project, inventory);
        container_spec(project, container(&desired, name))
            .unwrap_or_else(|error| panic!("container_spec failed: {error}"))
    }

    fn spec(project: &Project, name: &str) -> ContainerSpec {
        spec_on(project, &local(), name)
    }

    fn host_config(spec: &ContainerSpec) -> &HostConfig {
        spec.body.host_config.as_ref().expect("a host config")
    }

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|item| item.to_string()).collect()
    }

    fn binding(host_ip: Option<&str>, host_port: Option<&str>) -> PortBinding {
        PortBinding {
            host_ip: host_ip.map(str::to_string),
            host_port: host_port.map(str::to_string),
        }
    }

    #[test]
    fn ports_are_exposed_and_bound_with_host_ip_ranges_and_protocol() {
        let project = project(
            "\
name: demo
services:
  web:
    image: nginx
    ports:
      - '8080:80'
      - '127.0.0.1:5353:53/udp'
      - '9000-9001:90-91'
      - '3000'
      - {target: 81, published: '7000-7010'}
    expose: ['5000', '6000-6001/udp', '80']
",
        );
        let spec = spec(&project, "demo-web-1");
        assert_eq!(
            spec.body.exposed_ports,
            Some(strings(&[
                "80/tcp", "53/udp", "90/tcp", "91/tcp", "3000/tcp", "81/tcp", "5000/tcp",
                "6000/udp", "6001/udp",
            ]))
        );
        let bindings = host_config(&spec).port_bindings.clone().expect("bindings");
        let expected: PortMap = HashMap::from([
            (
                "80/tcp".to_string(),
                Some(vec![binding(None, Some("8080"))]),
            ),
            (
                "53/udp".to_string(),
                Some(vec![binding(Some("127.0.0.1"), Some("5353"))]),
            ),
            (
                "90/tcp".to_string(),
                Some(vec![binding(None, Some("9000"))]),
            ),
            (
                "91/tcp".to_string(),
                Some(vec![binding(None, Some("9001"))]),
            ),
            // No published port: the daemon picks one, as `docker compose` does.
            ("3000/tcp".to_string(), Some(vec![binding(None, None)])),
            (
                "81/tcp".to_string(),
                Some(vec![binding(None, Some("7000-7010"))]),
            ),
        ]);
        assert_eq!(bindings, expected);
    }

    #[test]
    fn one_target_published_twice_gets_two_bindings() {
        let project = project(
            "name: demo\nservices:\n  web:\n    image: nginx\n    ports: ['8080:80', '127.0.0.1:8081:80']\n",
        );
        let spec = spec(&project, "demo-web-1");
        assert_eq!(spec.body.exposed_ports, Some(strings(&["80/tcp"])));
        assert_eq!(
            host_config(&spec).port_bindings.as_ref().expect("bindings")["80/tcp"],
            Some(vec![
                binding(None, Some("8080")),
                binding(Some("127.0.0.1"), Some("8081"))
            ])
        );
    }

    #[test]
    fn environment_omits_unset_variables() {
        let project = project_with_env(
            "\
name: demo
services:
  web:
    image: nginx
    environment: [A=1, EMPTY=, FROM_ENV, MISSING]
",
            &[("FROM_ENV", "x")],
        );
        let spec = spec(&project, "demo-web-1");
        assert_eq!(
            spec.body.env,
            Some(strings(&["A=1", "EMPTY=", "FROM_ENV=x"]))
        );
    }

    #[test]
    fn healthcheck_durations_are_nanoseconds() {
        let project = project(
            "\
name: demo
services:
  db:
    image: postgres
    healthcheck:
      test: pg_isready -U app
      interval: 1m30s
      timeout: 500ms
      retries: 4
      start_period: 2s
      start_interval: 1s
",
        );
        let spec = spec(&project, "demo-db-1");
        assert_eq!(
            spec.body.healthcheck,
            Some(HealthConfig {
                test: Some(strings(&["CMD-SHELL", "pg_isready -U app"])),
                interval: Some(90_000_000_000),
                timeout: Some(500_000_000),
                retries: Some(4),
                start_period: Some(2_000_000_000),
                start_interval: Some(1_000_000_000),
            })
        );
    }

    #[test]
    fn healthcheck_disable_is_test_none() {
        let project = project(
            "\
name: demo
services:
  web:
    image: nginx
    healthcheck:
      test: [CMD, curl, -f, http://localhost]
      disable: true
",
        );
        let spec = spec(&project, "demo-web-1");
        let healthcheck = spec.body.healthcheck.expect("a healthcheck");
        assert_eq!(healthcheck.test, Some(strings(&["NONE"])));
        assert_eq!(healthcheck.interval, None);
    }

    #[test]
    fn bad_duration_names_the_service_and_the_field() {
        let mut project = project(
            "name: demo\nservices:\n  web:\n    image: nginx\n    healthcheck:\n      test: [CMD, 'true']\n",
        );
        let desired = desired(&project, &local());
        // The loader rejects this too; the spec must not rely on that.
        project.services.get_mut("web").unwrap().healthcheck = Some(Healthcheck {
            interval: Some("5x".to_string()),
            ..Healthcheck::default()
        });
        let error = container_spec(&project, container(&desired, "demo-web-1"))
            .expect_err("a bad duration");
        assert_eq!(
            error.to_string(),
            r#"service "web": healthcheck.interval: invalid duration "5x": unknown unit "x""#
        );
    }

    #[test]
    fn start_interval_without_start_period_is_an_error() {
        let project = project(
            "name: demo\nservices:\n  web:\n    image: nginx\n    healthcheck:\n      start_interval: 1s\n",
        );
        let desired = desired(&project, &local());
        let error = container_spec(&project, container(&desired, "demo-web-1"))
            .expect_err("start_interval alone");
        assert_eq!(
            error.to_string(),
            r#"service "web": healthcheck.start_interval: requires healthcheck.start_period to be set"#
        );
    }

    #[test]
    fn mounts_for_bind_volume_anonymous_and_tmpfs() {
        let project = project(
            "\
name: demo
services:
  app:
    image: app
    volumes:
      - ./data:/data:ro,z
      - cache:/cache
      - /anonymous
      - {type: tmpfs, target: /scratch, tmpfs: {size: 1m, mode: 0o1777}}
      - {type: bind, source: ./conf, target: /conf, bind: {propagation: rslave}}
      - {type: bind, source: /must-exist, target: /must, bind: {create_host_path: false}}
      - {type: volume, source: cache, target: /nocopy, volume: {nocopy: true}}
      - {type: bind, source: ./logs, target: /logs}
    tmpfs: ['/run:size=64m', /tmp]
volumes:
  cache:
    name: shared-cache
",
        );
        let spec = spec(&project, "demo-app-1");
        let host_config = host_config(&spec);
        assert_eq!(
            host_config.binds,
            Some(strings(&[
                "/p/data:/data:ro,z",
                "shared-cache:/cache:rw",
                "/p/logs:/logs:rw"
            ]))
        );
        let mounts = host_config.mounts.clone().expect("mounts");
        assert_eq!(
            mounts,
            vec![
                Mount {
                    typ: Some(MountType::VOLUME),
                    target: Some("/anonymous".to_string()),
                    ..Mount::default()
                },
                Mount {
                    typ: Some(MountType::TMPFS),
                    target: Some("/scratch".to_string()),
                    tmpfs_options: Some(MountTmpfsOptions {
                        size_bytes: Some(1 << 20),
                        mode: Some(0o1777),
                        ..MountTmpfsOptions::default()
                    }),
                    ..Mount::default()
                },
                Mount {
                    typ: Some(MountType::BIND),
                    source: Some("/p/conf".to_string()),
                    target: Some("/conf".to_string()),
                    bind_options: Some(MountBindOptions {
                        propagation: Some(MountBindOptionsPropagationEnum::RSLAVE),
                        create_mountpoint: Some(true),
                        ..MountBindOptions::default()
                    }),
                    ..Mount::default()
                },
                Mount {
                    typ: Some(MountType::BIND),
                    source: Some("/must-exist".to_string()),
                    target: Some("/must".to_string()),
                    bind_options: Some(MountBindOptions::default()),
                    ..Mount::default()
                },
                Mount {
                    typ: Some(MountType::VOLUME),
                    source: Some("shared-cache".to_string()),
                    target: Some("/nocopy".to_string()),
                    volume_options: Some(MountVolumeOptions {
                        no_copy: Some(true),
                        ..MountVolumeOptions::default()
                    }),
                    ..Mount::default()
                },
            ]
        );
        assert_eq!(
            host_config.tmpfs,
            Some(HashMap::from([
                ("/run".to_string(), "size=64m".to_string()),
                ("/tmp".to_string(), String::new()),
            ]))
        );
    }

    /// The restart policy of service `name` in `services` (YAML under `services:`).
    fn restart_of(services: &str, name: &str) -> Option<RestartPolicy> {
        let project = project(&format!("name: demo\nservices:\n{services}"));
        let container = format!("demo-{name}-1");
        host_config(&spec(&project, &container))
            .restart_policy
            .clone()
    }

    fn restart(name: RestartPolicyNameEnum, count: Option<i64>) -> Option<RestartPolicy> {
        Some(RestartPolicy {
            name: Some(name),
            maximum_retry_count: count,
        })
    }

    #[test]
    fn restart_policies() {
        let services = "  unset: {image: x}
  never: {image: x, restart: 'no'}
  always: {image: x, restart: always}
  retry: {image: x, restart: 'on-failure:3'}
  failing: {image: x, restart: on-failure}
  stopped: {image: x, restart: unless-stopped}
  swarm:
    image: x
    restart: always
    deploy: {restart_policy: {condition: on-failure, max_attempts: 5}}
  any:
    image: x
    deploy: {restart_policy: {condition: any, max_attempts: 2}}
  none:
    image: x
    deploy: {restart_policy: {condition: none}}
";
        use RestartPolicyNameEnum::*;
        assert_eq!(restart_of(services, "unset"), None);
        assert_eq!(restart_of(services, "never"), restart(NO, None));
        assert_eq!(restart_of(services, "always"), restart(ALWAYS, None));
        assert_eq!(restart_of(services, "retry"), restart(ON_FAILURE, Some(3)));
        assert_eq!(restart_of(services, "failing"), restart(ON_FAILURE, None));
        assert_eq!(
            restart_of(services, "stopped"),
            restart(UNLESS_STOPPED, None)
        );
        // deploy.restart_policy wins over restart:, as in compose.
        assert_eq!(restart_of(services, "swarm"), restart(ON_FAILURE, Some(5)));
        // A retry count goes with on-failure only.
        assert_eq!(restart_of(services, "any"), restart(ALWAYS, None));
        assert_eq!(restart_of(services, "none"), restart(NO, None));
    }

    #[test]
    fn resources_limits_and_reservations() {
        let project = project(
            "\
name: demo
services:
  api:
    image: api
    shm_size: 64m
    deploy:
      resources:
        limits: {cpus: '0.5', memory: 512M, pids: 100}
        reservations: {cpus: '0.25', memory: 256m}
",
        );
        let spec = spec(&project, "demo-api-1");
        let host_config = host_config(&spec);
        assert_eq!(host_config.nano_cpus, Some(500_000_000));
        assert_eq!(host_config.memory, Some(512 << 20));
        assert_eq!(host_config.pids_limit, Some(100));
        assert_eq!(host_config.memory_reservation, Some(256 << 20));
        assert_eq!(host_config.shm_size, Some(64 << 20));
    }

    #[test]
    fn primary_network_in_the_body_and_the_rest_connected_later() {
        let project = project(
            "\
name: demo
services:
  web:
    image: nginx
    networks:
      a: {aliases: [alpha]}
      b: {priority: 10}
      c:
networks:
  a: {}
  b: {}
  c: {}
",
        );
        let desired = desired(&project, &routed());
        let container = container(&desired, "demo-web-1");
        let spec = container_spec(&project, container).expect("a spec");
        let address = |key: &str| {
            container
                .networks
                .iter()
                .find(|attachment| attachment.key == key)
                .and_then(|attachment| attachment.ipv4_address)
                .expect("a routed address")
                .to_string()
        };
        let endpoint = |aliases: &[&str], key: &str| EndpointSettings {
            aliases: Some(strings(aliases)),
            ipam_config: Some(EndpointIpamConfig {
                ipv4_address: Some(address(key)),
                ..EndpointIpamConfig::default()
            }),
            ..EndpointSettings::default()
        };
        // `b` has the highest priority: it is the network the container is created on.
        assert_eq!(host_config(&spec).network_mode.as_deref(), Some("demo_b"));
        assert_eq!(
            spec.body.networking_config,
            Some(NetworkingConfig {
                endpoints_config: Some(HashMap::from([(
                    "demo_b".to_string(),
                    endpoint(&["web"], "b")
                )])),
            })
        );
        assert_eq!(
            spec.additional_networks,
            vec![
                ("demo_a".to_string(), endpoint(&["web", "alpha"], "a")),
                ("demo_c".to_string(), endpoint(&["web"], "c")),
            ]
        );
        assert!(address("a").starts_with("172.30."), "{}", address("a"));
    }

    #[test]
    fn local_mode_has_no_ipam_unless_fixed() {
        let project = project(
            "\
name: demo
services:
  web:
    image: nginx
    networks:
      default:
      fixed: {ipv4_address: 10.9.0.5}
networks:
  fixed:
    ipam: {config: [{subnet: 10.9.0.0/24}]}
",
        );
        let spec = spec(&project, "demo-web-1");
        let endpoints = spec
            .body
            .networking_config
            .and_then(|config| config.endpoints_config)
            .expect("endpoints");
        assert_eq!(endpoints["demo_default"].ipam_config, None);
        assert_eq!(
            spec.additional_networks,
            vec![(
                "demo_fixed".to_string(),
                EndpointSettings {
                    aliases: Some(strings(&["web"])),
                    ipam_config: Some(EndpointIpamConfig {
                        ipv4_address: Some("10.9.0.5".to_string()),
                        ..EndpointIpamConfig::default()
                    }),
                    ..EndpointSettings::default()
                }
            )]
        );
    }

    #[test]
    fn network_mode_service_names_the_colocated_container() {
        let project = project(
            "\
name: demo
services:
  app:
    image: app
    deploy: {replicas: 2}
  sidecar:
    image: sidecar
    network_mode: service:app
    ipc: service:app
    volumes_from: [app, 'container:other:ro']
    deploy: {replicas: 2}
",
        );
        let spec = spec(&project, "demo-sidecar-2");
        let host_config = host_config(&spec);
        assert_eq!(
            host_config.network_mode.as_deref(),
            Some("container:demo-app-2")
        );
        assert_eq!(
            host_config.ipc_mode.as_deref(),
            Some("container:demo-app-2")
        );
        assert_eq!(
            host_config.volumes_from,
            Some(strings(&["demo-app-2", "other:ro"]))
        );
        assert_eq!(spec.body.networking_config, None);
        assert!(spec.additional_networks.is_empty());
    }

    #[test]
    fn extra_hosts_are_the_services_then_the_name_table() {
        let project = project(
            "\
name: demo
services:
  web:
    image: nginx
    extra_hosts: ['db.example:10.1.2.3', 'cache.example=10.1.2.4']
  api:
    image: api
    deploy: {replicas: 2}
",
        );
        let desired = desired(&project, &routed());
        let web = container(&desired, "demo-web-1");
        assert!(!web.extra_hosts.is_empty(), "routed mode has a name table");
        let spec = container_spec(&project, web).expect("a spec");
        let mut expected = strings(&["db.example:10.1.2.3", "cache.example:10.1.2.4"]);
        expected.extend(web.extra_hosts.iter().map(|entry| entry.extra_host()));
        assert_eq!(host_config(&spec).extra_hosts, Some(expected));
    }

    #[test]
    fn labels_are_composes_with_naps_over_them() {
        let project = project(
            "\
name: demo
services:
  web:
    image: nginx
    labels:
      com.example.team: web
      nap.service: spoofed
      nap.host: elsewhere
",
        );
        let desired = desired(&project, &local());
        let container = container(&desired, "demo-web-1");
        let spec = container_spec(&project, container).expect("a spec");
        let labels = spec.body.labels.expect("labels");
        assert_eq!(labels["com.example.team"], "web");
        assert_eq!(labels["nap.service"], "web");
        assert_eq!(labels["nap.host"], "local");
        assert_eq!(labels["nap.config-hash"], container.config_hash);
        assert_eq!(labels["nap.extra-hosts-hash"], container.extra_hosts_hash);
        assert_eq!(labels.len(), 7);
    }

    #[test]
    fn plain_fields_map_one_to_one() {
        let project = project(
            "\
name: demo
services:
  web:
    image: nginx:1.27
    container_name: front
    command: nginx -g 'daemon off;'
    entrypoint: [/entry.sh]
    working_dir: /srv
    user: '101:101'
    hostname: web.internal
    tty: true
    stdin_open: true
    stop_signal: SIGQUIT
    stop_grace_period: 1m30s
    cap_add: [NET_ADMIN]
    cap_drop: [ALL]
    privileged: true
    read_only: true
    security_opt: [no-new-privileges, systempaths=unconfined]
    sysctls: {net.core.somaxconn: 1024}
    dns: [1.1.1.1]
    init: true
    pid: host
    logging:
      driver: json-file
      options: {max-size: 10m, max-file: 3}
",
        );
        let spec = spec(&project, "front");
        assert_eq!(spec.name, "front");
        let body = &spec.body;
        assert_eq!(body.image.as_deref(), Some("nginx:1.27"));
        assert_eq!(body.cmd, Some(strings(&["nginx", "-g", "daemon off;"])));
        assert_eq!(body.entrypoint, Some(strings(&["/entry.sh"])));
        assert_eq!(body.working_dir.as_deref(), Some("/srv"));
        assert_eq!(body.user.as_deref(), Some("101:101"));
        assert_eq!(body.hostname.as_deref(), Some("web.internal"));
        assert_eq!((body.tty, body.open_stdin), (Some(true), Some(true)));
        assert_eq!(body.stop_signal.as_deref(), Some("SIGQUIT"));
        assert_eq!(body.stop_timeout, Some(90));
        let host_config = host_config(&spec);
        assert_eq!(host_config.cap_add, Some(strings(&["NET_ADMIN"])));
        assert_eq!(host_config.cap_drop, Some(strings(&["ALL"])));
        assert_eq!(host_config.privileged, Some(true));
        assert_eq!(host_config.readonly_rootfs, Some(true));
        assert_eq!(
            host_config.security_opt,
            Some(strings(&["no-new-privileges"]))
        );
        assert_eq!(host_config.masked_paths, Some(Vec::new()));
        assert_eq!(host_config.readonly_paths, Some(Vec::new()));
        assert_eq!(
            host_config.sysctls,
            Some(HashMap::from([(
                "net.core.somaxconn".to_string(),
                "1024".to_string()
            )]))
        );
        assert_eq!(host_config.dns, Some(strings(&["1.1.1.1"])));
        assert_eq!(host_config.init, Some(true));
        assert_eq!(host_config.pid_mode.as_deref(), Some("host"));
        assert_eq!(
            host_config.log_config,
            Some(HostConfigLogConfig {
                typ: Some("json-file".to_string()),
                config: Some(HashMap::from([
                    ("max-size".to_string(), "10m".to_string()),
                    ("max-file".to_string(), "3".to_string()),
                ])),
            })
        );
    }

    #[test]
    fn unset_fields_stay_unset() {
        let project = project("name: demo\nservices:\n  web:\n    image: nginx\n");
        let spec = spec(&project, "demo-web-1");
        let body = &spec.body;
        assert_eq!(
            (&body.hostname, &body.cmd, &body.env, &body.healthcheck),
            (&None, &None, &None, &None)
        );
        let host_config = host_config(&spec);
        assert_eq!(host_config.network_mode.as_deref(), Some("demo_default"));
        assert_eq!(
            (
                &host_config.binds,
                &host_config.mounts,
                &host_config.extra_hosts
            ),
            (&None, &None, &None)
        );
        assert_eq!(host_config.restart_policy, None);
    }

    #[test]
    fn network_spec_routed_has_the_subnet_and_gateway() {
        let project = project(
            "\
name: demo
services:
  web: {image: nginx, networks: [front]}
networks:
  front:
    driver_opts: {com.docker.network.bridge.enable_icc: 'true'}
    internal: true
    labels: {team: web, nap.network: spoofed}
    ipam: {config: [{subnet: 10.9.0.0/24}]}
",
        );
        let desired = desired(&project, &routed());
        let network = desired
            .networks
            .iter()
            .find(|network| network.key == "front")
            .expect("the front network");
        let subnet = network.subnet.expect("a routed subnet");
        let request = network_spec(&project, network);
        assert_eq!(request.name, "demo_front");
        assert_eq!(request.driver.as_deref(), Some("bridge"));
        assert_eq!(request.internal, Some(true));
        assert_eq!(
            request.options,
            Some(HashMap::from([(
                "com.docker.network.bridge.enable_icc".to_string(),
                "true".to_string()
            )]))
        );
        assert_eq!(
            request.labels,
            Some(HashMap::from([
                ("team".to_string(), "web".to_string()),
                ("nap.project".to_string(), "demo".to_string()),
                ("nap.network".to_string(), "front".to_string()),
            ]))
        );
        let octets = subnet.network.octets();
        assert_eq!(
            request.ipam,
            Some(Ipam {
                config: Some(vec![IpamConfig {
                    subnet: Some(subnet.to_string()),
                    gateway: Some(format!(
                        "{}.{}.{}.{}",
                        octets[0],
                        octets[1],
                        octets[2],
                        octets[3] + 1
                    )),
                    ..IpamConfig::default()
                }]),
                ..Ipam::default()
            })
        );
        assert!(subnet.to_string().starts_with("172.30."), "{subnet}");
    }

    #[test]
    fn network_spec_local_keeps_the_compose_ipam() {
        let project = project(
            "\
name: demo
services:
  web: {image: nginx, networks: [front]}
networks:
  front:
    driver: macvlan
    ipam:
      driver: default
      config:
        - {subnet: 10.9.0.0/24, gateway: 10.9.0.254, ip_range: 10.9.0.128/25, aux_addresses: {router: 10.9.0.2}}
",
        );
        let state = desired(&project, &local());
        let request = network_spec(&project, &state.networks[0]);
        assert_eq!(request.driver.as_deref(), Some("macvlan"));
        assert_eq!(
            request.ipam,
            Some(Ipam {
                driver: Some("default".to_string()),
                config: Some(vec![IpamConfig {
                    subnet: Some("10.9.0.0/24".to_string()),
                    ip_range: Some("10.9.0.128/25".to_string()),
                    gateway: Some("10.9.0.254".to_string()),
                    auxiliary_addresses: Some(HashMap::from([(
                        "router".to_string(),
                        "10.9.0.2".to_string()
                    )])),
                }]),
                options: None,
            })
        );
        let plain = project_with_env("name: demo\nservices:\n  web: {image: nginx}\n", &[]);
        let state = desired(&plain, &local());
        assert_eq!(network_spec(&plain, &state.networks[0]).ipam, None);
    }

    #[test]
    fn volume_spec_has_driver_options_and_labels() {
        let project = project(
            "\
name: demo
services:
  db: {image: postgres, volumes: ['data:/var/lib/postgresql/data']}
volumes:
  data:
    driver: local
    driver_opts: {type: nfs, o: 'addr=10.0.0.9'}
    labels: {backup: daily, nap.project: spoofed}
",
        );
        let request = volume_spec(&project, "demo_data");
        assert_eq!(request.name.as_deref(), Some("demo_data"));
        assert_eq!(request.driver.as_deref(), Some("local"));
        assert_eq!(
            request.driver_opts,
            Some(HashMap::from([
                ("type".to_string(), "nfs".to_string()),
                ("o".to_string(), "addr=10.0.0.9".to_string()),
            ]))
        );
        assert_eq!(
            request.labels,
            Some(HashMap::from([
                ("backup".to_string(), "daily".to_string()),
                ("nap.project".to_string(), "demo".to_string()),
            ]))
        );
        let unknown = volume_spec(&project, "other");
        assert_eq!(unknown.driver, None);
        assert_eq!(
            unknown.labels,
            Some(HashMap::from([(
                "nap.project".to_string(),
                "demo".to_string()
            )]))
        );
    }

    #[test]
    fn unknown_service_is_an_error() {
        let project = project("name: demo\nservices:\n  web: {image: nginx}\n");
        let desired = desired(&project, &local());
        let mut container = container(&desired, "demo-web-1").clone();
        container.service = "gone".to_string();
        let error = container_spec(&project, &container).expect_err("no such service");
        assert_eq!(error.to_string(), r#"service "gone": not in the project"#);
    }
}
