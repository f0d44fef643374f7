//! The Docker calls the host actor makes, behind one small trait ([`DockerApi`]), so the
//! actors can be driven by an in-memory fake (`docker::fake`) in tests and by a real daemon
//! ([`BollardDocker`]) everywhere else.
//!
//! The trait speaks bollard's models and errors: it hides the HTTP client, not Docker's
//! vocabulary, so what an operation reads from an answer and how it classifies an error (404,
//! 409, 304) is the same whichever implementation answers. Each method is one Docker API call
//! with the options the host actor uses; which call to make and what the answer means stay in
//! the host actor (`actors::host`). This module does not connect to daemons (that is
//! [`crate::docker::connect`]) and is not used by `observe`, `status` or `exec`, which read
//! through bollard directly.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bollard::Docker;
use bollard::container::LogOutput;
use bollard::errors::Error;
use bollard::exec::StartExecResults;
use bollard::models::{
    BuildInfo, ContainerCreateBody, ContainerInspectResponse, ContainerSummary, CreateImageInfo,
    EventMessage, ExecConfig, ExecInspectResponse, ImageInspect, NetworkConnectRequest,
    NetworkCreateRequest, VolumeCreateRequest,
};
use bollard::query_parameters::{
    BuildImageOptionsBuilder, BuilderVersion, CreateContainerOptionsBuilder,
    CreateImageOptionsBuilder, DownloadFromContainerOptionsBuilder, EventsOptionsBuilder,
    ImportImageOptionsBuilder, InspectContainerOptions, ListContainersOptionsBuilder,
    LogsOptionsBuilder, RemoveContainerOptionsBuilder, RemoveImageOptionsBuilder,
    RemoveVolumeOptionsBuilder, RenameContainerOptionsBuilder, StopContainerOptions,
};
use futures_util::future::BoxFuture;
use futures_util::stream::BoxStream;
use futures_util::{FutureExt, StreamExt};
use hyper::body::Bytes;

/// What a Docker call answers: bollard's error, so statuses are read the same way for every
/// implementation.
pub type DockerResult<T> = Result<T, Error>;

/// A Docker call under way.
pub type DockerFuture<'a, T> = BoxFuture<'a, DockerResult<T>>;

/// A streamed Docker answer (logs, events, an image's bytes, a pull's progress).
pub type DockerStream<T> = BoxStream<'static, DockerResult<T>>;

/// A classic-builder build (`POST /build`, API 1.41, no BuildKit): what nap sends besides
/// the context tar.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageBuild {
    /// The image's names, the main one first.
    pub tags: Vec<String>,
    /// The Dockerfile's path in the context.
    pub dockerfile: String,
    /// Build arguments.
    pub args: HashMap<String, String>,
    /// Labels of the image (nap's build hash among them).
    pub labels: HashMap<String, String>,
    /// The stage to build.
    pub target: Option<String>,
    /// The network of `RUN` steps.
    pub network: Option<String>,
    /// `name:address` entries of `RUN` steps' hosts files.
    pub extra_hosts: Vec<String>,
    /// `/dev/shm` size of `RUN` steps, in bytes.
    pub shm_size: Option<i32>,
    /// Without the cache.
    pub no_cache: bool,
    /// Pull newer base images.
    pub pull: bool,
    /// Images usable as a cache.
    pub cache_from: Vec<String>,
}

/// `&key=value` for each value, percent-encoded, for query parameters bollard's options
/// carry only once (`t`, `extrahosts`).
fn repeated_query(key: &str, values: &[String]) -> String {
    let mut out = String::new();
    for value in values {
        out.push('&');
        out.push_str(key);
        out.push('=');
        for byte in value.bytes() {
            if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
                out.push(byte as char);
            } else {
                out.push_str(&format!("%{byte:02X}"));
            }
        }
    }
    out
}

/// The Docker calls the host actor makes on its host, one method per API call. Object-safe;
/// the host actor holds an `Arc<dyn DockerApi>`.
pub trait DockerApi: Send + Sync {
    /// `POST /networks/create`.
    fn create_network(&self, request: NetworkCreateRequest) -> DockerFuture<'_, ()>;

    /// `DELETE /networks/{name}`.
    fn remove_network<'a>(&'a self, name: &'a str) -> DockerFuture<'a, ()>;

    /// `POST /volumes/create`.
    fn create_volume(&self, request: VolumeCreateRequest) -> DockerFuture<'_, ()>;

    /// `DELETE /volumes/{name}` (not forced).
    fn remove_volume<'a>(&'a self, name: &'a str) -> DockerFuture<'a, ()>;

    /// `GET /images/{image}/json`.
    fn inspect_image<'a>(&'a self, image: &'a str) -> DockerFuture<'a, ImageInspect>;

