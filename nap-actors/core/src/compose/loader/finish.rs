//! The project from the merged files: profiles, `env_file`s folded into `environment`,
//! network and volume names, and the checks of references and dependency cycles.

use std::collections::{BTreeMap, BTreeSet};

use crate::compose::LoadError;
use crate::compose::Warning;
use crate::compose::dotenv;
use crate::compose::source::Location;
use crate::graph::DependencyGraph;

use super::*;

/// The merged top-level definitions besides services, each with whether its name was set.
pub(super) struct Resources {
    pub networks: BTreeMap<String, (Network, bool)>,
    pub volumes: BTreeMap<String, (Volume, bool)>,
    pub secrets: BTreeMap<String, (FileObject, bool)>,
    pub configs: BTreeMap<String, (FileObject, bool)>,
    pub extensions: BTreeMap<String, serde_json::Value>,
}

/// A resource's name on the daemons: `<project>_<key>` unless set, the key when external.
fn resource_name(project: &str, key: &str, name: &mut String, named: bool, external: bool) {
    if !named {
        *name = if external {
            key.to_string()
        } else {
            format!("{project}_{key}")
        };
    }
}

impl Loader<'_> {
    /// Applies profiles, folds env files, names networks and volumes, and validates.
    pub(super) fn finish(
        &mut self,
        name: String,
        mut services: BTreeMap<String, Service>,
        resources: Resources,
        profiles: &BTreeSet<String>,
        files: &[ParsedFile],
    ) -> Result<Project, LoadError> {
        let Resources {
            networks,
            volumes,
            secrets,
            configs,
            extensions,
        } = resources;
        let locate = |path: &str| -> Location {
            files
                .iter()
                .rev()
                .map(|file| file.map.locate(path))
                .find(|location| location.line.is_some())
                .unwrap_or_else(|| files[0].map.locate(path))
        };
        let invalid = |path: &str, message: String| LoadError::Invalid {
            location: locate(path),
            key: path.to_string(),
            message,
        };

        let all_profiles = profiles.contains("*");
        let disabled: Vec<String> = services
            .iter()
            .filter(|(_, service)| {
                !service.profiles.is_empty()
                    && !all_profiles
                    && !service.profiles.iter().any(|p| profiles.contains(p))
            })
            .map(|(name, _)| name.clone())
            .collect();
        let defined: BTreeSet<String> = services.keys().cloned().collect();
        if defined.is_empty() {
            // A project of nothing is a mistake (an include that was not read, a wrong
            // file), never a deployment that succeeds by doing nothing.
            let names: Vec<String> = files
                .iter()
                .map(|file| file.path.display().to_string())
                .collect();
            return Err(invalid(
                "services",
                format!("no service is defined in {}", names.join(", ")),
            ));
        }
        for service_name in &disabled {
            services.remove(service_name);
        }

        for (service_name, service) in services.iter_mut() {
            let base = format!("services.{service_name}");
            // depends_on: unknown services are errors; disabled ones too unless not required.
            let mut kept = BTreeMap::new();
            for (dependency, depends_on) in std::mem::take(&mut service.depends_on) {
                let path = format!("{base}.depends_on.{dependency}");
                if !defined.contains(&dependency) {
                    if depends_on.required {
                        return Err(invalid(
                            &path,
                            format!(
                                "service {service_name:?} depends on undefined service {dependency:?}"
                            ),
                        ));
                    }
                    continue;
                }
                if disabled.contains(&dependency) {
                    if depends_on.required {
                        return Err(invalid(
                            &path,
                            format!(
                                "service {service_name:?} depends on {dependency:?}, which is disabled by its profiles (enable one with --profile, or set required: false)"
                            ),
                        ));
                    }
                    continue;
                }
                kept.insert(dependency, depends_on);
            }
            service.depends_on = kept;
            for (index, link) in service.links.iter().enumerate() {
                let target = link.split(':').next().unwrap_or(link);
                if !defined.contains(target) || disabled.iter().any(|d| d == target) {
                    return Err(invalid(
                        &format!("{base}.links[{index}]"),
                        format!(
                            "service {service_name:?} links to undefined or disabled service {target:?}"
                        ),
                    ));
                }
            }
            for (key, mode) in [
                ("network_mode", &service.network_mode),
                ("ipc", &service.ipc),
                ("pid", &service.pid),
            ] {
                if let Some(target) = mode.as_deref().and_then(|m| m.strip_prefix("service:"))
                    && (!defined.contains(target) || disabled.iter().any(|d| d == target))
                {
                    return Err(invalid(
                        &format!("{base}.{key}"),
                        format!(
                            "service {service_name:?} refers to undefined or disabled service {target:?}"
                        ),
                    ));
                }
            }
            for (index, entry) in service.volumes_from.iter().enumerate() {
                if entry.starts_with("container:") {
                    continue;
                }
                let target = entry.split(':').next().unwrap_or(entry);
                if !defined.contains(target) || disabled.iter().any(|d| d == target) {
                    return Err(invalid(
                        &format!("{base}.volumes_from[{index}]"),
                        format!(
                            "service {service_name:?} takes volumes from undefined or disabled service {target:?}"
                        ),
                    ));
                }
            }

            if service.image.is_none() && service.build.is_none() {
                return Err(invalid(
                    &base,
                    format!(
                        "service {service_name:?} has neither an image nor a build context specified"
                    ),
                ));
            }
            if let (Some(scale), Some(replicas)) = (
                service.scale,
                service.deploy.as_ref().and_then(|d| d.replicas),
            ) && scale != replicas
            {
                return Err(invalid(
                    &format!("{base}.scale"),
                    format!(
                        "service {service_name:?}: scale ({scale}) and deploy.replicas ({replicas}) differ"
                    ),
                ));
            }
            if service.container_name.is_some() && service.replicas() > 1 {
                return Err(invalid(
                    &format!("{base}.container_name"),
                    format!(
                        "service {service_name:?} has container_name set and {} replicas: a fixed name allows one container",
                        service.replicas()
                    ),
                ));
            }

            // label_file under labels, in order, `labels` over them.
            let mut labels = BTreeMap::new();
            for label_file in &service.label_file {
                let variables = super::file::read_env_file(self.fs, label_file, &self.environment)
                    .map_err(|error| match error {
                        LoadError::Read { path, error } => invalid(
                            &format!("{base}.label_file"),
                            format!(
                                "service {service_name:?}: label_file {}: {error}",
                                path.display()
                            ),
                        ),
                        other => other,
                    })?;
                labels.extend(variables);
                if !self.sources.contains(label_file) {
                    self.sources.push(label_file.clone());
                }
            }
            labels.extend(std::mem::take(&mut service.labels));
            service.labels = labels;

            // env_file under environment; `KEY` alone takes the value from the environment.
            let mut environment = BTreeMap::new();
            for env_file in &service.env_file {
                let text = match self.fs.read_to_string(&env_file.path) {
                    Ok(text) => text,
                    Err(_) if !env_file.required => continue,
                    Err(error) => {
                        return Err(LoadError::EnvFile {
                            location: locate(&format!("{base}.env_file")),
                            service: service_name.clone(),
                            path: env_file.path.clone(),
                            error,
                        });
                    }
                };
                let lookup = |key: &str| self.environment.get(key).cloned();
                let variables =
                    dotenv::parse(&text, &lookup).map_err(|error| LoadError::Invalid {
                        location: Location {
                            file: env_file.path.clone(),
                            line: Some(error.line),
                        },
                        key: format!("{base}.env_file"),
                        message: error.message,
                    })?;
                for (key, value) in variables {
                    environment.insert(key, Some(value));
                }
                if !self.sources.contains(&env_file.path) {
                    self.sources.push(env_file.path.clone());
                }
            }
            for (key, value) in std::mem::take(&mut service.environment) {
                let value = value.or_else(|| self.lookup(&key));
                environment.insert(key, value);
            }
            service.environment = environment;
            // A build arg without a value takes it from the environment; one unset there is
            // left out (the spec's rule; unlike `environment`, where it stays, unset).
            if let Some(build) = &mut service.build {
                build.args = std::mem::take(&mut build.args)
                    .into_iter()
                    .filter_map(|(key, value)| match value {
                        Some(value) => Some((key, Some(value))),
                        None => self.lookup(&key).map(|value| (key, Some(value))),
                    })
                    .collect();
            }

            if service.networks.is_empty() && service.network_mode.is_none() {
                service.networks.insert("default".to_string(), None);
            }
        }

        // Networks: the default one exists when used; names get the project prefix.
        let mut project_networks: BTreeMap<String, Network> = BTreeMap::new();
        for (key, (mut network, named)) in networks {
            resource_name(&name, &key, &mut network.name, named, network.external);
            project_networks.insert(key, network);
        }
        let uses_default = services
            .values()
            .any(|service| service.networks.contains_key("default"));
        if uses_default && !project_networks.contains_key("default") {
            project_networks.insert(
                "default".to_string(),
                Network {
                    name: format!("{name}_default"),
                    ..Network::default()
                },
            );
        }
        let mut project_volumes: BTreeMap<String, Volume> = BTreeMap::new();
        for (key, (mut volume, named)) in volumes {
            resource_name(&name, &key, &mut volume.name, named, volume.external);
            project_volumes.insert(key, volume);
        }
        let file_objects = |objects: BTreeMap<String, (FileObject, bool)>| {
            objects
                .into_iter()
                .map(|(key, (mut object, named))| {
                    resource_name(&name, &key, &mut object.name, named, object.external);
                    (key, object)
                })
                .collect::<BTreeMap<_, _>>()
        };
        let project_secrets = file_objects(secrets);
        let project_configs = file_objects(configs);
        for (service_name, service) in &services {
            for network in service.networks.keys() {
                if !project_networks.contains_key(network) {
                    return Err(invalid(
                        &format!("services.{service_name}.networks.{network}"),
                        format!("service {service_name:?} refers to undefined network {network:?}"),
                    ));
                }
            }
            for (kind, references, defined) in [
                ("secret", &service.secrets, &project_secrets),
                ("config", &service.configs, &project_configs),
            ] {
                if !references.is_empty() {
                    // Until delivery onto the hosts exists: said once per service and kind.
                    self.warnings.push(Warning {
                        location: locate(&format!("services.{service_name}.{kind}s")),
                        message: format!(
                            "service {service_name:?}: {kind}s are read but not mounted into its containers by nap yet"
                        ),
                    });
                }
                for (index, reference) in references.iter().enumerate() {
                    if !defined.contains_key(&reference.source) {
                        return Err(invalid(
                            &format!("services.{service_name}.{kind}s[{index}]"),
                            format!(
                                "service {service_name:?} refers to undefined {kind} {:?}: declare it under the top-level {kind}s",
                                reference.source
                            ),
                        ));
                    }
                }
            }
            for (index, mount) in service.volumes.iter().enumerate() {
                if mount.kind == "volume"
                    && let Some(source) = &mount.source
                    && !project_volumes.contains_key(source)
                {
                    return Err(invalid(
                        &format!("services.{service_name}.volumes[{index}]"),
                        format!(
                            "service {service_name:?} refers to undefined volume {source:?}: declare it under the top-level volumes"
                        ),
                    ));
                }
            }
        }

        let project = Project {
            name,
            services,
            networks: project_networks,
            volumes: project_volumes,
            secrets: project_secrets,
            configs: project_configs,
            extensions,
            working_dir: self.project_dir.clone(),
            source_files: self.sources.clone(),
            disabled_services: disabled,
        };
        if let Some(cycle) = DependencyGraph::from_project(&project).find_cycle() {
            let first = cycle.0.first().cloned().unwrap_or_default();
            return Err(LoadError::DependencyCycle {
                location: locate(&format!("services.{first}.depends_on")),
                cycle: cycle.0,
            });
        }
        Ok(project)
    }
}
