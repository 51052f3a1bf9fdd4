//! `[stream]`: `GET /v1/stream` and slow subscribers.

use super::{bytes, millis, positive, ConfigError};
use playtrace_core::units::{Bytes, Millis, Written};
use serde::Deserialize;

/// `[stream]`: `GET /v1/stream` and slow clients.
#[derive(Debug, Clone, PartialEq)]
pub struct Stream {
    /// Keep-alive comment interval (at least 100 ms).
    pub keep_alive: Millis,
    /// Commits a subscriber may fall behind before it is disconnected.
    pub buffer: usize,
    /// A write to a client that stays blocked this long closes the connection (at least 10 ms).
    pub send_timeout: Millis,
    /// Bytes of committed messages one subscriber may have waiting (not yet written to its
    /// socket) before it is disconnected; it replays from the store when it reconnects.
    pub max_pending: Bytes,
}

impl Default for Stream {
    fn default() -> Self {
        Stream {
            keep_alive: Millis::from_secs_saturating(15),
            buffer: 1024,
            send_timeout: Millis::from_secs_saturating(10),
            max_pending: Bytes::saturating(4 << 20),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct StreamFile {
    keep_alive: Option<Written>,
    buffer: Option<usize>,
    send_timeout: Option<Written>,
    max_pending: Option<Written>,
}

impl StreamFile {
    pub(super) fn over(&self, mut s: Stream) -> Result<Stream, ConfigError> {
        if let Some(v) = &self.keep_alive {
            s.keep_alive = millis(v, "stream.keep_alive")?.max(Millis::from_ms_saturating(100));
        }
        if let Some(v) = &self.send_timeout {
            s.send_timeout = millis(v, "stream.send_timeout")?.max(Millis::from_ms_saturating(10));
        }
        if let Some(n) = self.buffer {
            s.buffer = positive(n, "stream.buffer")?;
        }
        if let Some(v) = &self.max_pending {
            s.max_pending = bytes(v, "stream.max_pending")?;
        }
        Ok(s)
    }
}
