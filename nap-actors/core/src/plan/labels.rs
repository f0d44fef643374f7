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

/// The name a container is renamed to while its replacement starts (its id's first 12
/// characters keep two rollouts apart).
pub fn aside_name(container: &str, id: &str) -> String {
    format!("{container}-old-{}", &id[..id.len().min(12)])
}
