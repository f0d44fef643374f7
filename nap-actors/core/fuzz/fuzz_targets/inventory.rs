//! Fuzzes the host inventory parser ([`nap_core::inventory::Inventory::parse`]).
//!
//! The input (lossy UTF-8) is the text of `/inv/nap-hosts.yml`. Beyond "no panic", it
//! checks that:
//!
//! - parsing twice gives the same result;
//! - an error has a message, names the inventory file and, when it has a line, one inside
//!   the file;
//! - a parsed inventory has at least one host, hosts in strictly increasing name order (so
//!   no two with one name), warnings with messages, and it serializes to JSON.

#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use nap_core::compose::source::last_line;
use nap_core::inventory::{Inventory, InventoryError};

const PATH: &str = "/inv/nap-hosts.yml";

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let path = Path::new(PATH);
    let first = Inventory::parse(path, &text);
    let second = Inventory::parse(path, &text);
    assert_eq!(
        format!("{first:?}"),
        format!("{second:?}"),
        "two parses differ"
    );
    match first {
        Ok((inventory, warnings)) => {
            assert!(!inventory.hosts.is_empty());
            for pair in inventory.hosts.windows(2) {
                assert!(
                    pair[0].name < pair[1].name,
                    "hosts {:?} and {:?} are out of order or share a name",
                    pair[0].name,
                    pair[1].name
                );
            }
            for warning in &warnings {
                assert!(!warning.to_string().trim().is_empty());
            }
            assert_eq!(inventory.source.as_deref(), Some(path));
            serde_json::to_string(&inventory).expect("a parsed inventory serializes");
        }
        Err(error) => {
            let message = error.to_string();
            assert!(!message.trim().is_empty());
            let location = match &error {
                InventoryError::Yaml { location, .. }
                | InventoryError::Invalid { location, .. } => location,
                InventoryError::Read { .. } => panic!("parse read a file: {error}"),
            };
            assert_eq!(location.file, path, "the error names another file: {error}");
            if let Some(line) = location.line {
                assert!(
                    (1..=last_line(&text)).contains(&line),
                    "the error names line {line}, outside the file: {error}"
                );
            }
        }
    }
});
