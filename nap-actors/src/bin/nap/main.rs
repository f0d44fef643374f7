//! The `nap` command line: parses flags, calls the library, prints, maps errors to exit codes.
//!
//! One file per subcommand. Errors are printed once, as `nap: <message>`, with exit code 1
//! (clap's usage errors exit 2).

mod build;
mod config;
mod cp;
mod down;
mod exec;
mod host;
mod lifecycle;
mod lock;
mod logs;
mod missing;
mod plan;
mod plugins;
mod ps;
mod pull;
mod query;
mod run;
mod scale;
mod up;
mod version;
mod volume;
mod watch;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use nap_actors::deployment::DeploymentOptions;

/// Run a Docker Compose application across several Docker hosts.
#[derive(Debug, Parser)]
#[command(name = "nap", version, about, propagate_version = true)]
struct Cli {
    #[command(flatten)]
    global: GlobalArgs,
    #[command(subcommand)]
    command: Command,
}

/// Flags every subcommand shares, as `docker compose` spells them (shown apart from each
/// subcommand's own in `--help`).
#[derive(Debug, clap::Args)]
#[command(next_help_heading = "Global options")]
pub struct GlobalArgs {
    /// Compose file (repeatable; later files override earlier ones). Before the subcommand,
    /// as with `docker compose` (`nap logs -f` is follow).
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    files: Vec<PathBuf>,
    /// Project name (default: COMPOSE_PROJECT_NAME, `name:`, or the directory name).
    #[arg(short = 'p', long = "project-name", global = true, value_name = "NAME")]
    project_name: Option<String>,
    /// Folder relative paths resolve against (default: the first compose file's folder).
    #[arg(long, global = true, value_name = "DIR")]
    project_directory: Option<PathBuf>,
    /// Environment file(s) for interpolation (default: .env in the project directory).
    #[arg(long = "env-file", global = true, value_name = "FILE")]
    env_files: Vec<PathBuf>,
    /// Enable services of this profile (repeatable; default: COMPOSE_PROFILES).
    #[arg(long = "profile", global = true, value_name = "PROFILE")]
    profiles: Vec<String>,
    /// Host inventory (default: $NAP_HOSTS, else nap-hosts.yml beside the compose file, else
    /// the local Docker daemon).
    #[arg(long = "hosts", global = true, value_name = "FILE")]
    hosts: Option<PathBuf>,
    /// Load this `.so` plugin (repeatable; loaded before the inventory's `plugins:`).
    #[arg(long = "plugin", global = true, value_name = "FILE")]
    plugins: Vec<PathBuf>,
    /// Load the `plugins:` of an inventory nap found by itself beside the compose file (by
    /// default only an inventory named by --hosts or $NAP_HOSTS may load plugins).
    #[arg(
        long,
        global = true,
        env = "NAP_ALLOW_PLUGINS",
        action = clap::ArgAction::SetTrue,
        value_parser = clap::builder::BoolishValueParser::new()
    )]
    allow_plugins: bool,
    /// Wait up to DURATION (`30s`, `5m`) for another deployer's project lock to be released
    /// instead of failing at once.
    #[arg(long = "wait-lock", global = true, value_name = "DURATION", value_parser = parse_wait_lock)]
    wait_lock: Option<std::time::Duration>,
}

/// `--wait-lock`'s value.
fn parse_wait_lock(text: &str) -> Result<std::time::Duration, String> {
    nap_core::units::parse_duration(text).map_err(|error| error.to_string())
}

impl GlobalArgs {
    /// Runs `work` holding the project's lock on the hosts (`host_lock`), waiting
    /// `--wait-lock` for another deployer.
    async fn host_locked<F: std::future::Future>(
        &self,
        inventory: &nap_core::inventory::Inventory,
        project: &str,
        verb: &str,
        work: F,
    ) -> anyhow::Result<F::Output> {
        Ok(nap_actors::host_lock::hold(inventory, project, verb, self.wait_lock, work).await?)
    }

    /// Loads `--plugin` files and the inventory's plugins; an error names the file.
    fn load_plugins(
        &self,
        inventory: &nap_core::inventory::Inventory,
    ) -> anyhow::Result<nap_actors::plugins::Plugins> {
        let consent = if self.allow_plugins {
            nap_actors::plugins::PluginConsent::Allowed
        } else {
            nap_actors::plugins::PluginConsent::IfNamed
        };
        Ok(nap_actors::plugins::Plugins::load(
            &self.plugins,
            inventory,
            consent,
        )?)
    }

