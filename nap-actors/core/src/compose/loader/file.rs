//! One compose file: `.env` and `--env-file` variables, interpolation of every string
//! (warning once per unset variable), YAML with merge keys, and reading it into the model.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_yaml::Value;

use crate::compose::LoadError;
use crate::compose::dotenv;
use crate::compose::interpolate::interpolate;
use crate::compose::parse::{
    FileContext, FileKind, Warning, mapping_entries, parse_file_object, parse_network,
    parse_service, parse_volume,
};
use crate::compose::source::{Location, MAX_NESTING, SourceMap};

use super::*;

impl Loader<'_> {
    pub(super) fn lookup(&self, name: &str) -> Option<String> {
        self.environment.get(name).cloned()
    }

    /// Reads `.env` (or the `--env-file`s) under the process environment: a variable set in
    /// the environment wins over the file, as in compose.
    pub(super) fn read_env_files(&mut self, options: &LoadOptions) -> Result<(), LoadError> {
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
            let variables = read_env_file(self.fs, &file, &options.environment)?;
            for (key, value) in variables {
                self.environment.entry(key).or_insert(value);
            }
            self.sources.push(file);
        }
        Ok(())
    }

    /// Interpolates every string scalar under `value`, warning about unset variables.
    pub(super) fn interpolate_value(
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
    pub(super) fn parse_file(
        &mut self,
        path: &Path,
        base_dir: &Path,
    ) -> Result<ParsedFile, LoadError> {
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
        let tags = super::tags::take_tags(&map, &mut value)?;

        let mut parsed = ParsedFile {
            path: path.to_path_buf(),
            map: map.clone(),
            name: None,
            services: BTreeMap::new(),
            networks: Vec::new(),
            volumes: Vec::new(),
            secrets: Vec::new(),
            configs: Vec::new(),
            extensions: BTreeMap::new(),
            includes: Vec::new(),
            tags,
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
                        crate::compose::names::check_service_name(&service_name).map_err(
                            |message| LoadError::Invalid {
                                location: map.locate(&format!("services.{service_name}")),
                                key: format!("services.{}", service_name.escape_debug()),
                                message: message.to_string(),
                            },
                        )?;
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
                "secrets" | "configs" => {
                    let kind = if key == "secrets" {
                        FileKind::Secret
                    } else {
                        FileKind::Config
                    };
                    for (object_key, object) in mapping_entries(&ctx, &key, entry)? {
                        let (object, named) =
                            parse_file_object(&mut ctx, kind, &object_key, object)?;
                        match kind {
                            FileKind::Secret => parsed.secrets.push((object_key, object, named)),
                            FileKind::Config => parsed.configs.push((object_key, object, named)),
                        }
                    }
                }
                "include" => parsed.includes = super::include::parse_includes(&ctx, entry)?,
                "models" => ctx.warnings.push(Warning {
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
}

/// The variables of one `.env`-syntax file, `${V}` in it looked up in `environment`.
pub(super) fn read_env_file(
    fs: &dyn FileSystem,
    file: &Path,
    environment: &BTreeMap<String, String>,
) -> Result<Vec<(String, String)>, LoadError> {
    let text = fs.read_to_string(file).map_err(|error| LoadError::Read {
        path: file.to_path_buf(),
        error,
    })?;
    let lookup = |name: &str| environment.get(name).cloned();
    dotenv::parse(&text, &lookup).map_err(|error| LoadError::Invalid {
        location: Location {
            file: file.to_path_buf(),
            line: Some(error.line),
        },
        key: "env".to_string(),
        message: error.message,
    })
}

fn plain_dollar_reference(text: &str, name: &str) -> bool {
    let needle = format!("${name}");
    text.match_indices(&needle).any(|(index, _)| {
        let after = text[index + needle.len()..].chars().next();
        !matches!(after, Some(c) if c.is_ascii_alphanumeric() || c == '_')
    })
}
