//! A service's `ports`: the short syntax (`[ip:][host[-range]:]container[-range][/proto]`,
//! ranges expanded to one port each) and the long syntax, into the canonical [`Port`].

use serde_yaml::Value;

use super::FileContext;
use super::read::*;
use crate::compose::LoadError;
use crate::compose::model::*;

pub(super) fn parse_port_number(
    ctx: &FileContext,
    path: &str,
    text: &str,
) -> Result<u16, LoadError> {
    match text.trim().parse::<u16>() {
        Ok(port) if port > 0 => Ok(port),
        _ => Err(ctx.invalid(path, format!("invalid port {text:?}"))),
    }
}

pub(super) fn parse_port_range(
    ctx: &FileContext,
    path: &str,
    text: &str,
) -> Result<(u16, u16), LoadError> {
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
pub(super) fn parse_short_port(
    ctx: &FileContext,
    path: &str,
    spec: &str,
) -> Result<Vec<Port>, LoadError> {
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

pub(super) fn parse_ports(
    ctx: &FileContext,
    path: &str,
    value: &Value,
) -> Result<Vec<Port>, LoadError> {
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
