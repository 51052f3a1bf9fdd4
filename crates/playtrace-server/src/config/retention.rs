//! `[retention]`: what the store keeps and how often it looks.

use super::{bytes, millis, ConfigError};
use playtrace_core::units::{Bytes, Millis, Written};
use serde::Deserialize;

/// `[retention]`: what the store keeps.
#[derive(Debug, Clone, PartialEq)]
pub struct Retention {
    /// Events older than this are removed.
    pub max_age: Millis,
    /// The store is kept under this size.
    pub max_bytes: Bytes,
    /// How often retention runs (at least 10 ms).
    pub interval: Millis,
}

impl Default for Retention {
    fn default() -> Self {
        Retention {
            max_age: Millis::from_secs_saturating(7 * 86_400),
            max_bytes: Bytes::saturating(10_000_000_000),
            interval: Millis::from_secs_saturating(30),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RetentionFile {
    max_age: Option<Written>,
    max_bytes: Option<Written>,
    interval: Option<Written>,
}

impl RetentionFile {
    pub(super) fn over(&self, mut r: Retention) -> Result<Retention, ConfigError> {
        if let Some(v) = &self.max_age {
            r.max_age = millis(v, "retention.max_age")?;
        }
        if let Some(v) = &self.max_bytes {
            r.max_bytes = bytes(v, "retention.max_bytes")?;
        }
        if let Some(v) = &self.interval {
            r.interval = millis(v, "retention.interval")?.max(Millis::from_ms_saturating(10));
        }
        Ok(r)
    }
}
