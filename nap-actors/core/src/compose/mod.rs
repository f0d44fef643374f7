//! The compose model and its loader: from `docker-compose.yml` files to a [`Project`].
//!
//! `load` does what `docker compose config` does (file discovery, `.env`, interpolation,
//! merge keys, `extends`, `-f` merging, profiles) and returns the canonical model with the
//! warnings found. Errors name the file, line and key at fault. Nothing here talks to Docker.

pub mod dotenv;
pub mod interpolate;
mod loader;
mod merge;
mod model;
pub mod names;
mod parse;
pub mod source;

use std::path::PathBuf;

pub use loader::{
    DEFAULT_FILE_NAMES, FileSystem, LoadOptions, Loaded, MemoryFileSystem, RealFileSystem, load,
    load_with, normalize_project_name,
};
pub use merge::merge_service;
pub use model::*;
pub(crate) use parse::normalize_path;
pub use parse::{
    ShellSplitError, Warning, check_reference, is_remote_context, parse_cli_ports,
    parse_cli_volumes, shell_split,
};
pub use source::Location;

/// Why a project could not be loaded. Each names the file (and line, when known) at fault.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// A file could not be read.
    #[error("{}: cannot read: {error}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error (in the message, so not a separate `source`).
        error: std::io::Error,
    },
    /// Not valid YAML.
    #[error("{location}: invalid YAML: {message}")]
    Yaml {
        /// Where the parser stopped.
        location: Location,
        /// The parser's message.
        message: String,
    },
    /// A key has a wrong type or value, or refers to something undefined.
    #[error("{location}: {key}: {message}")]
    Invalid {
        /// Where the key is.
        location: Location,
        /// The dotted key path (`services.web.ports[0]`).
        key: String,
        /// What is wrong.
        message: String,
    },
    /// A service's `env_file` could not be read.
    #[error("{location}: service {service:?}: env_file {}: {error}", path.display())]
    EnvFile {
        /// Where the `env_file` key is.
        location: Location,
        /// The service.
        service: String,
        /// The env file.
        path: PathBuf,
        /// The I/O error (in the message, so not a separate `source`).
        error: std::io::Error,
    },
    /// No compose file was found.
    #[error(
        "no compose file found in {} or its parents (looked for compose.yaml, compose.yml, docker-compose.yaml, docker-compose.yml); name one with -f",
        dir.display()
    )]
    NoComposeFile {
        /// Where the search started.
        dir: PathBuf,
    },
    /// Services depend on each other in a circle.
    #[error("{location}: dependency cycle between services: {}", cycle.join(" -> "))]
    DependencyCycle {
        /// Where the first service's `depends_on` is.
        location: Location,
        /// The services, the first repeated at the end.
        cycle: Vec<String>,
    },
    /// A project-wide problem (such as an empty name).
    #[error("{message}")]
    Project {
        /// What is wrong.
        message: String,
    },
}
