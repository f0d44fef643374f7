//! `secrets:` and `configs:`: the top-level definitions (where a value comes from: a `file`,
//! an `environment` variable, inline `content` for configs, or `external`) and a service's
//! references to them (short syntax, or long with `source`, `target`, `uid`, `gid`, `mode`).
//!
//! Only where a value comes from is read: a file's path is resolved against the base folder,
//! never opened, so no secret's value reaches the model (or `nap config`). Whether a
//! referenced secret exists is the loader's check (`loader/finish.rs`), once files are merged.

use serde_yaml::Value;

use super::FileContext;
use super::read::*;
use crate::compose::LoadError;
use crate::compose::model::*;

/// Secrets or configs: the words of the messages and the default target folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FileKind {
    /// `secrets:`, mounted under `/run/secrets/` by default.
    Secret,
    /// `configs:`, mounted at `/<source>` by default.
    Config,
}

impl FileKind {
    /// `secret` or `config`.
    pub(crate) fn word(self) -> &'static str {
        match self {
            FileKind::Secret => "secret",
            FileKind::Config => "config",
        }
    }

    /// The folder a relative target is under.
    fn folder(self) -> &'static str {
        match self {
            FileKind::Secret => "/run/secrets",
            FileKind::Config => "",
        }
    }
}

/// One top-level secret or config; `true` when it sets its own `name`.
pub(crate) fn parse_file_object(
    ctx: &mut FileContext,
    kind: FileKind,
    key: &str,
    value: &Value,
) -> Result<(FileObject, bool), LoadError> {
    let section = match kind {
        FileKind::Secret => "secrets",
        FileKind::Config => "configs",
    };
    let base = format!("{section}.{key}");
    let mut object = FileObject::default();
    let mut named = false;
    for (field, entry) in mapping_entries(ctx, &base, value)? {
        let path = format!("{base}.{field}");
        match field.as_str() {
            "file" => {
                object.file = Some(ctx.resolve_path(&string(ctx, &path, entry)?));
            }
            "environment" => {
                let variable = string(ctx, &path, entry)?;
                if variable.is_empty()
                    || !variable
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_')
                {
                    return Err(ctx.invalid(&path, format!("invalid variable name {variable:?}")));
                }
                object.environment = Some(variable);
            }
            "content" if kind == FileKind::Config => {
                object.content = Some(string(ctx, &path, entry)?);
            }
            "external" => {
                object.external = parse_external(ctx, &path, entry, &mut object.name, &mut named)?;
            }
            "name" => {
                if let Some(name) = optional_string(ctx, &path, entry)? {
                    object.name = name;
                    named = true;
                }
            }
            "labels" => object.labels = label_map(ctx, &path, entry)?,
            "driver" | "driver_opts" | "template_driver" => ctx.warn(
                &path,
                format!(
                    "{} {key:?}: {field:?} is a Swarm setting and is ignored",
                    kind.word()
                ),
            ),
            extension if extension.starts_with("x-") => {}
            other => {
                let expected = match kind {
                    FileKind::Secret => "file, environment, external, name or labels",
                    FileKind::Config => "file, environment, content, external, name or labels",
                };
                return Err(ctx.invalid(
                    &path,
                    format!("unknown key {other:?} (expected {expected})"),
                ));
            }
        }
    }
    let sources = [
        object.file.is_some(),
        object.environment.is_some(),
        object.content.is_some(),
    ]
    .iter()
    .filter(|set| **set)
    .count();
    let what = match kind {
        FileKind::Secret => "file, environment or external",
        FileKind::Config => "file, environment, content or external",
    };
    if object.external && sources > 0 {
        return Err(ctx.invalid(
            &base,
            format!(
                "{} {key:?} is external and cannot also set file, environment or content",
                kind.word()
            ),
        ));
    }
    if !object.external && sources != 1 {
        return Err(ctx.invalid(
            &base,
            format!("{} {key:?} needs exactly one of {what}", kind.word()),
        ));
    }
    Ok((object, named))
}

