//! `nap exec`: run a command in a running replica of a service, wherever it runs; exits with
//! the command's status.

use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use nap_actors::deployment;
use nap_actors::exec::{self, ExecRequest};

use crate::{GlobalArgs, print_loaded};

/// Flags of `nap exec`, as `docker compose exec`'s.
#[derive(Debug, Args)]
pub struct ExecArgs {
    /// Run the command in the background.
    #[arg(short = 'd', long)]
    detach: bool,
    /// Set an environment variable (repeatable).
    #[arg(short = 'e', long = "env", value_name = "KEY=VALUE")]
    env: Vec<String>,
    /// Which replica of the service (1-based).
    #[arg(long, default_value_t = 1, value_name = "N")]
    index: u32,
    /// Do not allocate a pseudo-TTY (by default one is allocated when stdin is a terminal).
    #[arg(short = 'T', long = "no-TTY")]
    no_tty: bool,
    /// Keep stdin open and stream it to the command (on by default, as in compose).
    #[arg(short = 'i', long, default_value_t = true, hide = true)]
    interactive: bool,
    /// Give the command extended privileges.
    #[arg(long)]
    privileged: bool,
    /// Run as this user (name or uid[:gid]).
    #[arg(short = 'u', long, value_name = "USER")]
    user: Option<String>,
    /// Working directory inside the container.
    #[arg(short = 'w', long, value_name = "DIR")]
    workdir: Option<String>,
    /// The service.
    service: String,
    /// The command and its arguments.
    #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
    command: Vec<String>,
}

/// Runs `nap exec`.
pub fn run(global: &GlobalArgs, args: &ExecArgs) -> anyhow::Result<ExitCode> {
    let options = global.deployment_options()?;
    let deployment = deployment::load(&options)?;
    print_loaded(&deployment);
    crate::check_service(&deployment.project, &args.service)?;
    let request = ExecRequest {
        service: args.service.clone(),
        index: args.index,
        command: args.command.clone(),
        user: args.user.clone(),
        workdir: args.workdir.clone(),
        env: args.env.clone(),
        privileged: args.privileged,
        tty: !args.no_tty && !args.detach && std::io::stdin().is_terminal(),
        stdin: args.interactive,
        detach: args.detach,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let status = runtime.block_on(exec::exec(
        &deployment.project.name,
        &deployment.inventory,
        &request,
    ));
    // A blocking read of stdin may still be pending: do not wait for it.
    runtime.shutdown_timeout(Duration::from_millis(100));
    let status = status?;
    Ok(ExitCode::from(
        u8::try_from(status.clamp(0, 255)).unwrap_or(1),
    ))
}
