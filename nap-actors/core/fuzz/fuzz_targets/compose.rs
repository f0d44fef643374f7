//! Fuzzes the compose loader ([`nap_core::compose::load_with`]) on in-memory files.
//!
//! The input is split at NUL bytes into up to three files of the project `/p`:
//! `compose.yaml`, `.env` and `compose.override.yaml` (so the `.env` parser and the merge of
//! an override file are fuzzed too). Two fixed files, `/p/common.yaml` and `/p/app.env`,
//! are there for `extends` and `env_file` to find, and the process environment is a small
//! fixed map. Beyond "no panic", it checks that:
//!
//! - loading twice gives the same result (project, warnings or error);
//! - an error has a message and its location, when it has one, is a file of the project
//!   and a line inside it;
//! - a loaded project is consistent: a normalized non-empty name, `depends_on` and networks
//!   that exist, no dependency cycle, warnings with messages, and it serializes to JSON.

#![no_main]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use libfuzzer_sys::fuzz_target;
use nap_core::compose::source::last_line;
use nap_core::compose::{
    LoadError, LoadOptions, Location, MemoryFileSystem, load_with, normalize_project_name,
};
use nap_core::graph::DependencyGraph;

const COMMON: &str =
    "services:\n  base:\n    image: busybox:${TAG}\n    environment:\n      FROM_BASE: \"1\"\n";
const APP_ENV: &str = "A=1\nB=${TAG:-none}\n# comment\nexport C='c'\n";

fn environment() -> BTreeMap<String, String> {
    [
        ("HOME", "/home/fuzz"),
        ("TAG", "1.2"),
        ("EMPTY", ""),
        ("PORT", "8080"),
        ("NESTED", "${TAG}"),
    ]
    .into_iter()
    .map(|(key, value)| (key.to_string(), value.to_string()))
    .collect()
}

fn file_system(data: &[u8]) -> MemoryFileSystem {
    let text = String::from_utf8_lossy(data);
    let mut parts = text.splitn(3, '\0');
    let mut fs = MemoryFileSystem::default()
        .with("/p/common.yaml", COMMON)
        .with("/p/app.env", APP_ENV)
        .with("/p/compose.yaml", parts.next().unwrap_or_default());
    if let Some(dotenv) = parts.next() {
        fs = fs.with("/p/.env", dotenv);
    }
    if let Some(override_file) = parts.next() {
        fs = fs.with("/p/compose.override.yaml", override_file);
    }
    fs
}

fn location(error: &LoadError) -> Option<&Location> {
    match error {
        LoadError::Yaml { location, .. }
        | LoadError::Invalid { location, .. }
        | LoadError::EnvFile { location, .. }
        | LoadError::DependencyCycle { location, .. } => Some(location),
        LoadError::Read { .. } | LoadError::NoComposeFile { .. } | LoadError::Project { .. } => {
            None
        }
    }
}

fn check_error(error: &LoadError, fs: &MemoryFileSystem) {
    let message = error.to_string();
    assert!(!message.trim().is_empty(), "empty error message: {error:?}");
    if let Some(location) = location(error) {
        let Some(text) = fs.files.get(&location.file) else {
            panic!("the error names a file that is not there: {error:?}");
        };
        if let Some(line) = location.line {
            assert!(
                (1..=last_line(text)).contains(&line),
                "the error names line {line}, outside the file: {error}"
            );
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let fs = file_system(data);
    let options = LoadOptions {
        working_dir: PathBuf::from("/p"),
        environment: environment(),
        ..LoadOptions::default()
    };
    let first = load_with(&options, &fs);
    let second = load_with(&options, &fs);
    // Debug, not PartialEq: a `cpus: .nan` would make equal projects unequal.
    assert_eq!(
        format!("{first:?}"),
        format!("{second:?}"),
        "two loads differ"
    );
    let loaded = match first {
        Ok(loaded) => loaded,
        Err(error) => return check_error(&error, &fs),
    };
    let project = &loaded.project;
    assert!(!project.name.is_empty());
    assert_eq!(normalize_project_name(&project.name), project.name);
    assert_eq!(project.working_dir, Path::new("/p"));
    for (name, service) in &project.services {
        for dependency in service.depends_on.keys() {
            assert!(
                project.services.contains_key(dependency),
                "service {name:?} depends on {dependency:?}, which is not loaded"
            );
        }
        for network in service.networks.keys() {
            assert!(
                project.networks.contains_key(network),
                "service {name:?} is on network {network:?}, which is not defined"
            );
        }
    }
    assert!(
        DependencyGraph::from_project(project)
            .find_cycle()
            .is_none()
    );
    for warning in &loaded.warnings {
        assert!(!warning.to_string().trim().is_empty());
    }
    serde_json::to_string(project).expect("a loaded project serializes");
});
