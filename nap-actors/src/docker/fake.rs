//! A recording fake of [`DockerApi`] for in-process tests of the actors: it answers from a
//! small in-memory model of one daemon (containers with their create bodies, state, hosts
//! file and restart count; networks; volumes; images), records every call as a line of text
//! (`"create_container demo-web-1"`), and fails the calls a test programs to fail
//! ([`FakeDocker::fail`]: "the next `start_container` of `demo-web-1` answers 500").
//!
//! It is not a Docker: no processes, no healthchecks run, no networks carry packets. A
//! started container is running (and healthy when its body has a healthcheck) until a test
//! says otherwise ([`FakeDocker::set_state`]); a start writes the container's hosts file from
//! its `extra_hosts` the way Docker does — unless a file of the host is bind-mounted at
//! `/etc/hosts` (nap's), which it then reads — and sends a `start` event to every event
//! stream. The host's own files are modelled too ([`FakeDocker::host_file`]: contents and an
//! inode number): a bind-mounted folder sees them, `PUT archive` into one replaces a file (a
//! new inode, as Docker's unpacking does), and a helper container whose entrypoint is `dd`
//! (`if=`, `of=`, `conv=notrunc`) or `rm -f` does what they do when started.
//! Compiled for the crate's tests and with the `fakes` feature.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use bollard::container::LogOutput;
use bollard::errors::Error;
use bollard::exec::StartExecResults;
use bollard::models::{
    BuildInfo, ContainerCreateBody, ContainerInspectResponse, ContainerState,
    ContainerStateStatusEnum, ContainerSummary, CreateImageInfo, EndpointSettings, EventActor,
    EventMessage, EventMessageTypeEnum, ExecConfig, ExecInspectResponse, Health, HealthStatusEnum,
    HostConfig, ImageInspect, NetworkConnectRequest, NetworkCreateRequest, NetworkSettings,
    VolumeCreateRequest,
};
use futures_util::{FutureExt, StreamExt};
use hyper::body::Bytes;
use tokio::sync::mpsc;

use super::api::{DockerApi, DockerFuture, DockerResult, DockerStream, ImageBuild};

mod build;

/// A container in the model.
#[derive(Debug, Clone)]
pub struct FakeContainer {
    /// Its id (64 hex digits, as Docker's).
    pub id: String,
    /// What it was created with.
    pub body: ContainerCreateBody,
    /// Networks connected after creation, with their endpoints.
    pub extra_networks: Vec<(String, EndpointSettings)>,
    /// Running.
    pub running: bool,
    /// Its health (`None`: no healthcheck).
    pub health: Option<HealthStatusEnum>,
    /// Its last exit status.
    pub exit_code: i64,
    /// How often it was started after its first start.
    pub restart_count: i64,
    /// The `/etc/hosts` Docker wrote (what the container reads unless nap's file is mounted).
    pub hosts_file: String,
    /// Files put into its own file system (`PUT archive`), by absolute path.
    pub files: BTreeMap<String, Vec<u8>>,
    /// Starts so far.
    pub starts: usize,
}

/// A programmed failure: the next `remaining` calls of `call` on `target` answer `status`.
#[derive(Debug, Clone)]
struct Failure {
    call: String,
    target: String,
    status: u16,
    remaining: usize,
}

/// An exec in the model.
#[derive(Debug, Clone)]
struct FakeExec {
    container: String,
    cmd: Vec<String>,
    stdin: Arc<Mutex<Vec<u8>>>,
}

/// The model and the record.
#[derive(Default)]
struct State {
    /// Every call, in order, as `"<call> <target>"`.
    calls: Vec<String>,
    /// Containers by name.
    containers: BTreeMap<String, FakeContainer>,
    /// Network names.
    networks: BTreeSet<String>,
    /// Volume names.
    volumes: BTreeSet<String>,
    /// Image reference → image ID.
    images: BTreeMap<String, String>,
    /// Execs by id.
    execs: BTreeMap<String, FakeExec>,
    /// Exit status every exec answers.
    exec_exit_code: i64,
    /// Failures still to happen.
    failures: Vec<Failure>,
    /// Open event streams.
    subscribers: Vec<mpsc::UnboundedSender<DockerResult<EventMessage>>>,
    /// Every build asked for, with its context tar.
    builds: Vec<(ImageBuild, Bytes)>,
    /// Ids handed out so far (ids are made from it).
    next_id: u64,
    /// Every stop asked for: the container and the timeout given.
    stop_timeouts: Vec<(String, Option<i32>)>,
    /// The host's files, by absolute path: (inode, contents).
    host_files: BTreeMap<String, (u64, Vec<u8>)>,
    /// Inode numbers handed out so far.
    next_inode: u64,
}

