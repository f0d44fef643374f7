//! The host-side settings of a container: healthcheck, published ports, security options,
//! restart policy, resource limits and logging.

use std::collections::HashMap;

use super::{ServiceContext, SpecError, non_empty_map};
use bollard::models::{
    HealthConfig, HostConfig, HostConfigLogConfig, PortBinding, PortMap, RestartPolicy,
    RestartPolicyNameEnum,
};
use nap_core::compose::{Healthcheck, Service};
use nap_core::units;

/// The healthcheck with durations in nanoseconds; `disable` is the test `["NONE"]`.
pub(super) fn healthcheck(
    context: &ServiceContext,
    check: &Healthcheck,
) -> Result<HealthConfig, SpecError> {
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
pub(super) fn ports(
    context: &ServiceContext,
    service: &Service,
) -> Result<(Vec<String>, PortMap), SpecError> {
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

/// `security_opt` without compose's own `systempaths=unconfined`, and whether it was there.
pub(super) fn security_options(service: &Service) -> (Vec<String>, bool) {
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

pub(super) fn restart_name(
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
pub(super) fn restart_policy(
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
pub(super) fn set_resources(
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
            let nano_cpus = units::parse_nano_cpus(cpus)
                .map_err(|reason| context.invalid(field, reason.to_string()))?;
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
pub(super) fn log_config(
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
