//! [`Millis`]: a duration in whole milliseconds, read from `<number><unit>` (SPEC §7).

use super::decimal::{round_f64, Decimal};
use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;
use std::time::Duration;
use thiserror::Error;

/// The syntax, repeated in every error so a user can fix the value without the docs.
const SYNTAX: &str =
    "write a number with a unit, like 800ms, 8s, 5m, 1.5h or 7d (a bare number is milliseconds)";

/// Why a duration could not be read; the message is shown to users next to the flag or key.
#[derive(Debug, Error, PartialEq)]
pub enum DurationError {
    /// Nothing was given.
    #[error("empty duration; write a number with a unit, like 800ms, 8s, 5m, 1.5h or 7d")]
    Empty,
    /// The text is not `<number><unit>`.
    #[error("`{0}` is not a duration; {SYNTAX}")]
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
    /// Longer than [`Millis::MAX`]: refused rather than wrapped into a negative or past time.
    #[error("`{0}` is too long; durations are at most 100000d (about 273 years)")]
    TooLarge(String),
}

/// A non-negative duration in whole milliseconds, at most [`Millis::MAX`].
///
/// Sub-millisecond fractions (`0.4ms`, `1.0005s`) round to the nearest millisecond. The maximum
/// keeps every sum with an epoch-ms timestamp exact in `i64` and `f64`, which is where the
/// store and the statistics use durations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Millis(u64);

const MS_PER_DAY: u64 = 86_400_000;

impl Millis {
    /// No time.
    pub const ZERO: Millis = Millis(0);
    /// The longest duration accepted: 100000 days.
    pub const MAX: Millis = Millis(100_000 * MS_PER_DAY);

    /// Whole milliseconds; values above [`Millis::MAX`] are an error.
    pub fn from_ms(ms: u64) -> Result<Millis, DurationError> {
        if ms > Self::MAX.0 {
            return Err(DurationError::TooLarge(format!("{ms}ms")));
        }
        Ok(Millis(ms))
    }

    /// Milliseconds as a float (JSON and TOML numbers), rounded to whole milliseconds.
    pub fn from_ms_f64(ms: f64) -> Result<Millis, DurationError> {
        if ms.is_nan() {
            return Err(DurationError::Malformed(ms.to_string()));
        }
        if ms < 0.0 {
            return Err(DurationError::Negative(ms.to_string()));
        }
        round_f64(ms, Self::MAX.0)
            .map(Millis)
            .ok_or_else(|| DurationError::TooLarge(ms.to_string()))
    }

    /// For defaults written in code: saturates at [`Millis::MAX`] instead of failing.
    pub const fn from_ms_saturating(ms: u64) -> Millis {
        if ms > Self::MAX.0 {
            Self::MAX
        } else {
            Millis(ms)
        }
    }

    /// Seconds, for defaults written in code; saturates at [`Millis::MAX`].
    pub const fn from_secs_saturating(secs: u64) -> Millis {
        Self::from_ms_saturating(secs.saturating_mul(1000))
    }

    /// A [`Duration`], rounded to whole milliseconds; longer than [`Millis::MAX`] is an error.
    pub fn from_duration(d: Duration) -> Result<Millis, DurationError> {
        let ms = (d.as_nanos() + 500_000) / 1_000_000;
        match u64::try_from(ms) {
            Ok(ms) if ms <= Self::MAX.0 => Ok(Millis(ms)),
            _ => Err(DurationError::TooLarge(format!("{d:?}"))),
        }
    }

    /// Whole milliseconds.
    pub const fn as_ms(self) -> u64 {
        self.0
    }

    /// Milliseconds as core's statistics count them (exact: the maximum is below 2^53).
    pub fn as_ms_f64(self) -> f64 {
        self.0 as f64
    }

    /// Milliseconds as the store counts them (exact: the maximum is below `i64::MAX`).
    pub fn as_ms_i64(self) -> i64 {
        // MAX < i64::MAX, so the conversion never fails.
        i64::try_from(self.0).unwrap_or(i64::MAX)
    }

    /// The same span as a [`Duration`].
    pub const fn to_duration(self) -> Duration {
        Duration::from_millis(self.0)
    }
}

impl From<Millis> for Duration {
    fn from(m: Millis) -> Duration {
        m.to_duration()
    }
}

impl TryFrom<Duration> for Millis {
    type Error = DurationError;

    fn try_from(d: Duration) -> Result<Millis, DurationError> {
        Millis::from_duration(d)
    }
}

impl FromStr for Millis {
    type Err = DurationError;

    /// `<number><unit>`: unit `ms|s|m|h|d` (a space before it is allowed), decimals allowed,
    /// no unit means milliseconds.
    fn from_str(text: &str) -> Result<Millis, DurationError> {
        let t = text.trim();
        if t.is_empty() {
            return Err(DurationError::Empty);
        }
        if let Some(rest) = t.strip_prefix('-') {
            if rest.starts_with(|c: char| c.is_ascii_digit() || c == '.') {
                return Err(DurationError::Negative(text.to_string()));
            }
            return Err(DurationError::Malformed(text.to_string()));
        }
        let t = t.strip_prefix('+').unwrap_or(t);
        let (number, unit) =
            Decimal::split(t).ok_or_else(|| DurationError::Malformed(text.to_string()))?;
        let scale: u128 = match unit.trim() {
            "" | "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => u128::from(MS_PER_DAY),
            other => {
                return Err(DurationError::UnknownUnit {
                    text: text.to_string(),
                    unit: other.to_string(),
                })
            }
        };
        match u64::try_from(number.scaled(scale)) {
            Ok(ms) if ms <= Self::MAX.0 => Ok(Millis(ms)),
            _ => Err(DurationError::TooLarge(text.to_string())),
        }
    }
}

impl fmt::Display for Millis {
    /// The shortest spelling that reads back to the same value: `6h`, `1.5s`, `1234ms`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let short = format_duration_ms(self.as_ms_f64());
        if short.parse::<Millis>().ok() == Some(*self) {
            f.write_str(&short)
        } else {
            write!(f, "{}ms", self.0)
        }
    }
}

impl Serialize for Millis {
    /// As an integer number of milliseconds, which every reader of PlayTrace's JSON accepts.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u64(self.0)
    }
}

impl<'de> Deserialize<'de> for Millis {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Millis, D::Error> {
        deserializer.deserialize_any(MillisVisitor)
    }
}

struct MillisVisitor;

impl Visitor<'_> for MillisVisitor {
    type Value = Millis;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a duration; {SYNTAX}")
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Millis, E> {
        Millis::from_ms(v).map_err(E::custom)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Millis, E> {
        match u64::try_from(v) {
            Ok(v) => self.visit_u64(v),
            Err(_) => Err(E::custom(DurationError::Negative(v.to_string()))),
        }
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Millis, E> {
        Millis::from_ms_f64(v).map_err(E::custom)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Millis, E> {
        v.parse().map_err(E::custom)
    }
}

/// Formats milliseconds with the largest unit that keeps the number short (`21600000` → `6h`).
/// For reports: fractions beyond two decimals are rounded, so this is not for values that must
/// be read back (use [`Millis`]'s `Display` for those).
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