impl State {
    /// Writes a host file: in place (same inode) when it exists and `in_place`, else as a new
    /// file (a new inode).
    fn write_host_file(&mut self, path: &str, contents: Vec<u8>, in_place: bool) {
        match self.host_files.get_mut(path) {
            Some((_, old)) if in_place => *old = contents,
            _ => {
                self.next_inode += 1;
                let inode = self.next_inode;
                self.host_files.insert(path.to_string(), (inode, contents));
            }
        }
    }
}

/// Where `path` inside `container` is on the host, through its bind mounts (`Binds` and
/// `Mounts` of type bind).
fn host_path(container: &FakeContainer, path: &str) -> Option<String> {
    let host_config = container.body.host_config.as_ref()?;
    let mut pairs: Vec<(String, String)> = host_config
        .binds
        .iter()
        .flatten()
        .filter_map(|bind| {
            let mut parts = bind.splitn(3, ':');
            Some((parts.next()?.to_string(), parts.next()?.to_string()))
        })
        .collect();
    pairs.extend(
        host_config
            .mounts
            .iter()
            .flatten()
            .filter_map(|mount| Some((mount.source.clone()?, mount.target.clone()?))),
    );
    pairs.into_iter().find_map(|(source, target)| {
        if path == target {
            Some(source)
        } else {
            path.strip_prefix(&format!("{}/", target.trim_end_matches('/')))
                .map(|rest| format!("{}/{rest}", source.trim_end_matches('/')))
        }
    })
}

/// The regular files of a tar archive, as (path, contents).
fn files_in_tar(archive: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut files = Vec::new();
    let mut offset = 0;
    while offset + 512 <= archive.len() {
        let header = &archive[offset..offset + 512];
        if header.iter().all(|byte| *byte == 0) {
            break;
        }
        let name_end = header[..100].iter().position(|b| *b == 0).unwrap_or(100);
        let name = String::from_utf8_lossy(&header[..name_end]).into_owned();
        let size = std::str::from_utf8(&header[124..136])
            .ok()
            .and_then(|field| usize::from_str_radix(field.trim_matches(['\0', ' ']), 8).ok())
            .unwrap_or(0);
        let start = offset + 512;
        if (header[156] == b'0' || header[156] == 0)
            && let Some(contents) = archive.get(start..start + size)
        {
            files.push((name, contents.to_vec()));
        }
        offset = start + size.div_ceil(512) * 512;
    }
    files
}

/// The fake daemon; cloning it shares the model (a test keeps one clone, the actor another).
#[derive(Clone, Default)]
pub struct FakeDocker {
    state: Arc<Mutex<State>>,
}

/// What an exec was given: its container, command and stdin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedExec {
    /// The container it ran in.
    pub container: String,
    /// Its command.
    pub cmd: Vec<String>,
    /// What was written to its stdin.
    pub stdin: Vec<u8>,
}

/// Docker's error answer with `status`.
fn status_error(status: u16, message: String) -> Error {
    Error::DockerResponseServerError {
        status_code: status,
        message,
    }
}

fn not_found(what: &str, name: &str) -> Error {
    status_error(404, format!("No such {what}: {name}"))
}

fn ready<'a, T: Send + 'a>(result: DockerResult<T>) -> DockerFuture<'a, T> {
    std::future::ready(result).boxed()
}

fn stream_of<T: Send + 'static>(items: Vec<DockerResult<T>>) -> DockerStream<T> {
    futures_util::stream::iter(items).boxed()
}

