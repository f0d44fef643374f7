//! `nap-fake-engine`: serves N fake Docker Engines on unix sockets `DIR/h001.sock`… until
//! SIGTERM or Ctrl-C, then prints every engine's call counts as JSON on stdout.
//!
//! ```text
//! nap-fake-engine --dir /tmp/fake --hosts 200 --latency-ms 5 --image nap/bench:1
//! curl -s --unix-socket /tmp/fake/h001.sock 'http://fake/_fake/stats?all=1'
//! ```

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use nap_fake_engine::{EngineConfig, Fake, FakeConfig};

/// Serve fake Docker Engines (one per host) on unix sockets.
#[derive(Debug, Parser)]
#[command(name = "nap-fake-engine")]
struct Args {
    /// Folder for the sockets (h001.sock, h002.sock, …).
    #[arg(long)]
    dir: PathBuf,
    /// How many engines.
    #[arg(long, default_value_t = 1)]
    hosts: usize,
    /// Milliseconds each API call waits before it is answered (fractions allowed).
    #[arg(long, default_value_t = 5.0)]
    latency_ms: f64,
    /// Image every engine has from the start (repeatable; default busybox:latest).
    #[arg(long = "image")]
    images: Vec<String>,
    /// Milliseconds after start until a container with a healthcheck reports healthy.
    #[arg(long, default_value_t = 0)]
    healthy_after_ms: u64,
    /// Worker threads of the server.
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Also write the final counts to this file.
    #[arg(long)]
    stats_file: Option<PathBuf>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let mut engine = EngineConfig {
        healthy_after: Duration::from_millis(args.healthy_after_ms),
        ..EngineConfig::default()
    };
    if !args.images.is_empty() {
        engine.images = args.images.clone();
    }
    let config = FakeConfig {
        dir: args.dir.clone(),
        hosts: args.hosts,
        latency: Duration::from_secs_f64(args.latency_ms.max(0.0) / 1000.0),
        engine,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.threads.max(1))
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let fake = Fake::start(config).await?;
        eprintln!(
            "nap-fake-engine: {} engines on {}/{}…{} ({} ms per call)",
            args.hosts,
            args.dir.display(),
            fake.config().host_name(1),
            fake.config().host_name(args.hosts),
            args.latency_ms
        );
        let mut terminate =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            _ = terminate.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
        let stats = serde_json::to_string_pretty(&fake.stats())?;
        println!("{stats}");
        if let Some(path) = &args.stats_file {
            std::fs::write(path, format!("{stats}\n"))?;
        }
        fake.stop();
        anyhow::Ok(())
    })?;
    runtime.shutdown_background();
    Ok(())
}
