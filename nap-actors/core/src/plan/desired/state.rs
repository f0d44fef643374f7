//! State stays with its service: which host holds each replica's state (a named volume of
//! the project, a writable bind mount of a host path), as the scheduler's [`StatePin`]s, and
//! the refusal, with the command that moves the data, when that host can no longer take the
//! replica.
//!
//! A replica's named volume is found by its Docker name on the hosts ([`replica_volume`]:
//! each replica has its own). A bind mount cannot be observed, so a replica with a writable
//! bind mount stays on the host its container is on. This module decides nothing else: it
//! moves no data (`nap volume move` does) and never places a replica itself.

use std::collections::BTreeMap;

use crate::compose::{Project, Service};
use crate::plan::{ObservedState, PlanError, container_name, replica_volume_name};
use crate::scheduler::{PinRejection, ScheduleError, StatePin};

/// Host paths that hold no state of the service (sockets, devices, kernel files): a bind
/// mount under one of them pins nothing.
const STATELESS_BIND_PREFIXES: [&str; 5] = ["/var/run/", "/run/", "/dev/", "/proc/", "/sys/"];

/// What holds a replica's state, for the refusal's hint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum StateKind {
    /// A named volume of the project, by its compose key.
    Volume(String),
    /// A bind mount of this host path.
    Bind(String),
}

/// The Docker name of `service`'s volume `key` for `replica`, when `key` is a project volume
/// nap manages (not external).
pub fn replica_volume(project: &Project, key: &str, replica: u32) -> Option<String> {
    let volume = project.volumes.get(key)?;
    (!volume.external).then(|| replica_volume_name(&volume.name, replica))
}

/// The state pins of one service's replicas `1..=replicas`, and what each pin is for.
pub(super) fn state_pins(
    project: &Project,
    observed: &ObservedState,
    service_name: &str,
    service: &Service,
    replicas: u32,
) -> Result<BTreeMap<u32, (StatePin, StateKind)>, PlanError> {
    let mut pins = BTreeMap::new();
    for replica in 1..=replicas {
        let name = container_name(&project.name, service_name, service, replica);
        let running_on = observed
            .containers
            .iter()
            .find(|container| container.service == service_name && container.name == name)
            .map(|container| container.host.as_str());
        let mut pin: Option<(StatePin, StateKind)> = None;
        for mount in &service.volumes {
            let Some(source) = mount.source.as_deref() else {
                continue;
            };
            let found = match mount.kind.as_str() {
                "volume" => replica_volume(project, source, replica).and_then(|docker_name| {
                    let holders: Vec<&str> = observed
                        .volumes
                        .iter()
                        .filter(|(_, volume)| *volume == docker_name)
                        .map(|(host, _)| host.as_str())
                        .collect();
                    // Held on several hosts (made so by an older nap): the one the replica
                    // runs on keeps it, else the first by name.
                    let holder = running_on
                        .filter(|host| holders.contains(host))
                        .or_else(|| holders.first().copied())?;
                    Some((
                        StatePin {
                            host: holder.to_string(),
                            state: format!("volume {docker_name}"),
                        },
                        StateKind::Volume(source.to_string()),
                    ))
                }),
                "bind" if !mount.read_only && !is_stateless_path(source) => {
                    running_on.map(|host| {
                        (
                            StatePin {
                                host: host.to_string(),
                                state: format!("bind mount {source}"),
                            },
                            StateKind::Bind(source.to_string()),
                        )
                    })
                }
                _ => None,
            };
            let Some(found) = found else {
                continue;
            };
            match &pin {
                None => pin = Some(found),
                Some((first, _)) if first.host != found.0.host => {
                    return Err(PlanError::StateSplit {
                        service: service_name.to_string(),
                        replica,
                        first: format!("{} is on host {}", first.state, first.host),
                        second: format!("{} is on host {}", found.0.state, found.0.host),
                    });
                }
                Some(_) => {}
            }
        }
        if let Some(pin) = pin {
            pins.insert(replica, pin);
        }
    }
    Ok(pins)
}

/// Whether a bind mount of `path` holds no state (a socket, a device, a kernel file).
pub(super) fn is_stateless_path(path: &str) -> bool {
    STATELESS_BIND_PREFIXES
        .iter()
        .any(|prefix| path.starts_with(prefix) || path == prefix.trim_end_matches('/'))
}

/// The scheduler's [`ScheduleError::StateWouldMove`] as the plan's refusal, with the command
/// that moves the data; any other error as it is.
pub(super) fn refusal(
    error: ScheduleError,
    kinds: &BTreeMap<(String, u32), StateKind>,
) -> PlanError {
    let ScheduleError::StateWouldMove {
        service,
        replica,
        holder,
        would_go_to,
        reason,
        ..
    } = &error
    else {
        return PlanError::Schedule(error);
    };
    let target = would_go_to.as_deref().unwrap_or("HOST");
    let hint = match kinds.get(&(service.clone(), *replica)) {
        Some(StateKind::Volume(key)) => {
            let keep = match reason.as_ref() {
                PinRejection::Rejected(_) | PinRejection::Colocation { .. } => {
                    "or change the placement back so that it runs on "
                }
                PinRejection::NotInInventory => "or put back in the inventory host ",
            };
            format!(
                "to move it with its data run `nap volume move {service}:{key} --to {target}` (or `nap up --move-volumes`), {keep}{holder}"
            )
        }
        Some(StateKind::Bind(path)) => format!(
            "nap cannot move a host path: copy {path} from {holder} to {target} yourself and remove the replica on {holder} (`nap rm -sf {service}`), or change the placement back"
        ),
        None => String::new(),
    };
    PlanError::StateWouldMove {
        error: Box::new(error),
        hint,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sockets_devices_and_kernel_files_hold_no_state() {
        assert!(is_stateless_path("/var/run/docker.sock"));
        assert!(is_stateless_path("/dev/fuse"));
        assert!(is_stateless_path("/run"));
        assert!(!is_stateless_path("/srv/db"));
        assert!(!is_stateless_path("/runner/data"));
    }
}
