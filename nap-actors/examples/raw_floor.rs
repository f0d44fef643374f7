//! The benchmarks' floor: the containers of a plan created and started straight through the
//! Docker API with the fewest calls (one network create per host, then one create and one
//! start per container) at the most parallelism the daemons allow (every container of a
//! dependency level at once, every host at once), and removed the same way. `tests/bench/*`
//! compare nap and docker-compose with it in the same run.
//!
//! ```sh
//! nap plan --offline --format json > plan.json
//! cargo run --release -p nap-actors --example raw_floor -- \
//!     --hosts nap-hosts.yml --plan plan.json --deps deps.json --image IMG --cmd-json '["sleep","1000"]'
//! # … --down  removes what the run made
//! ```
//!
//! `deps.json` maps each service to the services it waits for: `{"api": ["db"], "web": ["api"]}`;
//! a service's replicas are created and started once every replica it waits for has started. `--parallel N` caps the containers being
//! created and started at once on each host (default 0: no cap); the benchmarks try a few caps
//! and keep the fastest, since a daemon on few cores can be slower with everything at once.
//! Prints the seconds it took on stdout.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::Instant;

use bollard::Docker;
use bollard::models::{ContainerCreateBody, HostConfig, NetworkCreateRequest};
use bollard::query_parameters::{CreateContainerOptionsBuilder, RemoveContainerOptionsBuilder};
use futures_util::FutureExt;
use futures_util::future::{BoxFuture, Shared, join_all, try_join_all};
use nap_core::inventory::Inventory;
use serde_json::Value;

/// The networks' name is `nap-raw-floor-<pid>`: a daemon can keep a removed container's
/// endpoint and refuse to remove a network, and a same-name network would be ambiguous.
fn network() -> String {
    format!("nap-raw-floor-{}", std::process::id())
}
const LABEL: &str = "nap.bench.raw";

struct Args {
    hosts: PathBuf,
    plan: PathBuf,
    deps: PathBuf,
    image: String,
    cmd: Vec<String>,
    down: bool,
    /// Containers created and started at once per host (0: no limit).
    parallel: usize,
}

fn parse_args() -> Result<Args, String> {
    let mut args = std::env::args().skip(1);
    let (mut hosts, mut plan, mut deps) = (None, None, None);
    let (mut image, mut cmd, mut down, mut parallel) = (None, None, false, 0);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--hosts" => hosts = Some(PathBuf::from(value()?)),
            "--plan" => plan = Some(PathBuf::from(value()?)),
            "--deps" => deps = Some(PathBuf::from(value()?)),
            "--image" => image = Some(value()?),
            "--cmd-json" => {
                cmd = Some(serde_json::from_str(&value()?).map_err(|e| format!("--cmd-json: {e}"))?)
            }
            "--down" => down = true,
            "--parallel" => parallel = value()?.parse().map_err(|e| format!("--parallel: {e}"))?,
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(Args {
        hosts: hosts.ok_or("--hosts is required")?,
        plan: plan.ok_or("--plan is required")?,
        deps: deps.ok_or("--deps is required")?,
        image: image.unwrap_or_default(),
        cmd: cmd.unwrap_or_default(),
        down,
        parallel,
    })
}

async fn connect(inventory: &Inventory) -> Result<Vec<(String, Docker)>, String> {
    let clients = try_join_all(inventory.hosts.iter().map(|host| async move {
        nap_actors::observe::connect(host)
            .await
            .map(|docker| (host.name.clone(), docker))
    }))
    .await
    .map_err(|e| e.to_string())?;
    Ok(clients)
}

fn client<'a>(clients: &'a [(String, Docker)], host: &str) -> &'a Docker {
    &clients.iter().find(|(name, _)| name == host).unwrap().1
}

