//! Serving fake engines over HTTP on unix sockets: one socket and one independent
//! [`Engine`] per host, all in one process, with a per-call latency and call counts.
//!
//! Every API call waits the configured latency (a tokio sleep, so calls overlap as they do
//! on a real daemon), is counted under its route (`POST /containers/{id}/start`), and is
//! answered by the socket's engine. The event stream stays open and carries the engine's
//! events; an attached exec upgrades the connection as dockerd does. `GET /_fake/stats`
//! (`?all=1` for every engine) reports the counts, `POST /_fake/reset` zeroes them; neither
//! waits nor is counted.
//!
//! It does not speak TCP or TLS, and it holds no state of its own beyond the engines and the
//! counters.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::header::{CONNECTION, CONTENT_TYPE, UPGRADE};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixListener;
use tokio::sync::broadcast;
use tokio::task::JoinHandle;

use crate::engine::{Call, Engine, EngineConfig, Reply};

/// What to serve.
#[derive(Debug, Clone)]
pub struct FakeConfig {
    /// Folder the sockets are made in (created if missing).
    pub dir: PathBuf,
    /// How many engines (hosts): sockets `h001.sock`, `h002.sock`…
    pub hosts: usize,
    /// Waited before answering each API call.
    pub latency: Duration,
    /// Settings every engine starts with.
    pub engine: EngineConfig,
}

impl FakeConfig {
    /// The name of host `index` (from 1): `h001` (wider when there are 1,000 hosts or more).
    pub fn host_name(&self, index: usize) -> String {
        let width = self.hosts.to_string().len().max(3);
        format!("h{index:0width$}")
    }

    /// The socket of host `index` (from 1).
    pub fn socket(&self, index: usize) -> PathBuf {
        self.dir.join(format!("{}.sock", self.host_name(index)))
    }
}

/// Counters of one engine.
#[derive(Debug, Default)]
struct Counters {
    calls: Mutex<BTreeMap<String, u64>>,
    in_flight: AtomicU64,
    max_in_flight: AtomicU64,
}

struct Shared {
    name: String,
    engine: Mutex<Engine>,
    events: broadcast::Sender<Value>,
    counters: Counters,
    latency: Duration,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Running fake engines. Dropping it does not stop them; [`Fake::stop`] does.
pub struct Fake {
    config: FakeConfig,
    engines: Arc<Vec<Arc<Shared>>>,
    tasks: Vec<JoinHandle<()>>,
}

type Body = BoxBody<Bytes, Infallible>;

fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into()).boxed()
}

fn json_response(status: u16, value: &Value) -> Response<Body> {
    Response::builder()
        .status(status)
        .header(CONTENT_TYPE, "application/json")
        .header("Api-Version", crate::engine::API_VERSION)
        .body(full(format!("{value}\n")))
        .expect("a valid response")
}

/// The route a path is counted under: ids and names become `{id}` / `{name}`.
pub fn route_of(method: &str, path: &str) -> String {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let keyword = |s: &str| matches!(s, "json" | "create" | "prune" | "load" | "get" | "search");
    let shape: Vec<String> = match segments.as_slice() {
        ["images", rest @ .., "json"] if !rest.is_empty() => {
            vec!["images".into(), "{name}".into(), "json".into()]
        }
        [
            kind @ ("containers" | "networks" | "volumes" | "exec"),
            id,
            rest @ ..,
        ] if !keyword(id) => {
            let mut shape = vec![kind.to_string(), "{id}".to_string()];
            shape.extend(rest.iter().map(|s| s.to_string()));
            shape
        }
        other => other.iter().map(|s| s.to_string()).collect(),
    };
    format!("{method} /{}", shape.join("/"))
}

/// The path without bollard's `/v1.47` prefix.
fn strip_version(path: &str) -> &str {
    let Some(rest) = path.strip_prefix("/v") else {
        return path;
    };
    let end = rest.find('/').unwrap_or(rest.len());
    let version = &rest[..end];
    let is_version = version.split('.').count() == 2
        && version
            .split('.')
            .all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()));
    if is_version { &rest[end..] } else { path }
}

fn stats_of(shared: &Shared) -> Value {
    let calls = lock(&shared.counters.calls).clone();
    let total: u64 = calls.values().sum();
    json!({
        "engine": shared.name,
        "total": total,
        "max_in_flight": shared.counters.max_in_flight.load(Ordering::Relaxed),
        "calls": calls,
    })
}

/// Totals over every engine: calls per route, the sum, and the highest concurrency any one
/// engine saw.
fn stats_all(engines: &[Arc<Shared>]) -> Value {
    let mut calls: BTreeMap<String, u64> = BTreeMap::new();
    let mut max_in_flight = 0;
    let mut busiest = 0;
    for shared in engines {
        let mine = lock(&shared.counters.calls);
        let mut engine_total = 0;
        for (route, count) in mine.iter() {
            *calls.entry(route.clone()).or_default() += count;
            engine_total += count;
        }
        busiest = busiest.max(engine_total);
        max_in_flight = max_in_flight.max(shared.counters.max_in_flight.load(Ordering::Relaxed));
    }
    let total: u64 = calls.values().sum();
    json!({
        "engines": engines.len(),
        "total": total,
        "max_calls_one_engine": busiest,
        "max_in_flight_one_engine": max_in_flight,
        "calls": calls,
    })
}

