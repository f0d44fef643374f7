//! Loads a compose project the way `docker compose` does.
//!
//! Finds the files (`-f`, `COMPOSE_FILE`, or discovery of `compose.yaml` & co. with their
//! override file), reads `.env` / `--env-file`, and for each file: parses YAML, applies merge
//! keys `<<`, interpolates every string, reads services into the canonical model. Then it
//! resolves `extends`, merges the files in order, applies profiles, folds `env_file`s into
//! `environment`, names networks and volumes, and validates references and dependency
//! cycles. All file access goes through [`FileSystem`], so the loader runs on in-memory files
//! in tests; it never touches a daemon.
//!
//! This file holds the options, the entry points and the file discovery; `fs` the file
//! access, `file` the reading of one file, `extends` the `extends` chains and `finish` the
//! project-wide steps after merging.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use super::LoadError;
use super::merge::{merge_file_object, merge_network, merge_service, merge_volume};
use super::model::*;
use super::parse::{Warning, normalize_path};
use super::source::SourceMap;

mod extends;
mod file;
mod finish;
mod fs;
mod include;
mod tags;
#[cfg(test)]
mod tests;

pub use fs::{FileSystem, MemoryFileSystem, RealFileSystem};

/// The files compose looks for, in order.
pub const DEFAULT_FILE_NAMES: [&str; 4] = [
    "compose.yaml",
    "compose.yml",
    "docker-compose.yaml",
    "docker-compose.yml",
];

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
    secrets: Vec<(String, FileObject, bool)>,
    configs: Vec<(String, FileObject, bool)>,
    extensions: BTreeMap<String, serde_json::Value>,
    /// `include:` entries, paths as written.
    includes: Vec<include::Include>,
    /// `!reset` / `!override` tags on its services.
    tags: Vec<tags::ServiceTag>,
}

