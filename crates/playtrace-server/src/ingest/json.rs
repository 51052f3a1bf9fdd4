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

/// Bodies from this size on may be read in parts on several threads (NDJSON only).
const PARTS_FROM_BYTES: usize = 128 << 10;

/// The least a part gets: a smaller one costs more in hand-offs than it saves.
const PART_MIN_BYTES: usize = 64 << 10;

/// Parts of one body at most when `http.parse_threads` is 0 (sized from the cores); a set
/// value may ask for more (`config::http::MAX_PARSE_THREADS`).
const MAX_PARTS: usize = 8;

/// The threads a large NDJSON body is read on when `http.parse_threads` is 0: half the cores,
/// [`MAX_PARTS`] at most, so one thread (the whole body on one) below 4 cores. A 1,000-line
/// request is then read in ~4 ms instead of ~12 on a many-core machine, where the collector's
/// clients otherwise wait for one thread per request while most cores are idle.
pub(crate) fn auto_parse_threads(cores: usize) -> usize {
    (cores / 2).clamp(1, MAX_PARTS)
}

/// How many parts an NDJSON body of `len` bytes is read in with up to `threads` threads: one
/// below [`PARTS_FROM_BYTES`]; else as many as `threads`, [`PART_MIN_BYTES`] at least each.
pub(crate) fn ndjson_part_count(len: usize, threads: usize) -> usize {
    if len < PARTS_FROM_BYTES {
        return 1;
    }
    threads.min(len / PART_MIN_BYTES).max(1)
}

/// `body` cut into `parts` runs of whole lines: each run's byte range and the number of lines
/// before it (its first line's number less one).
pub(crate) fn ndjson_parts(body: &[u8], parts: usize) -> Vec<(std::ops::Range<usize>, u32)> {
    let mut out = Vec::with_capacity(parts.max(1));
    let (mut start, mut lines) = (0usize, 0u32);
    for i in 1..=parts.max(1) {
        let end = if i >= parts {
            body.len()
        } else {
            let aim = (body.len() * i / parts).max(start);
            memchr::memchr(b'\n', &body[aim..]).map_or(body.len(), |at| aim + at + 1)
        };
        if end > start || out.is_empty() {
            out.push((start..end, lines));
            lines += memchr::memchr_iter(b'\n', &body[start..end]).count() as u32;
            start = end;
        }
        if start == body.len() {
            break;
        }
    }
    out
}

/// Reads one run of an NDJSON body ([`ndjson_parts`]) whose first line is number
/// `lines_before + 1`; [`Parsed::append`] puts the runs back together in order.
pub(crate) fn parse_ndjson_part(
    mut parsed: Parsed,
    run: &[u8],
    lines_before: u32,
    max_line: u64,
) -> Parsed {
    parse_ndjson_from(&mut parsed, run, max_line, lines_before);
    parsed
}

fn parse_ndjson(parsed: &mut Parsed, body: &[u8], max_line: u64) {
    parse_ndjson_from(parsed, body, max_line, 0);
}

fn parse_ndjson_from(parsed: &mut Parsed, body: &[u8], max_line: u64, lines_before: u32) {
    let mut rest = body;
    let mut line_no = lines_before;
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

    /// A body read in parts and put back together equals the body read in one: events,
    /// rejects with their line numbers, and observations pointing at their events.
    #[test]
    fn a_body_read_in_parts_equals_the_body_read_whole() {
        let pool: [&[u8]; 12] = [
            br#"{"event":"telemetry.contest.resolved","id":"e1","game":"gf","ts":5,"attrs":{"contestId":"c1","resolutionDurationMs":10,"mode":"duel"}}"#,
            br#"{"level":"info","message":"telemetry.contest.launched","contestId":"c2","armingDurationMs":7,"mode":"ranked"}"#,
            b"",
            b"   \r",
            br#"{"timeline":[{"type":"telemetry.hub.contestArmed","payload":{"hubId":"h","contestKey":"k"}}]}"#,
            br#"[{"event":"a"},{"event":"b","id":3}]"#,
            b"{not json",
            br#"{"event":"x","attrs":{"participantCount":"two"}}"#,
            b"{\"event\":\"\xff\"}",
            br#"{"event":"telemetry.contest.sentiment","attrs":{"contestId":"c1","sentiment":"gg"}}"#,
            br#"{"event":"chat.message","attrs":{"text":"a line longer than the limit of this test's bodies, which is 160 bytes, so that it is rejected for its size and not read at all"}}"#,
            br#"{"event":"telemetry.contest.expired","id":"e9","attrs":{"contestId":"c3","mode":"duel"}}"#,
        ];
        let template = || {
            let mut p = Parsed::default();
            p.observations.set_dim_attrs(vec!["mode".into()]);
            p
        };
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        for round in 0..40 {
            let mut body = Vec::new();
            for _ in 0..(20 + round * 7) {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                body.extend_from_slice(pool[(seed % pool.len() as u64) as usize]);
                body.extend_from_slice(if seed % 5 == 0 { b"\r\n" } else { b"\n" });
            }
            if round % 2 == 1 {
                body.pop(); // a last line without its newline
            }
            let whole = parse_body(template(), &body, BodyFormat::Ndjson, 160);
            assert!(!whole.rejects.is_empty() && !whole.observations.observations.is_empty());
            for parts in 2..=7 {
                let runs = ndjson_parts(&body, parts);
                assert_eq!(runs.last().map(|r| r.0.end), Some(body.len()));
                let base = template();
                let mut joined = template();
                for (range, before) in runs {
                    joined.append(parse_ndjson_part(base.sibling(), &body[range], before, 160));
                }
                let context = format!("round {round}, {parts} parts");
                assert_eq!(joined.events, whole.events, "{context}");
                assert_eq!(joined.rejects, whole.rejects, "{context}");
                let printed = |p: &Parsed| {
                    let o = &p.observations;
                    let dims: Vec<_> = (o.observations.iter())
                        .map(|x| o.text(x.attrs[0]).map(str::to_string))
                        .collect();
                    format!(
                        "{:?} {:?} {:?} {}",
                        o.observations, o.sentiments, dims, o.events
                    )
                };
                assert_eq!(printed(&joined), printed(&whole), "{context}");
            }
        }
    }

    #[test]
    fn bodies_are_read_in_parts_only_where_cores_and_size_allow() {
        let auto = |len, cores| ndjson_part_count(len, auto_parse_threads(cores));
        assert_eq!(auto(1 << 20, 2), 1, "a 2-core machine reads in one");
        assert_eq!(auto(1 << 20, 3), 1);
        assert_eq!(auto(100 << 10, 16), 1, "a small body in one");
        assert_eq!(auto(300 << 10, 16), 4, "~1,000 lines on 16 cores");
        assert_eq!(auto(300 << 10, 4), 2);
        assert_eq!(auto(64 << 20, 64), MAX_PARTS);
        // `http.parse_threads` set: as many as it says, 64 KiB at least each.
        assert_eq!(ndjson_part_count(1 << 20, 4), 4);
        assert_eq!(ndjson_part_count(1 << 20, 1), 1);
        assert_eq!(ndjson_part_count(64 << 20, 32), 32);
        assert_eq!(ndjson_part_count(200 << 10, 32), 3);
        // A body with no newline to cut at is one run.
        assert_eq!(ndjson_parts(&[b'x'; 1000], 4), vec![(0..1000, 0)]);
        assert_eq!(ndjson_parts(b"", 3), vec![(0..0, 0)]);
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
