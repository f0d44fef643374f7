//! `nap volume ls`: the project's named volumes on every host, with host and size, so a
//! replica's volume and any copy left on another host are both seen.

use std::process::ExitCode;

use clap::{Args, Subcommand};
use nap_actors::deployment;

use crate::{Format, GlobalArgs, print_loaded};

/// Flags of `nap volume`.
#[derive(Debug, Args)]
pub struct VolumeArgs {
    #[command(subcommand)]
    command: VolumeCommand,
}

#[derive(Debug, Subcommand)]
enum VolumeCommand {
    /// List the project's volumes on every host, with their size.
    #[command(alias = "list")]
    Ls {
        /// Output format.
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
        /// Only display volume names.
        #[arg(short = 'q', long)]
        quiet: bool,
    },
}

/// Runs `nap volume`.
pub fn run(global: &GlobalArgs, args: &VolumeArgs) -> anyhow::Result<ExitCode> {
    let VolumeCommand::Ls { format, quiet } = &args.command;
    let deployment = deployment::load(&global.deployment_options()?)?;
    print_loaded(&deployment);
    let rows = crate::runtime()?.block_on(nap_actors::volumes::list(
        &deployment.project.name,
        &deployment.inventory,
    ))?;
    if *quiet {
        for row in &rows {
            println!("{}", row.name);
        }
        return Ok(ExitCode::SUCCESS);
    }
    match format {
        Format::Json => println!("{}", serde_json::to_string(&rows)?),
        Format::Yaml => print!("{}", serde_yaml::to_string(&rows)?),
        Format::Text => {
            println!(
                "{:<8} {:<40} {:<8} {:>10}",
                "HOST", "VOLUME", "DRIVER", "SIZE"
            );
            for row in &rows {
                let size = row
                    .size
                    .map(nap_core::units::format_bytes)
                    .unwrap_or_else(|| "-".to_string());
                println!(
                    "{:<8} {:<40} {:<8} {:>10}",
                    row.host, row.name, row.driver, size
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
