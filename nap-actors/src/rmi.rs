//! `nap down --rmi local|all`: after the project is removed, the images its services used are
//! removed from every host, as `docker compose down --rmi` does on one — `local`: the images
//! nap names itself (a `build:` service without `image:`, `<project>-<service>`), `all`: every
//! service's image. An image another container still uses is left, and said so; one a host
//! does not hold is nothing to remove.

use bollard::Docker;
use bollard::query_parameters::RemoveImageOptionsBuilder;
use futures_util::future::join_all;
use nap_core::compose::Project;
use serde::Serialize;

/// Which images `--rmi` removes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rmi {
    /// Images without a name of their own in the compose file.
    Local,
    /// Every service's image.
    All,
}

/// What became of one image on one host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImageRemoval {
    /// The inventory host.
    pub host: String,
    /// The image reference.
    pub image: String,
    /// `removed`, `absent`, or why it was kept (`in use: …`, a Docker error).
    pub outcome: String,
}

/// The images `rmi` names in `project`, sorted, each once.
pub fn images(project: &Project, rmi: Rmi) -> Vec<String> {
    let mut images: Vec<String> = project
        .services
        .iter()
        .filter(|(_, service)| rmi == Rmi::All || service.image.is_none())
        .map(|(name, service)| service.image_name(&project.name, name))
        .collect();
    images.sort();
    images.dedup();
    images
}

/// Removes `images` from every host of `clients`, concurrently; never forced, so an image a
/// container (of any project) still uses stays.
pub async fn remove(clients: &[(String, Docker)], images: &[String]) -> Vec<ImageRemoval> {
    let work = clients.iter().flat_map(|(host, docker)| {
        images.iter().map(move |image| async move {
            let options = RemoveImageOptionsBuilder::default().force(false).build();
            let outcome = match docker.remove_image(image, Some(options), None).await {
                Ok(_) => "removed".to_string(),
                Err(bollard::errors::Error::DockerResponseServerError {
                    status_code: 404, ..
                }) => "absent".to_string(),
                Err(bollard::errors::Error::DockerResponseServerError {
                    status_code: 409,
                    message,
                }) => format!("kept, in use: {message}"),
                Err(error) => format!("kept: {error}"),
            };
            ImageRemoval {
                host: host.clone(),
                image: image.clone(),
                outcome,
            }
        })
    });
    join_all(work).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use nap_core::compose::{LoadOptions, MemoryFileSystem, load_with};

    #[test]
    fn local_is_the_images_nap_names_and_all_is_every_services() {
        let fs = MemoryFileSystem::default()
            .with(
                "/p/compose.yaml",
                "name: app\nservices:\n  web:\n    build: .\n  db:\n    image: postgres:16\n  cache:\n    image: postgres:16\n",
            )
            .with("/p/Dockerfile", "FROM scratch\n");
        let options = LoadOptions {
            working_dir: "/p".into(),
            ..LoadOptions::default()
        };
        let project = load_with(&options, &fs).unwrap().project;
        assert_eq!(images(&project, Rmi::Local), vec!["app-web".to_string()]);
        assert_eq!(
            images(&project, Rmi::All),
            vec!["app-web".to_string(), "postgres:16".to_string()]
        );
    }
}
