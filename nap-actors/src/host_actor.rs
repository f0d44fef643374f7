//! The host actor: one per inventory host, the only owner of that host's Docker client and
//! SSH connection.
//!
//! It carries out single operations on its host when asked (create a network, create or start
//! a container, wait for it, copy an image in, install routes, rewrite a hosts file) and
//! decides nothing: what to do and in which order is the coordinator's business. Handlers
//! return futures that do not borrow the actor, so any number of operations on one host run
//! at once — the host actor serializes nothing that can run in parallel. It also streams the
//! daemon's container `start` events and tells the hosts-file patcher, which re-applies a
//! container's table after Docker rewrote the file on a restart.
//!
//! State: `docker` lives as long as the actor; `ssh` is connected on first use and shared by
//! every operation after it (a failed connection is remembered, so a host with a bad key is
//! refused once, not once per container); the event stream stops with the actor.

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix::prelude::*;
use bollard::Docker;
use bollard::models::{ContainerInspectResponse, ContainerStateStatusEnum, HealthStatusEnum};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, CreateImageOptionsBuilder, EventsOptionsBuilder,
    ImportImageOptionsBuilder, InspectContainerOptions, ListContainersOptionsBuilder,
    LogsOptionsBuilder, RemoveContainerOptionsBuilder, RemoveVolumeOptionsBuilder,
    StopContainerOptions,
};
use futures_util::StreamExt;
use nap_core::hosts_file;
use nap_core::inventory::{Host, Inventory, Ipv4Cidr};
use nap_core::plan::{HostEntry, LABEL_PROJECT, Route};
use nap_core::routes;
use tokio::sync::OnceCell;

use crate::spec::ContainerSpec;
use crate::ssh::{CommandLimits, RemoteShell, SshOptions, SshSession};

/// How often a wait looks at the container again.
const WAIT_POLL: Duration = Duration::from_millis(200);

/// Seconds an image transfer may take (a `docker save` → `docker load` of a large image).
const IMAGE_TRANSFER_SECONDS: u64 = 3600;

/// Root shells kept open per host for scripts (routes, hosts files). Each holds one SSH
/// channel of the 8 nap uses per connection; a warm shell runs a script in milliseconds, so
/// two keep a host's patches flowing while leaving channels for everything else.
const SHELLS_PER_HOST: usize = 2;

/// How long one command over SSH may take (routes, rules, a hosts file).
const REMOTE_COMMAND_TIMEOUT: Duration = Duration::from_secs(60);

/// Log lines quoted when a container fails.
const FAILURE_LOG_LINES: &str = "10";

/// An operation that failed on a host. The message names the host and what was being done.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{host}: {message}")]
pub struct HostOperationError {
    /// Inventory host name.
    pub host: String,
    /// What went wrong, naming the container, network, image or command.
    pub message: String,
}

/// Where the host's SSH settings come from.
#[derive(Debug, Clone)]
pub struct SshSettings {
    /// Private key to try first; `None`: the agent, then `~/.ssh/id_ed25519`, `id_ecdsa`,
    /// `id_rsa`.
    pub identity: Option<PathBuf>,
    /// known_hosts file the host key is checked against.
    pub known_hosts: PathBuf,
    /// The ssh-agent socket (`SSH_AUTH_SOCK`).
    pub agent_socket: Option<PathBuf>,
    /// The home directory holding the default key files.
    pub home: PathBuf,
}

impl SshSettings {
    /// The inventory's settings, the agent from `SSH_AUTH_SOCK`, and `~/.ssh/known_hosts` by
    /// default.
    pub fn from_inventory(inventory: &Inventory) -> SshSettings {
        let home = std::env::var_os("HOME")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("/root"));
        let known_hosts = inventory
            .ssh
            .known_hosts
            .clone()
            .unwrap_or_else(|| home.join(".ssh/known_hosts"));
        SshSettings {
            identity: inventory.ssh.identity.clone(),
            known_hosts,
            agent_socket: std::env::var_os("SSH_AUTH_SOCK")
                .filter(|socket| !socket.is_empty())
                .map(PathBuf::from),
            home,
        }
    }

    /// The connection options for these settings.
    pub fn ssh_options(&self, connect_timeout: Duration) -> SshOptions {
        SshOptions {
            identity: self.identity.clone(),
            agent_socket: self.agent_socket.clone(),
            home: Some(self.home.clone()),
            passphrase_prompt: true,
            known_hosts: self.known_hosts.clone(),
            connect_timeout,
        }
    }
}

/// A container on this host started (by anyone): Docker rewrote its hosts file.
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub struct ContainerRestarted {
    /// Host.
    pub host: String,
    /// Container name.
    pub container: String,
}

/// The host actor. See the module documentation.
pub struct HostActor {
    host: Host,
    project: String,
    docker: Docker,
    ssh_settings: SshSettings,
    ssh: Arc<OnceCell<Result<SshSession, String>>>,
    shells: Arc<Mutex<Vec<RemoteShell>>>,
    shell_slots: Arc<tokio::sync::Semaphore>,
    restarts: Option<Recipient<ContainerRestarted>>,
}

impl HostActor {
    /// An actor for `host`, using an already connected Docker client.
    pub fn new(host: Host, project: &str, docker: Docker, ssh_settings: SshSettings) -> HostActor {
        HostActor {
            host,
            project: project.to_string(),
            docker,
            ssh_settings,
            ssh: Arc::new(OnceCell::new()),
            shells: Arc::new(Mutex::new(Vec::new())),
            shell_slots: Arc::new(tokio::sync::Semaphore::new(SHELLS_PER_HOST)),
            restarts: None,
        }
    }

    /// Use an SSH session connected (and its host key checked) before the plan ran.
    pub fn with_ssh_session(self, session: SshSession) -> HostActor {
        let _ = self.ssh.set(Ok(session));
        self
    }

    /// SSH was tried before the plan ran and the host did not answer: do not try again in
    /// this deployment; hosts files are patched by exec instead.
    pub fn with_ssh_unreachable(self, message: String) -> HostActor {
        let _ = self.ssh.set(Err(message));
        self
    }

    /// Use a root shell already started on that session (so the first script does not wait
    /// for the host's login and shell start-up files).
    pub fn with_shell(self, shell: RemoteShell) -> HostActor {
        lock(&self.shells).push(shell);
        self
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
            host: self.host.clone(),
            ssh_settings: self.ssh_settings.clone(),
            ssh: self.ssh.clone(),
            shells: self.shells.clone(),
            shell_slots: self.shell_slots.clone(),
        }
    }
}

