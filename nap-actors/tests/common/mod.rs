//! Helpers shared by the lab tests: a project in a folder of its own with an inventory for
//! the lab (its own project name and address pool), the real `nap` binary, `docker` on a lab
//! host, `exec` in a container, and what is left on the hosts.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

pub fn lab_dir() -> PathBuf {
    PathBuf::from(
        std::env::var("NAP_LAB_DIR")
            .expect("NAP_LAB_DIR is not set: run the suite with tests/run, which starts the lab"),
    )
}

pub const HOSTS: [&str; 3] = ["h1", "h2", "h3"];

/// A project in a folder of its own, with an inventory for the lab.
pub struct LabProject {
    pub dir: tempfile::TempDir,
    pub name: String,
    pub inventory: PathBuf,
}

impl LabProject {
    /// `pool_index` picks the project's /20 of the pool (distinct per test).
    pub fn new(name: &str, pool_index: u8, known_hosts: Option<&Path>) -> LabProject {
        let lab = lab_dir();
        let dir = tempfile::tempdir().expect("tempdir");
        let text = std::fs::read_to_string(lab.join("nap-hosts.yml")).expect("lab inventory");
        let known_hosts = known_hosts
            .map(Path::to_path_buf)
            .unwrap_or_else(|| lab.join("known_hosts"));
        let text = text
            .replace(
                "identity: id_ed25519",
                &format!("identity: {}", lab.join("id_ed25519").display()),
            )
            .replace(
                "known_hosts: known_hosts",
                &format!("known_hosts: {}", known_hosts.display()),
            )
            .replace(
                "pool: 172.30.0.0/16",
                // 16 pools of /20 in 172.30.0.0/16, then 16 more in 172.29.0.0/16.
                &format!(
                    "pool: 172.{}.{}.0/20",
                    30 - pool_index / 16,
                    (pool_index % 16) * 16
                ),
            );
        assert!(
            text.contains("/20"),
            "the lab inventory changed shape:\n{text}"
        );
        let inventory = dir.path().join("nap-hosts.yml");
        std::fs::write(&inventory, text).unwrap();
        LabProject {
            dir,
            name: name.to_string(),
            inventory,
        }
    }

    pub fn write_compose(&self, text: &str) {
        std::fs::write(self.dir.path().join("compose.yaml"), text).unwrap();
    }

    pub fn nap(&self, args: &[&str]) -> Output {
        let inventory = self.inventory.to_string_lossy().to_string();
        let mut all = vec!["--hosts", inventory.as_str(), "-p", self.name.as_str()];
        all.extend_from_slice(args);
        nap_command(self.dir.path())
            .args(&all)
            .output()
            .expect("run nap")
    }

    /// `nap up --format json`: asserts success, returns the events.
    pub fn up(&self, extra: &[&str]) -> Vec<Value> {
        let mut args = vec!["up", "--format", "json", "--wait-timeout", "60"];
        args.extend_from_slice(extra);
        let output = self.nap(&args);
        assert!(
            output.status.success(),
            "nap up failed:\n{}\n{}",
            text(&output.stdout),
            text(&output.stderr)
        );
        events(&output)
    }

    pub fn ps(&self) -> Vec<Value> {
        let output = self.nap(&["ps", "-a", "--format", "json"]);
        assert!(output.status.success(), "nap ps: {}", text(&output.stderr));
        serde_json::from_slice::<Value>(&output.stdout)
            .unwrap()
            .as_array()
            .unwrap()
            .clone()
    }
}

