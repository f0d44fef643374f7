//! Compose's units: durations (`1m30s`), byte sizes (`512m`, `1.5GB`), CPU counts, and the
//! points in time `logs --since/--until` take.
//!
//! Pure parsing; a [`UnitError`] is a short lowercase reason that callers wrap with the key
//! at fault.

use std::time::Duration;

/// Why a duration, size or CPU count could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UnitError {
    /// Nothing was written.
    #[error("empty {what}")]
    Empty {
        /// `duration`, `size` or `cpus`.
        what: &'static str,
    },
    /// Not a number (with a unit) of that kind.
    #[error("invalid {what} {text:?}")]
    Invalid {
        /// `duration`, `size` or `cpus`.
        what: &'static str,
        /// As written.
        text: String,
    },
    /// A duration's number without a unit after it (`1m30`).
    #[error("invalid duration {text:?}: missing unit")]
    MissingUnit {
        /// As written.
        text: String,
    },
    /// A unit that is not one of the kind's.
    #[error("invalid {what} {text:?}: unknown unit {unit:?}")]
    UnknownUnit {
        /// `duration` or `size`.
        what: &'static str,
        /// As written.
        text: String,
        /// The unit.
        unit: String,
    },
    /// A value beyond what nap and Docker can hold.
    #[error("invalid {what} {text:?}: too large")]
    TooLarge {
        /// `duration` or `size`.
        what: &'static str,
        /// As written.
        text: String,
    },
}

/// A point in time as `docker compose logs --since/--until` take it, in Unix seconds: a Unix
/// timestamp (`1700000000`, `1700000000.5`), an RFC 3339 date or date-time (`2026-12-03`,
/// `2026-12-03T10:00:00Z`, `…+01:00`; no zone is UTC), or a duration before `now`
/// (`42m`, `1h30m`).
pub fn parse_log_time(text: &str, now: i64) -> Result<i64, UnitError> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(UnitError::Empty { what: "time" });
    }
    let invalid = || UnitError::Invalid {
        what: "time",
        text: text.to_string(),
    };
    if let Some(whole) = trimmed.split('.').next()
        && trimmed.chars().all(|c| c.is_ascii_digit() || c == '.')
        && trimmed.matches('.').count() <= 1
    {
        return whole.parse::<i64>().map_err(|_| invalid());
    }
    if trimmed.len() >= 10 && trimmed.as_bytes()[4] == b'-' {
        return parse_rfc3339(trimmed).ok_or_else(invalid);
    }
    let ago = parse_duration(trimmed).map_err(|_| invalid())?;
    let ago = i64::try_from(ago.as_secs()).map_err(|_| invalid())?;
    Ok(now.saturating_sub(ago))
}

/// `YYYY-MM-DD[THH:MM[:SS[.fff]]][Z|±HH:MM]` → Unix seconds.
fn parse_rfc3339(text: &str) -> Option<i64> {
    let number = |part: &str| -> Option<i64> {
        (!part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()))
            .then(|| part.parse().ok())
            .flatten()
    };
    let (date, rest) = text.split_at(10);
    let mut fields = date.split('-');
    let (year, month, day) = (
        number(fields.next()?)?,
        number(fields.next()?)?,
        number(fields.next()?)?,
    );
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    let mut seconds = days_from_civil(year, month, day) * 86_400;
    let rest = rest.strip_prefix(['T', 't', ' ']).unwrap_or(rest);
    if rest.is_empty() {
        return Some(seconds);
    }
    // The zone: `Z`, `+HH:MM` or `-HH:MM` at the end.
    let (clock, offset) = if let Some(clock) = rest.strip_suffix(['Z', 'z']) {
        (clock, 0)
    } else if let Some(at) = rest.rfind(['+', '-']) {
        let (clock, zone) = rest.split_at(at);
        let sign = if zone.starts_with('-') { -1 } else { 1 };
        let (hours, minutes) = zone[1..].split_once(':')?;
        (
            clock,
            sign * (number(hours)? * 3600 + number(minutes)? * 60),
        )
    } else {
        (rest, 0)
    };
    let clock = clock.split('.').next()?;
    let mut parts = clock.split(':');
    let hours = number(parts.next()?)?;
    let minutes = number(parts.next()?)?;
    let secs = parts.next().map(number).unwrap_or(Some(0))?;
    if parts.next().is_some() || hours > 23 || minutes > 59 || secs > 60 {
        return None;
    }
    seconds += hours * 3600 + minutes * 60 + secs - offset;
    Some(seconds)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_index = (month + 9) % 12;
    let day_of_year = (153 * month_index + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// Parses a Go-style duration as compose writes them: `10s`, `1m30s`, `500ms`, `1h`, `2us`.
/// A bare number is seconds, as compose accepts for some keys.
pub fn parse_duration(text: &str) -> Result<Duration, UnitError> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(UnitError::Empty { what: "duration" });
    }
    if let Ok(seconds) = trimmed.parse::<u64>() {
        return Ok(Duration::from_secs(seconds));
    }
    let mut total = 0f64;
    let mut rest = trimmed;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(|| UnitError::MissingUnit {
                text: text.to_string(),
            })?;
        let number: f64 = rest[..number_len].parse().map_err(|_| UnitError::Invalid {
            what: "duration",
            text: text.to_string(),
        })?;
        rest = &rest[number_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let seconds_per_unit = match &rest[..unit_len] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            unit => {
                return Err(UnitError::UnknownUnit {
                    what: "duration",
                    text: text.to_string(),
                    unit: unit.to_string(),
                });
            }
        };
        total += number * seconds_per_unit;
        rest = &rest[unit_len..];
    }
    if !total.is_finite() || total > 1e12 {
        return Err(UnitError::TooLarge {
            what: "duration",
            text: text.to_string(),
        });
    }
    Ok(Duration::from_secs_f64(total))
}