impl Actor for HostActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        let Some(recipient) = self.restarts.clone() else {
            return;
        };
        let docker = self.docker.clone();
        let host = self.host.name.clone();
        let project = self.project.clone();
        let watch = async move {
            loop {
                let filters = HashMap::from([
                    ("type".to_string(), vec!["container".to_string()]),
                    ("event".to_string(), vec!["start".to_string()]),
                    (
                        "label".to_string(),
                        vec![format!("{LABEL_PROJECT}={project}")],
                    ),
                ]);
                let options = EventsOptionsBuilder::default().filters(&filters).build();
                let mut events = docker.events(Some(options));
                while let Some(event) = events.next().await {
                    let Ok(event) = event else { break };
                    if let Some(nanos) = event.time_nano {
                        let now = std::time::SystemTime::now()
                            .duration_since(std::time::UNIX_EPOCH)
                            .map(|d| d.as_nanos() as i64)
                            .unwrap_or(0);
                        tracing::debug!(host = %host, lag_ms = (now - nanos) / 1_000_000, "daemon event");
                    }
                    let name = event
                        .actor
                        .and_then(|actor| actor.attributes)
                        .and_then(|attributes| attributes.get("name").cloned());
                    if let Some(container) = name {
                        recipient.do_send(ContainerRestarted {
                            host: host.clone(),
                            container,
                        });
                    }
                }
                // The stream broke (daemon restarted, connection dropped): look again soon.
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        };
        ctx.spawn(watch.into_actor(self));
    }
}

/// Stop the actor (and its event stream): how a deployment's actors are shut down
/// deliberately when `nap watch` replaces them or ends.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "()")]
pub struct Stop;

impl Handler<Stop> for HostActor {
    type Result = ();

    fn handle(&mut self, _: Stop, ctx: &mut Context<Self>) {
        ctx.stop();
    }
}

/// What a handler's future needs from the actor, owned (so the future outlives the call).
#[derive(Clone)]
struct HostContext {
    name: String,
    project: String,
    docker: Docker,
    host: Host,
    ssh_settings: SshSettings,
    ssh: Arc<OnceCell<Result<SshSession, String>>>,
    shells: Arc<Mutex<Vec<RemoteShell>>>,
    shell_slots: Arc<tokio::sync::Semaphore>,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The command that starts a root shell for `target`'s user.
pub fn root_shell(target: &nap_core::inventory::SshTarget) -> &'static str {
    if target.user == "root" {
        "sh"
    } else {
        "sudo -n sh"
    }
}

impl HostContext {
    fn error(&self, message: impl Into<String>) -> HostOperationError {
        HostOperationError {
            host: self.name.clone(),
            message: message.into(),
        }
    }

    fn docker_error(&self, what: &str, error: bollard::errors::Error) -> HostOperationError {
        self.error(format!("{what}: {}", docker_message(&error)))
    }

    /// The outcome of a removal: what is already gone counts as done.
    fn removal(&self, result: Result<(), bollard::errors::Error>, what: &str) -> Outcome {
        match result {
            Ok(()) => Ok("removed".to_string()),
            Err(error) if is_not_found(&error) => Ok("already gone".to_string()),
            Err(error) => Err(self.docker_error(what, error)),
        }
    }

    /// The SSH session, connected on first use.
    async fn ssh(&self) -> Result<SshSession, HostOperationError> {
        let Some(target) = self.host.ssh.clone() else {
            return Err(self.error("has no ssh: in the inventory"));
        };
        let settings = self.ssh_settings.clone();
        let name = self.name.clone();
        let result = self
            .ssh
            .get_or_init(|| async move {
                SshSession::connect(
                    &name,
                    &target,
                    &settings.ssh_options(Duration::from_secs(10)),
                )
                .await
                .map_err(|error| error.to_string())
            })
            .await;
        match result {
            Ok(session) => Ok(session.clone()),
            Err(message) => Err(self.error(message.clone())),
        }
    }

    /// Runs a root shell script over SSH (through `sudo -n` for another user).
    async fn run_script(&self, script: &str) -> Result<String, HostOperationError> {
        let session = self.ssh().await?;
        // At most SHELLS_PER_HOST shells exist, each holding one of the session's channels.
        let _slot = self
            .shell_slots
            .acquire()
            .await
            .map_err(|_| self.error("shutting down"))?;
        // A warm shell from the pool (taken out, so no lock is held while it runs), else a new one.
        let pooled = lock(&self.shells).pop();
        let mut shell = match pooled {
            Some(shell) => shell,
            None => {
                let command = self.host.ssh.as_ref().map_or("sh", root_shell);
                session
                    .open_shell(command)
                    .await
                    .map_err(|error| self.error(error.to_string()))?
            }
        };
        // A broken or timed-out shell is dropped (not put back); the next script opens a new
        // one.
        let output = shell
            .run_limited(script, CommandLimits::with_timeout(REMOTE_COMMAND_TIMEOUT))
            .await
            .map_err(|error| self.error(error.to_string()))?;
        lock(&self.shells).push(shell);
        if output.status != 0 {
            let stderr = String::from_utf8_lossy(&output.stderr);
            let first_line = script
                .lines()
                .find(|line| !line.trim().is_empty())
                .unwrap_or("");
            return Err(self.error(format!(
                "script `{first_line}` … failed with status {} over ssh: {}",
                output.status,
                stderr.trim()
            )));
        }
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }

    /// Runs `command`, a fixed command with no data in it, in a root shell over SSH (through
    /// `sudo -n` for another user), with `stdin` as its input: how data reaches a host.
    async fn run_with_stdin(
        &self,
        command: &'static str,
        stdin: &[u8],
    ) -> Result<String, HostOperationError> {
        debug_assert!(
            !command.contains('\''),
            "fixed commands hold no single quote"
        );
        let session = self.ssh().await?;
        let shell = self.host.ssh.as_ref().map_or("sh", root_shell);
        let line = format!("{shell} -c '{command}'");
        let output = session
            .run_checked_limited(
                &line,
                Some(stdin),
                CommandLimits::with_timeout(REMOTE_COMMAND_TIMEOUT),
            )
            .await
            .map_err(|error| self.error(error.to_string()))?;
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }

    async fn inspect(
        &self,
        container: &str,
    ) -> Result<ContainerInspectResponse, HostOperationError> {
        self.docker
            .inspect_container(container, None::<InspectContainerOptions>)
            .await
            .map_err(|error| self.docker_error(&format!("inspecting {container}"), error))
    }

