//! End-to-end: bad input never reaches the hosts. Every broken compose project of
//! `tests/corpus/compose-bad` and every broken inventory of `tests/corpus/inventory-bad` is
//! given to the real `nap up` against the lab's daemons through a recording proxy; each must
//! exit 1 with the message in its `expect` file (naming the file and line, or the host), and
//! the proxy must have seen no request but reads (`GET`/`HEAD`): not a single mutating call
//! (but the project lock's, taken and released on the lock host).

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::process::Output;
use std::sync::{Arc, Mutex};

mod common;

use common::*;

/// Unix sockets that forward to the lab daemons, recording `host METHOD path` of every
/// request.
struct Recorder {
    dir: tempfile::TempDir,
    requests: Arc<Mutex<Vec<String>>>,
}

impl Recorder {
    fn start() -> Recorder {
        let dir = tempfile::tempdir().unwrap();
        let requests = Arc::new(Mutex::new(Vec::new()));
        for host in HOSTS {
            let listener = UnixListener::bind(dir.path().join(format!("{host}.sock"))).unwrap();
            let upstream = lab_dir().join(host).join("docker.sock");
            let requests = requests.clone();
            std::thread::spawn(move || {
                for client in listener.incoming() {
                    let Ok(client) = client else { break };
                    let upstream = upstream.clone();
                    let requests = requests.clone();
                    std::thread::spawn(move || relay(host, client, &upstream, &requests));
                }
            });
        }
        Recorder { dir, requests }
    }

    fn url(&self, host: &str) -> String {
        format!("unix://{}/{host}.sock", self.dir.path().display())
    }

    fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.requests.lock().unwrap())
    }
}

/// Forwards one client connection, recording each request's line; bodies are passed on by
/// their Content-Length (a chunked body is passed on raw, after its request was recorded).
fn relay(host: &str, client: UnixStream, upstream: &Path, requests: &Mutex<Vec<String>>) {
    let Ok(mut server) = UnixStream::connect(upstream) else {
        return;
    };
    let mut back = client.try_clone().unwrap();
    let mut from_server = server.try_clone().unwrap();
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut from_server, &mut back);
        let _ = back.shutdown(std::net::Shutdown::Both);
    });
    let mut reader = BufReader::new(client);
    loop {
        let mut head = Vec::new();
        let mut length = 0_usize;
        let mut chunked = false;
        loop {
            let mut line = String::new();
            match reader.read_line(&mut line) {
                Ok(0) | Err(_) => {
                    let _ = server.shutdown(std::net::Shutdown::Write);
                    return;
                }
                Ok(_) => {}
            }
            if head.is_empty() {
                let mut parts = line.split_whitespace();
                let method = parts.next().unwrap_or("?");
                let path = parts.next().unwrap_or("?");
                requests
                    .lock()
                    .unwrap()
                    .push(format!("{host} {method} {path}"));
            }
            let lower = line.to_ascii_lowercase();
            if let Some(value) = lower.strip_prefix("content-length:") {
                length = value.trim().parse().unwrap_or(0);
            }
            if lower.starts_with("transfer-encoding:") && lower.contains("chunked") {
                chunked = true;
            }
            head.extend_from_slice(line.as_bytes());
            if line == "\r\n" || line == "\n" {
                break;
            }
        }
        if server.write_all(&head).is_err() {
            return;
        }
        if chunked {
            let _ = std::io::copy(&mut reader, &mut server);
            return;
        }
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() || server.write_all(&body).is_err() {
            return;
        }
    }
}

/// The requests that change something, but the project lock's (`host_lock.rs`: taken before
/// planning and released after, every request of it names `nap-lock` in its path).
fn mutating(requests: &[String]) -> Vec<&String> {
    requests
        .iter()
        .filter(|request| {
            let method = request.split(' ').nth(1).unwrap_or("");
            method != "GET" && method != "HEAD" && !request.contains("nap-lock")
        })
        .collect()
}

/// A valid inventory of the three lab hosts behind the recorder.
fn lab_inventory(recorder: &Recorder) -> String {
    let lab = lab_dir();
    let mut text = String::from("hosts:\n");
    for (index, host) in HOSTS.iter().enumerate() {
        let address = format!("10.210.0.{}", 11 + index);
        text.push_str(&format!(
            "  {host}: {{docker: \"{}\", address: {address}, ssh: root@{address}}}\n",
            recorder.url(host)
        ));
    }
    text.push_str(&format!(
        "ssh: {{identity: {}, known_hosts: {}}}\nnetwork: {{mode: routed, pool: 172.29.240.0/20}}\n",
        lab.join("id_ed25519").display(),
        lab.join("known_hosts").display()
    ));
    text
}

