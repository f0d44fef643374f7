//! The service keys that become the container's resources, devices and namespaces:
//! memory and CPU limits, `ulimits`, `devices`, `blkio_config`, `pids_limit`, DNS options,
//! groups, `platform`, `runtime`, `isolation` and the namespace modes. Each value is checked
//! here, so a bad one is an error naming its file, line and key at load time; values with
//! units are kept as written and converted by the create body (`nap-actors/src/spec/`).

use std::collections::BTreeMap;

use serde_yaml::Value;

use super::FileContext;
use super::read::*;
use crate::compose::LoadError;
use crate::compose::model::*;
use crate::units;

/// The ulimit names Docker knows (`docker run --ulimit`).
const ULIMIT_NAMES: &[&str] = &[
    "as",
    "core",
    "cpu",
    "data",
    "fsize",
    "locks",
    "memlock",
    "msgqueue",
    "nice",
    "nofile",
    "nproc",
    "rss",
    "rtprio",
    "rttime",
    "sigpending",
    "stack",
];

/// Reads `key` into `service` when it is one of this file's keys; `false` when it is not.
pub(super) fn parse_resource_key(
    ctx: &mut FileContext,
    key: &str,
    path: &str,
    value: &Value,
    service: &mut Service,
) -> Result<bool, LoadError> {
    match key {
        "blkio_config" => service.blkio_config = Some(parse_blkio(ctx, path, value)?),
        "cgroup" => {
            service.cgroup = one_of(ctx, path, value, &["host", "private"])?;
        }
        "cgroup_parent" => service.cgroup_parent = optional_string(ctx, path, value)?,
        "cpu_count" => service.cpu_count = Some(unsigned(ctx, path, value)?),
        "cpu_percent" => {
            let percent = unsigned(ctx, path, value)?;
            if percent > 100 {
                return Err(ctx.invalid(path, format!("{percent} is not a percentage")));
            }
            service.cpu_percent = Some(percent);
        }
        "cpu_period" => service.cpu_period = Some(unsigned(ctx, path, value)?),
        "cpu_quota" => {
            let quota = signed(ctx, path, value)?;
            if quota < -1 {
                return Err(ctx.invalid(path, format!("{quota} is below -1")));
            }
            service.cpu_quota = Some(quota);
        }
        "cpu_rt_period" => service.cpu_rt_period = Some(microseconds_text(ctx, path, value)?),
        "cpu_rt_runtime" => service.cpu_rt_runtime = Some(microseconds_text(ctx, path, value)?),
        "cpu_shares" => service.cpu_shares = Some(unsigned(ctx, path, value)?),
        "cpus" => {
            let text = string(ctx, path, value)?;
            units::parse_nano_cpus(&text).map_err(|reason| ctx.invalid(path, reason))?;
            service.cpus = Some(text);
        }
        "cpuset" => {
            let text = string(ctx, path, value)?;
            check_cpuset(&text).map_err(|reason| ctx.invalid(path, reason))?;
            service.cpuset = Some(text);
        }
        "device_cgroup_rules" => {
            let rules = strict_string_list(ctx, path, value)?;
            for (index, rule) in rules.iter().enumerate() {
                check_device_cgroup_rule(rule)
                    .map_err(|reason| ctx.invalid(&format!("{path}[{index}]"), reason))?;
            }
            service.device_cgroup_rules = rules;
        }
        "devices" => service.devices = parse_devices(ctx, path, value)?,
        "dns_opt" => service.dns_opt = string_list(ctx, path, value)?,
        "dns_search" => service.dns_search = string_list(ctx, path, value)?,
        "group_add" => service.group_add = strict_string_list(ctx, path, value)?,
        "isolation" => {
            service.isolation = one_of(ctx, path, value, &["default", "process", "hyperv"])?;
        }
        "mac_address" => {
            service.mac_address = optional_string(ctx, path, value)?;
            if let Some(address) = &service.mac_address
                && !is_mac_address(address)
            {
                return Err(ctx.invalid(path, format!("invalid MAC address {address:?}")));
            }
            if service.mac_address.is_some() {
                ctx.warn(
                    path,
                    "\"mac_address\" is not applied by nap yet (Docker API 1.41 takes it only in a container field nap's client does not send) and is ignored",
                );
            }
        }
        "mem_limit" => service.mem_limit = parse_bytes_text(ctx, path, value)?,
        "mem_reservation" => service.mem_reservation = parse_bytes_text(ctx, path, value)?,
        "mem_swappiness" => {
            let swappiness = unsigned(ctx, path, value)?;
            if swappiness > 100 {
                return Err(ctx.invalid(path, format!("{swappiness} is not within 0 to 100")));
            }
            service.mem_swappiness = Some(swappiness);
        }
        "memswap_limit" => {
            service.memswap_limit = match optional_string(ctx, path, value)? {
                Some(text) if text.trim() == "-1" => Some(text),
                Some(_) => parse_bytes_text(ctx, path, value)?,
                None => None,
            }
        }
        "oom_kill_disable" => service.oom_kill_disable = Some(boolean(ctx, path, value)?),
        "oom_score_adj" => {
            let adjustment = signed(ctx, path, value)?;
            if !(-1000..=1000).contains(&adjustment) {
                return Err(ctx.invalid(path, format!("{adjustment} is not within -1000 to 1000")));
            }
            service.oom_score_adj = Some(adjustment);
        }
        "pids_limit" => {
            let limit = signed(ctx, path, value)?;
            if limit < -1 {
                return Err(ctx.invalid(path, format!("{limit} is below -1 (unlimited)")));
            }
            service.pids_limit = Some(limit);
        }
        "platform" => {
            service.platform = optional_string(ctx, path, value)?;
            if let Some(platform) = &service.platform {
                check_platform(platform).map_err(|reason| ctx.invalid(path, reason))?;
                ctx.warn(
                    path,
                    format!(
                        "\"platform\" ({platform}) is not applied by nap yet: each host runs the image it holds, whatever its platform"
                    ),
                );
            }
        }
        "runtime" => {
            service.runtime = optional_string(ctx, path, value)?;
            if let Some(runtime) = &service.runtime
                && (runtime.is_empty()
                    || !runtime
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c)))
            {
                return Err(ctx.invalid(path, format!("invalid runtime name {runtime:?}")));
            }
        }
        "storage_opt" => service.storage_opt = label_map(ctx, path, value)?,
        "ulimits" => service.ulimits = parse_ulimits(ctx, path, value)?,
        "userns_mode" => service.userns_mode = one_of(ctx, path, value, &["host"])?,
        "uts" => service.uts = one_of(ctx, path, value, &["host"])?,
        "volume_driver" => service.volume_driver = optional_string(ctx, path, value)?,
        _ => return Ok(false),
    }
    Ok(true)
}

