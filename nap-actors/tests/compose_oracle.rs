//! Oracle test of nap's compose loader: `nap config --format json` must agree with Debian's
//! `docker-compose` 1.29 (`docker-compose config`) on a corpus of real-world-style projects,
//! and both must reject a corpus of broken ones.
//!
//! `tests/corpus/compose/<case>/` holds a project (`docker-compose.yml` and whatever it
//! needs: `.env`, override files, `env_file`s, `extends` bases). Two optional files steer the
//! run: `args`, extra global flags for both tools (shell words, such as
//! `-f docker-compose.yml -f docker-compose.prod.yml --profile debug`; without `-f` both
//! tools discover `docker-compose.yml` and its `docker-compose.override.yml`), and `env`, the
//! process environment (`KEY=VALUE` lines, `#` comments). Each tool runs in the case folder
//! with `-p corpus`, an otherwise empty environment (PATH, HOME=/home/corpus, then `env`),
//! and its output is brought to one canonical form ([`canonical`]): 1.29 prints short syntax
//! and strings where the spec's model has long syntax and lists. Then 1.29's tree is walked:
//! every field it prints must be in nap's with the same value, and maps whose keys are data
//! (services, environment, labels, `depends_on`, networks, volumes, ...) must have the same
//! keys. Fields only nap prints (defaults such as `required: true`, resolved `name`s) are not
//! compared. Where 1.29 and the Compose Specification differ, nap follows the spec and the
//! difference is listed in [`EXCEPTIONS`]; there is no other leeway. All mismatches of all
//! cases are reported in one failure.
//!
//! `tests/corpus/compose-bad/<case>/` holds a broken project and an `expect` file: each of
//! its lines must occur in nap's stderr (the file, line and key: `docker-compose.yml:4:
//! services.web.depends_on.nope`). Both tools must exit non-zero, except where 1.29's
//! `config` does not check what the spec requires ([`ORACLE_ACCEPTS`]).
//!
//! Run with `cargo test -p nap-actors --test compose_oracle`. `NAP_ORACLE_BIN` points the
//! test at another binary with nap's command line (such as nap-core's `print_config`
//! example).

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::{Map, Value};

mod common;

/// A case's `args` and `env`.
use common::CaseSetup as Setup;

/// The project name both tools are given.
const PROJECT: &str = "corpus";
/// The home folder both tools see (for `~` in paths).
const HOME: &str = "/home/corpus";

/// Every difference between 1.29 and the Compose Specification (which nap follows) that the
/// corpus runs into, in one place: fields nap prints and 1.29 does not, as canonical-tree
/// paths (`*` matches any one key), each with why. The test fails if one is no longer used.
///
/// Besides these, two differences are about what 1.29's `config` prints as a whole:
/// - profiles: 1.29's `config` prints the services of every profile; the spec's prints only
///   the enabled ones (no profile, or one enabled by `--profile` / `COMPOSE_PROFILES`).
///   [`canonical`] filters 1.29's services by that rule.
/// - top-level `x-` extensions: 1.29's `config` drops them (service-level ones it keeps), so
///   there is nothing to compare nap's with.
const EXCEPTIONS: &[(&str, &str)] = &[
    (
        "networks.default",
        "the spec's model lists the implicit default network; 1.29's config leaves it out",
    ),
    (
        "services.*.networks.default",
        "a service that names no network is on the default network: the spec's model says so, 1.29's config does not",
    ),
];

/// Broken files that 1.29's `config` accepts although the spec (and nap) reject them: 1.29
/// checks these only when it creates containers, which `config` never does.
const ORACLE_ACCEPTS: &[(&str, &str)] = &[
    (
        "restart-invalid",
        "1.29 leaves restart policies to the engine",
    ),
    (
        "constraint-invalid",
        "1.29 leaves placement constraints to swarm",
    ),
    (
        "network-undefined",
        "1.29 checks service networks when it builds the project, which config does not",
    ),
    (
        "alias-newline",
        "1.29 leaves network aliases to the engine, which does not check them either",
    ),
    (
        "extra-hosts-not-an-ip",
        "1.29 leaves extra_hosts addresses to the engine",
    ),
    (
        "secret-undefined",
        "1.29 checks a service's secrets when it creates the container, which config does not",
    ),
    ("device-relative", "1.29 leaves device paths to the engine"),
];

// ---------------------------------------------------------------------------------------
// Running the tools

