//! Durations as PlayTrace spells them everywhere (flags, config, query parameters):
//! `<number><unit>` with unit `ms|s|m|h|d`, decimals allowed (`1.5h`); a bare number is
//! milliseconds (SPEC §7).

use thiserror::Error;

/// Why a duration could not be read; the message is shown to users next to the flag or key.
#[derive(Debug, Error, PartialEq)]
pub enum DurationError {
    /// Nothing was given.
    #[error("empty duration; write a number with a unit, like 800ms, 8s, 5m, 1.5h or 7d")]
    Empty,
    /// The text is not `<number><unit>`.
    #[error("`{0}` is not a duration; write a number with a unit, like 800ms, 8s, 5m, 1.5h or 7d (a bare number is milliseconds)")]
    Malformed(String),
    /// The unit is not one of ms, s, m, h, d.
    #[error("`{text}` has unknown unit `{unit}`; use ms, s, m, h or d")]
    UnknownUnit {
        /// The whole text.
        text: String,
        /// The unit as written.
        unit: String,
    },
    /// Durations cannot be negative.
    #[error("`{0}` is negative; durations must be zero or more")]
    Negative(String),
}

/// Parses a duration into milliseconds.
pub fn parse_duration_ms(text: &str) -> Result<f64, DurationError> {
    let t = text.trim();
    if t.is_empty() {
        return Err(DurationError::Empty);
    }
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-' || c == '+'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let value: f64 = number
        .parse()
        .ok()
        .filter(|v: &f64| v.is_finite())
        .ok_or_else(|| DurationError::Malformed(text.to_string()))?;
    if value < 0.0 {
        return Err(DurationError::Negative(text.to_string()));
    }
    let scale = match unit.trim() {
        "" | "ms" => 1.0,
        "s" => 1_000.0,
        "m" => 60_000.0,
        "h" => 3_600_000.0,
        "d" => 86_400_000.0,
        other => {
            return Err(DurationError::UnknownUnit {
                text: text.to_string(),
                unit: other.to_string(),
            })
        }
    };
    Ok(value * scale)
}

/// Formats milliseconds with the largest unit that keeps the number short (`21600000` → `6h`).
pub fn format_duration_ms(ms: f64) -> String {
    const UNITS: [(&str, f64); 4] = [
        ("d", 86_400_000.0),
        ("h", 3_600_000.0),
        ("m", 60_000.0),
        ("s", 1_000.0),
    ];
    for (unit, scale) in UNITS {
        let v = ms / scale;
        if v >= 1.0 && (v * 100.0).fract() == 0.0 {
            return format!("{}{unit}", crate::num::human(v));
        }
    }
    format!("{}ms", crate::num::human(ms))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_unit() {
        assert_eq!(parse_duration_ms("800"), Ok(800.0));
        assert_eq!(parse_duration_ms("800ms"), Ok(800.0));
        assert_eq!(parse_duration_ms("8s"), Ok(8000.0));
        assert_eq!(parse_duration_ms("5m"), Ok(300_000.0));
        assert_eq!(parse_duration_ms("1.5h"), Ok(5_400_000.0));
        assert_eq!(parse_duration_ms("7d"), Ok(604_800_000.0));
        assert_eq!(parse_duration_ms(" 2.5 s "), Ok(2500.0));
    }

    #[test]
    fn explains_bad_input() {
        assert_eq!(parse_duration_ms(""), Err(DurationError::Empty));
        assert!(matches!(
            parse_duration_ms("soon"),
            Err(DurationError::Malformed(_))
        ));
        assert!(matches!(
            parse_duration_ms("1.2.3s"),
            Err(DurationError::Malformed(_))
        ));
        assert!(matches!(
            parse_duration_ms("-5s"),
            Err(DurationError::Negative(_))
        ));
        let err = parse_duration_ms("6hours").unwrap_err();
        assert_eq!(
            err.to_string(),
            "`6hours` has unknown unit `hours`; use ms, s, m, h or d"
        );
    }

    #[test]
    fn formats_compactly() {
        assert_eq!(format_duration_ms(21_600_000.0), "6h");
        assert_eq!(format_duration_ms(8000.0), "8s");
        assert_eq!(format_duration_ms(800.0), "800ms");
        assert_eq!(format_duration_ms(5_400_000.0), "1.5h");
        assert_eq!(format_duration_ms(1234.0), "1234ms");
        assert_eq!(format_duration_ms(1500.0), "1.5s");
    }
}