fn expected(case: &Path) -> Vec<String> {
    std::fs::read_to_string(case.join("expect"))
        .unwrap_or_else(|error| panic!("{}/expect: {error}", case.display()))
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .map(String::from)
        .collect()
}

/// `nap --hosts INVENTORY -p PROJECT ARGS… up` in `dir`, with only PATH and HOME set.
fn nap_up(
    dir: &Path,
    project: &str,
    inventory: &Path,
    args: &[String],
    env: &[(String, String)],
) -> Output {
    nap_command(dir)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", "/nonexistent-home")
        .envs(env.iter().map(|(k, v)| (k, v)))
        .arg("--hosts")
        .arg(inventory)
        .args(["-p", project])
        .args(args)
        .args(["up", "--format", "json"])
        .output()
        .expect("run nap")
}

/// Checks one run: exit 1, every expected line in stderr, no mutating request.
fn check(case: &Path, output: &Output, recorder: &Recorder, problems: &mut Vec<String>) {
    let name = case.file_name().unwrap().to_string_lossy();
    let stderr = text(&output.stderr);
    if output.status.code() != Some(1) {
        problems.push(format!("{name}: exited {}: {stderr}", output.status));
    }
    for line in expected(case) {
        if !stderr.contains(&line) {
            problems.push(format!(
                "{name}: stderr lacks {line:?}; it is: {}",
                stderr.trim()
            ));
        }
    }
    let requests = recorder.take();
    let changes = mutating(&requests);
    if !changes.is_empty() {
        problems.push(format!(
            "{name}: mutating calls reached the hosts: {changes:?}"
        ));
    }
}

#[test]
fn the_recorder_sees_mutating_calls() {
    // The check itself: a real deployment through the recorder is seen creating things.
    let recorder = Recorder::start();
    let dir = tempfile::tempdir().unwrap();
    let inventory = dir.path().join("nap-hosts.yml");
    std::fs::write(&inventory, lab_inventory(&recorder)).unwrap();
    std::fs::write(
        dir.path().join("compose.yaml"),
        "services:\n  one:\n    image: nap/busybox:lab\n    command: [sleep, '100']\n",
    )
    .unwrap();
    let output = nap_up(dir.path(), "badrecorder", &inventory, &[], &[]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let requests = recorder.take();
    assert!(
        mutating(&requests)
            .iter()
            .any(|request| request.contains("POST") && request.contains("/containers/create")),
        "{requests:#?}"
    );
    let down = nap_command(dir.path())
        .arg("--hosts")
        .arg(&inventory)
        .args(["-p", "badrecorder", "down"])
        .output()
        .unwrap();
    assert!(down.status.success(), "{}", text(&down.stderr));
}

#[test]
fn broken_compose_files_reach_no_host() {
    let recorder = Recorder::start();
    let scratch = tempfile::tempdir().unwrap();
    let inventory = scratch.path().join("nap-hosts.yml");
    std::fs::write(&inventory, lab_inventory(&recorder)).unwrap();
    let cases = corpus_cases("compose-bad");
    assert!(cases.len() >= 10, "{cases:?}");
    let mut problems = Vec::new();
    for case in &cases {
        let setup = CaseSetup::read(case);
        let output = nap_up(case, "badcompose", &inventory, &setup.args, &setup.env);
        check(case, &output, &recorder, &mut problems);
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn broken_inventories_reach_no_host() {
    let recorder = Recorder::start();
    let cases = corpus_cases("inventory-bad");
    assert!(cases.len() >= 10, "{cases:?}");
    let mut problems = Vec::new();
    for case in &cases {
        let dir = tempfile::tempdir().unwrap();
        let mut inventory = std::fs::read_to_string(case.join("nap-hosts.yml")).unwrap();
        for host in HOSTS {
            inventory =
                inventory.replace(&format!("@{}@", host.to_uppercase()), &recorder.url(host));
        }
        inventory = inventory.replace("@LAB@", &lab_dir().display().to_string());
        std::fs::write(dir.path().join("nap-hosts.yml"), inventory).unwrap();
        let compose = std::fs::read_to_string(case.join("compose.yaml")).unwrap_or_else(|_| {
            "services:\n  web:\n    image: nap/busybox:lab\n    deploy: {replicas: 2}\n".to_string()
        });
        std::fs::write(dir.path().join("compose.yaml"), compose).unwrap();
        let output = nap_up(
            dir.path(),
            "badinventory",
            &dir.path().join("nap-hosts.yml"),
            &[],
            &[],
        );
        check(case, &output, &recorder, &mut problems);
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
