//! `[limits]`: what one request, one line and the commit queue may hold.

use super::{bytes, positive, ConfigError};
use playtrace_core::units::{Bytes, Written};
use serde::Deserialize;

/// `[limits]`: what one request, one line and the commit queue may hold.
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// Largest request body, after decompression.
    pub max_body: Bytes,
    /// Largest line (or JSON array element).
    pub max_line: Bytes,
    /// Requests waiting for a commit at most.
    pub queue_requests: usize,
    /// Bytes waiting for a commit at most.
    pub queue_bytes: Bytes,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body: Bytes::saturating(10 << 20),
            max_line: Bytes::saturating(1 << 20),
            queue_requests: 1024,
            queue_bytes: Bytes::saturating(64 << 20),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct LimitsFile {
    max_body: Option<Written>,
    max_line: Option<Written>,
    queue_requests: Option<usize>,
    queue_bytes: Option<Written>,
}

impl LimitsFile {
    pub(super) fn over(&self, mut l: Limits) -> Result<Limits, ConfigError> {
        if let Some(v) = &self.max_body {
            l.max_body = bytes(v, "limits.max_body")?;
        }
        if let Some(v) = &self.max_line {
            l.max_line = bytes(v, "limits.max_line")?;
        }
        if let Some(v) = self.queue_requests {
            l.queue_requests = positive(v, "limits.queue_requests")?;
        }
        if let Some(v) = &self.queue_bytes {
            l.queue_bytes = bytes(v, "limits.queue_bytes")?;
        }
        Ok(l)
    }
}
