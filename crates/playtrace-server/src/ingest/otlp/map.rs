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
//! The envelope then goes through the same validation as a native NDJSON event.

use super::{Record, ResourceScope};
use crate::ingest::Parsed;
use playtrace_core::event::Event;
use playtrace_core::reject::LineError;
use serde_json::{Map, Value};

/// Maps `record` and pushes the event (or its reject) as record number `line`.
pub(super) fn push(parsed: &mut Parsed, line: u32, scope: &ResourceScope, mut record: Record) {
    let envelope = envelope(scope, &mut record);
    // The stored body is the envelope as JSON; serialised from the map before it is handed
    // to the validation (which takes it by value), so the record is never deep-copied.
    let body = serde_json::to_string(&envelope).unwrap_or_default();
    if !envelope.contains_key("event") {
        let error = LineError::schema(
            "the log record has no event name: set its eventName, an `event.name` attribute, or \
             a string body",
        );
        return parsed.reject(line, error, body.as_bytes());
    }
    match Event::from_object(envelope) {
        Ok(mut event) => {
            event.level = severity_text(&record);
            parsed.push_decoded(line, &event, body);
        }
        Err(e) => parsed.reject(line, e, body.as_bytes()),
    }
}

fn envelope(scope: &ResourceScope, r: &mut Record) -> Map<String, Value> {
    let name_attr = match r.attrs.remove("event.name") {
        Some(Value::String(s)) if !s.is_empty() => Some(s),
        _ => None,
    };
    let id = match r.attrs.remove("log.record.uid") {
        Some(Value::String(s)) if !s.is_empty() => Some(Value::String(s)),
        Some(n @ Value::Number(_)) => Some(Value::String(n.to_string())),
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
    let mut o = Map::new();
    if let Some(name) = name {
        o.insert("event".into(), Value::String(name));
    }
    let nanos = Some(r.time_unix_nano)
        .filter(|n| *n > 0)
        .or(Some(r.observed_time_unix_nano).filter(|n| *n > 0));
    if let Some(ns) = nanos {
        let ms = (ns / 1_000_000) as f64 + (ns % 1_000_000) as f64 / 1e6;
        o.insert("ts".into(), serde_json::json!(playtrace_core::num::Num(ms)));
    }
    if let Some(id) = id {
        o.insert("id".into(), id);
    }
    for (key, value) in [
        ("game", &scope.game),
        ("env", &scope.env),
        ("session", &session),
    ] {
        if let Some(v) = value {
            o.insert(key.into(), Value::String(v.clone()));
        }
    }
    if r.severity_number != 0 {
        o.insert("severityNumber".into(), Value::from(r.severity_number));
    }
    if let Some(level) = severity_text(r) {
        o.insert("severityText".into(), Value::String(level));
    }
    if !r.trace_id.is_empty() {
        o.insert(
            "traceId".into(),
            Value::String(std::mem::take(&mut r.trace_id)),
        );
    }
    if !r.span_id.is_empty() {
        o.insert(
            "spanId".into(),
            Value::String(std::mem::take(&mut r.span_id)),
        );
    }
    let mut attrs = std::mem::take(&mut r.attrs);
    if let Some(body) = body.filter(|b| !matches!(b, Value::String(_) | Value::Null)) {
        attrs.entry("body").or_insert(body);
    }
    o.insert("attrs".into(), Value::Object(attrs));
    o
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