/// Parses a byte size as compose does: a number with an optional unit `b`, `k`, `m`, `g`
/// (binary multiples), with or without a trailing `b` (`512m`, `1.5GB`, `100`).
pub fn parse_bytes(text: &str) -> Result<u64, UnitError> {
    let trimmed = text.trim().to_ascii_lowercase();
    let number_len = trimmed
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(trimmed.len());
    let number: f64 = trimmed[..number_len]
        .parse()
        .map_err(|_| UnitError::Invalid {
            what: "size",
            text: text.to_string(),
        })?;
    let multiplier: u64 = match trimmed[number_len..].trim() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        "t" | "tb" | "tib" => 1 << 40,
        unit => {
            return Err(UnitError::UnknownUnit {
                what: "size",
                text: text.to_string(),
                unit: unit.to_string(),
            });
        }
    };
    let bytes = number * multiplier as f64;
    if !bytes.is_finite() || bytes > u64::MAX as f64 {
        return Err(UnitError::TooLarge {
            what: "size",
            text: text.to_string(),
        });
    }
    Ok(bytes as u64)
}

/// Parses a CPU count (`"0.5"`, `2`) into billionths of a CPU, as Docker's `NanoCpus`.
pub fn parse_nano_cpus(text: &str) -> Result<u64, UnitError> {
    let cpus: f64 = text.trim().parse().map_err(|_| UnitError::Invalid {
        what: "cpus",
        text: text.to_string(),
    })?;
    if !cpus.is_finite() || !(0.0..=1e6).contains(&cpus) {
        return Err(UnitError::Invalid {
            what: "cpus",
            text: text.to_string(),
        });
    }
    Ok((cpus * 1e9).round() as u64)
}

/// Formats bytes for messages: `512MiB`, `1.5GiB`, `100B` (to a hundredth of the unit,
/// rounded down).
pub fn format_bytes(bytes: u64) -> String {
    const UNITS: [(u64, &str); 4] = [
        (1 << 40, "TiB"),
        (1 << 30, "GiB"),
        (1 << 20, "MiB"),
        (1 << 10, "KiB"),
    ];
    for (size, unit) in UNITS {
        if bytes >= size {
            let whole = bytes / size;
            let hundredths = (u128::from(bytes % size) * 100 / u128::from(size)) as u64;
            if hundredths == 0 {
                return format!("{whole}{unit}");
            }
            let fraction = format!("{hundredths:02}");
            return format!("{whole}.{}{unit}", fraction.trim_end_matches('0'));
        }
    }
    format!("{bytes}B")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_times_are_timestamps_dates_or_durations_ago() {
        let now = 1_764_756_000; // 2025-12-03T10:00:00Z
        let cases: [(&str, Option<i64>); 9] = [
            ("1700000000", Some(1_700_000_000)),
            ("1700000000.75", Some(1_700_000_000)),
            ("1970-01-01", Some(0)),
            ("2025-12-03T10:00:00Z", Some(now)),
            ("2025-12-03T11:00:00+01:00", Some(now)),
            ("2025-12-03T09:59", Some(now - 60)),
            ("42m", Some(now - 42 * 60)),
            ("1h30m", Some(now - 5400)),
            ("yesterday", None),
        ];
        for (text, expected) in cases {
            assert_eq!(parse_log_time(text, now).ok(), expected, "{text}");
        }
        assert_eq!(parse_log_time("2025-13-01", now).ok(), None);
        assert_eq!(
            parse_log_time("", now),
            Err(UnitError::Empty { what: "time" })
        );
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10s").unwrap(), Duration::from_secs(10));
        assert_eq!(parse_duration("1m30s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("1.5h").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse_duration("5").unwrap(), Duration::from_secs(5));
        for bad in ["", "s", "10x", "1m30", "abc"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_bytes("512m").unwrap(), 512 << 20);
        assert_eq!(parse_bytes("1.5GB").unwrap(), 3 << 29);
        assert_eq!(parse_bytes("100").unwrap(), 100);
        assert_eq!(parse_bytes("64k").unwrap(), 64 << 10);
        assert!(parse_bytes("12q").is_err());
        assert_eq!(format_bytes(512 << 20), "512MiB");
    }

    #[test]
    fn cpus() {
        assert_eq!(parse_nano_cpus("0.5").unwrap(), 500_000_000);
        assert_eq!(parse_nano_cpus("2").unwrap(), 2_000_000_000);
        assert!(parse_nano_cpus("-1").is_err());
    }
}
