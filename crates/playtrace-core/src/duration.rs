//! Earlier entry points for durations, kept so callers outside core compile while they move to
//! [`crate::units::Millis`]; the parsing itself lives there only.

pub use crate::units::{format_duration_ms, DurationError};

/// Parses a duration into milliseconds; see [`crate::units::Millis`] for the syntax and range.
pub fn parse_duration_ms(text: &str) -> Result<f64, DurationError> {
    text.parse::<crate::units::Millis>()
        .map(crate::units::Millis::as_ms_f64)
}
