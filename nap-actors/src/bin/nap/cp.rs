//! `nap cp [--index N] SERVICE:SRC DEST` and `nap cp SRC SERVICE:DEST`: copies files between a
//! service's replica, wherever it runs, and this machine, as `docker compose cp`.

use std::process::ExitCode;

use clap::Args;
use nap_actors::cp::{self, Location};
use nap_actors::deployment;

use crate::{GlobalArgs, print_loaded};

/// Flags of `nap cp`.
#[derive(Debug, Args)]
pub struct CpArgs {
    /// Which replica of the service (1-based).
    #[arg(long, default_value_t = 1, value_name = "N")]
    index: u32,
    /// The source: a local path or SERVICE:PATH.
    source: String,
    /// The destination: a local path or SERVICE:PATH.
    destination: String,
}

/// Runs `nap cp`.
pub fn run(global: &GlobalArgs, args: &CpArgs) -> anyhow::Result<ExitCode> {
    let deployment = deployment::load(&global.deployment_options()?)?;
    print_loaded(&deployment);
    let from = Location::parse(&args.source);
    let to = Location::parse(&args.destination);
    for side in [&from, &to] {
        if let Location::Container { service, .. } = side
            && !deployment.project.services.contains_key(service)
        {
            anyhow::bail!("no such service: {service:?}");
        }
    }
    let runtime = crate::runtime()?;
    runtime.block_on(cp::copy(
        &deployment.project.name,
        &deployment.inventory,
        &from,
        &to,
        args.index,
    ))?;
    Ok(ExitCode::SUCCESS)
}
