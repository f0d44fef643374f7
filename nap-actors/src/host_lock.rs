//! One deployer across machines: the project lock held on a host of the inventory, so a
//! second deployer on another machine (CI, a laptop) waits or is refused, naming the holder.
//!
//! The lock host is the inventory's first host by name. The lock is a container named
//! `nap-lock-<project>` that is created, never started: Docker reserves a container name
//! atomically, so of two creates one gets 409 ([`LOCK_IMAGE`], an empty image nap imports
//! itself, so nothing is pulled). Its labels say who holds it (user, machine, pid, command);
//! its `Created` time, on the daemon's clock, since when. While held, the holder renews a
//! lease every [`LEASE_RENEW`]: it re-creates, in turn, one of two containers
//! `nap-lock-<project>-lease-{0,1}` of the same image, never started (the other keeps the
//! last renewal while one is re-created). Every request of the lock names `nap-lock` in its
//! path, so a recording proxy tells them from the project's. A lock whose newest time (its own creation or a lease's) is older than
//! [`LEASE_TTL`] by the daemon's clock (`/info`'s `SystemTime`: no two machines' clocks are
//! compared) has a holder that is gone, and is removed by its id, so only that lock is, and
//! taken again. The local file lock (`lock.rs`) stays as the fast path on one machine.

use std::collections::HashMap;
use std::future::Future;
use std::time::Duration;

use bollard::Docker;
use bollard::models::{ContainerCreateBody, ContainerInspectResponse};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, CreateImageOptionsBuilder, RemoveContainerOptionsBuilder,
};
use futures_util::StreamExt;
use nap_core::inventory::Inventory;
use serde::Serialize;

use crate::observe::with_causes;

/// The empty image the lock container is made from (imported from an empty archive).
pub const LOCK_IMAGE: &str = "nap-lock:1";

/// How often the holder renews its lease.
pub const LEASE_RENEW: Duration = Duration::from_secs(5);

/// How old the newest renewal may be before the holder counts as gone.
pub const LEASE_TTL: Duration = Duration::from_secs(30);

/// How often a waiting deployer tries again.
const RETRY: Duration = Duration::from_millis(500);

const LABEL_LOCK_OF: &str = "nap.lock-of";
const LABEL_USER: &str = "nap.lock.user";
const LABEL_MACHINE: &str = "nap.lock.machine";
const LABEL_PID: &str = "nap.lock.pid";
/// Label: the holder's boot (`/proc/sys/kernel/random/boot_id`), so a deployer on the same
/// machine and boot can tell that the holder's process is gone.
const LABEL_BOOT: &str = "nap.lock.boot";
const LABEL_COMMAND: &str = "nap.lock.command";

/// Who holds a project's lock, as its labels say.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Holder {
    /// The user.
    pub user: String,
    /// The machine nap runs on.
    pub machine: String,
    /// nap's process id there.
    pub pid: u32,
    /// The verb (`up`, `watch`…).
    pub command: String,
    /// When it took the lock (the daemon's clock, RFC 3339).
    pub since: String,
}

impl std::fmt::Display for Holder {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            formatter,
            "`nap {}` of {} on {} (pid {}) since {}",
            self.command, self.user, self.machine, self.pid, self.since
        )
    }
}

/// A project's lock as `nap lock status` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LockStatus {
    /// The project.
    pub project: String,
    /// The host the lock lives on.
    pub host: String,
    /// The holder, when held.
    pub holder: Option<Holder>,
    /// Seconds since the last renewal (the daemon's clock), when held.
    pub renewed_seconds_ago: Option<i64>,
    /// Whether the holder is gone (no renewal within the lease): the next deployer takes it.
    pub expired: bool,
}

