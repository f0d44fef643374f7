//! Images of `build:` services, on the runtime's side: reading each context ([`context`]),
//! the content hash the plan compares with the builder's image label, and the build request
//! the builder host's actor sends (`actors::host::build`).
//!
//! [`hash_contexts`] runs before every deployment plan (and `nap build`): it fills each
//! build's `context_hash`, so an unchanged context builds nothing and a changed one builds
//! once. Nothing here talks to a daemon.

pub mod context;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use nap_core::build::LABEL_BUILD_HASH;
use nap_core::compose::{Build, Project};
use nap_core::units;

use crate::docker::ImageBuild;

pub use context::{Context, context_folder, read_context};

/// Why a context cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The context is a Git URL or a remote tarball.
    #[error(
        "service {service:?}: build context {context:?} is a URL; nap builds only from a folder on this machine (it fetches nothing from the internet): clone it and point context: at the folder"
    )]
    RemoteContext {
        /// The service.
        service: String,
        /// The context as written.
        context: String,
    },
    /// The context folder does not exist or is not a folder.
    #[error("service {service:?}: build context {} is not a folder", path.display())]
    NotAFolder {
        /// The service.
        service: String,
        /// The folder.
        path: PathBuf,
    },
    /// The Dockerfile is missing.
    #[error("service {service:?}: no Dockerfile at {}", path.display())]
    NoDockerfile {
        /// The service.
        service: String,
        /// Where it was looked for.
        path: PathBuf,
    },
    /// A `.dockerignore` line Docker refuses.
    #[error("service {service:?}: {}:{line}: {message}", path.display())]
    Ignore {
        /// The service.
        service: String,
        /// The `.dockerignore`.
        path: PathBuf,
        /// The line, from 1.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// A file of the context cannot be read.
    #[error("service {service:?}: cannot read {}: {error}", path.display())]
    Read {
        /// The service.
        service: String,
        /// The file.
        path: PathBuf,
        /// Why.
        error: std::io::Error,
    },
    /// The context is larger than nap sends.
    #[error("service {service:?}: the build context is larger than {limit} bytes")]
    TooLarge {
        /// The service.
        service: String,
        /// The limit.
        limit: u64,
    },
    /// `build.shm_size` does not fit the builder's API.
    #[error("service {service:?}: build.shm_size: {message}")]
    Setting {
        /// The service.
        service: String,
        /// What is wrong.
        message: String,
    },
}

/// `project` with every build's `context_hash` filled from its context on disk. Reads every
/// file each context sends (blocking: call it on a blocking thread).
pub fn hash_contexts(project: &Project) -> Result<Project, BuildError> {
    let mut project = project.clone();
    let project_dir = project.working_dir.clone();
    for (name, service) in &mut project.services {
        if let Some(build) = &mut service.build {
            build.context_hash = Some(read_context(name, build, &project_dir)?.hash);
        }
    }
    Ok(project)
}

/// The context folders of `project`'s builds (folders only, URLs left out), for `nap watch`,
/// as (service, folder).
pub fn context_folders(project: &Project) -> Vec<(String, PathBuf)> {
    project
        .services
        .iter()
        .filter_map(|(name, service)| {
            let build = service.build.as_ref()?;
            if build
                .context
                .as_deref()
                .is_some_and(nap_core::compose::is_remote_context)
            {
                return None;
            }
            Some((name.clone(), context_folder(build, &project.working_dir)))
        })
        .collect()
}

/// Flags of a build that are not the compose file's (`nap build --no-cache --pull`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BuildFlags {
    /// Build without the builder's cache.
    pub no_cache: bool,
    /// Pull newer base images first.
    pub pull: bool,
}

/// The request that builds `service`'s `image` from a context whose Dockerfile is
/// `dockerfile` and whose hash is `hash`: the compose settings, the build hash label, and
/// the image's name first among its tags.
pub fn image_build(
    service: &str,
    image: &str,
    build: &Build,
    dockerfile: &str,
    hash: &str,
    flags: BuildFlags,
) -> Result<ImageBuild, BuildError> {
    let shm_size = match &build.shm_size {
        Some(text) => {
            let bytes = units::parse_bytes(text).map_err(|error| BuildError::Setting {
                service: service.to_string(),
                message: error.to_string(),
            })?;
            Some(i32::try_from(bytes).map_err(|_| BuildError::Setting {
                service: service.to_string(),
                message: format!("{text} is more than the 2 GiB the build API takes"),
            })?)
        }
        None => None,
    };
    let mut labels: HashMap<String, String> = build
        .labels
        .iter()
        .map(|(key, value)| (key.clone(), value.clone()))
        .collect();
    labels.insert(LABEL_BUILD_HASH.to_string(), hash.to_string());
    let mut tags = vec![image.to_string()];
    tags.extend(build.tags.iter().filter(|tag| *tag != image).cloned());
    Ok(ImageBuild {
        tags,
        dockerfile: dockerfile.to_string(),
        args: build
            .args
            .iter()
            .filter_map(|(key, value)| Some((key.clone(), value.clone()?)))
            .collect(),
        labels,
        target: build.target.clone(),
        network: build.network.clone(),
        extra_hosts: build.extra_hosts.clone(),
        shm_size,
        no_cache: flags.no_cache || build.no_cache == Some(true),
        pull: flags.pull || build.pull == Some(true),
        cache_from: build.cache_from.clone(),
    })
}

/// Whether `path` is inside one of the context folders (for `nap watch`): the services whose
/// context holds it.
pub fn services_of_path<'a>(folders: &'a [(String, PathBuf)], path: &Path) -> Vec<&'a str> {
    folders
        .iter()
        .filter(|(_, folder)| path.starts_with(folder))
        .map(|(service, _)| service.as_str())
        .collect()
}