    /// Fails when Docker is restarting the container again and again (a restart policy on a
    /// container that keeps failing), so waits and monitors say so at once rather than at their
    /// timeout. `first_restart_count` is the count seen at the first look.
    async fn check_not_crash_looping(
        &self,
        name: &str,
        inspect: &ContainerInspectResponse,
        first_restart_count: &mut Option<i64>,
    ) -> Result<(), HostOperationError> {
        let restart_count = inspect.restart_count.unwrap_or(0);
        let initial = *first_restart_count.get_or_insert(restart_count);
        let state = inspect.state.clone().unwrap_or_default();
        if state.restarting == Some(true) || restart_count > initial {
            let code = state.exit_code.unwrap_or(-1);
            let logs = self.last_logs(name).await;
            return Err(self.error(format!(
                "{name} is crash-looping (Docker restarted it {restart_count} times; last exit status {code}); its last output:\n    {logs}"
            )));
        }
        Ok(())
    }

    /// The container's last log lines, for failure messages.
    async fn last_logs(&self, container: &str) -> String {
        let options = LogsOptionsBuilder::default()
            .stdout(true)
            .stderr(true)
            .tail(FAILURE_LOG_LINES)
            .build();
        let mut logs = self.docker.logs(container, Some(options));
        let mut text = String::new();
        while let Some(Ok(chunk)) = logs.next().await {
            text.push_str(&String::from_utf8_lossy(&chunk.into_bytes()));
        }
        let lines: Vec<&str> = text.lines().collect();
        if lines.is_empty() {
            "(no output)".to_string()
        } else {
            lines.join("\n    ")
        }
    }
}

/// The message inside a Docker error, without bollard's wrapping.
pub fn docker_message(error: &bollard::errors::Error) -> String {
    match error {
        bollard::errors::Error::DockerResponseServerError { message, .. } => message.clone(),
        other => crate::observe::with_causes(other),
    }
}

fn is_not_found(error: &bollard::errors::Error) -> bool {
    matches!(
        error,
        bollard::errors::Error::DockerResponseServerError {
            status_code: 404,
            ..
        }
    )
}

fn is_conflict(error: &bollard::errors::Error) -> bool {
    matches!(
        error,
        bollard::errors::Error::DockerResponseServerError {
            status_code: 409,
            ..
        }
    )
}

