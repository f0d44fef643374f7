//! Networking: a container's endpoints (fixed addresses, aliases) and the create requests of
//! project networks and named volumes.

use std::cmp::Reverse;
use std::collections::HashMap;

use super::{
    ServiceContext, SpecError, non_empty, non_empty_map, resolve_service_reference, to_hash_map,
};
use bollard::models::{
    EndpointIpamConfig, EndpointSettings, Ipam, IpamConfig, NetworkCreateRequest, NetworkingConfig,
    VolumeCreateRequest,
};
use nap_core::compose::{Project, Service};
use nap_core::plan::{
    DesiredContainer, DesiredNetwork, LABEL_NETWORK, LABEL_PROJECT, NetworkAttachment,
};
use serde_json::Value;

/// How the container is networked.
pub(super) struct Networking {
    /// `HostConfig.NetworkMode`: the primary network's name, or the service's `network_mode`.
    pub(super) mode: String,
    /// `network_mode: disabled`.
    pub(super) disabled: bool,
    /// The primary network's endpoint.
    pub(super) config: Option<NetworkingConfig>,
    /// The other networks, connected before start.
    pub(super) additional: Vec<(String, EndpointSettings)>,
}

pub(super) fn endpoint_settings(
    service: &Service,
    attachment: &NetworkAttachment,
) -> EndpointSettings {
    let ipv6_address = service
        .networks
        .get(&attachment.key)
        .and_then(|options| options.as_ref())
        .and_then(|options| options.ipv6_address.clone());
    let ipam_config =
        (attachment.ipv4_address.is_some() || ipv6_address.is_some()).then(|| EndpointIpamConfig {
            ipv4_address: attachment.ipv4_address.map(|address| address.to_string()),
            ipv6_address,
            ..EndpointIpamConfig::default()
        });
    EndpointSettings {
        aliases: non_empty(attachment.aliases.clone()),
        ipam_config,
        ..EndpointSettings::default()
    }
}

/// The network mode and endpoints: the service's `network_mode` alone when set; otherwise
/// the attachments by compose's priority order (highest `priority` first, then by key).
pub(super) fn networking(
    context: &ServiceContext,
    project: &Project,
    service: &Service,
    container: &DesiredContainer,
) -> Result<Networking, SpecError> {
    if let Some(mode) = &service.network_mode {
        let mode = resolve_service_reference(context, project, "network_mode", mode, container)?;
        return Ok(Networking {
            disabled: mode == "disabled",
            mode,
            config: None,
            additional: Vec::new(),
        });
    }
    let priority = |attachment: &NetworkAttachment| {
        service
            .networks
            .get(&attachment.key)
            .and_then(|options| options.as_ref())
            .and_then(|options| options.priority)
            .unwrap_or(0)
    };
    let mut attachments: Vec<&NetworkAttachment> = container.networks.iter().collect();
    attachments.sort_by(|left, right| {
        (Reverse(priority(left)), &left.key).cmp(&(Reverse(priority(right)), &right.key))
    });
    let mut endpoints = attachments
        .into_iter()
        .map(|attachment| {
            (
                attachment.network.clone(),
                endpoint_settings(service, attachment),
            )
        })
        .collect::<Vec<_>>()
        .into_iter();
    let Some((primary, endpoint)) = endpoints.next() else {
        // As compose when the project has no network.
        return Ok(Networking {
            mode: "none".to_string(),
            disabled: false,
            config: None,
            additional: Vec::new(),
        });
    };
    Ok(Networking {
        config: Some(NetworkingConfig {
            endpoints_config: Some(HashMap::from([(primary.clone(), endpoint)])),
        }),
        mode: primary,
        disabled: false,
        additional: endpoints.collect(),
    })
}

