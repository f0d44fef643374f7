//! `nap logs`: the project's logs from every host, merged, each line tagged
//! `service-n@host` (coloured per container on a terminal).

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use clap::Args;
use nap_actors::deployment;
use nap_actors::status::{self, LogsOptions};

use crate::{GlobalArgs, print_loaded};

/// Flags of `nap logs`.
#[derive(Debug, Args)]
pub struct LogsArgs {
    /// Keep following new output.
    #[arg(short = 'f', long)]
    follow: bool,
    /// Lines from the end of each container's log.
    #[arg(long, value_name = "N")]
    tail: Option<u64>,
    /// `text`: prefixed lines on stdout; `json`: one JSON object per line on stdout.
    #[arg(long, value_enum, default_value = "text")]
    format: crate::up::ProgressFormat,
    /// Only lines since a time: a Unix timestamp, an RFC 3339 date-time, or a duration ago
    /// (`42m`).
    #[arg(long, value_name = "TIME")]
    since: Option<String>,
    /// Only lines before a time (same forms as --since).
    #[arg(long, value_name = "TIME")]
    until: Option<String>,
    /// Show Docker's timestamp before each line.
    #[arg(short = 't', long)]
    timestamps: bool,
    /// Print the lines without the `service-n@host |` prefix.
    #[arg(long)]
    no_log_prefix: bool,
    /// Print without colours.
    #[arg(long)]
    no_color: bool,
    /// Only this replica of each service.
    #[arg(long, value_name = "N")]
    index: Option<u32>,
    /// Only these services.
    services: Vec<String>,
}

/// `--since`/`--until` as Unix seconds, or an error naming the flag.
fn log_time(flag: &str, value: Option<&str>) -> anyhow::Result<Option<i64>> {
    let Some(value) = value else {
        return Ok(None);
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| elapsed.as_secs() as i64)
        .unwrap_or(0);
    nap_core::units::parse_log_time(value, now)
        .map(Some)
        .map_err(|error| anyhow::anyhow!("{flag}: {error} (a Unix timestamp, an RFC 3339 date-time like 2026-12-03T10:00:00Z, or a duration like 42m)"))
}

const COLOURS: [&str; 6] = ["36", "33", "32", "35", "34", "31"];

/// Runs `nap logs`.
pub fn run(global: &GlobalArgs, args: &LogsArgs) -> anyhow::Result<ExitCode> {
    let options = global.deployment_options()?;
    let deployment = deployment::load(&options)?;
    print_loaded(&deployment);
    for service in &args.services {
        if !deployment.project.services.contains_key(service) {
            anyhow::bail!("no such service: {service:?}");
        }
    }
    let runtime = crate::runtime()?;
    let colour = std::io::stdout().is_terminal() && !args.no_color;
    let json = args.format == crate::up::ProgressFormat::Json;
    let log_options = LogsOptions {
        follow: args.follow,
        tail: args.tail,
        services: args.services.clone(),
        since: log_time("--since", args.since.as_deref())?,
        until: log_time("--until", args.until.as_deref())?,
        timestamps: args.timestamps,
        index: args.index,
    };
    let errors = runtime.block_on(async {
        let (sender, mut receiver) = tokio::sync::mpsc::channel::<status::LogLine>(1024);
        let printer = async {
            let mut colours: HashMap<String, &str> = HashMap::new();
            let width = deployment
                .project
                .services
                .keys()
                .map(|s| s.len() + 3)
                .max()
                .unwrap_or(0)
                + deployment
                    .inventory
                    .hosts
                    .iter()
                    .map(|h| h.name.len())
                    .max()
                    .unwrap_or(0);
            let mut out = std::io::stdout().lock();
            while let Some(line) = receiver.recv().await {
                if json {
                    let _ = writeln!(out, "{}", serde_json::to_string(&line).unwrap_or_default());
                    continue;
                }
                let next = colours.len();
                let code = *colours
                    .entry(line.source.clone())
                    .or_insert(COLOURS[next % COLOURS.len()]);
                if args.no_log_prefix {
                    let _ = writeln!(out, "{}", line.line);
                    continue;
                }
                let prefix = format!("{:width$} |", line.source);
                if colour {
                    let _ = writeln!(out, "\x1b[{code}m{prefix}\x1b[0m {}", line.line);
                } else {
                    let _ = writeln!(out, "{prefix} {}", line.line);
                }
            }
        };
        let (errors, ()) = tokio::join!(
            status::logs(
                &deployment.project.name,
                &deployment.inventory,
                &log_options,
                sender
            ),
            printer
        );
        errors
    });
    for error in &errors {
        eprintln!("nap: {error}");
    }
    Ok(if errors.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