/// Why the lock could not be taken, read or released.
#[derive(Debug, thiserror::Error)]
pub enum HostLockError {
    /// Another deployer holds it.
    #[error(
        "project {project:?} is being deployed by {holder} (lock on host {host}); wait for it, retry with --wait-lock DURATION, or, if that nap is gone, `nap lock release` (it is released by itself {ttl} s after its last renewal)",
        ttl = LEASE_TTL.as_secs()
    )]
    Held {
        /// The project.
        project: String,
        /// The lock host.
        host: String,
        /// Who holds it.
        holder: Holder,
    },
    /// The lock host's daemon refused or did not answer.
    #[error("lock of project {project:?} on host {host}: {message}")]
    Docker {
        /// The project.
        project: String,
        /// The lock host.
        host: String,
        /// What went wrong.
        message: String,
    },
    /// The inventory has no host.
    #[error("project {0:?}: the inventory has no host to hold the lock")]
    NoHost(String),
}

/// The lock of `project` on its lock host.
pub struct HostLock {
    /// The lock host's client.
    docker: Docker,
    /// The lock host.
    host: String,
    /// The project.
    project: String,
    /// The lock container's id: only this one is removed on release.
    id: String,
    /// Renewals so far (which lease volume is next).
    renewals: u64,
}

/// The lock container's name.
fn lock_name(project: &str) -> String {
    format!("nap-lock-{project}")
}

/// A lease volume's name.
fn lease_name(project: &str, index: u64) -> String {
    format!("nap-lock-{project}-lease-{}", index % 2)
}

/// The lock host of `inventory`: its first host by name.
pub fn lock_host(inventory: &Inventory) -> Option<&nap_core::inventory::Host> {
    inventory.hosts.iter().min_by(|a, b| a.name.cmp(&b.name))
}

struct Site {
    docker: Docker,
    host: String,
    project: String,
}

impl Site {
    async fn connect(inventory: &Inventory, project: &str) -> Result<Site, HostLockError> {
        let host = lock_host(inventory).ok_or_else(|| HostLockError::NoHost(project.into()))?;
        let docker = crate::docker::connect(host)
            .await
            .map_err(|error| HostLockError::Docker {
                project: project.to_string(),
                host: host.name.clone(),
                message: error.message,
            })?;
        Ok(Site {
            docker,
            host: host.name.clone(),
            project: project.to_string(),
        })
    }

    fn error(&self, what: &str, error: &bollard::errors::Error) -> HostLockError {
        HostLockError::Docker {
            project: self.project.clone(),
            host: self.host.clone(),
            message: format!("{what}: {}", with_causes(error)),
        }
    }

    /// The lock container, if there is one.
    async fn inspect(&self) -> Result<Option<ContainerInspectResponse>, HostLockError> {
        match self
            .docker
            .inspect_container(&lock_name(&self.project), None)
            .await
        {
            Ok(inspect) => Ok(Some(inspect)),
            Err(error) if status_of(&error) == Some(404) => Ok(None),
            Err(error) => Err(self.error("reading the lock", &error)),
        }
    }

    /// The daemon's clock, in Unix seconds.
    async fn now(&self) -> Result<i64, HostLockError> {
        let info = self
            .docker
            .info()
            .await
            .map_err(|error| self.error("reading the daemon's clock", &error))?;
        info.system_time
            .as_deref()
            .and_then(seconds)
            .ok_or_else(|| HostLockError::Docker {
                project: self.project.clone(),
                host: self.host.clone(),
                message: "the daemon did not say its time (/info SystemTime)".to_string(),
            })
    }

    /// The newest of the lock's creation and its leases, in Unix seconds.
    async fn last_renewal(&self, lock: &ContainerInspectResponse) -> i64 {
        let mut newest = lock.created.as_deref().and_then(seconds).unwrap_or(0);
        for index in 0..2 {
            if let Ok(lease) = self
                .docker
                .inspect_container(&lease_name(&self.project, index), None)
                .await
                && let Some(created) = lease.created.as_deref().and_then(seconds)
            {
                newest = newest.max(created);
            }
        }
        newest
    }

    /// Makes the empty lock image when the host lacks it: an empty archive imported, nothing
    /// pulled.
    async fn ensure_image(&self) -> Result<(), HostLockError> {
        if self.docker.inspect_image(LOCK_IMAGE).await.is_ok() {
            return Ok(());
        }
        let (repo, tag) = LOCK_IMAGE.split_once(':').unwrap_or((LOCK_IMAGE, "latest"));
        let options = CreateImageOptionsBuilder::default()
            .from_src("-")
            .repo(repo)
            .tag(tag)
            .build();
        // An empty tar archive: two zero blocks.
        let empty = bytes::Bytes::from(vec![0_u8; 1024]);
        let mut stream =
            self.docker
                .create_image(Some(options), Some(bollard::body_full(empty)), None);
        while let Some(item) = stream.next().await {
            item.map_err(|error| self.error("importing the empty lock image", &error))?;
        }
        Ok(())
    }

