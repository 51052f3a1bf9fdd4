//! One OTLP log record → one event (the table in docs/API.md, "OTLP/HTTP logs"):
//!
//! - name: the record's `eventName`, else its `event.name` attribute, else its body when that is
//!   a string; without one the record is a `schema` reject;
//! - `game`: the resource's `service.name` (`otlp.game_attribute`); `env`: the resource's
//!   `deployment.environment.name` (or the older `deployment.environment`); `session`: the
//!   record's, else the resource's, `session.id`;
//! - time: `timeUnixNano`, else `observedTimeUnixNano`; id: the `log.record.uid` attribute, so a
//!   retried export is stored once;
//! - attrs: the record's attributes as JSON, less the three mapped above; a non-string body is
//!   kept as attrs `body`; `severityText` (or the name of the `severityNumber` range),
//!   `severityNumber`, `traceId` and `spanId` are kept beside the envelope.
//!
//! The envelope is then read exactly as a native NDJSON line with the same text.

use super::attrs::write_value;
use super::{Record, ResourceScope};
use crate::ingest::Parsed;
use playtrace_core::num::Num;
use playtrace_core::reject::LineError;
use serde_json::Value;

/// Maps `record` and pushes the event (or its reject) as record number `line`.
///
/// The envelope is written straight to JSON text (no map per record) and then read by the same
/// path an NDJSON line takes, so an OTLP event is validated, stored and observed exactly as the
/// line with the same text would be.
pub(super) fn push(parsed: &mut Parsed, line: u32, scope: &ResourceScope, mut record: Record) {
    let (body, named) = envelope(scope, &mut record);
    let Ok(body) = String::from_utf8(body) else {
        // serde_json writes UTF-8 only; kept as a reject rather than trusted blindly.
        return parsed.reject(line, LineError::schema("the record is not UTF-8"), &[]);
    };
    if !named {
        let error = LineError::schema(
            "the log record has no event name: set its eventName, an `event.name` attribute, or \
             a string body",
        );
        return parsed.reject(line, error, body.as_bytes());
    }
    parsed.push_text(line, &body);
}

/// The envelope as compact JSON with its keys in sorted order (as a JSON map writes them), and
/// whether it has an event name.
fn envelope(scope: &ResourceScope, r: &mut Record) -> (Vec<u8>, bool) {
    let name_attr = match r.attrs.remove("event.name") {
        Some(Value::String(s)) if !s.is_empty() => Some(s),
        _ => None,
    };
    let id = match r.attrs.remove("log.record.uid") {
        Some(Value::String(s)) if !s.is_empty() => Some(s),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    };
    let session = match r.attrs.remove("session.id") {
        Some(Value::String(s)) if !s.is_empty() => Some(s),
        _ => scope.session.clone(),
    };
    let body = r.body.take();
    let name = Some(std::mem::take(&mut r.event_name))
        .filter(|n| !n.is_empty())
        .or(name_attr)
        .or_else(|| match &body {
            Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
            _ => None,
        });
    let nanos = Some(r.time_unix_nano)
        .filter(|n| *n > 0)
        .or(Some(r.observed_time_unix_nano).filter(|n| *n > 0));
    let mut attrs = std::mem::take(&mut r.attrs);
    if let Some(body) = body.filter(|b| !matches!(b, Value::String(_) | Value::Null)) {
        attrs.insert_if_absent("body", body);
    }
    let level = severity_text(r);
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(b"{\"attrs\":");
    attrs.write_json(&mut out);
    let mut field = |key: &str, value: &dyn erased::Json| {
        out.push(b',');
        write_value(&mut out, key);
        out.push(b':');
        value.write(&mut out);
    };
    // Sorted: attrs, env, event, game, id, session, severityNumber, severityText, spanId,
    // traceId, ts.
    if let Some(env) = &scope.env {
        field("env", env);
    }
    if let Some(name) = &name {
        field("event", name);
    }
    if let Some(game) = &scope.game {
        field("game", game);
    }
    if let Some(id) = &id {
        field("id", id);
    }
    if let Some(session) = &session {
        field("session", session);
    }
    if r.severity_number != 0 {
        field("severityNumber", &r.severity_number);
    }
    if let Some(level) = &level {
        field("severityText", level);
    }
    if !r.span_id.is_empty() {
        field("spanId", &r.span_id);
    }
    if !r.trace_id.is_empty() {
        field("traceId", &r.trace_id);
    }
    if let Some(ns) = nanos {
        let ms = (ns / 1_000_000) as f64 + (ns % 1_000_000) as f64 / 1e6;
        field("ts", &Num(ms));
    }
    out.push(b'}');
    (out, name.is_some())
}

/// Values [`envelope`] writes, behind one object-safe method.
mod erased {
    pub(super) trait Json {
        fn write(&self, out: &mut Vec<u8>);
    }

    impl<T: serde::Serialize> Json for T {
        fn write(&self, out: &mut Vec<u8>) {
            super::write_value(out, self);
        }
    }
}

/// The record's level: its `severityText`, else the name of its `severityNumber` range.
fn severity_text(r: &Record) -> Option<String> {
    if !r.severity_text.is_empty() {
        return Some(r.severity_text.clone());
    }
    let name = match r.severity_number {
        1..=4 => "trace",
        5..=8 => "debug",
        9..=12 => "info",
        13..=16 => "warn",
        17..=20 => "error",
        21..=24 => "fatal",
        _ => return None,
    };
    Some(name.into())
}
