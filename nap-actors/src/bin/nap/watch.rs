//! `nap watch`: deploy, then keep the deployment in step with the compose files, `.env`,
//! `env_file`s and the inventory until Ctrl-C or SIGTERM (which stop watching, not the
//! deployment).

use std::process::ExitCode;

use nap_actors::deployment;
use nap_actors::watch::{self, NotifyWatcher};

use crate::GlobalArgs;
use crate::up::UpArgs;

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let mut terminate =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = async {
            match terminate.as_mut() {
                Some(signal) => { signal.recv().await; }
                None => std::future::pending::<()>().await,
            }
        } => {}
    }
}

/// Runs `nap watch`.
pub fn run(global: &GlobalArgs, args: &UpArgs) -> anyhow::Result<ExitCode> {
    if args.wait {
        anyhow::bail!("--wait is a flag of nap up: nap watch keeps running until Ctrl-C");
    }
    let options = global.deployment_options()?;
    // Fail early, with file and line, when the files are invalid at the start.
    let first = deployment::load(&options)?;
    crate::print_local_fallback(&first.inventory);
    let project = first.project.name.clone();
    // Plugins are loaded once, from the first inventory, and kept while watching.
    let plugins = global.load_plugins(&first.inventory)?;
    // Held while watching: nothing else deploys this project meanwhile.
    let _lock = nap_actors::lock::lock_project(&project, "watch")?;
    let progress = args.format.progress();
    let up_options = args.up_options(plugins);
    let summary = actix::System::new().block_on(global.host_locked(
        &first.inventory,
        &project,
        "watch",
        async {
            let (sender, mut receiver) = tokio::sync::mpsc::unbounded_channel();
            let mut watcher = NotifyWatcher::new(sender)?;
            let shutdown = Box::pin(shutdown_signal());
            anyhow::Ok(
                watch::watch(
                    &options,
                    &up_options,
                    &progress,
                    &mut watcher,
                    &mut receiver,
                    shutdown,
                )
                .await?,
            )
        },
    ))??;
    eprintln!(
        "nap: stopped watching after {} change(s) applied, {} rejected as invalid, {} with failures; the deployment keeps running",
        summary.applied, summary.rejected, summary.failed
    );
    Ok(ExitCode::SUCCESS)
}
