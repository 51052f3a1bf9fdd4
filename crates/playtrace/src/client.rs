//! A small client for a running collector: JSON requests and an SSE reader, for the commands
//! that check a deployment (`smoke`, `alerts`). Errors say which URL failed and what to do; the
//! commands turn them into exit code 2.

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};
use thiserror::Error;

/// Why talking to the collector failed (exit code 2).
#[derive(Debug, Error)]
pub enum ClientError {
    /// Nothing answers, DNS, TLS, timeouts.
    #[error("cannot reach the collector at {url}: {message} (is `playtrace serve` running there? set --url or PLAYTRACE_URL)")]
    Connect {
        /// The URL.
        url: String,
        /// The transport's error (refused, DNS, TLS, timeout).
        message: String,
    },
    /// 401 or 403.
    #[error("the collector refused {what} ({status}): {message}; check the {token} token")]
    Auth {
        /// What was asked.
        what: String,
        /// The HTTP status, 401 or 403.
        status: u16,
        /// The collector's message.
        message: String,
        /// Which token to check (`ingest`, `read`).
        token: &'static str,
    },
    /// Any other unexpected answer.
    #[error("the collector answered {what} with {status}: {message}")]
    Status {
        /// What was asked.
        what: String,
        /// The HTTP status the caller did not expect.
        status: u16,
        /// The collector's message.
        message: String,
    },
}

/// A collector endpoint with its tokens.
#[derive(Clone)]
pub struct Collector {
    /// Base URL without a trailing slash.
    pub base: String,
    ingest_token: Option<String>,
    read_token: Option<String>,
    agent: ureq::Agent,
}

/// An answer: status and JSON body (`Null` when not JSON).
pub struct Answer {
    /// The HTTP status, whatever it is: callers decide which ones are errors.
    pub status: u16,
    /// The body parsed as JSON; `Null` when it was empty or not JSON.
    pub body: Value,
}

fn message_of(body: &Value) -> String {
    body["error"]["message"]
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| body.to_string())
}

impl Collector {
    /// A client for `base` (e.g. `http://127.0.0.1:7070`).
    pub fn new(
        base: &str,
        ingest_token: Option<String>,
        read_token: Option<String>,
        timeout: Duration,
    ) -> Collector {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(timeout))
            .timeout_recv_response(Some(timeout))
            .build()
            .into();
        Collector {
            base: base.trim_end_matches('/').to_string(),
            ingest_token: ingest_token.filter(|t| !t.is_empty()),
            read_token: read_token.filter(|t| !t.is_empty()),
            agent,
        }
    }

    fn connect_error(&self, e: ureq::Error) -> ClientError {
        ClientError::Connect {
            url: self.base.clone(),
            message: e.to_string(),
        }
    }

    fn check(
        &self,
        what: &str,
        answer: Answer,
        token: &'static str,
    ) -> Result<Answer, ClientError> {
        match answer.status {
            200..=299 => Ok(answer),
            401 | 403 => Err(ClientError::Auth {
                what: what.to_string(),
                status: answer.status,
                message: message_of(&answer.body),
                token,
            }),
            status => Err(ClientError::Status {
                what: what.to_string(),
                status,
                message: message_of(&answer.body),
            }),
        }
    }

    fn read_answer(response: ureq::http::Response<ureq::Body>) -> Answer {
        let status = response.status().as_u16();
        let text = response.into_body().read_to_string().unwrap_or_default();
        Answer {
            status,
            body: serde_json::from_str(&text).unwrap_or(Value::Null),
        }
    }

    /// `POST path` with NDJSON lines (ingest token); 2xx required.
    pub fn post_ndjson(&self, path: &str, body: &str) -> Result<Answer, ClientError> {
        let mut req = self
            .agent
            .post(format!("{}{path}", self.base))
            .header("Content-Type", "application/x-ndjson");
        if let Some(t) = &self.ingest_token {
            req = req.header("Authorization", format!("Bearer {t}"));
        }
        let answer = Self::read_answer(req.send(body).map_err(|e| self.connect_error(e))?);
        self.check(&format!("POST {path}"), answer, "ingest")
    }

    /// `GET path` (read token); the answer whatever its status, except 401/403.
    pub fn get(&self, path: &str) -> Result<Answer, ClientError> {
        let mut req = self.agent.get(format!("{}{path}", self.base));
        if let Some(t) = &self.read_token {
            req = req.header("Authorization", format!("Bearer {t}"));
        }
        let answer = Self::read_answer(req.call().map_err(|e| self.connect_error(e))?);
        match answer.status {
            401 | 403 => self.check(&format!("GET {path}"), answer, "read"),
            _ => Ok(answer),
        }
    }

    /// `method path` with a JSON body (or none) and `token` (the admin verbs of `playtrace
    /// alerts`); 2xx required, 401/403 name the `admin` token.
    pub fn send(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
        token: Option<&str>,
    ) -> Result<Answer, ClientError> {
        let url = format!("{}{path}", self.base);
        let auth = token
            .filter(|t| !t.is_empty())
            .map(|t| format!("Bearer {t}"));
        let result = match method {
            "DELETE" => {
                let mut req = self.agent.delete(url);
                if let Some(a) = &auth {
                    req = req.header("Authorization", a);
                }
                req.call()
            }
            _ => {
                let mut req = self
                    .agent
                    .post(url)
                    .header("Content-Type", "application/json");
                if let Some(a) = &auth {
                    req = req.header("Authorization", a);
                }
                req.send(body.map(Value::to_string).unwrap_or_default())
            }
        };
        let answer = Self::read_answer(result.map_err(|e| self.connect_error(e))?);
        self.check(&format!("{method} {path}"), answer, "admin")
    }

    /// Opens `GET /v1/stream?…` (read token), optionally resuming after `last_event_id`.
    /// Returns once the collector has subscribed (it answers only then).
    pub fn stream(&self, query: &str, last_event_id: Option<&str>) -> Result<Stream, ClientError> {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(Duration::from_secs(10)))
            .build()
            .into();
        let path = format!("/v1/stream?{query}");
        let mut req = agent.get(format!("{}{path}", self.base));
        if let Some(t) = &self.read_token {
            req = req.header("Authorization", format!("Bearer {t}"));
        }
        if let Some(id) = last_event_id {
            req = req.header("Last-Event-ID", id);
        }
        let response = req.call().map_err(|e| self.connect_error(e))?;
        if response.status().as_u16() != 200 {
            let answer = Self::read_answer(response);
            return Err(self
                .check(&format!("GET {path}"), answer, "read")
                .err()
                .unwrap_or(ClientError::Status {
                    what: format!("GET {path}"),
                    status: 0,
                    message: "unexpected".into(),
                }));
        }
        let reader = response.into_body().into_reader();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::Builder::new()
            .name("playtrace-sse".into())
            .spawn(move || read_sse(reader, &tx))
            .map_err(|e| ClientError::Connect {
                url: self.base.clone(),
                message: e.to_string(),
            })?;
        Ok(Stream { rx })
    }
}