/// A service's `secrets:` or `configs:` list, in long syntax with absolute targets.
pub(crate) fn parse_service_refs(
    ctx: &FileContext,
    kind: FileKind,
    path: &str,
    value: &Value,
) -> Result<Vec<ServiceFileRef>, LoadError> {
    let items = match value {
        Value::Sequence(items) => items.as_slice(),
        Value::Null => &[],
        other => {
            return Err(ctx.invalid(path, format!("must be a list, not {}", type_name(other))));
        }
    };
    let mut out: Vec<ServiceFileRef> = Vec::new();
    for (index, item) in items.iter().enumerate() {
        let item_path = format!("{path}[{index}]");
        let (mut source, mut target, mut uid, mut gid, mut mode) = (None, None, None, None, None);
        match item {
            Value::Mapping(_) => {
                for (key, value) in mapping_entries(ctx, &item_path, item)? {
                    let key_path = format!("{item_path}.{key}");
                    match key.as_str() {
                        "source" => source = Some(string(ctx, &key_path, value)?),
                        "target" => target = optional_string(ctx, &key_path, value)?,
                        "uid" => uid = optional_string(ctx, &key_path, value)?,
                        "gid" => gid = optional_string(ctx, &key_path, value)?,
                        "mode" => mode = Some(parse_mode(ctx, &key_path, value)?),
                        other => {
                            return Err(ctx.invalid(
                                &key_path,
                                format!(
                                    "unknown key {other:?} (expected source, target, uid, gid or mode)"
                                ),
                            ));
                        }
                    }
                }
            }
            other => source = Some(string(ctx, &item_path, other)?),
        }
        let source = source
            .filter(|source| !source.is_empty())
            .ok_or_else(|| ctx.invalid(&item_path, format!("a {} needs a source", kind.word())))?;
        for (what, id) in [("uid", &uid), ("gid", &gid)] {
            if let Some(id) = id
                && id.parse::<u32>().is_err()
            {
                return Err(ctx.invalid(
                    &format!("{item_path}.{what}"),
                    format!("{what} {id:?} must be a number"),
                ));
            }
        }
        let target = resolve_target(kind, &source, target.as_deref())
            .map_err(|reason| ctx.invalid(&item_path, reason))?;
        if out.iter().any(|existing| existing.target == target) {
            return Err(ctx.invalid(
                &item_path,
                format!("two {}s are mounted at {target}", kind.word()),
            ));
        }
        out.push(ServiceFileRef {
            source,
            target,
            uid,
            gid,
            mode,
        });
    }
    Ok(out)
}

/// The absolute path a secret or config is mounted at: the default for its kind, a
/// relative target under the kind's folder, or an absolute one as written. Refuses `..`,
/// empty components and NUL, so a target names one file inside the container.
pub(crate) fn resolve_target(
    kind: FileKind,
    source: &str,
    target: Option<&str>,
) -> Result<String, String> {
    let target = target.filter(|target| !target.is_empty()).unwrap_or(source);
    let absolute = if target.starts_with('/') {
        target.to_string()
    } else {
        format!("{}/{target}", kind.folder())
    };
    let valid = absolute.len() > 1
        && !absolute.contains('\0')
        && !absolute.ends_with('/')
        && absolute[1..]
            .split('/')
            .all(|part| !part.is_empty() && part != "." && part != "..");
    if valid {
        Ok(absolute)
    } else {
        Err(format!(
            "invalid {} target {target:?} (a file path without \"..\", \".\" or empty parts)",
            kind.word()
        ))
    }
}

/// `mode:` — a number as written, or a string (`"0440"` in octal, as compose reads it).
fn parse_mode(ctx: &FileContext, path: &str, value: &Value) -> Result<u32, LoadError> {
    let mode = match value {
        Value::Number(number) => number.as_u64(),
        Value::String(text) => {
            let text = text.trim();
            match text.strip_prefix("0o").or_else(|| text.strip_prefix('0')) {
                Some("") => Some(0),
                Some(octal) => u64::from_str_radix(octal, 8).ok(),
                None => text.parse::<u64>().ok(),
            }
        }
        _ => None,
    };
    match mode {
        Some(mode) if mode <= 0o7777 => Ok(mode as u32),
        _ => Err(ctx.invalid(
            path,
            format!(
                "invalid mode {} (expected permission bits such as 0440)",
                scalar_text(value).unwrap_or_else(|| type_name(value).to_string())
            ),
        )),
    }
}
