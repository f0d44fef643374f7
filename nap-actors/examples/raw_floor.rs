//! The benchmarks' floor: the containers of a plan created and started straight through the
//! Docker API with the fewest calls (one network create per host, then one create and one
//! start per container) at the most parallelism the daemons allow (every container of a
//! dependency level at once, every host at once), and removed the same way. `tests/bench/*`
//! compare nap and docker-compose with it in the same run.
//!
//! ```sh
//! nap plan --offline --format json > plan.json
//! cargo run --release -p nap-actors --example raw_floor -- \
//!     --hosts nap-hosts.yml --plan plan.json --levels levels.json --image IMG --cmd-json '["sleep","1000"]'
//! # … --down  removes what the run made
//! ```
//!
//! `levels.json` lists the services by dependency level: `[["db"], ["api", "cache"], ["web"]]`;
//! a level starts when the one before it has started. Prints the seconds it took on stdout.

use std::path::PathBuf;
use std::time::Instant;

use bollard::Docker;
use bollard::models::{ContainerCreateBody, HostConfig, NetworkCreateRequest};
use bollard::query_parameters::{CreateContainerOptionsBuilder, RemoveContainerOptionsBuilder};
use futures_util::future::{join_all, try_join_all};
use nap_core::inventory::Inventory;
use serde_json::Value;

const NETWORK: &str = "nap-raw-floor";
const LABEL: &str = "nap.bench.raw";

struct Args {
    hosts: PathBuf,
    plan: PathBuf,
    levels: PathBuf,
    image: String,
    cmd: Vec<String>,
    down: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut args = std::env::args().skip(1);
    let (mut hosts, mut plan, mut levels) = (None, None, None);
    let (mut image, mut cmd, mut down) = (None, None, false);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--hosts" => hosts = Some(PathBuf::from(value()?)),
            "--plan" => plan = Some(PathBuf::from(value()?)),
            "--levels" => levels = Some(PathBuf::from(value()?)),
            "--image" => image = Some(value()?),
            "--cmd-json" => {
                cmd = Some(serde_json::from_str(&value()?).map_err(|e| format!("--cmd-json: {e}"))?)
            }
            "--down" => down = true,
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(Args {
        hosts: hosts.ok_or("--hosts is required")?,
        plan: plan.ok_or("--plan is required")?,
        levels: levels.ok_or("--levels is required")?,
        image: image.unwrap_or_default(),
        cmd: cmd.unwrap_or_default(),
        down,
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
        &std::fs::read_to_string(&args.plan).map_err(|e| format!("{}: {e}", args.plan.display()))?,
    )
    .map_err(|e| format!("{}: {e}", args.plan.display()))?;
    let levels: Vec<Vec<String>> = serde_json::from_str(
        &std::fs::read_to_string(&args.levels)
            .map_err(|e| format!("{}: {e}", args.levels.display()))?,
    )
    .map_err(|e| format!("{}: {e}", args.levels.display()))?;
    let placements = plan["placements"].as_array().ok_or("the plan has no placements")?;
    let used: std::collections::BTreeSet<&str> = placements
        .iter()
        .filter_map(|p| p["host"].as_str())
        .collect();
    try_join_all(used.iter().map(|host| async move {
        let request = NetworkCreateRequest {
            name: NETWORK.to_string(),
            labels: Some([(LABEL.to_string(), "1".to_string())].into()),
            ..Default::default()
        };
        client(clients, host).create_network(request).await
    }))
    .await
    .map_err(|e| format!("create network: {e}"))?;
    for level in &levels {
        let starts = placements
            .iter()
            .filter(|p| level.iter().any(|s| p["service"] == s.as_str()))
            .map(|placement| async move {
                let host = placement["host"].as_str().unwrap();
                let name = format!("raw-{}", placement["container"].as_str().unwrap());
                let docker = client(clients, host);
                let body = ContainerCreateBody {
                    image: Some(args.image.clone()),
                    cmd: Some(args.cmd.clone()),
                    labels: Some([(LABEL.to_string(), "1".to_string())].into()),
                    host_config: Some(HostConfig {
                        network_mode: Some(NETWORK.to_string()),
                        ..Default::default()
                    }),
                    ..Default::default()
                };
                let options = CreateContainerOptionsBuilder::default().name(&name).build();
                docker.create_container(Some(options), body).await?;
                docker.start_container(&name, None).await
            });
        try_join_all(starts)
            .await
            .map_err(|e| format!("create/start: {e}"))?;
    }
    Ok(())
}

async fn down(clients: &[(String, Docker)]) -> Result<(), String> {
    join_all(clients.iter().map(|(_, docker)| async move {
        let options = bollard::query_parameters::ListContainersOptionsBuilder::default()
            .all(true)
            .filters(&[("label", vec![LABEL])].into())
            .build();
        let listed = docker.list_containers(Some(options)).await.unwrap_or_default();
        join_all(listed.iter().filter_map(|c| c.id.clone()).map(|id| async move {
            let options = RemoveContainerOptionsBuilder::default().force(true).build();
            let _ = docker.remove_container(&id, Some(options)).await;
        }))
        .await;
        let _ = docker.remove_network(NETWORK).await;
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
