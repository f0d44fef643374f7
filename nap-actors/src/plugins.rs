//! Plugins as nap uses them: loads the `.so` files named by `--plugin` and by the
//! inventory's `plugins:` before anything is deployed (a file that is not a plugin, or one
//! built for another ABI, stops the command with the file named), and calls their
//! `post_start` hook for every container a deployment starts — on a blocking thread, never an
//! actor's, and with a time limit, so a plugin that panics, fails, hangs or answers nonsense
//! costs a warning naming it and nothing else. Plugins are loaded once and never unloaded.
//! (The `schedule` hook is loaded and listed, not called yet.)

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use nap_core::inventory::Inventory;
use nap_plugin_api::host::{LoadError, LoadedPlugin};
use nap_plugin_api::payload::ContainerStarted;
use serde::Serialize;

/// How long a hook may take before nap gives up on it (the call's thread is left to finish).
pub const HOOK_TIMEOUT: Duration = Duration::from_secs(5);

/// One loaded plugin with its settings.
#[derive(Debug)]
pub struct Plugin {
    /// The library.
    pub loaded: LoadedPlugin,
    /// The inventory's `config:` for it (`null` without one).
    pub config: serde_json::Value,
    /// Marked optional by the plugin or the inventory.
    pub optional: bool,
}

/// Every plugin of a command, in load order.
#[derive(Debug, Clone, Default)]
pub struct Plugins {
    /// The plugins.
    pub list: Vec<Arc<Plugin>>,
}

/// What `nap plugins` prints of one plugin.
#[derive(Debug, Clone, Serialize)]
pub struct PluginInfo {
    /// Its name.
    pub name: String,
    /// Its version.
    pub version: String,
    /// The hooks it has.
    pub hooks: Vec<String>,
    /// The file.
    pub path: PathBuf,
    /// Whether a failing schedule hook falls back to nap's choice.
    pub optional: bool,
}

impl Plugins {
    /// Loads `--plugin` files (relative to the working folder), then the inventory's.
    pub fn load(flags: &[PathBuf], inventory: &Inventory) -> Result<Plugins, LoadError> {
        let mut list = Vec::new();
        let from_flags = flags
            .iter()
            .map(|path| (path.clone(), serde_json::Value::Null, false));
        let from_inventory = inventory
            .plugins
            .iter()
            .map(|entry| (entry.path.clone(), entry.config.clone(), entry.optional));
        for (path, config, optional) in from_flags.chain(from_inventory) {
            let loaded = LoadedPlugin::load(&path)?;
            let optional = optional || loaded.optional();
            list.push(Arc::new(Plugin {
                loaded,
                config,
                optional,
            }));
        }
        Ok(Plugins { list })
    }

    /// What is loaded.
    pub fn describe(&self) -> Vec<PluginInfo> {
        self.list
            .iter()
            .map(|plugin| PluginInfo {
                name: plugin.loaded.name().to_string(),
                version: plugin.loaded.version().to_string(),
                hooks: plugin
                    .loaded
                    .hooks()
                    .into_iter()
                    .map(str::to_string)
                    .collect(),
                path: plugin.loaded.path().to_path_buf(),
                optional: plugin.optional,
            })
            .collect()
    }

    /// Calls every plugin's `post_start` with `event`; returns one message per plugin that
    /// failed (naming it), after at most [`HOOK_TIMEOUT`] each.
    pub async fn post_start(&self, event: &ContainerStarted) -> Vec<String> {
        let mut failures = Vec::new();
        for plugin in &self.list {
            if !plugin.loaded.hooks().contains(&"post_start") {
                continue;
            }
            let mut event = event.clone();
            event.config = plugin.config.clone();
            let call = {
                let plugin = plugin.clone();
                tokio::task::spawn_blocking(move || plugin.loaded.post_start(&event))
            };
            let name = plugin.loaded.name().to_string();
            match tokio::time::timeout(HOOK_TIMEOUT, call).await {
                Ok(Ok(Ok(()))) => {}
                Ok(Ok(Err(error))) => failures.push(error.to_string()),
                Ok(Err(join)) => failures.push(format!("plugin {name:?}: post_start: {join}")),
                Err(_) => failures.push(format!(
                    "plugin {name:?}: post_start did not answer within {} s; nap goes on without it",
                    HOOK_TIMEOUT.as_secs()
                )),
            }
        }
        failures
    }
}
