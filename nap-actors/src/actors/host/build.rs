//! Building a `build:` service's image on the builder host: the context read and packed on
//! this machine (on a blocking thread), sent to the host's daemon as one classic-builder
//! build, the builder's output streamed to the progress as it comes, the image labelled with
//! the context's hash. Shipping the image to the other hosts is `image.rs`'s `EnsureImage`.

use std::path::PathBuf;
use std::time::Duration;

use actix::prelude::*;
use futures_util::StreamExt;
use hyper::body::Bytes;
use nap_core::compose::Build;

use super::error::docker_message;
use super::{HostActor, HostErrorKind, OperationResult, Outcome};
use crate::build::{self, BuildFlags};
use crate::progress::{Event, Progress};

/// Seconds a build may take.
const BUILD_SECONDS: u64 = 3600;

/// Build `image` for `service` from its context, on this host.
#[derive(Message)]
#[rtype(result = "OperationResult")]
pub struct BuildImage {
    /// The service.
    pub service: String,
    /// The image it is built as.
    pub image: String,
    /// Its `build:`.
    pub build: Build,
    /// The project folder (the context when `build:` names none).
    pub project_dir: PathBuf,
    /// `--no-cache`, `--pull`.
    pub flags: BuildFlags,
    /// Where the builder's output goes.
    pub progress: Progress,
}

impl Handler<BuildImage> for HostActor {
    type Result = ResponseFuture<OperationResult>;

    fn handle(&mut self, message: BuildImage, _: &mut Context<Self>) -> Self::Result {
        let host = self.context();
        Box::pin(async move {
            let BuildImage {
                service,
                image,
                build,
                project_dir,
                flags,
                progress,
            } = message;
            let invalid = |text: String| host.error(HostErrorKind::Invalid, text);
            // Read again now: the tar and the label come from the same reading.
            let packed = {
                let (service, build) = (service.clone(), build.clone());
                tokio::task::spawn_blocking(move || {
                    let context = build::read_context(&service, &build, &project_dir)?;
                    let tar = context.tar(&service)?;
                    Ok::<_, build::BuildError>((context, tar))
                })
                .await
            };
            let (context, tar) = match packed {
                Ok(Ok(packed)) => packed,
                Ok(Err(error)) => return Err(invalid(error.to_string())),
                Err(error) => return Err(invalid(format!("reading the build context: {error}"))),
            };
            let request = build::image_build(
                &service,
                &image,
                &build,
                &context.dockerfile,
                &context.hash,
                flags,
            )
            .map_err(|error| invalid(error.to_string()))?;
            let failed = |text: String| {
                host.error(
                    HostErrorKind::Image,
                    format!("building image {image} of service {service}: {text}"),
                )
            };
            let mut output = host.docker.build_image(
                request,
                Bytes::from(tar),
                Duration::from_secs(BUILD_SECONDS),
            );
            let mut built = false;
            while let Some(step) = output.next().await {
                let info = step.map_err(|error| failed(docker_message(&error)))?;
                if let Some(message) = info.error_detail.and_then(|detail| detail.message) {
                    return Err(failed(message));
                }
                for line in info.stream.iter().flat_map(|text| text.lines()) {
                    if !line.trim().is_empty() {
                        progress.emit(Event::BuildOutput {
                            service: service.clone(),
                            host: host.name.clone(),
                            line: line.trim_end().to_string(),
                        });
                    }
                }
                built |= info.aux.and_then(|aux| aux.id).is_some();
            }
            if !built {
                // The classic builder names the image in its output; check it is there.
                host.docker
                    .inspect_image(&image)
                    .await
                    .map_err(|error| failed(docker_message(&error)))?;
            }
            Ok(Outcome::Built)
        })
    }
}
