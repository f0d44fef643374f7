//! The host actor: one per inventory host, the only owner of that host's Docker client and
//! SSH connection.
//!
//! It carries out single operations on its host when asked (create a network, create or start
//! a container, wait for it, copy an image in, install routes, rewrite a hosts file) and
//! decides nothing: what to do and in which order is the coordinator's business. Handlers
//! return futures that do not borrow the actor, so any number of operations on one host run
//! at once — the host actor serializes nothing that can run in parallel. It also streams the
//! daemon's container `start` events ([`events`]) and tells the hosts-file patcher, which
//! re-applies a container's table after Docker rewrote the file on a restart.
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
use tokio::task::JoinHandle;

use crate::actors::patcher::ContainerRestarted;
use crate::docker::DockerApi;

pub mod build;
pub mod container;
pub mod error;
pub mod events;
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
pub use hosts_file::{PatchHostsFile, PatchResult, parse_extra_hosts};
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
    /// Who hears of container starts on this host (the patcher); `None`: no event stream.
    restarts: Option<Recipient<ContainerRestarted>>,
    /// The event stream's task, from the actor's start until [`Stop`] (which aborts it and
    /// answers once it has ended) or the actor's end (which aborts it).
    events: Option<JoinHandle<()>>,
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
            restarts: None,
            events: None,
        }
    }

    /// Also report container starts (restarts) to `recipient`.
    pub fn with_restart_events(mut self, recipient: Recipient<ContainerRestarted>) -> HostActor {
        self.restarts = Some(recipient);
        self
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

    fn started(&mut self, _: &mut Context<Self>) {
        let Some(recipient) = self.restarts.clone() else {
            return;
        };
        let watch = events::watch_starts(
            self.docker.clone(),
            self.host.name.clone(),
            self.project.clone(),
            recipient,
        );
        self.events = Some(actix::spawn(watch));
    }

    fn stopped(&mut self, _: &mut Context<Self>) {
        // Ended without `Stop` (every address dropped): the stream ends with the actor.
        if let Some(events) = self.events.take() {
            events.abort();
        }
    }
}

impl Handler<Stop> for HostActor {
    type Result = ResponseActFuture<Self, ()>;

    /// Ends the event stream and answers once it has ended; then the actor stops. Operations
    /// under way are not the actor's tasks: they finish and answer their callers.
    fn handle(&mut self, _: Stop, _: &mut Context<Self>) -> Self::Result {
        let events = self.events.take();
        let ended = async move {
            if let Some(events) = events {
                events.abort();
                let _ = events.await;
            }
        };
        Box::pin(ended.into_actor(self).map(|(), _, ctx| ctx.stop()))
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

#[cfg(test)]
mod tests {
    use std::path::PathBuf;
    use std::time::Duration;

    use nap_core::inventory::DockerEndpoint;
    use tokio::io::AsyncReadExt;

    use super::*;
    use crate::docker::transport::{Dialer, NapTransport};
    use bollard::Docker;

    /// Stands in for the patcher: hears of restarts and does nothing.
    struct Sink;

    impl Actor for Sink {
        type Context = Context<Self>;
    }

    impl Handler<ContainerRestarted> for Sink {
        type Result = ();

        fn handle(&mut self, _: ContainerRestarted, _: &mut Context<Self>) {}
    }

    #[test]
    fn stop_answers_once_the_event_stream_has_ended() {
        let folder = tempfile::tempdir().unwrap();
        let socket = folder.path().join("docker.sock");
        actix::System::new().block_on(async move {
            // A daemon that takes the event stream's request and never answers it.
            let listener = tokio::net::UnixListener::bind(&socket).unwrap();
            let transport = NapTransport::new(Dialer::Unix(socket.clone()));
            let docker = Docker::connect_with_custom_transport(
                move |request| transport.send(request),
                Some("http://docker"),
                120,
                bollard::API_DEFAULT_VERSION,
            )
            .unwrap();
            let host = Host {
                name: "h1".to_string(),
                docker: DockerEndpoint::Unix { path: socket },
                ssh: None,
                address: None,
                labels: Default::default(),
                capacity: None,
                tls: None,
                builder: false,
            };
            let settings = SshSettings {
                identity: None,
                known_hosts: PathBuf::from("/nonexistent/known_hosts"),
                agent_socket: None,
                home: PathBuf::from("/nonexistent"),
            };
            let docker = crate::docker::BollardDocker::shared(docker);
            let shell = Arc::new(SshShell::new(host.clone(), settings));
            let actor = HostActor::new(host, "demo", docker, shell)
                .with_restart_events(Sink.start().recipient())
                .start();
            let wait = Duration::from_secs(5);
            let (mut stream, _) = tokio::time::timeout(wait, listener.accept())
                .await
                .expect("the event stream connects")
                .unwrap();
            let mut request = vec![0; 4096];
            let read = stream.read(&mut request).await.unwrap();
            assert!(
                String::from_utf8_lossy(&request[..read]).starts_with("GET /"),
                "{:?}",
                String::from_utf8_lossy(&request[..read])
            );
            tokio::time::timeout(wait, actor.send(Stop))
                .await
                .expect("Stop answers")
                .expect("the actor was running");
            // By the time Stop answered, the stream's task was gone with its connection.
            let read = tokio::time::timeout(Duration::from_millis(200), stream.read(&mut request))
                .await
                .expect("the connection is closed")
                .unwrap();
            assert_eq!(read, 0);
            tokio::time::sleep(Duration::from_millis(50)).await;
            assert!(!actor.connected(), "the actor stopped");
        });
    }
}