/// A tar archive holding one regular file `name` with `contents` (what the archive endpoint
/// answers).
pub fn tar_of(name: &str, contents: &[u8]) -> Vec<u8> {
    let mut header = [0u8; 512];
    header[..name.len()].copy_from_slice(name.as_bytes());
    header[100..108].copy_from_slice(b"0000644\0");
    let size = format!("{:011o}\0", contents.len());
    header[124..136].copy_from_slice(size.as_bytes());
    header[136..148].copy_from_slice(b"00000000000\0");
    header[156] = b'0';
    header[257..263].copy_from_slice(b"ustar\0");
    header[148..156].copy_from_slice(b"        ");
    let sum: u32 = header.iter().map(|byte| u32::from(*byte)).sum();
    header[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
    let mut archive = header.to_vec();
    archive.extend_from_slice(contents);
    archive.resize(512 + contents.len().div_ceil(512) * 512, 0);
    archive.extend([0u8; 1024]);
    archive
}

/// The hosts file Docker writes when `container` starts: its header, the container's own
/// address and hostname, then its `extra_hosts`.
fn docker_hosts_file(name: &str, container: &FakeContainer) -> String {
    let mut text = nap_core::hosts_file::DOCKER_HEADER.to_string();
    let hostname = container
        .body
        .hostname
        .clone()
        .unwrap_or_else(|| container.id[..12].to_string());
    if let Some(address) = addresses(container).first() {
        text.push_str(&format!("{address}\t{hostname}\n"));
    }
    let extra = container
        .body
        .host_config
        .as_ref()
        .and_then(|config| config.extra_hosts.clone())
        .unwrap_or_default();
    for entry in extra {
        if let Some((host, address)) = entry.rsplit_once(':') {
            text.push_str(&format!("{address}\t{host}\n"));
        }
    }
    let _ = name;
    text
}

/// The container's endpoints: the create body's, then the ones connected later.
fn endpoints(container: &FakeContainer) -> HashMap<String, EndpointSettings> {
    let mut networks: HashMap<String, EndpointSettings> = container
        .body
        .networking_config
        .as_ref()
        .and_then(|config| config.endpoints_config.clone())
        .unwrap_or_default();
    for (network, endpoint) in &container.extra_networks {
        networks.insert(network.clone(), endpoint.clone());
    }
    for endpoint in networks.values_mut() {
        if endpoint.ip_address.is_none() {
            endpoint.ip_address = endpoint
                .ipam_config
                .as_ref()
                .and_then(|ipam| ipam.ipv4_address.clone());
        }
    }
    networks
}

fn addresses(container: &FakeContainer) -> Vec<String> {
    let mut networks: Vec<(String, EndpointSettings)> = endpoints(container).into_iter().collect();
    networks.sort_by(|a, b| a.0.cmp(&b.0));
    networks
        .into_iter()
        .filter_map(|(_, endpoint)| endpoint.ip_address)
        .collect()
}

impl FakeDocker {
    /// An empty daemon.
    pub fn new() -> FakeDocker {
        FakeDocker::default()
    }

    /// This fake as the host actor holds it.
    pub fn shared(&self) -> Arc<dyn DockerApi> {
        Arc::new(self.clone())
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Every call so far, in order, as `"<call> <target>"`.
    pub fn calls(&self) -> Vec<String> {
        self.state().calls.clone()
    }

    /// Every `stop_container` so far: the container and the timeout it was given.
    pub fn stop_timeouts(&self) -> Vec<(String, Option<i32>)> {
        self.state().stop_timeouts.clone()
    }

    /// The calls so far whose line starts with `prefix` (`"start_container"`).
    pub fn calls_of(&self, prefix: &str) -> Vec<String> {
        self.calls()
            .into_iter()
            .filter(|call| call.starts_with(prefix))
            .collect()
    }

    /// The next `times` calls of `call` (a [`DockerApi`] method's name) on `target` (the
    /// container, network, volume, image or exec id it names) answer Docker's error `status`
    /// (404, 409, 500…), changing nothing.
    pub fn fail(&self, call: &str, target: &str, status: u16, times: usize) {
        self.state().failures.push(Failure {
            call: call.to_string(),
            target: target.to_string(),
            status,
            remaining: times,
        });
    }

    /// An image the daemon holds.
    pub fn add_image(&self, reference: &str, id: &str) {
        self.state()
            .images
            .insert(reference.to_string(), id.to_string());
    }

    /// A container the daemon holds already (created by an earlier deployment), running or
    /// not; its hosts file is Docker's rendering of its `extra_hosts`. Answers its id.
    pub fn add_container(&self, name: &str, body: ContainerCreateBody, running: bool) -> String {
        let mut state = self.state();
        let id = state.new_id();
        let health = has_healthcheck(&body).then_some(HealthStatusEnum::HEALTHY);
        let mut container = FakeContainer {
            id: id.clone(),
            body,
            extra_networks: Vec::new(),
            running,
            health,
            exit_code: 0,
            restart_count: 0,
            hosts_file: String::new(),
            files: BTreeMap::new(),
            starts: usize::from(running),
        };
        container.hosts_file = docker_hosts_file(name, &container);
        state.containers.insert(name.to_string(), container);
        id
    }

    /// A container as the model holds it now.
    pub fn container(&self, name: &str) -> Option<FakeContainer> {
        self.state().containers.get(name).cloned()
    }

    /// The names of the containers, sorted.
    pub fn container_names(&self) -> Vec<String> {
        self.state().containers.keys().cloned().collect()
    }

    /// Changes a container's state as a test wants it (exits, turns unhealthy…).
    pub fn set_state(&self, name: &str, change: impl FnOnce(&mut FakeContainer)) {
        if let Some(container) = self.state().containers.get_mut(name) {
            change(container);
        }
    }

    /// `docker restart` by someone else: Docker rewrites the hosts file from `extra_hosts`,
    /// counts the restart and reports a `start` event.
    pub fn restart(&self, name: &str) {
        let mut state = self.state();
        let Some(container) = state.containers.get_mut(name) else {
            return;
        };
        container.running = true;
        container.restart_count += 1;
        container.starts += 1;
        container.hosts_file = docker_hosts_file(name, container);
        let id = container.id.clone();
        state.send_start_event(name, &id);
    }

    /// Every exec so far, with its stdin.
    pub fn execs(&self) -> Vec<RecordedExec> {
        self.state()
            .execs
            .values()
            .map(|exec| RecordedExec {
                container: exec.container.clone(),
                cmd: exec.cmd.clone(),
                stdin: exec
                    .stdin
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .clone(),
            })
            .collect()
    }

    /// Records `call` on `target` and answers the failure programmed for it, if any.
    fn record(&self, call: &str, target: &str) -> DockerResult<MutexGuard<'_, State>> {
        let mut state = self.state();
        state.calls.push(format!("{call} {target}"));
        let failure = state
            .failures
            .iter_mut()
            .find(|failure| {
                failure.remaining > 0 && failure.call == call && failure.target == target
            })
            .map(|failure| {
                failure.remaining -= 1;
                failure.status
            });
        match failure {
            Some(status) => Err(status_error(
                status,
                format!("fake: {call} {target} fails with {status}"),
            )),
            None => Ok(state),
        }
    }
}

fn has_healthcheck(body: &ContainerCreateBody) -> bool {
    body.healthcheck
        .as_ref()
        .and_then(|check| check.test.as_ref())
        .is_some_and(|test| test.first().is_some_and(|word| word != "NONE"))
}

impl State {
    fn new_id(&mut self) -> String {
        self.next_id += 1;
        format!("{:064x}", self.next_id)
    }

    fn send_start_event(&mut self, name: &str, id: &str) {
        let event = EventMessage {
            typ: Some(EventMessageTypeEnum::CONTAINER),
            action: Some("start".to_string()),
            actor: Some(EventActor {
                id: Some(id.to_string()),
                attributes: Some(HashMap::from([("name".to_string(), name.to_string())])),
            }),
            ..Default::default()
        };
        self.subscribers
            .retain(|subscriber| subscriber.send(Ok(event.clone())).is_ok());
    }

    /// The container called `name`, or the one whose id is `name`.
    fn container_key(&self, name: &str) -> Option<String> {
        if self.containers.contains_key(name) {
            return Some(name.to_string());
        }
        self.containers
            .iter()
            .find(|(_, container)| container.id == name)
            .map(|(key, _)| key.clone())
    }
}

/// An exec's stdin: what is written is kept for [`FakeDocker::execs`].
struct RecordingWriter(Arc<Mutex<Vec<u8>>>);

impl tokio::io::AsyncWrite for RecordingWriter {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        bytes: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend_from_slice(bytes);
        Poll::Ready(Ok(bytes.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

impl DockerApi for FakeDocker {
    fn create_network(&self, request: NetworkCreateRequest) -> DockerFuture<'_, ()> {
        let result = self
            .record("create_network", &request.name)
            .and_then(|mut state| {
                if !state.networks.insert(request.name.clone()) {
                    return Err(status_error(
                        409,
                        format!("network with name {} already exists", request.name),
                    ));
                }
                Ok(())
            });
        ready(result)
    }

    fn remove_network<'a>(&'a self, name: &'a str) -> DockerFuture<'a, ()> {
        let result = self.record("remove_network", name).and_then(|mut state| {
            if state.networks.remove(name) {
                Ok(())
            } else {
                Err(not_found("network", name))
            }
        });
        ready(result)
    }

    fn create_volume(&self, request: VolumeCreateRequest) -> DockerFuture<'_, ()> {
        let name = request.name.clone().unwrap_or_default();
        let result = self.record("create_volume", &name).map(|mut state| {
            state.volumes.insert(name.clone());
        });
        ready(result)
    }

    fn remove_volume<'a>(&'a self, name: &'a str) -> DockerFuture<'a, ()> {
        let result = self.record("remove_volume", name).and_then(|mut state| {
            if state.volumes.remove(name) {
                Ok(())
            } else {
                Err(not_found("volume", name))
            }
        });
        ready(result)
    }

    fn inspect_image<'a>(&'a self, image: &'a str) -> DockerFuture<'a, ImageInspect> {
        let result = self.record("inspect_image", image).and_then(|state| {
            state
                .images
                .get(image)
                .map(|id| ImageInspect {
                    id: Some(id.clone()),
                    ..Default::default()
                })
                .ok_or_else(|| not_found("image", image))
        });
        ready(result)
    }

    fn pull_image(&self, name: &str, tag: &str) -> DockerStream<CreateImageInfo> {
        let reference = if tag.is_empty() {
            name.to_string()
        } else {
            format!("{name}:{tag}")
        };
        let result = self.record("pull_image", &reference).map(|mut state| {
            let id = format!("sha256:{}", state.new_id());
            state.images.insert(reference.clone(), id);
            CreateImageInfo::default()
        });
        stream_of(vec![result])
    }

    fn export_image(&self, image: &str, _: Duration) -> DockerStream<Bytes> {
        let result = self.record("export_image", image).and_then(|state| {
            let id = state
                .images
                .get(image)
                .ok_or_else(|| not_found("image", image))?;
            Ok(Bytes::from(format!("{image}\n{id}")))
        });
        stream_of(vec![result])
    }

    fn import_image(&self, archive: DockerStream<Bytes>, _: Duration) -> DockerStream<BuildInfo> {
        let fake = self.clone();
        async move {
            let mut bytes = Vec::new();
            let mut archive = archive;
            while let Some(chunk) = archive.next().await {
                bytes.extend_from_slice(&chunk?);
            }
            let text = String::from_utf8_lossy(&bytes).into_owned();
            let (image, id) = text.split_once('\n').unwrap_or((&text, ""));
            let mut state = fake.record("import_image", image)?;
            state.images.insert(image.to_string(), id.to_string());
            Ok(BuildInfo::default())
        }
        .into_stream()
        .boxed()
    }

    fn remove_image<'a>(&'a self, image: &'a str) -> DockerFuture<'a, ()> {
        let result = self.record("remove_image", image).and_then(|mut state| {
            state
                .images
                .remove(image)
                .map(drop)
                .ok_or_else(|| not_found("image", image))
        });
        ready(result)
    }

    fn build_image(
        &self,
        build: ImageBuild,
        context: Bytes,
        _: Duration,
    ) -> DockerStream<BuildInfo> {
        self.fake_build(build, context)
    }

    fn create_container<'a>(
        &'a self,
        name: &'a str,
        body: ContainerCreateBody,
    ) -> DockerFuture<'a, String> {
        let result = self.record("create_container", name).and_then(|mut state| {
            if state.containers.contains_key(name) {
                return Err(status_error(
                    409,
                    format!("Conflict. The container name \"/{name}\" is already in use"),
                ));
            }
            let id = state.new_id();
            let health = has_healthcheck(&body).then_some(HealthStatusEnum::STARTING);
            state.containers.insert(
                name.to_string(),
                FakeContainer {
                    id: id.clone(),
                    body,
                    extra_networks: Vec::new(),
                    running: false,
                    health,
                    exit_code: 0,
                    restart_count: 0,
                    hosts_file: String::new(),
                    files: BTreeMap::new(),
                    starts: 0,
                },
            );
            Ok(id)
        });
        ready(result)
    }

    fn connect_network<'a>(
        &'a self,
        network: &'a str,
        request: NetworkConnectRequest,
    ) -> DockerFuture<'a, ()> {
        let result = self
            .record("connect_network", network)
            .and_then(|mut state| {
                let key = state
                    .container_key(&request.container)
                    .ok_or_else(|| not_found("container", &request.container))?;
                let endpoint = request.endpoint_config.unwrap_or_default();
                if let Some(container) = state.containers.get_mut(&key) {
                    container
                        .extra_networks
                        .push((network.to_string(), endpoint));
                }
                Ok(())
            });
        ready(result)
    }

    fn start_container<'a>(&'a self, name: &'a str) -> DockerFuture<'a, ()> {
        let result = self.record("start_container", name).and_then(|mut state| {
            let key = state
                .container_key(name)
                .ok_or_else(|| not_found("container", name))?;
            let container = state.containers.get_mut(&key).expect("the key was found");
            if container.running {
                return Ok(());
            }
            container.running = true;
            container.starts += 1;
            if container.health.is_some() {
                container.health = Some(HealthStatusEnum::HEALTHY);
            }
            container.hosts_file = docker_hosts_file(&key, container);
            let id = container.id.clone();
            let helper = container.clone();
            state.send_start_event(&key, &id);
            state.run_helper(&key, &helper);
            Ok(())
        });
        ready(result)
    }

    fn list_container<'a>(&'a self, id: &'a str) -> DockerFuture<'a, Vec<ContainerSummary>> {
        let result = self.record("list_container", id).map(|state| {
            state
                .containers
                .iter()
                .filter(|(_, container)| container.id == id)
                .map(|(name, container)| ContainerSummary {
                    id: Some(container.id.clone()),
                    names: Some(vec![format!("/{name}")]),
                    network_settings: Some(bollard::models::ContainerSummaryNetworkSettings {
                        networks: Some(endpoints(container)),
                    }),
                    ..Default::default()
                })
                .collect()
        });
        ready(result)
    }

    fn inspect_container<'a>(
        &'a self,
        name: &'a str,
    ) -> DockerFuture<'a, ContainerInspectResponse> {
        let result = self.record("inspect_container", name).and_then(|state| {
            let key = state
                .container_key(name)
                .ok_or_else(|| not_found("container", name))?;
            let container = &state.containers[&key];
            let status = if container.running {
                ContainerStateStatusEnum::RUNNING
            } else if container.starts > 0 {
                ContainerStateStatusEnum::EXITED
            } else {
                ContainerStateStatusEnum::CREATED
            };
            let host_config = container.body.host_config.clone().unwrap_or_default();
            Ok(ContainerInspectResponse {
                id: Some(container.id.clone()),
                name: Some(format!("/{key}")),
                restart_count: Some(container.restart_count),
                hosts_path: Some(format!("/var/lib/docker/containers/{}/hosts", container.id)),
                state: Some(ContainerState {
                    status: Some(status),
                    running: Some(container.running),
                    restarting: Some(false),
                    exit_code: Some(container.exit_code),
                    health: container.health.map(|status| Health {
                        status: Some(status),
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
                config: Some(bollard::models::ContainerConfig {
                    hostname: container.body.hostname.clone(),
                    domainname: container.body.domainname.clone(),
                    image: container.body.image.clone(),
                    labels: container.body.labels.clone(),
                    ..Default::default()
                }),
                host_config: Some(HostConfig {
                    extra_hosts: host_config.extra_hosts,
                    ..Default::default()
                }),
                network_settings: Some(NetworkSettings {
                    networks: Some(endpoints(container)),
                    ..Default::default()
                }),
                ..Default::default()
            })
        });
        ready(result)
    }

    fn rename_container<'a>(&'a self, from: &'a str, to: &'a str) -> DockerFuture<'a, ()> {
        let result = self
            .record("rename_container", &format!("{from} {to}"))
            .and_then(|mut state| {
                let key = state
                    .container_key(from)
                    .ok_or_else(|| not_found("container", from))?;
                if state.containers.contains_key(to) {
                    return Err(status_error(
                        409,
                        format!("Conflict. The container name \"/{to}\" is already in use"),
                    ));
                }
                let container = state.containers.remove(&key).expect("the key was found");
                state.containers.insert(to.to_string(), container);
                Ok(())
            });
        ready(result)
    }

    fn stop_container<'a>(&'a self, name: &'a str, timeout: Option<i32>) -> DockerFuture<'a, ()> {
        let result = self.record("stop_container", name).and_then(|mut state| {
            state.stop_timeouts.push((name.to_string(), timeout));
            let key = state
                .container_key(name)
                .ok_or_else(|| not_found("container", name))?;
            let container = state.containers.get_mut(&key).expect("the key was found");
            if !container.running {
                return Err(status_error(304, String::new()));
            }
            container.running = false;
            Ok(())
        });
        ready(result)
    }

    fn remove_container<'a>(&'a self, name: &'a str, _: bool) -> DockerFuture<'a, ()> {
        let result = self.record("remove_container", name).and_then(|mut state| {
            let key = state
                .container_key(name)
                .ok_or_else(|| not_found("container", name))?;
            state.containers.remove(&key);
            Ok(())
        });
        ready(result)
    }

    fn logs_tail(&self, name: &str, _: &str) -> DockerStream<LogOutput> {
        let result = self.record("logs", name).map(|_| LogOutput::StdOut {
            message: Bytes::from_static(b"(fake log line)\n"),
        });
        stream_of(vec![result])
    }

    fn events(&self, _: HashMap<String, Vec<String>>) -> DockerStream<EventMessage> {
        let (sender, receiver) = mpsc::unbounded_channel();
        match self.record("events", "") {
            Ok(mut state) => state.subscribers.push(sender),
            Err(error) => {
                let _ = sender.send(Err(error));
            }
        }
        futures_util::stream::unfold(receiver, |mut receiver| async move {
            receiver.recv().await.map(|item| (item, receiver))
        })
        .boxed()
    }

    fn create_exec<'a>(
        &'a self,
        container: &'a str,
        config: ExecConfig,
    ) -> DockerFuture<'a, String> {
        let result = self.record("create_exec", container).and_then(|mut state| {
            let key = state
                .container_key(container)
                .ok_or_else(|| not_found("container", container))?;
            let id = state.new_id();
            state.execs.insert(
                id.clone(),
                FakeExec {
                    container: key,
                    cmd: config.cmd.unwrap_or_default(),
                    stdin: Arc::default(),
                },
            );
            Ok(id)
        });
        ready(result)
    }

    fn start_exec<'a>(&'a self, id: &'a str) -> DockerFuture<'a, StartExecResults> {
        let result = self.record("start_exec", id).and_then(|state| {
            let exec = state.execs.get(id).ok_or_else(|| not_found("exec", id))?;
            let output: DockerStream<LogOutput> = stream_of(Vec::new());
            Ok(StartExecResults::Attached {
                output,
                input: Box::pin(RecordingWriter(exec.stdin.clone())),
            })
        });
        ready(result)
    }

    fn inspect_exec<'a>(&'a self, id: &'a str) -> DockerFuture<'a, ExecInspectResponse> {
        let result = self.record("inspect_exec", id).and_then(|mut state| {
            let exec = state
                .execs
                .get(id)
                .cloned()
                .ok_or_else(|| not_found("exec", id))?;
            let code = state.exec_exit_code;
            // An exec that writes /etc/hosts from stdin (the patch by exec) changes the file.
            if code == 0 && exec.cmd.iter().any(|word| word.contains("/etc/hosts")) {
                let written = exec.stdin.lock().unwrap_or_else(PoisonError::into_inner);
                let text = String::from_utf8_lossy(&written).into_owned();
                drop(written);
                if let Some(container) = state.containers.get_mut(&exec.container) {
                    container.hosts_file = text;
                }
            }
            Ok(ExecInspectResponse {
                id: Some(id.to_string()),
                exit_code: Some(code),
                running: Some(false),
                ..Default::default()
            })
        });
        ready(result)
    }

    fn download_from_container(&self, container: &str, path: &str) -> DockerStream<Bytes> {
        let result = self
            .record("download_from_container", container)
            .and_then(|state| {
                let key = state
                    .container_key(container)
                    .ok_or_else(|| not_found("container", container))?;
                let container = &state.containers[&key];
                let name = path.rsplit('/').next().unwrap_or(path);
                let file = match host_path(container, path) {
                    Some(host_path) => match state.host_files.get(&host_path) {
                        Some((_, contents)) => contents.clone(),
                        None => return Err(not_found("file", path)),
                    },
                    None if path == "/etc/hosts" => container.hosts_file.clone().into_bytes(),
                    None => match container.files.get(path) {
                        Some(contents) => contents.clone(),
                        None => return Err(not_found("file", path)),
                    },
                };
                Ok(Bytes::from(tar_of(name, &file)))
            });
        stream_of(vec![result])
    }

    fn upload_to_container<'a>(
        &'a self,
        container: &'a str,
        path: &'a str,
        tar: Bytes,
    ) -> DockerFuture<'a, ()> {
        let result = self
            .record("upload_to_container", container)
            .and_then(|mut state| {
                let key = state
                    .container_key(container)
                    .ok_or_else(|| not_found("container", container))?;
                for (name, contents) in files_in_tar(&tar) {
                    let target = format!("{}/{name}", path.trim_end_matches('/'));
                    match host_path(&state.containers[&key], &target) {
                        // Docker unpacks by unlinking and creating: a new inode.
                        Some(host_path) => state.write_host_file(&host_path, contents, false),
                        None => {
                            if let Some(container) = state.containers.get_mut(&key) {
                                container.files.insert(target, contents);
                            }
                        }
                    }
                }
                Ok(())
            });
        ready(result)
    }

    fn wait_container<'a>(&'a self, container: &'a str) -> DockerFuture<'a, i64> {
        let result = self.record("wait_container", container).and_then(|state| {
            let key = state
                .container_key(container)
                .ok_or_else(|| not_found("container", container))?;
            Ok(state.containers[&key].exit_code)
        });
        ready(result)
    }
}

