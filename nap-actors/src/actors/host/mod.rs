//! The host actor: one per inventory host, the only owner of that host's Docker client and
//! SSH connection.
//!
//! It carries out single operations on its host when asked (create a network, create or start
//! a container, wait for it, copy an image in, install routes, rewrite a hosts file) and
//! decides nothing: what to do and in which order is the coordinator's business. Handlers
//! return futures that do not borrow the actor, so any number of operations on one host run
//! at once — the host actor serializes nothing that can run in parallel. It watches no
//! events: the hosts files it writes are bind-mounted read-only in the containers, so a
//! restart changes nothing that needs re-applying.
//!
//! The operations live beside their messages: [`network`], [`volume`], [`build`], [`image`],
//! [`container`], [`routes`], [`hosts_file`]; [`error`] holds the operation error and Docker
//! error classification. The actor reaches its host through two seams: Docker calls through
//! an `Arc<dyn DockerApi>` ([`crate::docker::api`]) and scripts through an
//! `Arc<dyn HostShell>` ([`shell`]: the SSH session and the kept root shells), so tests drive
//! it with recording fakes (`docker::fake`, `fake_shell`).

use std::sync::{Arc, Mutex};

use actix::prelude::*;
use nap_core::inventory::Host;

use crate::docker::DockerApi;

pub mod build;
pub mod container;
pub mod error;
#[cfg(any(test, feature = "fakes"))]
pub mod fake_shell;
pub mod hosts_file;
pub mod image;
pub mod network;
pub mod routes;
pub mod shell;
pub mod volume;

pub use crate::actors::Outcome;
pub use crate::actors::Stop;
pub use build::BuildImage;
pub use container::{
    CreateContainer, MonitorContainer, RemoveContainer, RenameContainer, StartContainer,
    StartedContainer, StopContainer, WaitCondition, WaitContainer,
};
pub use error::{HostErrorKind, HostOperationError, docker_message};
pub use hosts_file::{RemoveHostsFiles, WriteHostsFiles, WriteResult};
pub use image::{EnsureImage, ImageSource};
pub use network::{CreateNetwork, RemoveNetwork};
pub use routes::{EnsureRoutes, RemoveRoutes};
pub use shell::{HostShell, SshSettings, SshShell, SshUnavailable, root_shell};
pub use volume::{CreateVolume, RemoveVolume};

/// What a host operation answers: what it did, or why it failed.
pub type OperationResult = Result<Outcome, HostOperationError>;

/// The host actor. See the module documentation.
pub struct HostActor {
    /// The inventory host; fixed for the actor's life.
    host: Host,
    /// The compose project's name (labels, route rule tags); fixed.
    project: String,
    /// The host's Docker calls (a client connected before the actor starts, or a fake);
    /// lives as long as the actor.
    docker: Arc<dyn DockerApi>,
    /// The host's root shell for scripts and hosts-file writes ([`SshShell`], or a fake),
    /// with its session and kept shells; lives as long as the actor.
    shell: Arc<dyn HostShell>,
}

impl HostActor {
    /// An actor for `host`, making its Docker calls through `docker` (an already connected
    /// client wrapped in [`crate::docker::BollardDocker`], or a fake) and running its scripts
    /// in `shell` (an [`SshShell`], or a fake).
    pub fn new(
        host: Host,
        project: &str,
        docker: Arc<dyn DockerApi>,
        shell: Arc<dyn HostShell>,
    ) -> HostActor {
        HostActor {
            host,
            project: project.to_string(),
            docker,
            shell,
        }
    }

    fn context(&self) -> HostContext {
        HostContext {
            name: self.host.name.clone(),
            project: self.project.clone(),
            docker: self.docker.clone(),
            shell: self.shell.clone(),
        }
    }
}

impl Actor for HostActor {
    type Context = Context<Self>;
}

impl Handler<Stop> for HostActor {
    type Result = ();

    /// Stops the actor. Operations under way are not the actor's tasks: they finish and
    /// answer their callers.
    fn handle(&mut self, _: Stop, ctx: &mut Context<Self>) {
        ctx.stop();
    }
}

/// What a handler's future needs from the actor, owned (so the future outlives the call).
#[derive(Clone)]
struct HostContext {
    /// The inventory host's name (every error names it).
    name: String,
    /// The project's name.
    project: String,
    /// The Docker calls.
    docker: Arc<dyn DockerApi>,
    /// The root shell.
    shell: Arc<dyn HostShell>,
}

/// Locks `mutex`, also when a panicking holder poisoned it (the pool stays usable).
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