/// A whole number that may be negative.
pub(super) fn signed(ctx: &FileContext, path: &str, value: &Value) -> Result<i64, LoadError> {
    let parsed = match value {
        Value::Number(number) => number.as_i64(),
        Value::String(text) => text.trim().parse::<i64>().ok(),
        _ => None,
    };
    parsed.ok_or_else(|| {
        ctx.invalid(
            path,
            format!(
                "must be an integer, not {}",
                scalar_text(value).unwrap_or_else(|| type_name(value).to_string())
            ),
        )
    })
}

/// A string that must be one of `allowed`.
fn one_of(
    ctx: &FileContext,
    path: &str,
    value: &Value,
    allowed: &[&str],
) -> Result<Option<String>, LoadError> {
    let Some(text) = optional_string(ctx, path, value)? else {
        return Ok(None);
    };
    if !allowed.contains(&text.as_str()) {
        return Err(ctx.invalid(
            path,
            format!("invalid value {text:?} (expected {})", allowed.join(" or ")),
        ));
    }
    Ok(Some(text))
}

/// Microseconds as a whole number, or a duration (`950ms`); kept as written.
fn microseconds_text(ctx: &FileContext, path: &str, value: &Value) -> Result<String, LoadError> {
    let text = string(ctx, path, value)?;
    if text.trim().parse::<u64>().is_err() {
        units::parse_duration(&text).map_err(|reason| ctx.invalid(path, reason))?;
    }
    Ok(text)
}

/// `0-3`, `0,2`, `1,3-5`.
fn check_cpuset(text: &str) -> Result<(), String> {
    let invalid = || format!("invalid cpuset {text:?} (expected CPU numbers and ranges, 0-3,5)");
    for part in text.split(',') {
        let (start, end) = part.split_once('-').unwrap_or((part, part));
        let start: u32 = start.trim().parse().map_err(|_| invalid())?;
        let end: u32 = end.trim().parse().map_err(|_| invalid())?;
        if end < start {
            return Err(invalid());
        }
    }
    Ok(())
}

/// `a|b|c <major|*>:<minor|*> <r|w|m…>`, as `docker run --device-cgroup-rule` takes it.
fn check_device_cgroup_rule(rule: &str) -> Result<(), String> {
    let invalid = || format!("invalid device cgroup rule {rule:?} (expected like \"c 1:3 mr\")");
    let words: Vec<&str> = rule.split_whitespace().collect();
    let [kind, numbers, access] = words.as_slice() else {
        return Err(invalid());
    };
    let number = |text: &str| text == "*" || text.parse::<u32>().is_ok();
    let valid = matches!(*kind, "a" | "b" | "c")
        && numbers
            .split_once(':')
            .is_some_and(|(major, minor)| number(major) && number(minor))
        && !access.is_empty()
        && access.chars().all(|c| "rwm".contains(c));
    if valid { Ok(()) } else { Err(invalid()) }
}

