//! Images on a host: present already, else pulled, else copied from another daemon
//! (`docker save | docker load`, streamed) that holds the expected image ID.

use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use futures_util::StreamExt;
use nap_core::plan::decide::{self, ImageFetch, ImageHolder};

use super::error::docker_message;
use super::{HostActor, HostContext, HostErrorKind, OperationResult, Outcome};
use crate::docker::DockerApi;

/// Seconds an image transfer may take (a `docker save` → `docker load` of a large image).
const IMAGE_TRANSFER_SECONDS: u64 = 3600;

/// A daemon an image can be copied from.
#[derive(Clone)]
pub struct ImageSource {
    /// Its name (an inventory host, or `local` for the local daemon).
    pub name: String,
    /// Its Docker calls (a client wrapped in [`crate::docker::BollardDocker`], or a fake).
    pub docker: Arc<dyn DockerApi>,
    /// The deploying machine's own daemon: the image ID it holds is the one every copy must
    /// arrive with. Without one, the first inventory host that has the image sets it.
    pub trusted: bool,
}

/// Make an image present: pull it, or (when pulling fails or is not wanted) copy it from
/// the first source that has it, streamed (`docker save | docker load`).
#[derive(Message)]
#[rtype(result = "OperationResult")]
pub struct EnsureImage {
    /// Reference.
    pub image: String,
    /// Skip the pull and copy straight away (`--ship-images`).
    pub ship: bool,
    /// Daemons to copy from, best first.
    pub sources: Vec<ImageSource>,
    /// A built image: present only when the host holds the first trusted source's image ID
    /// (an older build under the same name is replaced), and never pulled.
    pub exact: bool,
}

impl Handler<EnsureImage> for HostActor {
    type Result = ResponseFuture<OperationResult>;

    fn handle(&mut self, message: EnsureImage, _: &mut Context<Self>) -> Self::Result {
        let host = self.context();
        Box::pin(async move {
            let here = host.docker.inspect_image(&message.image).await.ok();
            let present = match (&here, message.exact) {
                (None, _) => false,
                (Some(_), false) => true,
                (Some(inspect), true) => {
                    let mut wanted = None;
                    for source in message.sources.iter().filter(|source| source.trusted) {
                        if let Ok(theirs) = source.docker.inspect_image(&message.image).await {
                            wanted = theirs.id;
                            break;
                        }
                    }
                    wanted.is_some() && inspect.id == wanted
                }
            };
            let mut pull_error = None;
            match decide::image_fetch(present, message.ship || message.exact) {
                ImageFetch::Present => return Ok(Outcome::Present),
                ImageFetch::Copy => {}
                ImageFetch::PullThenCopy => match pull(&host, &message.image).await {
                    Ok(()) => return Ok(Outcome::Pulled),
                    Err(error) => pull_error = Some(docker_message(&error)),
                },
            }
            // Which daemon to copy from, and the image ID the copy must arrive with: the
            // core's `image_copy` (so one compromised host cannot seed the others).
            let mut holders = Vec::new();
            for source in &message.sources {
                if let Ok(inspect) = source.docker.inspect_image(&message.image).await
                    && let Some(id) = inspect.id
                {
                    holders.push((
                        source,
                        ImageHolder {
                            trusted: source.trusted,
                            id,
                        },
                    ));
                }
            }
            let facts: Vec<ImageHolder> =
                holders.iter().map(|(_, holder)| holder.clone()).collect();
            if let Some(copy) = decide::image_copy(&facts) {
                let source = holders[copy.from].0;
                return copy_image(&host, &message.image, source, &copy.expected).await;
            }
            let mut text = format!("image {} is not on this host", message.image);
            if let Some(error) = pull_error {
                text.push_str(&format!(", pulling it failed ({error})"));
            }
            text.push_str(", and no other host nor the local daemon has it to copy");
            Err(host.error(HostErrorKind::Image, text))
        })
    }
}

/// Pulls `image` from its registry.
async fn pull(host: &HostContext, image: &str) -> Result<(), bollard::errors::Error> {
    let (name, tag) = split_reference(image);
    let mut pull = host.docker.pull_image(&name, &tag);
    while let Some(step) = pull.next().await {
        step?;
    }
    Ok(())
}

/// Copies `image` from `source` (`docker save | docker load`, streamed), then checks that
/// what arrived has the image ID `expected`; an image that does not is removed again.
async fn copy_image(
    host: &HostContext,
    image: &str,
    source: &ImageSource,
    expected: &str,
) -> OperationResult {
    let transfer = Duration::from_secs(IMAGE_TRANSFER_SECONDS);
    let export = source.docker.export_image(image, transfer);
    let mut load = host.docker.import_image(export, transfer);
    while let Some(step) = load.next().await {
        let failed = match step {
            Err(error) => Some(docker_message(&error)),
            Ok(info) => info.error_detail.and_then(|detail| detail.message),
        };
        if let Some(error) = failed {
            return Err(host.error(
                HostErrorKind::Image,
                format!("copying image {image} from {}: {error}", source.name),
            ));
        }
    }
    let arrived = host
        .docker
        .inspect_image(image)
        .await
        .map_err(|error| host.docker_error(&format!("inspecting image {image}"), error))?
        .id
        .unwrap_or_default();
    if arrived != expected {
        if let Err(error) = host.docker.remove_image(image).await {
            tracing::warn!(host = %host.name, %image, "removing a mismatched image: {error}");
        }
        return Err(host.error(HostErrorKind::Image, format!(
            "image {image} copied from {} arrived as {arrived}, not the expected {expected}; it was removed",
            source.name
        )));
    }
    Ok(Outcome::CopiedFrom(source.name.clone()))
}

/// `name:tag` → (`name`, `tag`), `latest` by default; digests stay in the name.
fn split_reference(image: &str) -> (String, String) {
    if image.contains('@') {
        return (image.to_string(), String::new());
    }
    match image.rsplit_once(':') {
        Some((name, tag)) if !tag.contains('/') => (name.to_string(), tag.to_string()),
        _ => (image.to_string(), "latest".to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references() {
        assert_eq!(
            split_reference("nap/busybox:lab"),
            ("nap/busybox".into(), "lab".into())
        );
        assert_eq!(
            split_reference("localhost:5000/x"),
            ("localhost:5000/x".into(), "latest".into())
        );
    }
}
