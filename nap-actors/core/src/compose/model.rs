//! The normalized compose model: what a compose project means after loading.
//!
//! Every field is in its canonical (long) form: ports and volumes in long syntax, `environment`,
//! `labels`, `depends_on` and service `networks` as maps, `command`/`entrypoint` as lists. The
//! same types hold a single file's partial service while files are merged (every field is
//! optional or a collection), so merging is field-by-field over one type. Serializing a
//! [`Project`] gives `nap config`'s output. This module does no I/O and no validation beyond
//! what the types say; see `loader` for both.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Serialize;

/// A loaded compose project: every enabled service, network and volume, after interpolation,
/// `extends`, merging of `-f` files and profiles.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Project {
    /// The project name, normalized as compose does (lowercase `[a-z0-9_-]`).
    pub name: String,
    /// Services by name, in name order.
    pub services: BTreeMap<String, Service>,
    /// Top-level networks by key, including `default` when a service uses it.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub networks: BTreeMap<String, Network>,
    /// Top-level named volumes by key.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub volumes: BTreeMap<String, Volume>,
    /// Top-level secrets by key (their values are never read into the model).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub secrets: BTreeMap<String, FileObject>,
    /// Top-level configs by key.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub configs: BTreeMap<String, FileObject>,
    /// Top-level `x-` extensions, kept as written.
    #[serde(flatten)]
    pub extensions: BTreeMap<String, serde_json::Value>,
    /// The folder relative paths resolve against (the first compose file's folder).
    #[serde(skip)]
    pub working_dir: PathBuf,
    /// Every file the model was built from (compose files, `.env`, `env_file`s, `extends`
    /// files), for `nap watch`.
    #[serde(skip)]
    pub source_files: Vec<PathBuf>,
    /// Services that exist in the files but are disabled by profiles, by name.
    #[serde(skip)]
    pub disabled_services: Vec<String>,
}

