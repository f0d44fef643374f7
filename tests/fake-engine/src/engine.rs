//! One fake Docker Engine's state and the API calls that read and change it.
//!
//! An [`Engine`] holds containers, networks, volumes, images and execs in memory and answers
//! [`Call`]s (method, path without the `/v1.xx` prefix, query, body) with [`Reply`]s, the way
//! dockerd answers the subset of the Engine API that nap uses: JSON in Docker's field names,
//! labels kept, container states, addresses assigned from the network's subnet at start
//! (a fixed `IPAMConfig` address, else the lowest free one), a hosts file written at start
//! from `ExtraHosts`, a healthcheck reported healthy after start (or after
//! `healthy_after`), the `true` and `false` commands exiting 0 and 1 at once, Docker's status
//! codes for conflicts and missing objects. Every image pulled or preloaded is present.
//!
//! It does no I/O and knows nothing of HTTP, sockets or latency (that is `server.rs`); it
//! runs no process: a "running" container is a flag.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::value::RawValue;
use serde_json::{Map, Value, json};

/// The API version the fake speaks (bollard negotiates down to it).
pub const API_VERSION: &str = "1.47";

/// A request, as the server hands it over.
#[derive(Debug, Clone)]
pub struct Call {
    /// `GET`, `POST`, `DELETE`, `HEAD`…
    pub method: String,
    /// Path without the `/v1.xx` prefix: `/containers/json`.
    pub path: String,
    /// Decoded query parameters.
    pub query: Vec<(String, String)>,
    /// Request body.
    pub body: Vec<u8>,
}

impl Call {
    /// A `GET` of `path` with `query`.
    pub fn get(path: &str, query: &[(&str, &str)]) -> Call {
        Call {
            method: "GET".to_string(),
            path: path.to_string(),
            query: query
                .iter()
                .map(|(key, value)| (key.to_string(), value.to_string()))
                .collect(),
            body: Vec::new(),
        }
    }

    fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    fn flag(&self, name: &str) -> bool {
        matches!(self.param(name), Some("1" | "true" | "True"))
    }
}

impl Reply {
    /// The JSON body, for JSON replies.
    pub fn json(&self) -> Option<Value> {
        match self {
            Reply::Json(_, value) => Some(value.clone()),
            Reply::RawJson(_, text) => serde_json::from_str(text).ok(),
            _ => None,
        }
    }
}

/// What the server sends back.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// A JSON body with a status code.
    Json(u16, Value),
    /// A JSON body already serialized (large inspect answers, spliced without re-parsing).
    RawJson(u16, String),
    /// No body (204, 304).
    Empty(u16),
    /// Raw bytes with a content type (tar archives, log streams, `_ping`).
    Bytes(u16, &'static str, Vec<u8>),
    /// A stream of JSON objects (a pull's progress), sent whole.
    JsonLines(u16, Vec<Value>),
    /// The event stream, filtered: the server subscribes and keeps the connection open.
    Events(EventFilter),
    /// `POST /exec/{id}/start` attached: the server upgrades the connection, reads stdin
    /// when `stdin` is set, then calls [`Engine::finish_exec`].
    ExecAttach {
        /// Exec id.
        id: String,
        /// Whether the exec reads stdin (the client shuts its side down when done).
        stdin: bool,
    },
}

fn error(status: u16, message: impl Into<String>) -> Reply {
    Reply::Json(status, json!({ "message": message.into() }))
}

/// Which events a `GET /events` subscriber wants.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EventFilter {
    types: Vec<String>,
    actions: Vec<String>,
    labels: Vec<String>,
    containers: Vec<String>,
}

impl EventFilter {
    /// Whether `event` (an event message as sent) passes.
    pub fn matches(&self, event: &Value) -> bool {
        let text = |key: &str| event.get(key).and_then(Value::as_str).unwrap_or("");
        let attributes = event
            .pointer("/Actor/Attributes")
            .and_then(Value::as_object);
        let attribute = |key: &str| {
            attributes
                .and_then(|a| a.get(key))
                .and_then(Value::as_str)
                .map(str::to_string)
        };
        (self.types.is_empty() || self.types.iter().any(|t| t == text("Type")))
            && (self.actions.is_empty() || self.actions.iter().any(|a| a == text("Action")))
            && self.labels.iter().all(|label| match label.split_once('=') {
                Some((key, value)) => attribute(key).as_deref() == Some(value),
                None => attribute(label).is_some(),
            })
            && (self.containers.is_empty()
                || self.containers.iter().any(|c| {
                    attribute("name").as_deref() == Some(c.as_str())
                        || event
                            .pointer("/Actor/ID")
                            .and_then(Value::as_str)
                            .is_some_and(|id| id.starts_with(c.as_str()))
                }))
    }
}

/// Docker's `filters` query parameter: `{"label": ["a=b"]}` or `{"label": {"a=b": true}}`.
fn parse_filters(text: Option<&str>) -> BTreeMap<String, Vec<String>> {
    let Some(text) = text.filter(|text| !text.is_empty()) else {
        return BTreeMap::new();
    };
    let Ok(Value::Object(map)) = serde_json::from_str::<Value>(text) else {
        return BTreeMap::new();
    };
    map.into_iter()
        .map(|(key, value)| {
            let values = match value {
                Value::Array(items) => items
                    .into_iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect(),
                Value::Object(set) => set.into_iter().map(|(k, _)| k).collect(),
                Value::String(single) => vec![single],
                _ => Vec::new(),
            };
            (key, values)
        })
        .collect()
}

/// An IPv4 network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Subnet {
    base: u32,
    prefix: u8,
}

impl Subnet {
    fn parse(text: &str) -> Option<Subnet> {
        let (address, prefix) = text.split_once('/')?;
        let address: Ipv4Addr = address.parse().ok()?;
        let prefix: u8 = prefix.parse().ok().filter(|p| *p <= 32)?;
        let subnet = Subnet {
            base: u32::from(address) & Subnet::mask_of(prefix),
            prefix,
        };
        Some(subnet)
    }

    fn mask_of(prefix: u8) -> u32 {
        if prefix == 0 {
            0
        } else {
            u32::MAX << (32 - u32::from(prefix))
        }
    }

    fn contains(&self, address: u32) -> bool {
        address & Subnet::mask_of(self.prefix) == self.base
    }

    fn overlaps(&self, other: &Subnet) -> bool {
        self.contains(other.base) || other.contains(self.base)
    }

    fn size(&self) -> u64 {
        1u64 << (32 - u32::from(self.prefix))
    }

    fn address(&self, offset: u32) -> Ipv4Addr {
        Ipv4Addr::from(self.base + offset)
    }
}

impl std::fmt::Display for Subnet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", Ipv4Addr::from(self.base), self.prefix)
    }
}

#[derive(Debug, Clone)]
struct Network {
    id: String,
    name: String,
    driver: String,
    /// `None` for `host` and `none`.
    subnet: Option<Subnet>,
    gateway: Option<Ipv4Addr>,
    labels: Value,
    options: Value,
    internal: bool,
    attachable: bool,
    created: SystemTime,
    /// Addresses held by running containers (and the gateway).
    used: BTreeSet<u32>,
}

#[derive(Debug, Clone)]
struct Endpoint {
    network_id: String,
    aliases: Vec<String>,
    fixed: Option<Ipv4Addr>,
    ipam: Value,
    /// While running.
    ip: Option<Ipv4Addr>,
    endpoint_id: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Created,
    Running,
    Exited(i64),
}

#[derive(Debug, Clone)]
struct Container {
    id: String,
    name: String,
    image: String,
    image_id: String,
    cmd: Vec<String>,
    labels: Map<String, Value>,
    /// The create body's top level without `HostConfig` and `NetworkingConfig`.
    config: Map<String, Value>,
    /// `HostConfig` as the create body had it, verbatim (it holds nap's whole name table in
    /// `ExtraHosts`: kept as text, so neither create nor inspect builds a tree of it).
    host_config: String,
    network_mode: String,
    hostname: String,
    healthcheck: bool,
    /// Network name → endpoint, in connection order.
    endpoints: Vec<(String, Endpoint)>,
    state: State,
    created: SystemTime,
    started_at: Option<SystemTime>,
    finished_at: Option<SystemTime>,
    restart_count: i64,
    /// Written by an exec; `None`: the file Docker writes at start from `ExtraHosts`.
    hosts_file: Option<Vec<u8>>,
    /// Bind mounts (`Binds`, and `Mounts` of type bind), as (host path, container path).
    binds: Vec<(String, String)>,
    /// Files put into its own file system (`PUT archive`), by absolute path.
    files: BTreeMap<String, Vec<u8>>,
}

impl Container {
    /// Where `path` inside the container is on the host, through its bind mounts.
    fn host_path(&self, path: &str) -> Option<String> {
        self.binds.iter().find_map(|(source, target)| {
            if path == target {
                Some(source.clone())
            } else {
                path.strip_prefix(&format!("{}/", target.trim_end_matches('/')))
                    .map(|rest| format!("{}/{rest}", source.trim_end_matches('/')))
            }
        })
    }
}

