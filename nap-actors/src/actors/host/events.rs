//! The host's container `start` event stream: every start of a project container on the
//! host (by nap, a restart policy or anyone) is reported as a
//! [`ContainerRestarted`] to the patcher, because Docker has then rewritten the container's
//! hosts file from its `extra_hosts`. A broken stream is opened again after a second.

use std::collections::HashMap;
use std::time::Duration;

use actix::prelude::*;
use std::sync::Arc;

use futures_util::StreamExt;
use nap_core::plan::LABEL_PROJECT;

use crate::actors::patcher::ContainerRestarted;
use crate::docker::DockerApi;

/// How long a broken stream waits before it is opened again.
const REOPEN_AFTER: Duration = Duration::from_secs(1);

/// Streams `host`'s start events for `project`'s containers to `recipient`, for ever (it
/// ends when the future is dropped or aborted).
pub(super) async fn watch_starts(
    docker: Arc<dyn DockerApi>,
    host: String,
    project: String,
    recipient: Recipient<ContainerRestarted>,
) {
    loop {
        let filters = HashMap::from([
            ("type".to_string(), vec!["container".to_string()]),
            ("event".to_string(), vec!["start".to_string()]),
            (
                "label".to_string(),
                vec![format!("{LABEL_PROJECT}={project}")],
            ),
        ]);
        let mut events = docker.events(filters);
        while let Some(event) = events.next().await {
            let Ok(event) = event else { break };
            if let Some(nanos) = event.time_nano {
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_nanos() as i64)
                    .unwrap_or(0);
                tracing::debug!(host = %host, lag_ms = (now - nanos) / 1_000_000, "daemon event");
            }
            let name = event
                .actor
                .and_then(|actor| actor.attributes)
                .and_then(|attributes| attributes.get("name").cloned());
            if let Some(container) = name {
                recipient.do_send(ContainerRestarted {
                    host: host.clone(),
                    container,
                });
            }
        }
        // The stream broke (daemon restarted, connection dropped): look again soon.
        tokio::time::sleep(REOPEN_AFTER).await;
    }
}