    /// `POST /images/create?fromImage=name&tag=tag`: a pull, its progress streamed.
    fn pull_image(&self, name: &str, tag: &str) -> DockerStream<CreateImageInfo>;

    /// `GET /images/{image}/get` (`docker save`), allowed to take `timeout`.
    fn export_image(&self, image: &str, timeout: Duration) -> DockerStream<Bytes>;

    /// `POST /images/load?quiet=1` (`docker load`) of `archive`, allowed to take `timeout`.
    fn import_image(
        &self,
        archive: DockerStream<Bytes>,
        timeout: Duration,
    ) -> DockerStream<BuildInfo>;

    /// `DELETE /images/{image}?force=1`.
    fn remove_image<'a>(&'a self, image: &'a str) -> DockerFuture<'a, ()>;

    /// `POST /build` with the classic builder: `context` is the tar; the builder's output
    /// streamed. Allowed to take `timeout`.
    fn build_image(
        &self,
        build: ImageBuild,
        context: Bytes,
        timeout: Duration,
    ) -> DockerStream<BuildInfo>;

    /// `POST /containers/create?name=name`; answers the new container's id.
    fn create_container<'a>(
        &'a self,
        name: &'a str,
        body: ContainerCreateBody,
    ) -> DockerFuture<'a, String>;

    /// `POST /networks/{network}/connect`.
    fn connect_network<'a>(
        &'a self,
        network: &'a str,
        request: NetworkConnectRequest,
    ) -> DockerFuture<'a, ()>;

    /// `POST /containers/{name}/start`.
    fn start_container<'a>(&'a self, name: &'a str) -> DockerFuture<'a, ()>;

    /// `GET /containers/json?all=1&filters={"id":[id]}`: the listing of one container (small,
    /// unlike an inspect).
    fn list_container<'a>(&'a self, id: &'a str) -> DockerFuture<'a, Vec<ContainerSummary>>;

    /// `GET /containers/{name}/json`.
    fn inspect_container<'a>(&'a self, name: &'a str)
    -> DockerFuture<'a, ContainerInspectResponse>;

    /// `POST /containers/{from}/rename?name=to`.
    fn rename_container<'a>(&'a self, from: &'a str, to: &'a str) -> DockerFuture<'a, ()>;

    /// `POST /containers/{name}/stop`, with the container's own grace period.
    fn stop_container<'a>(&'a self, name: &'a str, timeout: Option<i32>) -> DockerFuture<'a, ()>;

    /// `DELETE /containers/{name}?force=1&v=volumes`.
    fn remove_container<'a>(&'a self, name: &'a str, volumes: bool) -> DockerFuture<'a, ()>;

    /// `GET /containers/{name}/logs?stdout=1&stderr=1&tail=lines`.
    fn logs_tail(&self, name: &str, lines: &str) -> DockerStream<LogOutput>;

    /// `GET /events?filters=…`: the daemon's events, for as long as the stream is read.
    fn events(&self, filters: HashMap<String, Vec<String>>) -> DockerStream<EventMessage>;

    /// `POST /containers/{container}/exec`; answers the exec's id.
    fn create_exec<'a>(
        &'a self,
        container: &'a str,
        config: ExecConfig,
    ) -> DockerFuture<'a, String>;

    /// `POST /exec/{id}/start`, attached.
    fn start_exec<'a>(&'a self, id: &'a str) -> DockerFuture<'a, StartExecResults>;

    /// `GET /exec/{id}/json`.
    fn inspect_exec<'a>(&'a self, id: &'a str) -> DockerFuture<'a, ExecInspectResponse>;

    /// `GET /containers/{container}/archive?path=path`: a tar of the file, streamed.
    fn download_from_container(&self, container: &str, path: &str) -> DockerStream<Bytes>;

    /// `PUT /containers/{container}/archive?path=path`: unpacks `tar` there (into the
    /// container's own file system, or a folder bind-mounted in it: Docker replaces a file
    /// it unpacks, so it is never used to write a file that is bind-mounted elsewhere).
    fn upload_to_container<'a>(
        &'a self,
        container: &'a str,
        path: &'a str,
        tar: Bytes,
    ) -> DockerFuture<'a, ()>;

    /// `POST /containers/{container}/wait`: waits until it is not running; answers its exit
    /// status.
    fn wait_container<'a>(&'a self, container: &'a str) -> DockerFuture<'a, i64>;
}

/// [`DockerApi`] over a real daemon: bollard's client, as [`crate::docker::connect`] made it.
#[derive(Clone)]
pub struct BollardDocker {
    /// The client.
    docker: Docker,
}

