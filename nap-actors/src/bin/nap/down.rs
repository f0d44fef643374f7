//! `nap down`: remove the project's containers, networks and routes from every host (and,
//! with `-v`, its volumes).

use std::process::ExitCode;

use clap::Args;
use nap_actors::deploy::{self, DownOptions};
use nap_actors::deployment;
use nap_actors::rmi::Rmi;

use crate::up::ProgressFormat;
use crate::{GlobalArgs, print_loaded};

/// Flags of `nap down`.
#[derive(Debug, Args)]
pub struct DownArgs {
    /// Also remove the project's named volumes and containers' anonymous volumes.
    #[arg(short = 'v', long)]
    volumes: bool,
    /// Seconds each container gets to stop before it is killed.
    #[arg(short = 't', long = "timeout", value_name = "SECONDS")]
    timeout: Option<i32>,
    /// Also remove images the services used: `local` (those without a name of their own in
    /// the compose file) or `all`, from every host.
    #[arg(long, value_enum, value_name = "TYPE")]
    rmi: Option<RmiArg>,
    /// Progress output: text lines (stderr) or JSON events (stdout).
    #[arg(long, value_enum, default_value = "text")]
    format: ProgressFormat,
}

/// `--rmi`'s values, as Compose's.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum RmiArg {
    /// Images without a name of their own (`build:` services without `image:`).
    Local,
    /// Every service's image.
    All,
}

/// Runs `nap down`.
pub fn run(global: &GlobalArgs, args: &DownArgs) -> anyhow::Result<ExitCode> {
    let options = global.deployment_options()?;
    let deployment = deployment::load(&options)?;
    print_loaded(&deployment);
    let _lock = nap_actors::lock::lock_project(&deployment.project.name, "down")?;
    let progress = args.format.progress();
    let down = deploy::down(
        &deployment.project,
        &deployment.inventory,
        DownOptions {
            volumes: args.volumes,
            timeout: args.timeout,
        },
        &progress,
    );
    let report = actix::System::new().block_on(global.host_locked(
        &deployment.inventory,
        &deployment.project.name,
        "down",
        down,
    ))??;
    let code = crate::report_failures(&report)?;
    let Some(rmi) = args.rmi else {
        return Ok(code);
    };
    let rmi = match rmi {
        RmiArg::Local => Rmi::Local,
        RmiArg::All => Rmi::All,
    };
    let images = nap_actors::rmi::images(&deployment.project, rmi);
    let removals = crate::runtime()?.block_on(async {
        let clients = nap_actors::observe::connect_all(&deployment.inventory).await?;
        anyhow::Ok(nap_actors::rmi::remove(&clients, &images).await)
    })?;
    for removal in &removals {
        match args.format {
            ProgressFormat::Json => println!(
                "{}",
                serde_json::json!({"event": "image_removal", "host": removal.host, "image": removal.image, "outcome": removal.outcome})
            ),
            ProgressFormat::Text if removal.outcome != "absent" => {
                eprintln!(
                    " Image {} @{}  {}",
                    removal.image, removal.host, removal.outcome
                )
            }
            ProgressFormat::Text => {}
        }
    }
    Ok(code)
}