    fn deployment_options(&self) -> anyhow::Result<DeploymentOptions> {
        Ok(DeploymentOptions::new(
            self.files.clone(),
            self.project_name.clone(),
            self.project_directory.clone(),
            self.env_files.clone(),
            self.profiles.clone(),
            self.hosts.clone(),
        )?)
    }
}

/// Output formats of commands whose output a program may read (`plan`, `ps`, `plugins`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// A table or text for people.
    Text,
    /// YAML.
    Yaml,
    /// JSON.
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print the normalized compose model (as `docker compose config` does).
    Config(config::ConfigArgs),
    /// Print where every replica goes and the operations that would deploy it.
    Plan(plan::PlanArgs),
    /// List the plugins `--plugin` and the inventory load, with their versions and hooks.
    Plugins(plugins::PluginsArgs),
    /// Deploy the project across the hosts (create, recreate, start what changed).
    Up(up::UpArgs),
    /// List the project's containers on every host.
    Ps(ps::PsArgs),
    /// Deploy, then keep the deployment in step with the files until Ctrl-C.
    Watch(up::UpArgs),
    /// Show the project's logs from every host, merged.
    Logs(logs::LogsArgs),
    /// Remove the project's containers, networks and routes from every host.
    Down(down::DownArgs),
    /// Run a command in a running replica of a service, on whatever host runs it.
    Exec(exec::ExecArgs),
    /// Run a one-off command in a new container of a service (placed by the scheduler).
    Run(run::RunArgs),
    /// Stop the services' running containers on every host (they keep their identity).
    Stop(lifecycle::StopArgs),
    /// Start the services' stopped containers (their names are re-applied).
    Start(lifecycle::PlainArgs),
    /// Restart the services' containers (their names are re-applied).
    Restart(lifecycle::RestartArgs),
    /// Send a signal (default SIGKILL) to the services' running containers.
    Kill(lifecycle::KillArgs),
    /// Pause the services' running containers.
    Pause(lifecycle::PlainArgs),
    /// Unpause the services' paused containers.
    Unpause(lifecycle::PlainArgs),
    /// Remove the services' stopped containers.
    Rm(lifecycle::RmArgs),
    /// Show the processes running in the services' containers, on every host.
    Top(query::TopArgs),
    /// List the images the project's containers run, per host.
    Images(query::ImagesArgs),
    /// List the projects nap finds on the inventory's hosts.
    Ls(query::LsArgs),
    /// Pull the services' images on the hosts that run them.
    Pull(pull::PullArgs),
    /// Build the images of build: services on the builder host.
    Build(build::BuildArgs),
    /// Copy files between a service's replica, wherever it runs, and this machine.
    Cp(cp::CpArgs),
    /// Stream the project's container events from every host, with the host, until Ctrl-C.
    Events(query::EventsArgs),
    /// Print the host address and port where a service's published port is reached.
    Port(query::PortArgs),
    /// Set the services' replica counts (`SERVICE=N`) and apply them; nothing else changes.
    Scale(scale::ScaleArgs),
    /// The project's named volumes on every host (`ls`: host, size).
    Volume(volume::VolumeArgs),
    /// Show or release the project's lock on the hosts (`status`, `release`).
    Lock(lock::LockArgs),
    /// Work on one host of the inventory (`drain`: move the project's replicas off it).
    Host(host::HostArgs),
    /// Print nap's version.
    Version(version::VersionArgs),
}

/// Prints what failed in an execution and maps it to the exit status.
pub fn report_failures(report: &nap_actors::deploy::DeployReport) -> anyhow::Result<ExitCode> {
    let execution = &report.execution;
    let project = &report.plan.project;
    if execution.is_success() {
        return Ok(ExitCode::SUCCESS);
    }
    eprintln!(
        "nap: {project}: {} operation(s) failed and {} were not run because of them:",
        execution.failed.len(),
        execution.skipped.len()
    );
    for failed in &execution.failed {
        eprintln!("  failed: {}", failed.error);
    }
    let mut held_back: Vec<String> = execution
        .skipped
        .iter()
        .map(|planned| {
            let (op, subject) = nap_actors::coordinator::describe(&planned.operation);
            format!("{op} {subject} on {}", planned.operation.host())
        })
        .collect();
    held_back.sort();
    held_back.dedup();
    for line in held_back {
        eprintln!("  not run: {line}");
    }
    let not_deployed = execution.not_deployed(&report.plan);
    if !not_deployed.is_empty() {
        let replicas: Vec<_> = not_deployed.into_iter().cloned().collect();
        eprintln!(
            "  not deployed: {}",
            nap_actors::progress::describe_replicas(&replicas)
        );
    }
    Ok(ExitCode::FAILURE)
}

