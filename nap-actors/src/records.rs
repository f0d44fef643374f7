//! Reading and writing the hosts record (`nap_core::plan::records`) on the hosts: a
//! label-only Docker volume per host, named [`record_volume_name`], whose label holds which
//! hosts run which containers of the project. Labels cannot change, so a new record replaces
//! the volume (remove, then create); only the lock holder writes it.
//!
//! `up` reads every host's record before planning and refuses when one names a host the
//! inventory lost; it writes the record of what may run (observed ∪ desired) before any
//! change, and the record of what runs after a run that succeeded; `down` removes it. The
//! volume has no `nap.project` label, so `down -v` and `nap volume ls` never take it for one
//! of the project's volumes.

use std::collections::HashMap;

use bollard::Docker;
use bollard::models::VolumeCreateRequest;
use bollard::query_parameters::{ListVolumesOptionsBuilder, RemoveVolumeOptions};
use futures_util::future::join_all;
use nap_core::plan::records::{
    HostsRecord, LABEL_HOSTS_RECORD, LABEL_RECORD_OF, RecordError, record_volume_name,
};

use crate::observe::with_causes;

/// Why a record could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum RecordsError {
    /// The daemon refused.
    #[error("host {host}: {what} the hosts record: {message}")]
    Docker {
        /// The host.
        host: String,
        /// `reading`, `writing`, `removing`.
        what: &'static str,
        /// The daemon's answer.
        message: String,
    },
    /// A record is not readable.
    #[error(transparent)]
    Record(#[from] RecordError),
}

/// Every connected host's record of `project`, as (host, record); hosts without one are left
/// out.
pub async fn read(
    project: &str,
    clients: &[(String, Docker)],
) -> Result<Vec<(String, HostsRecord)>, RecordsError> {
    let name = record_volume_name(project);
    let filters = HashMap::from([(
        "label".to_string(),
        vec![format!("{LABEL_RECORD_OF}={project}")],
    )]);
    let results = join_all(clients.iter().map(|(host, docker)| {
        let options = ListVolumesOptionsBuilder::default()
            .filters(&filters)
            .build();
        async move { (host, docker.list_volumes(Some(options)).await) }
    }))
    .await;
    let mut records = Vec::new();
    for (host, result) in results {
        let listing = result.map_err(|error| RecordsError::Docker {
            host: host.clone(),
            what: "reading",
            message: with_causes(&error),
        })?;
        for volume in listing.volumes.unwrap_or_default() {
            if volume.name != name {
                continue;
            }
            if let Some(text) = volume.labels.get(LABEL_HOSTS_RECORD) {
                records.push((host.clone(), HostsRecord::parse(host, text)?));
            }
        }
    }
    Ok(records)
}

/// Makes every connected host hold `record` (`None`: no record), writing only where the
/// host's record, as `current` says (hosts missing from it have none), differs; `current` is
/// updated to what the hosts now hold.
pub async fn replace(
    project: &str,
    clients: &[(String, Docker)],
    current: &mut Vec<(String, HostsRecord)>,
    record: Option<&HostsRecord>,
) -> Result<(), RecordsError> {
    let text = record.map(HostsRecord::render);
    let stale: Vec<&(String, Docker)> = clients
        .iter()
        .filter(|(host, _)| {
            let held = current.iter().find(|(on, _)| on == host).map(|(_, r)| r);
            held != record
        })
        .collect();
    let results = join_all(stale.iter().map(|(host, docker)| {
        let text = text.clone();
        async move {
            remove_one(project, host, docker).await?;
            let Some(text) = text else {
                return Ok(());
            };
            let request = VolumeCreateRequest {
                name: Some(record_volume_name(project)),
                labels: Some(HashMap::from([
                    (LABEL_RECORD_OF.to_string(), project.to_string()),
                    (LABEL_HOSTS_RECORD.to_string(), text),
                ])),
                ..VolumeCreateRequest::default()
            };
            docker
                .create_volume(request)
                .await
                .map(|_| ())
                .map_err(|error| RecordsError::Docker {
                    host: host.clone(),
                    what: "writing",
                    message: with_causes(&error),
                })
        }
    }))
    .await;
    let written: Vec<String> = stale.iter().map(|(host, _)| host.clone()).collect();
    current.retain(|(host, _)| !written.contains(host));
    if let Some(record) = record {
        current.extend(written.into_iter().map(|host| (host, record.clone())));
    }
    results.into_iter().collect()
}

async fn remove_one(project: &str, host: &str, docker: &Docker) -> Result<(), RecordsError> {
    match docker
        .remove_volume(&record_volume_name(project), None::<RemoveVolumeOptions>)
        .await
    {
        Ok(()) => Ok(()),
        Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 404, ..
        }) => Ok(()),
        Err(error) => Err(RecordsError::Docker {
            host: host.to_string(),
            what: "removing",
            message: with_causes(&error),
        }),
    }
}
