//! `nap top`, `nap images`, `nap ls` and `nap port`: read-only questions across hosts, as
//! Compose's verbs of the same names, each also with `--format json`.

use std::process::ExitCode;

use clap::Args;
use nap_actors::{deployment, query, status};

use crate::{Format, GlobalArgs, print_loaded};

/// Flags of `nap top`.
#[derive(Debug, Args)]
pub struct TopArgs {
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
    /// Only these services.
    services: Vec<String>,
}

/// Flags of `nap images`.
#[derive(Debug, Args)]
pub struct ImagesArgs {
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
    /// Only display image ids.
    #[arg(short = 'q', long)]
    quiet: bool,
}

/// Flags of `nap ls`.
#[derive(Debug, Args)]
pub struct LsArgs {
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
    /// Also projects with no running container.
    #[arg(short = 'a', long)]
    all: bool,
    /// Only display project names.
    #[arg(short = 'q', long)]
    quiet: bool,
}

/// Flags of `nap port`.
#[derive(Debug, Args)]
pub struct PortArgs {
    /// Which replica of the service (1-based).
    #[arg(long, default_value_t = 1, value_name = "N")]
    index: u32,
    /// The protocol of the port.
    #[arg(long, default_value = "tcp")]
    protocol: String,
    /// The service.
    service: String,
    /// The container's port.
    private_port: u16,
}

/// Prints `rows` as an aligned table under `header`.
fn table(header: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let header: Vec<String> = header.iter().map(|h| h.to_string()).collect();
    for row in std::iter::once(&header).chain(rows) {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:width$}"))
            .collect();
        println!("{}", cells.join("   ").trim_end());
    }
}

fn print_json_or_yaml<T: serde::Serialize>(format: Format, value: &T) -> anyhow::Result<bool> {
    match format {
        Format::Json => println!("{}", serde_json::to_string_pretty(value)?),
        Format::Yaml => print!("{}", serde_yaml::to_string(value)?),
        Format::Text => return Ok(false),
    }
    Ok(true)
}

/// Runs `nap top`.
pub fn top(global: &GlobalArgs, args: &TopArgs) -> anyhow::Result<ExitCode> {
    let deployment = deployment::load(&global.deployment_options()?)?;
    print_loaded(&deployment);
    let tops = crate::runtime()?.block_on(query::top(
        &deployment.project.name,
        &deployment.inventory,
        &args.services,
    ))?;
    if print_json_or_yaml(args.format, &tops)? {
        return Ok(ExitCode::SUCCESS);
    }
    for (n, top) in tops.iter().enumerate() {
        if n > 0 {
            println!();
        }
        println!("{} @{}", top.container, top.host);
        let titles: Vec<&str> = top.titles.iter().map(String::as_str).collect();
        table(&titles, &top.processes);
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs `nap images`.
pub fn images(global: &GlobalArgs, args: &ImagesArgs) -> anyhow::Result<ExitCode> {
    let deployment = deployment::load(&global.deployment_options()?)?;
    print_loaded(&deployment);
    let rows = crate::runtime()?.block_on(query::images(
        &deployment.project.name,
        &deployment.inventory,
    ))?;
    if args.quiet {
        let mut ids: Vec<&str> = rows.iter().map(|row| row.id.as_str()).collect();
        ids.sort();
        ids.dedup();
        for id in ids {
            println!("{id}");
        }
        return Ok(ExitCode::SUCCESS);
    }
    if print_json_or_yaml(args.format, &rows)? {
        return Ok(ExitCode::SUCCESS);
    }
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|row| {
            vec![
                row.container.clone(),
                row.host.clone(),
                row.image.clone(),
                row.id
                    .trim_start_matches("sha256:")
                    .chars()
                    .take(12)
                    .collect(),
                nap_core::units::format_bytes(u64::try_from(row.size).unwrap_or(0)),
            ]
        })
        .collect();
    table(&["CONTAINER", "HOST", "IMAGE", "IMAGE ID", "SIZE"], &cells);
    Ok(ExitCode::SUCCESS)
}

/// Runs `nap ls`.
pub fn ls(global: &GlobalArgs, args: &LsArgs) -> anyhow::Result<ExitCode> {
    // The inventory only: `ls` needs no compose file.
    let options = global.deployment_options()?;
    let mut warnings = Vec::new();
    let inventory =
        deployment::load_inventory(&options, &options.compose.working_dir, &mut warnings)?;
    crate::print_warnings(&warnings);
    crate::print_local_fallback(&inventory);
    let rows = crate::runtime()?.block_on(query::projects(&inventory, args.all))?;
    if args.quiet {
        for row in &rows {
            println!("{}", row.name);
        }
        return Ok(ExitCode::SUCCESS);
    }
    if print_json_or_yaml(args.format, &rows)? {
        return Ok(ExitCode::SUCCESS);
    }
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|row| vec![row.name.clone(), row.status.clone(), row.hosts.join(", ")])
        .collect();
    table(&["NAME", "STATUS", "HOSTS"], &cells);
    Ok(ExitCode::SUCCESS)
}