/// The `name:address` entries of `extra_hosts` that are IPv4 name-table entries.
pub(crate) fn parse_extra_hosts(entries: &[String]) -> Vec<HostEntry> {
    entries
        .iter()
        .filter_map(|entry| {
            let (name, address) = entry.rsplit_once(':')?;
            Some(HostEntry {
                name: name.to_string(),
                address: address.parse().ok()?,
            })
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// Messages
// ---------------------------------------------------------------------------------------

/// Result of an operation: a short outcome word for the progress line (`created`,
/// `up to date`, `copied from h1`).
pub type Outcome = Result<String, HostOperationError>;

/// Create a network (nothing if it exists).
#[derive(Message)]
#[rtype(result = "Outcome")]
pub struct CreateNetwork {
    /// The create request.
    pub request: bollard::models::NetworkCreateRequest,
}

impl Handler<CreateNetwork> for HostActor {
    type Result = ResponseFuture<Outcome>;

    fn handle(&mut self, message: CreateNetwork, _: &mut Context<Self>) -> Self::Result {
        let host = self.context();
        Box::pin(async move {
            let name = message.request.name.clone();
            match host.docker.create_network(message.request).await {
                Ok(_) => Ok("created".to_string()),
                Err(error) if is_conflict(&error) => Ok("exists".to_string()),
                Err(error) => Err(host.docker_error(&format!("creating network {name}"), error)),
            }
        })
    }
}

/// Remove a network (nothing if it is gone).
#[derive(Message)]
#[rtype(result = "Outcome")]
pub struct RemoveNetwork {
    /// Docker name.
    pub name: String,
}

impl Handler<RemoveNetwork> for HostActor {
    type Result = ResponseFuture<Outcome>;

    fn handle(&mut self, message: RemoveNetwork, _: &mut Context<Self>) -> Self::Result {
        let host = self.context();
        Box::pin(async move {
            let result = host.docker.remove_network(&message.name).await;
            host.removal(result, &format!("removing network {}", message.name))
        })
    }
}

/// Create a named volume (nothing if it exists).
#[derive(Message)]
#[rtype(result = "Outcome")]
pub struct CreateVolume {
    /// The create request.
    pub request: bollard::models::VolumeCreateRequest,
}

impl Handler<CreateVolume> for HostActor {
    type Result = ResponseFuture<Outcome>;

    fn handle(&mut self, message: CreateVolume, _: &mut Context<Self>) -> Self::Result {
        let host = self.context();
        Box::pin(async move {
            let name = message.request.name.clone().unwrap_or_default();
            host.docker
                .create_volume(message.request)
                .await
                .map(|_| "created".to_string())
                .map_err(|error| host.docker_error(&format!("creating volume {name}"), error))
        })
    }
}

/// Remove a named volume.
#[derive(Message)]
#[rtype(result = "Outcome")]
pub struct RemoveVolume {
    /// Docker name.
    pub name: String,
}

impl Handler<RemoveVolume> for HostActor {
    type Result = ResponseFuture<Outcome>;

    fn handle(&mut self, message: RemoveVolume, _: &mut Context<Self>) -> Self::Result {
        let host = self.context();
        Box::pin(async move {
            let options = RemoveVolumeOptionsBuilder::default().force(false).build();
            let result = host
                .docker
                .remove_volume(&message.name, Some(options))
                .await;
            host.removal(result, &format!("removing volume {}", message.name))
        })
    }
}

/// A daemon an image can be copied from.
#[derive(Clone)]
pub struct ImageSource {
    /// Its name (an inventory host, or `local` for the local daemon).
    pub name: String,
    /// Its client.
    pub docker: Docker,
    /// The deploying machine's own daemon: the image ID it holds is the one every copy must
    /// arrive with. Without one, the first inventory host that has the image sets it.
    pub trusted: bool,
}

/// Make an image present: pull it, or (when pulling fails or is not wanted) copy it from
/// the first source that has it, streamed (`docker save | docker load`).
#[derive(Message)]
#[rtype(result = "Outcome")]
pub struct EnsureImage {
    /// Reference.
    pub image: String,
    /// Skip the pull and copy straight away (`--ship-images`).
    pub ship: bool,
    /// Daemons to copy from, best first.
    pub sources: Vec<ImageSource>,
}

impl Handler<EnsureImage> for HostActor {
    type Result = ResponseFuture<Outcome>;

    fn handle(&mut self, message: EnsureImage, _: &mut Context<Self>) -> Self::Result {
        let host = self.context();
        Box::pin(async move {
            if host.docker.inspect_image(&message.image).await.is_ok() {
                return Ok("present".to_string());
            }
            let mut pull_error = None;
            if !message.ship {
                let (name, tag) = split_reference(&message.image);
                let options = CreateImageOptionsBuilder::default()
                    .from_image(&name)
                    .tag(&tag)
                    .build();
                let mut pull = host.docker.create_image(Some(options), None, None);
                let mut failed = None;
                while let Some(step) = pull.next().await {
                    if let Err(error) = step {
                        failed = Some(docker_message(&error));
                        break;
                    }
                }
                match failed {
                    None => return Ok("pulled".to_string()),
                    Some(error) => pull_error = Some(error),
                }
            }
            // Which image ID a copy must arrive with (so one compromised host cannot seed the
            // others with an image of the same name): the trusted source's, else the first
            // holder's. Sources holding another image under that name are not copied from.
            let mut holders = Vec::new();
            for source in &message.sources {
                if let Ok(inspect) = source.docker.inspect_image(&message.image).await
                    && let Some(id) = inspect.id
                {
                    holders.push((source, id));
                }
            }
            let expected = holders
                .iter()
                .find(|(source, _)| source.trusted)
                .or(holders.first())
                .map(|(_, id)| id.clone());
            let mut mismatched = Vec::new();
            for (source, id) in &holders {
                let Some(expected) = &expected else { break };
                if id != expected {
                    mismatched.push(format!("{} has {id}", source.name));
                    continue;
                }
                return copy_image(&host, &message.image, source, expected).await;
            }
            if !mismatched.is_empty() {
                let expected = expected.unwrap_or_default();
                return Err(host.error(format!(
                    "image {}: no source holds image ID {expected} ({})",
                    message.image,
                    mismatched.join(", ")
                )));
            }
            let mut text = format!("image {} is not on this host", message.image);
            if let Some(error) = pull_error {
                text.push_str(&format!(", pulling it failed ({error})"));
            }
            text.push_str(", and no other host nor the local daemon has it to copy");
            Err(host.error(text))
        })
    }
}

/// Copies `image` from `source` (`docker save | docker load`, streamed), then checks that
/// what arrived has the image ID `expected`; an image that does not is removed again.
async fn copy_image(
    host: &HostContext,
    image: &str,
    source: &ImageSource,
    expected: &str,
) -> Outcome {
    let from = source
        .docker
        .clone()
        .with_timeout(Duration::from_secs(IMAGE_TRANSFER_SECONDS));
    let to = host
        .docker
        .clone()
        .with_timeout(Duration::from_secs(IMAGE_TRANSFER_SECONDS));
    let export = from.export_image(image);
    let mut load = to.import_image_stream(
        ImportImageOptionsBuilder::default().quiet(true).build(),
        export,
        None,
    );
    while let Some(step) = load.next().await {
        let failed = match step {
            Err(error) => Some(docker_message(&error)),
            Ok(info) => info.error_detail.and_then(|detail| detail.message),
        };
        if let Some(error) = failed {
            return Err(host.error(format!(
                "copying image {image} from {}: {error}",
                source.name
            )));
        }
    }
    let arrived = host
        .docker
        .inspect_image(image)
        .await
        .map_err(|error| host.docker_error(&format!("inspecting image {image}"), error))?
        .id
        .unwrap_or_default();
    if arrived != expected {
        let options = bollard::query_parameters::RemoveImageOptionsBuilder::default()
            .force(true)
            .build();
        if let Err(error) = host.docker.remove_image(image, Some(options), None).await {
            tracing::warn!(host = %host.name, %image, "removing a mismatched image: {error}");
        }
        return Err(host.error(format!(
            "image {image} copied from {} arrived as {arrived}, not the expected {expected}; it was removed",
            source.name
        )));
    }
    Ok(format!("copied from {}", source.name))
}

/// `name:tag` → (`name`, `tag`), `latest` by default; digests stay in the name.
fn split_reference(image: &str) -> (String, String) {
    if image.contains('@') {
        return (image.to_string(), String::new());
    }
    match image.rsplit_once(':') {
        Some((name, tag)) if !tag.contains('/') => (name.to_string(), tag.to_string()),
        _ => (image.to_string(), "latest".to_string()),
    }
}

/// Create a container (and connect its further networks). Returns its id.
#[derive(Message)]
#[rtype(result = "Result<String, HostOperationError>")]
pub struct CreateContainer {
    /// Everything Docker needs.
    pub spec: ContainerSpec,
}

impl Handler<CreateContainer> for HostActor {
    type Result = ResponseFuture<Result<String, HostOperationError>>;

    fn handle(&mut self, message: CreateContainer, _: &mut Context<Self>) -> Self::Result {
        let host = self.context();
        Box::pin(async move {
            let spec = message.spec;
            let options = CreateContainerOptionsBuilder::default()
                .name(&spec.name)
                .build();
            let created = host
                .docker
                .create_container(Some(options), spec.body)
                .await
                .map_err(|error| {
                    host.docker_error(&format!("creating container {}", spec.name), error)
                })?;
            for (network, endpoint) in spec.additional_networks {
                let request = bollard::models::NetworkConnectRequest {
                    container: created.id.clone(),
                    endpoint_config: Some(endpoint),
                };
                host.docker
                    .connect_network(&network, request)
                    .await
                    .map_err(|error| {
                        host.docker_error(
                            &format!("connecting container {} to {network}", spec.name),
                            error,
                        )
                    })?;
            }
            Ok(created.id)
        })
    }
}

/// What a started container looks like.
#[derive(Debug, Clone)]
pub struct StartedContainer {
    /// Id.
    pub id: String,
    /// Address on its first network, if it has one.
    pub ip: Option<Ipv4Addr>,
}

/// Start a container; returns its id and address. What the caller already knows is not
/// asked again: with its id and a fixed address (routed mode) nothing is, with its id only
/// the address is read from the container listing (small) rather than a full inspect (which
/// carries the whole name table); without its id, the container is inspected.
#[derive(Message)]
#[rtype(result = "Result<StartedContainer, HostOperationError>")]
pub struct StartContainer {
    /// Container name.
    pub container: String,
    /// The network whose address is reported.
    pub network: Option<String>,
    /// Its id, when the caller created it.
    pub id: Option<String>,
    /// Its address on `network`, when the desired state fixed it.
    pub address: Option<Ipv4Addr>,
}

impl Handler<StartContainer> for HostActor {
    type Result = ResponseFuture<Result<StartedContainer, HostOperationError>>;

    fn handle(&mut self, message: StartContainer, _: &mut Context<Self>) -> Self::Result {
        let host = self.context();
        Box::pin(async move {
            host.docker
                .start_container(&message.container, None)
                .await
                .map_err(|error| {
                    host.docker_error(&format!("starting {}", message.container), error)
                })?;
            match (message.id, message.address) {
                (Some(id), Some(address)) if message.network.is_some() => {
                    return Ok(StartedContainer {
                        id,
                        ip: Some(address),
                    });
                }
                (Some(id), _) => {
                    let filters = HashMap::from([("id".to_string(), vec![id.clone()])]);
                    let options = ListContainersOptionsBuilder::default()
                        .all(true)
                        .filters(&filters)
                        .build();
                    let listed =
                        host.docker
                            .list_containers(Some(options))
                            .await
                            .map_err(|error| {
                                host.docker_error(&format!("listing {}", message.container), error)
                            })?;
                    let networks = listed
                        .into_iter()
                        .find(|summary| summary.id.as_deref() == Some(id.as_str()))
                        .and_then(|summary| summary.network_settings)
                        .and_then(|settings| settings.networks)
                        .unwrap_or_default();
                    let endpoint = match &message.network {
                        Some(network) => networks.get(network),
                        None => networks.values().next(),
                    };
                    let ip = endpoint
                        .and_then(|endpoint| endpoint.ip_address.as_deref())
                        .and_then(|address| address.parse().ok());
                    return Ok(StartedContainer { id, ip });
                }
                (None, _) => {}
            }
            let inspect = host.inspect(&message.container).await?;
            let networks = inspect
                .network_settings
                .and_then(|settings| settings.networks)
                .unwrap_or_default();
            let endpoint = match &message.network {
                Some(network) => networks.get(network),
                None => networks.values().next(),
            };
            let ip = endpoint
                .and_then(|endpoint| endpoint.ip_address.as_deref())
                .and_then(|address| address.parse().ok());
            Ok(StartedContainer {
                id: inspect.id.unwrap_or_default(),
                ip,
            })
        })
    }
}

/// What a wait waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitCondition {
    /// Its healthcheck passes.
    Healthy,
    /// It exits with status 0.
    Completed,
}

/// Wait until a container is healthy or has completed, at most `timeout`.
#[derive(Message)]
#[rtype(result = "Outcome")]
pub struct WaitContainer {
    /// Container name.
    pub container: String,
    /// For what.
    pub condition: WaitCondition,
    /// How long at most.
    pub timeout: Duration,
}

impl Handler<WaitContainer> for HostActor {
    type Result = ResponseFuture<Outcome>;

    fn handle(&mut self, message: WaitContainer, _: &mut Context<Self>) -> Self::Result {
        let host = self.context();
        Box::pin(async move {
            let started = Instant::now();
            let name = &message.container;
            let mut first_restart_count = None;
            loop {
                let inspect = host.inspect(name).await?;
                host.check_not_crash_looping(name, &inspect, &mut first_restart_count)
                    .await?;
                let state = inspect.state.unwrap_or_default();
                let status = state.status;
                let exited = matches!(
                    status,
                    Some(ContainerStateStatusEnum::EXITED | ContainerStateStatusEnum::DEAD)
                );
                match message.condition {
                    WaitCondition::Completed if exited => {
                        let code = state.exit_code.unwrap_or(-1);
                        if code == 0 {
                            return Ok("completed".to_string());
                        }
                        let logs = host.last_logs(name).await;
                        return Err(host.error(format!(
                            "{name} exited with status {code}; its last output:\n    {logs}"
                        )));
                    }
                    WaitCondition::Healthy => {
                        let health = state.health.and_then(|health| health.status);
                        match health {
                            Some(HealthStatusEnum::HEALTHY) => return Ok("healthy".to_string()),
                            Some(HealthStatusEnum::UNHEALTHY) => {
                                let logs = host.last_logs(name).await;
                                return Err(host.error(format!(
                                    "{name} is unhealthy; its last output:\n    {logs}"
                                )));
                            }
                            None | Some(HealthStatusEnum::NONE | HealthStatusEnum::EMPTY)
                                if !exited =>
                            {
                                return Err(host.error(format!(
                                    "{name} has no healthcheck, so service_healthy cannot be waited for"
                                )));
                            }
                            _ if exited => {
                                let code = state.exit_code.unwrap_or(-1);
                                let logs = host.last_logs(name).await;
                                return Err(host.error(format!(
                                    "{name} exited with status {code} before it was healthy; its last output:\n    {logs}"
                                )));
                            }
                            _ => {}
                        }
                    }
                    WaitCondition::Completed => {}
                }
                if started.elapsed() >= message.timeout {
                    let what = match message.condition {
                        WaitCondition::Healthy => "healthy",
                        WaitCondition::Completed => "complete",
                    };
                    let logs = host.last_logs(name).await;
                    return Err(host.error(format!(
                        "{name} did not become {what} within {}s (--wait-timeout); its last output:\n    {logs}",
                        message.timeout.as_secs()
                    )));
                }
                tokio::time::sleep(WAIT_POLL).await;
            }
        })
    }
}

/// Rename a container.
#[derive(Message)]
#[rtype(result = "Outcome")]
pub struct RenameContainer {
    /// Current name.
    pub from: String,
    /// New name.
    pub to: String,
}

impl Handler<RenameContainer> for HostActor {
    type Result = ResponseFuture<Outcome>;

    fn handle(&mut self, message: RenameContainer, _: &mut Context<Self>) -> Self::Result {
        let host = self.context();
        Box::pin(async move {
            let options = bollard::query_parameters::RenameContainerOptionsBuilder::default()
                .name(&message.to)
                .build();
            host.docker
                .rename_container(&message.from, options)
                .await
                .map(|()| "renamed".to_string())
                .map_err(|error| {
                    host.docker_error(
                        &format!("renaming {} to {}", message.from, message.to),
                        error,
                    )
                })
        })
    }
}

/// Stop a container (with its own grace period), keeping it.
#[derive(Message)]
#[rtype(result = "Outcome")]
pub struct StopContainer {
    /// Container name.
    pub container: String,
}

impl Handler<StopContainer> for HostActor {
    type Result = ResponseFuture<Outcome>;

    fn handle(&mut self, message: StopContainer, _: &mut Context<Self>) -> Self::Result {
        let host = self.context();
        Box::pin(async move {
            match host
                .docker
                .stop_container(&message.container, None::<StopContainerOptions>)
                .await
            {
                Ok(())
                | Err(bollard::errors::Error::DockerResponseServerError {
                    status_code: 304, ..
                }) => Ok("stopped".to_string()),
                Err(error) => {
                    Err(host.docker_error(&format!("stopping {}", message.container), error))
                }
            }
        })
    }
}

/// Watch a container for `duration`: it must keep running and not turn unhealthy.
#[derive(Message)]
#[rtype(result = "Outcome")]
pub struct MonitorContainer {
    /// Container name.
    pub container: String,
    /// How long.
    pub duration: Duration,
}

impl Handler<MonitorContainer> for HostActor {
    type Result = ResponseFuture<Outcome>;

    fn handle(&mut self, message: MonitorContainer, _: &mut Context<Self>) -> Self::Result {
        let host = self.context();
        Box::pin(async move {
            let started = Instant::now();
            let name = &message.container;
            let mut first_restart_count = None;
            loop {
                let inspect = host.inspect(name).await?;
                // A restart between two looks would otherwise pass for "kept running".
                host.check_not_crash_looping(name, &inspect, &mut first_restart_count)
                    .await?;
                let state = inspect.state.unwrap_or_default();
                let unhealthy = state
                    .health
                    .as_ref()
                    .and_then(|health| health.status)
                    .is_some_and(|status| status == HealthStatusEnum::UNHEALTHY);
                if state.running != Some(true) || unhealthy {
                    let what = if unhealthy {
                        "turned unhealthy".to_string()
                    } else {
                        format!("exited with status {}", state.exit_code.unwrap_or(-1))
                    };
                    let logs = host.last_logs(name).await;
                    return Err(host.error(format!(
                        "{name} {what} {:.1}s into its {}s monitor period; its last output:\n    {logs}",
                        started.elapsed().as_secs_f64(),
                        message.duration.as_secs_f64()
                    )));
                }
                if started.elapsed() >= message.duration {
                    return Ok("stable".to_string());
                }
                tokio::time::sleep(WAIT_POLL).await;
            }
        })
    }
}

/// Stop and remove a container (nothing if it is gone).
#[derive(Message)]
#[rtype(result = "Outcome")]
pub struct RemoveContainer {
    /// Container name or id.
    pub container: String,
    /// Also its anonymous volumes.
    pub volumes: bool,
}

impl Handler<RemoveContainer> for HostActor {
    type Result = ResponseFuture<Outcome>;

    fn handle(&mut self, message: RemoveContainer, _: &mut Context<Self>) -> Self::Result {
        let host = self.context();
        Box::pin(async move {
            // Stop with the container's own grace period (its StopTimeout, else Docker's 10 s).
            match host
                .docker
                .stop_container(&message.container, None::<StopContainerOptions>)
                .await
            {
                Ok(()) => {}
                Err(error) if is_not_found(&error) => return Ok("already gone".to_string()),
                // 304: already stopped.
                Err(bollard::errors::Error::DockerResponseServerError {
                    status_code: 304, ..
                }) => {}
                Err(error) => {
                    return Err(
                        host.docker_error(&format!("stopping {}", message.container), error)
                    );
                }
            }
            let options = RemoveContainerOptionsBuilder::default()
                .force(true)
                .v(message.volumes)
                .build();
            let result = host
                .docker
                .remove_container(&message.container, Some(options))
                .await;
            host.removal(result, &format!("removing {}", message.container))
        })
    }
}

/// Install the routes and forwarding rules of routed mode, over SSH.
#[derive(Message)]
#[rtype(result = "Outcome")]
pub struct EnsureRoutes {
    /// Routes to the other hosts' subnets.
    pub routes: Vec<Route>,
    /// The pool.
    pub pool: Ipv4Cidr,
    /// The project's subnets on this host.
    pub local_subnets: Vec<Ipv4Cidr>,
}

impl Handler<EnsureRoutes> for HostActor {
    type Result = ResponseFuture<Outcome>;

    fn handle(&mut self, message: EnsureRoutes, _: &mut Context<Self>) -> Self::Result {
        let host = self.context();
        Box::pin(async move {
            let script = routes::ensure_script(
                &host.project,
                &message.routes,
                message.pool,
                &message.local_subnets,
            )
            .map_err(|error| host.error(error.to_string()))?;
            host.run_script(&script)
                .await
                .map(|_| format!("{} routes", message.routes.len()))
        })
    }
}

/// Remove the project's routes and forwarding rules, over SSH.
#[derive(Message)]
#[rtype(result = "Outcome")]
pub struct RemoveRoutes {
    /// The other hosts' subnets.
    pub subnets: Vec<Ipv4Cidr>,
}

impl Handler<RemoveRoutes> for HostActor {
    type Result = ResponseFuture<Outcome>;

    fn handle(&mut self, message: RemoveRoutes, _: &mut Context<Self>) -> Self::Result {
        let host = self.context();
        Box::pin(async move {
            // The host's rules are read back and parsed here; only the project's exact rules
            // are deleted, by their argument lists. Nothing the host printed is evaluated.
            let listing = host.run_script(routes::LIST_RULES).await?;
            let rules = routes::project_rules(&listing, &host.project)
                .map_err(|error| host.error(error.to_string()))?;
            let script = routes::remove_script(&host.project, &message.subnets, &rules)
                .map_err(|error| host.error(error.to_string()))?;
            host.run_script(&script)
                .await
                .map(|_| "removed".to_string())
        })
    }
}

/// How a hosts file was rewritten.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchResult {
    /// It already held the table.
    UpToDate,
    /// Rewritten over SSH.
    Ssh,
    /// Rewritten by exec into the container.
    Exec,
}

/// Make a running container's hosts file resolve `wanted`: over SSH when the host has it
/// and answers, else by exec into the container (which needs `sh` in the image).
#[derive(Message)]
#[rtype(result = "Result<PatchResult, HostOperationError>")]
pub struct PatchHostsFile {
    /// Container name.
    pub container: String,
    /// The table it resolves now (`None`: read it from the container's `extra_hosts`).
    pub baked: Option<Arc<[HostEntry]>>,
    /// The table it should resolve.
    pub wanted: Arc<[HostEntry]>,
}

impl Handler<PatchHostsFile> for HostActor {
    type Result = ResponseFuture<Result<PatchResult, HostOperationError>>;

    fn handle(&mut self, message: PatchHostsFile, _: &mut Context<Self>) -> Self::Result {
        let host = self.context();
        Box::pin(async move {
            let container = message.container.clone();
            // A container that misbehaves (a hosts file that never arrives, an exec that never
            // ends) is one failed operation naming it; the rest of the deployment goes on.
            match tokio::time::timeout(PATCH_TIMEOUT, patch_hosts_file(&host, message)).await {
                Ok(result) => result,
                Err(_) => Err(host.error(format!(
                    "rewriting the hosts file of {container} took longer than {}s",
                    PATCH_TIMEOUT.as_secs()
                ))),
            }
        })
    }
}

/// The fixed command that writes a hosts file over SSH. Its data comes on stdin: the path on
/// the first line, then the file. The path is read by `read -r` and used quoted, so nothing
/// of it (nor of the file) is ever shell text; it must be a container's hosts file under
/// Docker's data root. `dd` writes in place (Docker bind-mounts the file, so it cannot be
/// replaced by a rename), over the old content, never shorter, in one write (`bs=1M
/// iflag=fullblock`), so a program reading it meanwhile never sees a cut table.
const WRITE_HOSTS_FILE: &str = r#"IFS= read -r path || exit 3; case "$path" in /*/containers/*/hosts) ;; *) echo "not a container hosts file" >&2; exit 3;; esac; exec dd of="$path" conv=notrunc bs=1M iflag=fullblock status=none"#;

/// How long rewriting one hosts file may take, reading included.
const PATCH_TIMEOUT: Duration = Duration::from_secs(30);

/// Most a command run by exec in a container may print before nap stops reading it.
const EXEC_OUTPUT_LIMIT: usize = 64 << 10;

/// Whether `path` is the hosts file Docker keeps for container `id`: absolute, no `..`, no
/// control characters, ending in `/containers/<id>/hosts` with a 64-hex-digit id.
fn is_container_hosts_path(path: &str, id: &str) -> bool {
    id.len() == 64
        && id.bytes().all(|byte| byte.is_ascii_hexdigit())
        && path.starts_with('/')
        && !path.split('/').any(|part| part == "..")
        && !path.bytes().any(|byte| byte.is_ascii_control())
        && path.ends_with(&format!("/containers/{id}/hosts"))
}

/// The container's own lines, from what Docker reports of it (its create-time settings and
/// its addresses) and the part of its `extra_hosts` that is not nap's table.
fn own_lines(inspect: &ContainerInspectResponse, baked: &[HostEntry]) -> hosts_file::OwnLines {
    let config = inspect.config.clone().unwrap_or_default();
    let created = inspect
        .host_config
        .as_ref()
        .and_then(|host_config| host_config.extra_hosts.clone())
        .unwrap_or_default();
    let baked: std::collections::HashSet<String> =
        baked.iter().map(HostEntry::extra_host).collect();
    let mut networks: Vec<(&String, &bollard::models::EndpointSettings)> = inspect
        .network_settings
        .as_ref()
        .and_then(|settings| settings.networks.as_ref())
        .map(|networks| networks.iter().collect())
        .unwrap_or_default();
    networks.sort_by(|a, b| a.0.cmp(b.0));
    let addresses = networks
        .iter()
        .filter_map(|(_, endpoint)| endpoint.ip_address.as_deref())
        .filter_map(|address| address.parse().ok())
        .collect();
    hosts_file::OwnLines {
        hostname: config.hostname.unwrap_or_default(),
        domainname: config.domainname.filter(|domain| !domain.is_empty()),
        addresses,
        extra_hosts: created
            .into_iter()
            .filter(|entry| !baked.contains(entry))
            .collect(),
    }
}

async fn patch_hosts_file(
    host: &HostContext,
    message: PatchHostsFile,
) -> Result<PatchResult, HostOperationError> {
    let inspect = host.inspect(&message.container).await?;
    let running = inspect
        .state
        .as_ref()
        .and_then(|state| state.running)
        .unwrap_or(false);
    if !running {
        // Docker writes the file when it starts; the start event brings us back.
        return Ok(PatchResult::UpToDate);
    }
    let baked = message.baked.unwrap_or_else(|| {
        let created = inspect
            .host_config
            .as_ref()
            .and_then(|config| config.extra_hosts.clone())
            .unwrap_or_default();
        parse_extra_hosts(&created).into()
    });
    // Read through the Docker API (no shell, no login scripts: fast), bounded. The file is
    // the container's to write: it is only read to pick among nap's own values.
    let current = read_container_file(host, &message.container, "/etc/hosts").await?;
    tracing::debug!(container = %message.container, "hosts file read");
    if *baked == *message.wanted && hosts_file::resolves(&current, &baked) {
        // What Docker wrote from `extra_hosts` is the table.
        return Ok(PatchResult::UpToDate);
    }
    let own = own_lines(&inspect, &baked);
    let next = hosts_file::render(&own, &message.wanted, &current)
        .map_err(|error| host.error(format!("{}: {error}", message.container)))?;
    if hosts_file::holds(&current, &next) {
        return Ok(PatchResult::UpToDate);
    }
    let next = hosts_file::padded(next, current.len());
    // Over SSH when the host has it and answers; by exec when it has none or its sshd is down
    // (preflight found it unreachable and said so).
    let via_ssh = host.host.ssh.is_some() && host.ssh().await.is_ok();
    if via_ssh {
        let path = inspect.hosts_path.clone().unwrap_or_default();
        let id = inspect.id.clone().unwrap_or_default();
        if !is_container_hosts_path(&path, &id) {
            return Err(host.error(format!(
                "{}: Docker reports a hosts file path that is not the container's ({path:?})",
                message.container
            )));
        }
        let mut stdin = Vec::with_capacity(path.len() + 1 + next.len());
        stdin.extend_from_slice(path.as_bytes());
        stdin.push(b'\n');
        stdin.extend_from_slice(next.as_bytes());
        host.run_with_stdin(WRITE_HOSTS_FILE, &stdin).await?;
        Ok(PatchResult::Ssh)
    } else {
        // A fixed command in the container, the file on stdin.
        exec(
            host,
            &message.container,
            &[
                "sh",
                "-c",
                "dd of=/etc/hosts conv=notrunc 2>/dev/null || cat > /etc/hosts",
            ],
            Some(next.as_bytes()),
        )
        .await?;
        Ok(PatchResult::Exec)
    }
}

/// Reads one small file of a container through the Docker API (`GET /containers/{id}/archive`,
/// a tar of the file), at most [`hosts_file::MAX_FILE_BYTES`] of it.
async fn read_container_file(
    host: &HostContext,
    container: &str,
    path: &str,
) -> Result<String, HostOperationError> {
    // The file plus a few tar headers.
    const ARCHIVE_LIMIT: usize = hosts_file::MAX_FILE_BYTES + (16 << 10);
    let options = bollard::query_parameters::DownloadFromContainerOptionsBuilder::default()
        .path(path)
        .build();
    let mut stream = host
        .docker
        .download_from_container(container, Some(options));
    let mut archive = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk
            .map_err(|error| host.docker_error(&format!("reading {path} of {container}"), error))?;
        if archive.len() + chunk.len() > ARCHIVE_LIMIT {
            return Err(host.error(format!(
                "reading {path} of {container}: larger than {} KiB",
                hosts_file::MAX_FILE_BYTES >> 10
            )));
        }
        archive.extend_from_slice(&chunk);
    }
    first_file_in_tar(&archive)
        .map(|bytes| String::from_utf8_lossy(bytes).into_owned())
        .ok_or_else(|| {
            host.error(format!(
                "reading {path} of {container}: not a tar with a file"
            ))
        })
}

