use super::line::scan_line_serde;
use super::slots::Top;
use super::*;
use crate::event::Event;
use crate::fields::Scalar;
use crate::reject::{LineError, RejectKind};
use proptest::prelude::*;
use serde_json::Value;

fn event(line: &str) -> ScannedEvent<'_> {
    match scan_line(line) {
        Ok(LineScan::Event(e)) => e,
        other => panic!("expected an event from {line}, got {other:?}"),
    }
}

#[test]
fn reads_the_fixture_structured_line() {
    let line = r#"{"level":"info","message":"telemetry.contest.launched","hubId":"hub-moderation","roomId":"room-contest-a","contestId":"contest-alpha","contestKey":"verb.sparringMatch:alpha::beta","participantCount":2,"participantCapacity":2,"armingDurationMs":420,"label":"Sparring Match","move":"sparring-match","type":"pvp"}"#;
    let e = event(line);
    assert_eq!(e.name, "telemetry.contest.launched");
    assert_eq!(e.time_ms, None);
    assert_eq!(e.fields.contest_id.as_deref(), Some("contest-alpha"));
    assert_eq!(e.fields.arming_ms, Some(420.0));
    assert_eq!(e.fields.participant_capacity, Some(2));
    assert_eq!(e.fields.move_.as_deref(), Some("sparring-match"));
}

#[test]
fn reads_native_envelopes_from_attrs_only() {
    let e = event(
        r#"{"attrs":{"contestId":"c\"1"},"event":"telemetry.contest.resolved","ts":"1970-01-01T00:00:02Z","contestId":"ignored","hubId":7}"#,
    );
    assert_eq!(e.name, "telemetry.contest.resolved");
    assert_eq!(e.time_ms, Some(2000.0));
    assert_eq!(e.fields.contest_id.as_deref(), Some("c\"1"));
}