/// Runs `nap port`: prints `ADDRESS:PORT`, where the port is reached from outside.
pub fn port(global: &GlobalArgs, args: &PortArgs) -> anyhow::Result<ExitCode> {
    let deployment = deployment::load(&global.deployment_options()?)?;
    print_loaded(&deployment);
    if !deployment.project.services.contains_key(&args.service) {
        anyhow::bail!("no such service: {:?}", args.service);
    }
    let options = status::PsOptions {
        all: true,
        services: vec![args.service.clone()],
        statuses: Vec::new(),
    };
    let rows = crate::runtime()?.block_on(status::ps(
        &deployment.project.name,
        &deployment.inventory,
        &options,
    ));
    if let Some(down) = rows.iter().find(|row| row.state == "unreachable") {
        anyhow::bail!("host {} is unreachable: {}", down.host, down.status);
    }
    let Some(row) = rows.iter().find(|row| row.replica == args.index) else {
        anyhow::bail!("service {:?} has no replica {}", args.service, args.index);
    };
    let Some(published) = row
        .ports
        .iter()
        .find(|port| port.container_port == args.private_port && port.protocol == args.protocol)
    else {
        anyhow::bail!(
            "{} publishes no {}/{} (it publishes {})",
            row.container,
            args.private_port,
            args.protocol,
            if row.ports.is_empty() {
                "nothing".to_string()
            } else {
                row.ports
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        );
    };
    println!("{}:{}", published.host_address, published.host_port);
    Ok(ExitCode::SUCCESS)
}

/// Flags of `nap events`.
#[derive(Debug, Args)]
pub struct EventsArgs {
    /// One JSON object per line (with the host).
    #[arg(long)]
    json: bool,
    /// Only these services.
    services: Vec<String>,
}

/// Runs `nap events`: the project's container events from every host, merged as they come,
/// until Ctrl-C.
pub fn events(global: &GlobalArgs, args: &EventsArgs) -> anyhow::Result<ExitCode> {
    use std::io::Write;
    let deployment = deployment::load(&global.deployment_options()?)?;
    print_loaded(&deployment);
    let errors = crate::runtime()?.block_on(async {
        let (sender, mut receiver) = tokio::sync::mpsc::channel(256);
        let printer = async {
            let mut out = std::io::stdout();
            while let Some(event) = receiver.recv().await {
                let event: query::ContainerEvent = event;
                if !args.services.is_empty() && !args.services.contains(&event.service) {
                    continue;
                }
                let line = if args.json {
                    serde_json::to_string(&event).unwrap_or_default()
                } else {
                    format!(
                        "{} container {} {} (host={}, service={})",
                        event.time, event.action, event.container, event.host, event.service
                    )
                };
                if writeln!(out, "{line}").and_then(|()| out.flush()).is_err() {
                    break;
                }
            }
        };
        let streams = query::events(&deployment.project.name, &deployment.inventory, sender);
        tokio::select! {
            result = async { tokio::join!(streams, printer).0 } => result,
            _ = tokio::signal::ctrl_c() => Ok(Vec::new()),
        }
    })?;
    for error in &errors {
        eprintln!("nap: {error}");
    }
    Ok(if errors.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
