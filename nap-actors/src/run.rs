//! `nap run`: a one-off container of a service, as `docker compose run` makes on one host.
//!
//! The service as `nap run`'s flags change it ([`one_off_project`]: the command, entrypoint,
//! environment, labels, user, working folder, TTY and stdin; `-v` volumes added; the
//! service's ports dropped unless `--service-ports`, `-p` ones added; no restart policy) is
//! deployed as one more container, labelled a one-off (`nap.oneoff`), by the ordinary
//! pipeline ([`crate::deploy::create_one_off`]): the scheduler places it beside the service's
//! replicas (or on `--host`), it gets an address of its own on the project's networks and the
//! name table of its view (so it resolves every service from its first instruction), and the
//! dependencies are started first unless `--no-deps`. It is created, not started: [`attach`]
//! attaches to it first, then starts it, so no output is lost; stdin is streamed to it, a TTY
//! put in raw mode with its size forwarded, and its exit status becomes nap's. Without a TTY
//! a Ctrl-C (or SIGTERM, SIGHUP) is passed to the container, as the Docker CLI's signal proxy
//! does, and a second one kills it; one that comes while the dependencies are still being
//! deployed stops there ([`Interrupts`] counts them from the start). With `--rm` the one-off
//! is removed however it ends.

use std::io::Read;
use std::path::Path;
use std::sync::{Arc, Mutex};

use bollard::Docker;
use bollard::query_parameters::{
    AttachContainerOptions, KillContainerOptions, RemoveContainerOptions,
    ResizeContainerTTYOptions, StartContainerOptions, WaitContainerOptions,
};
use futures_util::StreamExt;
use nap_core::compose::{self, Project, names};
use nap_core::plan::{OneOff, one_off_name};
use tokio::io::AsyncWriteExt;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::Notify;

use crate::terminal;

/// What `nap run` was asked for (its flags).
#[derive(Debug, Clone, Default)]
pub struct RunRequest {
    /// The service.
    pub service: String,
    /// The command and its arguments; empty: the service's.
    pub command: Vec<String>,
    /// `--entrypoint`, split as a shell would.
    pub entrypoint: Option<String>,
    /// `-e KEY=VALUE` (or `KEY`, taken from nap's environment).
    pub env: Vec<String>,
    /// `-l KEY=VALUE`.
    pub labels: Vec<String>,
    /// `-v` volumes, short syntax.
    pub volumes: Vec<String>,
    /// `-p` ports, short syntax.
    pub publish: Vec<String>,
    /// `--service-ports`: publish the service's own ports too.
    pub service_ports: bool,
    /// `--name`.
    pub name: Option<String>,
    /// `--host`: the inventory host to run on.
    pub host: Option<String>,
    /// `-u`.
    pub user: Option<String>,
    /// `-w`.
    pub workdir: Option<String>,
    /// Allocate a TTY.
    pub tty: bool,
    /// Keep stdin open and stream it (`-i`, on unless detached).
    pub stdin: bool,
}