#[test]
fn classifies_bad_lines() {
    let kind = |line: &str| scan_line(line).unwrap_err().kind;
    assert_eq!(kind(r#"{"message":"x","#), RejectKind::Parse);
    assert_eq!(kind("Segmentation fault (core dumped)"), RejectKind::Parse);
    assert_eq!(kind(r#"{"message":"x"} trailing"#), RejectKind::Parse);
    assert_eq!(kind(r#"{"message":"x","a":1,}"#), RejectKind::Parse);
    assert_eq!(kind("42"), RejectKind::Schema);
    assert_eq!(kind(r#"{"level":"info"}"#), RejectKind::Schema);
    assert_eq!(
        kind(r#"{"message":"x","armingDurationMs":"9"}"#),
        RejectKind::Schema
    );
    // A type error followed by a syntax error is a parse error, as for any JSON reader.
    assert_eq!(
        kind(r#"{"message":"x","armingDurationMs":"9","b":}"#),
        RejectKind::Parse
    );
}

#[test]
fn parse_errors_give_the_column() {
    let err = scan_line(r#"{"message":"x",}"#).unwrap_err();
    assert_eq!(err.message, "invalid JSON: trailing comma at column 16");
}

#[test]
fn documents_are_handed_to_the_document_reader() {
    assert_eq!(scan_line(r#"[{"message":"a"}]"#), Ok(LineScan::Document));
    assert_eq!(scan_line(r#"{"timeline":[]}"#), Ok(LineScan::Document));
    // An event that merely has a `raw` attribute is still an event.
    assert!(matches!(
        scan_line(r#"{"message":"a","raw":1}"#),
        Ok(LineScan::Event(_))
    ));
}

#[test]
fn batches_number_lines_and_keep_rejects() {
    let block = b"{\"message\":\"telemetry.contest.launched\",\"contestId\":\"a\"}\n\n  \n{bad\r\n\xff\xfe\n{\"message\":\"chat\"}";
    let mut batch = ObservationBatch::default();
    batch.push_lines(block, BatchOptions::default());
    assert_eq!(batch.lines, 6);
    assert_eq!(batch.events, 2);
    assert_eq!(
        batch.observations.len(),
        1,
        "chat events are counted, not observed"
    );
    assert_eq!(batch.observations[0].contest(), Some(contest_key("a")));
    let rejects: Vec<_> = batch
        .rejects
        .iter()
        .map(|r| (r.line, r.kind, r.raw.as_str()))
        .collect();
    assert_eq!(
        rejects,
        [
            (3, RejectKind::Parse, "{bad"),
            (4, RejectKind::Encoding, "\u{FFFD}\u{FFFD}")
        ]
    );
}

#[test]
fn batches_keep_only_the_strings_asked_for() {
    let line = r#"{"message":"telemetry.contest.resolved","contestId":"c","hubId":"h","move":"m","outcomeTier":"win"}"#;
    let mut lean = ObservationBatch::default();
    lean.push_line(0, line, BatchOptions::default());
    let o = &lean.observations[0];
    assert_eq!(
        (lean.text(o.hub), lean.text(o.move_), lean.text(o.outcome)),
        (None, None, None)
    );
    let mut full = ObservationBatch::default();
    full.push_line(
        0,
        line,
        BatchOptions {
            keep_raw: true,
            keep_hub_room: true,
            keep_move_type: true,
        },
    );
    let o = &full.observations[0];
    assert_eq!(
        (
            full.text(o.hub),
            full.text(o.move_),
            full.text(o.outcome),
            full.text(o.contest_id)
        ),
        (Some("h"), Some("m"), Some("win"), Some("c"))
    );
}

#[test]
fn arming_keys_match_across_armed_and_launched() {
    let mut batch = ObservationBatch::default();
    batch.push_line(
        0,
        r#"{"message":"telemetry.contest.armed","hubId":"h","roomId":"r","contestKey":"k"}"#,
        BatchOptions::default(),
    );
    batch.push_line(1, r#"{"message":"telemetry.contest.launched","hubId":"h","roomId":"r","contestKey":"k","contestId":"c"}"#, BatchOptions::default());
    batch.push_line(2, r#"{"message":"telemetry.contest.launched","hubId":"h","roomId":"r2","contestKey":"k","contestId":"d"}"#, BatchOptions::default());
    let keys: Vec<_> = batch.observations.iter().map(|o| o.arming_key()).collect();
    assert_eq!(keys[0], keys[1]);
    assert_ne!(keys[0], keys[2]);
}

// ---------------------------------------------------------------------------------------------
// The fast scanner and the generic envelope must agree on every line.

fn json_value() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("null".to_string()),
        Just("true".to_string()),
        (-5i64..5000).prop_map(|n| n.to_string()),
        Just("2.5".to_string()),
        Just("1e3".to_string()),
        Just("\"\"".to_string()),
        "[a-z]{1,6}".prop_map(|s| format!("\"{s}\"")),
        Just("\"esc\\\"aped\\n\\u00e9\"".to_string()),
        Just("\"2025-11-05T04:53:28.025Z\"".to_string()),
        Just("[1,{\"a\":2}]".to_string()),
        Just("{\"tier\":\"x\"}".to_string()),
    ]
}

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("hubId"),
        Just("roomId"),
        Just("contestId"),
        Just("contestKey"),
        Just("move"),
        Just("type"),
        Just("outcomeTier"),
        Just("participantCount"),
        Just("participantCapacity"),
        Just("armingDurationMs"),
        Just("resolutionDurationMs"),
        Just("createdAt"),
        Just("startedAt"),
        Just("resolvedAt"),
        Just("expiredAt"),
        Just("issuedAt"),
        Just("sentiment"),
        Just("remainingCooldownMs"),
        Just("other"),
        Just("nested"),
    ]
    .prop_map(str::to_string)
}

fn name_value() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("\"telemetry.contest.armed\""),
        Just("\"telemetry.contest.resolved\""),
        Just("\"telemetry.hub.contestLaunched\""),
        Just("\"chat.message\""),
        Just("\"\""),
        Just("3"),
        Just("null"),
    ]
    .prop_map(str::to_string)
}

fn object(pairs: &[(String, String)]) -> String {
    let body: Vec<String> = pairs.iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
    format!("{{{}}}", body.join(","))
}

fn unique(pairs: Vec<(String, String)>) -> Vec<(String, String)> {
    let mut seen = std::collections::HashSet::new();
    pairs
        .into_iter()
        .filter(|(k, _)| seen.insert(k.clone()))
        .collect()
}

fn line() -> impl Strategy<Value = String> {
    let attrs = || prop::collection::vec((key(), json_value()), 0..8).prop_map(unique);
    let structured = (name_value(), prop::option::of(json_value()), attrs()).prop_map(
        |(name, ts, mut attrs)| {
            attrs.retain(|(k, _)| k != "message" && k != "timestamp");
            attrs.insert(0, ("message".into(), name));
            if let Some(ts) = ts {
                attrs.push(("timestamp".into(), ts));
            }
            object(&attrs)
        },
    );
    let native = (
        name_value(),
        prop::option::of(json_value()),
        prop::option::of(json_value()),
        attrs(),
        key(),
        json_value(),
    )
        .prop_map(|(name, ts, id, attrs, top_key, top_value)| {
            let mut pairs = vec![("event".to_string(), name)];
            if let Some(ts) = ts {
                pairs.push(("ts".into(), ts));
            }
            if let Some(id) = id {
                pairs.push(("id".into(), id));
            }
            pairs.push((top_key, top_value));
            pairs.push(("attrs".into(), object(&attrs)));
            object(&unique(pairs))
        });
    prop_oneof![structured, native]
}

proptest! {
    #[test]
    fn scanner_agrees_with_the_envelope(line in line()) {
        let fast = scan_line(&line);
        let value: Value = serde_json::from_str(&line).unwrap();
        let Value::Object(object) = value else { unreachable!() };
        let slow = Event::from_object(object);
        match (fast, slow) {
            (Ok(LineScan::Event(fast)), Ok(slow)) => {
                prop_assert_eq!(fast.name.as_ref(), slow.name.as_str());
                prop_assert_eq!(fast.time_ms, slow.time_ms);
                prop_assert_eq!(fast.fields, slow.contest_fields().unwrap());
            }
            (Err(fast), Err(slow)) => {
                prop_assert_eq!(fast, slow);
            }
            (fast, slow) => prop_assert!(false, "disagree on {}: {:?} vs {:?}", line, fast, slow),
        }
    }

    #[test]
    fn scanner_never_panics_on_arbitrary_text(text in "\\PC{0,80}") {
        let _ = scan_line(&text);
    }
}

// ---------------------------------------------------------------------------------------------
// The fast reader against serde_json: it may step aside on any line, but when it accepts one,
// serde_json must accept it too and read the same values.

fn serde_only(line: &str) -> Result<LineScan<ScannedEvent<'_>>, LineError> {
    scan_line_serde(line, |e| ScannedEvent {
        name: e.name,
        time_ms: e.time_ms,
        fields: e.fields.clone(),
    })
}

fn fast_accepts(line: &str) -> bool {
    let mut top = Top::default();
    fast::read_line(line, &mut top, &mut members::NoMembers).is_some()
}

/// The members the fast reader hands over are the event's attrs as `Event::from_object` reads
/// them: the same keys (the last of a repeated one), each value's text parsing to the attr's
/// value, and each value read as serde_json reads it.
fn members_are_the_attrs(line: &str) -> Result<(), TestCaseError> {
    let mut members = Members::default();
    let mut attrs: Option<serde_json::Map<String, Value>> = None;
    let scanned = scan_line_members(line, Some(&mut members), |_, m| {
        attrs = m.map(|m| {
            m.attrs()
                .map(|a| {
                    let value: Value = serde_json::from_str(a.raw).expect("a member's text");
                    let same = match (&a.value, &value) {
                        (Scalar::Null, Value::Null) => true,
                        (Scalar::Bool(x), Value::Bool(y)) => x == y,
                        (Scalar::Number(x), Value::Number(y)) => Some(*x) == y.as_f64(),
                        (Scalar::Str(x), Value::String(y)) => x == y,
                        (Scalar::Array, Value::Array(_)) | (Scalar::Object, Value::Object(_)) => {
                            true
                        }
                        _ => false,
                    };
                    assert!(same, "{:?} read as {:?} in {line}", a.raw, a.value);
                    (a.key.to_string(), value)
                })
                .collect()
        });
    });
    if let (Ok(LineScan::Event(())), Some(attrs)) = (scanned, attrs) {
        let Ok(Value::Object(object)) = serde_json::from_str::<Value>(line) else {
            return Err(TestCaseError::fail(format!("not an object: {line}")));
        };
        let event = Event::from_object(object).expect("core read one event");
        prop_assert_eq!(attrs, event.attrs, "line: {:?}", line);
    }
    Ok(())
}

fn check_against_serde(line: &str) -> Result<(), TestCaseError> {
    if fast_accepts(line) {
        prop_assert!(
            serde_json::from_str::<Value>(line).is_ok(),
            "fast reader accepted what serde_json rejects: {:?}",
            line
        );
    }
    prop_assert_eq!(scan_line(line), serde_only(line), "line: {:?}", line);
    members_are_the_attrs(line)
}

fn any_json() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        Just("null".to_string()),
        Just("true".to_string()),
        Just("false".to_string()),
        any::<i64>().prop_map(|n| n.to_string()),
        any::<u64>().prop_map(|n| n.to_string()),
        Just("123456789012345678901234567890".to_string()),
        Just("-0".to_string()),
        Just("-0.0".to_string()),
        Just("1e308".to_string()),
        Just("1e309".to_string()),
        Just("2.5e-3".to_string()),
        Just("0.1".to_string()),
        Just("9007199254740993".to_string()),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| format!("{f:e}")),
        "[a-zA-Z0-9 ]{0,12}".prop_map(|s| format!("\"{s}\"")),
        Just(r#""\ud83d\ude00 pair""#.to_string()),
        Just(r#""\ud83d lone""#.to_string()),
        Just(r#""\u00e9\t\n\\\/\"\b\f\r""#.to_string()),
        Just("\"é ü 日本\"".to_string()),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(|v| format!("[{}]", v.join(","))),
            prop::collection::vec(("[a-z]{1,6}", inner), 0..4).prop_map(|kv| {
                let body: Vec<String> = kv.iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
                format!("{{{}}}", body.join(","))
            }),
        ]
    })
}

/// Byte-level damage to a valid line: what truncated writes and binary noise look like.
fn mutated(line: String, edits: Vec<(usize, u8, u8)>) -> String {
    const NOISE: &[u8] = b"{}[]\":,\\ 0123456789eE+-.tfnu\t\n\x01xZ";
    let mut bytes = line.into_bytes();
    for (at, op, pick) in edits {
        if bytes.is_empty() {
            break;
        }
        let at = at % bytes.len();
        let c = NOISE[usize::from(pick) % NOISE.len()];
        match op % 3 {
            0 => {
                bytes.remove(at);
            }
            1 => bytes.insert(at, c),
            _ => bytes[at] = c,
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn fast_reader_agrees_with_serde_on_events(line in line()) {
        check_against_serde(&line)?;
    }

    #[test]
    fn fast_reader_agrees_with_serde_on_any_json(
        value in any_json(),
        ws in prop::sample::select(vec!["", " ", "\t", "\r", "  \n "]),
    ) {
        let line = format!("{{\"message\":\"telemetry.contest.armed\",{ws}\"x\"{ws}:{ws}{value}{ws},\"hubId\":\"h\"}}");
        check_against_serde(&line)?;
        check_against_serde(&value)?;
        let native = format!("{{\"event\":\"e\",\"attrs\":{value}}}");
        check_against_serde(&native)?;
    }

    #[test]
    fn fast_reader_agrees_with_serde_on_damaged_lines(
        line in line(),
        edits in prop::collection::vec((any::<usize>(), any::<u8>(), any::<u8>()), 1..4),
    ) {
        check_against_serde(&mutated(line, edits))?;
    }
}

#[test]
fn fast_reader_steps_aside_on_what_it_does_not_vouch_for() {
    for line in [
        "{\"message\":\"x\",\"s\":\"raw\u{1}control\"}",
        "{\"message\":\"x\",\"s\":\"tab\tinside\"}",
        r#"{"message":"x","s":"\ud800"}"#,
        r#"{"message":"x","n":01}"#,
        r#"{"message":"x","n":1.}"#,
        r#"{"message":"x","n":123456789012345678901}"#,
        r#"{"message":"x","n":1e999}"#,
        r#"{"message":"x",}"#,
        r#"{"message":"x"} {}"#,
        r#"[{"message":"x"}]"#,
    ] {
        assert!(!fast_accepts(line), "{line}");
    }
    let deep = format!(
        "{{\"message\":\"x\",\"d\":{}{}}}",
        "[".repeat(100),
        "]".repeat(100)
    );
    assert!(!fast_accepts(&deep));
    assert!(fast_accepts(
        r#" { "message" : "x" , "a" : [ 1 , { "b" : null } ] , "n" : -0 } "#
    ));
    assert!(fast_accepts(
        r#"{"message":"x","s":"escaped \u0001 control"}"#
    ));
}

/// A body read in two parts and appended equals the body read in one: observations (lines,
/// sentiment indices, kept strings and dimensions), samples, rejects and counts.
#[test]
fn appended_batches_equal_one_batch_read_in_order() {
    let lines = [
        r#"{"message":"telemetry.contest.armed","hubId":"h1","roomId":"r1","contestKey":"k1","mode":"duel"}"#,
        r#"{"message":"telemetry.contest.launched","contestId":"c1","hubId":"h1","roomId":"r1","contestKey":"k1","move":"m"}"#,
        "{bad",
        r#"{"message":"telemetry.contest.sentiment","contestId":"c1","hubId":"h1","sentiment":"salty","actor":"p1"}"#,
        r#"{"message":"telemetry.contest.resolved","contestId":"c1","hubId":"h2","outcomeTier":"win","mode":"ranked"}"#,
        r#"{"message":"chat.message","text":"hi"}"#,
        r#"{"message":"telemetry.contest.sentiment","contestId":"c2","hubId":"h3","sentiment":"gg","tone":"warm"}"#,
        r#"{"message":"telemetry.contest.expired","contestId":"c3","roomId":"r9","error":"timeout"}"#,
    ];
    let opts = BatchOptions {
        keep_raw: true,
        keep_hub_room: true,
        keep_move_type: true,
    };
    let read = |from: usize, to: usize| {
        let mut batch = ObservationBatch::default();
        batch.set_dim_attrs(vec!["mode".into()]);
        for (i, line) in lines[from..to].iter().enumerate() {
            batch.push_line(i as u32, line, opts);
            batch.lines += 1;
        }
        batch
    };
    let whole = read(0, lines.len());
    assert!(whole.sentiments.len() == 2 && !whole.rejects.is_empty());
    for cut in 0..=lines.len() {
        let mut parts = read(0, cut);
        parts.append(read(cut, lines.len()), cut as u32);
        // Absent numbers are NaN, which `==` never matches: compared as printed.
        let printed = |b: &ObservationBatch| format!("{:?} {:?}", b.observations, b.sentiments);
        assert_eq!(printed(&parts), printed(&whole), "cut at {cut}");
        assert_eq!(parts.rejects, whole.rejects, "cut at {cut}");
        assert_eq!((parts.lines, parts.events), (whole.lines, whole.events));
        for (a, b) in parts.observations.iter().zip(&whole.observations) {
            let texts = |batch: &ObservationBatch, o: &Observation| {
                [
                    o.hub,
                    o.room,
                    o.move_,
                    o.contest_id,
                    o.outcome,
                    o.error,
                    o.attrs[0],
                ]
                .map(|span| batch.text(span).map(str::to_string))
            };
            assert_eq!(texts(&parts, a), texts(&whole, b));
        }
    }
}
