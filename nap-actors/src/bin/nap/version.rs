//! `nap version`: nap's version, as `docker compose version` prints Compose's.

use std::process::ExitCode;

use clap::Args;

/// Flags of `nap version`.
#[derive(Debug, Args)]
pub struct VersionArgs {
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    format: VersionFormat,
    /// Print the version number only.
    #[arg(long)]
    short: bool,
}

/// How `nap version` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum VersionFormat {
    /// `nap version 0.1.0`.
    Text,
    /// `{"version": "0.1.0"}`.
    Json,
}

/// Runs `nap version`.
pub fn run(args: &VersionArgs) -> anyhow::Result<ExitCode> {
    let version = env!("CARGO_PKG_VERSION");
    match (args.format, args.short) {
        (_, true) => println!("{version}"),
        (VersionFormat::Text, false) => println!("nap version {version}"),
        (VersionFormat::Json, false) => {
            println!("{}", serde_json::json!({ "version": version }))
        }
    }
    Ok(ExitCode::SUCCESS)
}
