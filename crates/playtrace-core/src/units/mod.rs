//! Durations and sizes as PlayTrace spells them everywhere (flags, TOML, JSON bodies, query
//! parameters), read by one parser.
//!
//! [`Millis`] is `<number><unit>` with unit `ms|s|m|h|d`, decimals allowed (`1.5h`), a bare
//! number meaning milliseconds (SPEC §7). [`Bytes`] is a number with an optional unit (`64KiB`,
//! `16MiB`, `10GB`). Both are exact: decimals are read as decimals, never through floating
//! point, and values past the documented maximum are errors rather than wrapped or saturated
//! numbers, so a `999999999999999d` silence can never turn into a time in the past.
//!
//! Each type deserializes from an integer, a float or a string, so one field type serves TOML,
//! JSON and query strings. Where the caller wants its own context on the error (the budget
//! number, the config key), deserialize a [`Written`] and convert it afterwards.

mod bytes;
mod decimal;
mod millis;

pub use bytes::{Bytes, SizeError};
pub use millis::{format_duration_ms, DurationError, Millis};

use serde::Deserialize;

/// A duration or size as written, read later: `8000`, `7999.5` or `"8s"`.
///
/// Deserializing [`Millis`] directly reports a bad value through the format's own error (TOML's
/// carries line and column). Deserialize this instead when the error should name something the
/// format cannot know, such as `budget #2 (arming): limit_ms: …`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum Written {
    /// A non-negative integer, kept exact beyond 2^53.
    Integer(u64),
    /// Any other number (negative or fractional).
    Number(f64),
    /// Text to parse.
    Text(String),
}

impl Written {
    /// Reads the value as a duration (a number is milliseconds).
    pub fn millis(&self) -> Result<Millis, DurationError> {
        match self {
            Written::Integer(n) => Millis::from_ms(*n),
            Written::Number(n) => Millis::from_ms_f64(*n),
            Written::Text(t) => t.parse(),
        }
    }

    /// Reads the value as a size (a number is bytes).
    pub fn bytes(&self) -> Result<Bytes, SizeError> {
        match self {
            Written::Integer(n) => Bytes::new(*n),
            Written::Number(n) => Bytes::from_f64(*n),
            Written::Text(t) => t.parse(),
        }
    }
}

impl TryFrom<&serde_json::Value> for Written {
    type Error = String;

    /// For settings kept as a JSON value: a number or a string, anything else is refused with
    /// the value shown.
    fn try_from(v: &serde_json::Value) -> Result<Written, String> {
        match v {
            serde_json::Value::Number(n) => Ok(match (n.as_u64(), n.as_f64()) {
                (Some(u), _) => Written::Integer(u),
                (None, Some(f)) => Written::Number(f),
                (None, None) => Written::Text(n.to_string()),
            }),
            serde_json::Value::String(s) => Ok(Written::Text(s.clone())),
            other => Err(other.to_string()),
        }
    }
}

#[cfg(test)]
mod tests;
