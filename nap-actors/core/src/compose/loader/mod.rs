//! Loads a compose project the way `docker compose` does.
//!
//! Finds the files (`-f`, `COMPOSE_FILE`, or discovery of `compose.yaml` & co. with their
//! override file), reads `.env` / `--env-file`, and for each file: parses YAML, applies merge
//! keys `<<`, interpolates every string, reads services into the canonical model. Then it
//! resolves `extends`, merges the files in order, applies profiles, folds `env_file`s into
//! `environment`, names networks and volumes, and validates references and dependency
//! cycles. All file access goes through [`FileSystem`], so the loader runs on in-memory files
//! in tests; it never touches a daemon.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use serde_yaml::Value;

use super::LoadError;
use super::dotenv;
use super::interpolate::interpolate;
use super::merge::{merge_network, merge_service, merge_volume};
use super::model::*;
use super::parse::{
    FileContext, Warning, mapping_entries, normalize_path, parse_network, parse_service,
    parse_volume,
};
use super::source::{Location, MAX_NESTING, SourceMap};
use crate::graph::DependencyGraph;

/// The files compose looks for, in order.
pub const DEFAULT_FILE_NAMES: [&str; 4] = [
    "compose.yaml",
    "compose.yml",
    "docker-compose.yaml",
    "docker-compose.yml",
];

/// Reads files for the loader; [`RealFileSystem`] reads the disk.
pub trait FileSystem {
    /// The content of a text file.
    fn read_to_string(&self, path: &Path) -> std::io::Result<String>;
    /// Whether a file exists.
    fn is_file(&self, path: &Path) -> bool;
}

/// The machine's file system.
#[derive(Debug, Clone, Copy, Default)]
pub struct RealFileSystem;

impl FileSystem for RealFileSystem {
    fn read_to_string(&self, path: &Path) -> std::io::Result<String> {
        std::fs::read_to_string(path)
    }
    fn is_file(&self, path: &Path) -> bool {
        path.is_file()
    }
}

/// In-memory files, for tests and fuzzing.
#[derive(Debug, Clone, Default)]
pub struct MemoryFileSystem {
    /// Files by absolute path.
    pub files: BTreeMap<PathBuf, String>,
}

impl MemoryFileSystem {
    /// Adds a file.
    pub fn with(mut self, path: impl Into<PathBuf>, content: impl Into<String>) -> Self {
        self.files.insert(path.into(), content.into());
        self
    }
}

impl FileSystem for MemoryFileSystem {
    fn read_to_string(&self, path: &Path) -> std::io::Result<String> {
        self.files
            .get(path)
            .cloned()
            .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"))
    }
    fn is_file(&self, path: &Path) -> bool {
        self.files.contains_key(path)
    }
}

/// What the command line and the process environment say about loading.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// `-f` files, in order; empty means `COMPOSE_FILE` or discovery.
    pub files: Vec<PathBuf>,
    /// Where discovery starts and relative `-f` paths resolve (the current directory).
    pub working_dir: PathBuf,
    /// `--project-directory`; default: the first compose file's folder.
    pub project_directory: Option<PathBuf>,
    /// `-p`.
    pub project_name: Option<String>,
    /// `--env-file`s; empty means `<project directory>/.env` when it exists.
    pub env_files: Vec<PathBuf>,
    /// `--profile`s; empty means `COMPOSE_PROFILES`.
    pub profiles: Vec<String>,
    /// The process environment (passed in so that loading is a function of its inputs).
    pub environment: BTreeMap<String, String>,
}

/// A loaded project and the warnings found on the way.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The project.
    pub project: Project,
    /// Non-fatal findings (unknown keys, unset variables).
    pub warnings: Vec<Warning>,
}

/// One compose file after parsing, interpolation and reading into the model.
struct ParsedFile {
    path: PathBuf,
    map: SourceMap,
    name: Option<String>,
    services: BTreeMap<String, Service>,
    networks: Vec<(String, Network, bool)>,
    volumes: Vec<(String, Volume, bool)>,
    extensions: BTreeMap<String, serde_json::Value>,
}