fn is_mac_address(text: &str) -> bool {
    let parts: Vec<&str> = text.split(':').collect();
    parts.len() == 6
        && parts
            .iter()
            .all(|part| part.len() == 2 && part.chars().all(|c| c.is_ascii_hexdigit()))
}

/// `os/arch[/variant]` in lowercase letters, digits and `._-`.
fn check_platform(platform: &str) -> Result<(), String> {
    let parts: Vec<&str> = platform.split('/').collect();
    let valid = (2..=3).contains(&parts.len())
        && parts.iter().all(|part| {
            !part.is_empty()
                && part
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c))
        });
    if valid {
        Ok(())
    } else {
        Err(format!(
            "invalid platform {platform:?} (expected os/arch[/variant], such as linux/amd64)"
        ))
    }
}

/// `devices:` entries, short (`/dev/x[:/dev/y[:rwm]]`) or long (`source`, `target`,
/// `permissions`), kept in the short form.
fn parse_devices(ctx: &FileContext, path: &str, value: &Value) -> Result<Vec<String>, LoadError> {
    let Value::Sequence(items) = value else {
        if value.is_null() {
            return Ok(Vec::new());
        }
        return Err(ctx.invalid(path, format!("must be a list, not {}", type_name(value))));
    };
    let mut out = Vec::new();
    for (index, item) in items.iter().enumerate() {
        let item_path = format!("{path}[{index}]");
        let entry = match item {
            Value::Mapping(_) => {
                let (mut source, mut target, mut permissions) = (None, None, None);
                for (key, value) in mapping_entries(ctx, &item_path, item)? {
                    let key_path = format!("{item_path}.{key}");
                    match key.as_str() {
                        "source" => source = Some(string(ctx, &key_path, value)?),
                        "target" => target = Some(string(ctx, &key_path, value)?),
                        "permissions" => permissions = Some(string(ctx, &key_path, value)?),
                        other => {
                            return Err(ctx.invalid(
                                &key_path,
                                format!(
                                    "unknown key {other:?} (expected source, target or permissions)"
                                ),
                            ));
                        }
                    }
                }
                let source =
                    source.ok_or_else(|| ctx.invalid(&item_path, "a device needs a source"))?;
                let target = target.unwrap_or_else(|| source.clone());
                let permissions = permissions.unwrap_or_else(|| "rwm".to_string());
                format!("{source}:{target}:{permissions}")
            }
            other => string(ctx, &item_path, other)?,
        };
        check_device(&entry).map_err(|reason| ctx.invalid(&item_path, reason))?;
        out.push(entry);
    }
    Ok(out)
}

/// A device as `host[:container[:permissions]]`, both paths absolute.
pub fn check_device(entry: &str) -> Result<(), String> {
    let parts: Vec<&str> = entry.split(':').collect();
    if !entry.starts_with('/') && entry.contains('=') {
        return Err(format!(
            "device {entry:?}: CDI device names are not supported by nap (give the device path)"
        ));
    }
    let permissions_valid =
        |text: &str| !text.is_empty() && text.chars().all(|c| "rwm".contains(c));
    let valid = match parts.as_slice() {
        [host] => host.starts_with('/'),
        [host, second] => {
            host.starts_with('/') && (second.starts_with('/') || permissions_valid(second))
        }
        [host, container, permissions] => {
            host.starts_with('/') && container.starts_with('/') && permissions_valid(permissions)
        }
        _ => false,
    };
    if valid {
        Ok(())
    } else {
        Err(format!(
            "invalid device {entry:?} (expected /dev/host[:/dev/container[:rwm]])"
        ))
    }
}

fn parse_ulimits(
    ctx: &FileContext,
    path: &str,
    value: &Value,
) -> Result<BTreeMap<String, Ulimit>, LoadError> {
    let mut out = BTreeMap::new();
    for (name, entry) in mapping_entries(ctx, path, value)? {
        let entry_path = format!("{path}.{name}");
        if !ULIMIT_NAMES.contains(&name.as_str()) {
            return Err(ctx.invalid(
                &entry_path,
                format!(
                    "unknown ulimit {name:?} (expected one of {})",
                    ULIMIT_NAMES.join(", ")
                ),
            ));
        }
        let ulimit = match entry {
            Value::Mapping(_) => {
                let (mut soft, mut hard) = (None, None);
                for (key, value) in mapping_entries(ctx, &entry_path, entry)? {
                    let key_path = format!("{entry_path}.{key}");
                    match key.as_str() {
                        "soft" => soft = Some(signed(ctx, &key_path, value)?),
                        "hard" => hard = Some(signed(ctx, &key_path, value)?),
                        other => {
                            return Err(ctx.invalid(
                                &key_path,
                                format!("unknown key {other:?} (expected soft or hard)"),
                            ));
                        }
                    }
                }
                let (Some(soft), Some(hard)) = (soft, hard) else {
                    return Err(ctx.invalid(&entry_path, "a ulimit needs both soft and hard"));
                };
                if soft > hard && hard != -1 {
                    return Err(ctx.invalid(
                        &entry_path,
                        format!("soft limit {soft} is above the hard limit {hard}"),
                    ));
                }
                Ulimit::Range { soft, hard }
            }
            other => Ulimit::Single(signed(ctx, &entry_path, other)?),
        };
        out.insert(name, ulimit);
    }
    Ok(out)
}

