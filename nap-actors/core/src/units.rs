//! Compose's units: durations (`1m30s`), byte sizes (`512m`, `1.5GB`) and CPU counts.
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
