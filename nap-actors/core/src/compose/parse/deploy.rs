//! A service's `restart` policy and `deploy` section: mode, replicas, placement
//! constraints (checked with the scheduler's parser), resource limits and reservations,
//! `update_config` and `rollback_config`.

use serde_yaml::Value;

use super::FileContext;
use super::read::*;
use crate::compose::LoadError;
use crate::compose::model::*;

pub(super) fn parse_restart(
    ctx: &FileContext,
    path: &str,
    value: &Value,
) -> Result<Option<String>, LoadError> {
    let Some(restart) = optional_string(ctx, path, value)? else {
        return Ok(None);
    };
    let valid = match restart.split_once(':') {
        Some(("on-failure", count)) => count.parse::<u32>().is_ok(),
        Some(_) => false,
        None => matches!(
            restart.as_str(),
            "no" | "always" | "on-failure" | "unless-stopped"
        ),
    };
    if !valid {
        return Err(ctx.invalid(
            path,
            format!("invalid restart policy {restart:?} (expected no, always, on-failure[:N] or unless-stopped)"),
        ));
    }
    Ok(Some(restart))
}

pub(super) fn parse_resources(
    ctx: &FileContext,
    path: &str,
    value: &Value,
) -> Result<Resources, LoadError> {
    let mut resources = Resources::default();
    for (key, value) in mapping_entries(ctx, path, value)? {
        let key_path = format!("{path}.{key}");
        match key.as_str() {
            "cpus" => {
                let cpus = float(ctx, &key_path, value)?;
                if cpus < 0.0 {
                    return Err(ctx.invalid(&key_path, "cpus must not be negative"));
                }
                resources.cpus = Some(string(ctx, &key_path, value)?);
            }
            "memory" => resources.memory = parse_bytes_text(ctx, &key_path, value)?,
            "pids" => resources.pids = Some(unsigned(ctx, &key_path, value)?),
            "devices" | "generic_resources" => {}
            other => return Err(ctx.invalid(&key_path, format!("unknown resources key {other:?}"))),
        }
    }
    Ok(resources)
}

pub(super) fn parse_update_config(
    ctx: &FileContext,
    path: &str,
    value: &Value,
) -> Result<UpdateConfig, LoadError> {
    let mut config = UpdateConfig::default();
    for (key, value) in mapping_entries(ctx, path, value)? {
        let key_path = format!("{path}.{key}");
        let key_path = key_path.as_str();
        match key.as_str() {
            "parallelism" => config.parallelism = Some(unsigned(ctx, key_path, value)?),
            "delay" => config.delay = parse_duration_text(ctx, key_path, value)?,
            "monitor" => config.monitor = parse_duration_text(ctx, key_path, value)?,
            "max_failure_ratio" => config.max_failure_ratio = Some(float(ctx, key_path, value)?),
            "failure_action" => {
                let action = string(ctx, key_path, value)?;
                if !matches!(action.as_str(), "rollback" | "pause" | "continue") {
                    return Err(ctx.invalid(
                        key_path,
                        format!("invalid failure_action {action:?} (expected rollback, pause or continue)"),
                    ));
                }
                config.failure_action = Some(action);
            }
            "order" => {
                let order = string(ctx, key_path, value)?;
                if !matches!(order.as_str(), "start-first" | "stop-first") {
                    return Err(ctx.invalid(
                        key_path,
                        format!("invalid order {order:?} (expected start-first or stop-first)"),
                    ));
                }
                config.order = Some(order);
            }
            other => {
                return Err(ctx.invalid(key_path, format!("unknown update_config key {other:?}")));
            }
        }
    }
    Ok(config)
}

pub(super) fn parse_deploy(
    ctx: &mut FileContext,
    path: &str,
    value: &Value,
) -> Result<Option<Deploy>, LoadError> {
    if value.is_null() {
        return Ok(None);
    }
    let mut deploy = Deploy::default();
    for (key, value) in mapping_entries(ctx, path, value)? {
        let key_path = format!("{path}.{key}");
        let key_path = key_path.as_str();
        match key.as_str() {
            "mode" => {
                let mode = string(ctx, key_path, value)?;
                if !matches!(mode.as_str(), "replicated" | "global") {
                    return Err(ctx.invalid(
                        key_path,
                        format!("invalid mode {mode:?} (expected replicated or global)"),
                    ));
                }
                deploy.mode = Some(mode);
            }
            "replicas" => deploy.replicas = Some(small_unsigned(ctx, key_path, value)?),
            "placement" => {
                let mut placement = Placement::default();
                for (key, value) in mapping_entries(ctx, key_path, value)? {
                    let inner = format!("{key_path}.{key}");
                    match key.as_str() {
                        "constraints" => {
                            placement.constraints = strict_string_list(ctx, &inner, value)?;
                            for (index, constraint) in placement.constraints.iter().enumerate() {
                                crate::scheduler::Constraint::parse(constraint).map_err(
                                    |error| {
                                        ctx.invalid(&format!("{inner}[{index}]"), error.to_string())
                                    },
                                )?;
                            }
                        }
                        "preferences" => {
                            placement.preferences = match value {
                                Value::Sequence(items) => items.iter().map(json).collect(),
                                _ => return Err(ctx.invalid(&inner, "must be a list")),
                            }
                        }
                        "max_replicas_per_node" => {
                            placement.max_replicas_per_node =
                                Some(small_unsigned(ctx, &inner, value)?)
                        }
                        other => {
                            return Err(
                                ctx.invalid(&inner, format!("unknown placement key {other:?}"))
                            );
                        }
                    }
                }
                deploy.placement = Some(placement);
            }
            "resources" => {
                let mut resources = ResourcesConfig::default();
                for (key, value) in mapping_entries(ctx, key_path, value)? {
                    let inner = format!("{key_path}.{key}");
                    match key.as_str() {
                        "limits" => resources.limits = Some(parse_resources(ctx, &inner, value)?),
                        "reservations" => {
                            resources.reservations = Some(parse_resources(ctx, &inner, value)?)
                        }
                        other => {
                            return Err(
                                ctx.invalid(&inner, format!("unknown resources key {other:?}"))
                            );
                        }
                    }
                }
                deploy.resources = Some(resources);
            }
            "update_config" => {
                deploy.update_config = Some(parse_update_config(ctx, key_path, value)?)
            }
            "rollback_config" => {
                deploy.rollback_config = Some(parse_update_config(ctx, key_path, value)?)
            }
            "restart_policy" => deploy.restart_policy = Some(json(value)),
            "labels" => deploy.labels = label_map(ctx, key_path, value)?,
            "endpoint_mode" => {}
            other => ctx.warn(key_path, format!("unknown deploy key {other:?} is ignored")),
        }
    }
    Ok(Some(deploy))
}
