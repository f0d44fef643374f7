//! Test plugin: an ELF constructor that records that the library was loaded.
//!
//! `dlopen` runs every function in `.init_array` before nap looks up a single symbol, so a
//! library's code runs as soon as nap loads it. This one writes `loaded by pid <pid>` to the
//! file named by `NAP_TEST_PLUGIN_MARKER` (nothing without it); the tests that check when nap
//! may load plugin code look for that file. The plugin itself has no hooks.

use nap_plugin_api::{Hooks, Plugin, nap_plugin};

/// Runs when the library is loaded.
extern "C" fn record_load() {
    if let Some(marker) = std::env::var_os("NAP_TEST_PLUGIN_MARKER") {
        let _ = std::fs::write(marker, format!("loaded by pid {}\n", std::process::id()));
    }
}

/// The constructor, placed where the dynamic loader runs it.
#[used]
#[unsafe(link_section = ".init_array")]
static RECORD_LOAD: extern "C" fn() = record_load;

/// A plugin that does nothing once loaded.
struct Constructor;

impl Plugin for Constructor {
    fn name(&self) -> &str {
        "testing-ctor"
    }

    fn version(&self) -> &str {
        "0.0.0"
    }

    fn hooks(&self) -> Hooks {
        Hooks {
            schedule: false,
            post_start: false,
        }
    }
}

nap_plugin!(Constructor, Constructor);