/// One service, in canonical form.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Service {
    /// Block I/O weights and throttles.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub blkio_config: Option<BlkioConfig>,
    /// `build:`: the image is built (once per change) and shipped to the hosts that run it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub build: Option<Build>,
    /// Linux capabilities to add.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cap_add: Vec<String>,
    /// Linux capabilities to drop.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cap_drop: Vec<String>,
    /// cgroup namespace, `host` or `private`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cgroup: Option<String>,
    /// The parent cgroup.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cgroup_parent: Option<String>,
    /// The command, split as a shell would when written as a string.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub command: Option<Vec<String>>,
    /// Configs mounted into the container, long syntax, targets absolute.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub configs: Vec<ServiceFileRef>,
    /// A fixed container name (then the service has exactly one replica).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container_name: Option<String>,
    /// CPU count (Windows daemons).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu_count: Option<u64>,
    /// CPU percent (Windows daemons).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu_percent: Option<u64>,
    /// CFS period, microseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu_period: Option<u64>,
    /// CFS quota, microseconds (-1: none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu_quota: Option<i64>,
    /// Real-time period, as written (microseconds or a duration).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu_rt_period: Option<String>,
    /// Real-time runtime, as written (microseconds or a duration).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu_rt_runtime: Option<String>,
    /// Relative CPU weight.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu_shares: Option<u64>,
    /// CPUs, as a decimal string (`0.5`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpus: Option<String>,
    /// CPUs the container may use (`0-3`, `0,1`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpuset: Option<String>,
    /// Dependencies and the condition each must meet before this service starts.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub depends_on: BTreeMap<String, DependsOn>,
    /// `deploy:` (replicas, placement, resources, update_config).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deploy: Option<Deploy>,
    /// Device cgroup rules (`c 1:3 mr`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub device_cgroup_rules: Vec<String>,
    /// Host devices, `host[:container[:permissions]]`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub devices: Vec<String>,
    /// DNS servers.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub dns: Vec<String>,
    /// resolv.conf options.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub dns_opt: Vec<String>,
    /// DNS search domains.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub dns_search: Vec<String>,
    /// The container's domain name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub domainname: Option<String>,
    /// The entrypoint, split as a shell would when written as a string.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entrypoint: Option<Vec<String>>,
    /// The environment, with `env_file` contents merged under `environment`. `None` is a
    /// variable passed through from the environment but unset there.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub environment: BTreeMap<String, Option<String>>,
    /// The `env_file`s, resolved to absolute paths (already merged into `environment`).
    #[serde(skip)]
    pub env_file: Vec<EnvFile>,
    /// Ports exposed to other containers only.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub expose: Vec<String>,
    /// `extends:` as read; resolved (and emptied) by the loader.
    #[serde(skip)]
    pub extends: Option<Extends>,
    /// Extra `/etc/hosts` entries, `name:address`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub extra_hosts: Vec<String>,
    /// Extra groups of the container's user.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub group_add: Vec<String>,
    /// The healthcheck.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<Healthcheck>,
    /// The container's hostname.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    /// The image.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// Run an init process.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub init: Option<bool>,
    /// IPC mode (`service:X` shares X's namespace and so X's host).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ipc: Option<String>,
    /// Isolation technology (`default`, `process`, `hyperv`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub isolation: Option<String>,
    /// Container labels, with `label_file` contents merged under `labels`.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// The `label_file`s, absolute (already merged into `labels`).
    #[serde(skip)]
    pub label_file: Vec<PathBuf>,
    /// Legacy links, `service` or `service:alias`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub links: Vec<String>,
    /// Logging driver and options.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub logging: Option<serde_json::Value>,
    /// The MAC address of the primary network.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mac_address: Option<String>,
    /// Memory limit, as written (`512m`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mem_limit: Option<String>,
    /// Memory soft limit, as written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mem_reservation: Option<String>,
    /// Swappiness, 0 to 100.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mem_swappiness: Option<u64>,
    /// Memory plus swap, as written (`-1`: unlimited swap).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memswap_limit: Option<String>,
    /// `network_mode` (`host`, `none`, `bridge`, `service:X`, `container:Y`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network_mode: Option<String>,
    /// Networks the service joins, with per-network options.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub networks: BTreeMap<String, Option<ServiceNetwork>>,
    /// Do not OOM-kill the container.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oom_kill_disable: Option<bool>,
    /// OOM score adjustment, -1000 to 1000.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oom_score_adj: Option<i64>,
    /// PID mode (`service:X` places the service on X's host).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pid: Option<String>,
    /// Maximum number of processes (-1: unlimited).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pids_limit: Option<i64>,
    /// The image platform, `os/arch[/variant]`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    /// Published and exposed ports, long syntax, ranges expanded as compose does.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<Port>,
    /// Run privileged.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub privileged: Option<bool>,
    /// Profiles this service belongs to; none means always enabled.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub profiles: Vec<String>,
    /// Mount the root filesystem read-only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub read_only: Option<bool>,
    /// Restart policy (`no`, `always`, `on-failure[:N]`, `unless-stopped`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restart: Option<String>,
    /// The OCI runtime (`runc`, `runsc`…).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub runtime: Option<String>,
    /// `scale:` (the older form of `deploy.replicas`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scale: Option<u32>,
    /// Secrets mounted into the container, long syntax, targets absolute.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<ServiceFileRef>,
    /// Security options.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub security_opt: Vec<String>,
    /// Size of `/dev/shm`, as written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shm_size: Option<String>,
    /// Keep stdin open.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stdin_open: Option<bool>,
    /// Time to wait after the stop signal before killing, as written (`10s`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_grace_period: Option<String>,
    /// The stop signal.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_signal: Option<String>,
    /// Storage driver options.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub storage_opt: BTreeMap<String, String>,
    /// Kernel parameters.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub sysctls: BTreeMap<String, String>,
    /// tmpfs mounts.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tmpfs: Vec<String>,
    /// Allocate a TTY.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tty: Option<bool>,
    /// ulimits by name.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub ulimits: BTreeMap<String, Ulimit>,
    /// The user the command runs as.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// User namespace mode.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub userns_mode: Option<String>,
    /// UTS namespace mode (`host`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uts: Option<String>,
    /// Default volume driver of the container's volumes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub volume_driver: Option<String>,
    /// Mounts, long syntax; bind sources are absolute.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<VolumeMount>,
    /// `volumes_from` (a `service` form places the service on that service's host).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub volumes_from: Vec<String>,
    /// The working directory inside the container.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<String>,
    /// Service-level `x-` extensions (nap reads `x-nap`).
    #[serde(flatten)]
    pub extensions: BTreeMap<String, serde_json::Value>,
}