    /// Creates the lock container: its id, or `None` when it exists (409).
    async fn create(&self, command: &str) -> Result<Option<String>, HostLockError> {
        self.create_named(&lock_name(&self.project), command).await
    }

    /// Creates a never-started container `name` of the lock image with the holder's labels:
    /// its id, or `None` when the name is taken (409).
    async fn create_named(
        &self,
        name: &str,
        command: &str,
    ) -> Result<Option<String>, HostLockError> {
        let labels = HashMap::from([
            (LABEL_LOCK_OF.to_string(), self.project.clone()),
            (LABEL_USER.to_string(), current_user()),
            (LABEL_MACHINE.to_string(), machine_name()),
            (LABEL_PID.to_string(), std::process::id().to_string()),
            (LABEL_BOOT.to_string(), boot_id().unwrap_or_default()),
            (LABEL_COMMAND.to_string(), command.to_string()),
        ]);
        let body = ContainerCreateBody {
            image: Some(LOCK_IMAGE.to_string()),
            cmd: Some(vec!["nap-lock".to_string()]),
            labels: Some(labels),
            network_disabled: Some(true),
            ..ContainerCreateBody::default()
        };
        let options = CreateContainerOptionsBuilder::default().name(name).build();
        match self.docker.create_container(Some(options), body).await {
            Ok(created) => Ok(Some(created.id)),
            Err(error) if status_of(&error) == Some(409) => Ok(None),
            Err(error) => Err(self.error("creating the lock", &error)),
        }
    }

    /// Removes the lock container `id` (an id, or its name once checked) and its leases.
    async fn remove(&self, id: &str) -> Result<(), HostLockError> {
        match self.docker.remove_container(id, Some(force())).await {
            Ok(()) => {}
            Err(error) if status_of(&error) == Some(404) => {}
            Err(error) => return Err(self.error("removing the lock", &error)),
        }
        for index in 0..2 {
            let _ = self
                .docker
                .remove_container(&lease_name(&self.project, index), Some(force()))
                .await;
        }
        Ok(())
    }

    /// The lock's status.
    async fn status(&self) -> Result<LockStatus, HostLockError> {
        let mut status = LockStatus {
            project: self.project.clone(),
            host: self.host.clone(),
            holder: None,
            renewed_seconds_ago: None,
            expired: false,
        };
        if let Some(lock) = self.inspect().await? {
            let ago = self.now().await? - self.last_renewal(&lock).await;
            status.holder = Some(holder_of(&lock));
            status.renewed_seconds_ago = Some(ago);
            status.expired = ago > LEASE_TTL.as_secs() as i64;
        }
        Ok(status)
    }
}

fn holder_of(lock: &ContainerInspectResponse) -> Holder {
    let labels = lock
        .config
        .as_ref()
        .and_then(|config| config.labels.clone())
        .unwrap_or_default();
    let label = |key: &str| labels.get(key).cloned().unwrap_or_else(|| "?".to_string());
    Holder {
        user: label(LABEL_USER),
        machine: label(LABEL_MACHINE),
        pid: labels
            .get(LABEL_PID)
            .and_then(|pid| pid.parse().ok())
            .unwrap_or(0),
        command: label(LABEL_COMMAND),
        since: lock.created.clone().unwrap_or_default(),
    }
}

fn force() -> bollard::query_parameters::RemoveContainerOptions {
    RemoveContainerOptionsBuilder::default().force(true).build()
}

fn status_of(error: &bollard::errors::Error) -> Option<u16> {
    match error {
        bollard::errors::Error::DockerResponseServerError { status_code, .. } => Some(*status_code),
        _ => None,
    }
}