/// Normalizes a project name as compose does: lowercase, only `[a-z0-9_-]`, starting with a
/// letter or digit.
pub fn normalize_project_name(name: &str) -> String {
    let lowered: String = name
        .to_lowercase()
        .chars()
        .filter(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_' || *c == '-')
        .collect();
    lowered
        .trim_start_matches(|c: char| !c.is_ascii_alphanumeric())
        .to_string()
}

struct Loader<'a> {
    fs: &'a dyn FileSystem,
    environment: BTreeMap<String, String>,
    project_dir: PathBuf,
    home: Option<String>,
    warnings: Vec<Warning>,
    sources: Vec<PathBuf>,
    /// Files loaded for `extends`, by path.
    extends_files: HashMap<PathBuf, ParsedFile>,
    /// Variables already warned about, so each warning is printed once.
    warned_variables: BTreeSet<String>,
}

/// Loads a project from the real file system.
pub fn load(options: &LoadOptions) -> Result<Loaded, LoadError> {
    load_with(options, &RealFileSystem)
}

fn absolute(base: &Path, path: &Path) -> PathBuf {
    normalize_path(&base.join(path))
}

/// Finds the compose files: `-f`, else `COMPOSE_FILE`, else the first folder from the working
/// directory up that has one of [`DEFAULT_FILE_NAMES`], with its `.override` file.
fn compose_files(options: &LoadOptions, fs: &dyn FileSystem) -> Result<Vec<PathBuf>, LoadError> {
    if !options.files.is_empty() {
        return Ok(options
            .files
            .iter()
            .map(|file| absolute(&options.working_dir, file))
            .collect());
    }
    if let Some(list) = options
        .environment
        .get("COMPOSE_FILE")
        .filter(|v| !v.is_empty())
    {
        let separator = options
            .environment
            .get("COMPOSE_PATH_SEPARATOR")
            .and_then(|s| s.chars().next())
            .unwrap_or(':');
        return Ok(list
            .split(separator)
            .filter(|file| !file.is_empty())
            .map(|file| absolute(&options.working_dir, Path::new(file)))
            .collect());
    }
    let mut dir = Some(options.working_dir.as_path());
    while let Some(current) = dir {
        for name in DEFAULT_FILE_NAMES {
            let candidate = current.join(name);
            if fs.is_file(&candidate) {
                let mut files = vec![candidate];
                let (stem, extension) = name.rsplit_once('.').unwrap_or((name, "yaml"));
                let override_file = current.join(format!("{stem}.override.{extension}"));
                if fs.is_file(&override_file) {
                    files.push(override_file);
                }
                return Ok(files);
            }
        }
        dir = current.parent();
    }
    Err(LoadError::NoComposeFile {
        dir: options.working_dir.clone(),
    })
}

