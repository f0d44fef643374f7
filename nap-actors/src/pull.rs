//! `nap pull [SERVICE…]`: pulls each service's image on the hosts that run it (or, for a
//! service not deployed yet, on the hosts the scheduler places it on), every host at once, as
//! `docker compose pull` does on one host. Each pull is a progress line; a failed pull names
//! its host and image.

use std::collections::BTreeSet;
use std::time::Instant;

use bollard::query_parameters::CreateImageOptionsBuilder;
use futures_util::StreamExt;
use futures_util::future::join_all;

use crate::deployment::Deployment;
use crate::pipeline::{self, Goal, PipelineError};
use crate::plugins::Plugins;
use crate::progress::{Event, Progress};

/// What a pull did.
#[derive(Debug, Clone, Default)]
pub struct PullReport {
    /// Images pulled (host, image).
    pub pulled: Vec<(String, String)>,
    /// Pulls that failed, each with its error.
    pub failed: Vec<String>,
}

/// Why nothing could be pulled.
#[derive(Debug, thiserror::Error)]
pub enum PullError {
    /// A host did not answer, or no placement fits.
    #[error(transparent)]
    Pipeline(#[from] PipelineError),
    /// A service named is not in the project.
    #[error("no such service: {0:?}")]
    UnknownService(String),
}

/// Pulls the images of `services` (all when empty) where they run or will run.
pub async fn pull(
    deployment: &Deployment,
    services: &[String],
    plugins: &Plugins,
    progress: &Progress,
) -> Result<PullReport, PullError> {
    if let Some(unknown) = services
        .iter()
        .find(|service| !deployment.project.services.contains_key(*service))
    {
        return Err(PullError::UnknownService(unknown.clone()));
    }
    let (project, inventory) = (&deployment.project, &deployment.inventory);
    let goal = Goal::Deploy(Default::default());
    let clients = pipeline::connect(inventory)
        .await
        .map_err(PipelineError::from)?;
    let observed = pipeline::observe(&project.name, inventory, &clients, goal)
        .await
        .map_err(PipelineError::from)?;
    let planned = pipeline::plan_blocking(project, inventory, observed, plugins, goal, None)
        .await
        .map_err(PipelineError::from)?;
    let desired = planned.desired.expect("a deployment has a desired state");
    let wanted: BTreeSet<(String, String)> = desired
        .containers
        .iter()
        .filter(|container| services.is_empty() || services.contains(&container.service))
        .filter(|container| !container.image.is_empty())
        // A build-only service's image is built (`nap build`), not pulled.
        .filter(|container| {
            let service = &project.services[&container.service];
            service.image.is_some() || service.build.is_none()
        })
        .map(|container| (container.host.clone(), container.image.clone()))
        .collect();
    let results = join_all(wanted.iter().enumerate().map(|(index, (host, image))| {
        let docker = clients
            .iter()
            .find(|(name, _)| name == host)
            .map(|(_, docker)| docker.clone())
            .expect("placements are on connected hosts");
        async move {
            progress.emit(Event::Started {
                id: index + 1,
                host: host.clone(),
                op: "pull_image".to_string(),
                subject: image.clone(),
            });
            let started = Instant::now();
            let options = CreateImageOptionsBuilder::default()
                .from_image(image)
                .build();
            let mut stream = docker.create_image(Some(options), None, None);
            let mut result = Ok(());
            while let Some(item) = stream.next().await {
                match item {
                    Ok(info) if info.error_detail.is_some() => {
                        let message = info
                            .error_detail
                            .and_then(|detail| detail.message)
                            .unwrap_or_else(|| "the pull failed".to_string());
                        result = Err(message);
                        break;
                    }
                    Ok(_) => {}
                    Err(error) => {
                        result = Err(crate::actors::host::docker_message(&error));
                        break;
                    }
                }
            }
            progress.emit(Event::Finished {
                id: index + 1,
                host: host.clone(),
                op: "pull_image".to_string(),
                subject: image.clone(),
                ok: result.is_ok(),
                outcome: if result.is_ok() { "pulled" } else { "failed" }.to_string(),
                error: result
                    .as_ref()
                    .err()
                    .map(|error| format!("{image} on host {host:?}: {error}")),
                seconds: started.elapsed().as_secs_f64(),
            });
            result.map_err(|error| format!("{image} on host {host:?}: {error}"))
        }
    }))
    .await;
    let mut report = PullReport::default();
    for ((host, image), result) in wanted.into_iter().zip(results) {
        match result {
            Ok(()) => report.pulled.push((host, image)),
            Err(error) => report.failed.push(error),
        }
    }
    Ok(report)
}
