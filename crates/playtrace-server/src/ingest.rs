//! Turning a request body into rows to store and observations to correlate.
//!
//! Every dialect of SPEC §2 goes through `playtrace-core`'s readers: single-event lines through
//! the line scanner (the monitor's fast path), whole documents (arrays, timelines, summaries)
//! through [`read_document`]. Each event keeps its text: the line as sent, or the normalised
//! envelope for an event expanded from a document. Lines that cannot be read become typed
//! rejects with their 1-based line (or array element) number.

use playtrace_core::dialect::read_document;
use playtrace_core::event::Event;
use playtrace_core::reject::{raw_text, LineError};
use playtrace_core::scan::{
    json_error, scan_line_with, BatchOptions, Envelope, LineScan, ObservationBatch,
};
use playtrace_store::{EventRow, RejectRow};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

/// Observations keep every string the live view shows.
pub const OBSERVE_ALL: BatchOptions = BatchOptions {
    keep_raw: true,
    keep_hub_room: true,
    keep_move_type: true,
};

/// A request body read into rows.
#[derive(Default)]
pub struct Parsed {
    /// Events to store, in request order.
    pub events: Vec<EventRow>,
    /// Rejected lines.
    pub rejects: Vec<RejectRow>,
    /// Contest observations; an observation's `line` is its event's index in `events`.
    pub observations: ObservationBatch,
}

/// The body's format, from `Content-Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFormat {
    /// One JSON value per line.
    Ndjson,
    /// One JSON document: an array of events, or one event/timeline/summary.
    Json,
}

impl Parsed {
    fn reject(&mut self, line: u32, error: LineError, raw: &[u8]) {
        self.rejects.push(RejectRow {
            line,
            kind: error.kind.as_str().to_string(),
            message: error.message,
            raw: raw_text(raw),
        });
    }

    fn push_scanned(
        &mut self,
        name: &str,
        time_ms: Option<f64>,
        envelope: Envelope<'_>,
        body: &str,
    ) -> u32 {
        let index = self.events.len() as u32;
        self.events.push(EventRow {
            game: envelope.game.map(|g| g.into_owned()).unwrap_or_default(),
            id: envelope.id.map(|i| i.into_owned()),
            name: name.to_string(),
            env: envelope.env.map(|e| e.into_owned()),
            session: envelope.session.map(|s| s.into_owned()),
            ts_ms: time_ms,
            body: body.to_string(),
        });
        index
    }

    fn push_event(&mut self, event: &Event) {
        let index = self.events.len() as u32;
        self.events.push(EventRow {
            game: event.game.clone().unwrap_or_default(),
            id: event.id.clone(),
            name: event.name.clone(),
            env: event.env.clone(),
            session: event.session.clone(),
            ts_ms: event.time_ms,
            body: envelope_json(event),
        });
        self.observations.push_event(index, event, OBSERVE_ALL);
    }

    /// Reads one JSON value (a line, or an array element) numbered `line`.
    pub fn push_text(&mut self, line: u32, text: &str) {
        let scanned = scan_line_with(text, |e| {
            let index = self.push_scanned(&e.name, e.time_ms, e.envelope, text);
            self.observations
                .observe(index, &e.name, e.time_ms, e.fields, OBSERVE_ALL);
        });
        match scanned {
            Ok(LineScan::Event(())) => self.observations.events += 1,
            Ok(LineScan::Document) => match serde_json::from_str::<Value>(text) {
                Ok(value) => {
                    for item in read_document(value) {
                        match item {
                            Ok(event) => self.push_event(&event),
                            Err(e) => self.reject(line, e, text.as_bytes()),
                        }
                    }
                }
                Err(e) => self.reject(line, json_error(e), text.as_bytes()),
            },
            Err(e) => self.reject(line, e, text.as_bytes()),
        }
    }
}

/// The event as a native envelope: what the store keeps for events expanded from a document.
pub fn envelope_json(event: &Event) -> String {
    let mut o = Map::new();
    o.insert("event".into(), Value::String(event.name.clone()));
    if let Some(ts) = event.time_ms {
        o.insert("ts".into(), serde_json::json!(playtrace_core::num::Num(ts)));
    }
    for (key, value) in [
        ("id", &event.id),
        ("game", &event.game),
        ("env", &event.env),
        ("session", &event.session),
    ] {
        if let Some(v) = value {
            o.insert(key.into(), Value::String(v.clone()));
        }
    }
    if let Some(level) = &event.level {
        o.insert("level".into(), Value::String(level.clone()));
    }
    o.insert("attrs".into(), Value::Object(event.attrs.clone()));
    Value::Object(o).to_string()
}

/// Reads a decoded body.
pub fn parse_body(body: &[u8], format: BodyFormat, max_line: u64) -> Parsed {
    let mut parsed = Parsed::default();
    match format {
        BodyFormat::Ndjson => parse_ndjson(&mut parsed, body, max_line),
        BodyFormat::Json => parse_json(&mut parsed, body, max_line),
    }
    parsed
}

