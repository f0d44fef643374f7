//! Test plugin: its schedule hook panics, to check that the panic is caught inside the plugin
//! and reaches nap as an error.

use nap_plugin_api::{Hooks, Plugin, PluginError, ScheduleDecision, ScheduleRequest, nap_plugin};

/// Panics on every schedule call.
struct Panics;

impl Plugin for Panics {
    fn name(&self) -> &str {
        "testing-panic"
    }

    fn version(&self) -> &str {
        "0.0.0"
    }

    fn hooks(&self) -> Hooks {
        Hooks::SCHEDULE
    }

    fn schedule(&self, request: &ScheduleRequest) -> Result<ScheduleDecision, PluginError> {
        panic!("deliberate panic placing {}", request.service);
    }
}

nap_plugin!(Panics, Panics);