/// Why a one-off container could not be made or run (its own failure is its exit status).
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// A flag's value is not valid.
    #[error("{0}")]
    Invalid(String),
    /// A `-p`/`-v` value is not valid compose syntax.
    #[error(transparent)]
    Syntax(#[from] compose::LoadError),
    /// The Docker API refused or failed.
    #[error("{container} on host {host:?}: {source}")]
    Docker {
        /// The container.
        container: String,
        /// Its host.
        host: String,
        /// What Docker said.
        #[source]
        source: bollard::errors::Error,
    },
    /// Reading stdin or writing the output failed.
    #[error("{container}: {source}")]
    Io {
        /// The container.
        container: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
}

/// 12 random hex digits, as Compose's one-off names end.
fn random_id() -> String {
    let mut bytes = [0u8; 6];
    if std::fs::File::open("/dev/urandom")
        .and_then(|mut file| file.read_exact(&mut bytes))
        .is_err()
    {
        // No /dev/urandom: time and pid are unique enough for a name Docker checks anyway.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        let mixed = nanos ^ (u128::from(std::process::id()) << 64);
        bytes.copy_from_slice(&mixed.to_le_bytes()[..6]);
    }
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// The one-off container `request` asks for in `project`: its name (`--name`, validated, or
/// `<project>-<service>-run-<id>`) and host.
pub fn one_off(project: &Project, request: &RunRequest) -> Result<OneOff, RunError> {
    let name = match &request.name {
        Some(name) => {
            names::check_container_name(name)
                .map_err(|error| RunError::Invalid(format!("--name {name:?}: {error}")))?;
            name.clone()
        }
        None => one_off_name(&project.name, &request.service, &random_id()),
    };
    Ok(OneOff {
        service: request.service.clone(),
        name,
        host: request.host.clone(),
    })
}

/// `KEY=VALUE`, or `KEY` with its value from `lookup` (left unset when it has none).
fn key_value(text: &str, lookup: &dyn Fn(&str) -> Option<String>) -> (String, Option<String>) {
    match text.split_once('=') {
        Some((key, value)) => (key.to_string(), Some(value.to_string())),
        None => (text.to_string(), lookup(text)),
    }
}

/// `project` with `request.service` changed as `docker compose run` changes it (see the
/// module doc). `lookup` reads nap's environment for `-e KEY`.
pub fn one_off_project(
    project: &Project,
    request: &RunRequest,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Project, RunError> {
    let mut project = project.clone();
    let Some(service) = project.services.get_mut(&request.service) else {
        return Err(RunError::Invalid(format!(
            "no such service: {:?}",
            request.service
        )));
    };
    if !request.command.is_empty() {
        service.command = Some(request.command.clone());
    }
    if let Some(entrypoint) = &request.entrypoint {
        let words = compose::shell_split(entrypoint)
            .map_err(|error| RunError::Invalid(format!("--entrypoint {entrypoint:?}: {error}")))?;
        service.entrypoint = Some(words);
        // As with `docker run --entrypoint`: the image's command no longer applies.
        if request.command.is_empty() {
            service.command = Some(Vec::new());
        }
    }
    for entry in &request.env {
        let (key, value) = key_value(entry, lookup);
        if key.is_empty() {
            return Err(RunError::Invalid(format!("-e {entry:?}: no variable name")));
        }
        service.environment.insert(key, value);
    }
    for entry in &request.labels {
        let Some((key, value)) = entry.split_once('=') else {
            return Err(RunError::Invalid(format!(
                "-l {entry:?}: a label is KEY=VALUE"
            )));
        };
        if key.starts_with("nap.") {
            return Err(RunError::Invalid(format!(
                "-l {entry:?}: labels under nap. are nap's own"
            )));
        }
        service.labels.insert(key.to_string(), value.to_string());
    }
    if let Some(user) = &request.user {
        service.user = Some(user.clone());
    }
    if let Some(workdir) = &request.workdir {
        service.working_dir = Some(workdir.clone());
    }
    if !request.service_ports {
        service.ports.clear();
    }
    service
        .ports
        .extend(compose::parse_cli_ports(&request.publish)?);
    let home = lookup("HOME");
    let added = compose::parse_cli_volumes(
        &request.volumes,
        Path::new(&project.working_dir),
        home.as_deref(),
    )?;
    for mount in &added {
        if mount.kind == "volume"
            && let Some(source) = &mount.source
            && !project.volumes.contains_key(source)
        {
            return Err(RunError::Invalid(format!(
                "--volume {source}:{}: volume {source:?} is not defined in the project's volumes",
                mount.target
            )));
        }
    }
    let service = project
        .services
        .get_mut(&request.service)
        .expect("checked above");
    for mount in added {
        service
            .volumes
            .retain(|existing| existing.target != mount.target);
        service.volumes.push(mount);
    }
    service.tty = Some(request.tty);
    service.stdin_open = Some(request.stdin);
    service.restart = None;
    if let Some(deploy) = &mut service.deploy {
        deploy.restart_policy = None;
    }
    service.container_name = None;
    Ok(project)
}

/// How [`attach`] runs the container.
#[derive(Debug, Clone, Copy, Default)]
pub struct Attach {
    /// It has a TTY: raw mode here, its size forwarded.
    pub tty: bool,
    /// Stream stdin to it.
    pub stdin: bool,
    /// `-d`: start it and return at once.
    pub detach: bool,
}

/// Attaches to the created one-off `container` on `host`, starts it, streams until it ends
/// and returns its exit status (0 when detached); without a TTY, `interrupts` are passed to
/// it. Removal (`--rm`) is [`remove`]'s.
pub async fn attach(
    docker: &Docker,
    host: &str,
    container: &str,
    how: Attach,
    interrupts: &Interrupts,
) -> Result<i64, RunError> {
    let docker_error = |source| RunError::Docker {
        container: container.to_string(),
        host: host.to_string(),
        source,
    };
    let io_error = |source| RunError::Io {
        container: container.to_string(),
        source,
    };
    if how.detach {
        docker
            .start_container(container, None::<StartContainerOptions>)
            .await
            .map_err(docker_error)?;
        return Ok(0);
    }
    let options = AttachContainerOptions {
        stdin: how.stdin,
        stdout: true,
        stderr: true,
        stream: true,
        logs: false,
        detach_keys: None,
    };
    let attached = docker
        .attach_container(container, Some(options))
        .await
        .map_err(docker_error)?;
    docker
        .start_container(container, None::<StartContainerOptions>)
        .await
        .map_err(docker_error)?;
    // "not-running", asked after the start (bollard sends the request when the stream is first
    // polled): it answers at once for a container that has already exited, where "next-exit"
    // would wait for an exit that never comes.
    let mut wait = docker.wait_container(
        container,
        Some(WaitContainerOptions {
            condition: "not-running".to_string(),
        }),
    );
    let _raw = if how.tty {
        terminal::RawMode::enable().map_err(io_error)?
    } else {
        None
    };
    let resizer = how
        .tty
        .then(|| tokio::spawn(forward_window_size(docker.clone(), container.to_string())));
    let mut input = attached.input;
    let stdin = how.stdin.then(|| {
        tokio::spawn(async move {
            let _ = tokio::io::copy(&mut tokio::io::stdin(), &mut input).await;
            let _ = input.shutdown().await;
        })
    });
    let signals = (!how.tty).then(|| {
        tokio::spawn(proxy_signals(
            docker.clone(),
            container.to_string(),
            interrupts.clone(),
        ))
    });
    let mut output = attached.output;
    let mut stdout = tokio::io::stdout();
    let mut stderr = tokio::io::stderr();
    // The output is drained until Docker ends it or, once the container has exited, until it
    // has been quiet for OUTPUT_GRACE: Docker does not always end an attach stream when the
    // container exits (it waits for the stdin side too).
    let mut exit: Option<Result<i64, RunError>> = None;
    loop {
        let quiet = tokio::time::sleep(OUTPUT_GRACE);
        tokio::select! {
            chunk = output.next() => {
                // The stream ended, or broke: the exit status still says how it ended.
                let Some(Ok(chunk)) = chunk else { break };
                terminal::write_output(chunk, &mut stdout, &mut stderr)
                    .await
                    .map_err(io_error)?;
            }
            result = wait.next(), if exit.is_none() => {
                exit = Some(exit_status(result).map_err(docker_error));
            }
            () = quiet, if exit.is_some() => break,
        }
    }
    for task in [resizer, stdin, signals].into_iter().flatten() {
        task.abort();
    }
    match exit {
        Some(status) => status,
        None => exit_status(wait.next().await).map_err(docker_error),
    }
}

/// How long the output may stay quiet after the container exited before nap stops reading.
const OUTPUT_GRACE: std::time::Duration = std::time::Duration::from_millis(500);

/// The exit status a container wait answered.
fn exit_status(
    answer: Option<Result<bollard::models::ContainerWaitResponse, bollard::errors::Error>>,
) -> Result<i64, bollard::errors::Error> {
    match answer {
        Some(Ok(response)) => Ok(response.status_code),
        // bollard reports a non-zero status as an error carrying it.
        Some(Err(bollard::errors::Error::DockerContainerWaitError { code, .. })) => Ok(code),
        Some(Err(error)) => Err(error),
        None => Ok(0),
    }
}

/// Removes the one-off `container` (with its anonymous volumes), as `--rm` does; a
/// container already gone is fine.
pub async fn remove(docker: &Docker, host: &str, container: &str) -> Result<(), RunError> {
    let options = RemoveContainerOptions {
        force: true,
        v: true,
        link: false,
    };
    match docker.remove_container(container, Some(options)).await {
        Ok(()) => Ok(()),
        // Gone already, or being removed (by Docker or someone else).
        Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 404 | 409,
            ..
        }) => Ok(()),
        Err(source) => Err(RunError::Docker {
            container: container.to_string(),
            host: host.to_string(),
            source,
        }),
    }
}

/// The signals `nap run` receives, counted from the moment it starts: SIGINT, SIGTERM and
/// SIGHUP no longer end nap at once (the one-off must be removed with `--rm`, or sent the
/// signal while it runs). Listened to on a thread of its own, so every runtime of the command
/// can wait for them.
#[derive(Debug, Clone)]
pub struct Interrupts {
    inner: Arc<InterruptsInner>,
}

#[derive(Debug, Default)]
struct InterruptsInner {
    /// Every signal received, in order (`SIGINT`, `SIGTERM`, `SIGHUP`).
    received: Mutex<Vec<&'static str>>,
    /// Woken on each.
    notify: Notify,
}

impl Interrupts {
    /// Starts listening (replacing the signals' default actions for the process).
    pub fn install() -> std::io::Result<Interrupts> {
        let inner = Arc::new(InterruptsInner::default());
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        // Registered here, before the thread starts, so none is missed.
        let (mut interrupt, mut terminate, mut hangup) = runtime.block_on(async {
            Ok::<_, std::io::Error>((
                signal(SignalKind::interrupt())?,
                signal(SignalKind::terminate())?,
                signal(SignalKind::hangup())?,
            ))
        })?;
        let listener = inner.clone();
        std::thread::spawn(move || {
            runtime.block_on(async move {
                loop {
                    let name = tokio::select! {
                        _ = interrupt.recv() => "SIGINT",
                        _ = terminate.recv() => "SIGTERM",
                        _ = hangup.recv() => "SIGHUP",
                    };
                    listener
                        .received
                        .lock()
                        .expect("the signal list is never poisoned")
                        .push(name);
                    listener.notify.notify_waiters();
                }
            });
        });
        Ok(Interrupts { inner })
    }

    /// How many signals have arrived.
    pub fn count(&self) -> usize {
        self.received().len()
    }

    fn received(&self) -> Vec<&'static str> {
        self.inner
            .received
            .lock()
            .expect("the signal list is never poisoned")
            .clone()
    }

    /// Waits for the next signal after `seen` of them, and returns it.
    pub async fn next_after(&self, seen: usize) -> &'static str {
        loop {
            let notified = self.inner.notify.notified();
            if let Some(name) = self.received().get(seen) {
                return name;
            }
            notified.await;
        }
    }
}