/// One SSE message with the moment it was read.
#[derive(Debug, Clone)]
pub struct SseMessage {
    /// `id:`.
    pub id: Option<String>,
    /// `event:` (default `message`).
    pub event: String,
    /// `data:` as JSON (`Null` if not JSON).
    pub data: Value,
    /// When it was read.
    pub at: Instant,
}

/// An open stream; dropping it lets the reader thread end with the connection.
pub struct Stream {
    rx: Receiver<SseMessage>,
}

/// Why no message came.
#[derive(Debug, PartialEq, Eq)]
pub enum StreamEnd {
    /// Nothing within the time.
    Timeout,
    /// The collector closed the stream.
    Closed,
}

impl Stream {
    /// The next message within `timeout`.
    pub fn next(&self, timeout: Duration) -> Result<SseMessage, StreamEnd> {
        self.rx.recv_timeout(timeout).map_err(|e| match e {
            RecvTimeoutError::Timeout => StreamEnd::Timeout,
            RecvTimeoutError::Disconnected => StreamEnd::Closed,
        })
    }
}

/// Parses the SSE wire format (`field: value` lines, blank line ends a message; comments ignored).
fn read_sse(reader: impl std::io::Read, tx: &std::sync::mpsc::Sender<SseMessage>) {
    let mut id = None;
    let mut event = String::new();
    let mut data = String::new();
    for line in BufReader::new(reader).lines() {
        let Ok(line) = line else { return };
        if line.is_empty() {
            if !data.is_empty() {
                let message = SseMessage {
                    id: id.take(),
                    event: if event.is_empty() {
                        "message".into()
                    } else {
                        std::mem::take(&mut event)
                    },
                    data: serde_json::from_str(&data).unwrap_or(Value::Null),
                    at: Instant::now(),
                };
                if tx.send(message).is_err() {
                    return;
                }
            }
            data.clear();
            event.clear();
            continue;
        }
        if line.starts_with(':') {
            continue;
        }
        let (field, value) = line.split_once(':').unwrap_or((line.as_str(), ""));
        let value = value.strip_prefix(' ').unwrap_or(value);
        match field {
            "id" => id = Some(value.to_string()),
            "event" => event = value.to_string(),
            "data" => {
                if !data.is_empty() {
                    data.push('\n');
                }
                data.push_str(value);
            }
            _ => {}
        }
    }
}

/// A random-enough identifier (time, process, counter, hashed): nonces and run ids.
pub fn nonce() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let seed = format!(
        "{now}-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    );
    let h = xxhash_rust::xxh3::xxh3_128(seed.as_bytes());
    let hex = format!("{h:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// Now as RFC 3339 with milliseconds.
pub fn now_rfc3339() -> String {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_millis() as f64);
    playtrace_core::time::format_rfc3339_ms(ms).unwrap_or_default()
}

/// A query string from `(key, value)` pairs, leaving out the absent ones, values
/// percent-encoded (RFC 3986 unreserved characters kept).
pub fn query(pairs: &[(&str, Option<String>)]) -> String {
    pairs
        .iter()
        .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={}", encode(v))))
        .collect::<Vec<_>>()
        .join("&")
}

/// Percent-encodes `text` for a URL path segment or query value.
pub fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