impl BollardDocker {
    /// The calls over `docker`.
    pub fn new(docker: Docker) -> BollardDocker {
        BollardDocker { docker }
    }

    /// The calls over `docker`, shared, as the host actor holds them.
    pub fn shared(docker: Docker) -> Arc<dyn DockerApi> {
        Arc::new(BollardDocker::new(docker))
    }
}

impl DockerApi for BollardDocker {
    fn create_network(&self, request: NetworkCreateRequest) -> DockerFuture<'_, ()> {
        async move { self.docker.create_network(request).await.map(drop) }.boxed()
    }

    fn remove_network<'a>(&'a self, name: &'a str) -> DockerFuture<'a, ()> {
        self.docker.remove_network(name).boxed()
    }

    fn create_volume(&self, request: VolumeCreateRequest) -> DockerFuture<'_, ()> {
        async move { self.docker.create_volume(request).await.map(drop) }.boxed()
    }

    fn remove_volume<'a>(&'a self, name: &'a str) -> DockerFuture<'a, ()> {
        let options = RemoveVolumeOptionsBuilder::default().force(false).build();
        self.docker.remove_volume(name, Some(options)).boxed()
    }

    fn inspect_image<'a>(&'a self, image: &'a str) -> DockerFuture<'a, ImageInspect> {
        self.docker.inspect_image(image).boxed()
    }

    fn pull_image(&self, name: &str, tag: &str) -> DockerStream<CreateImageInfo> {
        let options = CreateImageOptionsBuilder::default()
            .from_image(name)
            .tag(tag)
            .build();
        self.docker.create_image(Some(options), None, None).boxed()
    }

    fn export_image(&self, image: &str, timeout: Duration) -> DockerStream<Bytes> {
        self.docker
            .clone()
            .with_timeout(timeout)
            .export_image(image)
            .boxed()
    }

    fn import_image(
        &self,
        archive: DockerStream<Bytes>,
        timeout: Duration,
    ) -> DockerStream<BuildInfo> {
        self.docker
            .clone()
            .with_timeout(timeout)
            .import_image_stream(
                ImportImageOptionsBuilder::default().quiet(true).build(),
                archive,
                None,
            )
            .boxed()
    }

    fn remove_image<'a>(&'a self, image: &'a str) -> DockerFuture<'a, ()> {
        let options = RemoveImageOptionsBuilder::default().force(true).build();
        async move {
            self.docker
                .remove_image(image, Some(options), None)
                .await
                .map(drop)
        }
        .boxed()
    }

    fn build_image(
        &self,
        build: ImageBuild,
        context: Bytes,
        timeout: Duration,
    ) -> DockerStream<BuildInfo> {
        let mut options = BuildImageOptionsBuilder::default()
            .dockerfile(&build.dockerfile)
            .rm(true)
            .forcerm(true)
            .nocache(build.no_cache)
            .version(BuilderVersion::BuilderV1)
            .buildargs(&build.args)
            .labels(&build.labels);
        if let Some(tag) = build.tags.first() {
            options = options.t(tag);
        }
        if let Some(target) = &build.target {
            options = options.target(target);
        }
        if let Some(network) = &build.network {
            options = options.networkmode(network);
        }
        if let Some(bytes) = build.shm_size {
            options = options.shmsize(bytes);
        }
        if build.pull {
            options = options.pull("1");
        }
        if !build.cache_from.is_empty() {
            options = options.cachefrom(&build.cache_from);
        }
        // bollard's options hold one `t` and one `extrahosts`; Docker reads both as lists.
        let extra = repeated_query("t", build.tags.get(1..).unwrap_or_default())
            + &repeated_query("extrahosts", &build.extra_hosts);
        let mut docker = self.docker.clone().with_timeout(timeout);
        if !extra.is_empty() {
            docker = docker.with_request_modifier(move |mut request| {
                let uri = request.uri().to_string();
                let joined = if uri.contains('?') {
                    format!("{uri}{extra}")
                } else {
                    format!("{uri}?{}", &extra[1..])
                };
                if let Ok(parsed) = joined.parse() {
                    *request.uri_mut() = parsed;
                }
                request
            });
        }
        // bollard's build stream borrows its client: a task owns both and hands the output
        // over; it ends with the build, or when the stream here is dropped.
        let (sender, receiver) = tokio::sync::mpsc::channel(64);
        let options = options.build();
        tokio::spawn(async move {
            let mut stream = docker.build_image(options, None, Some(bollard::body_full(context)));
            while let Some(item) = stream.next().await {
                if sender.send(item).await.is_err() {
                    break;
                }
            }
        });
        futures_util::stream::unfold(receiver, |mut receiver| async move {
            receiver.recv().await.map(|item| (item, receiver))
        })
        .boxed()
    }

    fn create_container<'a>(
        &'a self,
        name: &'a str,
        body: ContainerCreateBody,
    ) -> DockerFuture<'a, String> {
        let options = CreateContainerOptionsBuilder::default().name(name).build();
        async move {
            self.docker
                .create_container(Some(options), body)
                .await
                .map(|created| created.id)
        }
        .boxed()
    }

    fn connect_network<'a>(
        &'a self,
        network: &'a str,
        request: NetworkConnectRequest,
    ) -> DockerFuture<'a, ()> {
        self.docker.connect_network(network, request).boxed()
    }

    fn start_container<'a>(&'a self, name: &'a str) -> DockerFuture<'a, ()> {
        self.docker.start_container(name, None).boxed()
    }

    fn list_container<'a>(&'a self, id: &'a str) -> DockerFuture<'a, Vec<ContainerSummary>> {
        let filters = HashMap::from([("id".to_string(), vec![id.to_string()])]);
        let options = ListContainersOptionsBuilder::default()
            .all(true)
            .filters(&filters)
            .build();
        self.docker.list_containers(Some(options)).boxed()
    }

    fn inspect_container<'a>(
        &'a self,
        name: &'a str,
    ) -> DockerFuture<'a, ContainerInspectResponse> {
        self.docker
            .inspect_container(name, None::<InspectContainerOptions>)
            .boxed()
    }

    fn rename_container<'a>(&'a self, from: &'a str, to: &'a str) -> DockerFuture<'a, ()> {
        let options = RenameContainerOptionsBuilder::default().name(to).build();
        self.docker.rename_container(from, options).boxed()
    }

    fn stop_container<'a>(&'a self, name: &'a str, timeout: Option<i32>) -> DockerFuture<'a, ()> {
        let options = StopContainerOptions {
            t: timeout,
            ..Default::default()
        };
        self.docker.stop_container(name, Some(options)).boxed()
    }

    fn remove_container<'a>(&'a self, name: &'a str, volumes: bool) -> DockerFuture<'a, ()> {
        let options = RemoveContainerOptionsBuilder::default()
            .force(true)
            .v(volumes)
            .build();
        self.docker.remove_container(name, Some(options)).boxed()
    }

    fn logs_tail(&self, name: &str, lines: &str) -> DockerStream<LogOutput> {
        let options = LogsOptionsBuilder::default()
            .stdout(true)
            .stderr(true)
            .tail(lines)
            .build();
        self.docker.logs(name, Some(options)).boxed()
    }

    fn events(&self, filters: HashMap<String, Vec<String>>) -> DockerStream<EventMessage> {
        let options = EventsOptionsBuilder::default().filters(&filters).build();
        self.docker.events(Some(options)).boxed()
    }

    fn create_exec<'a>(
        &'a self,
        container: &'a str,
        config: ExecConfig,
    ) -> DockerFuture<'a, String> {
        async move {
            self.docker
                .create_exec(container, config)
                .await
                .map(|created| created.id)
        }
        .boxed()
    }

    fn start_exec<'a>(&'a self, id: &'a str) -> DockerFuture<'a, StartExecResults> {
        self.docker
            .start_exec(id, None::<bollard::exec::StartExecOptions>)
            .boxed()
    }

    fn inspect_exec<'a>(&'a self, id: &'a str) -> DockerFuture<'a, ExecInspectResponse> {
        self.docker.inspect_exec(id).boxed()
    }

    fn download_from_container(&self, container: &str, path: &str) -> DockerStream<Bytes> {
        let options = DownloadFromContainerOptionsBuilder::default()
            .path(path)
            .build();
        self.docker
            .download_from_container(container, Some(options))
            .boxed()
    }

    fn upload_to_container<'a>(
        &'a self,
        container: &'a str,
        path: &'a str,
        tar: Bytes,
    ) -> DockerFuture<'a, ()> {
        let options = bollard::query_parameters::UploadToContainerOptionsBuilder::default()
            .path(path)
            .build();
        self.docker
            .upload_to_container(container, Some(options), bollard::body_full(tar))
            .boxed()
    }

    fn wait_container<'a>(&'a self, container: &'a str) -> DockerFuture<'a, i64> {
        async move {
            let mut answers = self.docker.wait_container(
                container,
                None::<bollard::query_parameters::WaitContainerOptions>,
            );
            match answers.next().await {
                Some(Ok(answer)) => Ok(answer.status_code),
                // bollard answers a non-zero exit as this error; the status is the answer.
                Some(Err(Error::DockerContainerWaitError { code, .. })) => Ok(code),
                Some(Err(error)) => Err(error),
                None => Ok(0),
            }
        }
        .boxed()
    }
}