/// The Docker CLI's signal proxy: each signal nap receives is sent to the container; a second
/// SIGINT kills it.
async fn proxy_signals(docker: Docker, container: String, interrupts: Interrupts) {
    let mut seen = interrupts.count();
    let mut interrupted = false;
    loop {
        let received = interrupts.next_after(seen).await;
        seen += 1;
        let name = if received == "SIGINT" && interrupted {
            "SIGKILL"
        } else {
            interrupted |= received == "SIGINT";
            received
        };
        let options = KillContainerOptions {
            signal: name.to_string(),
        };
        let _ = docker.kill_container(&container, Some(options)).await;
    }
}

/// Sends the terminal's size now and after every `SIGWINCH`, until aborted.
async fn forward_window_size(docker: Docker, container: String) {
    terminal::follow_window_size(|size: terminal::Size| {
        let (docker, container) = (docker.clone(), container.clone());
        async move {
            let options = ResizeContainerTTYOptions {
                h: i32::from(size.rows),
                w: i32::from(size.columns),
            };
            let _ = docker.resize_container_tty(&container, options).await;
        }
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    /// The environment variables `-e KEY` reads.
    fn lookup_in(map: &BTreeMap<String, String>) -> impl Fn(&str) -> Option<String> + '_ {
        |key| map.get(key).cloned()
    }
    use nap_core::compose::{LoadOptions, MemoryFileSystem, load_with};

    fn project() -> Project {
        let fs = MemoryFileSystem::default().with(
            "/p/compose.yaml",
            "name: app\nservices:\n  web:\n    image: lab:1\n    command: [serve]\n    ports: ['8080:80']\n    restart: always\n    volumes: ['./site:/srv']\n    container_name: the-web\nvolumes:\n  data: {}\n",
        );
        let options = LoadOptions {
            working_dir: "/p".into(),
            ..LoadOptions::default()
        };
        load_with(&options, &fs).unwrap().project
    }

    #[test]
    fn the_flags_change_the_service_as_compose_run_does() {
        let env = BTreeMap::from([("TOKEN".to_string(), "t0".to_string())]);
        let request = RunRequest {
            service: "web".into(),
            command: vec!["sh".into(), "-c".into(), "echo hi".into()],
            env: vec!["A=1".into(), "TOKEN".into(), "UNSET".into()],
            labels: vec!["team=ops".into()],
            volumes: vec!["data:/srv".into()],
            publish: vec!["9090:90".into()],
            tty: true,
            stdin: true,
            ..RunRequest::default()
        };
        let changed = one_off_project(&project(), &request, &lookup_in(&env)).unwrap();
        let web = &changed.services["web"];
        assert_eq!(web.command.as_deref(), Some(&request.command[..]));
        assert_eq!(web.environment["A"].as_deref(), Some("1"));
        assert_eq!(web.environment["TOKEN"].as_deref(), Some("t0"));
        assert_eq!(web.environment["UNSET"], None);
        assert_eq!(web.labels["team"], "ops");
        assert_eq!(web.ports.len(), 1, "the service's ports are dropped");
        assert_eq!(web.ports[0].target, 90);
        assert_eq!(
            web.volumes.len(),
            1,
            "-v replaces the mount at the same target"
        );
        assert_eq!(web.volumes[0].source.as_deref(), Some("data"));
        assert_eq!(web.restart, None);
        assert_eq!(web.container_name, None);
        assert_eq!(web.tty, Some(true));
        // The project's other parts are untouched.
        assert_eq!(project().services["web"].ports.len(), 1);
    }

    #[test]
    fn service_ports_keep_the_services_ports_and_an_entrypoint_drops_the_command() {
        let request = RunRequest {
            service: "web".into(),
            service_ports: true,
            entrypoint: Some("/bin/sh -c 'echo x'".into()),
            ..RunRequest::default()
        };
        let changed = one_off_project(&project(), &request, &|_| None).unwrap();
        let web = &changed.services["web"];
        assert_eq!(web.ports.len(), 1);
        assert_eq!(
            web.entrypoint.as_deref(),
            Some(&["/bin/sh".to_string(), "-c".into(), "echo x".into()][..])
        );
        assert_eq!(web.command.as_deref(), Some(&[][..]));
    }

    #[test]
    fn bad_flags_are_named() {
        let bad = |request: RunRequest| {
            one_off_project(&project(), &request, &|_| None)
                .unwrap_err()
                .to_string()
        };
        let base = || RunRequest {
            service: "web".into(),
            ..RunRequest::default()
        };
        assert!(
            bad(RunRequest {
                volumes: vec!["nope:/x".into()],
                ..base()
            })
            .contains("\"nope\" is not defined")
        );
        assert!(
            bad(RunRequest {
                labels: vec!["nap.service=x".into()],
                ..base()
            })
            .contains("nap's own")
        );
        assert!(
            bad(RunRequest {
                labels: vec!["novalue".into()],
                ..base()
            })
            .contains("KEY=VALUE")
        );
        assert!(
            bad(RunRequest {
                service: "db".into(),
                ..base()
            })
            .contains("no such service")
        );
        let error = one_off(
            &project(),
            &RunRequest {
                name: Some("bad name\n".into()),
                ..base()
            },
        )
        .unwrap_err()
        .to_string();
        assert!(error.contains("--name"), "{error}");
        let named = one_off(&project(), &base()).unwrap();
        assert!(
            named.name.starts_with("app-web-run-") && named.name.len() == "app-web-run-".len() + 12
        );
    }
}
