//! `nap up`: deploy the project across the hosts once, and report what was done.
//!
//! Progress goes to stderr as compose-like lines (`--format json`: one JSON event per line
//! on stdout). Exit status 0 when every operation succeeded, 1 otherwise, with each failure
//! and what it held back listed.

use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use nap_actors::deploy::{self, UpOptions};
use nap_actors::deployment;
use nap_actors::progress::{Progress, ProgressStyle};
use nap_core::plan::BuildPolicy;

use crate::{GlobalArgs, print_loaded};

/// Output of commands that stream progress or lines (`up`, `watch`, `down`, `logs`); each
/// flag's help says where each goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ProgressFormat {
    /// Lines for people.
    Text,
    /// One JSON object per line.
    Json,
}

impl ProgressFormat {
    /// The progress handle for this format.
    pub fn progress(self) -> Progress {
        Progress::new(match self {
            ProgressFormat::Text => ProgressStyle::for_stderr(),
            ProgressFormat::Json => ProgressStyle::Json,
        })
    }
}

/// Flags of `nap up`.
#[derive(Debug, Args)]
pub struct UpArgs {
    /// Progress output: text lines (stderr) or JSON events (stdout).
    #[arg(long, value_enum, default_value = "text")]
    pub format: ProgressFormat,
    /// Remove containers of services no longer in the project.
    #[arg(long)]
    remove_orphans: bool,
    /// Recreate every container, changed or not.
    #[arg(long)]
    force_recreate: bool,
    /// Copy missing images from the local daemon or another host instead of pulling them.
    #[arg(long)]
    ship_images: bool,
    /// Build the images of build: services before starting, changed or not.
    #[arg(long, conflicts_with = "no_build")]
    build: bool,
    /// Build no image: a missing image of a build: service is pulled or copied as any other.
    #[arg(long)]
    no_build: bool,
    /// Seconds to wait for a dependency to be healthy or to complete.
    #[arg(long, value_name = "SECONDS", default_value_t = 300)]
    wait_timeout: u64,
    /// Detached mode: accepted for `docker compose up -d`; nap always returns once the
    /// project is up.
    #[arg(short = 'd', long)]
    detach: bool,
    /// Do not start the services the named ones depend on.
    #[arg(long)]
    no_deps: bool,
    /// Seconds a container being recreated or removed gets to stop before it is killed.
    #[arg(short = 't', long = "timeout", value_name = "SECONDS")]
    timeout: Option<i32>,
    /// Wait until every container of the services is running (and healthy, where it has a
    /// healthcheck) or has completed, at most --wait-timeout seconds; exit 1 otherwise.
    #[arg(long)]
    pub(crate) wait: bool,
    /// A host gone for good: forget the containers its hosts record says it runs (they may
    /// then start on another host). Repeat for several.
    #[arg(long = "forget-host", value_name = "HOST")]
    forget_hosts: Vec<String>,
    /// Only these services and, unless --no-deps, what they depend on (default: all); the
    /// others are left as they are.
    #[arg(value_name = "SERVICE")]
    services: Vec<String>,
}

impl UpArgs {
    /// The library's options for these flags.
    pub fn up_options(&self, plugins: nap_actors::plugins::Plugins) -> UpOptions {
        UpOptions {
            plugins,
            remove_orphans: self.remove_orphans,
            force_recreate: self.force_recreate,
            ship_images: self.ship_images,
            wait_timeout: Duration::from_secs(self.wait_timeout),
            services: self.services.clone(),
            no_deps: self.no_deps,
            stop_timeout: self.timeout,
            forget_hosts: self.forget_hosts.iter().cloned().collect(),
            drain_host: None,
            build: match (self.build, self.no_build) {
                (true, _) => BuildPolicy::Always,
                (_, true) => BuildPolicy::Never,
                _ => BuildPolicy::Changed,
            },
            build_flags: Default::default(),
        }
    }
}

/// Runs `nap up`.
pub fn run(global: &GlobalArgs, args: &UpArgs) -> anyhow::Result<ExitCode> {
    let options = global.deployment_options()?;
    let deployment = deployment::load(&options)?;
    print_loaded(&deployment);
    if let Some(unknown) = args
        .services
        .iter()
        .find(|service| !deployment.project.services.contains_key(*service))
    {
        anyhow::bail!("no such service: {unknown:?}");
    }
    let _lock = nap_actors::lock::lock_project(&deployment.project.name, "up")?;
    let progress = args.format.progress();
    let up_options = args.up_options(global.load_plugins(&deployment.inventory)?);
    let report = actix::System::new().block_on(global.host_locked(
        &deployment.inventory,
        &deployment.project.name,
        "up",
        deploy::up(&deployment, &up_options, &progress),
    ))??;
    let code = crate::report_failures(&report)?;
    if !args.wait || code != ExitCode::SUCCESS {
        return Ok(code);
    }
    wait_until_up(
        &deployment,
        &args.services,
        Duration::from_secs(args.wait_timeout),
    )
}

/// `up --wait`: polls every host until each container of `services` (all when empty) is
/// running and, with a healthcheck, healthy — or has exited 0 (a one-shot) — naming the
/// containers that are not when the time is up or one fails.
fn wait_until_up(
    deployment: &deployment::Deployment,
    services: &[String],
    limit: Duration,
) -> anyhow::Result<ExitCode> {
    let runtime = crate::runtime()?;
    let options = nap_actors::status::PsOptions {
        all: true,
        services: services.to_vec(),
        statuses: Vec::new(),
    };
    let started = std::time::Instant::now();
    loop {
        let rows = runtime.block_on(nap_actors::status::ps(
            &deployment.project.name,
            &deployment.inventory,
            &options,
        ));
        let failed: Vec<String> = rows
            .iter()
            .filter(|row| {
                row.state == "unreachable"
                    || row.health == "unhealthy"
                    || (row.state == "exited" && !row.status.starts_with("Exited (0)"))
                    || row.state == "dead"
            })
            .map(|row| format!("{} on {}: {}", row.container, row.host, row.status))
            .collect();
        if !failed.is_empty() {
            eprintln!("nap: up --wait: not up:");
            for line in &failed {
                eprintln!("  {line}");
            }
            return Ok(ExitCode::FAILURE);
        }
        let waiting: Vec<String> = rows
            .iter()
            .filter(|row| {
                let done = row.state == "exited";
                let up = row.state == "running" && matches!(row.health.as_str(), "" | "healthy");
                !(done || up)
            })
            .map(|row| format!("{} on {}: {}", row.container, row.host, row.status))
            .collect();
        if waiting.is_empty() {
            return Ok(ExitCode::SUCCESS);
        }
        if started.elapsed() >= limit {
            eprintln!("nap: up --wait: still not up after {} s:", limit.as_secs());
            for line in &waiting {
                eprintln!("  {line}");
            }
            return Ok(ExitCode::FAILURE);
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}