impl State {
    /// What a started helper container does: `dd if= of= [conv=notrunc]` or `rm -f FILES`,
    /// through its bind mounts; then it has exited (status 1 when its input is missing).
    fn run_helper(&mut self, name: &str, helper: &FakeContainer) {
        let command = helper.body.entrypoint.clone().unwrap_or_default();
        let status = match command.first().map(String::as_str) {
            Some("dd") => {
                let argument = |key: &str| {
                    command
                        .iter()
                        .find_map(|arg| arg.strip_prefix(key).map(str::to_string))
                };
                let input = argument("if=").and_then(|path| helper.files.get(&path).cloned());
                let output = argument("of=").and_then(|path| host_path(helper, &path));
                let in_place = command.iter().any(|arg| arg == "conv=notrunc");
                match (input, output) {
                    (Some(input), Some(output)) => {
                        let mut contents = self
                            .host_files
                            .get(&output)
                            .map(|(_, old)| old.clone())
                            .unwrap_or_default();
                        if in_place {
                            if contents.len() < input.len() {
                                contents.resize(input.len(), 0);
                            }
                            contents[..input.len()].copy_from_slice(&input);
                        } else {
                            contents = input;
                        }
                        self.write_host_file(&output, contents, true);
                        0
                    }
                    _ => 1,
                }
            }
            Some("rm") => {
                for path in command.iter().skip(1).filter(|arg| !arg.starts_with('-')) {
                    if let Some(host_path) = host_path(helper, path) {
                        self.host_files.remove(&host_path);
                    }
                }
                0
            }
            _ => return,
        };
        if let Some(container) = self.containers.get_mut(name) {
            container.running = false;
            container.exit_code = status;
        }
    }
}