/// One `env_file` entry.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EnvFile {
    /// Absolute path of the file.
    pub path: PathBuf,
    /// `required: false` lets the file be missing.
    pub required: bool,
}

/// One `ulimits` entry: a single value (soft = hard) or a soft and hard pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Ulimit {
    /// `nofile: 1024`.
    Single(i64),
    /// `nofile: {soft: 1024, hard: 4096}`.
    Range {
        /// The soft limit.
        soft: i64,
        /// The hard limit.
        hard: i64,
    },
}

impl Ulimit {
    /// (soft, hard).
    pub fn soft_hard(self) -> (i64, i64) {
        match self {
            Ulimit::Single(value) => (value, value),
            Ulimit::Range { soft, hard } => (soft, hard),
        }
    }
}

/// `blkio_config:`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct BlkioConfig {
    /// The default weight, 10 to 1000.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weight: Option<u16>,
    /// Per-device weights.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub weight_device: Vec<BlkioWeight>,
    /// Read rate limits, bytes per second.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub device_read_bps: Vec<BlkioRate>,
    /// Write rate limits, bytes per second.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub device_write_bps: Vec<BlkioRate>,
    /// Read rate limits, operations per second.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub device_read_iops: Vec<BlkioRate>,
    /// Write rate limits, operations per second.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub device_write_iops: Vec<BlkioRate>,
}

/// One device's block I/O weight.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BlkioWeight {
    /// The device path.
    pub path: String,
    /// The weight, 10 to 1000.
    pub weight: u16,
}

/// One device's rate limit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BlkioRate {
    /// The device path.
    pub path: String,
    /// Bytes (a size such as `12mb` read as bytes) or operations per second.
    pub rate: String,
}

/// A top-level secret or config. Only where the value comes from is kept: a file's path, a
/// variable's name, or (configs only) the inline `content`; a secret's value is never read
/// into the model.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct FileObject {
    /// The name (`<project>_<key>` unless set; the key when external and unnamed).
    pub name: String,
    /// The file holding the value, absolute.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// The variable of the deploying environment holding the value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    /// The value itself (configs only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    /// Managed outside the project.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub external: bool,
    /// Labels.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

/// A service's use of a secret or config, long syntax.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServiceFileRef {
    /// The top-level key of the secret or config.
    pub source: String,
    /// The absolute path inside the container (`/run/secrets/<source>` for a secret and
    /// `/<source>` for a config by default).
    pub target: String,
    /// The owner's user ID, as written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    /// The owner's group ID, as written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gid: Option<String>,
    /// The permission bits (`0440` is 288).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<u32>,
}

/// `extends:` as written.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Extends {
    /// The service to extend.
    pub service: String,
    /// The file it lives in (absolute), or the same file when `None`.
    pub file: Option<PathBuf>,
}

/// `build:` in long form: every key Compose accepts that Docker's classic builder (API 1.41,
/// no BuildKit) can honour. Keys that need BuildKit are refused by the parser.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Build {
    /// Build context (an absolute path, or a URL as written; nap refuses URLs when it builds).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
    /// Dockerfile, relative to the context (or absolute).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dockerfile: Option<String>,
    /// The Dockerfile's text, written in the compose file (instead of `dockerfile`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dockerfile_inline: Option<String>,
    /// Build arguments.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub args: BTreeMap<String, Option<String>>,
    /// Build target stage.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// Labels of the built image.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// The network `RUN` steps use (`host`, `none`, `default`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network: Option<String>,
    /// Extra `/etc/hosts` entries of `RUN` steps, `name:address`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub extra_hosts: Vec<String>,
    /// Size of `/dev/shm` of `RUN` steps, as written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shm_size: Option<String>,
    /// Build without the builder's cache.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub no_cache: Option<bool>,
    /// Pull newer base images first.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pull: Option<bool>,
    /// More names the built image gets.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// Images the builder may use as a cache.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cache_from: Vec<String>,
    /// The content hash of the context (files after `.dockerignore`, Dockerfile and the
    /// settings above), filled by the runtime before a deployment is planned; `None` until
    /// then. Not a compose key: never printed, but part of the config hash, so a changed
    /// context recreates the service's containers.
    #[serde(skip)]
    pub context_hash: Option<String>,
}