fn parse_ndjson(parsed: &mut Parsed, body: &[u8], max_line: u64) {
    let mut rest = body;
    let mut line_no = 0u32;
    while !rest.is_empty() {
        let (line, next) = match memchr::memchr(b'\n', rest) {
            Some(i) => (&rest[..i], &rest[i + 1..]),
            None => (rest, &rest[rest.len()..]),
        };
        rest = next;
        line_no += 1;
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        if line.len() as u64 > max_line {
            parsed.reject(line_no, too_long(line.len(), max_line), line);
            continue;
        }
        match std::str::from_utf8(line) {
            Ok(text) => parsed.push_text(line_no, text),
            Err(e) => parsed.reject(line_no, not_utf8(e), line),
        }
    }
}

fn parse_json(parsed: &mut Parsed, body: &[u8], max_line: u64) {
    let text = match std::str::from_utf8(body) {
        Ok(text) => text,
        Err(e) => return parsed.reject(1, not_utf8(e), body),
    };
    if text.trim_start().starts_with('[') {
        match serde_json::from_str::<Vec<&RawValue>>(text) {
            Ok(items) => {
                for (i, item) in items.into_iter().enumerate() {
                    let element = (i + 1) as u32;
                    let raw = item.get();
                    if raw.len() as u64 > max_line {
                        parsed.reject(element, too_long(raw.len(), max_line), raw.as_bytes());
                    } else if raw.trim_start().starts_with('[') {
                        parsed.reject(
                            element,
                            LineError::schema("must be an event object, got an array"),
                            raw.as_bytes(),
                        );
                    } else {
                        parsed.push_text(element, raw);
                    }
                }
            }
            Err(e) => parsed.reject(1, json_error(e), body),
        }
    } else if body.len() as u64 > max_line {
        parsed.reject(1, too_long(body.len(), max_line), body);
    } else {
        parsed.push_text(1, text);
    }
}

fn too_long(len: usize, max: u64) -> LineError {
    LineError::size(format!(
        "line is {len} bytes, over the {max}-byte limit (limits.max_line); split the event or \
         raise limits.max_line"
    ))
}

fn not_utf8(e: std::str::Utf8Error) -> LineError {
    LineError::encoding(format!(
        "not UTF-8: invalid byte at column {}; send UTF-8 JSON",
        e.valid_up_to() + 1
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_dialect_becomes_rows() {
        let body = concat!(
            r#"{"event":"telemetry.contest.resolved","id":"e1","game":"gf","env":"prod","ts":5,"attrs":{"contestId":"c","resolutionDurationMs":10}}"#,
            "\n",
            r#"{"level":"info","message":"telemetry.contest.launched","contestId":"c","armingDurationMs":7}"#,
            "\n\n",
            r#"{"timeline":[{"type":"telemetry.hub.contestArmed","payload":{"hubId":"h","contestKey":"k"}}]}"#,
            "\n",
            r#"[{"event":"a"},{"event":"b","id":3}]"#,
            "\n",
            "{not json\n",
            r#"{"event":"x","attrs":{"participantCount":"two"}}"#,
        );
        let p = parse_body(body.as_bytes(), BodyFormat::Ndjson, 1 << 20);
        let names: Vec<&str> = p.events.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "telemetry.contest.resolved",
                "telemetry.contest.launched",
                "telemetry.contest.armed",
                "a",
                "b"
            ]
        );
        assert_eq!(p.events[0].game, "gf");
        assert_eq!(p.events[0].id.as_deref(), Some("e1"));
        assert_eq!(p.events[4].id.as_deref(), Some("3"));
        assert_eq!(p.events[0].ts_ms, Some(5.0));
        let rejects: Vec<(u32, &str)> = p
            .rejects
            .iter()
            .map(|r| (r.line, r.kind.as_str()))
            .collect();
        assert_eq!(rejects, [(6, "parse"), (7, "schema")]);
        // Observation indices point at events.
        let lines: Vec<u32> = p.observations.observations.iter().map(|o| o.line).collect();
        assert_eq!(lines, [0, 1, 2]);
    }

    #[test]
    fn json_arrays_number_their_elements() {
        let body = br#"[{"event":"a"}, 7, {"event":""}, {"event":"b"}]"#;
        let p = parse_body(body, BodyFormat::Json, 1 << 20);
        assert_eq!(p.events.len(), 2);
        let rejects: Vec<u32> = p.rejects.iter().map(|r| r.line).collect();
        assert_eq!(rejects, [2, 3]);
    }

    #[test]
    fn size_and_encoding_rejects() {
        let mut body = b"{\"event\":\"a\"}\n".to_vec();
        body.extend_from_slice(format!("{{\"event\":\"{}\"}}\n", "x".repeat(100)).as_bytes());
        body.extend_from_slice(b"{\"event\":\"\xff\"}\n");
        let p = parse_body(&body, BodyFormat::Ndjson, 64);
        assert_eq!(p.events.len(), 1);
        let kinds: Vec<(u32, &str)> = p
            .rejects
            .iter()
            .map(|r| (r.line, r.kind.as_str()))
            .collect();
        assert_eq!(kinds, [(2, "size"), (3, "encoding")]);
        assert!(p.rejects[0].message.contains("limits.max_line"));
    }
}