/// The create request of a project network on one host: the compose network's driver,
/// options, `internal` and labels, with `nap.project` and `nap.network` over the labels. In
/// routed mode (`subnet` set) the IPAM config is that subnet with its `.1` as gateway;
/// otherwise the compose network's `ipam:` when it says anything. (`attachable` is not in
/// the compose model and is left to the daemon.)
pub fn network_spec(project: &Project, network: &DesiredNetwork) -> NetworkCreateRequest {
    let compose = project.networks.get(&network.key);
    let mut labels = compose
        .map(|compose| to_hash_map(&compose.labels))
        .unwrap_or_default();
    labels.insert(LABEL_PROJECT.to_string(), project.name.clone());
    labels.insert(LABEL_NETWORK.to_string(), network.key.clone());
    let ipam = match network.subnet {
        Some(subnet) => Some(Ipam {
            config: Some(vec![IpamConfig {
                subnet: Some(subnet.to_string()),
                gateway: subnet.address(1).map(|gateway| gateway.to_string()),
                ..IpamConfig::default()
            }]),
            ..Ipam::default()
        }),
        None => compose
            .and_then(|compose| compose.ipam.as_ref())
            .and_then(compose_ipam),
    };
    NetworkCreateRequest {
        name: network.name.clone(),
        driver: Some(network.driver.clone()),
        internal: compose.map(|compose| compose.internal),
        ipam,
        options: compose
            .map(|compose| to_hash_map(&compose.driver_opts))
            .and_then(non_empty_map),
        labels: Some(labels),
        ..NetworkCreateRequest::default()
    }
}

/// A compose `ipam:` (`driver`, `config: [{subnet, ip_range, gateway, aux_addresses}]`,
/// `options`) as Docker's, or `None` when it sets nothing. Values of the wrong shape are
/// skipped (the daemon validates addresses).
pub(super) fn compose_ipam(value: &Value) -> Option<Ipam> {
    fn text(value: Option<&Value>) -> Option<String> {
        match value? {
            Value::String(text) if !text.is_empty() => Some(text.clone()),
            Value::Number(number) => Some(number.to_string()),
            _ => None,
        }
    }
    fn strings(value: Option<&Value>) -> Option<HashMap<String, String>> {
        let map: HashMap<String, String> = value?
            .as_object()?
            .iter()
            .filter_map(|(key, value)| Some((key.clone(), text(Some(value))?)))
            .collect();
        non_empty_map(map)
    }
    let map = value.as_object()?;
    let config: Vec<IpamConfig> = map
        .get("config")
        .and_then(Value::as_array)
        .map(|pools| {
            pools
                .iter()
                .filter_map(Value::as_object)
                .map(|pool| IpamConfig {
                    subnet: text(pool.get("subnet")),
                    ip_range: text(pool.get("ip_range")),
                    gateway: text(pool.get("gateway")),
                    auxiliary_addresses: strings(pool.get("aux_addresses")),
                })
                .collect()
        })
        .unwrap_or_default();
    let ipam = Ipam {
        driver: text(map.get("driver")),
        config: non_empty(config),
        options: strings(map.get("options")),
    };
    (ipam != Ipam::default()).then_some(ipam)
}

/// The create request of the named volume whose Docker name is `name`: the compose volume's
/// driver, driver options and labels, with `nap.project` over the labels. A name no project
/// volume has gets the name and the project label only. A replica's own volume
/// (`<volume>-<n>`, [`replica_volume_name`](nap_core::plan::replica_volume_name)) is created
/// as its volume is.
pub fn volume_spec(project: &Project, name: &str) -> VolumeCreateRequest {
    let replica_of = |volume: &&nap_core::compose::Volume| {
        name.strip_prefix(volume.name.as_str())
            .and_then(|rest| rest.strip_prefix('-'))
            .is_some_and(|number| !number.is_empty() && number.bytes().all(|b| b.is_ascii_digit()))
    };
    let compose = project
        .volumes
        .values()
        .find(|volume| volume.name == name)
        .or_else(|| project.volumes.values().find(replica_of));
    let mut labels = compose
        .map(|compose| to_hash_map(&compose.labels))
        .unwrap_or_default();
    labels.insert(LABEL_PROJECT.to_string(), project.name.clone());
    VolumeCreateRequest {
        name: Some(name.to_string()),
        driver: compose.and_then(|compose| compose.driver.clone()),
        driver_opts: compose
            .map(|compose| to_hash_map(&compose.driver_opts))
            .and_then(non_empty_map),
        labels: Some(labels),
        ..VolumeCreateRequest::default()
    }
}
