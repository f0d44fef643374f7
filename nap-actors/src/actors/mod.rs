//! The actors that carry out a plan: the [`coordinator`] walks it, the [`host`] actors do
//! single operations on their host, the [`service`] actors drive replicas and rollouts (hosts files are host operations: one
//! write per host). They decide nothing the core did not.
//!
//! Every actor has the same shape (ARCHITECTURE.md, "The actors"): it owns its state, and
//! nothing else touches it; its messages are plain named types defined beside the handler
//! that handles them; handlers return futures that do not borrow the actor; an actor that
//! runs tasks of its own answers [`Stop`] only once they have ended. Actors talk to each other
//! through [`ask`], which turns a mailbox error into the operation's error.

use actix::prelude::*;

#[cfg(test)]
mod build_tests;
pub mod coordinator;
pub mod host;
mod outcome;
pub mod service;
#[cfg(test)]
mod tests;

pub use outcome::Outcome;

use host::{HostErrorKind, HostOperationError};

/// Sends `message` to `actor` and waits for its answer. A mailbox error (the actor has
/// stopped, or its mailbox is closed) becomes a [`HostOperationError`] naming `host`, the
/// host the operation is for; the answer itself is returned as it is.
pub async fn ask<A, M>(
    actor: &Addr<A>,
    host: &str,
    message: M,
) -> Result<M::Result, HostOperationError>
where
    A: Actor<Context = Context<A>> + Handler<M>,
    M: Message + Send + 'static,
    M::Result: Send,
{
    actor.send(message).await.map_err(|error| {
        HostOperationError::new(
            host,
            HostErrorKind::Unavailable,
            format!("actor gone: {error}"),
        )
        .with_source(error)
    })
}

/// Stop the actor, deliberately: how a deployment's host actors are shut down
/// when `nap watch` replaces them or ends, and after `down`.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "()")]
pub struct Stop;
