//! Regression tests for what the fuzz targets of `fuzz/` found: each test feeds the exact
//! input the fuzzer saved (under `tests/fuzz-regressions/`) to the same entry point, set up
//! as the target sets it up, and asserts the clean error nap now gives.
//!
//! Compose inputs are split as the `compose` target splits them: at NUL bytes into
//! `/p/compose.yaml`, `/p/.env` and `/p/compose.override.yaml`, beside the target's fixed
//! `/p/common.yaml` and `/p/app.env`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use nap_core::compose::{LoadError, LoadOptions, Location, MemoryFileSystem, load_with};
use nap_core::inventory::{Inventory, InventoryError};

/// A saved fuzzer input.
fn input(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fuzz-regressions")
        .join(name);
    let bytes = std::fs::read(&path).unwrap_or_else(|error| panic!("{}: {error}", path.display()));
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Loads a compose input as the `compose` fuzz target does.
fn load_compose(input: &str) -> Result<nap_core::compose::Loaded, LoadError> {
    let mut parts = input.splitn(3, '\0');
    let mut fs = MemoryFileSystem::default()
        .with(
            "/p/common.yaml",
            "services:\n  base:\n    image: busybox:${TAG}\n    environment:\n      FROM_BASE: \"1\"\n",
        )
        .with("/p/app.env", "A=1\nB=${TAG:-none}\n# comment\nexport C='c'\n")
        .with("/p/compose.yaml", parts.next().unwrap_or_default());
    if let Some(dotenv) = parts.next() {
        fs = fs.with("/p/.env", dotenv);
    }
    if let Some(override_file) = parts.next() {
        fs = fs.with("/p/compose.override.yaml", override_file);
    }
    let environment: BTreeMap<String, String> = [
        ("HOME", "/home/fuzz"),
        ("TAG", "1.2"),
        ("EMPTY", ""),
        ("PORT", "8080"),
        ("NESTED", "${TAG}"),
    ]
    .into_iter()
    .map(|(key, value)| (key.to_string(), value.to_string()))
    .collect();
    let options = LoadOptions {
        working_dir: PathBuf::from("/p"),
        environment,
        ..LoadOptions::default()
    };
    load_with(&options, &fs)
}

fn location(file: &str, line: usize) -> Location {
    Location {
        file: PathBuf::from(file),
        line: Some(line),
    }
}

/// A syntax error at the end of a compose file that ends without a line break was placed on
/// a line past the last one (libyaml starts a line of its own there): line 66 of 65.
#[test]
fn compose_yaml_error_at_the_end_names_the_last_line() {
    let text = input("compose-yaml-error-past-last-line");
    let compose = text.split('\0').next().unwrap();
    assert_eq!(compose.lines().count(), 65);
    match load_compose(&text) {
        Err(LoadError::Yaml {
            location: found,
            message,
        }) => {
            assert_eq!(found, location("/p/compose.yaml", 65));
            assert!(message.contains("could not find expected ':'"), "{message}");
        }
        other => panic!("expected a YAML error, got {other:?}"),
    }
}

/// The same in a host inventory: line 4 of a 3-line file.
#[test]
fn inventory_yaml_error_at_the_end_names_the_last_line() {
    let text = input("inventory-yaml-error-past-last-line");
    assert_eq!(text.lines().count(), 3);
    match Inventory::parse(Path::new("/inv/nap-hosts.yml"), &text) {
        Err(error @ InventoryError::Yaml { .. }) => {
            let message = error.to_string();
            assert!(
                message.starts_with("/inv/nap-hosts.yml:3: invalid YAML in the host inventory:"),
                "{message}"
            );
        }
        other => panic!("expected a YAML error, got {other:?}"),
    }
}

/// A file that ends with a line break keeps the line after it (an empty last line), and an
/// error inside the file keeps its own line.
#[test]
fn yaml_error_lines_inside_the_file_are_kept() {
    let path = Path::new("/inv/nap-hosts.yml");
    let line_of = |text: &str| match Inventory::parse(path, text) {
        Err(InventoryError::Yaml { location, .. }) => location.line,
        other => panic!("expected a YAML error, got {other:?}"),
    };
    assert_eq!(line_of("hosts:\n  a\n  b: 1\n"), Some(3));
    assert_eq!(line_of("hosts: [a,\n"), Some(2));
    assert_eq!(line_of("hosts: [a,"), Some(1));
}

/// A compose file that is a list whose empty last item ends the file without a line break:
/// "must be a mapping" named line 3 of a 2-line file (the source map took the empty item
/// for the list itself, on the line past the end).
#[test]
fn compose_top_level_list_error_names_no_line_past_the_end() {
    let text = input("compose-empty-item-line-past-end");
    let compose = text.split('\0').next().unwrap();
    assert_eq!(compose.lines().count(), 2);
    match load_compose(&text) {
        Err(LoadError::Invalid {
            location: found,
            key,
            message,
        }) => {
            assert_eq!(found.file, Path::new("/p/compose.yaml"));
            assert!(found.line.is_none_or(|line| line <= 2), "{found}");
            assert_eq!(key, "(top level)");
            assert_eq!(message, "a compose file must be a mapping");
        }
        other => panic!("expected an invalid top level, got {other:?}"),
    }
}
