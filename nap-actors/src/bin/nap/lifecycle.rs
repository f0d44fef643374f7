//! `nap stop|start|restart|kill|pause|unpause|rm [SERVICE…]`: Compose's lifecycle verbs on the
//! project's containers wherever they run. Exit status 1 when any container failed (each is
//! named); the project lock is held, so no `up` or `watch` changes the project meanwhile.

use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;

use clap::Args;
use nap_actors::deployment;
use nap_actors::lifecycle::{self, Action};

use crate::up::ProgressFormat;
use crate::{GlobalArgs, print_loaded};

/// `nap stop`'s flags.
#[derive(Debug, Args)]
pub struct StopArgs {
    /// Seconds to wait for each container to stop before killing it.
    #[arg(short = 't', long = "timeout", value_name = "SECONDS")]
    timeout: Option<i32>,
    #[command(flatten)]
    common: Common,
}

/// `nap restart`'s flags.
#[derive(Debug, Args)]
pub struct RestartArgs {
    /// Seconds to wait for each container to stop before killing it.
    #[arg(short = 't', long = "timeout", value_name = "SECONDS")]
    timeout: Option<i32>,
    #[command(flatten)]
    common: Common,
}

/// `nap kill`'s flags.
#[derive(Debug, Args)]
pub struct KillArgs {
    /// The signal to send (default SIGKILL).
    #[arg(short = 's', long = "signal", value_name = "SIGNAL")]
    signal: Option<String>,
    #[command(flatten)]
    common: Common,
}

/// `nap rm`'s flags.
#[derive(Debug, Args)]
pub struct RmArgs {
    /// Do not ask for confirmation.
    #[arg(short = 'f', long)]
    force: bool,
    /// Stop the containers first, if running.
    #[arg(short = 's', long)]
    stop: bool,
    /// Also remove the containers' anonymous volumes.
    #[arg(short = 'v', long)]
    volumes: bool,
    #[command(flatten)]
    common: Common,
}

/// Flags every lifecycle verb has.
#[derive(Debug, Args)]
pub struct Common {
    /// Progress output: text lines (stderr) or JSON events (stdout).
    #[arg(long, value_enum, default_value = "text")]
    format: ProgressFormat,
    /// Only these services (default: all).
    services: Vec<String>,
}

/// A verb with only the common flags (`start`, `pause`, `unpause`).
pub type PlainArgs = Common;

/// Runs `nap stop`.
pub fn stop(global: &GlobalArgs, args: &StopArgs) -> anyhow::Result<ExitCode> {
    run(
        global,
        &args.common,
        Action::Stop {
            timeout: args.timeout,
        },
        "stop",
    )
}

/// Runs `nap restart`.
pub fn restart(global: &GlobalArgs, args: &RestartArgs) -> anyhow::Result<ExitCode> {
    let action = Action::Restart {
        timeout: args.timeout,
    };
    run(global, &args.common, action, "restart")
}

/// Runs `nap kill`.
pub fn kill(global: &GlobalArgs, args: &KillArgs) -> anyhow::Result<ExitCode> {
    let action = Action::Kill {
        signal: args.signal.clone(),
    };
    run(global, &args.common, action, "kill")
}

/// Runs `nap start`, `nap pause` or `nap unpause`.
pub fn plain(
    global: &GlobalArgs,
    args: &PlainArgs,
    action: Action,
    verb: &str,
) -> anyhow::Result<ExitCode> {
    run(global, args, action, verb)
}

/// Runs `nap rm`: asks first unless `-f`, as Compose does.
pub fn rm(global: &GlobalArgs, args: &RmArgs) -> anyhow::Result<ExitCode> {
    let action = Action::Remove {
        stop: args.stop,
        volumes: args.volumes,
    };
    if !args.force {
        let options = global.deployment_options()?;
        let deployment = deployment::load(&options)?;
        let runtime = crate::runtime()?;
        let names = runtime.block_on(async {
            let inventory = &deployment.inventory;
            let clients = nap_actors::observe::connect_all(inventory).await?;
            let observed = nap_actors::observe::observe_connected(
                &deployment.project.name,
                inventory,
                &clients,
                nap_actors::observe::Detail::Listing,
            )
            .await?;
            anyhow::Ok(
                lifecycle::targets(&observed.containers, &args.common.services, &action)
                    .iter()
                    .map(|container| format!("{} @{}", container.name, container.host))
                    .collect::<Vec<_>>(),
            )
        })?;
        if names.is_empty() {
            eprintln!("No stopped containers");
            return Ok(ExitCode::SUCCESS);
        }
        if !std::io::stdin().is_terminal() {
            anyhow::bail!(
                "would remove {}; stdin is not a terminal to ask, so pass -f to remove them",
                names.join(", ")
            );
        }
        eprint!("Going to remove {}\nAre you sure? [yN] ", names.join(", "));
        std::io::stderr().flush()?;
        let mut answer = String::new();
        std::io::stdin().lock().read_line(&mut answer)?;
        if !matches!(answer.trim(), "y" | "Y" | "yes") {
            return Ok(ExitCode::SUCCESS);
        }
    }
    run(global, &args.common, action, "rm")
}

fn run(
    global: &GlobalArgs,
    common: &Common,
    action: Action,
    verb: &str,
) -> anyhow::Result<ExitCode> {
    let options = global.deployment_options()?;
    let deployment = deployment::load(&options)?;
    print_loaded(&deployment);
    let _lock = nap_actors::lock::lock_project(&deployment.project.name, verb)?;
    let progress = common.format.progress();
    let report = actix::System::new().block_on(global.host_locked(
        &deployment.inventory,
        &deployment.project.name,
        verb,
        lifecycle::run(&deployment, &common.services, &action, &progress),
    ))??;
    if report.failed.is_empty() {
        return Ok(ExitCode::SUCCESS);
    }
    eprintln!("nap {verb}: {} container(s) failed:", report.failed.len());
    for failure in &report.failed {
        eprintln!("  failed: {failure}");
    }
    Ok(ExitCode::FAILURE)
}
