//! OTLP/HTTP logs (`POST /v1/logs`, SPEC §2's OpenTelemetry dialect): an
//! `ExportLogsServiceRequest` as protobuf ([`proto`], read straight from the wire) or as
//! OTLP/JSON ([`json`], our own reader: generated serde support refuses what real exporters
//! write — numeric `intValue` from the JS SDK, string timestamps from the Collector). Both decode into [`Record`]s, which [`map`] turns into the same
//! envelope an NDJSON line becomes, so everything downstream treats them alike.
//!
//! A record that cannot be mapped is a reject (stored, counted in `partialSuccess`), numbered
//! by its 1-based position among all the request's log records; a body that cannot be decoded
//! at all is an error for the whole request (400).

mod attrs;
mod json;
mod map;
mod proto;

use super::Parsed;
use attrs::Attrs;
use serde_json::Value;

/// The body's encoding, from `Content-Type`; the answer uses the same.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OtlpFormat {
    /// `application/x-protobuf`.
    Protobuf,
    /// `application/json` (OTLP/JSON).
    Json,
}

impl OtlpFormat {
    /// The format a `Content-Type` value names, if it is one OTLP/HTTP allows.
    pub(crate) fn from_mime(content_type: &str) -> Option<OtlpFormat> {
        let mime = content_type.split(';').next().unwrap_or("").trim();
        if mime.eq_ignore_ascii_case("application/x-protobuf")
            || mime.eq_ignore_ascii_case("application/protobuf")
        {
            Some(OtlpFormat::Protobuf)
        } else if mime.eq_ignore_ascii_case("application/json") {
            Some(OtlpFormat::Json)
        } else {
            None
        }
    }

    /// The `Content-Type` of the answer.
    pub(crate) fn mime(self) -> &'static str {
        match self {
            OtlpFormat::Protobuf => "application/x-protobuf",
            OtlpFormat::Json => "application/json",
        }
    }
}

/// How records map to events (`[otlp]` in the config).
#[derive(Debug, Clone, Copy)]
pub(crate) struct MapOptions<'a> {
    /// The resource attribute naming the game (`otlp.game_attribute`, default `service.name`).
    pub(crate) game_attribute: &'a str,
}

/// A body that is not an `ExportLogsServiceRequest` at all.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct DecodeError(pub(crate) String);

/// Values taken from a resource's attributes, shared by its records.
#[derive(Debug, Default, Clone)]
pub(crate) struct ResourceScope {
    game: Option<String>,
    env: Option<String>,
    session: Option<String>,
}

impl ResourceScope {
    fn from_attrs(attrs: &Attrs, opts: MapOptions<'_>) -> ResourceScope {
        let text = |key: &str| match attrs.get(key) {
            Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
            _ => None,
        };
        ResourceScope {
            game: text(opts.game_attribute),
            env: text("deployment.environment.name").or_else(|| text("deployment.environment")),
            session: text("session.id"),
        }
    }
}

/// One log record, decoded from either encoding; attributes and body already as JSON.
#[derive(Debug, Default)]
pub(crate) struct Record {
    time_unix_nano: u64,
    observed_time_unix_nano: u64,
    severity_number: i32,
    severity_text: String,
    body: Option<Value>,
    attrs: Attrs,
    /// Lowercase hex; empty when absent.
    trace_id: String,
    /// Lowercase hex; empty when absent.
    span_id: String,
    event_name: String,
}

/// Where a decoder hands each record, with its resource's scope: the record, or why it could
/// not be read and its raw JSON.
pub(crate) type Sink<'a> = dyn FnMut(&ResourceScope, Result<Record, (String, Value)>) + 'a;

/// Reads an OTLP/HTTP logs body into `parsed`.
pub(crate) fn parse_logs(
    mut parsed: Parsed,
    body: &[u8],
    format: OtlpFormat,
    opts: MapOptions<'_>,
) -> Result<Parsed, DecodeError> {
    let mut next_line = 0u32;
    let mut sink = |scope: &ResourceScope, record: Result<Record, (String, Value)>| {
        next_line += 1;
        match record {
            Ok(record) => map::push(&mut parsed, next_line, scope, record),
            Err((message, raw)) => parsed.reject(
                next_line,
                playtrace_core::reject::LineError::schema(message),
                raw.to_string().as_bytes(),
            ),
        }
    };
    match format {
        OtlpFormat::Protobuf => proto::decode(body, opts, &mut sink)?,
        OtlpFormat::Json => json::decode(body, opts, &mut sink)?,
    }
    Ok(parsed)
}

/// The `ExportLogsServiceResponse` for a request with `rejected` unreadable records
/// (`partialSuccess` only when there are some), encoded as the request was.
pub(crate) fn response(
    format: OtlpFormat,
    rejected: usize,
    first_message: Option<&str>,
) -> Vec<u8> {
    let partial = (rejected > 0).then(|| {
        let more = if rejected > 1 {
            format!(" (and {} more)", rejected - 1)
        } else {
            String::new()
        };
        format!(
            "{}{more}; the records are kept as rejects: GET /v1/rejects",
            first_message.unwrap_or("rejected")
        )
    });
    match format {
        OtlpFormat::Protobuf => {
            proto::encode_response(partial.as_deref().map(|m| (rejected as i64, m)))
        }
        OtlpFormat::Json => {
            let v = match partial {
                // int64 as a string, as the protobuf JSON mapping writes it.
                Some(message) => serde_json::json!({"partialSuccess": {
                    "rejectedLogRecords": rejected.to_string(),
                    "errorMessage": message,
                }}),
                None => serde_json::json!({}),
            };
            v.to_string().into_bytes()
        }
    }
}

/// Lowercase hex of an id, empty for an absent or all-zero (invalid, per the spec) one.
fn hex_id(bytes: &[u8]) -> String {
    if bytes.iter().all(|b| *b == 0) {
        return String::new();
    }
    crate::hex::encode(bytes)
}

#[cfg(test)]
mod tests;