async fn handle(
    shared: Arc<Shared>,
    engines: Arc<Vec<Arc<Shared>>>,
    mut request: Request<Incoming>,
) -> Result<Response<Body>, Infallible> {
    let method = request.method().as_str().to_string();
    let path = strip_version(request.uri().path()).to_string();
    let query: Vec<(String, String)> = request
        .uri()
        .query()
        .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default();
    if let Some(control) = path.strip_prefix("/_fake/") {
        let all = query.iter().any(|(k, v)| k == "all" && v != "0");
        return Ok(match (method.as_str(), control) {
            ("GET", "stats") if all => json_response(200, &stats_all(&engines)),
            ("GET", "stats") => json_response(200, &stats_of(&shared)),
            ("POST", "reset") => {
                for engine in engines.iter() {
                    lock(&engine.counters.calls).clear();
                    engine.counters.max_in_flight.store(0, Ordering::Relaxed);
                }
                json_response(200, &json!({"reset": engines.len()}))
            }
            _ => json_response(404, &json!({"message": "unknown fake control call"})),
        });
    }
    let upgrade = request
        .headers()
        .get(UPGRADE)
        .is_some()
        .then(|| hyper::upgrade::on(&mut request));
    let body = match request.into_body().collect().await {
        Ok(collected) => collected.to_bytes().to_vec(),
        Err(_) => Vec::new(),
    };

    *lock(&shared.counters.calls)
        .entry(route_of(&method, &path))
        .or_default() += 1;
    let now = shared.counters.in_flight.fetch_add(1, Ordering::Relaxed) + 1;
    shared
        .counters
        .max_in_flight
        .fetch_max(now, Ordering::Relaxed);
    tokio::time::sleep(shared.latency).await;
    let call = Call {
        method,
        path,
        query,
        body,
    };
    let reply = {
        let mut engine = lock(&shared.engine);
        let reply = engine.handle(&call);
        for event in engine.take_events() {
            let _ = shared.events.send(event);
        }
        reply
    };
    shared.counters.in_flight.fetch_sub(1, Ordering::Relaxed);

    let response = match reply {
        Reply::Json(status, value) => json_response(status, &value),
        Reply::RawJson(status, text) => Response::builder()
            .status(status)
            .header(CONTENT_TYPE, "application/json")
            .header("Api-Version", crate::engine::API_VERSION)
            .body(full(text))
            .expect("a valid response"),
        Reply::Empty(status) => Response::builder()
            .status(status)
            .body(full(Bytes::new()))
            .expect("a valid response"),
        Reply::Bytes(status, content_type, bytes) => Response::builder()
            .status(status)
            .header(CONTENT_TYPE, content_type)
            .header("Api-Version", crate::engine::API_VERSION)
            .body(full(bytes))
            .expect("a valid response"),
        Reply::JsonLines(status, lines) => {
            let text: String = lines.iter().map(|line| format!("{line}\n")).collect();
            Response::builder()
                .status(status)
                .header(CONTENT_TYPE, "application/json")
                .body(full(text))
                .expect("a valid response")
        }
        Reply::Events(filter) => {
            let receiver = shared.events.subscribe();
            let stream = futures_util::stream::unfold(receiver, |mut receiver| async move {
                loop {
                    match receiver.recv().await {
                        Ok(event) => return Some((event, receiver)),
                        Err(broadcast::error::RecvError::Lagged(_)) => continue,
                        Err(broadcast::error::RecvError::Closed) => return None,
                    }
                }
            })
            .filter(move |event| std::future::ready(filter.matches(event)))
            .map(|event| Ok::<_, Infallible>(Frame::data(Bytes::from(format!("{event}\n")))));
            Response::builder()
                .status(200)
                .header(CONTENT_TYPE, "application/json")
                .body(BodyExt::boxed(StreamBody::new(stream)))
                .expect("a valid response")
        }
        Reply::ExecAttach { id, stdin } => {
            let Some(upgrade) = upgrade else {
                return Ok(json_response(
                    400,
                    &json!({"message": "the fake engine attaches execs by connection upgrade only"}),
                ));
            };
            let shared = shared.clone();
            tokio::spawn(async move {
                let Ok(upgraded) = upgrade.await else {
                    return;
                };
                let mut io = TokioIo::new(upgraded);
                let mut input = Vec::new();
                if stdin {
                    let _ = io.read_to_end(&mut input).await;
                }
                lock(&shared.engine).finish_exec(&id, &input);
                let _ = io.shutdown().await;
            });
            Response::builder()
                .status(StatusCode::SWITCHING_PROTOCOLS)
                .header(CONNECTION, "Upgrade")
                .header(UPGRADE, "tcp")
                .header(CONTENT_TYPE, "application/vnd.docker.raw-stream")
                .body(full(Bytes::new()))
                .expect("a valid response")
        }
    };
    Ok(response)
}

