//! `nap ps`: every container of the project on every host, asked concurrently.

use std::process::ExitCode;

use clap::Args;
use nap_actors::{deployment, status};

use crate::{Format, GlobalArgs, print_loaded};

/// Flags of `nap ps`.
#[derive(Debug, Args)]
pub struct PsArgs {
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
}

/// Runs `nap ps`. Exits 1 when a host did not answer (its row says so).
pub fn run(global: &GlobalArgs, args: &PsArgs) -> anyhow::Result<ExitCode> {
    let options = global.deployment_options()?;
    let deployment = deployment::load(&options)?;
    print_loaded(&deployment);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let rows = runtime.block_on(status::ps(&deployment.project.name, &deployment.inventory));
    match args.format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&rows)?),
        Format::Yaml => print!("{}", serde_yaml::to_string(&rows)?),
        Format::Text => {
            let table: Vec<[String; 7]> = rows
                .iter()
                .map(|row| {
                    [
                        row.container.clone(),
                        row.service.clone(),
                        if row.service.is_empty() {
                            String::new()
                        } else {
                            row.replica.to_string()
                        },
                        row.host.clone(),
                        row.ip.map(|ip| ip.to_string()).unwrap_or_default(),
                        row.state.clone(),
                        row.status.clone(),
                    ]
                })
                .collect();
            let header = [
                "NAME", "SERVICE", "REPLICA", "HOST", "IP", "STATE", "STATUS",
            ]
            .map(String::from);
            let mut widths = header.clone().map(|h| h.len());
            for line in &table {
                for (width, cell) in widths.iter_mut().zip(line) {
                    *width = (*width).max(cell.chars().count());
                }
            }
            for line in std::iter::once(&header).chain(&table) {
                let cells: Vec<String> = line
                    .iter()
                    .zip(widths)
                    .map(|(cell, width)| format!("{cell:width$}"))
                    .collect();
                println!("{}", cells.join("   ").trim_end());
            }
        }
    }
    if rows.iter().any(|row| row.state == "unreachable") {
        for row in rows.iter().filter(|row| row.state == "unreachable") {
            eprintln!("nap: host {} is unreachable: {}", row.host, row.status);
        }
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}
