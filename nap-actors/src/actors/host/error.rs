//! The error of a host operation, and how Docker's errors are read: the message inside one,
//! and which statuses mean "not found" or "conflict" (a removal of what is gone, a network
//! that exists: both count as done).

use std::sync::Arc;

use super::HostContext;
use crate::actors::Outcome;

/// What kind of failure a host operation met.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostErrorKind {
    /// The Docker daemon refused or failed a call, or did not answer.
    Docker,
    /// Docker does not know the container, network, volume or image (404).
    NotFound,
    /// Docker refused because of a conflict (409: a name in use).
    Conflict,
    /// SSH: the host has no `ssh:`, the connection failed, or a remote command or script did.
    Ssh,
    /// A rewrite took longer than its time limit, or a container did not become healthy or
    /// complete within `--wait-timeout`.
    Timeout,
    /// The container misbehaved: it exited, turned unhealthy, is crash-looping, has no
    /// healthcheck to wait for, or a command run in it failed.
    Container,
    /// What nap read back was larger than its bound.
    TooLarge,
    /// No source could supply the image, or a copy arrived with another image ID.
    Image,
    /// What the operation was asked to do does not hold together: a container or network not
    /// in the desired state, a create body, script or hosts file that cannot be made, a hosts
    /// file path that is not the container's.
    Invalid,
    /// The actor that should carry the operation out is not there (not in the inventory,
    /// stopped, shutting down).
    Unavailable,
    /// A replica's update failed and was rolled back or paused (`failure_action`); the source
    /// is the failure.
    Rollout,
}

/// An operation that failed on a host. The message names the host and what was being done.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{host}: {message}")]
pub struct HostOperationError {
    /// Inventory host name.
    pub host: String,
    /// What kind of failure it is.
    pub kind: HostErrorKind,
    /// What went wrong, naming the container, network, image or command. It already holds
    /// the source's text where that helps a reader, so print this error, not its chain.
    pub message: String,
    /// The error it came from (Docker's, SSH's, the core's…), where there is one.
    #[source]
    pub source: Option<Arc<dyn std::error::Error + Send + Sync>>,
}

impl HostOperationError {
    /// An error on `host` of `kind`.
    pub fn new(
        host: impl Into<String>,
        kind: HostErrorKind,
        message: impl Into<String>,
    ) -> HostOperationError {
        HostOperationError {
            host: host.into(),
            kind,
            message: message.into(),
            source: None,
        }
    }

    /// The same error, caused by `source`.
    pub fn with_source(
        mut self,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> HostOperationError {
        self.source = Some(Arc::new(source));
        self
    }
}

/// The message inside a Docker error, without bollard's wrapping.
pub fn docker_message(error: &bollard::errors::Error) -> String {
    match error {
        bollard::errors::Error::DockerResponseServerError { message, .. } => message.clone(),
        other => crate::observe::with_causes(other),
    }
}

/// The kind of a Docker error: its status, read.
fn docker_kind(error: &bollard::errors::Error) -> HostErrorKind {
    match error {
        bollard::errors::Error::DockerResponseServerError {
            status_code: 404, ..
        } => HostErrorKind::NotFound,
        bollard::errors::Error::DockerResponseServerError {
            status_code: 409, ..
        } => HostErrorKind::Conflict,
        _ => HostErrorKind::Docker,
    }
}

/// Whether Docker answered 404 (no such container, network, volume or image).
pub(super) fn is_not_found(error: &bollard::errors::Error) -> bool {
    docker_kind(error) == HostErrorKind::NotFound
}

/// Whether Docker answered 409 (a conflict: the name is in use).
pub(super) fn is_conflict(error: &bollard::errors::Error) -> bool {
    docker_kind(error) == HostErrorKind::Conflict
}

impl HostContext {
    /// An error of `kind` on this host.
    pub(super) fn error(
        &self,
        kind: HostErrorKind,
        message: impl Into<String>,
    ) -> HostOperationError {
        HostOperationError::new(self.name.clone(), kind, message)
    }

    /// A Docker call for `what` failed with `error`.
    pub(super) fn docker_error(
        &self,
        what: &str,
        error: bollard::errors::Error,
    ) -> HostOperationError {
        let message = format!("{what}: {}", docker_message(&error));
        self.error(docker_kind(&error), message).with_source(error)
    }

    /// The outcome of a removal: what is already gone counts as done.
    pub(super) fn removal(
        &self,
        result: Result<(), bollard::errors::Error>,
        what: &str,
    ) -> Result<Outcome, HostOperationError> {
        match result {
            Ok(()) => Ok(Outcome::Removed),
            Err(error) if is_not_found(&error) => Ok(Outcome::AlreadyGone),
            Err(error) => Err(self.docker_error(what, error)),
        }
    }
}