fn nap_binary() -> PathBuf {
    std::env::var_os("NAP_ORACLE_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_nap")))
}

fn case_name(case: &Path) -> String {
    case.file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default()
}

impl Setup {
    /// The profiles the spec enables: `--profile`s, else `COMPOSE_PROFILES`.
    fn profiles(&self) -> BTreeSet<String> {
        let mut profiles = BTreeSet::new();
        let mut args = self.args.iter();
        while let Some(arg) = args.next() {
            if arg == "--profile" {
                profiles.extend(args.next().cloned());
            } else if let Some(profile) = arg.strip_prefix("--profile=") {
                profiles.insert(profile.to_string());
            }
        }
        if profiles.is_empty()
            && let Some((_, list)) = self.env.iter().find(|(key, _)| key == "COMPOSE_PROFILES")
        {
            profiles.extend(
                list.split(',')
                    .map(str::trim)
                    .filter(|p| !p.is_empty())
                    .map(String::from),
            );
        }
        profiles
    }

    /// Runs `program` in `case` with `-p corpus`, the case's flags, then `tail`.
    fn run(&self, case: &Path, program: &Path, tail: &[&str]) -> Output {
        Command::new(program)
            .current_dir(case)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", HOME)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .args(["-p", PROJECT])
            .args(&self.args)
            .args(tail)
            .output()
            .unwrap_or_else(|error| panic!("cannot run {}: {error}", program.display()))
    }
}

/// Fails unless `docker-compose` is 1.29 (another version prints another format).
fn require_docker_compose() {
    let output = Command::new("docker-compose")
        .args(["version", "--short"])
        .output()
        .unwrap_or_else(|error| {
            panic!(
                "docker-compose 1.29 is this test's oracle and cannot be run ({error}): apt-get install docker-compose"
            )
        });
    let version = String::from_utf8_lossy(&output.stdout);
    assert!(
        version.trim().starts_with("1.29"),
        "the oracle must be docker-compose 1.29 (Debian's python one), found {version:?}"
    );
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Runs `check` on every case, a few at a time, and gathers what it reports.
fn for_each_case<T: Send>(cases: &[PathBuf], check: impl Fn(&Path) -> T + Sync) -> Vec<T> {
    let next = AtomicUsize::new(0);
    let found = Mutex::new(Vec::new());
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get().clamp(2, 8));
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                loop {
                    let index = next.fetch_add(1, Ordering::SeqCst);
                    let Some(case) = cases.get(index) else { break };
                    let result = check(case);
                    found.lock().unwrap().push((index, result));
                }
            });
        }
    });
    let mut found = found.into_inner().unwrap();
    found.sort_by_key(|(index, _)| *index);
    found.into_iter().map(|(_, result)| result).collect()
}

// ---------------------------------------------------------------------------------------
// The canonical form

/// Which tool a tree came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Oracle,
    Nap,
}

