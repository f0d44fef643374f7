//! `nap lock status|release`: the project's lock on the hosts (`host_lock`): who holds it,
//! since when, when it was last renewed; and releasing it by hand when its holder is gone
//! (a holder that stopped renewing is released by itself after the lease).

use std::process::ExitCode;

use clap::{Args, Subcommand};
use nap_actors::deployment;
use nap_actors::host_lock;

use crate::GlobalArgs;

/// Flags of `nap lock`.
#[derive(Debug, Args)]
pub struct LockArgs {
    #[command(subcommand)]
    command: LockCommand,
}

#[derive(Debug, Subcommand)]
enum LockCommand {
    /// Who holds the project's lock, since when, and whether its lease expired.
    Status {
        /// Output: text or JSON.
        #[arg(long, value_enum, default_value = "text")]
        format: StatusFormat,
    },
    /// Remove the project's lock whoever holds it (a running holder is not stopped).
    Release,
}

/// `nap lock status --format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum StatusFormat {
    /// A line for people.
    Text,
    /// One JSON object.
    Json,
}

/// Runs `nap lock`.
pub fn run(global: &GlobalArgs, args: &LockArgs) -> anyhow::Result<ExitCode> {
    let options = global.deployment_options()?;
    let deployment = deployment::load(&options)?;
    crate::print_local_fallback(&deployment.inventory);
    let (inventory, project) = (&deployment.inventory, &deployment.project.name);
    let runtime = crate::runtime()?;
    match &args.command {
        LockCommand::Status { format } => {
            let status = runtime.block_on(host_lock::status(inventory, project))?;
            match (format, &status.holder) {
                (StatusFormat::Json, _) => println!("{}", serde_json::to_string(&status)?),
                (StatusFormat::Text, None) => {
                    println!(
                        "project {project:?}: not locked (lock host {})",
                        status.host
                    )
                }
                (StatusFormat::Text, Some(holder)) => println!(
                    "project {project:?}: locked on host {} by {holder}, renewed {} s ago{}",
                    status.host,
                    status.renewed_seconds_ago.unwrap_or_default(),
                    if status.expired {
                        " (expired: its holder is gone; the next deployer takes it)"
                    } else {
                        ""
                    }
                ),
            }
        }
        LockCommand::Release => match runtime.block_on(host_lock::release(inventory, project))? {
            None => eprintln!("nap: project {project:?} was not locked"),
            Some(holder) => {
                eprintln!("nap: released the lock of project {project:?} held by {holder}")
            }
        },
    }
    Ok(ExitCode::SUCCESS)
}
