//! `nap config`: the normalized compose model, after interpolation, merging and profiles.

use std::process::ExitCode;

use clap::Args;
use nap_core::compose;

use crate::{GlobalArgs, print_warnings};

/// Flags of `nap config`.
#[derive(Debug, Args)]
pub struct ConfigArgs {
    /// Output format.
    #[arg(long, value_enum, default_value = "yaml")]
    format: ConfigFormat,
    /// Print the service names, one per line.
    #[arg(long)]
    services: bool,
    /// Only validate; print nothing but warnings and errors.
    #[arg(short, long)]
    quiet: bool,
    /// Print each service's config hash, one `service hash` per line.
    #[arg(long)]
    hash: bool,
}

/// What `nap config` prints the model as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ConfigFormat {
    /// YAML, as `docker compose config`.
    Yaml,
    /// JSON.
    Json,
}

/// Runs `nap config`.
pub fn run(global: &GlobalArgs, args: &ConfigArgs) -> anyhow::Result<ExitCode> {
    let options = global.deployment_options()?;
    let loaded = compose::load(&options.compose)?;
    print_warnings(&loaded.warnings);
    let project = &loaded.project;
    if args.quiet {
        return Ok(ExitCode::SUCCESS);
    }
    if args.services {
        for name in project.services.keys() {
            println!("{name}");
        }
        return Ok(ExitCode::SUCCESS);
    }
    if args.hash {
        for (name, service) in &project.services {
            println!("{name} {}", nap_core::plan::config_hash(service));
        }
        return Ok(ExitCode::SUCCESS);
    }
    match args.format {
        ConfigFormat::Json => println!("{}", serde_json::to_string_pretty(project)?),
        ConfigFormat::Yaml => print!("{}", serde_yaml::to_string(project)?),
    }
    Ok(ExitCode::SUCCESS)
}