/// Brings a `config` tree to the canonical form: the spec's long syntax, every scalar a
/// string. Each rewrite was checked against 1.29's real output:
/// - 1.29 escapes every `$` it prints as `$$` (so that its output loads again): unescaped;
/// - the top-level `version` is dropped (obsolete in the spec);
/// - services disabled by profiles are dropped from 1.29's tree (see [`EXCEPTIONS`]);
/// - `command` / `entrypoint` strings are split into words as a POSIX shell does;
/// - ports: short strings (`127.0.0.1:8081:81/tcp`, `::1:6001:6001/tcp`) and partial long
///   maps become `{target, published, host_ip, protocol, mode}` with the defaults filled in;
/// - volumes: short strings (`data:/data:rw`, `/abs:/x:ro`, `/anon`) become
///   `{type, source, target, read_only}`; long maps get `read_only: false` when unset;
/// - `depends_on` lists become maps with `condition: service_started`;
/// - `healthcheck.test` strings become `["CMD-SHELL", test]`, `disable: true` becomes
///   `test: ["NONE"]` (what 1.29 prints for it, and what the spec says it means);
/// - durations (healthcheck, `stop_grace_period`, deploy policies) become nanoseconds: 1.29
///   rewrites some (`1m30s` as `90s`);
/// - `environment`, `labels`, `sysctls`, build `args` and `deploy.labels` lists become maps;
/// - service `networks` lists become maps, a network with no options `{}`;
/// - `extra_hosts` maps become `host:address` lists (1.29 prints maps after merging);
/// - `volumes_from` entries lose 1.29's `service:` prefix and default `:rw` suffix;
/// - `build` strings become `{context}`;
/// - `cpus` are numbers (1.29 prints `1.0` for `"1"`);
/// - lists whose order means nothing are sorted: ports, volumes (by target), `cap_add`,
///   `cap_drop`, `expose`, `links`, `profiles`, `security_opt`, `volumes_from`,
///   `extra_hosts`, network `aliases`, placement `constraints` (1.29 sorts them when it
///   merges files; the engine sorts mounts itself);
/// - top-level networks and volumes written as null become `{}`, `external: {name}`
///   becomes `external: true` with `name`.
fn canonical(mut tree: Value, side: Side, profiles: &BTreeSet<String>) -> Value {
    if side == Side::Oracle {
        unescape_dollars(&mut tree);
    }
    let Value::Object(mut top) = tree else {
        return tree;
    };
    top.remove("version");
    if let Some(Value::Object(services)) = top.get_mut("services") {
        if side == Side::Oracle {
            services.retain(|_, service| enabled(service, profiles));
        }
        for service in services.values_mut() {
            canonical_service(service);
        }
    }
    for key in ["networks", "volumes"] {
        if let Some(Value::Object(entries)) = top.get_mut(key) {
            for entry in entries.values_mut() {
                canonical_top_level_entry(entry);
            }
        }
    }
    let mut tree = Value::Object(top);
    stringify_scalars(&mut tree);
    tree
}

fn unescape_dollars(value: &mut Value) {
    match value {
        Value::String(text) => *text = text.replace("$$", "$"),
        Value::Array(items) => items.iter_mut().for_each(unescape_dollars),
        Value::Object(map) => map.values_mut().for_each(unescape_dollars),
        _ => {}
    }
}

/// The spec's rule: a service is enabled when it has no profiles or one of them is enabled.
fn enabled(service: &Value, profiles: &BTreeSet<String>) -> bool {
    match service.get("profiles").and_then(Value::as_array) {
        Some(list) if !list.is_empty() => list
            .iter()
            .any(|profile| profile.as_str().is_some_and(|p| profiles.contains(p))),
        _ => true,
    }
}

fn scalar_string(value: &Value) -> Option<String> {
    match value {
        Value::String(text) => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        Value::Bool(flag) => Some(flag.to_string()),
        _ => None,
    }
}

fn stringify_scalars(value: &mut Value) {
    match value {
        Value::Number(_) | Value::Bool(_) => {
            *value = Value::String(scalar_string(value).unwrap_or_default())
        }
        Value::Array(items) => items.iter_mut().for_each(stringify_scalars),
        Value::Object(map) => map.values_mut().for_each(stringify_scalars),
        _ => {}
    }
}

/// `KEY=VALUE` lists become maps; `KEY` alone maps to `bare`.
fn list_to_map(value: &mut Value, bare: Value) {
    if let Value::Array(items) = value {
        let mut map = Map::new();
        for item in items.iter() {
            let entry = scalar_string(item).unwrap_or_default();
            match entry.split_once('=') {
                Some((key, value)) => map.insert(key.to_string(), Value::String(value.into())),
                None => map.insert(entry, bare.clone()),
            };
        }
        *value = Value::Object(map);
    }
}

