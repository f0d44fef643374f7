//! Reads one compose file's YAML values into the canonical model types.
//!
//! Every short syntax becomes its long form here (ports, volumes, `environment` lists,
//! `depends_on` lists, string commands), relative paths become absolute against the file's
//! base folder, and every type error names the file, line and key. It reads no files itself
//! and knows nothing of other compose files; merging and `extends` are the loader's.
//!
//! This file holds what every part shares: [`Warning`], the per-file context (source map,
//! base folder, home folder) and path normalization. `read` has the typed readers (string,
//! list, mapping, durations, sizes), `service` one service definition and its small keys,
//! and `build`, `command`, `ports`, `volumes`, `networks`, `deploy` and `healthcheck` one key each
//! (with the top-level `networks:` and `volumes:` definitions in their files).

use std::path::{Component, Path, PathBuf};

use super::LoadError;
use super::source::{Location, SourceMap};

mod build;
mod cli;
mod command;
mod deploy;
mod healthcheck;
mod networks;
mod ports;
mod read;
mod resources;
mod secrets;
mod service;
#[cfg(test)]
mod tests;
mod volumes;

pub use build::{check_reference, is_remote_context};
pub use cli::{parse_cli_ports, parse_cli_volumes};
pub use command::{ShellSplitError, shell_split};
pub(crate) use networks::parse_network;
pub(crate) use read::mapping_entries;
pub(crate) use secrets::{FileKind, parse_file_object};
pub(crate) use service::parse_service;
pub(crate) use volumes::parse_volume;

/// A non-fatal finding, printed as a warning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// Where it was found.
    pub location: Location,
    /// What was found.
    pub message: String,
}

impl std::fmt::Display for Warning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.location, self.message)
    }
}

/// What reading one file needs: its source map, the folder relative paths resolve against,
/// the home folder for `~`, and where warnings go.
pub(crate) struct FileContext<'a> {
    pub map: &'a SourceMap,
    pub base_dir: &'a Path,
    pub home: Option<&'a str>,
    pub warnings: &'a mut Vec<Warning>,
}

impl FileContext<'_> {
    pub(crate) fn invalid(&self, path: &str, message: impl std::fmt::Display) -> LoadError {
        LoadError::Invalid {
            location: self.map.locate(path),
            key: path.to_string(),
            message: message.to_string(),
        }
    }

    fn warn(&mut self, path: &str, message: impl Into<String>) {
        let location = self.map.locate(path);
        self.warnings.push(Warning {
            location,
            message: message.into(),
        });
    }

    /// An absolute, lexically normalized path for a relative or `~` path.
    pub(crate) fn resolve_path(&self, raw: &str) -> String {
        let expanded = match (raw.strip_prefix('~'), self.home) {
            (Some(rest), Some(home)) if rest.is_empty() || rest.starts_with('/') => {
                format!("{home}{rest}")
            }
            _ => raw.to_string(),
        };
        let joined = self.base_dir.join(expanded);
        normalize_path(&joined).to_string_lossy().into_owned()
    }
}

/// Removes `.` and resolves `..` without touching the file system.
pub(crate) fn normalize_path(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}