/// An RFC 3339 time (Docker's, fractions of a second allowed) in Unix seconds.
fn seconds(text: &str) -> Option<i64> {
    let (whole, zone) = match text.find('.') {
        Some(dot) => {
            let rest = &text[dot + 1..];
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            (&text[..dot], &rest[digits..])
        }
        None => (text, ""),
    };
    let text = format!("{whole}{zone}");
    nap_core::units::parse_log_time(&text, 0).ok()
}

fn current_user() -> String {
    std::env::var("USER")
        .ok()
        .filter(|user| !user.is_empty())
        // SAFETY: getuid has no preconditions and cannot fail.
        .unwrap_or_else(|| format!("uid {}", unsafe { libc::getuid() }))
}

/// This boot's id: the same on one machine until it reboots, different on every other.
fn boot_id() -> Option<String> {
    let text = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").ok()?;
    let id = text.trim();
    (!id.is_empty()).then(|| id.to_string())
}

/// Whether `lock` was taken on this machine, in this boot, by a process that no longer runs
/// (a nap killed with SIGKILL): its lock can be taken at once, without waiting for the lease
/// to run out. A pid reused since is taken for the holder, so this errs on the side of waiting.
fn holder_is_gone_here(lock: &ContainerInspectResponse) -> bool {
    let labels = lock
        .config
        .as_ref()
        .and_then(|config| config.labels.clone())
        .unwrap_or_default();
    let (Some(boot), Some(ours)) = (labels.get(LABEL_BOOT), boot_id()) else {
        return false;
    };
    let Some(pid) = labels
        .get(LABEL_PID)
        .and_then(|pid| pid.parse::<libc::pid_t>().ok())
        .filter(|pid| *pid > 0)
    else {
        return false;
    };
    if *boot != ours || pid == std::process::id() as libc::pid_t {
        return false;
    }
    // SAFETY: signal 0 sends nothing; kill only checks that the process exists.
    let alive = unsafe { libc::kill(pid, 0) } == 0
        || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM);
    !alive
}

fn machine_name() -> String {
    let mut buffer = [0_u8; 256];
    // SAFETY: the buffer is writable for its whole length; gethostname NUL-terminates or
    // truncates within it.
    let result = unsafe { libc::gethostname(buffer.as_mut_ptr().cast(), buffer.len()) };
    if result != 0 {
        return "?".to_string();
    }
    let end = buffer.iter().position(|&b| b == 0).unwrap_or(buffer.len());
    String::from_utf8_lossy(&buffer[..end]).into_owned()
}

impl HostLock {
    /// Takes `project`'s lock for `command`; waits up to `wait` while another deployer holds
    /// it (`None`: refuses at once, naming the holder). A lock whose holder is gone (no
    /// renewal within [`LEASE_TTL`]) is removed and taken.
    pub async fn acquire(
        inventory: &Inventory,
        project: &str,
        command: &str,
        wait: Option<Duration>,
    ) -> Result<HostLock, HostLockError> {
        HostLock::acquire_with_ttl(inventory, project, command, wait, LEASE_TTL).await
    }

    /// [`HostLock::acquire`] with a lease of `ttl`.
    async fn acquire_with_ttl(
        inventory: &Inventory,
        project: &str,
        command: &str,
        wait: Option<Duration>,
        ttl: Duration,
    ) -> Result<HostLock, HostLockError> {
        let site = Site::connect(inventory, project).await?;
        site.ensure_image().await?;
        let deadline = wait.map(|wait| tokio::time::Instant::now() + wait);
        loop {
            if let Some(id) = site.create(command).await? {
                // Its creation is the first renewal.
                return Ok(HostLock {
                    docker: site.docker,
                    host: site.host,
                    project: site.project,
                    id,
                    renewals: 0,
                });
            }
            let Some(existing) = site.inspect().await? else {
                continue; // released in between: try again at once
            };
            if holder_is_gone_here(&existing) {
                tracing::warn!(
                    project,
                    host = %site.host,
                    "taking over the lock of {}: that process is gone",
                    holder_of(&existing)
                );
                site.remove(existing.id.as_deref().unwrap_or_default())
                    .await?;
                continue;
            }
            let age = site.now().await? - site.last_renewal(&existing).await;
            if age > ttl.as_secs() as i64 {
                tracing::warn!(
                    project,
                    host = %site.host,
                    "taking over the lock of {}: no renewal for {age} s",
                    holder_of(&existing)
                );
                site.remove(existing.id.as_deref().unwrap_or_default())
                    .await?;
                continue;
            }
            match deadline {
                Some(deadline) if tokio::time::Instant::now() < deadline => {
                    tokio::time::sleep(RETRY).await;
                }
                _ => {
                    return Err(HostLockError::Held {
                        project: site.project.clone(),
                        host: site.host.clone(),
                        holder: holder_of(&existing),
                    });
                }
            }
        }
    }

