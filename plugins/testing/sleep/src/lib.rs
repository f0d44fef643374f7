//! Test plugin: its schedule hook sleeps 10 s, for checking the caller's time limits.

use std::time::Duration;

use nap_plugin_api::{Hooks, Plugin, PluginError, ScheduleDecision, ScheduleRequest, nap_plugin};

/// Sleeps, then keeps nap's order.
struct Sleeps;

impl Plugin for Sleeps {
    fn name(&self) -> &str {
        "testing-sleep"
    }

    fn version(&self) -> &str {
        "0.0.0"
    }

    fn hooks(&self) -> Hooks {
        Hooks::SCHEDULE
    }

    fn schedule(&self, _request: &ScheduleRequest) -> Result<ScheduleDecision, PluginError> {
        std::thread::sleep(Duration::from_secs(10));
        Ok(ScheduleDecision::Keep)
    }
}

nap_plugin!(Sleeps, Sleeps);
