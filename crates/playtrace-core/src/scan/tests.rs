use super::*;
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