    /// Renews the lease: re-creates the older of the two lease containers.
    pub async fn renew(&mut self) -> Result<(), HostLockError> {
        let name = lease_name(&self.project, self.renewals);
        self.renewals += 1;
        let site = self.site();
        let _ = site.docker.remove_container(&name, Some(force())).await;
        site.create_named(&name, "lease").await.map(drop)
    }

    fn site(&self) -> Site {
        Site {
            docker: self.docker.clone(),
            host: self.host.clone(),
            project: self.project.clone(),
        }
    }

    /// Releases the lock, only if it is still this holder's (by its id; removed by its name,
    /// so every request of the lock names `nap-lock`).
    pub async fn release(self) -> Result<(), HostLockError> {
        let site = self.site();
        match site.inspect().await? {
            Some(lock) if lock.id.as_deref() == Some(self.id.as_str()) => {
                site.remove(&lock_name(&self.project)).await
            }
            _ => {
                tracing::warn!(project = %self.project, "the lock was taken over while held");
                Ok(())
            }
        }
    }
}

/// Runs `work` holding `project`'s host lock, renewing the lease every [`LEASE_RENEW`]
/// while it runs, and releases it after (whatever `work` answered).
pub async fn hold<F: Future>(
    inventory: &Inventory,
    project: &str,
    command: &str,
    wait: Option<Duration>,
    work: F,
) -> Result<F::Output, HostLockError> {
    let mut lock = HostLock::acquire(inventory, project, command, wait).await?;
    let mut work = std::pin::pin!(work);
    let output = loop {
        tokio::select! {
            output = &mut work => break output,
            () = tokio::time::sleep(LEASE_RENEW) => {
                if let Err(error) = lock.renew().await {
                    tracing::warn!(project, "{error}");
                }
            }
        }
    };
    lock.release().await?;
    Ok(output)
}

/// `nap lock status`.
pub async fn status(inventory: &Inventory, project: &str) -> Result<LockStatus, HostLockError> {
    Site::connect(inventory, project).await?.status().await
}

/// `nap lock release`: removes the lock whoever holds it; answers who held it.
pub async fn release(
    inventory: &Inventory,
    project: &str,
) -> Result<Option<Holder>, HostLockError> {
    let site = Site::connect(inventory, project).await?;
    let Some(lock) = site.inspect().await? else {
        return Ok(None);
    };
    site.remove(lock.id.as_deref().unwrap_or_default()).await?;
    Ok(Some(holder_of(&lock)))
}

#[cfg(test)]
mod tests {
    use super::*;

    use nap_fake_engine::{EngineConfig, Fake, FakeConfig};

    async fn fake(dir: &std::path::Path) -> (Fake, Inventory) {
        let config = FakeConfig {
            dir: dir.join("sockets"),
            hosts: 2,
            latency: Duration::ZERO,
            engine: EngineConfig::default(),
        };
        let fake = Fake::start(config.clone())
            .await
            .expect("the fake engine starts");
        // Listed out of order: the lock lives on the first host by name, h001.
        let text = format!(
            "hosts:\n  h002: {{docker: 'unix://{}', address: 127.0.0.2}}\n  h001: {{docker: 'unix://{}', address: 127.0.0.1}}\nnetwork: {{mode: published}}\n",
            config.socket(2).display(),
            config.socket(1).display()
        );
        let inventory = Inventory::parse(&dir.join("nap-hosts.yml"), &text)
            .expect("the inventory parses")
            .0;
        (fake, inventory)
    }

