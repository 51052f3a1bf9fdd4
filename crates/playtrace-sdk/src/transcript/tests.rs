use super::*;
use std::cell::Cell;
use std::rc::Rc;

/// The tutorial of the fixture, recorded with real nulls where the old code wrote `{}`.
fn tutorial() -> TranscriptRecorder {
    let mut t = TranscriptRecorder::new("s-tutorial");
    t.record(
        "tutorial_started",
        None,
        None,
        "started",
        1761843600000.0,
        None,
        meta([
            ("totalSteps", json!(2)),
            ("startedAt", json!(1761843600000u64)),
        ]),
    );
    t.record(
        "tutorial_step_started",
        Some("movement"),
        Some("Move, Investigator"),
        "step_started",
        1761843601000.0,
        None,
        meta([
            ("stepIndex", json!(0)),
            ("totalSteps", json!(2)),
            ("description", json!("Use WASD")),
            ("highlight", json!({"type": "entity", "entityId": "player"})),
            ("position", Value::Null),
            ("canSkip", json!(true)),
            ("startedAt", json!(1761843601000u64)),
        ]),
    );
    t.record(
        "tutorial_step_completed",
        Some("movement"),
        Some("Move, Investigator"),
        "step_completed",
        1761843604500.0,
        Some("Good. Now | check the \"case file\"."),
        meta([
            ("stepIndex", json!(0)),
            ("totalSteps", json!(2)),
            ("completedAt", json!(1761843604500u64)),
            ("durationMs", json!(3500)),
        ]),
    );
    t.record(
        "tutorial_step_started",
        Some("case_file"),
        Some("Open the Case File"),
        "step_started",
        1761843605000.0,
        None,
        meta([
            ("stepIndex", json!(1)),
            ("totalSteps", json!(2)),
            ("description", Value::Null),
            ("highlight", Value::Null),
            ("position", Value::Null),
            ("canSkip", Value::Null),
            ("startedAt", json!(1761843605000u64)),
        ]),
    );
    t.record(
        "tutorial_skipped",
        Some("case_file"),
        Some("Open the Case File"),
        "skipped",
        1761843606000.0,
        None,
        meta([
            ("stepIndex", json!(1)),
            ("skippedAt", json!(1761843606000u64)),
        ]),
    );
    t.record(
        "tutorial_completed",
        None,
        None,
        "completed",
        1761843606100.0,
        None,
        meta([
            ("totalSteps", json!(2)),
            ("completedSteps", json!(["movement"])),
            ("completedAt", json!(1761843606100u64)),
        ]),
    );
    t
}

/// Splits one RFC 4180 line (no embedded newlines in these fixtures).
fn csv_row(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            ('"', _) => quoted = !quoted,
            (',', false) => out.push(std::mem::take(&mut cur)),
            (c, _) => cur.push(c),
        }
    }
    out.push(cur);
    out
}

/// The old code wrote null as `{}`: read it back as null.
fn nulls_for_empty_objects(v: Value) -> Value {
    match v {
        Value::Object(o) if o.is_empty() => Value::Null,
        Value::Object(o) => Value::Object(
            o.into_iter()
                .map(|(k, v)| (k, nulls_for_empty_objects(v)))
                .collect(),
        ),
        other => other,
    }
}

#[test]
fn csv_matches_the_fixture_with_nulls_kept_null() {
    let ours = tutorial().to_csv();
    let fixture =
        include_str!("../../../../testdata/fixtures/genai-engine/03-tutorial-transcript.csv");
    let (ours, theirs): (Vec<&str>, Vec<&str>) =
        (ours.lines().collect(), fixture.lines().collect());
    assert_eq!(ours.len(), theirs.len());
    assert_eq!(ours[0], theirs[0], "header");
    for (a, b) in ours.iter().zip(&theirs).skip(1) {
        let (a, b) = (csv_row(a), csv_row(b));
        assert_eq!(a[..8], b[..8], "columns before metadata");
        let ours: Value = serde_json::from_str(&a[8]).unwrap();
        let theirs: Value = nulls_for_empty_objects(serde_json::from_str(&b[8]).unwrap());
        assert_eq!(ours, theirs);
    }
    assert!(!tutorial().to_csv().contains("{}"), "a null is never {{}}");
    assert!(tutorial().to_csv().ends_with('\n') && !tutorial().to_csv().contains('\r'));
}