fn canonical_service(service: &mut Value) {
    let Value::Object(service) = service else {
        return;
    };
    for key in ["command", "entrypoint"] {
        if let Some(Value::String(line)) = service.get(key)
            && let Ok(words) = shell_words::split(line)
        {
            service.insert(key.into(), words.into_iter().map(Value::String).collect());
        }
    }
    if let Some(Value::Array(ports)) = service.get_mut("ports") {
        *ports = ports.iter().flat_map(canonical_ports).collect();
    }
    if let Some(Value::Array(volumes)) = service.get_mut("volumes") {
        for volume in volumes.iter_mut() {
            canonical_volume(volume);
        }
    }
    if let Some(depends_on) = service.get_mut("depends_on") {
        if let Value::Array(names) = depends_on {
            *depends_on = names
                .iter()
                .filter_map(scalar_string)
                .map(|name| (name, Value::Null))
                .collect::<Map<_, _>>()
                .into();
        }
        if let Value::Object(entries) = depends_on {
            for entry in entries.values_mut() {
                if entry.is_null() {
                    *entry = serde_json::json!({"condition": "service_started"});
                }
            }
        }
    }
    if let Some(Value::Object(healthcheck)) = service.get_mut("healthcheck") {
        if let Some(Value::String(test)) = healthcheck.get("test") {
            let test = serde_json::json!(["CMD-SHELL", test]);
            healthcheck.insert("test".into(), test);
        }
        if healthcheck.remove("disable") == Some(Value::Bool(true)) {
            healthcheck.insert("test".into(), serde_json::json!(["NONE"]));
        }
        for key in ["interval", "timeout", "start_period", "start_interval"] {
            canonical_duration(healthcheck.get_mut(key));
        }
    }
    canonical_duration(service.get_mut("stop_grace_period"));
    if let Some(environment) = service.get_mut("environment") {
        list_to_map(environment, Value::Null);
    }
    for key in ["labels", "sysctls"] {
        if let Some(labels) = service.get_mut(key) {
            list_to_map(labels, Value::String(String::new()));
        }
    }
    if let Some(networks) = service.get_mut("networks") {
        list_to_map(networks, Value::Null);
        if let Value::Object(entries) = networks {
            for entry in entries.values_mut() {
                if entry.is_null() {
                    *entry = Value::Object(Map::new());
                }
                sort_set(entry.get_mut("aliases"));
            }
        }
    }
    if let Some(hosts) = service.get_mut("extra_hosts") {
        if let Value::Object(map) = hosts {
            *hosts = map
                .iter()
                .map(|(host, address)| {
                    Value::String(format!(
                        "{host}:{}",
                        scalar_string(address).unwrap_or_default()
                    ))
                })
                .collect();
        }
        sort_set(Some(hosts));
    }
    if let Some(Value::Array(entries)) = service.get_mut("volumes_from") {
        for entry in entries.iter_mut() {
            if let Value::String(text) = entry {
                let stripped = text.strip_prefix("service:").unwrap_or(text);
                let stripped = stripped.strip_suffix(":rw").unwrap_or(stripped);
                *text = stripped.to_string();
            }
        }
    }
    if let Some(build) = service.get_mut("build") {
        if let Value::String(context) = build {
            *build = serde_json::json!({ "context": context });
        }
        if let Some(args) = build.get_mut("args") {
            list_to_map(args, Value::Null);
        }
    }
    if let Some(Value::Object(deploy)) = service.get_mut("deploy") {
        if let Some(labels) = deploy.get_mut("labels") {
            list_to_map(labels, Value::String(String::new()));
        }
        for policy in ["update_config", "rollback_config", "restart_policy"] {
            if let Some(Value::Object(policy)) = deploy.get_mut(policy) {
                for key in ["delay", "monitor", "window"] {
                    canonical_duration(policy.get_mut(key));
                }
            }
        }
        if let Some(Value::Object(placement)) = deploy.get_mut("placement") {
            sort_set(placement.get_mut("constraints"));
        }
        if let Some(Value::Object(resources)) = deploy.get_mut("resources") {
            for kind in ["limits", "reservations"] {
                if let Some(Value::Object(limits)) = resources.get_mut(kind)
                    && let Some(cpus) = limits.get_mut("cpus")
                    && let Some(number) = scalar_string(cpus).and_then(|c| c.parse::<f64>().ok())
                {
                    *cpus = Value::String(number.to_string());
                }
            }
        }
    }
    for key in [
        "cap_add",
        "cap_drop",
        "expose",
        "links",
        "profiles",
        "security_opt",
        "volumes_from",
        "ports",
    ] {
        sort_set(service.get_mut(key));
    }
    if let Some(Value::Array(volumes)) = service.get_mut("volumes") {
        volumes.sort_by_key(|volume| volume.get("target").and_then(scalar_string));
    }
}