impl FakeDocker {
    /// Every exec from now on exits with `code` (0 by default).
    pub fn set_exec_exit_code(&self, code: i64) {
        self.state().exec_exit_code = code;
    }

    /// A file of the host: its inode number and contents.
    pub fn host_file(&self, path: &str) -> Option<(u64, String)> {
        self.state()
            .host_files
            .get(path)
            .map(|(inode, contents)| (*inode, String::from_utf8_lossy(contents).into_owned()))
    }

    /// The host's files' paths, sorted.
    pub fn host_file_paths(&self) -> Vec<String> {
        self.state().host_files.keys().cloned().collect()
    }

    /// Writes a file of the host in place (what a write over SSH does), keeping its inode.
    pub fn write_host_file(&self, path: &str, contents: &str) {
        self.state()
            .write_host_file(path, contents.as_bytes().to_vec(), true);
    }

    /// What `container` reads at `/etc/hosts`: the host file bind-mounted there, else the one
    /// Docker wrote.
    pub fn etc_hosts(&self, container: &str) -> Option<String> {
        let state = self.state();
        let container = state.containers.get(container)?;
        Some(match host_path(container, "/etc/hosts") {
            Some(path) => state
                .host_files
                .get(&path)
                .map(|(_, contents)| String::from_utf8_lossy(contents).into_owned())
                .unwrap_or_default(),
            None => container.hosts_file.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_programmed_failure_answers_its_status_once_and_changes_nothing() {
        let docker = FakeDocker::new();
        docker.fail("create_container", "demo-web-1", 409, 1);
        let error = docker
            .create_container("demo-web-1", ContainerCreateBody::default())
            .await
            .unwrap_err();
        assert!(matches!(
            error,
            Error::DockerResponseServerError {
                status_code: 409,
                ..
            }
        ));
        assert!(docker.container("demo-web-1").is_none());
        let id = docker
            .create_container("demo-web-1", ContainerCreateBody::default())
            .await
            .unwrap();
        docker.start_container("demo-web-1").await.unwrap();
        assert!(docker.container("demo-web-1").unwrap().running);
        assert_eq!(
            docker.calls(),
            [
                "create_container demo-web-1",
                "create_container demo-web-1",
                "start_container demo-web-1"
            ]
        );
        assert_eq!(id.len(), 64);
    }

    #[test]
    fn the_archive_holds_the_file() {
        let archive = tar_of("hosts", b"127.0.0.1\tlocalhost\n");
        assert_eq!(archive.len() % 512, 0);
        assert_eq!(&archive[512..532], b"127.0.0.1\tlocalhost\n");
    }
}
