//! Which inventory file nap reads (`--hosts`, `$NAP_HOSTS`, or `nap-hosts.yml` beside the
//! first compose file) and how it was found, which decides whether its plugins may load.

use std::path::{Path, PathBuf};

use crate::compose::FileSystem;

/// The file name looked for beside the first compose file.
pub const DEFAULT_INVENTORY_NAME: &str = "nap-hosts.yml";

/// How the inventory was chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum InventoryOrigin {
    /// No file: the implicit local host.
    #[default]
    Local,
    /// Named by the user with `--hosts`.
    Flag,
    /// Named by the user with `$NAP_HOSTS`.
    Environment,
    /// Found by nap beside the first compose file; it came with the project (perhaps a
    /// cloned repository), so nap does not run code it lists without consent.
    Discovered,
}

impl InventoryOrigin {
    /// Whether the user named the file (`--hosts`, `$NAP_HOSTS`).
    pub fn named_by_user(self) -> bool {
        matches!(self, InventoryOrigin::Flag | InventoryOrigin::Environment)
    }
}

/// An inventory file and how it was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocatedInventory {
    /// The file.
    pub path: PathBuf,
    /// How it was found.
    pub origin: InventoryOrigin,
}

/// Finds the inventory: `--hosts`, else `$NAP_HOSTS`, else `nap-hosts.yml` beside the first
/// compose file. `None` means the implicit local host.
pub fn locate_inventory(
    explicit: Option<&Path>,
    env_value: Option<&str>,
    compose_dir: &Path,
    fs: &dyn FileSystem,
) -> Option<LocatedInventory> {
    let located = |path: PathBuf, origin| Some(LocatedInventory { path, origin });
    if let Some(path) = explicit {
        return located(path.to_path_buf(), InventoryOrigin::Flag);
    }
    if let Some(path) = env_value.filter(|value| !value.is_empty()) {
        return located(PathBuf::from(path), InventoryOrigin::Environment);
    }
    let beside = compose_dir.join(DEFAULT_INVENTORY_NAME);
    if fs.is_file(&beside) {
        return located(beside, InventoryOrigin::Discovered);
    }
    None
}
