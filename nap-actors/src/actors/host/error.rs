//! The error of a host operation, and how Docker's errors are read: the message inside one,
//! and which statuses mean "not found" or "conflict" (a removal of what is gone, a network
//! that exists: both count as done).

use super::{HostContext, Outcome};

/// An operation that failed on a host. The message names the host and what was being done.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{host}: {message}")]
pub struct HostOperationError {
    /// Inventory host name.
    pub host: String,
    /// What went wrong, naming the container, network, image or command.
    pub message: String,
}

/// The message inside a Docker error, without bollard's wrapping.
pub fn docker_message(error: &bollard::errors::Error) -> String {
    match error {
        bollard::errors::Error::DockerResponseServerError { message, .. } => message.clone(),
        other => crate::observe::with_causes(other),
    }
}

pub(super) fn is_not_found(error: &bollard::errors::Error) -> bool {
    matches!(
        error,
        bollard::errors::Error::DockerResponseServerError {
            status_code: 404,
            ..
        }
    )
}

pub(super) fn is_conflict(error: &bollard::errors::Error) -> bool {
    matches!(
        error,
        bollard::errors::Error::DockerResponseServerError {
            status_code: 409,
            ..
        }
    )
}

impl HostContext {
    pub(super) fn error(&self, message: impl Into<String>) -> HostOperationError {
        HostOperationError {
            host: self.name.clone(),
            message: message.into(),
        }
    }

    pub(super) fn docker_error(
        &self,
        what: &str,
        error: bollard::errors::Error,
    ) -> HostOperationError {
        self.error(format!("{what}: {}", docker_message(&error)))
    }

    /// The outcome of a removal: what is already gone counts as done.
    pub(super) fn removal(
        &self,
        result: Result<(), bollard::errors::Error>,
        what: &str,
    ) -> Outcome {
        match result {
            Ok(()) => Ok("removed".to_string()),
            Err(error) if is_not_found(&error) => Ok("already gone".to_string()),
            Err(error) => Err(self.docker_error(what, error)),
        }
    }
}
