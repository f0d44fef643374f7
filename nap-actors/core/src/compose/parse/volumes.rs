//! Volumes: a service's `volumes` (short `source:target[:mode]` and long syntax; relative
//! bind sources become absolute) and one top-level volume definition.

use std::path::Path;

use serde_yaml::Value;

use super::read::*;
use super::{FileContext, normalize_path};
use crate::compose::LoadError;
use crate::compose::model::*;

pub(super) fn is_path_source(source: &str) -> bool {
    source.starts_with('.') || source.starts_with('/') || source.starts_with('~')
}

pub(super) fn parse_short_volume(
    ctx: &FileContext,
    path: &str,
    spec: &str,
) -> Result<VolumeMount, LoadError> {
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
pub(super) fn clean_target(target: &str) -> String {
    normalize_path(Path::new(target))
        .to_string_lossy()
        .into_owned()
}

pub(super) fn parse_volumes(
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