/// The bind mounts of a `HostConfig` (as text): `Binds` and `Mounts` of type bind.
fn binds_of(host_config: &str) -> Vec<(String, String)> {
    #[derive(serde::Deserialize)]
    struct Mount {
        #[serde(rename = "Type")]
        typ: Option<String>,
        #[serde(rename = "Source")]
        source: Option<String>,
        #[serde(rename = "Target")]
        target: Option<String>,
    }
    #[derive(serde::Deserialize)]
    struct Mounts {
        #[serde(rename = "Binds")]
        binds: Option<Vec<String>>,
        #[serde(rename = "Mounts")]
        mounts: Option<Vec<Mount>>,
    }
    let Ok(parsed) = serde_json::from_str::<Mounts>(host_config) else {
        return Vec::new();
    };
    let mut binds: Vec<(String, String)> = parsed
        .binds
        .unwrap_or_default()
        .iter()
        .filter_map(|bind| {
            let mut parts = bind.splitn(3, ':');
            Some((parts.next()?.to_string(), parts.next()?.to_string()))
        })
        .collect();
    for mount in parsed.mounts.unwrap_or_default() {
        if mount.typ.as_deref() == Some("bind")
            && let (Some(source), Some(target)) = (mount.source, mount.target)
        {
            binds.push((source, target));
        }
    }
    binds
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

impl Container {
    fn health(&self, healthy_after: Duration, now: SystemTime) -> Option<&'static str> {
        if !self.healthcheck {
            return None;
        }
        match self.state {
            State::Running => {
                let up = self
                    .started_at
                    .and_then(|started| now.duration_since(started).ok())
                    .unwrap_or_default();
                Some(if up >= healthy_after {
                    "healthy"
                } else {
                    "starting"
                })
            }
            _ => Some("unhealthy"),
        }
    }

    fn state_name(&self) -> &'static str {
        match self.state {
            State::Created => "created",
            State::Running => "running",
            State::Exited(_) => "exited",
        }
    }

    fn status_text(&self, healthy_after: Duration, now: SystemTime) -> String {
        match self.state {
            State::Created => "Created".to_string(),
            State::Running => {
                let up = self
                    .started_at
                    .and_then(|started| now.duration_since(started).ok())
                    .unwrap_or_default();
                let health = match self.health(healthy_after, now) {
                    Some("healthy") => " (healthy)",
                    Some("starting") => " (health: starting)",
                    Some(_) => " (unhealthy)",
                    None => "",
                };
                format!("Up {}{health}", human_duration(up))
            }
            State::Exited(code) => {
                let ago = self
                    .finished_at
                    .and_then(|finished| now.duration_since(finished).ok())
                    .unwrap_or_default();
                format!("Exited ({code}) {} ago", human_duration(ago))
            }
        }
    }
}

#[derive(Debug, Clone)]
struct Exec {
    container: String,
    cmd: Vec<String>,
    stdin: bool,
    running: bool,
    exit_code: Option<i64>,
}

#[derive(Debug, Clone)]
struct Volume {
    name: String,
    driver: String,
    labels: Value,
    options: Value,
    created: SystemTime,
}

/// Settings of every engine of a fake.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Images present from the start (`busybox:latest`); pulls add more.
    pub images: Vec<String>,
    /// How long after start a container with a healthcheck reports `healthy`.
    pub healthy_after: Duration,
}

impl Default for EngineConfig {
    fn default() -> EngineConfig {
        EngineConfig {
            images: vec!["busybox:latest".to_string()],
            healthy_after: Duration::ZERO,
        }
    }
}

/// One fake engine. See the module documentation.
#[derive(Debug)]
pub struct Engine {
    name: String,
    config: EngineConfig,
    containers: BTreeMap<String, Container>,
    /// Container name → id.
    names: BTreeMap<String, String>,
    networks: BTreeMap<String, Network>,
    volumes: BTreeMap<String, Volume>,
    /// Reference (`name:tag`) → image id.
    images: BTreeMap<String, String>,
    execs: BTreeMap<String, Exec>,
    /// The host's files that helper containers wrote through bind mounts, by path.
    host_files: BTreeMap<String, Vec<u8>>,
    next_id: u64,
    seed: u64,
    /// Events not yet handed to the server's broadcast.
    pending_events: Vec<Value>,
}

/// `busybox` → `busybox:latest`; digests and tags stay.
pub fn normalize_reference(reference: &str) -> String {
    let last = reference.rsplit('/').next().unwrap_or(reference);
    if reference.contains('@') || last.contains(':') {
        reference.to_string()
    } else {
        format!("{reference}:latest")
    }
}

fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

fn unix_seconds(time: SystemTime) -> i64 {
    time.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// RFC 3339 with nanoseconds, UTC, as Docker prints times.
pub fn rfc3339(time: SystemTime) -> String {
    let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let seconds = since.as_secs() as i64;
    let days = seconds.div_euclid(86_400);
    let of_day = seconds.rem_euclid(86_400);
    // Civil from days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:09}Z",
        of_day / 3600,
        of_day % 3600 / 60,
        of_day % 60,
        since.subsec_nanos()
    )
}

/// Docker's `HumanDuration` (`Less than a second`, `3 seconds`, `About a minute`…).
fn human_duration(duration: Duration) -> String {
    let seconds = duration.as_secs();
    match seconds {
        0 => "Less than a second".to_string(),
        1 => "1 second".to_string(),
        2..=59 => format!("{seconds} seconds"),
        60..=119 => "About a minute".to_string(),
        120..=3599 => format!("{} minutes", seconds / 60),
        3600..=7199 => "About an hour".to_string(),
        _ => format!("{} hours", seconds / 3600),
    }
}

fn strings(value: Option<&Value>) -> Vec<String> {
    match value {
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect(),
        Some(Value::String(single)) => vec![single.clone()],
        _ => Vec::new(),
    }
}

fn object(value: Option<&Value>) -> Map<String, Value> {
    match value {
        Some(Value::Object(map)) => map.clone(),
        _ => Map::new(),
    }
}

