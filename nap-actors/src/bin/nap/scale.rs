//! `nap scale SERVICE=N…`: sets the services' replica counts for this deployment and applies
//! them through the same path as editing `deploy.replicas` and running `nap up SERVICE…`:
//! replicas are added or removed, nothing else is recreated. A later `nap up` goes back to
//! the counts of the compose file, as with `docker compose scale`.

use std::process::ExitCode;

use clap::Args;
use nap_actors::deploy::{self, UpOptions};
use nap_actors::deployment;

use crate::up::ProgressFormat;
use crate::{GlobalArgs, print_loaded};

/// Flags of `nap scale`.
#[derive(Debug, Args)]
pub struct ScaleArgs {
    /// Do not start the services the scaled ones depend on.
    #[arg(long)]
    no_deps: bool,
    /// Progress output: text lines (stderr) or JSON events (stdout).
    #[arg(long, value_enum, default_value = "text")]
    format: ProgressFormat,
    /// `SERVICE=REPLICAS`, one or more.
    #[arg(required = true, value_name = "SERVICE=REPLICAS")]
    scales: Vec<String>,
}

/// `SERVICE=N` → (service, N), or an error naming the argument.
fn parse_scale(text: &str) -> anyhow::Result<(String, u32)> {
    let (service, count) = text
        .split_once('=')
        .ok_or_else(|| anyhow::anyhow!("{text:?}: expected SERVICE=REPLICAS"))?;
    let count = count
        .parse::<u32>()
        .map_err(|_| anyhow::anyhow!("{text:?}: the replica count must be a number"))?;
    Ok((service.to_string(), count))
}

/// Runs `nap scale`.
pub fn run(global: &GlobalArgs, args: &ScaleArgs) -> anyhow::Result<ExitCode> {
    let scales = args
        .scales
        .iter()
        .map(|text| parse_scale(text))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let options = global.deployment_options()?;
    let mut deployment = deployment::load(&options)?;
    print_loaded(&deployment);
    for (name, count) in &scales {
        let Some(service) = deployment.project.services.get_mut(name) else {
            anyhow::bail!("no such service: {name:?}");
        };
        if service.is_global() {
            anyhow::bail!(
                "service {name:?} is deploy.mode: global: it runs one replica per host and cannot be scaled"
            );
        }
        service.deploy.get_or_insert_with(Default::default).replicas = Some(*count);
        service.scale = None;
    }
    let _lock = nap_actors::lock::lock_project(&deployment.project.name, "scale")?;
    let progress = args.format.progress();
    let up_options = UpOptions {
        plugins: global.load_plugins(&deployment.inventory)?,
        services: scales.iter().map(|(name, _)| name.clone()).collect(),
        no_deps: args.no_deps,
        ..UpOptions::default()
    };
    let report = actix::System::new().block_on(global.host_locked(
        &deployment.inventory,
        &deployment.project.name,
        "scale",
        deploy::up(&deployment, &up_options, &progress),
    ))??;
    crate::report_failures(&report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scales_are_service_equals_count() {
        assert_eq!(parse_scale("web=3").unwrap(), ("web".to_string(), 3));
        assert!(parse_scale("web").is_err());
        assert!(parse_scale("web=many").is_err());
    }
}
