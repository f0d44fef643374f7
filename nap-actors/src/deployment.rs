//! Loads what a command works on: the compose project and the host inventory, together.
//!
//! Resolves where the inventory comes from (`--hosts`, `$NAP_HOSTS`, `nap-hosts.yml` beside
//! the first compose file, else the local daemon) and returns both with every warning found.
//! Reads files only; connects to nothing.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use nap_core::compose::{self, LoadOptions, RealFileSystem, Warning};
use nap_core::inventory::{self, Inventory};

/// What the command line says about the files to load.
#[derive(Debug, Clone, Default)]
pub struct DeploymentOptions {
    /// Compose loading options.
    pub compose: LoadOptions,
    /// `--hosts FILE`.
    pub hosts_file: Option<PathBuf>,
}

impl DeploymentOptions {
    /// Options from flags and the process environment.
    pub fn new(
        files: Vec<PathBuf>,
        project_name: Option<String>,
        project_directory: Option<PathBuf>,
        env_files: Vec<PathBuf>,
        profiles: Vec<String>,
        hosts_file: Option<PathBuf>,
    ) -> std::io::Result<DeploymentOptions> {
        let environment: BTreeMap<String, String> = std::env::vars().collect();
        Ok(DeploymentOptions {
            compose: LoadOptions {
                files,
                working_dir: std::env::current_dir()?,
                project_directory,
                project_name,
                env_files,
                profiles,
                environment,
            },
            hosts_file,
        })
    }
}

/// A loaded project and the hosts it deploys to.
#[derive(Debug, Clone)]
pub struct Deployment {
    /// The compose project.
    pub project: compose::Project,
    /// The hosts.
    pub inventory: Inventory,
    /// Warnings from both files.
    pub warnings: Vec<Warning>,
}

/// Why a deployment could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum DeploymentError {
    /// The compose files are invalid.
    #[error(transparent)]
    Compose(#[from] compose::LoadError),
    /// The inventory is invalid.
    #[error(transparent)]
    Inventory(#[from] inventory::InventoryError),
    /// `DOCKER_HOST` is invalid.
    #[error("{0}")]
    DockerHost(String),
}

/// Loads only the inventory for a project whose first compose file is in `compose_dir`.
pub fn load_inventory(
    options: &DeploymentOptions,
    compose_dir: &Path,
    warnings: &mut Vec<Warning>,
) -> Result<Inventory, DeploymentError> {
    let environment = &options.compose.environment;
    let explicit = options
        .hosts_file
        .as_ref()
        .map(|path| options.compose.working_dir.join(path));
    match inventory::locate_inventory(
        explicit.as_deref(),
        environment.get("NAP_HOSTS").map(String::as_str),
        compose_dir,
        &RealFileSystem,
    ) {
        Some(located) => {
            let path = options.compose.working_dir.join(&located.path);
            let (mut inventory, found) = Inventory::read(&path, &RealFileSystem)?;
            inventory.origin = located.origin;
            warnings.extend(found);
            Ok(inventory)
        }
        None => {
            // The local daemon by the Docker CLI's rules (DOCKER_HOST, contexts, TLS).
            let daemon = crate::docker::resolve_local_daemon(&|key| environment.get(key).cloned())
                .map_err(|e| DeploymentError::DockerHost(e.to_string()))?;
            let mut inventory =
                Inventory::local(None).map_err(|e| DeploymentError::DockerHost(e.to_string()))?;
            for message in &daemon.warnings {
                warnings.push(nap_core::compose::Warning {
                    location: nap_core::compose::Location {
                        file: std::path::PathBuf::from(&daemon.source),
                        line: None,
                    },
                    message: message.clone(),
                });
            }
            if let Some(host) = inventory.hosts.first_mut() {
                host.docker = daemon.docker;
                host.tls = daemon.tls;
            }
            Ok(inventory)
        }
    }
}

/// Loads the compose project and its inventory.
pub fn load(options: &DeploymentOptions) -> Result<Deployment, DeploymentError> {
    let loaded = compose::load(&options.compose)?;
    let mut warnings = loaded.warnings;
    let inventory = load_inventory(options, &loaded.project.working_dir, &mut warnings)?;
    Ok(Deployment {
        project: loaded.project,
        inventory,
        warnings,
    })
}
