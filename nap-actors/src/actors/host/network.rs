//! Networks on a host: create (an existing one counts as done) and remove (a gone one too).

use actix::prelude::*;

use super::error::is_conflict;
use super::{HostActor, OperationResult, Outcome};

/// Create a network (nothing if it exists).
#[derive(Message)]
#[rtype(result = "OperationResult")]
pub struct CreateNetwork {
    /// The create request.
    pub request: bollard::models::NetworkCreateRequest,
}

impl Handler<CreateNetwork> for HostActor {
    type Result = ResponseFuture<OperationResult>;

    fn handle(&mut self, message: CreateNetwork, _: &mut Context<Self>) -> Self::Result {
        let host = self.context();
        Box::pin(async move {
            let name = message.request.name.clone();
            match host.docker.create_network(message.request).await {
                Ok(_) => Ok(Outcome::Created),
                Err(error) if is_conflict(&error) => Ok(Outcome::Exists),
                Err(error) => Err(host.docker_error(&format!("creating network {name}"), error)),
            }
        })
    }
}

/// Remove a network (nothing if it is gone).
#[derive(Message)]
#[rtype(result = "OperationResult")]
pub struct RemoveNetwork {
    /// Docker name.
    pub name: String,
}

impl Handler<RemoveNetwork> for HostActor {
    type Result = ResponseFuture<OperationResult>;

    fn handle(&mut self, message: RemoveNetwork, _: &mut Context<Self>) -> Self::Result {
        let host = self.context();
        Box::pin(async move {
            let result = host.docker.remove_network(&message.name).await;
            host.removal(result, &format!("removing network {}", message.name))
        })
    }
}