fn bind(path: &Path) -> std::io::Result<UnixListener> {
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
        Err(error) => return Err(error),
    }
    UnixListener::bind(path)
}

impl Fake {
    /// Binds every socket and starts serving on the current tokio runtime.
    pub async fn start(config: FakeConfig) -> std::io::Result<Fake> {
        std::fs::create_dir_all(&config.dir)?;
        let engines: Arc<Vec<Arc<Shared>>> = Arc::new(
            (1..=config.hosts)
                .map(|index| {
                    let name = config.host_name(index);
                    Arc::new(Shared {
                        engine: Mutex::new(Engine::new(&name, config.engine.clone())),
                        name,
                        events: broadcast::channel(4096).0,
                        counters: Counters::default(),
                        latency: config.latency,
                    })
                })
                .collect(),
        );
        let mut tasks = Vec::new();
        for (index, shared) in engines.iter().enumerate() {
            let listener = bind(&config.socket(index + 1))?;
            let shared = shared.clone();
            let all = engines.clone();
            tasks.push(tokio::spawn(async move {
                loop {
                    let Ok((stream, _)) = listener.accept().await else {
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        continue;
                    };
                    let shared = shared.clone();
                    let all = all.clone();
                    tokio::spawn(async move {
                        let service =
                            service_fn(move |request| handle(shared.clone(), all.clone(), request));
                        let _ = http1::Builder::new()
                            .serve_connection(TokioIo::new(stream), service)
                            .with_upgrades()
                            .await;
                    });
                }
            }));
        }
        Ok(Fake {
            config,
            engines,
            tasks,
        })
    }

    /// The configuration it serves.
    pub fn config(&self) -> &FakeConfig {
        &self.config
    }

    /// Call counts over every engine (what `GET /_fake/stats?all=1` returns).
    pub fn stats(&self) -> Value {
        stats_all(&self.engines)
    }

    /// One engine's call counts (host index from 1).
    pub fn engine_stats(&self, index: usize) -> Option<Value> {
        self.engines.get(index.checked_sub(1)?).map(|s| stats_of(s))
    }

    /// Answers `call` on engine `index` (from 1) directly, not counted and without latency:
    /// for tests to look at what an engine holds.
    pub fn call(&self, index: usize, call: &Call) -> Option<Reply> {
        let shared = self.engines.get(index.checked_sub(1)?)?;
        let mut engine = lock(&shared.engine);
        let reply = engine.handle(call);
        for event in engine.take_events() {
            let _ = shared.events.send(event);
        }
        Some(reply)
    }

    /// The paths of the files nap's helper containers left on host `index` (from 1).
    pub fn host_files(&self, index: usize) -> Option<Vec<(String, Vec<u8>)>> {
        let shared = self.engines.get(index.checked_sub(1)?)?;
        let engine = lock(&shared.engine);
        Some(
            engine
                .host_files()
                .iter()
                .map(|(path, contents)| (path.clone(), contents.clone()))
                .collect(),
        )
    }

    /// Zeroes every engine's call counts.
    pub fn reset_stats(&self) {
        for engine in self.engines.iter() {
            lock(&engine.counters.calls).clear();
            engine.counters.max_in_flight.store(0, Ordering::Relaxed);
        }
    }

    /// Stops accepting connections and removes the sockets. Connections already open are
    /// ended when the runtime is.
    pub fn stop(self) {
        for task in &self.tasks {
            task.abort();
        }
        for index in 1..=self.config.hosts {
            let _ = std::fs::remove_file(self.config.socket(index));
        }
    }
}

/// A fake on a runtime of its own (two worker threads), for synchronous callers such as tests
/// that run the `nap` binary against it.
pub struct BackgroundFake {
    runtime: Option<tokio::runtime::Runtime>,
    fake: Option<Fake>,
}

impl BackgroundFake {
    /// Starts `config` on a new runtime.
    pub fn start(config: FakeConfig) -> std::io::Result<BackgroundFake> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?;
        let fake = runtime.block_on(Fake::start(config))?;
        Ok(BackgroundFake {
            runtime: Some(runtime),
            fake: Some(fake),
        })
    }

    /// The running fake.
    pub fn fake(&self) -> &Fake {
        self.fake.as_ref().expect("running until dropped")
    }
}

impl Drop for BackgroundFake {
    fn drop(&mut self) {
        if let Some(fake) = self.fake.take() {
            fake.stop();
        }
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_hide_ids_and_versions_are_stripped() {
        assert_eq!(
            route_of("POST", "/containers/abc123/start"),
            "POST /containers/{id}/start"
        );
        assert_eq!(route_of("GET", "/containers/json"), "GET /containers/json");
        assert_eq!(
            route_of("POST", "/containers/create"),
            "POST /containers/create"
        );
        assert_eq!(
            route_of("GET", "/images/nap/bench:1/json"),
            "GET /images/{name}/json"
        );
        assert_eq!(route_of("DELETE", "/networks/x"), "DELETE /networks/{id}");
        assert_eq!(strip_version("/v1.47/containers/json"), "/containers/json");
        assert_eq!(strip_version("/version"), "/version");
        assert_eq!(strip_version("/volumes"), "/volumes");
    }
}