/// One port entry in long form, with every field present (ranges of targets expanded).
fn canonical_ports(port: &Value) -> Vec<Value> {
    let mut base = Map::new();
    base.insert("target".into(), Value::Null);
    base.insert("published".into(), Value::Null);
    base.insert("host_ip".into(), Value::Null);
    base.insert("protocol".into(), "tcp".into());
    base.insert("mode".into(), "ingress".into());
    match port {
        Value::Object(fields) => {
            for (key, value) in fields {
                base.insert(key.clone(), value.clone());
            }
            vec![Value::Object(base)]
        }
        other => {
            let spec = scalar_string(other).unwrap_or_default();
            let (address, protocol) = spec.rsplit_once('/').unwrap_or((&spec, "tcp"));
            let mut parts: Vec<&str> = address.rsplitn(3, ':').collect();
            parts.reverse();
            let (host_ip, published, target) = match parts.as_slice() {
                [target] => (None, None, *target),
                [published, target] => (None, Some(*published), *target),
                [host_ip, published, target] => (Some(*host_ip), Some(*published), *target),
                _ => unreachable!("rsplitn(3) gives 1 to 3 parts"),
            };
            let host_ip = host_ip
                .map(|ip| ip.trim_start_matches('[').trim_end_matches(']'))
                .filter(|ip| !ip.is_empty());
            let published = published.filter(|p| !p.is_empty());
            base.insert("protocol".into(), protocol.into());
            base.insert("host_ip".into(), host_ip.map_or(Value::Null, Value::from));
            let range = |text: &str| -> Option<(u32, u32)> {
                let (start, end) = text.split_once('-').unwrap_or((text, text));
                Some((start.parse().ok()?, end.parse().ok()?))
            };
            let (Some((first, last)), published_range) = (range(target), published.map(range))
            else {
                base.insert("target".into(), target.into());
                base.insert(
                    "published".into(),
                    published.map_or(Value::Null, Value::from),
                );
                return vec![Value::Object(base)];
            };
            (first..=last)
                .map(|target| {
                    let mut port = base.clone();
                    port.insert("target".into(), target.into());
                    let published = match (published, published_range) {
                        (Some(_), Some(Some((start, _)))) if first != last => {
                            Value::from((start + target - first).to_string())
                        }
                        (Some(text), _) => Value::from(text),
                        (None, _) => Value::Null,
                    };
                    port.insert("published".into(), published);
                    Value::Object(port)
                })
                .collect()
        }
    }
}

fn canonical_volume(volume: &mut Value) {
    match volume {
        Value::Object(fields) => {
            fields.entry("source").or_insert(Value::Null);
            fields.entry("read_only").or_insert(false.into());
        }
        other => {
            let spec = scalar_string(other).unwrap_or_default();
            let parts: Vec<&str> = spec.split(':').collect();
            let (source, target, mode) = match parts.as_slice() {
                [target] => (None, *target, ""),
                [source, target] => (Some(*source), *target, ""),
                [source, target, mode, ..] => (Some(*source), *target, *mode),
                [] => (None, "", ""),
            };
            let kind = match source {
                Some(source) if source.starts_with('/') => "bind",
                _ => "volume",
            };
            *other = serde_json::json!({
                "type": kind,
                "source": source,
                "target": target,
                "read_only": mode.split(',').any(|flag| flag == "ro"),
            });
        }
    }
}

/// Sorts a list whose order carries no meaning (1.29 sorts such lists when it merges files).
fn sort_set(value: Option<&mut Value>) {
    if let Some(Value::Array(items)) = value {
        items.sort_by_cached_key(|item| {
            let mut key = item.clone();
            stringify_scalars(&mut key);
            scalar_string(&key).unwrap_or_else(|| key.to_string())
        });
    }
}

/// A duration (`1m30s`, `90s`, `500ms`) as nanoseconds; 1.29 rewrites some durations
/// (`1m30s` becomes `90s`).
fn canonical_duration(value: Option<&mut Value>) {
    let Some(value) = value else { return };
    let Some(text) = scalar_string(value) else {
        return;
    };
    if let Some(nanos) = duration_nanos(&text) {
        *value = Value::String(format!("{nanos}ns"));
    }
}

fn duration_nanos(text: &str) -> Option<u128> {
    const UNITS: &[(&str, f64)] = &[
        ("ns", 1.0),
        ("us", 1e3),
        ("µs", 1e3),
        ("ms", 1e6),
        ("s", 1e9),
        ("m", 60e9),
        ("h", 3600e9),
    ];
    let mut rest = text.trim();
    if rest.is_empty() {
        return None;
    }
    let mut total = 0.0;
    while !rest.is_empty() {
        let number_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let number: f64 = rest[..number_end].parse().ok()?;
        rest = &rest[number_end..];
        let (unit, scale) = UNITS
            .iter()
            .filter(|(unit, _)| rest.starts_with(unit))
            .max_by_key(|(unit, _)| unit.len())?;
        total += number * scale;
        rest = &rest[unit.len()..];
    }
    Some(total.round() as u128)
}

