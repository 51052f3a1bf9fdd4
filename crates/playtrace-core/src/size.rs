//! Earlier entry point for sizes, kept so callers outside core compile while they move to
//! [`crate::units::Bytes`]; the parsing itself lives there only.

pub use crate::units::SizeError;

/// Parses a size in bytes; see [`crate::units::Bytes`] for the syntax and range.
pub fn parse_size_bytes(text: &str) -> Result<u64, SizeError> {
    text.parse::<crate::units::Bytes>()
        .map(crate::units::Bytes::as_u64)
}