/// The contents of the first regular file in a tar archive (skipping pax headers).
fn first_file_in_tar(archive: &[u8]) -> Option<&[u8]> {
    let mut offset = 0;
    while offset + 512 <= archive.len() {
        let header = &archive[offset..offset + 512];
        if header.iter().all(|byte| *byte == 0) {
            return None;
        }
        let size_field = std::str::from_utf8(&header[124..136]).ok()?;
        let size = usize::from_str_radix(size_field.trim_matches(['\0', ' ']), 8).ok()?;
        let start = offset + 512;
        let kind = header[156];
        if kind == b'0' || kind == 0 {
            return archive.get(start..start + size);
        }
        offset = start + size.div_ceil(512) * 512;
    }
    None
}

/// Runs a command in a container as root; returns its stdout, failing on a non-zero exit.
async fn exec(
    host: &HostContext,
    container: &str,
    command: &[&str],
    stdin: Option<&[u8]>,
) -> Result<String, HostOperationError> {
    use bollard::exec::{StartExecOptions, StartExecResults};
    use tokio::io::AsyncWriteExt;

    let what = format!("exec {:?} in {container}", command.join(" "));
    let config = bollard::models::ExecConfig {
        attach_stdin: Some(stdin.is_some()),
        attach_stdout: Some(true),
        attach_stderr: Some(true),
        user: Some("0".to_string()),
        cmd: Some(command.iter().map(ToString::to_string).collect()),
        ..Default::default()
    };
    let created = host
        .docker
        .create_exec(container, config)
        .await
        .map_err(|error| host.docker_error(&what, error))?;
    let started = host
        .docker
        .start_exec(&created.id, None::<StartExecOptions>)
        .await
        .map_err(|error| host.docker_error(&what, error))?;
    let mut stdout = String::new();
    let mut stderr = String::new();
    if let StartExecResults::Attached {
        mut output,
        mut input,
    } = started
    {
        if let Some(bytes) = stdin {
            input
                .write_all(bytes)
                .await
                .map_err(|error| host.error(format!("{what}: writing stdin: {error}")))?;
            input
                .shutdown()
                .await
                .map_err(|error| host.error(format!("{what}: closing stdin: {error}")))?;
        }
        drop(input);
        while let Some(chunk) = output.next().await {
            match chunk.map_err(|error| host.docker_error(&what, error))? {
                bollard::container::LogOutput::StdErr { message } => {
                    stderr.push_str(&String::from_utf8_lossy(&message));
                }
                other => stdout.push_str(&String::from_utf8_lossy(&other.into_bytes())),
            }
            if stdout.len() + stderr.len() > EXEC_OUTPUT_LIMIT {
                return Err(host.error(format!(
                    "{what} printed more than {} KiB",
                    EXEC_OUTPUT_LIMIT >> 10
                )));
            }
        }
    }
    let inspect = host
        .docker
        .inspect_exec(&created.id)
        .await
        .map_err(|error| host.docker_error(&what, error))?;
    match inspect.exit_code {
        Some(0) => Ok(stdout),
        code => Err(host.error(format!(
            "{what} exited with {}: {}",
            code.map_or("no status".to_string(), |c| c.to_string()),
            stderr.trim()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hosts_file_path_must_be_the_container_s() {
        let id = "a".repeat(64);
        let good = format!("/var/lib/docker/containers/{id}/hosts");
        assert!(is_container_hosts_path(&good, &id));
        for path in [
            format!("/var/lib/docker/containers/{}/hosts", "b".repeat(64)),
            format!("relative/containers/{id}/hosts"),
            format!("/var/lib/docker/../../etc/containers/{id}/hosts"),
            format!("/var/lib/docker\n/containers/{id}/hosts"),
            "/etc/shadow".to_string(),
        ] {
            assert!(!is_container_hosts_path(&path, &id), "{path}");
        }
        assert!(!is_container_hosts_path(
            "/x/containers/short/hosts",
            "short"
        ));
        // The fixed command holds no quote that would end its `sh -c '…'`.
        assert!(!WRITE_HOSTS_FILE.contains('\''));
    }

    #[test]
    fn own_lines_leave_out_the_name_table() {
        let inspect: ContainerInspectResponse = serde_json::from_value(serde_json::json!({
            "Config": {"Hostname": "web-1", "Domainname": ""},
            "HostConfig": {"ExtraHosts": ["gw:host-gateway", "db:172.30.2.2", "web:172.30.1.2"]},
            "NetworkSettings": {"Networks": {
                "b_net": {"IPAddress": "172.30.9.2"},
                "a_net": {"IPAddress": "172.30.0.2"}
            }}
        }))
        .unwrap();
        let baked = parse_extra_hosts(&["db:172.30.2.2".into(), "web:172.30.1.2".into()]);
        let own = own_lines(&inspect, &baked);
        assert_eq!(own.hostname, "web-1");
        assert_eq!(own.domainname, None);
        assert_eq!(
            own.addresses,
            vec![
                "172.30.0.2".parse::<std::net::IpAddr>().unwrap(),
                "172.30.9.2".parse().unwrap()
            ]
        );
        assert_eq!(own.extra_hosts, vec!["gw:host-gateway".to_string()]);
    }

    #[test]
    fn the_first_file_of_a_tar() {
        let mut header = [0u8; 512];
        header[..5].copy_from_slice(b"hosts");
        header[124..136].copy_from_slice(b"00000000014\0");
        header[156] = b'0';
        let mut archive = header.to_vec();
        let mut body = b"127.0.0.1\tlh".to_vec();
        body.resize(512, 0);
        archive.extend(body);
        archive.extend([0u8; 1024]);
        assert_eq!(first_file_in_tar(&archive), Some(&b"127.0.0.1\tlh"[..]));
        assert_eq!(first_file_in_tar(&[0u8; 1024]), None);
    }

    #[test]
    fn quoting_and_references() {
        assert_eq!(
            split_reference("nap/busybox:lab"),
            ("nap/busybox".into(), "lab".into())
        );
        assert_eq!(
            split_reference("localhost:5000/x"),
            ("localhost:5000/x".into(), "latest".into())
        );
        assert_eq!(
            parse_extra_hosts(&["web:172.30.0.2".into(), "gw:host-gateway".into()]),
            vec![HostEntry {
                name: "web".into(),
                address: "172.30.0.2".parse().unwrap()
            }]
        );
    }
}
