//! `nap build [SERVICE…]`: builds the images of `build:` services on the builder host (the
//! local daemon when it is a host, else the host marked `builder: true`, else the first), as
//! `docker compose build` does; the builder's output is streamed. `nap up` ships them.

use std::process::ExitCode;

use clap::Args;
use nap_actors::build::BuildFlags;
use nap_actors::deploy;
use nap_actors::deployment;

use crate::up::ProgressFormat;
use crate::{GlobalArgs, print_loaded};

/// Flags of `nap build`.
#[derive(Debug, Args)]
pub struct BuildArgs {
    /// Progress output: text lines (stderr) or JSON events (stdout).
    #[arg(long, value_enum, default_value = "text")]
    format: ProgressFormat,
    /// Do not use the builder's cache.
    #[arg(long)]
    no_cache: bool,
    /// Always try to pull newer versions of the base images.
    #[arg(long)]
    pull: bool,
    /// Only these services' images (default: every service with build:).
    #[arg(value_name = "SERVICE")]
    services: Vec<String>,
}

/// Runs `nap build`.
pub fn run(global: &GlobalArgs, args: &BuildArgs) -> anyhow::Result<ExitCode> {
    let deployment = deployment::load(&global.deployment_options()?)?;
    print_loaded(&deployment);
    if !deployment
        .project
        .services
        .values()
        .any(|service| service.build.is_some())
    {
        eprintln!("nap build: no service has a build: section; nothing to build");
        return Ok(ExitCode::SUCCESS);
    }
    let progress = args.format.progress();
    let flags = BuildFlags {
        no_cache: args.no_cache,
        pull: args.pull,
    };
    let report = actix::System::new()
        .block_on(async { deploy::build(&deployment, &args.services, flags, &progress).await })?;
    crate::report_failures(&report)
}
