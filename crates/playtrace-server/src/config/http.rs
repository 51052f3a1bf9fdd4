//! `[http]`: browsers, and what one connection may hold.

use super::{invalid, millis, ConfigError};
use playtrace_core::units::{Millis, Written};
use serde::Deserialize;

/// `[http]`: browsers, and what one connection may hold (a client that connects and sends
/// nothing, or half a request, must not keep a file descriptor or the shutdown forever).
#[derive(Debug, Clone, PartialEq)]
pub struct Http {
    /// Origins browsers may call from (CORS); none by default.
    pub cors_origins: Vec<String>,
    /// A connection must send a whole request head within this (also the keep-alive idle time).
    pub header_timeout: Millis,
    /// A request body that sends nothing for this long is answered 408 and closed.
    pub body_idle_timeout: Millis,
    /// Open connections at most; 0 sizes it from the file-descriptor limit.
    pub max_connections: usize,
    /// After SIGTERM, in-flight requests get this long before they are abandoned.
    pub shutdown_deadline: Millis,
    /// Threads one large NDJSON body is read on at most; 0 sizes it from the cores.
    pub parse_threads: usize,
}

impl Default for Http {
    fn default() -> Self {
        Http {
            cors_origins: Vec::new(),
            header_timeout: Millis::from_secs_saturating(5),
            body_idle_timeout: Millis::from_secs_saturating(10),
            max_connections: 0,
            shutdown_deadline: Millis::from_secs_saturating(10),
            parse_threads: 0,
        }
    }
}

/// `http.parse_threads` at most (a body is cut into parts of 64 KiB at least anyway).
pub const MAX_PARSE_THREADS: usize = 64;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct HttpFile {
    cors_origins: Option<Vec<String>>,
    header_timeout: Option<Written>,
    body_idle_timeout: Option<Written>,
    max_connections: Option<usize>,
    shutdown_deadline: Option<Written>,
    parse_threads: Option<usize>,
}

impl HttpFile {
    pub(super) fn over(&self, mut h: Http) -> Result<Http, ConfigError> {
        let at_least = |v: &Written, key: &str| -> Result<Millis, ConfigError> {
            Ok(millis(v, key)?.max(Millis::from_ms_saturating(10)))
        };
        if let Some(origins) = &self.cors_origins {
            h.cors_origins = origins.clone();
        }
        if let Some(v) = &self.header_timeout {
            h.header_timeout = at_least(v, "http.header_timeout")?;
        }
        if let Some(v) = &self.body_idle_timeout {
            h.body_idle_timeout = at_least(v, "http.body_idle_timeout")?;
        }
        if let Some(n) = self.max_connections {
            h.max_connections = n;
        }
        if let Some(v) = &self.shutdown_deadline {
            h.shutdown_deadline = millis(v, "http.shutdown_deadline")?;
        }
        if let Some(n) = self.parse_threads {
            if n > MAX_PARSE_THREADS {
                return Err(invalid(
                    "http.parse_threads",
                    format!(
                        "{n} is over {MAX_PARSE_THREADS}; write 0 to size it from the cores, or \
                         1 to read every body on one thread"
                    ),
                ));
            }
            h.parse_threads = n;
        }
        Ok(h)
    }
}
