//! Networks: a service's `networks` (a list or a mapping with aliases, addresses and
//! priority) and one top-level network definition.

use std::collections::BTreeMap;

use serde_yaml::Value;

use super::FileContext;
use super::read::*;
use crate::compose::LoadError;
use crate::compose::model::*;
use crate::compose::names;

pub(super) fn parse_service_networks(
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