async fn up(args: &Args, clients: &[(String, Docker)]) -> Result<(), String> {
    let plan: Value = serde_json::from_str(
        &std::fs::read_to_string(&args.plan)
            .map_err(|e| format!("{}: {e}", args.plan.display()))?,
    )
    .map_err(|e| format!("{}: {e}", args.plan.display()))?;
    let deps: BTreeMap<String, Vec<String>> = serde_json::from_str(
        &std::fs::read_to_string(&args.deps)
            .map_err(|e| format!("{}: {e}", args.deps.display()))?,
    )
    .map_err(|e| format!("{}: {e}", args.deps.display()))?;
    let placements = plan["placements"]
        .as_array()
        .ok_or("the plan has no placements")?;
    let used: BTreeSet<&str> = placements
        .iter()
        .filter_map(|p| p["host"].as_str())
        .collect();
    try_join_all(used.iter().map(|host| async move {
        let request = NetworkCreateRequest {
            name: network(),
            labels: Some([(LABEL.to_string(), "1".to_string())].into()),
            ..Default::default()
        };
        client(clients, host).create_network(request).await
    }))
    .await
    .map_err(|e| format!("create network: {e}"))?;
    let limit = if args.parallel == 0 {
        tokio::sync::Semaphore::MAX_PERMITS
    } else {
        args.parallel
    };
    let slots: BTreeMap<&str, tokio::sync::Semaphore> = used
        .iter()
        .map(|host| (*host, tokio::sync::Semaphore::new(limit)))
        .collect();
    let slots = &slots;
    // Each service starts its replicas (all at once, within the per-host cap) as soon as the
    // services it depends on have started theirs, as a compose tool walking the graph would.
    let start_service = |service: &str| {
        let starts = placements
            .iter()
            .filter(move |p| p["service"] == service)
            .map(|placement| async move {
                let host = placement["host"].as_str().unwrap();
                let name = format!("raw-{}", placement["container"].as_str().unwrap());
                let docker = client(clients, host);
                let _slot = slots[host].acquire().await.expect("never closed");
                let body = ContainerCreateBody {
                    image: Some(args.image.clone()),
                    cmd: Some(args.cmd.clone()),
                    labels: Some([(LABEL.to_string(), "1".to_string())].into()),
                    host_config: Some(HostConfig {
                        network_mode: Some(network()),
                        ..Default::default()
                    }),
                    ..Default::default()
                };
                let options = CreateContainerOptionsBuilder::default().name(&name).build();
                docker.create_container(Some(options), body).await?;
                docker.start_container(&name, None).await
            });
        try_join_all(starts)
    };
    let services: BTreeSet<&str> = placements
        .iter()
        .filter_map(|p| p["service"].as_str())
        .collect();
    let mut started: BTreeMap<&str, Shared<BoxFuture<'_, Result<(), String>>>> = BTreeMap::new();
    while started.len() < services.len() {
        let ready: Vec<&str> = services
            .iter()
            .copied()
            .filter(|service| !started.contains_key(service))
            .filter(|service| {
                deps.get(*service).into_iter().flatten().all(|dep| {
                    started.contains_key(dep.as_str()) || !services.contains(dep.as_str())
                })
            })
            .collect();
        if ready.is_empty() {
            return Err("the dependencies form a cycle".to_string());
        }
        for service in ready {
            let waits: Vec<_> = deps
                .get(service)
                .into_iter()
                .flatten()
                .filter_map(|dep| started.get(dep.as_str()).cloned())
                .collect();
            let run = start_service(service);
            let future = async move {
                try_join_all(waits).await?;
                run.await
                    .map(drop)
                    .map_err(|e| format!("create/start {service}: {e}"))
            }
            .boxed()
            .shared();
            started.insert(service, future);
        }
    }
    try_join_all(started.into_values()).await?;
    Ok(())
}

async fn down(clients: &[(String, Docker)]) -> Result<(), String> {
    join_all(clients.iter().map(|(_, docker)| async move {
        let options = bollard::query_parameters::ListContainersOptionsBuilder::default()
            .all(true)
            .filters(&[("label", vec![LABEL])].into())
            .build();
        let listed = docker
            .list_containers(Some(options))
            .await
            .unwrap_or_default();
        join_all(
            listed
                .iter()
                .filter_map(|c| c.id.clone())
                .map(|id| async move {
                    let options = RemoveContainerOptionsBuilder::default().force(true).build();
                    let _ = docker.remove_container(&id, Some(options)).await;
                }),
        )
        .await;
        let options = bollard::query_parameters::ListNetworksOptionsBuilder::default()
            .filters(&[("label", vec![LABEL])].into())
            .build();
        for network in docker
            .list_networks(Some(options))
            .await
            .unwrap_or_default()
        {
            if let Some(id) = network.id {
                let _ = docker.remove_network(&id).await;
            }
        }
    }))
    .await;
    Ok(())
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let result = async {
        let args = parse_args()?;
        let text = std::fs::read_to_string(&args.hosts)
            .map_err(|e| format!("{}: {e}", args.hosts.display()))?;
        let (inventory, _) = Inventory::parse(&args.hosts, &text).map_err(|e| e.to_string())?;
        let clients = connect(&inventory).await?;
        let started = Instant::now();
        if args.down {
            down(&clients).await?;
        } else {
            up(&args, &clients).await?;
        }
        println!("{:.3}", started.elapsed().as_secs_f64());
        Ok::<_, String>(())
    }
    .await;
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("raw_floor: {error}");
            std::process::ExitCode::FAILURE
        }
    }
}
