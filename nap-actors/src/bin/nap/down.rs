//! `nap down`: remove the project's containers, networks and routes from every host (and,
//! with `-v`, its volumes).

use std::process::ExitCode;

use clap::Args;
use nap_actors::deploy::{self, DownOptions};
use nap_actors::deployment;

use crate::up::ProgressFormat;
use crate::{GlobalArgs, print_loaded};

/// Flags of `nap down`.
#[derive(Debug, Args)]
pub struct DownArgs {
    /// Also remove the project's named volumes and containers' anonymous volumes.
    #[arg(short = 'v', long)]
    volumes: bool,
    /// Seconds each container gets to stop before it is killed.
    #[arg(short = 't', long = "timeout", value_name = "SECONDS")]
    timeout: Option<i32>,
    /// Progress output: text lines (stderr) or JSON events (stdout).
    #[arg(long, value_enum, default_value = "text")]
    format: ProgressFormat,
}

/// Runs `nap down`.
pub fn run(global: &GlobalArgs, args: &DownArgs) -> anyhow::Result<ExitCode> {
    let options = global.deployment_options()?;
    let deployment = deployment::load(&options)?;
    print_loaded(&deployment);
    let _lock = nap_actors::lock::lock_project(&deployment.project.name, "down")?;
    let progress = args.format.progress();
    let down = deploy::down(
        &deployment.project,
        &deployment.inventory,
        DownOptions {
            volumes: args.volumes,
            timeout: args.timeout,
        },
        &progress,
    );
    let report = actix::System::new().block_on(global.host_locked(
        &deployment.inventory,
        &deployment.project.name,
        "down",
        down,
    ))??;
    crate::report_failures(&report)
}