    #[tokio::test]
    async fn a_second_deployer_is_refused_naming_the_holder_then_takes_the_released_lock() {
        let dir = tempfile::tempdir().unwrap();
        let (fake, inventory) = fake(dir.path()).await;
        let first = HostLock::acquire(&inventory, "demo", "watch", None)
            .await
            .expect("the first deployer takes the lock");
        assert_eq!(first.host, "h001");
        let refused = HostLock::acquire(&inventory, "demo", "down", None).await;
        let Err(error @ HostLockError::Held { .. }) = refused else {
            panic!("the second deployer was not refused");
        };
        let text = error.to_string();
        assert!(text.contains("`nap watch`"), "{text}");
        assert!(
            text.contains(&format!("pid {}", std::process::id())),
            "{text}"
        );
        assert!(text.contains("host h001"), "{text}");

        let shown = status(&inventory, "demo").await.unwrap();
        assert_eq!(
            shown.holder.as_ref().map(|h| h.command.as_str()),
            Some("watch")
        );
        assert!(!shown.expired);

        // Another project is not held by it.
        let other = HostLock::acquire(&inventory, "other", "up", None)
            .await
            .unwrap();
        other.release().await.unwrap();

        // A waiting deployer gets it once it is released.
        let waiting = tokio::spawn({
            let inventory = inventory.clone();
            async move {
                HostLock::acquire(&inventory, "demo", "up", Some(Duration::from_secs(10))).await
            }
        });
        tokio::time::sleep(Duration::from_millis(700)).await;
        first.release().await.unwrap();
        let second = waiting
            .await
            .unwrap()
            .expect("the waiting deployer takes it");
        second.release().await.unwrap();
        assert_eq!(status(&inventory, "demo").await.unwrap().holder, None);
        fake.stop();
    }

    #[tokio::test]
    async fn a_lock_whose_holder_stopped_renewing_is_taken_over() {
        let dir = tempfile::tempdir().unwrap();
        let (fake, inventory) = fake(dir.path()).await;
        // A holder that is gone: it took the lock and never renews nor releases it.
        let gone = HostLock::acquire(&inventory, "demo", "up", None)
            .await
            .unwrap();
        let gone_id = gone.id.clone();
        std::mem::forget(gone);
        // Within its lease it is refused.
        assert!(matches!(
            HostLock::acquire_with_ttl(&inventory, "demo", "up", None, Duration::from_secs(30))
                .await,
            Err(HostLockError::Held { .. })
        ));
        tokio::time::sleep(Duration::from_millis(2100)).await;
        let taken =
            HostLock::acquire_with_ttl(&inventory, "demo", "up", None, Duration::from_secs(1))
                .await
                .expect("an expired lock is taken over");
        assert_ne!(taken.id, gone_id);
        taken.release().await.unwrap();
        fake.stop();
    }

    #[test]
    fn a_lock_of_a_process_gone_on_this_boot_is_free_and_no_other() {
        let lock = |boot: &str, pid: u32| ContainerInspectResponse {
            config: Some(bollard::models::ContainerConfig {
                labels: Some(HashMap::from([
                    (LABEL_BOOT.to_string(), boot.to_string()),
                    (LABEL_PID.to_string(), pid.to_string()),
                ])),
                ..Default::default()
            }),
            ..Default::default()
        };
        let ours = boot_id().expect("Linux has a boot id");
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let dead = child.id();
        child.wait().unwrap();
        assert!(holder_is_gone_here(&lock(&ours, dead)));
        assert!(!holder_is_gone_here(&lock(&ours, 1)), "pid 1 runs");
        assert!(!holder_is_gone_here(&lock(&ours, std::process::id())));
        assert!(
            !holder_is_gone_here(&lock("another-boot", dead)),
            "another machine's"
        );
    }

    #[test]
    fn docker_times_are_read_with_or_without_fractions() {
        assert_eq!(seconds("1970-01-01T00:01:00Z"), Some(60));
        assert_eq!(seconds("1970-01-01T00:01:00.123456789Z"), Some(60));
        assert_eq!(seconds("1970-01-01T01:01:00.5+01:00"), Some(60));
    }
}