fn canonical_top_level_entry(entry: &mut Value) {
    if entry.is_null() {
        *entry = Value::Object(Map::new());
    }
    if let Value::Object(fields) = entry
        && let Some(Value::Object(external)) = fields.get("external").cloned()
    {
        fields.insert("external".into(), true.into());
        if let Some(name) = external.get("name") {
            fields.insert("name".into(), name.clone());
        }
    }
}

// ---------------------------------------------------------------------------------------
// Comparing

/// Maps whose keys are data, not field names: both tools must have the same keys.
const KEYED_MAPS: &[&str] = &[
    "services",
    "networks",
    "volumes",
    "services.*.environment",
    "services.*.labels",
    "services.*.depends_on",
    "services.*.networks",
    "services.*.sysctls",
    "services.*.build.args",
    "services.*.deploy.labels",
    "services.*.logging.options",
    "networks.*.labels",
    "networks.*.driver_opts",
    "volumes.*.labels",
    "volumes.*.driver_opts",
];

fn matches(pattern: &str, path: &[String]) -> bool {
    let segments: Vec<&str> = pattern.split('.').collect();
    segments.len() == path.len()
        && segments
            .iter()
            .zip(path)
            .all(|(segment, key)| *segment == "*" || segment == key)
}

/// The exception that lets nap print `path` where 1.29 prints nothing.
fn exception_for(path: &[String]) -> Option<&'static str> {
    EXCEPTIONS
        .iter()
        .map(|(pattern, _)| *pattern)
        .find(|pattern| matches(pattern, path))
}

fn show_path(path: &[String]) -> String {
    let mut out = String::new();
    for segment in path {
        if segment.starts_with('[') || out.is_empty() {
            out.push_str(segment);
        } else {
            let _ = write!(out, ".{segment}");
        }
    }
    if out.is_empty() { "(top)".into() } else { out }
}

fn is_empty(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Array(items) => items.is_empty(),
        Value::Object(map) => map.is_empty(),
        _ => false,
    }
}

/// What comparing found: one message per difference, and the exceptions that were needed.
#[derive(Default)]
struct Comparison {
    mismatches: Vec<String>,
    used_exceptions: BTreeSet<&'static str>,
}

impl Comparison {
    /// Compares 1.29's canonical tree with nap's below `path`.
    fn compare(&mut self, path: &mut Vec<String>, oracle: &Value, nap: &Value) {
        match (oracle, nap) {
            (Value::Object(oracle_map), Value::Object(nap_map)) => {
                for (key, oracle_value) in oracle_map {
                    path.push(key.clone());
                    match nap_map.get(key) {
                        Some(nap_value) => self.compare(path, oracle_value, nap_value),
                        // An empty list or map is as good as none, except for a command
                        // or entrypoint, where `[]` clears the image's.
                        None if is_empty(oracle_value)
                            && !matches!(key.as_str(), "command" | "entrypoint") => {}
                        None => self.mismatches.push(format!(
                            "{}: docker-compose 1.29 has {oracle_value}, nap has nothing",
                            show_path(path)
                        )),
                    }
                    path.pop();
                }
                let keyed = KEYED_MAPS.iter().any(|pattern| matches(pattern, path));
                for (key, nap_value) in nap_map {
                    if oracle_map.contains_key(key) {
                        continue;
                    }
                    path.push(key.clone());
                    if keyed {
                        match exception_for(path) {
                            Some(pattern) => {
                                self.used_exceptions.insert(pattern);
                            }
                            None => self.mismatches.push(format!(
                                "{}: docker-compose 1.29 has nothing, nap has {nap_value}",
                                show_path(path)
                            )),
                        }
                    } else if KEYED_MAPS.iter().any(|pattern| matches(pattern, path)) {
                        // A keyed map that 1.29 leaves out is empty: nap's must be too.
                        self.compare(path, &Value::Object(Map::new()), nap_value);
                    }
                    path.pop();
                }
            }
            (Value::Array(oracle_items), Value::Array(nap_items))
                if oracle_items.len() == nap_items.len() =>
            {
                for (index, (oracle_item, nap_item)) in
                    oracle_items.iter().zip(nap_items).enumerate()
                {
                    path.push(format!("[{index}]"));
                    self.compare(path, oracle_item, nap_item);
                    path.pop();
                }
            }
            _ if oracle == nap => {}
            _ => self.mismatches.push(format!(
                "{}: docker-compose 1.29 has {oracle}, nap has {nap}",
                show_path(path)
            )),
        }
    }
}

