//! `extends`: a service built on another one, in the same file or another, the chain
//! resolved recursively and checked for cycles.

use std::path::{Path, PathBuf};

use crate::compose::LoadError;
use crate::compose::merge::merge_service;

use super::*;

impl Loader<'_> {
    /// The service `name` of `file` with its `extends` chain applied.
    pub(super) fn resolve_extends(
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
}