/// Loads a project through `fs`.
pub fn load_with(options: &LoadOptions, fs: &dyn FileSystem) -> Result<Loaded, LoadError> {
    let files = compose_files(options, fs)?;
    let project_dir = options
        .project_directory
        .as_ref()
        .map(|dir| absolute(&options.working_dir, dir))
        .or_else(|| files[0].parent().map(Path::to_path_buf))
        .unwrap_or_else(|| options.working_dir.clone());
    let mut loader = Loader {
        fs,
        environment: options.environment.clone(),
        project_dir: project_dir.clone(),
        home: options.environment.get("HOME").cloned(),
        warnings: Vec::new(),
        sources: Vec::new(),
        extends_files: HashMap::new(),
        warned_variables: BTreeSet::new(),
    };
    loader.read_env_files(options)?;

    let mut parsed = Vec::new();
    for file in &files {
        let base = project_dir.clone();
        parsed.push(loader.parse_file(file, &base)?);
    }

    // Resolve `extends` inside each file, then merge the files in order.
    let mut services: BTreeMap<String, Service> = BTreeMap::new();
    let mut networks: BTreeMap<String, (Network, bool)> = BTreeMap::new();
    let mut volumes: BTreeMap<String, (Volume, bool)> = BTreeMap::new();
    let mut extensions = BTreeMap::new();
    let mut name_from_files = None;
    for file in parsed.iter_mut() {
        let names: Vec<String> = file.services.keys().cloned().collect();
        for service_name in names {
            let resolved = loader.resolve_extends(file, &service_name, &mut Vec::new())?;
            match services.get_mut(&service_name) {
                Some(existing) => merge_service(existing, resolved),
                None => {
                    services.insert(service_name, resolved);
                }
            }
        }
        for (key, network, named) in std::mem::take(&mut file.networks) {
            match networks.get_mut(&key) {
                Some((existing, existing_named)) => {
                    *existing_named |= named;
                    merge_network(existing, network, named)
                }
                None => {
                    networks.insert(key, (network, named));
                }
            }
        }
        for (key, volume, named) in std::mem::take(&mut file.volumes) {
            match volumes.get_mut(&key) {
                Some((existing, existing_named)) => {
                    *existing_named |= named;
                    merge_volume(existing, volume, named)
                }
                None => {
                    volumes.insert(key, (volume, named));
                }
            }
        }
        extensions.extend(std::mem::take(&mut file.extensions));
        if file.name.is_some() {
            name_from_files = file.name.clone();
        }
    }

    let raw_name = options
        .project_name
        .clone()
        .or_else(|| {
            loader
                .environment
                .get("COMPOSE_PROJECT_NAME")
                .cloned()
                .filter(|n| !n.is_empty())
        })
        .or(name_from_files)
        .or_else(|| {
            project_dir
                .file_name()
                .map(|name| name.to_string_lossy().into_owned())
        })
        .unwrap_or_default();
    let name = normalize_project_name(&raw_name);
    if name.is_empty() {
        return Err(LoadError::Project {
            message: format!(
                "project name {raw_name:?} is empty once normalized to [a-z0-9_-]: set one with -p or name:"
            ),
        });
    }

    let profiles: BTreeSet<String> = if options.profiles.is_empty() {
        loader
            .environment
            .get("COMPOSE_PROFILES")
            .map(|list| {
                list.split(',')
                    .map(str::trim)
                    .filter(|p| !p.is_empty())
                    .map(String::from)
                    .collect()
            })
            .unwrap_or_default()
    } else {
        options.profiles.iter().cloned().collect()
    };

    let project = loader.finish(
        name, services, networks, volumes, extensions, &profiles, &parsed,
    )?;
    Ok(Loaded {
        project,
        warnings: loader.warnings,
    })
}

