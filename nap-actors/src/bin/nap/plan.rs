//! `nap plan`: where every replica goes and the operations `nap up` would run.
//!
//! With `--offline`, against an empty state (nothing deployed); otherwise against what the
//! hosts report.

use std::process::ExitCode;

use clap::Args;
use nap_actors::deployment;
use nap_actors::pipeline::{self, Goal};
use nap_core::plan::ReconcileOptions;

use crate::{Format, GlobalArgs, print_loaded};

/// Flags of `nap plan`.
#[derive(Debug, Args)]
pub struct PlanArgs {
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
    /// Plan against an empty state instead of asking the hosts.
    #[arg(long)]
    offline: bool,
    /// Include removing containers of services no longer in the project.
    #[arg(long)]
    remove_orphans: bool,
    /// Recreate every container, changed or not.
    #[arg(long)]
    force_recreate: bool,
}

/// Runs `nap plan`: the pipeline's stages up to the plan, nothing executed.
pub fn run(global: &GlobalArgs, args: &PlanArgs) -> anyhow::Result<ExitCode> {
    let options = global.deployment_options()?;
    let deployment = deployment::load(&options)?;
    print_loaded(&deployment);
    let plugins = global.load_plugins(&deployment.inventory)?;
    let goal = Goal::Deploy(ReconcileOptions {
        remove_orphans: args.remove_orphans,
        force_recreate: args.force_recreate,
        ..ReconcileOptions::default()
    });
    let runtime = crate::runtime()?;
    let planned = runtime.block_on(pipeline::plan_only(
        &deployment.project,
        &deployment.inventory,
        &plugins,
        goal,
        args.offline,
    ))?;
    for warning in &planned.warnings {
        eprintln!("warning: {warning}");
    }
    let plan = planned.plan;
    match args.format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&plan)?),
        Format::Yaml => print!("{}", serde_yaml::to_string(&plan)?),
        Format::Text => print!("{}", plan.to_text()),
    }
    Ok(ExitCode::SUCCESS)
}
