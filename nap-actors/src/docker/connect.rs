//! The one place nap makes Docker clients: [`connect`] turns an inventory host into a
//! `bollard::Docker` on nap's transport (see [`super::transport`]) and negotiates the API
//! version (Debian's engine speaks 1.41, bollard defaults to a newer one).
//!
//! It does not decide which daemon is the local default; that is [`super::endpoint`].

use std::time::Duration;

use bollard::Docker;
use nap_core::inventory::{DockerEndpoint, Host, TlsFiles};

use super::tls;
use super::transport::{Dialer, NapTransport};
use crate::observe::{HostError, with_causes};

/// Seconds a single Docker API call may take (until the answer's headers) before the host
/// counts as unreachable.
pub const API_TIMEOUT_SECONDS: u64 = 30;

/// Connects to a host's Docker API and negotiates the API version.
pub async fn connect(host: &Host) -> Result<Docker, HostError> {
    connect_endpoint(&host.name, &host.docker, host.tls.as_ref()).await
}

/// [`connect`] for an endpoint outside the inventory (the local daemon as image source);
/// `name` names it in errors.
pub async fn connect_endpoint(
    name: &str,
    endpoint: &DockerEndpoint,
    tls_files: Option<&TlsFiles>,
) -> Result<Docker, HostError> {
    connect_with(
        name,
        endpoint,
        tls_files,
        crate::docker::limits::Archives::Bounded,
    )
    .await
}

/// [`connect`] with container archives streamed rather than bounded, for `nap cp`, which
/// writes them to disk as they come.
pub async fn connect_streaming_archives(host: &Host) -> Result<Docker, HostError> {
    connect_with(
        &host.name,
        &host.docker,
        host.tls.as_ref(),
        crate::docker::limits::Archives::Streamed,
    )
    .await
}

async fn connect_with(
    name: &str,
    endpoint: &DockerEndpoint,
    tls_files: Option<&TlsFiles>,
    archives: crate::docker::limits::Archives,
) -> Result<Docker, HostError> {
    let error = |message: String| HostError {
        host: name.to_string(),
        endpoint: endpoint.to_string(),
        message,
    };
    let dialer = match endpoint {
        DockerEndpoint::Unix { path } => Dialer::Unix(path.clone()),
        DockerEndpoint::Tcp { host, port } => Dialer::Tcp {
            host: host.clone(),
            port: *port,
        },
        DockerEndpoint::Https { host, port } => {
            let Some(files) = tls_files else {
                return Err(error(
                    "an https:// daemon needs tls: {ca, cert, key}".to_string(),
                ));
            };
            // The daemon's certificate must chain to `tls.ca` and nothing else.
            let config = tls::client_config(files).map_err(|e| error(e.to_string()))?;
            Dialer::Tls {
                host: host.clone(),
                port: *port,
                config,
            }
        }
        DockerEndpoint::Ssh { .. } => {
            return Err(error(
                "ssh:// Docker endpoints are not supported by this build of nap yet; use unix://, https:// with tls:, or tcp:// (lab)".to_string(),
            ));
        }
    };
    let mut transport = NapTransport::new(dialer);
    if archives == crate::docker::limits::Archives::Streamed {
        transport = transport.streaming_archives();
    }
    let docker = Docker::connect_with_custom_transport(
        move |request| transport.send(request),
        Some("http://docker"),
        API_TIMEOUT_SECONDS,
        bollard::API_DEFAULT_VERSION,
    )
    .map_err(|e| error(format!("cannot connect: {}", with_causes(&e))))?;
    tokio::time::timeout(
        Duration::from_secs(API_TIMEOUT_SECONDS),
        docker.negotiate_version(),
    )
    .await
    .map_err(|_| error("timed out negotiating the API version".to_string()))?
    .map_err(|e| error(format!("cannot reach the Docker API: {}", with_causes(&e))))
}
