//! Reads one compose file's YAML values into the canonical model types (see `service`).

mod service;

pub(crate) use service::{
    FileContext, mapping_entries, normalize_path, parse_network, parse_service, parse_volume,
};
pub use service::{ShellSplitError, Warning, shell_split};
