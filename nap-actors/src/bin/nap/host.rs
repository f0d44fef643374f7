//! `nap host drain HOST`: moves every stateless replica off a host of the inventory (nothing
//! new is placed there; its replicas start on the other hosts and are removed from it) and
//! refuses, before any change, when a replica there has state (a named volume, a writable
//! bind mount) — move that first with `nap volume move`. Once drained, the host can leave
//! the inventory.

use std::process::ExitCode;

use clap::{Args, Subcommand};
use nap_actors::deploy::{self, UpOptions};
use nap_actors::deployment;

use crate::up::ProgressFormat;
use crate::{GlobalArgs, print_loaded};

/// Flags of `nap host`.
#[derive(Debug, Args)]
pub struct HostArgs {
    #[command(subcommand)]
    command: HostCommand,
}

#[derive(Debug, Subcommand)]
enum HostCommand {
    /// Move the project's replicas off HOST (stateful ones must be moved first).
    Drain {
        /// The inventory host to empty.
        #[arg(value_name = "HOST")]
        host: String,
        /// Progress output: text lines (stderr) or JSON events (stdout).
        #[arg(long, value_enum, default_value = "text")]
        format: ProgressFormat,
    },
}

/// Runs `nap host`.
pub fn run(global: &GlobalArgs, args: &HostArgs) -> anyhow::Result<ExitCode> {
    let HostCommand::Drain { host, format } = &args.command;
    let options = global.deployment_options()?;
    let deployment = deployment::load(&options)?;
    print_loaded(&deployment);
    if deployment.inventory.host(host).is_none() {
        anyhow::bail!("cannot drain host {host:?}: it is not in the inventory");
    }
    let _lock = nap_actors::lock::lock_project(&deployment.project.name, "host drain")?;
    let progress = format.progress();
    let up_options = UpOptions {
        plugins: global.load_plugins(&deployment.inventory)?,
        drain_host: Some(host.clone()),
        ..UpOptions::default()
    };
    let report = actix::System::new().block_on(global.host_locked(
        &deployment.inventory,
        &deployment.project.name,
        "host drain",
        deploy::up(&deployment, &up_options, &progress),
    ))??;
    crate::report_failures(&report)
}
