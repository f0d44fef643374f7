//! Named volumes on a host: create and remove (a gone one counts as done).

use actix::prelude::*;

use super::{HostActor, OperationResult, Outcome};

/// Create a named volume (nothing if it exists).
#[derive(Message)]
#[rtype(result = "OperationResult")]
pub struct CreateVolume {
    /// The create request.
    pub request: bollard::models::VolumeCreateRequest,
}

impl Handler<CreateVolume> for HostActor {
    type Result = ResponseFuture<OperationResult>;

    fn handle(&mut self, message: CreateVolume, _: &mut Context<Self>) -> Self::Result {
        let host = self.context();
        Box::pin(async move {
            let name = message.request.name.clone().unwrap_or_default();
            host.docker
                .create_volume(message.request)
                .await
                .map(|()| Outcome::Created)
                .map_err(|error| host.docker_error(&format!("creating volume {name}"), error))
        })
    }
}

/// Remove a named volume.
#[derive(Message)]
#[rtype(result = "OperationResult")]
pub struct RemoveVolume {
    /// Docker name.
    pub name: String,
}

impl Handler<RemoveVolume> for HostActor {
    type Result = ResponseFuture<OperationResult>;

    fn handle(&mut self, message: RemoveVolume, _: &mut Context<Self>) -> Self::Result {
        let host = self.context();
        Box::pin(async move {
            let result = host.docker.remove_volume(&message.name).await;
            host.removal(result, &format!("removing volume {}", message.name))
        })
    }
}
