//! The service-level resource, device and namespace keys as `HostConfig` fields, as Compose
//! v2's `getCreateConfigs` and `getDeployResources` set them: memory and CPU limits,
//! `pids_limit`, `ulimits`, `devices`, `device_cgroup_rules`, `blkio_config`, DNS search
//! and options, `group_add`, the OOM settings, `runtime`, `isolation`, `storage_opt`,
//! `volume_driver` and the `userns`, `uts` and `cgroup` modes.
//!
//! `deploy.resources.limits` are applied after these (`host_config::set_resources`), so they
//! win over `mem_limit`, `cpus` and `pids_limit`, as in Compose. The loader has checked every
//! value; what can still fail here (a size too large for Docker) is a [`SpecError`].

use super::{ServiceContext, SpecError, non_empty, non_empty_map, to_hash_map};
use bollard::models::{
    DeviceMapping, HostConfig, HostConfigCgroupnsModeEnum, HostConfigIsolationEnum,
    ResourcesBlkioWeightDevice, ResourcesUlimits, ThrottleDevice,
};
use nap_core::compose::{BlkioRate, Service};
use nap_core::units;

/// Sets the service's own resource and namespace keys on `host_config`.
pub(super) fn set_service_resources(
    context: &ServiceContext,
    service: &Service,
    host_config: &mut HostConfig,
) -> Result<(), SpecError> {
    let bytes = |field: &str, value: &Option<String>| {
        value
            .as_deref()
            .map(|text| context.bytes(field, text))
            .transpose()
    };
    let integer = |field: &str, value: Option<u64>| {
        value.map(|value| context.integer(field, value)).transpose()
    };
    host_config.memory = bytes("mem_limit", &service.mem_limit)?;
    host_config.memory_reservation = bytes("mem_reservation", &service.mem_reservation)?;
    host_config.memory_swap = match service.memswap_limit.as_deref().map(str::trim) {
        Some("-1") => Some(-1),
        Some(text) => Some(context.bytes("memswap_limit", text)?),
        None => None,
    };
    host_config.memory_swappiness = integer("mem_swappiness", service.mem_swappiness)?;
    if let Some(cpus) = &service.cpus {
        let nano_cpus = units::parse_nano_cpus(cpus)
            .map_err(|reason| context.invalid("cpus", reason.to_string()))?;
        host_config.nano_cpus = Some(context.integer("cpus", nano_cpus)?);
    }
    host_config.cpu_shares = integer("cpu_shares", service.cpu_shares)?;
    host_config.cpu_period = integer("cpu_period", service.cpu_period)?;
    host_config.cpu_quota = service.cpu_quota;
    host_config.cpu_realtime_period =
        microseconds(context, "cpu_rt_period", &service.cpu_rt_period)?;
    host_config.cpu_realtime_runtime =
        microseconds(context, "cpu_rt_runtime", &service.cpu_rt_runtime)?;
    host_config.cpuset_cpus = service.cpuset.clone();
    host_config.cpu_count = integer("cpu_count", service.cpu_count)?;
    host_config.cpu_percent = integer("cpu_percent", service.cpu_percent)?;
    host_config.pids_limit = service.pids_limit;
    host_config.oom_kill_disable = service.oom_kill_disable;
    host_config.oom_score_adj = service.oom_score_adj;
    host_config.ulimits = non_empty(
        service
            .ulimits
            .iter()
            .map(|(name, ulimit)| {
                let (soft, hard) = ulimit.soft_hard();
                ResourcesUlimits {
                    name: Some(name.clone()),
                    soft: Some(soft),
                    hard: Some(hard),
                }
            })
            .collect(),
    );
    host_config.devices = non_empty(service.devices.iter().map(|entry| device(entry)).collect());
    host_config.device_cgroup_rules = non_empty(service.device_cgroup_rules.clone());
    host_config.dns_search = non_empty(service.dns_search.clone());
    host_config.dns_options = non_empty(service.dns_opt.clone());
    host_config.group_add = non_empty(service.group_add.clone());
    host_config.runtime = service.runtime.clone();
    host_config.storage_opt = non_empty_map(to_hash_map(&service.storage_opt));
    host_config.volume_driver = service.volume_driver.clone();
    host_config.userns_mode = service.userns_mode.clone();
    host_config.uts_mode = service.uts.clone();
    host_config.cgroup_parent = service.cgroup_parent.clone();
    host_config.cgroupns_mode = match service.cgroup.as_deref() {
        Some("host") => Some(HostConfigCgroupnsModeEnum::HOST),
        Some("private") => Some(HostConfigCgroupnsModeEnum::PRIVATE),
        Some(other) => return Err(context.invalid("cgroup", format!("invalid mode {other:?}"))),
        None => None,
    };
    host_config.isolation = match service.isolation.as_deref() {
        Some("default") => Some(HostConfigIsolationEnum::DEFAULT),
        Some("process") => Some(HostConfigIsolationEnum::PROCESS),
        Some("hyperv") => Some(HostConfigIsolationEnum::HYPERV),
        Some(other) => {
            return Err(context.invalid("isolation", format!("invalid isolation {other:?}")));
        }
        None => None,
    };
    if let Some(blkio) = &service.blkio_config {
        host_config.blkio_weight = blkio.weight;
        host_config.blkio_weight_device = non_empty(
            blkio
                .weight_device
                .iter()
                .map(|device| ResourcesBlkioWeightDevice {
                    path: Some(device.path.clone()),
                    weight: Some(usize::from(device.weight)),
                })
                .collect(),
        );
        let throttles = |field: &str, rates: &[BlkioRate], sizes: bool| {
            rates
                .iter()
                .map(|rate| {
                    let value = if sizes {
                        context.bytes(field, &rate.rate)?
                    } else {
                        let count = rate.rate.trim().parse::<u64>().map_err(|_| {
                            context.invalid(field, format!("invalid rate {:?}", rate.rate))
                        })?;
                        context.integer(field, count)?
                    };
                    Ok(ThrottleDevice {
                        path: Some(rate.path.clone()),
                        rate: Some(value),
                    })
                })
                .collect::<Result<Vec<_>, SpecError>>()
                .map(non_empty)
        };
        host_config.blkio_device_read_bps =
            throttles("blkio_config.device_read_bps", &blkio.device_read_bps, true)?;
        host_config.blkio_device_write_bps = throttles(
            "blkio_config.device_write_bps",
            &blkio.device_write_bps,
            true,
        )?;
        host_config.blkio_device_read_iops = throttles(
            "blkio_config.device_read_iops",
            &blkio.device_read_iops,
            false,
        )?;
        host_config.blkio_device_write_iops = throttles(
            "blkio_config.device_write_iops",
            &blkio.device_write_iops,
            false,
        )?;
    }
    Ok(())
}