/// Files merged in order (a project's `-f` files, or one `include:` entry's paths): each
/// resource with whether its name was set (`named`), and the file each service was first
/// defined in.
#[derive(Default)]
struct Merged {
    services: BTreeMap<String, Service>,
    service_files: BTreeMap<String, PathBuf>,
    networks: BTreeMap<String, (Network, bool)>,
    volumes: BTreeMap<String, (Volume, bool)>,
    secrets: BTreeMap<String, (FileObject, bool)>,
    configs: BTreeMap<String, (FileObject, bool)>,
    extensions: BTreeMap<String, serde_json::Value>,
    name: Option<String>,
    /// Every `include:` of the files, with the file that declares it.
    includes: Vec<(usize, include::Include)>,
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
        let separator = path_separator(&options.environment);
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

/// `options` with the variables of the `.env` file that Compose reads before it looks for
/// the compose files (so `COMPOSE_FILE` and `COMPOSE_PATH_SEPARATOR` can be set there):
/// the `--env-file`s, else `.env` in `--project-directory`, else beside the first `-f` or
/// `COMPOSE_FILE` file, else in the working directory. The process environment wins.
fn discovery_options(options: &LoadOptions, fs: &dyn FileSystem) -> Result<LoadOptions, LoadError> {
    let files: Vec<PathBuf> = if options.env_files.is_empty() {
        let from_environment = options
            .environment
            .get("COMPOSE_FILE")
            .filter(|list| !list.is_empty())
            .and_then(|list| {
                let separator = path_separator(&options.environment);
                list.split(separator)
                    .find(|file| !file.is_empty())
                    .map(PathBuf::from)
            });
        let dir = options
            .project_directory
            .clone()
            .or_else(|| {
                options
                    .files
                    .first()
                    .cloned()
                    .or(from_environment)
                    .map(|file| absolute(&options.working_dir, &file))
                    .and_then(|file| file.parent().map(Path::to_path_buf))
            })
            .unwrap_or_else(|| options.working_dir.clone());
        let default = absolute(&options.working_dir, &dir).join(".env");
        if fs.is_file(&default) {
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
    let mut discovery = options.clone();
    for file in files {
        for (key, value) in file::read_env_file(fs, &file, &options.environment)? {
            discovery.environment.entry(key).or_insert(value);
        }
    }
    Ok(discovery)
}

/// `COMPOSE_PATH_SEPARATOR`'s first character, else `:`.
fn path_separator(environment: &BTreeMap<String, String>) -> char {
    environment
        .get("COMPOSE_PATH_SEPARATOR")
        .and_then(|s| s.chars().next())
        .unwrap_or(':')
}

/// Loads a project through `fs`.
pub fn load_with(options: &LoadOptions, fs: &dyn FileSystem) -> Result<Loaded, LoadError> {
    let files = compose_files(&discovery_options(options, fs)?, fs)?;
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
    let mut merged = loader.merge_files(&mut parsed, 0)?;
    loader.apply_includes(&mut merged, &project_dir, &mut Vec::new(), &mut parsed)?;
    let Merged {
        services,
        networks,
        volumes,
        secrets,
        configs,
        extensions,
        name: name_from_files,
        ..
    } = merged;

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

    let resources = finish::Resources {
        networks,
        volumes,
        secrets,
        configs,
        extensions,
    };
    let project = loader.finish(name, services, resources, &profiles, &parsed)?;
    Ok(Loaded {
        project,
        warnings: loader.warnings,
    })
}

impl Loader<'_> {
    /// Resolves `extends` inside each of `parsed[first..]` and merges them in order, with
    /// each file's `!reset` / `!override` tags applied to its services.
    fn merge_files(
        &mut self,
        parsed: &mut [ParsedFile],
        first: usize,
    ) -> Result<Merged, LoadError> {
        let mut merged = Merged::default();
        for (index, file) in parsed.iter_mut().enumerate().skip(first) {
            let names: Vec<String> = file.services.keys().cloned().collect();
            for service_name in names {
                let mut resolved = self.resolve_extends(file, &service_name, &mut Vec::new())?;
                let existing = merged.services.get_mut(&service_name);
                tags::apply_tags(
                    &file.map,
                    &file.tags,
                    &service_name,
                    existing,
                    &mut resolved,
                )?;
                match merged.services.get_mut(&service_name) {
                    Some(existing) => merge_service(existing, resolved),
                    None => {
                        merged
                            .service_files
                            .insert(service_name.clone(), file.path.clone());
                        merged.services.insert(service_name, resolved);
                    }
                }
            }
            for (key, network, named) in std::mem::take(&mut file.networks) {
                merge_named(&mut merged.networks, key, network, named, merge_network);
            }
            for (key, volume, named) in std::mem::take(&mut file.volumes) {
                merge_named(&mut merged.volumes, key, volume, named, merge_volume);
            }
            for (key, secret, named) in std::mem::take(&mut file.secrets) {
                merge_named(&mut merged.secrets, key, secret, named, merge_file_object);
            }
            for (key, config, named) in std::mem::take(&mut file.configs) {
                merge_named(&mut merged.configs, key, config, named, merge_file_object);
            }
            merged
                .extensions
                .extend(std::mem::take(&mut file.extensions));
            if file.name.is_some() {
                merged.name = file.name.clone();
            }
            for entry in std::mem::take(&mut file.includes) {
                merged.includes.push((index, entry));
            }
        }
        Ok(merged)
    }
}

/// Merges one top-level definition into `into` (a later file wins field by field).
fn merge_named<T>(
    into: &mut BTreeMap<String, (T, bool)>,
    key: String,
    value: T,
    named: bool,
    merge: fn(&mut T, T, bool),
) {
    match into.get_mut(&key) {
        Some((existing, existing_named)) => {
            *existing_named |= named;
            merge(existing, value, named);
        }
        None => {
            into.insert(key, (value, named));
        }
    }
}
