//! Times the scheduler on a large synthetic project.
//!
//! 5,000 hosts labelled `zone=z0..z9` and `disk=ssd|hdd`, each with a capacity;
//! 1,000 services of 100 replicas (100,000 replicas) with a mix of constraints
//! (`node.labels.zone==zN`, `node.labels.disk!=hdd`, none), fixed published
//! ports, reservations, both strategies and a few colocated services.
//!
//! Three runs: a fresh schedule, a re-schedule of its own output (everything
//! is kept), and a fresh schedule with a policy that is handed every
//! candidate list (the cost a plugin hook adds).
//!
//! Run with `cargo run --release -p nap-core --example bench_scheduler`.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use nap_core::scheduler::{
    Candidate, Constraint, DefaultPolicy, HostSpec, Placement, PlacementPolicy, PolicyError,
    PublishedPort, Resources, ScheduleInput, ServiceDemand, Strategy, schedule,
};

const HOSTS: usize = 5_000;
const SERVICES: usize = 1_000;
const REPLICAS_PER_SERVICE: u32 = 100;
const CPU: u64 = 1_000_000_000;
const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;

/// The inventory: zones round-robin, every third host on hdd.
fn make_hosts() -> Vec<HostSpec> {
    (0..HOSTS)
        .map(|index| HostSpec {
            name: format!("host-{index:04}"),
            labels: BTreeMap::from([
                ("zone".to_string(), format!("z{}", index % 10)),
                (
                    "disk".to_string(),
                    if index % 3 == 0 { "hdd" } else { "ssd" }.to_string(),
                ),
            ]),
            capacity: Some(Resources {
                nano_cpus: 64 * CPU,
                memory_bytes: 256 * GIB,
            }),
        })
        .collect()
}

/// The project: a third zone-pinned, a third off hdd, a third free; every
/// tenth with a fixed port; every fourth binpacked; every fiftieth a
/// sidecar colocated with the service before it (no reservation, since its
/// target may be binpacked onto a full host).
fn make_services() -> Result<Vec<ServiceDemand>, String> {
    let mut services = Vec::with_capacity(SERVICES);
    for index in 0..SERVICES {
        let colocated = index % 50 == 49;
        let constraints = if colocated {
            Vec::new()
        } else {
            match index % 3 {
                0 => vec![format!("node.labels.zone==z{}", index % 10)],
                1 => vec!["node.labels.disk != hdd".to_string()],
                _ => Vec::new(),
            }
        };
        let constraints = constraints
            .iter()
            .map(|text| Constraint::parse(text).map_err(|error| error.to_string()))
            .collect::<Result<Vec<_>, _>>()?;
        let published_ports = if index % 10 == 0 && !colocated {
            vec![PublishedPort::tcp(10_000 + index as u16)]
        } else {
            Vec::new()
        };
        let binpack = index % 4 == 0;
        services.push(ServiceDemand {
            name: format!("svc-{index:04}"),
            replicas: REPLICAS_PER_SERVICE,
            constraints,
            published_ports,
            reservation: if colocated {
                Resources::default()
            } else if binpack {
                Resources {
                    nano_cpus: CPU / 4,
                    memory_bytes: 256 * MIB,
                }
            } else {
                Resources {
                    nano_cpus: CPU / 10,
                    memory_bytes: 128 * MIB,
                }
            },
            strategy: binpack.then_some(Strategy::Binpack),
            colocate_with: colocated.then(|| format!("svc-{:04}", index - 1)),
            state_pins: BTreeMap::new(),
        });
    }
    Ok(services)
}

/// Keeps nap's choice but asks for every candidate list, like a plugin would.
struct InspectingPolicy {
    candidates_seen: u64,
}

impl PlacementPolicy for InspectingPolicy {
    fn name(&self) -> &str {
        "inspecting"
    }

    fn choose(
        &mut self,
        _service: &ServiceDemand,
        _replica: u32,
        candidates: &[Candidate<'_>],
    ) -> Result<Option<String>, PolicyError> {
        self.candidates_seen += candidates.len() as u64;
        Ok(None)
    }
}

/// Runs one schedule and prints its timing.
fn timed(
    label: &str,
    input: &ScheduleInput<'_>,
    policy: &mut dyn PlacementPolicy,
) -> Result<(Vec<Placement>, Duration), String> {
    let started = Instant::now();
    let placements = schedule(input, policy).map_err(|error| error.to_string())?;
    let elapsed = started.elapsed();
    let per_second = placements.len() as f64 / elapsed.as_secs_f64().max(f64::EPSILON);
    println!(
        "{label:<32} {:>7} placements in {:>8.3} s  ({per_second:>12.0} placements/s)",
        placements.len(),
        elapsed.as_secs_f64()
    );
    Ok((placements, elapsed))
}

fn run() -> Result<(), String> {
    let hosts = make_hosts();
    let services = make_services()?;
    let replicas: u64 = services
        .iter()
        .map(|demand| u64::from(demand.replicas))
        .sum();
    println!(
        "{} hosts, {} services, {replicas} replicas",
        hosts.len(),
        services.len()
    );

    let fresh_input = ScheduleInput {
        services: &services,
        hosts: &hosts,
        default_strategy: Strategy::Spread,
        existing: &[],
    };
    let (fresh, _) = timed("fresh schedule", &fresh_input, &mut DefaultPolicy)?;

    let rerun_input = ScheduleInput {
        existing: &fresh,
        ..fresh_input
    };
    let (rerun, _) = timed(
        "re-schedule of its own output",
        &rerun_input,
        &mut DefaultPolicy,
    )?;
    if rerun != fresh {
        return Err("re-scheduling the output moved placements".to_string());
    }

    let mut policy = InspectingPolicy { candidates_seen: 0 };
    let (inspected, _) = timed("fresh, inspecting policy", &fresh_input, &mut policy)?;
    if inspected != fresh {
        return Err("a policy keeping nap's choice changed the placements".to_string());
    }
    println!(
        "inspecting policy was shown {} candidates in all",
        policy.candidates_seen
    );

    let mut per_host: BTreeMap<&str, u64> = BTreeMap::new();
    for placement in &fresh {
        *per_host.entry(placement.host.as_str()).or_insert(0) += 1;
    }
    let busiest = per_host.values().max().copied().unwrap_or(0);
    println!(
        "hosts used: {}, most containers on one host: {busiest}",
        per_host.len()
    );
    Ok(())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("bench_scheduler: {message}");
            ExitCode::FAILURE
        }
    }
}