impl Service {
    /// The image the service runs, as Compose names it: `image:`, else (a service with
    /// `build:`) `<project>-<service>`.
    pub fn image_name(&self, project: &str, service: &str) -> String {
        match &self.image {
            Some(image) => image.clone(),
            None => format!("{project}-{service}"),
        }
    }
}

/// The condition a dependency must meet.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DependsOnCondition {
    /// The dependency's containers have started.
    #[default]
    ServiceStarted,
    /// The dependency's containers report healthy.
    ServiceHealthy,
    /// The dependency's containers exited with status 0.
    ServiceCompletedSuccessfully,
}

impl DependsOnCondition {
    /// The compose spelling of the condition.
    pub fn as_str(self) -> &'static str {
        match self {
            DependsOnCondition::ServiceStarted => "service_started",
            DependsOnCondition::ServiceHealthy => "service_healthy",
            DependsOnCondition::ServiceCompletedSuccessfully => "service_completed_successfully",
        }
    }
}

/// One `depends_on` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DependsOn {
    /// What the dependency must reach first.
    pub condition: DependsOnCondition,
    /// A missing or disabled dependency is an error when `true`, ignored when `false`.
    pub required: bool,
    /// Restart this service when the dependency is updated.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub restart: bool,
}

impl Default for DependsOn {
    fn default() -> Self {
        DependsOn {
            condition: DependsOnCondition::ServiceStarted,
            required: true,
            restart: false,
        }
    }
}

/// A healthcheck.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Healthcheck {
    /// The test, canonical list form (`["CMD-SHELL", "…"]`, `["CMD", …]`, `["NONE"]`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub test: Option<Vec<String>>,
    /// Time between checks, as written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interval: Option<String>,
    /// Time one check may take, as written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
    /// Failures before unhealthy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retries: Option<u64>,
    /// Grace period after start, as written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_period: Option<String>,
    /// Interval during the start period, as written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_interval: Option<String>,
    /// Disable the image's healthcheck.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub disable: bool,
}

/// `deploy:`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Deploy {
    /// `replicated` (default) or `global` (one replica per eligible host).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    /// Number of replicas.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replicas: Option<u32>,
    /// Placement constraints and preferences.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub placement: Option<Placement>,
    /// Resource limits and reservations.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourcesConfig>,
    /// How updates roll out.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub update_config: Option<UpdateConfig>,
    /// How rollbacks roll out.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rollback_config: Option<UpdateConfig>,
    /// Swarm's restart policy, kept as written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restart_policy: Option<serde_json::Value>,
    /// Service labels (not container labels).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

/// `deploy.placement`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Placement {
    /// Constraints, as written (`node.labels.zone==a`); parsed by the scheduler.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub constraints: Vec<String>,
    /// Preferences (`spread: node.labels.zone`), kept as written.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub preferences: Vec<serde_json::Value>,
    /// Maximum replicas per host.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_replicas_per_node: Option<u32>,
}

/// `deploy.resources`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ResourcesConfig {
    /// Hard limits.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limits: Option<Resources>,
    /// What the scheduler reserves on the host.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reservations: Option<Resources>,
}

/// CPUs and memory, as written (`"0.5"`, `"512M"`).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Resources {
    /// CPUs, as a decimal string.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpus: Option<String>,
    /// Memory, with its unit as written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory: Option<String>,
    /// Maximum number of processes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pids: Option<u64>,
}

/// `deploy.update_config` / `deploy.rollback_config`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct UpdateConfig {
    /// Replicas updated at once (0 = all).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parallelism: Option<u64>,
    /// Wait between batches, as written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delay: Option<String>,
    /// `rollback`, `pause` or `continue`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure_action: Option<String>,
    /// How long each new replica is watched for failure, as written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub monitor: Option<String>,
    /// Failures tolerated, as a fraction.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_failure_ratio: Option<f64>,
    /// `stop-first` or `start-first`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order: Option<String>,
}

