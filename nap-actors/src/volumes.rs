//! `nap volume ls`: the project's named volumes on every host, with their size (Docker's
//! disk usage, `GET /system/df`, as API 1.52 reports it: a daemon that speaks an older API,
//! such as Debian's 1.41, lists its volumes without sizes), so a volume kept on a host after
//! its replica left is seen.
//! Read-only; every host is asked at once and one that does not answer is an error naming it.

use std::collections::HashMap;

use bollard::query_parameters::{DataUsageOptions, ListVolumesOptionsBuilder};
use futures_util::future::join_all;
use nap_core::inventory::Inventory;
use nap_core::plan::LABEL_PROJECT;
use serde::Serialize;

use crate::observe::{self, HostError, ObserveError, with_causes};

/// One named volume of the project on one host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VolumeRow {
    /// The host.
    pub host: String,
    /// The Docker volume name.
    pub name: String,
    /// Its driver.
    pub driver: String,
    /// Its size in bytes, when the daemon reports one.
    pub size: Option<u64>,
    /// How many containers use it, when the daemon reports it.
    pub containers: Option<u64>,
}

/// The project's volumes (labelled `nap.project`) on every host, by name then host.
pub async fn list(project: &str, inventory: &Inventory) -> Result<Vec<VolumeRow>, ObserveError> {
    let clients = observe::connect_all(inventory).await?;
    let filters = HashMap::from([(
        "label".to_string(),
        vec![format!("{LABEL_PROJECT}={project}")],
    )]);
    let results = join_all(clients.iter().map(|(host, docker)| {
        let options = ListVolumesOptionsBuilder::default()
            .filters(&filters)
            .build();
        async move {
            let error = |what: &str, e: bollard::errors::Error| HostError {
                host: host.clone(),
                endpoint: inventory
                    .host(host)
                    .map(|h| h.docker.to_string())
                    .unwrap_or_default(),
                message: format!("{what}: {}", with_causes(&e)),
            };
            let listing = docker
                .list_volumes(Some(options))
                .await
                .map_err(|e| error("listing volumes", e))?;
            // Sizes are a nicety: a daemon that cannot compute them still lists its volumes.
            let usage: HashMap<String, (i64, i64)> = docker
                .df(None::<DataUsageOptions>)
                .await
                .ok()
                .and_then(|df| df.volume_usage)
                .and_then(|usage| usage.items)
                .unwrap_or_default()
                .into_iter()
                .filter_map(|volume| {
                    let name = volume.get("Name")?.as_str()?.to_string();
                    let data = volume.get("UsageData")?;
                    let size = data.get("Size")?.as_i64()?;
                    let count = data.get("RefCount").and_then(|c| c.as_i64()).unwrap_or(-1);
                    Some((name, (size, count)))
                })
                .collect();
            let rows: Vec<VolumeRow> = listing
                .volumes
                .unwrap_or_default()
                .into_iter()
                // Filtered here too: the label filter is the daemon's to honour.
                .filter(|volume| {
                    volume.labels.get(LABEL_PROJECT).map(String::as_str) == Some(project)
                })
                .map(|volume| {
                    let (size, count) = usage.get(&volume.name).copied().unwrap_or((-1, -1));
                    VolumeRow {
                        host: host.clone(),
                        driver: volume.driver,
                        size: u64::try_from(size).ok(),
                        containers: u64::try_from(count).ok(),
                        name: volume.name,
                    }
                })
                .collect();
            Ok::<_, HostError>(rows)
        }
    }))
    .await;
    let mut rows = Vec::new();
    let mut errors = Vec::new();
    for result in results {
        match result {
            Ok(host_rows) => rows.extend(host_rows),
            Err(error) => errors.push(error),
        }
    }
    if !errors.is_empty() {
        return Err(ObserveError(errors));
    }
    rows.sort_by(|a, b| (&a.name, &a.host).cmp(&(&b.name, &b.host)));
    Ok(rows)
}
