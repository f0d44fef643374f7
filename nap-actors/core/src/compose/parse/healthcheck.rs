//! A service's `healthcheck`: the test (a string becomes `CMD-SHELL`), its durations and
//! retries.

use serde_yaml::Value;

use super::FileContext;
use super::read::*;
use crate::compose::LoadError;
use crate::compose::model::*;

pub(super) fn parse_healthcheck(
    ctx: &FileContext,
    path: &str,
    value: &Value,
) -> Result<Healthcheck, LoadError> {
    let mut healthcheck = Healthcheck::default();
    for (key, value) in mapping_entries(ctx, path, value)? {
        let key_path = format!("{path}.{key}");
        let key_path = key_path.as_str();
        match key.as_str() {
            "test" => {
                healthcheck.test = match value {
                    Value::Sequence(_) => Some(string_list(ctx, key_path, value)?),
                    Value::Null => None,
                    other => Some(vec!["CMD-SHELL".to_string(), string(ctx, key_path, other)?]),
                };
                if let Some(test) = &healthcheck.test
                    && let Some(first) = test.first()
                    && !matches!(first.as_str(), "NONE" | "CMD" | "CMD-SHELL")
                {
                    return Err(ctx.invalid(
                        key_path,
                        format!(
                            "a test list must start with CMD, CMD-SHELL or NONE, not {first:?}"
                        ),
                    ));
                }
            }
            "interval" => healthcheck.interval = parse_duration_text(ctx, key_path, value)?,
            "timeout" => healthcheck.timeout = parse_duration_text(ctx, key_path, value)?,
            "start_period" => healthcheck.start_period = parse_duration_text(ctx, key_path, value)?,
            "start_interval" => {
                healthcheck.start_interval = parse_duration_text(ctx, key_path, value)?
            }
            "retries" => healthcheck.retries = Some(unsigned(ctx, key_path, value)?),
            "disable" => healthcheck.disable = boolean(ctx, key_path, value)?,
            other => {
                return Err(ctx.invalid(key_path, format!("unknown healthcheck key {other:?}")));
            }
        }
    }
    Ok(healthcheck)
}
