//! NDJSON (`application/x-ndjson`: one JSON value per line) and JSON (`application/json`: an
//! array of events, or one event, timeline or summary document) bodies.

use super::Parsed;
use playtrace_core::reject::LineError;
use playtrace_core::scan::json_error;
use serde_json::value::RawValue;

/// The body's format, from `Content-Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BodyFormat {
    /// One JSON value per line.
    Ndjson,
    /// One JSON document: an array of events, or one event/timeline/summary.
    Json,
}

/// Reads a decoded body.
pub(crate) fn parse_body(
    mut parsed: Parsed,
    body: &[u8],
    format: BodyFormat,
    max_line: u64,
) -> Parsed {
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
        "line is {len} bytes, over the {max}-byte limit (limits.max_line, or the game's max_line); split the event or \
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
        let p = parse_body(
            Parsed::default(),
            body.as_bytes(),
            BodyFormat::Ndjson,
            1 << 20,
        );
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
        let p = parse_body(Parsed::default(), body, BodyFormat::Json, 1 << 20);
        assert_eq!(p.events.len(), 2);
        let rejects: Vec<u32> = p.rejects.iter().map(|r| r.line).collect();
        assert_eq!(rejects, [2, 3]);
    }

    #[test]
    fn size_and_encoding_rejects() {
        let mut body = b"{\"event\":\"a\"}\n".to_vec();
        body.extend_from_slice(format!("{{\"event\":\"{}\"}}\n", "x".repeat(100)).as_bytes());
        body.extend_from_slice(b"{\"event\":\"\xff\"}\n");
        let p = parse_body(Parsed::default(), &body, BodyFormat::Ndjson, 64);
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
