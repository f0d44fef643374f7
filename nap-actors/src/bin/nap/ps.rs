//! `nap ps`: the project's containers on every host, asked concurrently — running ones, or
//! all with `-a`, as `docker compose ps`; `-q` ids, `--services` service names, `--status`
//! and `--filter status=` by state; a PORTS column says where each published port is
//! reached (the host's address).

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
    /// Show all containers, stopped ones too (default: running only).
    #[arg(short = 'a', long)]
    all: bool,
    /// Only display container ids.
    #[arg(short = 'q', long)]
    quiet: bool,
    /// Display the services' names.
    #[arg(long)]
    services: bool,
    /// Only containers in this state (repeatable): paused, restarting, removing, running,
    /// dead, created, exited.
    #[arg(long = "status", value_name = "STATE")]
    status: Vec<String>,
    /// Filter by a property (`status=STATE`).
    #[arg(long = "filter", value_name = "KEY=VALUE")]
    filter: Vec<String>,
    /// Only these services.
    #[arg(value_name = "SERVICE")]
    only: Vec<String>,
}

/// The states Docker reports, as `--status` accepts them.
const STATES: [&str; 7] = [
    "paused",
    "restarting",
    "removing",
    "running",
    "dead",
    "created",
    "exited",
];

impl PsArgs {
    /// The library's options: `--status` and `--filter status=` values, checked.
    fn options(&self) -> anyhow::Result<status::PsOptions> {
        let mut statuses = self.status.clone();
        for filter in &self.filter {
            match filter.split_once('=') {
                Some(("status", value)) => statuses.push(value.to_string()),
                _ => anyhow::bail!(
                    "--filter {filter:?}: the only filter is status=STATE (as docker compose ps)"
                ),
            }
        }
        if let Some(bad) = statuses.iter().find(|s| !STATES.contains(&s.as_str())) {
            anyhow::bail!("invalid status {bad:?}: one of {}", STATES.join(", "));
        }
        Ok(status::PsOptions {
            all: self.all,
            services: self.only.clone(),
            statuses,
        })
    }
}

/// Runs `nap ps`. Exits 1 when a host did not answer (its row says so).
pub fn run(global: &GlobalArgs, args: &PsArgs) -> anyhow::Result<ExitCode> {
    let options = global.deployment_options()?;
    let deployment = deployment::load(&options)?;
    print_loaded(&deployment);
    let runtime = crate::runtime()?;
    for service in &args.only {
        if !deployment.project.services.contains_key(service) {
            anyhow::bail!("no such service: {service:?}");
        }
    }
    let ps_options = args.options()?;
    let rows = runtime.block_on(status::ps(
        &deployment.project.name,
        &deployment.inventory,
        &ps_options,
    ));
    let reachable = rows.iter().filter(|row| row.state != "unreachable");
    if args.quiet {
        for row in reachable {
            println!("{}", row.id);
        }
    } else if args.services {
        let mut names: Vec<&str> = reachable.map(|row| row.service.as_str()).collect();
        names.dedup();
        for name in names {
            println!("{name}");
        }
    } else {
        print_rows(&rows, args.format)?;
    }
    if rows.iter().any(|row| row.state == "unreachable") {
        for row in rows.iter().filter(|row| row.state == "unreachable") {
            eprintln!("nap: host {} is unreachable: {}", row.host, row.status);
        }
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

/// The rows as a table, JSON or YAML.
fn print_rows(rows: &[status::PsEntry], format: Format) -> anyhow::Result<()> {
    match format {
        Format::Json => println!("{}", serde_json::to_string_pretty(rows)?),
        Format::Yaml => print!("{}", serde_yaml::to_string(rows)?),
        Format::Text => {
            let table: Vec<[String; 8]> = rows
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
                        row.ports
                            .iter()
                            .map(ToString::to_string)
                            .collect::<Vec<_>>()
                            .join(", "),
                    ]
                })
                .collect();
            let header = [
                "NAME", "SERVICE", "REPLICA", "HOST", "IP", "STATE", "STATUS", "PORTS",
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
    Ok(())
}
