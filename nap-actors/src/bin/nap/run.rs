//! `nap run`: a one-off container of a service, placed by the scheduler (or `--host`), with
//! its dependencies started first; exits with the container's status, as
//! `docker compose run`.

use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use nap_actors::deploy;
use nap_actors::deployment;
use nap_actors::run::{self, Attach, RunRequest};

use crate::up::ProgressFormat;
use crate::{GlobalArgs, print_loaded};

/// Flags of `nap run`, as `docker compose run`'s (and `--host`).
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Run the container in the background and print its name.
    #[arg(short = 'd', long)]
    detach: bool,
    /// Override the image's entrypoint.
    #[arg(long, value_name = "CMD")]
    entrypoint: Option<String>,
    /// Set an environment variable (repeatable; `KEY` alone takes nap's value).
    #[arg(short = 'e', long = "env", value_name = "KEY[=VALUE]")]
    env: Vec<String>,
    /// Add or override a label (repeatable).
    #[arg(short = 'l', long = "label", value_name = "KEY=VALUE")]
    labels: Vec<String>,
    /// The container's name (default `<project>-<service>-run-<id>`).
    #[arg(long, value_name = "NAME")]
    name: Option<String>,
    /// Do not allocate a pseudo-TTY (by default one is allocated when stdin is a terminal).
    #[arg(short = 'T', long = "no-TTY")]
    no_tty: bool,
    /// Keep stdin open and stream it to the container (on by default, as in compose).
    #[arg(short = 'i', long, default_value_t = true, hide = true)]
    interactive: bool,
    /// Do not start the services the service depends on.
    #[arg(long)]
    no_deps: bool,
    /// Publish a container port to the host (repeatable, `[ip:][published:]target`; no `-p`:
    /// that is the project name, before or after the verb).
    #[arg(long = "publish", value_name = "PORT")]
    publish: Vec<String>,
    /// Remove the container when it exits (however it exits).
    #[arg(long)]
    rm: bool,
    /// Publish the service's own ports too.
    #[arg(long)]
    service_ports: bool,
    /// Run as this user (name or uid[:gid]).
    #[arg(short = 'u', long, value_name = "USER")]
    user: Option<String>,
    /// Bind-mount a volume (repeatable, `[source:]target[:mode]`).
    #[arg(short = 'v', long = "volume", value_name = "VOLUME")]
    volumes: Vec<String>,
    /// Working directory inside the container.
    #[arg(short = 'w', long, value_name = "DIR")]
    workdir: Option<String>,
    /// The inventory host to run it on (default: beside the service's replicas).
    #[arg(long, value_name = "HOST")]
    host: Option<String>,
    /// Copy images from the local daemon or another host instead of pulling.
    #[arg(long)]
    ship_images: bool,
    /// Seconds to wait for dependencies to be healthy or complete.
    #[arg(long, default_value_t = 300, value_name = "SECONDS")]
    wait_timeout: u64,
    /// Progress output of the deployment part: text lines (stderr) or JSON events (stdout).
    #[arg(long, value_enum, default_value_t = ProgressFormat::Text)]
    format: ProgressFormat,
    /// The service.
    service: String,
    /// The command and its arguments (default: the service's).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    command: Vec<String>,
}

/// Runs `nap run`.
pub fn run(global: &GlobalArgs, args: &RunArgs) -> anyhow::Result<ExitCode> {
    let options = global.deployment_options()?;
    let deployment = deployment::load(&options)?;
    print_loaded(&deployment);
    crate::check_service(&deployment.project, &args.service)?;
    let tty = !args.no_tty && !args.detach && std::io::stdin().is_terminal();
    let request = RunRequest {
        service: args.service.clone(),
        command: args.command.clone(),
        entrypoint: args.entrypoint.clone(),
        env: args.env.clone(),
        labels: args.labels.clone(),
        volumes: args.volumes.clone(),
        publish: args.publish.clone(),
        service_ports: args.service_ports,
        name: args.name.clone(),
        host: args.host.clone(),
        user: args.user.clone(),
        workdir: args.workdir.clone(),
        tty,
        stdin: args.interactive && !args.detach,
    };
    let lookup = |key: &str| std::env::var(key).ok();
    let run_project = run::one_off_project(&deployment.project, &request, &lookup)?;
    let one_off = run::one_off(&deployment.project, &request)?;
    let up_options = deploy::UpOptions {
        plugins: global.load_plugins(&deployment.inventory)?,
        ship_images: args.ship_images,
        wait_timeout: Duration::from_secs(args.wait_timeout),
        no_deps: args.no_deps,
        ..deploy::UpOptions::default()
    };
    let progress = args.format.progress();
    // From here on a Ctrl-C is nap's to handle: the one-off may need removing.
    let interrupts = run::Interrupts::install()?;
    let report = {
        let _lock = nap_actors::lock::lock_project(&deployment.project.name, "run")?;
        actix::System::new().block_on(async {
            tokio::select! {
                report = deploy::create_one_off(
                    &deployment,
                    &run_project,
                    &one_off,
                    &up_options,
                    &progress,
                ) => report.map(Some),
                _ = interrupts.next_after(0) => Ok(None),
            }
        })?
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let Some(report) = report else {
        eprintln!(
            "nap: interrupted while deploying what {} needs; it was not run",
            one_off.name
        );
        // It may have been created already: leave nothing behind with --rm.
        if args.rm {
            runtime.block_on(remove_anywhere(&deployment, &one_off.name));
        }
        runtime.shutdown_timeout(Duration::from_millis(100));
        return Ok(ExitCode::from(130));
    };
    let host = report
        .plan
        .placements
        .iter()
        .find(|placement| placement.container == one_off.name)
        .map(|placement| placement.host.clone())
        .expect("the plan places the one-off");
    let created = crate::report_failures(&report)?;
    let inventory_host = deployment
        .inventory
        .host(&host)
        .expect("placements are on inventory hosts")
        .clone();
    let outcome = runtime.block_on(async {
        let docker = nap_actors::docker::connect(&inventory_host).await?;
        let status = if created != ExitCode::SUCCESS {
            Err(anyhow::anyhow!(
                "{}: not run: its deployment failed",
                one_off.name
            ))
        } else if interrupts.count() > 0 {
            Err(anyhow::anyhow!("{}: not run: interrupted", one_off.name))
        } else {
            run::attach(
                &docker,
                &host,
                &one_off.name,
                Attach {
                    tty,
                    stdin: request.stdin,
                    detach: args.detach,
                },
                &interrupts,
            )
            .await
            .map_err(anyhow::Error::from)
        };
        if args.rm && !args.detach {
            // Removed however it ended: exited, failed to start, or interrupted.
            run::remove(&docker, &host, &one_off.name).await?;
        }
        anyhow::Ok(status)
    });
    // A blocking read of stdin may still be pending: do not wait for it.
    runtime.shutdown_timeout(Duration::from_millis(100));
    let status = outcome??;
    if args.detach {
        println!("{}", one_off.name);
    }
    Ok(ExitCode::from(
        u8::try_from(status.clamp(0, 255)).unwrap_or(1),
    ))
}

/// Removes the one-off `name` wherever it is (after an interrupted deployment, nap does not
/// know whether or where it was created); failures are printed, not fatal.
async fn remove_anywhere(deployment: &deployment::Deployment, name: &str) {
    for host in &deployment.inventory.hosts {
        let Ok(docker) = nap_actors::docker::connect(host).await else {
            eprintln!("nap: {}: cannot check for {name}", host.name);
            continue;
        };
        if let Err(error) = run::remove(&docker, &host.name, name).await {
            eprintln!("nap: {error}");
        }
    }
}
