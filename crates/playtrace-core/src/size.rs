//! Byte sizes as people write them in flags and config: `16MiB`, `10GB`, `512k`, `1048576`.

use thiserror::Error;

/// Why a size could not be read.
#[derive(Debug, Error, PartialEq)]
#[error("`{0}` is not a size; write a number of bytes with an optional unit, like 65536, 64KiB, 16MiB or 10GB")]
pub struct SizeError(pub String);

/// Parses a size in bytes. Units: `B`, `k`/`KB` (1000), `KiB` (1024), `M`/`MB`, `MiB`, `G`/`GB`,
/// `GiB`, `T`/`TB`, `TiB`; case-insensitive, optional space, decimals allowed (`1.5GB`).
pub fn parse_size_bytes(text: &str) -> Result<u64, SizeError> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let value: f64 = number.parse().map_err(|_| SizeError(text.to_string()))?;
    let scale: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kb" => 1e3,
        "kib" => 1024.0,
        "m" | "mb" => 1e6,
        "mib" => 1024.0 * 1024.0,
        "g" | "gb" => 1e9,
        "gib" => 1024.0 * 1024.0 * 1024.0,
        "t" | "tb" => 1e12,
        "tib" => 1024f64.powi(4),
        _ => return Err(SizeError(text.to_string())),
    };
    let bytes = value * scale;
    if !bytes.is_finite() || bytes < 0.0 || bytes > u64::MAX as f64 {
        return Err(SizeError(text.to_string()));
    }
    Ok(bytes.round() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units() {
        assert_eq!(parse_size_bytes("1048576"), Ok(1_048_576));
        assert_eq!(parse_size_bytes("16MiB"), Ok(16 * 1024 * 1024));
        assert_eq!(parse_size_bytes("10 GB"), Ok(10_000_000_000));
        assert_eq!(parse_size_bytes("64k"), Ok(64_000));
        assert_eq!(parse_size_bytes("1.5kib"), Ok(1536));
    }

    #[test]
    fn rejects_nonsense() {
        assert!(parse_size_bytes("").is_err());
        assert!(parse_size_bytes("lots").is_err());
        assert!(parse_size_bytes("5 parsecs").is_err());
        assert!(parse_size_bytes("-3").is_err());
    }
}