#[test]
fn markdown_matches_the_fixture() {
    assert_eq!(
        tutorial().to_markdown(),
        include_str!("../../../../testdata/fixtures/genai-engine/03-tutorial-transcript.md")
    );
}

fn golden(name: &str, actual: &str) {
    // Shared with the JavaScript SDK (sdks/js/test/transcript.test.mjs): both must write these
    // bytes.
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/sdk")
        .join(name);
    if std::env::var_os("PLAYTRACE_BLESS").is_some() {
        std::fs::write(&path, actual).unwrap();
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|_| panic!("missing {}; run with PLAYTRACE_BLESS=1", path.display()));
    assert_eq!(
        actual, expected,
        "{name} changed (PLAYTRACE_BLESS=1 rewrites it; review the diff)"
    );
}

#[test]
fn serializer_golden_files() {
    let mut t = tutorial();
    t.record(
        "note",
        Some("p"),
        Some("Two\nlines | and \"quotes\", commas"),
        "noted",
        1761843607000.5,
        Some("line one\r\nline two"),
        Value::Null,
    );
    // Non-ASCII, empty strings, empty and null values.
    t.record(
        "ünïcødé ✓",
        Some(""),
        Some(""),
        "",
        1761843608000.0,
        Some("日本語, «quotes»"),
        meta([
            ("empty", json!("")),
            ("list", json!([])),
            ("none", Value::Null),
        ]),
    );
    golden("transcript.csv", &t.to_csv());
    golden("transcript.md", &t.to_markdown());
    golden(
        "transcript.json",
        &(serde_json::to_string_pretty(&t.to_json()).unwrap() + "\n"),
    );
    let md = t.to_markdown();
    assert!(md.contains("Two<br>lines \\| and \"quotes\", commas"));
    assert!(md.contains("line one<br>line two"));
    assert_eq!(md.lines().count(), 2 + 8, "no cell breaks the table");
    assert!(t.to_csv().contains("7,ünïcødé ✓,,,,1761843608000,2025-10-30T17:00:08.000Z,\"日本語, «quotes»\",\"{\"\"empty\"\":\"\"\"\",\"\"list\"\":[],\"\"none\"\":null}\"\n"));
}

#[test]
fn the_transcript_is_bounded_and_drops_the_oldest() {
    let mut t = TranscriptRecorder::with_capacity("s", 3);
    for i in 0..5 {
        t.record("e", None, None, "a", f64::from(i), None, Value::Null);
    }
    let seqs: Vec<u64> = t.entries().map(|e| e.sequence).collect();
    assert_eq!(seqs, [2, 3, 4]);
    assert_eq!(t.dropped(), 2);
    assert_eq!(TranscriptRecorder::new("s").capacity, 50, "default");
}

#[test]
fn change_notifications_are_throttled() {
    let mut t = TranscriptRecorder::new("s");
    let calls = Rc::new(Cell::new(0));
    let seen = calls.clone();
    t.on_change(Duration::from_millis(200), move |r| {
        seen.set(seen.get() + 1);
        assert!(r.entries().count() > 0);
    });
    for i in 0..10 {
        t.record("e", None, None, "a", f64::from(i), None, Value::Null);
    }
    assert_eq!(calls.get(), 1, "ten changes inside the interval: one call");
    t.poll();
    assert_eq!(calls.get(), 1);
    std::thread::sleep(Duration::from_millis(220));
    t.poll();
    assert_eq!(
        calls.get(),
        2,
        "the pending change is delivered after the interval"
    );
    t.poll();
    assert_eq!(calls.get(), 2, "nothing pending");
}

#[test]
fn entries_become_transcript_events() {
    let events = tutorial().to_events();
    assert_eq!(events.len(), 6);
    let e = &events[2];
    assert_eq!(e.name(), "telemetry.transcript.entry");
    let a = e.attrs();
    assert_eq!(a["sessionId"], "s-tutorial");
    assert_eq!(a["sequence"], 2);
    assert_eq!(a["promptId"], "movement");
    assert_eq!(a["narrative"], "Good. Now | check the \"case file\".");
    assert_eq!(events[0].attrs()["promptId"], Value::Null);
    assert_eq!(events[3].attrs()["metadata"]["description"], Value::Null);
}
