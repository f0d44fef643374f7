//! The shared readers: a YAML value as a string, number, boolean, list or mapping, with
//! errors naming the key path, plus durations, byte sizes and `external:` as compose
//! spells them. They know no compose key; the other files of `parse` call them.

use std::collections::BTreeMap;

use serde_yaml::Value;

use super::FileContext;
use crate::compose::LoadError;
use crate::units;

pub(super) fn type_name(value: &Value) -> &'static str {
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

pub(super) fn key_string(key: &Value) -> Option<String> {
    scalar_text(key)
}

pub(super) fn scalar_text(value: &Value) -> Option<String> {
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

pub(super) fn string(ctx: &FileContext, path: &str, value: &Value) -> Result<String, LoadError> {
    scalar_text(value)
        .ok_or_else(|| ctx.invalid(path, format!("must be a string, not {}", type_name(value))))
}

pub(super) fn optional_string(
    ctx: &FileContext,
    path: &str,
    value: &Value,
) -> Result<Option<String>, LoadError> {
    match value {
        Value::Null => Ok(None),
        other => string(ctx, path, other).map(Some),
    }
}

pub(super) fn boolean(ctx: &FileContext, path: &str, value: &Value) -> Result<bool, LoadError> {
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

pub(super) fn unsigned(ctx: &FileContext, path: &str, value: &Value) -> Result<u64, LoadError> {
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

pub(super) fn small_unsigned(
    ctx: &FileContext,
    path: &str,
    value: &Value,
) -> Result<u32, LoadError> {
    let number = unsigned(ctx, path, value)?;
    u32::try_from(number).map_err(|_| ctx.invalid(path, format!("{number} is too large")))
}

pub(super) fn float(ctx: &FileContext, path: &str, value: &Value) -> Result<f64, LoadError> {
    let parsed = match value {
        Value::Number(number) => number.as_f64(),
        Value::String(text) => text.trim().parse::<f64>().ok(),
        _ => None,
    };
    parsed.ok_or_else(|| ctx.invalid(path, "must be a number"))
}

/// A string or a list of strings.
pub(super) fn string_list(
    ctx: &FileContext,
    path: &str,
    value: &Value,
) -> Result<Vec<String>, LoadError> {
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
pub(super) fn strict_string_list(
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
pub(super) fn key_value_map(
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
pub(super) fn label_map(
    ctx: &FileContext,
    path: &str,
    value: &Value,
) -> Result<BTreeMap<String, String>, LoadError> {
    Ok(key_value_map(ctx, path, value)?
        .into_iter()
        .map(|(key, value)| (key, value.unwrap_or_default()))
        .collect())
}

pub(super) fn json(value: &Value) -> serde_json::Value {
    serde_json::to_value(value).unwrap_or(serde_json::Value::Null)
}

pub(super) fn parse_duration_text(
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

pub(super) fn parse_bytes_text(
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

/// `external: true`, or the legacy `external: {name: N}` (which also names the object).
pub(super) fn parse_external(
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
