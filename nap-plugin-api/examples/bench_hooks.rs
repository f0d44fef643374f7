//! Measures schedule calls per second through the C ABI, with the `zone-spread` plugin.
//!
//! Run `cargo build --release --workspace` first, then
//! `cargo run --release -p nap-plugin-api --features host --example bench_hooks -- [N] [CANDIDATES]`
//! (defaults: 100000 calls, 20 candidates over 3 zones). Each call serializes the request,
//! crosses the ABI, runs the plugin and parses its JSON answer.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

use nap_plugin_api::{Candidate, LoadedPlugin, ScheduleDecision, ScheduleRequest};

fn main() {
    let mut args = std::env::args().skip(1);
    let n_calls: usize = args
        .next()
        .map(|n| n.parse().expect("N: a number of calls"))
        .unwrap_or(100_000);
    let n_candidates: usize = args
        .next()
        .map(|n| n.parse().expect("CANDIDATES: a number"))
        .unwrap_or(20);

    // This example is `target/<profile>/examples/bench_hooks`; the plugin sits in `target/<profile>`.
    let exe = std::env::current_exe().expect("example binary path");
    let directory: PathBuf = exe
        .parent()
        .and_then(|examples| examples.parent())
        .expect("target dir")
        .into();
    let file = format!(
        "{}nap_plugin_zone_spread{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    );
    let path = directory.join(file);
    if !path.exists() {
        panic!(
            "{} is missing: run cargo build --workspace first (same profile)",
            path.display()
        );
    }
    let plugin = LoadedPlugin::load(&path).unwrap_or_else(|error| panic!("{error}"));

    let candidates: Vec<Candidate> = (0..n_candidates)
        .map(|index| Candidate {
            name: format!("h{index}"),
            labels: BTreeMap::from([("zone".to_owned(), format!("z{}", index % 3))]),
            containers: index % 7,
            service_replicas: index % 2,
        })
        .collect();
    let mut request = ScheduleRequest {
        project: "bench".to_owned(),
        service: "web".to_owned(),
        replica: 1,
        candidates,
        config: serde_json::Value::Null,
    };

    let started = Instant::now();
    let mut checksum = 0usize;
    for call in 0..n_calls {
        request.replica = (call % 1000) as u32 + 1;
        let decision = plugin.schedule(&request).expect("schedule hook");
        checksum += decision
            .ranked(&request.candidates)
            .expect("valid decision")
            .len();
    }
    let elapsed = started.elapsed();

    // Baseline: the same JSON round trips in-process, without the ABI or the plugin's work.
    let answer = plugin.schedule(&request).expect("schedule hook");
    let baseline_started = Instant::now();
    for _ in 0..n_calls {
        let bytes = serde_json::to_vec(&request).expect("encode request");
        let parsed: ScheduleRequest = serde_json::from_slice(&bytes).expect("decode request");
        let bytes = serde_json::to_vec(&answer).expect("encode answer");
        let decision: ScheduleDecision = serde_json::from_slice(&bytes).expect("decode answer");
        checksum += decision
            .ranked(&parsed.candidates)
            .expect("valid decision")
            .len();
    }
    let baseline = baseline_started.elapsed();
    println!(
        "{n_calls} schedule calls through the ABI ({} plugin {}, {n_candidates} candidates): {:.3} s, {:.0} calls/s, {:.2} µs/call (checksum {checksum})",
        plugin.name(),
        plugin.version(),
        elapsed.as_secs_f64(),
        n_calls as f64 / elapsed.as_secs_f64(),
        elapsed.as_secs_f64() * 1e6 / n_calls as f64,
    );
    println!(
        "baseline, the same JSON round trips in-process: {:.2} µs/call ({:.0}% of a call through the ABI)",
        baseline.as_secs_f64() * 1e6 / n_calls as f64,
        100.0 * baseline.as_secs_f64() / elapsed.as_secs_f64(),
    );
}
