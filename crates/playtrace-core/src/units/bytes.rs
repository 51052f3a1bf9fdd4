//! [`Bytes`]: a size as people write it in flags and config: `16MiB`, `10GB`, `512k`, `1048576`.

use super::decimal::{round_f64, Decimal};
use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;
use thiserror::Error;

/// Why a size could not be read; the message is shown next to the flag or key.
#[derive(Debug, Error, PartialEq)]
pub enum SizeError {
    /// Not a number with one of the units.
    #[error("`{0}` is not a size; write a number of bytes with an optional unit, like 65536, 64KiB, 16MiB or 10GB")]
    Malformed(String),
    /// Beyond [`Bytes::MAX`] (what SQLite's signed 64-bit integers hold).
    #[error("`{0}` is too large; sizes are at most 8388607TiB")]
    TooLarge(String),
}

/// A size in bytes, at most [`Bytes::MAX`].
///
/// Units: `B`, `k`/`KB` (1000), `KiB` (1024), `M`/`MB`, `MiB`, `G`/`GB`, `GiB`, `T`/`TB`, `TiB`;
/// case-insensitive, optional space, decimals allowed (`1.5GB`) and rounded to whole bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Bytes(u64);

const KIB: u64 = 1024;
const MIB: u64 = KIB * 1024;
const GIB: u64 = MIB * 1024;
const TIB: u64 = GIB * 1024;

impl Bytes {
    /// The largest size accepted: `i64::MAX` bytes, so the store can keep it exactly.
    pub const MAX: Bytes = Bytes(i64::MAX as u64);

    /// A byte count; above [`Bytes::MAX`] is an error.
    pub fn new(bytes: u64) -> Result<Bytes, SizeError> {
        if bytes > Self::MAX.0 {
            return Err(SizeError::TooLarge(bytes.to_string()));
        }
        Ok(Bytes(bytes))
    }

    /// For defaults written in code: saturates at [`Bytes::MAX`].
    pub const fn saturating(bytes: u64) -> Bytes {
        if bytes > Self::MAX.0 {
            Self::MAX
        } else {
            Bytes(bytes)
        }
    }

    /// A float byte count (JSON and TOML numbers), rounded to whole bytes.
    pub fn from_f64(bytes: f64) -> Result<Bytes, SizeError> {
        if bytes.is_nan() || bytes < 0.0 {
            return Err(SizeError::Malformed(bytes.to_string()));
        }
        round_f64(bytes, Self::MAX.0)
            .map(Bytes)
            .ok_or_else(|| SizeError::TooLarge(bytes.to_string()))
    }

    /// The number of bytes.
    pub const fn as_u64(self) -> u64 {
        self.0
    }

    /// The number of bytes as the store counts them (exact: the maximum is `i64::MAX`).
    pub fn as_i64(self) -> i64 {
        i64::try_from(self.0).unwrap_or(i64::MAX)
    }

    /// The number of bytes as an in-memory length (saturating on 32-bit targets).
    pub fn as_usize(self) -> usize {
        usize::try_from(self.0).unwrap_or(usize::MAX)
    }
}

impl FromStr for Bytes {
    type Err = SizeError;

    fn from_str(text: &str) -> Result<Bytes, SizeError> {
        let malformed = || SizeError::Malformed(text.to_string());
        let (number, unit) = Decimal::split(text.trim()).ok_or_else(malformed)?;
        let scale: u64 = match unit.trim().to_ascii_lowercase().as_str() {
            "" | "b" => 1,
            "k" | "kb" => 1_000,
            "kib" => KIB,
            "m" | "mb" => 1_000_000,
            "mib" => MIB,
            "g" | "gb" => 1_000_000_000,
            "gib" => GIB,
            "t" | "tb" => 1_000_000_000_000,
            "tib" => TIB,
            _ => return Err(malformed()),
        };
        match u64::try_from(number.scaled(u128::from(scale))) {
            Ok(n) if n <= Self::MAX.0 => Ok(Bytes(n)),
            _ => Err(SizeError::TooLarge(text.to_string())),
        }
    }
}

impl fmt::Display for Bytes {
    /// The largest binary unit that divides the size exactly (`16MiB`), else plain bytes; reads
    /// back to the same value.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (unit, scale) in [("TiB", TIB), ("GiB", GIB), ("MiB", MIB), ("KiB", KIB)] {
            if self.0 >= scale && self.0 % scale == 0 {
                return write!(f, "{}{unit}", self.0 / scale);
            }
        }
        write!(f, "{}", self.0)
    }
}

impl Serialize for Bytes {
    /// As an integer number of bytes.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u64(self.0)
    }
}

impl<'de> Deserialize<'de> for Bytes {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Bytes, D::Error> {
        deserializer.deserialize_any(BytesVisitor)
    }
}

struct BytesVisitor;

impl Visitor<'_> for BytesVisitor {
    type Value = Bytes;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "a size: a number of bytes with an optional unit, like 65536, 64KiB, 16MiB or 10GB",
        )
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Bytes, E> {
        Bytes::new(v).map_err(E::custom)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Bytes, E> {
        match u64::try_from(v) {
            Ok(v) => self.visit_u64(v),
            Err(_) => Err(E::custom(SizeError::Malformed(v.to_string()))),
        }
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Bytes, E> {
        Bytes::from_f64(v).map_err(E::custom)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Bytes, E> {
        v.parse().map_err(E::custom)
    }
}
