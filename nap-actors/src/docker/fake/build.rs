//! The fake daemon's builds: each build is recorded with its context tar; the image gets an
//! ID made from the tar and the labels (the same context builds the same ID, a changed one a
//! new ID), under every tag, and the output is one step line then the ID.

use bollard::models::{BuildInfo, ImageId};
use futures_util::StreamExt;
use hyper::body::Bytes;
use sha2::{Digest, Sha256};

use super::{DockerStream, FakeDocker, ImageBuild};

impl FakeDocker {
    /// `POST /build`, in the model.
    pub(super) fn fake_build(&self, build: ImageBuild, context: Bytes) -> DockerStream<BuildInfo> {
        let tag = build.tags.first().cloned().unwrap_or_default();
        let result = self.record("build_image", &tag).map(|mut state| {
            let mut hasher = Sha256::new();
            hasher.update(&context);
            let mut labels: Vec<_> = build.labels.iter().collect();
            labels.sort();
            hasher.update(format!("{labels:?}"));
            let id = format!("sha256:{:x}", hasher.finalize());
            for tag in &build.tags {
                state.images.insert(tag.clone(), id.clone());
            }
            state.builds.push((build, context));
            id
        });
        let items = match result {
            Ok(id) => vec![
                Ok(BuildInfo {
                    stream: Some(format!("Step 1/1 : fake build of {tag}\n")),
                    ..BuildInfo::default()
                }),
                Ok(BuildInfo {
                    aux: Some(ImageId { id: Some(id) }),
                    ..BuildInfo::default()
                }),
            ],
            Err(error) => vec![Err(error)],
        };
        futures_util::stream::iter(items).boxed()
    }

    /// The image ID the daemon holds under `reference`.
    pub fn image_id(&self, reference: &str) -> Option<String> {
        self.state().images.get(reference).cloned()
    }

    /// Every build so far: the request and the context tar.
    pub fn builds(&self) -> Vec<(ImageBuild, Bytes)> {
        self.state().builds.clone()
    }
}
