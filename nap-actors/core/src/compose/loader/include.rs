//! `include:`: other compose applications loaded as models of their own and copied into
//! this one, as the Compose Specification's `include` section says.
//!
//! An entry is a path, or a mapping with `path` (one or a list: the first file and its
//! overrides), `project_directory` and `env_file`. Relative paths resolve against the
//! including project's directory; the included project's own relative paths against its
//! `project_directory` (default: the first path's folder). Its interpolation sees the
//! including environment, then its `env_file`s (default: the `.env` of its project
//! directory) for what is still unset. Includes apply recursively, after the including
//! files are merged; a cycle is an error. A resource defined both here and in an included
//! file is an error naming both (unless the two definitions are the same), as in Compose.

use std::path::{Path, PathBuf};

use serde_yaml::Value;

use crate::compose::LoadError;
use crate::compose::parse::{FileContext, mapping_entries};
use crate::compose::source::Location;

use super::*;

/// One `include:` entry, its paths resolved against the including project's directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Include {
    /// `include[N]`, for messages.
    key: String,
    /// The files, the first one's overrides after it.
    paths: Vec<PathBuf>,
    /// `project_directory`, when set.
    project_directory: Option<PathBuf>,
    /// `env_file`s, when set.
    env_files: Vec<PathBuf>,
}

fn strings(ctx: &FileContext, path: &str, value: &Value) -> Result<Vec<String>, LoadError> {
    let text = |path: &str, value: &Value| match value {
        Value::String(text) if !text.is_empty() => Ok(text.clone()),
        _ => Err(ctx.invalid(path, "must be a non-empty string")),
    };
    match value {
        Value::Sequence(items) => items
            .iter()
            .enumerate()
            .map(|(index, item)| text(&format!("{path}[{index}]"), item))
            .collect(),
        other => Ok(vec![text(path, other)?]),
    }
}

/// Reads a file's `include:` list.
pub(super) fn parse_includes(ctx: &FileContext, value: &Value) -> Result<Vec<Include>, LoadError> {
    let items = match value {
        Value::Sequence(items) => items.as_slice(),
        Value::Null => &[],
        _ => return Err(ctx.invalid("include", "must be a list")),
    };
    let resolve = |raw: &str| PathBuf::from(ctx.resolve_path(raw));
    let mut out = Vec::new();
    for (index, item) in items.iter().enumerate() {
        let key = format!("include[{index}]");
        let mut include = Include {
            key: key.clone(),
            paths: Vec::new(),
            project_directory: None,
            env_files: Vec::new(),
        };
        match item {
            Value::Mapping(_) => {
                for (field, value) in mapping_entries(ctx, &key, item)? {
                    let field_path = format!("{key}.{field}");
                    match field.as_str() {
                        "path" => {
                            include.paths = strings(ctx, &field_path, value)?
                                .iter()
                                .map(|raw| resolve(raw))
                                .collect()
                        }
                        "project_directory" => match value {
                            Value::String(raw) if !raw.is_empty() => {
                                include.project_directory = Some(resolve(raw))
                            }
                            _ => {
                                return Err(ctx.invalid(&field_path, "must be a non-empty string"));
                            }
                        },
                        "env_file" => {
                            include.env_files = strings(ctx, &field_path, value)?
                                .iter()
                                .map(|raw| resolve(raw))
                                .collect()
                        }
                        other => {
                            return Err(ctx.invalid(
                                &field_path,
                                format!(
                                    "unknown key {other:?} (expected path, project_directory or env_file)"
                                ),
                            ));
                        }
                    }
                }
            }
            other => {
                include.paths = strings(ctx, &key, other)?
                    .iter()
                    .map(|raw| resolve(raw))
                    .collect()
            }
        }
        if include.paths.is_empty() {
            return Err(ctx.invalid(&key, "an include needs a path"));
        }
        out.push(include);
    }
    Ok(out)
}