// ---------------------------------------------------------------------------------------
// The tests

/// Runs both tools on a case and compares their canonical trees.
fn check_good_case(case: &Path) -> Comparison {
    let name = case_name(case);
    let failed = |message: String| Comparison {
        mismatches: vec![format!("{name}: {message}")],
        ..Comparison::default()
    };
    let setup = Setup::read(case);
    let oracle = setup.run(case, Path::new("docker-compose"), &["config"]);
    if !oracle.status.success() {
        return failed(format!(
            "docker-compose 1.29 rejects the case: {}",
            text(&oracle.stderr).trim()
        ));
    }
    let oracle_tree: Value = match serde_yaml::from_slice(&oracle.stdout) {
        Ok(tree) => tree,
        Err(error) => return failed(format!("1.29's output is not YAML: {error}")),
    };
    let nap = setup.run(case, &nap_binary(), &["config", "--format", "json"]);
    if !nap.status.success() {
        return failed(format!(
            "nap rejects the case ({}): {}",
            nap.status,
            text(&nap.stderr).trim()
        ));
    }
    let nap_tree: Value = match serde_json::from_slice(&nap.stdout) {
        Ok(tree) => tree,
        Err(error) => {
            return failed(format!(
                "nap's output is not JSON ({error}): {:?}",
                text(&nap.stdout)
            ));
        }
    };
    let profiles = setup.profiles();
    let oracle_tree = canonical(oracle_tree, Side::Oracle, &profiles);
    let nap_tree = canonical(nap_tree, Side::Nap, &profiles);
    let mut comparison = Comparison::default();
    comparison.compare(&mut Vec::new(), &oracle_tree, &nap_tree);
    for message in &mut comparison.mismatches {
        *message = format!("{name}: {message}");
    }
    comparison
}

#[test]
fn nap_config_agrees_with_docker_compose_1_29() {
    require_docker_compose();
    let cases = common::corpus_cases("compose");
    assert!(
        cases.len() >= 20,
        "the corpus has only {} cases",
        cases.len()
    );
    let comparisons = for_each_case(&cases, check_good_case);
    let mut mismatches: Vec<String> = Vec::new();
    let mut used = BTreeSet::new();
    for comparison in comparisons {
        mismatches.extend(comparison.mismatches);
        used.extend(comparison.used_exceptions);
    }
    for (pattern, why) in EXCEPTIONS {
        if !used.contains(pattern) {
            mismatches.push(format!(
                "the exception for {pattern} ({why}) is no longer needed: remove it"
            ));
        }
    }
    assert!(
        mismatches.is_empty(),
        "nap config and docker-compose 1.29 config disagree ({} differences over {} cases):\n{}",
        mismatches.len(),
        cases.len(),
        mismatches.join("\n")
    );
}

fn check_bad_case(case: &Path) -> Vec<String> {
    let name = case_name(case);
    let setup = Setup::read(case);
    let mut problems = Vec::new();
    let oracle = setup.run(case, Path::new("docker-compose"), &["config"]);
    match ORACLE_ACCEPTS
        .iter()
        .find(|(accepted, _)| *accepted == name)
    {
        Some((_, why)) if !oracle.status.success() => problems.push(format!(
            "{name}: docker-compose 1.29 now rejects the case, although ORACLE_ACCEPTS says {why:?}: {}",
            text(&oracle.stderr).trim()
        )),
        None if oracle.status.success() => problems.push(format!(
            "{name}: docker-compose 1.29 accepts the case, so it is not a broken file"
        )),
        _ => {}
    }
    let nap = setup.run(case, &nap_binary(), &["config", "--format", "json"]);
    let stderr = text(&nap.stderr);
    if nap.status.code() != Some(1) {
        problems.push(format!(
            "{name}: nap should exit with 1, exited {}; stderr: {}",
            nap.status,
            stderr.trim()
        ));
    }
    let expect = std::fs::read_to_string(case.join("expect"))
        .unwrap_or_else(|error| panic!("{}/expect: {error}", case.display()));
    for line in expect.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if !stderr.contains(line) {
            problems.push(format!(
                "{name}: nap's stderr lacks {line:?}; it is: {}",
                stderr.trim()
            ));
        }
    }
    problems
}

