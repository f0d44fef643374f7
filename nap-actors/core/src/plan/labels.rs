//! The labels nap puts on what it creates, and the container names it derives: the state
//! the daemons hold for nap (there is no other).

use crate::compose::Service;

/// Label: the compose project a container, network or volume belongs to.
pub const LABEL_PROJECT: &str = "nap.project";

/// Label: the service of a container.
pub const LABEL_SERVICE: &str = "nap.service";

/// Label: the replica number of a container, from 1.
pub const LABEL_REPLICA: &str = "nap.replica";

/// Label: the inventory host a container was placed on.
pub const LABEL_HOST: &str = "nap.host";

/// Label: the hash of the service's normalized config the container was created from.
pub const LABEL_CONFIG_HASH: &str = "nap.config-hash";

/// Label: the name of the hosts file (in the project's folder on the host) the container has
/// bind-mounted read-only at `/etc/hosts`, so reconcile knows which file a container reads
/// from the listing alone. A container without it (made by an older nap, whose table was in
/// `extra_hosts`) is recreated.
pub const LABEL_HOSTS_FILE: &str = "nap.hosts-file";

/// Label: `true` on a one-off container (`nap run`), which is never one of its service's
/// replicas (Compose's `com.docker.compose.oneoff`).
pub const LABEL_ONE_OFF: &str = "nap.oneoff";

/// Label: the project network key a Docker network was created for.
pub const LABEL_NETWORK: &str = "nap.network";

/// The container name of a replica: `container_name`, else `<project>-<service>-<n>`.
pub fn container_name(
    project: &str,
    service_name: &str,
    service: &Service,
    replica: u32,
) -> String {
    match &service.container_name {
        Some(name) => name.clone(),
        None => format!("{project}-{service_name}-{replica}"),
    }
}

/// The name of a one-off container (`nap run`) of `service`, as Compose v2 names them:
/// `<project>-<service>-run-<id>`, `id` 12 hex digits.
pub fn one_off_name(project: &str, service: &str, id: &str) -> String {
    format!("{project}-{service}-run-{id}")
}

/// The name a container is renamed to while its replacement starts (its id's first 12
/// characters keep two rollouts apart).
pub fn aside_name(container: &str, id: &str) -> String {
    format!("{container}-old-{}", &id[..id.len().min(12)])
}

/// The Docker name of replica `replica`'s copy of the named volume `volume` (its Docker
/// name, `<project>_<key>`): replica 1 uses the volume's own name, as Compose does, and
/// replica `n` > 1 its own volume `<volume>-<n>`, so replicas never share one by accident
/// and scaling a service up or down never changes the volume of a replica that stays.
/// (Compose gives every replica the one volume; Swarm one per node, shared by the tasks on
/// it; on several hosts neither keeps a replica's data with it.)
pub fn replica_volume_name(volume: &str, replica: u32) -> String {
    if replica <= 1 {
        volume.to_string()
    } else {
        format!("{volume}-{replica}")
    }
}
