//! The inventory's `plugins:` list: `.so` paths, or mappings with `path`, `config` and
//! `optional`.

use std::path::PathBuf;

use serde::Serialize;
use serde_yaml::Value;

use super::parse::Reader;
use super::*;

/// A plugin the inventory loads: `- path.so` or `- {path: path.so, config: {...}, optional: true}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PluginEntry {
    /// The `.so` file (relative paths resolve against the inventory's folder).
    pub path: PathBuf,
    /// Settings handed to the plugin with every call.
    pub config: serde_json::Value,
    /// A failing `schedule` hook falls back to nap's own choice.
    pub optional: bool,
}

impl Reader<'_> {
    /// Reads `plugins:`, resolving relative paths with `resolve`.
    pub(super) fn plugins(
        &self,
        entry: &Value,
        resolve: &dyn Fn(&str) -> PathBuf,
    ) -> Result<Vec<PluginEntry>, InventoryError> {
        let mut plugins = Vec::new();
        let Value::Sequence(items) = entry else {
            return Err(self.invalid("plugins", "must be a list of .so paths"));
        };
        for (index, item) in items.iter().enumerate() {
            let field = format!("plugins[{index}]");
            let entry = match item {
                Value::Mapping(map) => {
                    let mut path = None;
                    let mut config = serde_json::Value::Null;
                    let mut optional = false;
                    for (key, value) in map {
                        match key.as_str().unwrap_or_default() {
                            "path" => {
                                path =
                                    Some(resolve(&self.string(&format!("{field}.path"), value)?));
                            }
                            "config" => {
                                config = serde_json::to_value(value).map_err(|error| {
                                    self.invalid(&format!("{field}.config"), error.to_string())
                                })?;
                            }
                            "optional" => {
                                optional = value.as_bool().ok_or_else(|| {
                                    self.invalid(
                                        &format!("{field}.optional"),
                                        "must be true or false",
                                    )
                                })?;
                            }
                            other => {
                                return Err(self.invalid(
                                    &field,
                                    format!("unknown plugin field {other:?} (expected path, config or optional)"),
                                ));
                            }
                        }
                    }
                    let Some(path) = path else {
                        return Err(self.invalid(&field, "a plugin needs a path"));
                    };
                    PluginEntry {
                        path,
                        config,
                        optional,
                    }
                }
                other => PluginEntry {
                    path: resolve(&self.string(&field, other)?),
                    config: serde_json::Value::Null,
                    optional: false,
                },
            };
            plugins.push(entry);
        }
        Ok(plugins)
    }
}
