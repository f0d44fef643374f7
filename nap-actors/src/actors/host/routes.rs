//! Routed mode's routes and forwarding rules on a host, installed and removed over SSH by the
//! core's fixed scripts (`nap_core::routes`); what the host prints back is parsed, never run.

use actix::prelude::*;
use nap_core::inventory::Ipv4Cidr;
use nap_core::plan::Route;
use nap_core::routes;

use super::{HostActor, HostErrorKind, OperationResult, Outcome};

/// Install the routes and forwarding rules of routed mode, over SSH.
#[derive(Message)]
#[rtype(result = "OperationResult")]
pub struct EnsureRoutes {
    /// Routes to the other hosts' subnets.
    pub routes: Vec<Route>,
    /// The pool.
    pub pool: Ipv4Cidr,
    /// The project's subnets on this host.
    pub local_subnets: Vec<Ipv4Cidr>,
}

impl Handler<EnsureRoutes> for HostActor {
    type Result = ResponseFuture<OperationResult>;

    fn handle(&mut self, message: EnsureRoutes, _: &mut Context<Self>) -> Self::Result {
        let host = self.context();
        Box::pin(async move {
            let script = routes::ensure_script(
                &host.project,
                &message.routes,
                message.pool,
                &message.local_subnets,
            )
            .map_err(|error| {
                host.error(HostErrorKind::Invalid, error.to_string())
                    .with_source(error)
            })?;
            host.run_script(&script)
                .await
                .map(|_| Outcome::Routes(message.routes.len()))
        })
    }
}

/// Remove the project's routes and forwarding rules, over SSH.
#[derive(Message)]
#[rtype(result = "OperationResult")]
pub struct RemoveRoutes {
    /// The other hosts' subnets.
    pub subnets: Vec<Ipv4Cidr>,
}

impl Handler<RemoveRoutes> for HostActor {
    type Result = ResponseFuture<OperationResult>;

    fn handle(&mut self, message: RemoveRoutes, _: &mut Context<Self>) -> Self::Result {
        let host = self.context();
        Box::pin(async move {
            // The host's rules are read back and parsed here; only the project's exact rules
            // are deleted, by their argument lists. Nothing the host printed is evaluated.
            let listing = host.run_script(routes::LIST_RULES).await?;
            let rules = routes::project_rules(&listing, &host.project).map_err(|error| {
                host.error(HostErrorKind::Invalid, error.to_string())
                    .with_source(error)
            })?;
            let script = routes::remove_script(&host.project, &message.subnets, &rules).map_err(
                |error| {
                    host.error(HostErrorKind::Invalid, error.to_string())
                        .with_source(error)
                },
            )?;
            host.run_script(&script).await.map(|_| Outcome::Removed)
        })
    }
}
