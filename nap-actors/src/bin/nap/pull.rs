//! `nap pull [SERVICE…]`: pulls the services' images on the hosts that run them; exit 1
//! naming every pull that failed.

use std::process::ExitCode;

use clap::Args;
use nap_actors::deployment;
use nap_actors::progress::{Progress, ProgressStyle};

use crate::up::ProgressFormat;
use crate::{GlobalArgs, print_loaded};

/// Flags of `nap pull`.
#[derive(Debug, Args)]
pub struct PullArgs {
    /// Progress output: text lines (stderr) or JSON events (stdout).
    #[arg(long, value_enum, default_value = "text")]
    format: ProgressFormat,
    /// Print no progress.
    #[arg(short = 'q', long)]
    quiet: bool,
    /// Only these services' images.
    services: Vec<String>,
}

/// Runs `nap pull`.
pub fn run(global: &GlobalArgs, args: &PullArgs) -> anyhow::Result<ExitCode> {
    let deployment = deployment::load(&global.deployment_options()?)?;
    print_loaded(&deployment);
    let plugins = global.load_plugins(&deployment.inventory)?;
    let progress = if args.quiet {
        Progress::new(ProgressStyle::Quiet)
    } else {
        args.format.progress()
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let report = runtime.block_on(nap_actors::pull::pull(
        &deployment,
        &args.services,
        &plugins,
        &progress,
    ))?;
    if report.failed.is_empty() {
        return Ok(ExitCode::SUCCESS);
    }
    eprintln!("nap pull: {} pull(s) failed:", report.failed.len());
    for failure in &report.failed {
        eprintln!("  failed: {failure}");
    }
    Ok(ExitCode::FAILURE)
}