/// A real-time period or runtime in microseconds: a whole number as written, or a duration.
fn microseconds(
    context: &ServiceContext,
    field: &str,
    value: &Option<String>,
) -> Result<Option<i64>, SpecError> {
    let Some(text) = value else {
        return Ok(None);
    };
    if let Ok(micros) = text.trim().parse::<u64>() {
        return context.integer(field, micros).map(Some);
    }
    let duration =
        units::parse_duration(text).map_err(|reason| context.invalid(field, reason.to_string()))?;
    let micros = u64::try_from(duration.as_micros())
        .map_err(|_| context.invalid(field, format!("duration {text:?} is too large")))?;
    context.integer(field, micros).map(Some)
}

/// `host[:container[:permissions]]` as Docker's CLI reads `--device`: the container path
/// defaults to the host's, the permissions to `rwm`; a second part that is only `rwm`
/// letters is the permissions.
fn device(entry: &str) -> DeviceMapping {
    let parts: Vec<&str> = entry.split(':').collect();
    let is_permissions = |text: &str| !text.is_empty() && text.chars().all(|c| "rwm".contains(c));
    let (host, container, permissions) = match parts.as_slice() {
        [host] => (*host, *host, "rwm"),
        [host, second] if is_permissions(second) => (*host, *host, *second),
        [host, container] => (*host, *container, "rwm"),
        [host, container, permissions, ..] => (*host, *container, *permissions),
        [] => (entry, entry, "rwm"),
    };
    DeviceMapping {
        path_on_host: Some(host.to_string()),
        path_in_container: Some(container.to_string()),
        cgroup_permissions: Some(permissions.to_string()),
    }
}