impl Loader<'_> {
    /// Loads every `include:` of `merged`'s files (recursively) and copies their resources
    /// into `merged`. `chain` holds the including files above this level, for cycles; the
    /// included files are appended to `parsed` (so errors in them find their lines).
    pub(super) fn apply_includes(
        &mut self,
        merged: &mut Merged,
        working_dir: &Path,
        chain: &mut Vec<PathBuf>,
        parsed: &mut Vec<ParsedFile>,
    ) -> Result<(), LoadError> {
        for (file_index, include) in std::mem::take(&mut merged.includes) {
            let including = parsed[file_index].path.clone();
            let map = parsed[file_index].map.clone();
            let invalid = |key: &str, message: String| LoadError::Invalid {
                location: map.locate(key),
                key: key.to_string(),
                message,
            };
            let first = &include.paths[0];
            if chain.contains(first) || *first == including {
                let mut cycle: Vec<String> =
                    chain.iter().map(|p| p.display().to_string()).collect();
                cycle.push(including.display().to_string());
                cycle.push(first.display().to_string());
                return Err(invalid(
                    &include.key,
                    format!("include cycle: {}", cycle.join(" -> ")),
                ));
            }
            for path in &include.paths {
                if !self.fs.is_file(path) {
                    return Err(invalid(
                        &include.key,
                        format!("included file {} does not exist", path.display()),
                    ));
                }
            }
            let project_directory = include
                .project_directory
                .clone()
                .or_else(|| first.parent().map(Path::to_path_buf))
                .unwrap_or_else(|| working_dir.to_path_buf());
            let env_files = if include.env_files.is_empty() {
                let default = project_directory.join(".env");
                if self.fs.is_file(&default) {
                    vec![default]
                } else {
                    Vec::new()
                }
            } else {
                include.env_files.clone()
            };

            let outer_environment = self.environment.clone();
            for env_file in env_files {
                let variables = super::file::read_env_file(self.fs, &env_file, &outer_environment)?;
                for (key, value) in variables {
                    self.environment.entry(key).or_insert(value);
                }
                if !self.sources.contains(&env_file) {
                    self.sources.push(env_file);
                }
            }
            let loaded =
                self.load_included(&include, &project_directory, &including, chain, parsed);
            self.environment = outer_environment;
            let included = loaded?;
            self.import(merged, included, &include, parsed, &invalid)?;
        }
        Ok(())
    }

    /// The merged model of one include entry, its own includes applied.
    fn load_included(
        &mut self,
        include: &Include,
        project_directory: &Path,
        including: &Path,
        chain: &mut Vec<PathBuf>,
        parsed: &mut Vec<ParsedFile>,
    ) -> Result<Merged, LoadError> {
        let first = parsed.len();
        for path in &include.paths {
            let file = self.parse_file(path, project_directory)?;
            parsed.push(file);
        }
        let mut included = self.merge_files(parsed, first)?;
        chain.push(including.to_path_buf());
        let result = self.apply_includes(&mut included, project_directory, chain, parsed);
        chain.pop();
        result.map(|()| included)
    }

    /// Copies an included model's resources into `merged`; a name defined differently in
    /// both is an error.
    fn import(
        &mut self,
        merged: &mut Merged,
        included: Merged,
        include: &Include,
        parsed: &[ParsedFile],
        invalid: &dyn Fn(&str, String) -> LoadError,
    ) -> Result<(), LoadError> {
        let included_file = include.paths[0].display().to_string();
        for (name, service) in included.services {
            let from = included
                .service_files
                .get(&name)
                .cloned()
                .unwrap_or_else(|| include.paths[0].clone());
            match merged.services.get(&name) {
                Some(existing) if *existing == service => {}
                Some(_) => {
                    let here = merged
                        .service_files
                        .get(&name)
                        .map(|path| path.display().to_string())
                        .unwrap_or_default();
                    let key = format!("services.{name}");
                    let location = parsed
                        .iter()
                        .find(|file| file.path == from)
                        .map(|file| file.map.locate(&key))
                        .unwrap_or_else(|| Location {
                            file: from.clone(),
                            line: None,
                        });
                    return Err(LoadError::Invalid {
                        location,
                        key,
                        message: format!(
                            "service {name:?} is defined both in {here} and in the included {} (include does not merge; add the file to the include's path list to override it)",
                            from.display()
                        ),
                    });
                }
                None => {
                    merged.service_files.insert(name.clone(), from);
                    merged.services.insert(name, service);
                }
            }
        }
        fn import_named<T: PartialEq>(
            into: &mut BTreeMap<String, (T, bool)>,
            from: BTreeMap<String, (T, bool)>,
            what: &str,
            included_file: &str,
            key: &str,
            invalid: &dyn Fn(&str, String) -> LoadError,
        ) -> Result<(), LoadError> {
            for (name, entry) in from {
                match into.get(&name) {
                    Some(existing) if *existing == entry => {}
                    Some(_) => {
                        return Err(invalid(
                            key,
                            format!(
                                "{what} {name:?} is defined both in this project and in the included {included_file}"
                            ),
                        ));
                    }
                    None => {
                        into.insert(name, entry);
                    }
                }
            }
            Ok(())
        }
        let key = include.key.as_str();
        import_named(
            &mut merged.networks,
            included.networks,
            "network",
            &included_file,
            key,
            invalid,
        )?;
        import_named(
            &mut merged.volumes,
            included.volumes,
            "volume",
            &included_file,
            key,
            invalid,
        )?;
        import_named(
            &mut merged.secrets,
            included.secrets,
            "secret",
            &included_file,
            key,
            invalid,
        )?;
        import_named(
            &mut merged.configs,
            included.configs,
            "config",
            &included_file,
            key,
            invalid,
        )?;
        Ok(())
    }
}