impl Engine {
    /// An engine named `name` (it appears in `/info` and ids), with Docker's default
    /// `bridge`, `host` and `none` networks.
    pub fn new(name: &str, config: EngineConfig) -> Engine {
        let seed = name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |hash, byte| {
            (hash ^ u64::from(byte)).wrapping_mul(0x100_0000_01b3)
        });
        let mut engine = Engine {
            name: name.to_string(),
            config: config.clone(),
            containers: BTreeMap::new(),
            names: BTreeMap::new(),
            networks: BTreeMap::new(),
            volumes: BTreeMap::new(),
            images: BTreeMap::new(),
            execs: BTreeMap::new(),
            host_files: BTreeMap::new(),
            next_id: 0,
            seed,
            pending_events: Vec::new(),
        };
        for image in &config.images {
            let id = format!("sha256:{}", engine.new_id());
            engine.images.insert(normalize_reference(image), id);
        }
        for (name, driver, subnet) in [
            ("bridge", "bridge", Some("172.17.0.0/16")),
            ("host", "host", None),
            ("none", "null", None),
        ] {
            let subnet = subnet.and_then(Subnet::parse);
            let id = engine.new_id();
            let gateway = subnet.map(|s| s.address(1));
            engine.networks.insert(
                id.clone(),
                Network {
                    id,
                    name: name.to_string(),
                    driver: driver.to_string(),
                    subnet,
                    gateway,
                    labels: json!({}),
                    options: json!({}),
                    internal: false,
                    attachable: false,
                    created: SystemTime::now(),
                    used: gateway.map(u32::from).into_iter().collect(),
                },
            );
        }
        engine
    }

    /// A new 64-hex-digit id.
    fn new_id(&mut self) -> String {
        self.next_id += 1;
        let a = splitmix(self.seed ^ self.next_id);
        let b = splitmix(a);
        let c = splitmix(b);
        let d = splitmix(c);
        format!("{a:016x}{b:016x}{c:016x}{d:016x}")
    }

    /// Events produced since the last call, for the server to broadcast.
    pub fn take_events(&mut self) -> Vec<Value> {
        std::mem::take(&mut self.pending_events)
    }

    fn event(&mut self, container: &Container, action: &str) {
        let now = SystemTime::now();
        let since = now.duration_since(UNIX_EPOCH).unwrap_or_default();
        let mut attributes = container.labels.clone();
        attributes.insert("name".to_string(), json!(container.name));
        attributes.insert("image".to_string(), json!(container.image));
        self.pending_events.push(json!({
            "Type": "container",
            "Action": action,
            "status": action,
            "id": container.id,
            "from": container.image,
            "Actor": {"ID": container.id, "Attributes": attributes},
            "scope": "local",
            "time": since.as_secs(),
            "timeNano": since.as_nanos() as i64,
        }));
    }

    fn container_id(&self, reference: &str) -> Option<String> {
        if let Some(id) = self.names.get(reference.trim_start_matches('/')) {
            return Some(id.clone());
        }
        if self.containers.contains_key(reference) {
            return Some(reference.to_string());
        }
        if reference.len() >= 4 {
            let mut matches = self
                .containers
                .range(reference.to_string()..)
                .take_while(|(id, _)| id.starts_with(reference));
            let first = matches.next().map(|(id, _)| id.clone());
            if matches.next().is_none() {
                return first;
            }
        }
        None
    }

    fn network_id(&self, reference: &str) -> Option<String> {
        if self.networks.contains_key(reference) {
            return Some(reference.to_string());
        }
        if let Some(network) = self.networks.values().find(|n| n.name == reference) {
            return Some(network.id.clone());
        }
        let mut matches = self.networks.keys().filter(|id| id.starts_with(reference));
        match (matches.next(), matches.next()) {
            (Some(id), None) if reference.len() >= 4 => Some(id.clone()),
            _ => None,
        }
    }

    /// Answers one API call.
    pub fn handle(&mut self, call: &Call) -> Reply {
        let segments: Vec<&str> = call.path.trim_matches('/').split('/').collect();
        let method = call.method.as_str();
        match (method, segments.as_slice()) {
            ("GET" | "HEAD", ["_ping"]) => Reply::Bytes(200, "text/plain", b"OK".to_vec()),
            ("GET", ["version"]) => Reply::Json(200, self.version()),
            ("GET", ["info"]) => Reply::Json(200, self.info()),
            ("GET", ["events"]) => Reply::Events(self.event_filter(call)),
            ("GET", ["containers", "json"]) => self.list_containers(call),
            ("POST", ["containers", "create"]) => self.create_container(call),
            ("GET", ["containers", id, "json"]) => self.inspect_container(id),
            ("POST", ["containers", id, "start"]) => {
                let reply = self.start_container(id);
                self.run_helper(id);
                reply
            }
            ("POST", ["containers", id, "wait"]) => match self.container_id(id) {
                Some(id) => {
                    let code = match self.containers[&id].state {
                        State::Exited(code) => code,
                        _ => 0,
                    };
                    Reply::Json(200, json!({"StatusCode": code}))
                }
                None => error(404, format!("No such container: {id}")),
            },
            ("PUT", ["containers", id, "archive"]) => self.put_archive(id, call),
            ("POST", ["containers", id, "stop"]) => self.stop_container(id, 0),
            ("POST", ["containers", id, "kill"]) => self.stop_container(id, 137),
            ("POST", ["containers", id, "restart"]) => {
                let _ = self.stop_container(id, 0);
                self.start_container(id)
            }
            ("DELETE", ["containers", id]) => self.remove_container(id, call),
            ("POST", ["containers", id, "rename"]) => self.rename_container(id, call),
            ("GET", ["containers", id, "logs"]) => self.logs(id),
            ("GET" | "HEAD", ["containers", id, "archive"]) => self.archive(id, call),
            ("POST", ["containers", id, "exec"]) => self.create_exec(id, call),
            ("POST", ["exec", id, "start"]) => self.start_exec(id, call),
            ("GET", ["exec", id, "json"]) => self.inspect_exec(id),
            ("GET", ["networks"]) => self.list_networks(call),
            ("POST", ["networks", "create"]) => self.create_network(call),
            ("GET", ["networks", id]) => self.inspect_network(id),
            ("POST", ["networks", id, "connect"]) => self.connect_network(id, call),
            ("POST", ["networks", id, "disconnect"]) => self.disconnect_network(id, call),
            ("DELETE", ["networks", id]) => self.remove_network(id),
            ("GET", ["volumes"]) => self.list_volumes(),
            ("POST", ["volumes", "create"]) => self.create_volume(call),
            ("GET", ["volumes", name]) => match self.volumes.get(*name) {
                Some(volume) => Reply::Json(200, volume_json(volume)),
                None => error(404, format!("get {name}: no such volume")),
            },
            ("DELETE", ["volumes", name]) => self.remove_volume(name),
            ("GET", ["images", "json"]) => self.list_images(),
            ("POST", ["images", "create"]) => self.pull(call),
            ("GET", ["images", rest @ .., "json"]) if !rest.is_empty() => {
                self.inspect_image(&rest.join("/"))
            }
            _ => error(
                404,
                format!(
                    "page not found (the fake engine does not implement {method} {})",
                    call.path
                ),
            ),
        }
    }

    fn version(&self) -> Value {
        json!({
            "Platform": {"Name": "nap fake engine"},
            "Components": [{"Name": "Engine", "Version": "27.0.0-fake", "Details": {"ApiVersion": API_VERSION}}],
            "Version": "27.0.0-fake",
            "ApiVersion": API_VERSION,
            "MinAPIVersion": "1.24",
            "GitCommit": "fake",
            "GoVersion": "none",
            "Os": "linux",
            "Arch": "amd64",
            "KernelVersion": "fake",
            "BuildTime": rfc3339(UNIX_EPOCH),
        })
    }

    fn info(&self) -> Value {
        let running = self
            .containers
            .values()
            .filter(|c| c.state == State::Running)
            .count();
        json!({
            "ID": self.name,
            "Name": self.name,
            "Containers": self.containers.len(),
            "ContainersRunning": running,
            "ContainersPaused": 0,
            "ContainersStopped": self.containers.len() - running,
            "Images": self.images.len(),
            "Driver": "overlay2",
            "ServerVersion": "27.0.0-fake",
            "OperatingSystem": "nap fake engine",
            "OSType": "linux",
            "Architecture": "x86_64",
            "NCPU": 2,
            "MemTotal": 8_589_934_592u64,
            "SystemTime": rfc3339(SystemTime::now()),
        })
    }

    fn event_filter(&self, call: &Call) -> EventFilter {
        let filters = parse_filters(call.param("filters"));
        let get = |key: &str| filters.get(key).cloned().unwrap_or_default();
        EventFilter {
            types: get("type"),
            actions: get("event"),
            labels: get("label"),
            containers: get("container"),
        }
    }

    fn endpoints_json(&self, container: &Container) -> Value {
        let mut networks = Map::new();
        for (name, endpoint) in &container.endpoints {
            let network = self.networks.get(&endpoint.network_id);
            let prefix = network.and_then(|n| n.subnet).map_or(0, |s| s.prefix);
            let gateway = network
                .and_then(|n| n.gateway)
                .filter(|_| endpoint.ip.is_some())
                .map(|g| g.to_string())
                .unwrap_or_default();
            let running = endpoint.ip.is_some();
            networks.insert(
                name.clone(),
                json!({
                    "IPAMConfig": endpoint.ipam,
                    "Links": null,
                    "Aliases": endpoint.aliases,
                    "MacAddress": endpoint.ip.map(mac_address).unwrap_or_default(),
                    "NetworkID": endpoint.network_id,
                    "EndpointID": if running { endpoint.endpoint_id.clone() } else { String::new() },
                    "Gateway": gateway,
                    "IPAddress": endpoint.ip.map(|ip| ip.to_string()).unwrap_or_default(),
                    "IPPrefixLen": if running { prefix } else { 0 },
                    "IPv6Gateway": "",
                    "GlobalIPv6Address": "",
                    "GlobalIPv6PrefixLen": 0,
                    "DNSNames": null,
                }),
            );
        }
        Value::Object(networks)
    }

    fn summary(&self, container: &Container, now: SystemTime) -> Value {
        json!({
            "Id": container.id,
            "Names": [format!("/{}", container.name)],
            "Image": container.image,
            "ImageID": container.image_id,
            "Command": container.cmd.join(" "),
            "Created": unix_seconds(container.created),
            "Ports": [],
            "Labels": container.labels,
            "State": container.state_name(),
            "Status": container.status_text(self.config.healthy_after, now),
            "HostConfig": {"NetworkMode": container.network_mode},
            "NetworkSettings": {"Networks": self.endpoints_json(container)},
            "Mounts": [],
        })
    }

    fn list_containers(&self, call: &Call) -> Reply {
        let filters = parse_filters(call.param("filters"));
        let all = call.flag("all");
        let now = SystemTime::now();
        let labels = filters.get("label").cloned().unwrap_or_default();
        let names = filters.get("name").cloned().unwrap_or_default();
        let ids = filters.get("id").cloned().unwrap_or_default();
        let statuses = filters.get("status").cloned().unwrap_or_default();
        let mut rows: Vec<(&Container, Value)> = self
            .containers
            .values()
            .filter(|c| all || c.state == State::Running || !statuses.is_empty())
            .filter(|c| {
                labels.iter().all(|label| match label.split_once('=') {
                    Some((key, value)) => c.labels.get(key).and_then(Value::as_str) == Some(value),
                    None => c.labels.contains_key(label),
                })
            })
            .filter(|c| {
                names.is_empty()
                    || names
                        .iter()
                        .any(|n| c.name.contains(n.trim_start_matches('/')))
            })
            .filter(|c| ids.is_empty() || ids.iter().any(|id| c.id.starts_with(id.as_str())))
            .filter(|c| statuses.is_empty() || statuses.iter().any(|s| s == c.state_name()))
            .map(|c| (c, self.summary(c, now)))
            .collect();
        // Newest first, as Docker lists.
        rows.sort_by(|a, b| (b.0.created, &b.0.id).cmp(&(a.0.created, &a.0.id)));
        Reply::Json(
            200,
            Value::Array(rows.into_iter().map(|(_, v)| v).collect()),
        )
    }

    fn create_container(&mut self, call: &Call) -> Reply {
        let Ok(mut raw) = serde_json::from_slice::<BTreeMap<String, Box<RawValue>>>(&call.body)
        else {
            return error(400, "invalid JSON in the create body");
        };
        let host_config = raw
            .remove("HostConfig")
            .map(|raw| raw.get().to_string())
            .filter(|text| text.starts_with('{'))
            .unwrap_or_else(|| "{}".to_string());
        let networking: Option<Value> = raw
            .remove("NetworkingConfig")
            .and_then(|raw| serde_json::from_str(raw.get()).ok());
        let mut body = Map::new();
        for (key, value) in raw {
            match serde_json::from_str::<Value>(value.get()) {
                Ok(value) => {
                    body.insert(key, value);
                }
                Err(_) => return error(400, format!("invalid JSON in the create body at {key}")),
            }
        }
        #[derive(serde::Deserialize)]
        struct Mode {
            #[serde(rename = "NetworkMode")]
            network_mode: Option<String>,
        }
        let mode: Mode = match serde_json::from_str(&host_config) {
            Ok(mode) => mode,
            Err(cause) => return error(400, format!("invalid HostConfig: {cause}")),
        };
        let name = match call.param("name") {
            Some(name) if !name.is_empty() => name.trim_start_matches('/').to_string(),
            _ => format!("fake_{}", self.next_id + 1),
        };
        if let Some(id) = self.names.get(&name) {
            return error(
                409,
                format!(
                    "Conflict. The container name \"/{name}\" is already in use by container \"{id}\". You have to remove (or rename) that container to be able to reuse that name."
                ),
            );
        }
        let image = body
            .get("Image")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let Some(image_id) = self.images.get(&normalize_reference(&image)).cloned() else {
            return error(404, format!("No such image: {image}"));
        };
        let mode = mode
            .network_mode
            .filter(|mode| !mode.is_empty() && *mode != "default")
            .unwrap_or_else(|| "bridge".to_string());
        let endpoint_settings = object(
            networking
                .as_ref()
                .and_then(|n| n.get("EndpointsConfig"))
                .and_then(|e| e.get(&mode)),
        );
        let mut endpoints = Vec::new();
        let attaches = !(mode == "host"
            || mode == "none"
            || mode.starts_with("container:")
            || mode.starts_with("service:"));
        if attaches {
            let Some(network_id) = self.network_id(&mode) else {
                return error(404, format!("network {mode} not found"));
            };
            match self.endpoint(&network_id, &endpoint_settings) {
                Ok(endpoint) => endpoints.push((self.networks[&network_id].name.clone(), endpoint)),
                Err(reply) => return reply,
            }
        }
        let cmd = strings(body.get("Cmd"));
        let labels = object(body.get("Labels"));
        let healthcheck = body
            .get("Healthcheck")
            .and_then(|h| h.get("Test"))
            .map(|test| strings(Some(test)))
            .is_some_and(|test| test.first().is_some_and(|word| word != "NONE"));
        let id = self.new_id();
        let hostname = body
            .get("Hostname")
            .and_then(Value::as_str)
            .filter(|h| !h.is_empty())
            .map(str::to_string)
            .unwrap_or_else(|| id[..12].to_string());
        let binds = binds_of(&host_config);
        let container = Container {
            id: id.clone(),
            name: name.clone(),
            image,
            image_id,
            cmd,
            labels,
            config: body,
            host_config,
            network_mode: mode,
            hostname,
            healthcheck,
            endpoints,
            state: State::Created,
            created: SystemTime::now(),
            started_at: None,
            finished_at: None,
            restart_count: 0,
            hosts_file: None,
            binds,
            files: BTreeMap::new(),
        };
        self.event(&container, "create");
        self.names.insert(name, id.clone());
        self.containers.insert(id.clone(), container);
        Reply::Json(201, json!({"Id": id, "Warnings": []}))
    }

    /// An endpoint on `network_id` from an `EndpointSettings` object, checked.
    fn endpoint(
        &mut self,
        network_id: &str,
        settings: &Map<String, Value>,
    ) -> Result<Endpoint, Reply> {
        let network = &self.networks[network_id];
        let ipam = settings.get("IPAMConfig").cloned().unwrap_or(Value::Null);
        let fixed = ipam
            .get("IPv4Address")
            .and_then(Value::as_str)
            .filter(|a| !a.is_empty())
            .map(|a| {
                a.parse::<Ipv4Addr>()
                    .map_err(|_| error(400, format!("invalid IPv4 address: {a}")))
            })
            .transpose()?;
        if let Some(address) = fixed
            && !network
                .subnet
                .is_some_and(|s| s.contains(u32::from(address)))
        {
            return Err(error(
                400,
                format!(
                    "invalid endpoint settings: no configured subnet or ip-range contain the IP address {address}"
                ),
            ));
        }
        let aliases = strings(settings.get("Aliases"));
        let endpoint_id = self.new_id();
        Ok(Endpoint {
            network_id: network_id.to_string(),
            aliases,
            fixed,
            ipam,
            ip: None,
            endpoint_id,
        })
    }

    fn inspect_container(&self, reference: &str) -> Reply {
        let Some(id) = self.container_id(reference) else {
            return error(404, format!("No such container: {reference}"));
        };
        let container = &self.containers[&id];
        let now = SystemTime::now();
        let health = container
            .health(self.config.healthy_after, now)
            .map(|status| json!({"Status": status, "FailingStreak": 0, "Log": []}));
        let (exit_code, running) = match container.state {
            State::Exited(code) => (code, false),
            State::Running => (0, true),
            State::Created => (0, false),
        };
        let mut config = container.config.clone();
        config.insert("Hostname".to_string(), json!(container.hostname));
        config.insert(
            "Labels".to_string(),
            Value::Object(container.labels.clone()),
        );
        let base = format!("/var/lib/docker/containers/{}", container.id);
        let inspect = json!({
                "Id": container.id,
                "Created": rfc3339(container.created),
                "Path": container.cmd.first().cloned().unwrap_or_default(),
                "Args": container.cmd.iter().skip(1).collect::<Vec<_>>(),
                "State": {
                    "Status": container.state_name(),
                    "Running": running,
                    "Paused": false,
                    "Restarting": false,
                    "OOMKilled": false,
                    "Dead": false,
                    "Pid": if running { 1000 } else { 0 },
                    "ExitCode": exit_code,
                    "Error": "",
                    "StartedAt": container.started_at.map(rfc3339).unwrap_or_else(|| rfc3339(UNIX_EPOCH)),
                    "FinishedAt": container.finished_at.map(rfc3339).unwrap_or_else(|| rfc3339(UNIX_EPOCH)),
                    "Health": health,
                },
                "Image": container.image_id,
                "ResolvConfPath": format!("{base}/resolv.conf"),
                "HostnamePath": format!("{base}/hostname"),
                "HostsPath": format!("{base}/hosts"),
                "LogPath": format!("{base}/{}-json.log", container.id),
                "Name": format!("/{}", container.name),
                "RestartCount": container.restart_count,
                "Driver": "overlay2",
                "Platform": "linux",
                "MountLabel": "",
                "ProcessLabel": "",
                "AppArmorProfile": "",
                "Config": config,
                "NetworkSettings": {
                    "Bridge": "",
                    "SandboxID": "",
                    "Ports": {},
                    "SandboxKey": "",
                    "Networks": self.endpoints_json(container),
                },
                "Mounts": [],
        });
        // `HostConfig` goes in verbatim, after the rest (a JSON object's key order is free).
        let mut text = inspect.to_string();
        text.pop();
        text.push_str(",\"HostConfig\":");
        text.push_str(&container.host_config);
        text.push('}');
        Reply::RawJson(200, text)
    }

    fn start_container(&mut self, reference: &str) -> Reply {
        let Some(id) = self.container_id(reference) else {
            return error(404, format!("No such container: {reference}"));
        };
        if self.containers[&id].state == State::Running {
            return Reply::Empty(304);
        }
        // Addresses: fixed ones must be free, the others take the lowest free.
        let mut assigned: Vec<(String, u32)> = Vec::new();
        for (_, endpoint) in &self.containers[&id].endpoints {
            let network = &self.networks[&endpoint.network_id];
            let Some(subnet) = network.subnet else {
                continue;
            };
            let taken = |address: u32| {
                network.used.contains(&address)
                    || assigned
                        .iter()
                        .any(|(n, a)| *n == endpoint.network_id && *a == address)
            };
            let address = match endpoint.fixed {
                Some(fixed) => {
                    let fixed = u32::from(fixed);
                    if taken(fixed) {
                        return error(
                            500,
                            format!(
                                "failed to set up container networking: Address already in use ({} on {})",
                                Ipv4Addr::from(fixed),
                                network.name
                            ),
                        );
                    }
                    fixed
                }
                None => {
                    let free = (2..subnet.size().saturating_sub(1))
                        .map(|offset| subnet.base + offset as u32)
                        .find(|address| !taken(*address));
                    match free {
                        Some(address) => address,
                        None => {
                            return error(
                                500,
                                format!("no available IPv4 addresses on network {}", network.name),
                            );
                        }
                    }
                }
            };
            assigned.push((endpoint.network_id.clone(), address));
        }
        for (network_id, address) in &assigned {
            if let Some(network) = self.networks.get_mut(network_id) {
                network.used.insert(*address);
            }
        }
        let container = self.containers.get_mut(&id).expect("looked up above");
        for (endpoint, (_, address)) in container
            .endpoints
            .iter_mut()
            .filter(|(_, e)| assigned.iter().any(|(n, _)| *n == e.network_id))
            .zip(&assigned)
        {
            endpoint.1.ip = Some(Ipv4Addr::from(*address));
        }
        let now = SystemTime::now();
        container.started_at = Some(now);
        container.hosts_file = None;
        let exit = match container.cmd.as_slice() {
            [only] if only == "true" => Some(0),
            [only] if only == "false" => Some(1),
            _ => None,
        };
        container.state = State::Running;
        let snapshot = container.clone();
        self.event(&snapshot, "start");
        if let Some(code) = exit {
            self.exit(&id, code);
        }
        Reply::Empty(204)
    }

    /// The container's process ended with `code`: addresses are released.
    fn exit(&mut self, id: &str, code: i64) {
        let Some(container) = self.containers.get_mut(id) else {
            return;
        };
        container.state = State::Exited(code);
        container.finished_at = Some(SystemTime::now());
        let released: Vec<(String, Ipv4Addr)> = container
            .endpoints
            .iter_mut()
            .filter_map(|(_, e)| Some((e.network_id.clone(), e.ip.take()?)))
            .collect();
        for (network_id, address) in released {
            if let Some(network) = self.networks.get_mut(&network_id) {
                network.used.remove(&u32::from(address));
            }
        }
        let snapshot = container.clone();
        self.event(&snapshot, "die");
    }

    fn stop_container(&mut self, reference: &str, code: i64) -> Reply {
        let Some(id) = self.container_id(reference) else {
            return error(404, format!("No such container: {reference}"));
        };
        if self.containers[&id].state != State::Running {
            return Reply::Empty(304);
        }
        self.exit(&id, code);
        let snapshot = self.containers[&id].clone();
        self.event(&snapshot, "stop");
        Reply::Empty(204)
    }

    fn remove_container(&mut self, reference: &str, call: &Call) -> Reply {
        let Some(id) = self.container_id(reference) else {
            return error(404, format!("No such container: {reference}"));
        };
        if self.containers[&id].state == State::Running {
            if !call.flag("force") {
                return error(
                    409,
                    format!(
                        "cannot remove container \"/{}\": container is running: stop the container before removing or force remove",
                        self.containers[&id].name
                    ),
                );
            }
            self.exit(&id, 137);
        }
        if let Some(container) = self.containers.remove(&id) {
            self.names.remove(&container.name);
            self.execs.retain(|_, exec| exec.container != id);
            self.event(&container, "destroy");
        }
        Reply::Empty(204)
    }

    fn rename_container(&mut self, reference: &str, call: &Call) -> Reply {
        let Some(id) = self.container_id(reference) else {
            return error(404, format!("No such container: {reference}"));
        };
        let Some(new_name) = call
            .param("name")
            .map(|n| n.trim_start_matches('/').to_string())
        else {
            return error(400, "rename needs a name");
        };
        if let Some(other) = self.names.get(&new_name)
            && *other != id
        {
            return error(
                409,
                format!(
                    "Conflict. The container name \"/{new_name}\" is already in use by container \"{other}\". You have to remove (or rename) that container to be able to reuse that name."
                ),
            );
        }
        let container = self.containers.get_mut(&id).expect("looked up above");
        self.names.remove(&container.name);
        container.name = new_name.clone();
        self.names.insert(new_name, id.clone());
        let snapshot = container.clone();
        self.event(&snapshot, "rename");
        Reply::Empty(204)
    }

    fn logs(&self, reference: &str) -> Reply {
        if self.container_id(reference).is_none() {
            return error(404, format!("No such container: {reference}"));
        }
        // The fake runs nothing, so nothing was printed: an empty multiplexed stream.
        Reply::Bytes(200, "application/vnd.docker.multiplexed-stream", Vec::new())
    }

    fn archive(&self, reference: &str, call: &Call) -> Reply {
        let Some(id) = self.container_id(reference) else {
            return error(404, format!("No such container: {reference}"));
        };
        let path = call.param("path").unwrap_or_default();
        let container = &self.containers[&id];
        if let Some(host_path) = container.host_path(path) {
            return match self.host_files.get(&host_path) {
                Some(content) => {
                    let name = path.rsplit('/').next().unwrap_or("file");
                    Reply::Bytes(200, "application/x-tar", tar_of(name, content))
                }
                None => error(
                    404,
                    format!(
                        "Could not find the file {path} in container {}",
                        container.name
                    ),
                ),
            };
        }
        if let Some(content) = container.files.get(path) {
            let name = path.rsplit('/').next().unwrap_or("file");
            return Reply::Bytes(200, "application/x-tar", tar_of(name, content));
        }
        let content = match path {
            "/etc/hosts" => container
                .hosts_file
                .clone()
                .unwrap_or_else(|| hosts_file(container)),
            "/etc/hostname" => format!("{}\n", container.hostname).into_bytes(),
            _ => {
                return error(
                    404,
                    format!(
                        "Could not find the file {path} in container {}",
                        container.name
                    ),
                );
            }
        };
        let name = path.rsplit('/').next().unwrap_or("file");
        Reply::Bytes(200, "application/x-tar", tar_of(name, &content))
    }

    /// `PUT /containers/{id}/archive`: the tar's files into the container's own file system,
    /// or, under a bind mount, onto the host (replaced, as Docker's unpacking does).
    fn put_archive(&mut self, reference: &str, call: &Call) -> Reply {
        let Some(id) = self.container_id(reference) else {
            return error(404, format!("No such container: {reference}"));
        };
        let path = call.param("path").unwrap_or("/").to_string();
        for (name, contents) in files_in_tar(&call.body) {
            let target = format!("{}/{name}", path.trim_end_matches('/'));
            match self.containers[&id].host_path(&target) {
                Some(host_path) => {
                    self.host_files.insert(host_path, contents);
                }
                None => {
                    if let Some(container) = self.containers.get_mut(&id) {
                        container.files.insert(target, contents);
                    }
                }
            }
        }
        Reply::Empty(200)
    }

    /// What a started helper container does (nap's hosts-file writer): `dd if= of=
    /// [conv=notrunc]` or `rm -f FILES` through its bind mounts; then it exits.
    fn run_helper(&mut self, reference: &str) {
        let Some(id) = self.container_id(reference) else {
            return;
        };
        let helper = self.containers[&id].clone();
        if helper.state != State::Running {
            return;
        }
        let command = strings(helper.config.get("Entrypoint"));
        let status = match command.first().map(String::as_str) {
            Some("dd") => {
                let argument = |key: &str| {
                    command
                        .iter()
                        .find_map(|arg| arg.strip_prefix(key).map(str::to_string))
                };
                let input = argument("if=").and_then(|path| helper.files.get(&path).cloned());
                let output = argument("of=").and_then(|path| helper.host_path(&path));
                match (input, output) {
                    (Some(input), Some(output)) => {
                        let file = self.host_files.entry(output).or_default();
                        if command.iter().any(|arg| arg == "conv=notrunc")
                            && file.len() > input.len()
                        {
                            file[..input.len()].copy_from_slice(&input);
                        } else {
                            *file = input;
                        }
                        0
                    }
                    _ => 1,
                }
            }
            Some("rm") => {
                for path in command.iter().skip(1).filter(|arg| !arg.starts_with('-')) {
                    if let Some(host_path) = helper.host_path(path) {
                        self.host_files.remove(&host_path);
                    }
                }
                0
            }
            _ => return,
        };
        self.exit(&id, status);
    }

    /// The host's files (what nap's helpers wrote), by path.
    pub fn host_files(&self) -> &BTreeMap<String, Vec<u8>> {
        &self.host_files
    }

    fn create_exec(&mut self, reference: &str, call: &Call) -> Reply {
        let Some(id) = self.container_id(reference) else {
            return error(404, format!("No such container: {reference}"));
        };
        if self.containers[&id].state != State::Running {
            return error(409, format!("container {id} is not running"));
        }
        let body: Value = serde_json::from_slice(&call.body).unwrap_or(Value::Null);
        let exec_id = self.new_id();
        self.execs.insert(
            exec_id.clone(),
            Exec {
                container: id,
                cmd: strings(body.get("Cmd")),
                stdin: body
                    .get("AttachStdin")
                    .and_then(Value::as_bool)
                    .unwrap_or(false),
                running: false,
                exit_code: None,
            },
        );
        Reply::Json(201, json!({"Id": exec_id}))
    }

    fn start_exec(&mut self, id: &str, call: &Call) -> Reply {
        let Some(exec) = self.execs.get_mut(id) else {
            return error(404, format!("No such exec instance: {id}"));
        };
        let body: Value = serde_json::from_slice(&call.body).unwrap_or(Value::Null);
        exec.running = true;
        if body.get("Detach").and_then(Value::as_bool).unwrap_or(false) {
            let exec_id = id.to_string();
            self.finish_exec(&exec_id, &[]);
            return Reply::Empty(200);
        }
        Reply::ExecAttach {
            id: id.to_string(),
            stdin: exec.stdin,
        }
    }

    /// An attached exec ended, having read `stdin`. A command that writes `/etc/hosts`
    /// (`dd of=/etc/hosts conv=notrunc`, `cat > /etc/hosts`) replaces the container's hosts
    /// file (over its start, without truncating, for `conv=notrunc`); every exec exits 0.
    pub fn finish_exec(&mut self, id: &str, stdin: &[u8]) {
        let Some(exec) = self.execs.get_mut(id) else {
            return;
        };
        exec.running = false;
        exec.exit_code = Some(0);
        let script = exec.cmd.join(" ");
        let container_id = exec.container.clone();
        if script.contains("/etc/hosts")
            && let Some(container) = self.containers.get_mut(&container_id)
        {
            let mut file = container
                .hosts_file
                .take()
                .unwrap_or_else(|| hosts_file(container));
            if script.contains("notrunc") && file.len() > stdin.len() {
                file[..stdin.len()].copy_from_slice(stdin);
            } else {
                file = stdin.to_vec();
            }
            container.hosts_file = Some(file);
        }
    }

    fn inspect_exec(&self, id: &str) -> Reply {
        let Some(exec) = self.execs.get(id) else {
            return error(404, format!("No such exec instance: {id}"));
        };
        Reply::Json(
            200,
            json!({
                "ID": id,
                "Running": exec.running,
                "ExitCode": exec.exit_code,
                "ContainerID": exec.container,
                "OpenStdin": exec.stdin,
                "OpenStdout": true,
                "OpenStderr": true,
                "ProcessConfig": {"entrypoint": exec.cmd.first(), "arguments": exec.cmd.iter().skip(1).collect::<Vec<_>>(), "tty": false, "privileged": false, "user": "0"},
                "Pid": 0,
            }),
        )
    }

    fn network_json(&self, network: &Network) -> Value {
        let mut containers = Map::new();
        for container in self.containers.values() {
            for (_, endpoint) in &container.endpoints {
                if endpoint.network_id != network.id {
                    continue;
                }
                let Some(ip) = endpoint.ip else { continue };
                let prefix = network.subnet.map_or(0, |s| s.prefix);
                containers.insert(
                    container.id.clone(),
                    json!({
                        "Name": container.name,
                        "EndpointID": endpoint.endpoint_id,
                        "MacAddress": mac_address(ip),
                        "IPv4Address": format!("{ip}/{prefix}"),
                        "IPv6Address": "",
                    }),
                );
            }
        }
        let config: Vec<Value> = network
            .subnet
            .map(|subnet| {
                let mut entry = json!({"Subnet": subnet.to_string()});
                if let Some(gateway) = network.gateway {
                    entry["Gateway"] = json!(gateway.to_string());
                }
                entry
            })
            .into_iter()
            .collect();
        json!({
            "Name": network.name,
            "Id": network.id,
            "Created": rfc3339(network.created),
            "Scope": "local",
            "Driver": network.driver,
            "EnableIPv4": true,
            "EnableIPv6": false,
            "IPAM": {"Driver": "default", "Options": null, "Config": config},
            "Internal": network.internal,
            "Attachable": network.attachable,
            "Ingress": false,
            "ConfigFrom": {"Network": ""},
            "ConfigOnly": false,
            "Containers": containers,
            "Options": network.options,
            "Labels": network.labels,
        })
    }

    fn list_networks(&self, call: &Call) -> Reply {
        let filters = parse_filters(call.param("filters"));
        let names = filters.get("name").cloned().unwrap_or_default();
        let labels = filters.get("label").cloned().unwrap_or_default();
        let rows: Vec<Value> = self
            .networks
            .values()
            .filter(|n| names.is_empty() || names.iter().any(|name| n.name.contains(name.as_str())))
            .filter(|n| {
                labels.iter().all(|label| match label.split_once('=') {
                    Some((key, value)) => n.labels.get(key).and_then(Value::as_str) == Some(value),
                    None => n.labels.get(label).is_some(),
                })
            })
            .map(|n| {
                let mut row = self.network_json(n);
                // The list leaves containers out, as Docker's does.
                row["Containers"] = json!({});
                row
            })
            .collect();
        Reply::Json(200, Value::Array(rows))
    }

    fn inspect_network(&self, reference: &str) -> Reply {
        match self.network_id(reference) {
            Some(id) => Reply::Json(200, self.network_json(&self.networks[&id])),
            None => error(404, format!("network {reference} not found")),
        }
    }

    /// Docker's default address pools: 172.17–31.0.0/16, then 192.168.x.0/20.
    fn free_default_subnet(&self) -> Option<Subnet> {
        let candidates = (17..=31)
            .map(|b| Subnet {
                base: u32::from(Ipv4Addr::new(172, b, 0, 0)),
                prefix: 16,
            })
            .chain((0..16).map(|i| Subnet {
                base: u32::from(Ipv4Addr::new(192, 168, i * 16, 0)),
                prefix: 20,
            }));
        let used: Vec<Subnet> = self.networks.values().filter_map(|n| n.subnet).collect();
        candidates
            .into_iter()
            .find(|candidate| !used.iter().any(|u| u.overlaps(candidate)))
    }

    fn create_network(&mut self, call: &Call) -> Reply {
        let Ok(body) = serde_json::from_slice::<Value>(&call.body) else {
            return error(400, "invalid JSON in the network create body");
        };
        let Some(name) = body.get("Name").and_then(Value::as_str).map(str::to_string) else {
            return error(400, "a network needs a name");
        };
        if self.networks.values().any(|n| n.name == name) {
            return error(409, format!("network with name {name} already exists"));
        }
        let ipam_config = body
            .pointer("/IPAM/Config")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let requested = ipam_config.iter().find_map(|config| {
            let subnet = config.get("Subnet").and_then(Value::as_str)?;
            Some((
                subnet.to_string(),
                config
                    .get("Gateway")
                    .and_then(Value::as_str)
                    .map(str::to_string),
            ))
        });
        let (subnet, gateway) = match requested {
            Some((text, gateway)) => {
                let Some(subnet) = Subnet::parse(&text) else {
                    return error(400, format!("invalid subnet {text}"));
                };
                if self
                    .networks
                    .values()
                    .filter_map(|n| n.subnet)
                    .any(|used| used.overlaps(&subnet))
                {
                    return error(
                        403,
                        format!(
                            "invalid pool request: Pool overlaps with other one on this address space ({subnet})"
                        ),
                    );
                }
                let gateway = match gateway {
                    Some(g) => match g.parse::<Ipv4Addr>() {
                        Ok(g) => g,
                        Err(_) => return error(400, format!("invalid gateway {g}")),
                    },
                    None => subnet.address(1),
                };
                (subnet, gateway)
            }
            None => match self.free_default_subnet() {
                Some(subnet) => (subnet, subnet.address(1)),
                None => {
                    return error(
                        400,
                        "could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network",
                    );
                }
            },
        };
        let id = self.new_id();
        self.networks.insert(
            id.clone(),
            Network {
                id: id.clone(),
                name,
                driver: body
                    .get("Driver")
                    .and_then(Value::as_str)
                    .filter(|d| !d.is_empty())
                    .unwrap_or("bridge")
                    .to_string(),
                subnet: Some(subnet),
                gateway: Some(gateway),
                labels: body
                    .get("Labels")
                    .cloned()
                    .filter(Value::is_object)
                    .unwrap_or(json!({})),
                options: body
                    .get("Options")
                    .cloned()
                    .filter(Value::is_object)
                    .unwrap_or(json!({})),
                internal: body
                    .get("Internal")
                    .and_then(Value::as_bool)
                    .unwrap_or(false),
                attachable: body
                    .get("Attachable")
                    .and_then(Value::as_bool)
                    .unwrap_or(false),
                created: SystemTime::now(),
                used: BTreeSet::from([u32::from(gateway)]),
            },
        );
        Reply::Json(201, json!({"Id": id, "Warning": ""}))
    }

    fn connect_network(&mut self, reference: &str, call: &Call) -> Reply {
        let Some(network_id) = self.network_id(reference) else {
            return error(404, format!("network {reference} not found"));
        };
        let body: Value = serde_json::from_slice(&call.body).unwrap_or(Value::Null);
        let container_ref = body.get("Container").and_then(Value::as_str).unwrap_or("");
        let Some(id) = self.container_id(container_ref) else {
            return error(404, format!("No such container: {container_ref}"));
        };
        let network_name = self.networks[&network_id].name.clone();
        if self.containers[&id]
            .endpoints
            .iter()
            .any(|(name, _)| *name == network_name)
        {
            return error(
                403,
                format!(
                    "endpoint with name {} already exists in network {network_name}",
                    self.containers[&id].name
                ),
            );
        }
        if self.containers[&id].state == State::Running {
            return error(
                501,
                "the fake engine connects networks to created containers only",
            );
        }
        let settings = object(body.get("EndpointConfig"));
        let endpoint = match self.endpoint(&network_id, &settings) {
            Ok(endpoint) => endpoint,
            Err(reply) => return reply,
        };
        if let Some(container) = self.containers.get_mut(&id) {
            container.endpoints.push((network_name, endpoint));
        }
        Reply::Empty(200)
    }

    fn disconnect_network(&mut self, reference: &str, call: &Call) -> Reply {
        let Some(network_id) = self.network_id(reference) else {
            return error(404, format!("network {reference} not found"));
        };
        let body: Value = serde_json::from_slice(&call.body).unwrap_or(Value::Null);
        let container_ref = body.get("Container").and_then(Value::as_str).unwrap_or("");
        let Some(id) = self.container_id(container_ref) else {
            return error(404, format!("No such container: {container_ref}"));
        };
        let container = self.containers.get_mut(&id).expect("looked up above");
        let released: Vec<Ipv4Addr> = container
            .endpoints
            .iter()
            .filter(|(_, e)| e.network_id == network_id)
            .filter_map(|(_, e)| e.ip)
            .collect();
        container
            .endpoints
            .retain(|(_, e)| e.network_id != network_id);
        if let Some(network) = self.networks.get_mut(&network_id) {
            for address in released {
                network.used.remove(&u32::from(address));
            }
        }
        Reply::Empty(200)
    }

    fn remove_network(&mut self, reference: &str) -> Reply {
        let Some(id) = self.network_id(reference) else {
            return error(404, format!("network {reference} not found"));
        };
        let network = &self.networks[&id];
        if matches!(network.name.as_str(), "bridge" | "host" | "none") {
            return error(
                403,
                format!(
                    "{} is a pre-defined network and cannot be removed",
                    network.name
                ),
            );
        }
        let in_use = self
            .containers
            .values()
            .any(|c| c.endpoints.iter().any(|(_, e)| e.network_id == id));
        if in_use {
            return error(
                403,
                format!(
                    "error while removing network: network {} id {id} has active endpoints",
                    network.name
                ),
            );
        }
        self.networks.remove(&id);
        Reply::Empty(204)
    }

    fn list_volumes(&self) -> Reply {
        let volumes: Vec<Value> = self.volumes.values().map(volume_json).collect();
        Reply::Json(200, json!({"Volumes": volumes, "Warnings": []}))
    }

    fn create_volume(&mut self, call: &Call) -> Reply {
        let body: Value = serde_json::from_slice(&call.body).unwrap_or(Value::Null);
        let name = body
            .get("Name")
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty())
            .map(str::to_string)
            .unwrap_or_else(|| self.new_id());
        let volume = self.volumes.entry(name.clone()).or_insert_with(|| Volume {
            name,
            driver: body
                .get("Driver")
                .and_then(Value::as_str)
                .unwrap_or("local")
                .to_string(),
            labels: body
                .get("Labels")
                .cloned()
                .filter(Value::is_object)
                .unwrap_or(json!({})),
            options: body
                .get("DriverOpts")
                .cloned()
                .filter(Value::is_object)
                .unwrap_or(json!({})),
            created: SystemTime::now(),
        });
        Reply::Json(201, volume_json(volume))
    }

    fn remove_volume(&mut self, name: &str) -> Reply {
        if !self.volumes.contains_key(name) {
            return error(404, format!("get {name}: no such volume"));
        }
        self.volumes.remove(name);
        Reply::Empty(204)
    }

    fn list_images(&self) -> Reply {
        let mut by_id: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for (reference, id) in &self.images {
            by_id.entry(id).or_default().push(reference);
        }
        let rows: Vec<Value> = by_id
            .into_iter()
            .map(|(id, tags)| {
                json!({
                    "Id": id,
                    "ParentId": "",
                    "RepoTags": tags,
                    "RepoDigests": [],
                    "Created": 1_700_000_000,
                    "Size": 4_261_550,
                    "SharedSize": -1,
                    "VirtualSize": 4_261_550,
                    "Labels": {},
                    "Containers": -1,
                })
            })
            .collect();
        Reply::Json(200, Value::Array(rows))
    }

    fn inspect_image(&self, reference: &str) -> Reply {
        let normalized = normalize_reference(reference);
        let found = self
            .images
            .get(&normalized)
            .map(|id| (normalized.clone(), id.clone()))
            .or_else(|| {
                self.images
                    .iter()
                    .find(|(_, id)| {
                        id.as_str() == reference
                            || id.trim_start_matches("sha256:").starts_with(reference)
                    })
                    .map(|(r, id)| (r.clone(), id.clone()))
            });
        match found {
            Some((tag, id)) => Reply::Json(
                200,
                json!({
                    "Id": id,
                    "RepoTags": [tag],
                    "RepoDigests": [],
                    "Created": rfc3339(UNIX_EPOCH + Duration::from_secs(1_700_000_000)),
                    "Size": 4_261_550,
                    "Architecture": "amd64",
                    "Os": "linux",
                    "Config": {"Cmd": ["sh"]},
                }),
            ),
            None => error(404, format!("No such image: {reference}")),
        }
    }

    fn pull(&mut self, call: &Call) -> Reply {
        // `docker import` of an archive in the body: an image under `repo:tag`.
        if call.param("fromSrc") == Some("-") {
            let Some(repo) = call.param("repo").filter(|r| !r.is_empty()) else {
                return error(400, "import needs repo");
            };
            let reference = format!("{repo}:{}", call.param("tag").unwrap_or("latest"));
            let id = format!("sha256:{}", self.new_id());
            self.images.insert(reference, id.clone());
            return Reply::JsonLines(200, vec![json!({"status": id})]);
        }
        let Some(from) = call.param("fromImage").filter(|f| !f.is_empty()) else {
            return error(400, "pull needs fromImage");
        };
        let reference = match call.param("tag").filter(|t| !t.is_empty()) {
            Some(tag) if !from.contains('@') => format!("{from}:{tag}"),
            _ => normalize_reference(from),
        };
        if !self.images.contains_key(&reference) {
            let id = format!("sha256:{}", self.new_id());
            self.images.insert(reference.clone(), id);
        }
        let (name, tag) = reference.rsplit_once(':').unwrap_or((&reference, "latest"));
        Reply::JsonLines(
            200,
            vec![
                json!({"status": format!("Pulling from {name}"), "id": tag}),
                json!({"status": format!("Status: Downloaded newer image for {reference}")}),
            ],
        )
    }
}