impl Loader<'_> {
    fn lookup(&self, name: &str) -> Option<String> {
        self.environment.get(name).cloned()
    }

    /// Reads `.env` (or the `--env-file`s) under the process environment: a variable set in
    /// the environment wins over the file, as in compose.
    fn read_env_files(&mut self, options: &LoadOptions) -> Result<(), LoadError> {
        let files: Vec<PathBuf> = if options.env_files.is_empty() {
            let default = self.project_dir.join(".env");
            if self.fs.is_file(&default) {
                vec![default]
            } else {
                Vec::new()
            }
        } else {
            options
                .env_files
                .iter()
                .map(|file| absolute(&options.working_dir, file))
                .collect()
        };
        for file in files {
            let text = self
                .fs
                .read_to_string(&file)
                .map_err(|error| LoadError::Read {
                    path: file.clone(),
                    error,
                })?;
            let process_env = options.environment.clone();
            let lookup = |name: &str| process_env.get(name).cloned();
            let variables = dotenv::parse(&text, &lookup).map_err(|error| LoadError::Invalid {
                location: Location {
                    file: file.clone(),
                    line: Some(error.line),
                },
                key: "env".to_string(),
                message: error.message,
            })?;
            for (key, value) in variables {
                self.environment.entry(key).or_insert(value);
            }
            self.sources.push(file);
        }
        Ok(())
    }

    /// Interpolates every string scalar under `value`, warning about unset variables.
    fn interpolate_value(
        &mut self,
        map: &SourceMap,
        path: &str,
        value: &mut Value,
    ) -> Result<(), LoadError> {
        match value {
            Value::String(text) if text.contains('$') => {
                let unset = RefCell::new(Vec::new());
                let environment = &self.environment;
                let lookup = |name: &str| {
                    let found = environment.get(name).cloned();
                    if found.is_none() {
                        unset.borrow_mut().push(name.to_string());
                    }
                    found
                };
                let interpolated =
                    interpolate(text, &lookup).map_err(|error| LoadError::Invalid {
                        location: map.locate(path),
                        key: path.to_string(),
                        message: error.to_string(),
                    })?;
                // Only names the evaluation looked up and found unset; warn for the plain
                // `$V`/`${V}` forms, not for `${V:-default}` and the like.
                for name in unset.into_inner() {
                    let plain = text.contains(&format!("${{{name}}}"))
                        || plain_dollar_reference(text, &name);
                    if plain && self.warned_variables.insert(name.clone()) {
                        self.warnings.push(Warning {
                            location: map.locate(path),
                            message: format!(
                                "the {name:?} variable is not set, defaulting to a blank string"
                            ),
                        });
                    }
                }
                *text = interpolated;
            }
            Value::Mapping(mapping) => {
                for (key, child) in mapping.iter_mut() {
                    let key_text = match key {
                        Value::String(text) => text.clone(),
                        other => serde_yaml::to_string(other)
                            .unwrap_or_default()
                            .trim()
                            .to_string(),
                    };
                    let child_path = if path.is_empty() {
                        key_text
                    } else {
                        format!("{path}.{key_text}")
                    };
                    self.interpolate_value(map, &child_path, child)?;
                }
            }
            Value::Sequence(items) => {
                for (index, child) in items.iter_mut().enumerate() {
                    self.interpolate_value(map, &format!("{path}[{index}]"), child)?;
                }
            }
            Value::Tagged(tagged) => self.interpolate_value(map, path, &mut tagged.value)?,
            _ => {}
        }
        Ok(())
    }

    /// Reads one compose file; relative paths in it resolve against `base_dir`.
    fn parse_file(&mut self, path: &Path, base_dir: &Path) -> Result<ParsedFile, LoadError> {
        let text = self
            .fs
            .read_to_string(path)
            .map_err(|error| LoadError::Read {
                path: path.to_path_buf(),
                error,
            })?;
        if !self.sources.iter().any(|source| source == path) {
            self.sources.push(path.to_path_buf());
        }
        let map = SourceMap::build(path, &text);
        if let Some(line) = map.too_deep() {
            return Err(LoadError::Yaml {
                location: Location {
                    file: path.to_path_buf(),
                    line: Some(line),
                },
                message: format!("lists and mappings nested more than {MAX_NESTING} deep"),
            });
        }
        let mut value: Value = serde_yaml::from_str(&text).map_err(|error| LoadError::Yaml {
            location: Location::of_yaml_error(path, &text, &error),
            message: error.to_string(),
        })?;
        if value.is_null() {
            value = Value::Mapping(Default::default());
        }
        value.apply_merge().map_err(|error| LoadError::Yaml {
            location: Location {
                file: path.to_path_buf(),
                line: None,
            },
            message: format!("merge key <<: {error}"),
        })?;
        if !value.is_mapping() {
            return Err(LoadError::Invalid {
                location: map.locate(""),
                key: "(top level)".to_string(),
                message: "a compose file must be a mapping".to_string(),
            });
        }
        self.interpolate_value(&map, "", &mut value)?;

        let mut parsed = ParsedFile {
            path: path.to_path_buf(),
            map: map.clone(),
            name: None,
            services: BTreeMap::new(),
            networks: Vec::new(),
            volumes: Vec::new(),
            extensions: BTreeMap::new(),
        };
        let home = self.home.clone();
        let mut ctx = FileContext {
            map: &map,
            base_dir,
            home: home.as_deref(),
            warnings: &mut self.warnings,
        };
        for (key, entry) in mapping_entries(&ctx, "", &value)? {
            match key.as_str() {
                "name" => {
                    parsed.name = match entry {
                        Value::String(name) => Some(name.clone()),
                        Value::Null => None,
                        _ => {
                            return Err(LoadError::Invalid {
                                location: map.locate("name"),
                                key: "name".into(),
                                message: "must be a string".into(),
                            });
                        }
                    }
                }
                "version" => ctx.warnings.push(Warning {
                    location: map.locate("version"),
                    message: "the top-level `version` is obsolete and ignored".to_string(),
                }),
                "services" => {
                    for (service_name, service) in mapping_entries(&ctx, "services", entry)? {
                        super::names::check_service_name(&service_name).map_err(|message| {
                            LoadError::Invalid {
                                location: map.locate(&format!("services.{service_name}")),
                                key: format!("services.{}", service_name.escape_debug()),
                                message: message.to_string(),
                            }
                        })?;
                        let service = parse_service(&mut ctx, &service_name, service)?;
                        parsed.services.insert(service_name, service);
                    }
                }
                "networks" => {
                    for (network_key, network) in mapping_entries(&ctx, "networks", entry)? {
                        let (network, named) = parse_network(&mut ctx, &network_key, network)?;
                        parsed.networks.push((network_key, network, named));
                    }
                }
                "volumes" => {
                    for (volume_key, volume) in mapping_entries(&ctx, "volumes", entry)? {
                        let (volume, named) = parse_volume(&mut ctx, &volume_key, volume)?;
                        parsed.volumes.push((volume_key, volume, named));
                    }
                }
                "secrets" | "configs" | "include" | "models" => ctx.warnings.push(Warning {
                    location: map.locate(&key),
                    message: format!(
                        "top-level {key:?} is not supported by nap yet and is ignored"
                    ),
                }),
                extension if extension.starts_with("x-") => {
                    parsed
                        .extensions
                        .insert(key.clone(), serde_json::to_value(entry).unwrap_or_default());
                }
                other => ctx.warnings.push(Warning {
                    location: map.locate(other),
                    message: format!("unknown top-level key {other:?} is ignored"),
                }),
            }
        }
        Ok(parsed)
    }

    /// The service `name` of `file` with its `extends` chain applied.
    fn resolve_extends(
        &mut self,
        file: &ParsedFile,
        name: &str,
        chain: &mut Vec<(PathBuf, String)>,
    ) -> Result<Service, LoadError> {
        let key = (file.path.clone(), name.to_string());
        if chain.contains(&key) {
            let mut names: Vec<String> = chain.iter().map(|(_, service)| service.clone()).collect();
            names.push(name.to_string());
            return Err(LoadError::Invalid {
                location: file.map.locate(&format!("services.{name}.extends")),
                key: format!("services.{name}.extends"),
                message: format!("circular extends: {}", names.join(" -> ")),
            });
        }
        let Some(service) = file.services.get(name) else {
            let location = match chain.last() {
                Some((path, referrer)) if *path == file.path => {
                    file.map.locate(&format!("services.{referrer}.extends"))
                }
                _ => file.map.locate("services"),
            };
            // Fix: the key named only `extends`, not which service's extends is at fault.
            let key = match chain.last() {
                Some((_, referrer)) => format!("services.{referrer}.extends"),
                None => "extends".to_string(),
            };
            return Err(LoadError::Invalid {
                location,
                key,
                message: format!(
                    "cannot extend service {name:?}: no such service in {}",
                    file.path.display()
                ),
            });
        };
        let mut service = service.clone();
        let Some(extends) = service.extends.take() else {
            return Ok(service);
        };
        chain.push(key);
        let mut base = match &extends.file {
            Some(other) if other != &file.path => {
                if !self.extends_files.contains_key(other) {
                    if !self.fs.is_file(other) {
                        return Err(LoadError::Invalid {
                            location: file.map.locate(&format!("services.{name}.extends.file")),
                            key: format!("services.{name}.extends.file"),
                            message: format!("extends file {} does not exist", other.display()),
                        });
                    }
                    // Relative paths in an extended file resolve against its own folder.
                    let base_dir = other.parent().map(Path::to_path_buf).unwrap_or_default();
                    let parsed = self.parse_file(other, &base_dir)?;
                    self.extends_files.insert(other.clone(), parsed);
                }
                let other_file =
                    self.extends_files
                        .remove(other)
                        .ok_or_else(|| LoadError::Project {
                            message: format!("extends file {} vanished", other.display()),
                        })?;
                let result = self.resolve_extends(&other_file, &extends.service, chain);
                self.extends_files.insert(other.clone(), other_file);
                result?
            }
            _ => self.resolve_extends(file, &extends.service, chain)?,
        };
        chain.pop();
        merge_service(&mut base, service);
        Ok(base)
    }

    /// Applies profiles, folds env files, names networks and volumes, and validates.
    #[allow(clippy::too_many_arguments)]
    fn finish(
        &mut self,
        name: String,
        mut services: BTreeMap<String, Service>,
        networks: BTreeMap<String, (Network, bool)>,
        volumes: BTreeMap<String, (Volume, bool)>,
        extensions: BTreeMap<String, serde_json::Value>,
        profiles: &BTreeSet<String>,
        files: &[ParsedFile],
    ) -> Result<Project, LoadError> {
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
            if !named {
                network.name = if network.external {
                    key.clone()
                } else {
                    format!("{name}_{key}")
                };
            }
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
            if !named {
                volume.name = if volume.external {
                    key.clone()
                } else {
                    format!("{name}_{key}")
                };
            }
            project_volumes.insert(key, volume);
        }
        for (service_name, service) in &services {
            for network in service.networks.keys() {
                if !project_networks.contains_key(network) {
                    return Err(invalid(
                        &format!("services.{service_name}.networks.{network}"),
                        format!("service {service_name:?} refers to undefined network {network:?}"),
                    ));
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

fn plain_dollar_reference(text: &str, name: &str) -> bool {
    let needle = format!("${name}");
    text.match_indices(&needle).any(|(index, _)| {
        let after = text[index + needle.len()..].chars().next();
        !matches!(after, Some(c) if c.is_ascii_alphanumeric() || c == '_')
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_args_without_a_value_come_from_the_environment() {
        let fs = MemoryFileSystem::default()
            .with(
                "/p/compose.yaml",
                "services:\n  app:\n    build:\n      context: .\n      args:\n        - FIXED=1\n        - PROXY_URL\n        - UNSET_ARG\n",
            )
            .with("/p/.env", "FROM_DOTENV=yes\n");
        let mut options = LoadOptions {
            working_dir: PathBuf::from("/p"),
            environment: [("PROXY_URL".to_string(), "http://proxy:3128".to_string())].into(),
            ..LoadOptions::default()
        };
        let loaded = load_with(&options, &fs).unwrap();
        let args = &loaded.project.services["app"].build.as_ref().unwrap().args;
        assert_eq!(
            args,
            &BTreeMap::from([
                ("FIXED".to_string(), Some("1".to_string())),
                (
                    "PROXY_URL".to_string(),
                    Some("http://proxy:3128".to_string())
                ),
            ])
        );
        // `.env` counts as the environment too.
        options.environment.clear();
        let fs = fs.with(
            "/p/compose.yaml",
            "services:\n  app:\n    build:\n      context: .\n      args: [FROM_DOTENV]\n",
        );
        let loaded = load_with(&options, &fs).unwrap();
        let args = &loaded.project.services["app"].build.as_ref().unwrap().args;
        assert_eq!(args["FROM_DOTENV"].as_deref(), Some("yes"));
    }
}
