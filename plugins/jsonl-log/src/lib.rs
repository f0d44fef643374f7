//! `jsonl-log`: a post-start plugin that appends one JSON line per started container to the
//! file named by `config.path`.
//!
//! Each line is the whole [`ContainerStarted`] event (without its `config`) plus a `timestamp`
//! (RFC 3339, UTC). The file is opened in append mode for every event and written with one
//! `write` call under a lock, so lines from concurrent calls do not interleave. It does not
//! rotate or truncate the file.

use std::fs::OpenOptions;
use std::io::Write;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use nap_plugin_api::{ContainerStarted, Hooks, Plugin, PluginError, nap_plugin};

/// The plugin; the lock serialises appends from concurrent hook calls.
struct JsonlLog {
    write_lock: Mutex<()>,
}

impl Plugin for JsonlLog {
    fn name(&self) -> &str {
        "jsonl-log"
    }

    fn version(&self) -> &str {
        env!("CARGO_PKG_VERSION")
    }

    fn hooks(&self) -> Hooks {
        Hooks::POST_START
    }

    fn post_start(&self, event: &ContainerStarted) -> Result<(), PluginError> {
        let path = match event.config.get("path") {
            Some(serde_json::Value::String(path)) if !path.is_empty() => path,
            Some(other) => {
                return Err(format!("config.path must be a file name, got {other}").into());
            }
            None => return Err("config.path is required (the file to append to)".into()),
        };
        let mut record = serde_json::to_value(event).map_err(|error| error.to_string())?;
        if let serde_json::Value::Object(fields) = &mut record {
            fields.remove("config");
            fields.insert("timestamp".to_owned(), rfc3339_now().into());
        }
        let mut line = serde_json::to_vec(&record).map_err(|error| error.to_string())?;
        line.push(b'\n');
        let _guard = self
            .write_lock
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|error| format!("{path}: cannot open for appending: {error}"))?;
        file.write_all(&line)
            .map_err(|error| format!("{path}: cannot write: {error}").into())
    }
}

/// The current time as `YYYY-MM-DDTHH:MM:SS.mmmZ`.
fn rfc3339_now() -> String {
    let since_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let seconds = since_epoch.as_secs();
    let (days, second_of_day) = (seconds / 86_400, seconds % 86_400);
    let (year, month, day) = civil_from_days(days as i64);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        second_of_day / 3600,
        second_of_day / 60 % 60,
        second_of_day % 60,
        since_epoch.subsec_millis()
    )
}

/// Days since 1970-01-01 to a (year, month, day) date (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * month_index + 2) / 5 + 1) as u32;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

nap_plugin!(
    JsonlLog,
    JsonlLog {
        write_lock: Mutex::new(())
    }
);

#[cfg(test)]
mod tests {
    use super::civil_from_days;

    #[test]
    fn days_convert_to_civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(civil_from_days(20_454), (2026, 1, 1));
    }
}