/// An error naming the project's services unless `service` is one of them.
pub fn check_service(project: &nap_core::compose::Project, service: &str) -> anyhow::Result<()> {
    if project.services.contains_key(service) {
        return Ok(());
    }
    let known: Vec<&str> = project.services.keys().map(String::as_str).collect();
    anyhow::bail!(
        "no such service: {service:?} (the project's services: {})",
        known.join(", ")
    )
}

/// Prints what loading a deployment found, on stderr: its warnings and
/// [`print_local_fallback`].
pub fn print_loaded(deployment: &nap_actors::deployment::Deployment) {
    print_warnings(&deployment.warnings);
    print_local_fallback(&deployment.inventory);
}

/// One line when there is no inventory and nap falls back to the local daemon, so a missing
/// `--hosts` or `NAP_HOSTS` never deploys to this machine unannounced.
pub fn print_local_fallback(inventory: &nap_core::inventory::Inventory) {
    if inventory.origin == nap_core::inventory::InventoryOrigin::Local
        && let Some(host) = inventory.hosts.first()
    {
        eprintln!(
            "nap: no inventory (--hosts, $NAP_HOSTS or nap-hosts.yml beside the compose file): using the local Docker daemon at {}",
            host.docker
        );
    }
}

/// The single-threaded runtime of a command that asks hosts and does not run actors.
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

/// Prints warnings found while loading, one per line, on stderr.
pub fn print_warnings(warnings: &[nap_core::compose::Warning]) {
    for warning in warnings {
        eprintln!("warning: {warning}");
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args_os()
        .map(|arg| arg.to_string_lossy().into_owned())
        .collect();
    if let Some(message) = missing::message(&args) {
        eprintln!("{message}");
        return ExitCode::from(2);
    }
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("NAP_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let result = match &cli.command {
        Command::Config(args) => config::run(&cli.global, args),
        Command::Plan(args) => plan::run(&cli.global, args),
        Command::Up(args) => up::run(&cli.global, args),
        Command::Plugins(args) => plugins::run(&cli.global, args),
        Command::Ps(args) => ps::run(&cli.global, args),
        Command::Watch(args) => watch::run(&cli.global, args),
        Command::Logs(args) => logs::run(&cli.global, args),
        Command::Down(args) => down::run(&cli.global, args),
        Command::Exec(args) => exec::run(&cli.global, args),
        Command::Run(args) => run::run(&cli.global, args),
        Command::Stop(args) => lifecycle::stop(&cli.global, args),
        Command::Start(args) => lifecycle::plain(
            &cli.global,
            args,
            nap_actors::lifecycle::Action::Start,
            "start",
        ),
        Command::Restart(args) => lifecycle::restart(&cli.global, args),
        Command::Kill(args) => lifecycle::kill(&cli.global, args),
        Command::Pause(args) => lifecycle::plain(
            &cli.global,
            args,
            nap_actors::lifecycle::Action::Pause,
            "pause",
        ),
        Command::Unpause(args) => lifecycle::plain(
            &cli.global,
            args,
            nap_actors::lifecycle::Action::Unpause,
            "unpause",
        ),
        Command::Rm(args) => lifecycle::rm(&cli.global, args),
        Command::Scale(args) => scale::run(&cli.global, args),
        Command::Top(args) => query::top(&cli.global, args),
        Command::Images(args) => query::images(&cli.global, args),
        Command::Ls(args) => query::ls(&cli.global, args),
        Command::Port(args) => query::port(&cli.global, args),
        Command::Events(args) => query::events(&cli.global, args),
        Command::Cp(args) => cp::run(&cli.global, args),
        Command::Pull(args) => pull::run(&cli.global, args),
        Command::Build(args) => build::run(&cli.global, args),
        Command::Host(args) => host::run(&cli.global, args),
        Command::Lock(args) => lock::run(&cli.global, args),
        Command::Volume(args) => volume::run(&cli.global, args),
        Command::Version(args) => version::run(args),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("nap: {error:#}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn every_verbs_flags_are_consistent() {
        // Clap checks flag clashes (a verb's `-p` against the global `-p`) only when a verb
        // is parsed; this checks every verb at once.
        super::Cli::command().debug_assert();
    }
}