fn volume_json(volume: &Volume) -> Value {
    json!({
        "Name": volume.name,
        "Driver": volume.driver,
        "Mountpoint": format!("/var/lib/docker/volumes/{}/_data", volume.name),
        "CreatedAt": rfc3339(volume.created),
        "Labels": volume.labels,
        "Scope": "local",
        "Options": volume.options,
    })
}

fn mac_address(ip: Ipv4Addr) -> String {
    let [a, b, c, d] = ip.octets();
    format!("02:42:{a:02x}:{b:02x}:{c:02x}:{d:02x}")
}

/// The hosts file Docker writes at start: its own lines, `ExtraHosts`, then the container's
/// address and hostname.
fn hosts_file(container: &Container) -> Vec<u8> {
    let mut text = String::from(
        "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::\tip6-localnet\nff00::\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n",
    );
    #[derive(serde::Deserialize)]
    struct Extra {
        #[serde(rename = "ExtraHosts")]
        extra_hosts: Option<Vec<String>>,
    }
    let extra = serde_json::from_str::<Extra>(&container.host_config)
        .ok()
        .and_then(|extra| extra.extra_hosts)
        .unwrap_or_default();
    for entry in extra {
        if let Some((name, address)) = entry.rsplit_once(':').or_else(|| entry.split_once('=')) {
            text.push_str(&format!("{address}\t{name}\n"));
        }
    }
    if let Some(ip) = container.endpoints.iter().find_map(|(_, e)| e.ip) {
        text.push_str(&format!("{ip}\t{}\n", container.hostname));
    }
    text.into_bytes()
}