#[test]
fn bad_files_fail_in_both_and_nap_names_file_and_line() {
    require_docker_compose();
    let cases = common::corpus_cases("compose-bad");
    assert!(
        cases.len() >= 10,
        "the bad corpus has only {} cases",
        cases.len()
    );
    let names: BTreeSet<String> = cases.iter().map(|case| case_name(case)).collect();
    for (accepted, _) in ORACLE_ACCEPTS {
        assert!(
            names.contains(*accepted),
            "ORACLE_ACCEPTS names {accepted:?}, which is not a case"
        );
    }
    let problems: Vec<String> = for_each_case(&cases, check_bad_case)
        .into_iter()
        .flatten()
        .collect();
    assert!(
        problems.is_empty(),
        "broken files not rejected as expected:\n{}",
        problems.join("\n")
    );
}

/// The canonical form itself, on 1.29 output seen in the corpus.
#[test]
fn canonical_form_of_short_syntax() {
    let tree = serde_json::json!({
        "version": "3.9",
        "services": {
            "web": {
                "command": "sh -c 'echo $$HOME; sleep 1'",
                "ports": ["127.0.0.1:8081:81/tcp", "::1:6001:6001/tcp", "127.0.0.1::82/udp",
                          {"target": 80}, {"published": 8080, "target": 80}],
                "volumes": ["data:/data:rw", "/abs:/x:ro", "/anon"],
                "depends_on": ["db"],
                "healthcheck": {"test": "true", "retries": 3},
                "deploy": {"resources": {"limits": {"cpus": 1.0}}},
                "volumes_from": ["service:db:rw", "container:c:ro"],
            },
            "db": {"image": "x", "profiles": ["debug"]},
        },
        "networks": {"ext": {"external": {"name": "real"}}},
    });
    let canonical = canonical(tree, Side::Oracle, &BTreeSet::new());
    let expected = serde_json::json!({
        "services": {
            "web": {
                "command": ["sh", "-c", "echo $HOME; sleep 1"],
                "ports": [
                    {"target": "6001", "published": "6001", "host_ip": "::1", "protocol": "tcp", "mode": "ingress"},
                    {"target": "80", "published": "8080", "host_ip": null, "protocol": "tcp", "mode": "ingress"},
                    {"target": "80", "published": null, "host_ip": null, "protocol": "tcp", "mode": "ingress"},
                    {"target": "81", "published": "8081", "host_ip": "127.0.0.1", "protocol": "tcp", "mode": "ingress"},
                    {"target": "82", "published": null, "host_ip": "127.0.0.1", "protocol": "udp", "mode": "ingress"},
                ],
                "volumes": [
                    {"type": "volume", "source": null, "target": "/anon", "read_only": "false"},
                    {"type": "volume", "source": "data", "target": "/data", "read_only": "false"},
                    {"type": "bind", "source": "/abs", "target": "/x", "read_only": "true"},
                ],
                "depends_on": {"db": {"condition": "service_started"}},
                "healthcheck": {"test": ["CMD-SHELL", "true"], "retries": "3"},
                "deploy": {"resources": {"limits": {"cpus": "1"}}},
                "volumes_from": ["container:c:ro", "db"],
            },
        },
        "networks": {"ext": {"external": "true", "name": "real"}},
    });
    assert_eq!(canonical, expected);
    let mut comparison = Comparison::default();
    comparison.compare(
        &mut Vec::new(),
        &serde_json::json!({"services": {"a": {"environment": {"A": "1"}, "profiles": []}}}),
        &serde_json::json!({
            "services": {
                "a": {"environment": {"A": "2", "B": "3"}, "networks": {"default": {}}},
                "b": {},
            },
            "networks": {"default": {"name": "corpus_default"}},
        }),
    );
    assert_eq!(
        comparison.mismatches,
        [
            "services.a.environment.A: docker-compose 1.29 has \"1\", nap has \"2\"",
            "services.a.environment.B: docker-compose 1.29 has nothing, nap has \"3\"",
            "services.b: docker-compose 1.29 has nothing, nap has {}",
        ]
    );
    assert_eq!(
        comparison.used_exceptions,
        BTreeSet::from(["networks.default", "services.*.networks.default"])
    );
}