/// The `[{path, <field>}]` lists of `blkio_config`: (device, the amount's key path, the
/// amount as written).
fn blkio_entries(
    ctx: &FileContext,
    path: &str,
    value: &Value,
    field: &str,
) -> Result<Vec<(String, String, String)>, LoadError> {
    let Value::Sequence(items) = value else {
        return Err(ctx.invalid(path, format!("must be a list, not {}", type_name(value))));
    };
    let mut out = Vec::new();
    for (index, item) in items.iter().enumerate() {
        let item_path = format!("{path}[{index}]");
        let (mut device, mut amount) = (None, None);
        for (key, value) in mapping_entries(ctx, &item_path, item)? {
            let key_path = format!("{item_path}.{key}");
            match key.as_str() {
                "path" => device = Some(string(ctx, &key_path, value)?),
                key if key == field => amount = Some((string(ctx, &key_path, value)?, key_path)),
                other => {
                    return Err(ctx.invalid(
                        &key_path,
                        format!("unknown key {other:?} (expected path or {field})"),
                    ));
                }
            }
        }
        let device = device
            .filter(|device| device.starts_with('/'))
            .ok_or_else(|| ctx.invalid(&item_path, "needs an absolute device path"))?;
        let (amount, amount_path) =
            amount.ok_or_else(|| ctx.invalid(&item_path, format!("needs a {field}")))?;
        out.push((device, amount_path, amount));
    }
    Ok(out)
}

fn parse_blkio(ctx: &FileContext, path: &str, value: &Value) -> Result<BlkioConfig, LoadError> {
    let weight = |path: &str, text: &str| -> Result<u16, LoadError> {
        match text.trim().parse::<u16>() {
            Ok(weight) if (10..=1000).contains(&weight) => Ok(weight),
            _ => Err(ctx.invalid(path, format!("weight {text:?} is not within 10 to 1000"))),
        }
    };
    let mut config = BlkioConfig::default();
    for (key, entry) in mapping_entries(ctx, path, value)? {
        let key_path = format!("{path}.{key}");
        match key.as_str() {
            "weight" => config.weight = Some(weight(&key_path, &string(ctx, &key_path, entry)?)?),
            "weight_device" => {
                for (device, amount_path, amount) in blkio_entries(ctx, &key_path, entry, "weight")?
                {
                    let weight = weight(&amount_path, &amount)?;
                    config.weight_device.push(BlkioWeight {
                        path: device,
                        weight,
                    });
                }
            }
            "device_read_bps" | "device_write_bps" | "device_read_iops" | "device_write_iops" => {
                let mut rates = Vec::new();
                for (device, amount_path, rate) in blkio_entries(ctx, &key_path, entry, "rate")? {
                    // Sizes become bytes, as Compose prints them.
                    let rate = if key.ends_with("_bps") {
                        units::parse_bytes(&rate)
                            .map(|bytes| bytes.to_string())
                            .map_err(|reason| ctx.invalid(&amount_path, reason))?
                    } else {
                        rate.trim()
                            .parse::<u64>()
                            .map(|count| count.to_string())
                            .map_err(|_| {
                                ctx.invalid(
                                    &amount_path,
                                    format!("invalid rate {rate:?}: must be a whole number"),
                                )
                            })?
                    };
                    rates.push(BlkioRate { path: device, rate });
                }
                match key.as_str() {
                    "device_read_bps" => config.device_read_bps = rates,
                    "device_write_bps" => config.device_write_bps = rates,
                    "device_read_iops" => config.device_read_iops = rates,
                    _ => config.device_write_iops = rates,
                }
            }
            other => {
                return Err(ctx.invalid(
                    &key_path,
                    format!(
                        "unknown key {other:?} (expected weight, weight_device, device_read_bps, device_write_bps, device_read_iops or device_write_iops)"
                    ),
                ));
            }
        }
    }
    Ok(config)
}