/// A tar archive of one regular file (ustar), as `GET /containers/{id}/archive` returns.
pub fn tar_of(name: &str, content: &[u8]) -> Vec<u8> {
    let mut header = [0u8; 512];
    let name_bytes = name.as_bytes();
    let length = name_bytes.len().min(99);
    header[..length].copy_from_slice(&name_bytes[..length]);
    header[100..108].copy_from_slice(b"0000644\0");
    header[108..116].copy_from_slice(b"0000000\0");
    header[116..124].copy_from_slice(b"0000000\0");
    header[124..136].copy_from_slice(format!("{:011o}\0", content.len()).as_bytes());
    header[136..148].copy_from_slice(format!("{:011o}\0", 1_700_000_000u64).as_bytes());
    header[148..156].copy_from_slice(b"        ");
    header[156] = b'0';
    header[257..263].copy_from_slice(b"ustar\0");
    header[263..265].copy_from_slice(b"00");
    let checksum: u32 = header.iter().map(|b| u32::from(*b)).sum();
    header[148..156].copy_from_slice(format!("{checksum:06o}\0 ").as_bytes());
    let mut archive = header.to_vec();
    archive.extend_from_slice(content);
    archive.resize(512 + content.len().div_ceil(512) * 512, 0);
    archive.extend_from_slice(&[0u8; 1024]);
    archive
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(method: &str, path: &str, query: &[(&str, &str)], body: Value) -> Call {
        Call {
            method: method.to_string(),
            path: path.to_string(),
            query: query
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            body: if body.is_null() {
                Vec::new()
            } else {
                serde_json::to_vec(&body).unwrap()
            },
        }
    }

    fn json_of(reply: Reply) -> Value {
        match reply {
            Reply::Json(_, value) => value,
            Reply::RawJson(_, text) => serde_json::from_str(&text).unwrap(),
            other => panic!("not JSON: {other:?}"),
        }
    }

    #[test]
    fn a_container_gets_its_fixed_address_a_hosts_file_and_health() {
        let mut engine = Engine::new("h1", EngineConfig::default());
        let created = engine.handle(&call(
            "POST",
            "/networks/create",
            &[],
            json!({"Name": "demo_default", "IPAM": {"Config": [{"Subnet": "172.30.0.0/24", "Gateway": "172.30.0.1"}]}, "Labels": {"nap.project": "demo"}}),
        ));
        assert!(matches!(created, Reply::Json(201, _)));
        let body = json!({
            "Image": "busybox",
            "Cmd": ["sleep", "1d"],
            "Labels": {"nap.project": "demo", "nap.service": "web"},
            "Healthcheck": {"Test": ["CMD", "true"]},
            "HostConfig": {"NetworkMode": "demo_default", "ExtraHosts": ["db:172.30.0.9"]},
            "NetworkingConfig": {"EndpointsConfig": {"demo_default": {"IPAMConfig": {"IPv4Address": "172.30.0.5"}, "Aliases": ["web"]}}},
        });
        let reply = engine.handle(&call(
            "POST",
            "/containers/create",
            &[("name", "demo-web-1")],
            body.clone(),
        ));
        assert!(matches!(reply, Reply::Json(201, _)));
        let again = engine.handle(&call(
            "POST",
            "/containers/create",
            &[("name", "demo-web-1")],
            body,
        ));
        assert!(matches!(again, Reply::Json(409, _)));
        assert_eq!(
            engine.handle(&call(
                "POST",
                "/containers/demo-web-1/start",
                &[],
                Value::Null
            )),
            Reply::Empty(204)
        );
        assert_eq!(
            engine.handle(&call(
                "POST",
                "/containers/demo-web-1/start",
                &[],
                Value::Null
            )),
            Reply::Empty(304)
        );
        let inspect = json_of(engine.handle(&call(
            "GET",
            "/containers/demo-web-1/json",
            &[],
            Value::Null,
        )));
        assert_eq!(inspect["State"]["Health"]["Status"], "healthy");
        assert_eq!(
            inspect["NetworkSettings"]["Networks"]["demo_default"]["IPAddress"],
            "172.30.0.5"
        );
        assert_eq!(inspect["HostConfig"]["ExtraHosts"][0], "db:172.30.0.9");
        let list = json_of(engine.handle(&call(
            "GET",
            "/containers/json",
            &[
                ("all", "true"),
                ("filters", r#"{"label":["nap.project=demo"]}"#),
            ],
            Value::Null,
        )));
        assert_eq!(list.as_array().unwrap().len(), 1);
        assert!(list[0]["Status"].as_str().unwrap().ends_with("(healthy)"));
        let Reply::Bytes(200, _, tar) = engine.handle(&call(
            "GET",
            "/containers/demo-web-1/archive",
            &[("path", "/etc/hosts")],
            Value::Null,
        )) else {
            panic!("no archive");
        };
        let text = String::from_utf8_lossy(&tar[512..]);
        assert!(text.contains("172.30.0.9\tdb\n"));
        assert!(text.contains("172.30.0.5\t"));
        let events = engine.take_events();
        assert!(events.iter().any(|e| e["Action"] == "start"));
        assert!(!engine.take_events().iter().any(|e| e["Action"] == "start"));
    }

    #[test]
    fn missing_images_and_networks_and_busy_networks_are_refused() {
        let mut engine = Engine::new("h1", EngineConfig::default());
        let reply = engine.handle(&call(
            "POST",
            "/containers/create",
            &[("name", "x")],
            json!({"Image": "nope:1"}),
        ));
        assert!(matches!(reply, Reply::Json(404, _)));
        let reply = engine.handle(&call(
            "POST",
            "/containers/create",
            &[("name", "x")],
            json!({"Image": "busybox", "HostConfig": {"NetworkMode": "missing"}}),
        ));
        assert!(matches!(reply, Reply::Json(404, _)));
        engine.handle(&call("POST", "/networks/create", &[], json!({"Name": "n"})));
        let network = json_of(engine.handle(&call("GET", "/networks/n", &[], Value::Null)));
        assert_eq!(network["IPAM"]["Config"][0]["Subnet"], "172.18.0.0/16");
        engine.handle(&call(
            "POST",
            "/containers/create",
            &[("name", "x")],
            json!({"Image": "busybox", "HostConfig": {"NetworkMode": "n"}}),
        ));
        assert!(matches!(
            engine.handle(&call("DELETE", "/networks/n", &[], Value::Null)),
            Reply::Json(403, _)
        ));
        assert_eq!(
            engine.handle(&call(
                "DELETE",
                "/containers/x",
                &[("force", "true")],
                Value::Null
            )),
            Reply::Empty(204)
        );
        assert_eq!(
            engine.handle(&call("DELETE", "/networks/n", &[], Value::Null)),
            Reply::Empty(204)
        );
        assert!(matches!(
            engine.handle(&call("DELETE", "/containers/x", &[], Value::Null)),
            Reply::Json(404, _)
        ));
    }

    #[test]
    fn one_shot_commands_exit_and_exec_rewrites_the_hosts_file() {
        let mut engine = Engine::new("h1", EngineConfig::default());
        engine.handle(&call(
            "POST",
            "/containers/create",
            &[("name", "job")],
            json!({"Image": "busybox", "Cmd": ["true"]}),
        ));
        engine.handle(&call("POST", "/containers/job/start", &[], Value::Null));
        let inspect =
            json_of(engine.handle(&call("GET", "/containers/job/json", &[], Value::Null)));
        assert_eq!(inspect["State"]["Status"], "exited");
        assert_eq!(inspect["State"]["ExitCode"], 0);

        engine.handle(&call(
            "POST",
            "/containers/create",
            &[("name", "web")],
            json!({"Image": "busybox"}),
        ));
        engine.handle(&call("POST", "/containers/web/start", &[], Value::Null));
        let exec = json_of(engine.handle(&call(
            "POST",
            "/containers/web/exec",
            &[],
            json!({"AttachStdin": true, "Cmd": ["sh", "-c", "dd of=/etc/hosts conv=notrunc"]}),
        )));
        let id = exec["Id"].as_str().unwrap().to_string();
        let reply = engine.handle(&call(
            "POST",
            &format!("/exec/{id}/start"),
            &[],
            json!({"Detach": false}),
        ));
        assert_eq!(
            reply,
            Reply::ExecAttach {
                id: id.clone(),
                stdin: true
            }
        );
        engine.finish_exec(&id, b"10.0.0.1\tpeer\n");
        let Reply::Bytes(_, _, tar) = engine.handle(&call(
            "GET",
            "/containers/web/archive",
            &[("path", "/etc/hosts")],
            Value::Null,
        )) else {
            panic!("no archive");
        };
        assert!(tar[512..].starts_with(b"10.0.0.1\tpeer\n"));
        let inspect =
            json_of(engine.handle(&call("GET", &format!("/exec/{id}/json"), &[], Value::Null)));
        assert_eq!(inspect["ExitCode"], 0);
    }

    #[test]
    fn times_and_references() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00.000000000Z");
        assert_eq!(
            rfc3339(UNIX_EPOCH + Duration::from_secs(1_700_000_000)),
            "2023-11-14T22:13:20.000000000Z"
        );
        assert_eq!(normalize_reference("busybox"), "busybox:latest");
        assert_eq!(
            normalize_reference("localhost:5000/x"),
            "localhost:5000/x:latest"
        );
        assert_eq!(normalize_reference("nap/bench:1"), "nap/bench:1");
        assert_eq!(human_duration(Duration::from_secs(75)), "About a minute");
    }
}