impl Drop for LabProject {
    fn drop(&mut self) {
        let _ = self.nap(&["down", "-v"]);
    }
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

pub fn events(output: &Output) -> Vec<Value> {
    text(&output.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect()
}

pub fn done(events: &[Value]) -> &Value {
    events
        .iter()
        .find(|event| event["event"] == "done")
        .expect("a done event")
}

/// `(op, subject)` of every finished mutating operation.
pub fn mutations(events: &[Value]) -> Vec<(String, String)> {
    events
        .iter()
        .filter(|event| event["event"] == "finished")
        .filter(|event| !event["op"].as_str().unwrap().starts_with("wait"))
        .filter(|event| {
            !matches!(
                event["outcome"].as_str().unwrap(),
                "up to date" | "exists" | "present" | "already gone"
            )
        })
        .map(|event| {
            (
                event["op"].as_str().unwrap().to_string(),
                event["subject"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

pub fn docker(host: &str, args: &[&str]) -> Output {
    let socket = format!("unix://{}/{host}/docker.sock", lab_dir().display());
    Command::new("docker")
        .args(["-H", &socket])
        .args(args)
        .output()
        .expect("run docker")
}

/// Runs a shell script in a container; returns (success, stdout + stderr).
pub fn exec_in(host: &str, container: &str, script: &str) -> (bool, String) {
    let output = docker(host, &["exec", container, "sh", "-c", script]);
    (
        output.status.success(),
        text(&output.stdout) + &text(&output.stderr),
    )
}

/// `docker ps -a` of the project's containers on every host, one `format` line each, with
/// the host: (host, line).
pub fn project_containers(project: &str, format: &str) -> Vec<(String, String)> {
    let mut found = Vec::new();
    for host in HOSTS {
        let output = docker(
            host,
            &[
                "ps",
                "-a",
                "--filter",
                &format!("label=nap.project={project}"),
                "--format",
                format,
            ],
        );
        for line in text(&output.stdout).lines() {
            found.push((host.to_string(), line.to_string()));
        }
    }
    found
}

/// Every project container on every host: name → host.
pub fn containers_on_hosts(project: &str) -> BTreeMap<String, String> {
    project_containers(project, "{{.Names}}")
        .into_iter()
        .map(|(host, name)| (name, host))
        .collect()
}

pub fn netns(host: &str, command: &[&str]) -> String {
    let output = Command::new("nsenter")
        .arg(format!("--net=/var/run/netns/nap-{host}"))
        .args(command)
        .output()
        .expect("nsenter");
    text(&output.stdout)
}

/// A web server answering on `port`, stopping at once on SIGTERM.
pub fn server(port: u16) -> String {
    format!(
        r#"["sh", "-c", "mkdir -p /www; hostname > /www/index.html; trap 'exit 0' TERM; httpd -f -p {port} -h /www & wait"]"#
    )
}

/// Variables of the test's own environment that would choose an inventory, a daemon, compose
/// files or plugin consent for nap; [`nap_command`] removes them so each test says what it
/// means.
pub const INHERITED_SELECTION: [&str; 11] = [
    "NAP_HOSTS",
    "NAP_ALLOW_PLUGINS",
    "DOCKER_HOST",
    "DOCKER_CONTEXT",
    "DOCKER_CERT_PATH",
    "DOCKER_TLS_VERIFY",
    "DOCKER_TLS",
    "COMPOSE_FILE",
    "COMPOSE_PROJECT_NAME",
    "COMPOSE_PROFILES",
    "COMPOSE_PATH_SEPARATOR",
];

/// The `nap` binary under test, run in `dir`, with none of [`INHERITED_SELECTION`]: the one
/// way tests start nap.
pub fn nap_command(dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_nap"));
    command.current_dir(dir);
    for key in INHERITED_SELECTION {
        command.env_remove(key);
    }
    command
}

/// A plugin library built from `plugins/` (by `cargo build --workspace`, which `tests/run`
/// runs before the tests): `target/<profile>/lib<crate>.so`, found from the test binary.
pub fn plugin_library(crate_name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    // target/<profile>/deps/<test binary>
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>");
    let path = profile_dir.join(format!("lib{}.so", crate_name.replace('-', "_")));
    assert!(
        path.exists(),
        "{} is missing: run cargo build --workspace first",
        path.display()
    );
    path
}

/// A running `nap … --format json` (watch, or an up to interrupt) and its events.
pub struct Running {
    pub child: Child,
    pub events: mpsc::Receiver<Value>,
    pub seen: Vec<Value>,
}

impl Running {
    /// Starts `nap --hosts … -p … ARGS` in the project folder.
    pub fn start(project: &LabProject, args: &[&str]) -> Running {
        let mut child = nap_command(project.dir.path())
            .args(["--hosts"])
            .arg(&project.inventory)
            .args(["-p", &project.name])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start nap");
        let stdout = child.stdout.take().unwrap();
        let (sender, events) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Ok(event) = serde_json::from_str::<Value>(&line) {
                    let _ = sender.send(event);
                }
            }
        });
        Running {
            child,
            events,
            seen: Vec::new(),
        }
    }

    /// Waits for nap to exit and keeps every event it printed in `seen`.
    pub fn wait(&mut self) -> std::process::ExitStatus {
        let status = self.child.wait().expect("wait for nap");
        // The reader thread ends with the output; take what it read after the last `until`.
        while let Ok(event) = self.events.recv_timeout(Duration::from_secs(10)) {
            self.seen.push(event);
        }
        status
    }

    /// Waits (at most two minutes) for an event of `kind`; returns the events since the last
    /// call, that one included.
    pub fn until(&mut self, kind: &str) -> Vec<Value> {
        self.until_matching(kind, |event| event["event"] == kind)
    }

    /// Waits (at most two minutes) for an event `matches` accepts (`what` names it in the
    /// panic); returns the events since the last call, that one included.
    pub fn until_matching(&mut self, what: &str, matches: impl Fn(&Value) -> bool) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(120);
        let mut batch = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let event = self
                .events
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("no {what:?} event; so far: {:#?}", self.seen));
            self.seen.push(event.clone());
            let done = matches(&event);
            batch.push(event);
            if done {
                return batch;
            }
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The case folders of `tests/corpus/<kind>`, sorted by name.
pub fn corpus_cases(kind: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/corpus")
        .join(kind);
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|error| panic!("{}: {error}", dir.display()))
        .map(|entry| entry.expect("corpus entry").path())
        .filter(|path| path.is_dir())
        .collect();
    cases.sort();
    cases
}

/// A corpus case's `args` (shell words, before the subcommand) and `env` (`KEY=VALUE` lines,
/// `#` comments), both optional.
pub struct CaseSetup {
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
}

impl CaseSetup {
    pub fn read(case: &Path) -> CaseSetup {
        let args = match std::fs::read_to_string(case.join("args")) {
            Ok(text) => shell_words::split(&text)
                .unwrap_or_else(|error| panic!("{}/args: {error}", case.display())),
            Err(_) => Vec::new(),
        };
        let env = match std::fs::read_to_string(case.join("env")) {
            Ok(text) => text
                .lines()
                .map(str::trim)
                .filter(|line| !line.is_empty() && !line.starts_with('#'))
                .map(|line| {
                    let (key, value) = line.split_once('=').unwrap_or_else(|| {
                        panic!("{}/env: {line:?} is not KEY=VALUE", case.display())
                    });
                    (key.to_string(), value.to_string())
                })
                .collect(),
            Err(_) => Vec::new(),
        };
        CaseSetup { args, env }
    }
}