/// One port, long syntax.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Port {
    /// `ingress` (default) or `host`.
    pub mode: String,
    /// The host address to bind, when one is given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host_ip: Option<String>,
    /// The container port.
    pub target: u16,
    /// The host port or range (`"8080"`, `"8000-8010"`), when published.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub published: Option<String>,
    /// `tcp`, `udp` or `sctp`.
    pub protocol: String,
}

impl Port {
    /// The single fixed host port this entry publishes, if it publishes exactly one.
    pub fn fixed_published_port(&self) -> Option<u16> {
        self.published.as_deref()?.parse().ok()
    }
}

/// One mount, long syntax.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VolumeMount {
    /// `volume`, `bind`, `tmpfs` or `npipe`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Volume name or absolute host path; `None` for anonymous volumes and tmpfs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Path inside the container.
    pub target: String,
    /// Mount read-only.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub read_only: bool,
    /// Bind options (`create_host_path`, `propagation`, `selinux`), as written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bind: Option<serde_json::Value>,
    /// Volume options (`nocopy`), as written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub volume: Option<serde_json::Value>,
    /// tmpfs options (`size`), as written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tmpfs: Option<serde_json::Value>,
    /// Consistency (macOS only; kept).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consistency: Option<String>,
}

/// A service's attachment to one network.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ServiceNetwork {
    /// Extra names the service has on this network.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
    /// A fixed IPv4 address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ipv4_address: Option<String>,
    /// A fixed IPv6 address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ipv6_address: Option<String>,
    /// Connection order priority.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub priority: Option<i64>,
}

/// A top-level network.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Network {
    /// The name on the daemons (`<project>_<key>` unless set or external).
    pub name: String,
    /// Driver (`bridge` by default).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub driver: Option<String>,
    /// Driver options.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub driver_opts: BTreeMap<String, String>,
    /// Managed outside the project: never created or removed.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub external: bool,
    /// No outside connectivity.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub internal: bool,
    /// IPAM as written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ipam: Option<serde_json::Value>,
    /// Network labels.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

/// A top-level volume.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Volume {
    /// The name on the daemons (`<project>_<key>` unless set or external).
    pub name: String,
    /// Driver (`local` by default).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub driver: Option<String>,
    /// Driver options.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub driver_opts: BTreeMap<String, String>,
    /// Managed outside the project: never created or removed.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub external: bool,
    /// Volume labels.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

impl Service {
    /// How many replicas the service wants: `deploy.replicas`, else `scale`, else 1.
    /// (`global` services are sized by the scheduler from the hosts that fit.)
    pub fn replicas(&self) -> u32 {
        self.deploy
            .as_ref()
            .and_then(|deploy| deploy.replicas)
            .or(self.scale)
            .unwrap_or(1)
    }

    /// Whether `deploy.mode: global` asks for one replica on every eligible host.
    pub fn is_global(&self) -> bool {
        self.deploy
            .as_ref()
            .and_then(|deploy| deploy.mode.as_deref())
            == Some("global")
    }

    /// The placement constraints as written.
    pub fn constraints(&self) -> &[String] {
        self.deploy
            .as_ref()
            .and_then(|deploy| deploy.placement.as_ref())
            .map(|placement| placement.constraints.as_slice())
            .unwrap_or(&[])
    }

    /// `update_config`, or the compose defaults.
    pub fn update_config(&self) -> UpdateConfig {
        self.deploy
            .as_ref()
            .and_then(|deploy| deploy.update_config.clone())
            .unwrap_or_default()
    }

    /// The service another service must share a host with: `network_mode: service:X`,
    /// `ipc: service:X`, `pid: service:X` or `volumes_from: X`.
    pub fn colocated_with(&self) -> Option<&str> {
        fn service_ref(value: &Option<String>) -> Option<&str> {
            value
                .as_deref()
                .and_then(|mode| mode.strip_prefix("service:"))
        }
        service_ref(&self.network_mode)
            .or_else(|| service_ref(&self.ipc))
            .or_else(|| service_ref(&self.pid))
            .or_else(|| {
                self.volumes_from.iter().find_map(|entry| {
                    if entry.starts_with("container:") {
                        None
                    } else {
                        Some(entry.split(':').next().unwrap_or(entry))
                    }
                })
            })
    }
}
