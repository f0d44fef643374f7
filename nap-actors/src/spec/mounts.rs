//! Mounts: `volumes:` (named, bind, tmpfs, with their options) and `volumes_from:` as
//! Docker mounts, resolved against the project's volumes and the colocated containers.

use super::{ServiceContext, SpecError, non_empty_map};
use bollard::models::{
    Mount, MountBindOptions, MountBindOptionsPropagationEnum, MountTmpfsOptions, MountType,
    MountVolumeOptions,
};
use nap_core::compose::{Project, Service, VolumeMount};
use nap_core::plan::replica_volume;
use nap_core::plan::{DesiredContainer, container_name};
use serde_json::Value;

/// A mount's `bind:` options.
pub(super) struct BindOptions {
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
pub(super) fn volume_options(
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
pub(super) fn volume_requires_mount_api(options: &Option<MountVolumeOptions>) -> bool {
    options.as_ref().is_some_and(|options| {
        options.no_copy == Some(true) || options.subpath.is_some() || options.labels.is_some()
    })
}

/// A mount's `tmpfs:` options: `size` in bytes (a number or a size like `64m`) and `mode`
/// (a number as written, or a string, octal when it starts with `0`).
pub(super) fn tmpfs_options(
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
pub(super) fn bind_string(source: &str, mount: &VolumeMount, selinux: Option<&str>) -> String {
    let mut options = vec![if mount.read_only { "ro" } else { "rw" }];
    options.extend(selinux);
    format!("{source}:{}:{}", mount.target, options.join(","))
}

/// `Binds` and `Mounts`, in `volumes:` order. As compose: bind mounts and named volumes
/// without advanced options use `Binds` (which creates a missing host path); anonymous
/// volumes, tmpfs and the rest use `Mounts`.
pub(super) fn volumes(
    context: &ServiceContext,
    project: &Project,
    service: &Service,
    replica: u32,
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
                // A project volume nap manages is the replica's own (`replica_volume`).
                let managed = volume
                    .source
                    .as_deref()
                    .and_then(|source| replica_volume(project, source, replica));
                let project_volume = managed.is_some()
                    || volume.source.as_ref().is_some_and(|source| {
                        project.volumes.contains_key(source)
                            || project.volumes.values().any(|named| &named.name == source)
                    });
                let source = managed.or_else(|| {
                    volume.source.as_ref().map(|source| {
                        project
                            .volumes
                            .get(source)
                            .map(|named| named.name.clone())
                            .unwrap_or_else(|| source.clone())
                    })
                });
                match source {
                    Some(name) if !volume_requires_mount_api(&options) && project_volume => {
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
pub(super) fn colocated_container(
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
pub(super) fn resolve_service_reference(
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
pub(super) fn volumes_from(
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
