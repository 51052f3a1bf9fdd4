//! The fast path against the exact one: whatever line it vouches for, the exact path
//! (`serde_json::Value`, `Event::from_object`, [`Plan::check`]) must find one clean event of
//! the same name; and it must vouch for the clean lines it is built for.

use crate::check::Checked;
use crate::load::Plan;
use playtrace_core::event::Event;
use playtrace_core::scan::{scan_line_members, Members};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use serde_json::Value;

/// Every keyword of the fast path's subset, plus contest fields core type-checks.
const KEYWORDS: &str = r#"{
    "type": "object",
    "required": ["s", "n"],
    "properties": {
        "s": {"type": "string", "minLength": 2, "maxLength": 4},
        "n": {"type": "integer", "minimum": 0, "maximum": 10},
        "x": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1.5},
        "e": {"enum": ["a", "b", null]},
        "c": {"const": true},
        "o": {"type": "object", "required": ["k"], "additionalProperties": false,
              "properties": {"k": {"type": "string"}, "m": {"type": ["integer", "null"]}}},
        "a": {"type": "array", "items": {"type": "string", "maxLength": 1},
              "minItems": 1, "maxItems": 2},
        "p": {"type": "string", "pattern": "^[0-9]+\\.[0-9]+$"},
        "any": true,
        "no": false,
        "contestId": {"type": "string"},
        "participantCount": {"type": ["integer", "string", "null"]}
    }
}"#;

fn plan() -> &'static Plan {
    static PLAN: std::sync::OnceLock<Plan> = std::sync::OnceLock::new();
    PLAN.get_or_init(|| {
        Plan::from_files(vec![
            ("kw.json".into(), KEYWORDS.into()),
            (
                "closed.json".into(),
                r#"{"type": "object", "properties": {"s": {"type": "string"}},
                "additionalProperties": false}"#
                    .into(),
            ),
            ("open.json".into(), r#"{"type": "object"}"#.into()),
            (
                "fmt.json".into(),
                r#"{"properties": {"t": {"format": "date-time"}}}"#.into(),
            ),
        ])
        .unwrap()
    })
}

/// The exact path's verdict on a line: `Some((name, clean))` when it is one event.
fn exact(plan: &Plan, line: &str) -> Option<(String, bool, Option<String>)> {
    let Ok(Value::Object(object)) = serde_json::from_str::<Value>(line) else {
        return None;
    };
    if !object.contains_key("event") && !object.contains_key("message") {
        return None;
    }
    let event = Event::from_object(object).ok()?;
    let attrs = Value::Object(event.attrs);
    Some(match plan.check(&event.name, &attrs) {
        Checked::Unknown => (event.name, true, None),
        Checked::Known { schema, violations } => (
            event.name,
            violations.is_empty(),
            Some(schema.file().to_string()),
        ),
    })
}

/// The property: a vouched line is one clean event of the same name and schema.
fn agrees(plan: &Plan, line: &str) -> Result<bool, TestCaseError> {
    let Some(fast) = plan.check_line(line) else {
        return Ok(false);
    };
    let exact = exact(plan, line);
    let file = match &fast.checked {
        Checked::Unknown => None,
        Checked::Known { schema, violations } => {
            prop_assert!(violations.is_empty());
            Some(schema.file().to_string())
        }
    };
    prop_assert_eq!(
        exact,
        Some((fast.name.to_string(), true, file)),
        "the fast path vouched for {}",
        line
    );
    Ok(true)
}

/// The property for the path over core's scanner: when [`Plan::check_scanned`] vouches for a
/// line core read as one event, the exact path finds one clean event of that name and schema.
/// `Ok(true)` when it vouched.
fn scanned_agrees(plan: &Plan, line: &str) -> Result<bool, TestCaseError> {
    let mut members = Members::default();
    let mut vouched = None;
    let _ = scan_line_members(line, Some(&mut members), |e, m| {
        let checked = m.and_then(|m| plan.check_scanned(&e.name, m));
        vouched = checked.map(|c| {
            let file = match c {
                Checked::Unknown => None,
                Checked::Known { schema, violations } => {
                    assert!(violations.is_empty());
                    Some(schema.file().to_string())
                }
            };
            (e.name.to_string(), file)
        });
    });
    let Some((name, file)) = vouched else {
        return Ok(false);
    };
    prop_assert_eq!(
        exact(plan, line),
        Some((name, true, file)),
        "the scanned path vouched for {}",
        line
    );
    Ok(true)
}

#[test]
fn clean_lines_of_every_keyword_take_the_fast_path() {
    let plan = plan();
    let clean = [
        r#"{"message":"kw","s":"ab","n":0}"#,
        r#"{"level":"info","timestamp":"2025-03-01T00:00:00Z","message":"kw","s":"abcd","n":10}"#,
        // Code points, not bytes or UTF-16 units: é (2 bytes), an escaped é, a surrogate pair.
        r#"{"message":"kw","s":"éé","n":1}"#,
        r#"{"message":"kw","s":"\u00e9\u00e9\u00e9\u00e9","n":1}"#,
        r#"{"message":"kw","s":"\ud83d\ude00x","n":1}"#,
        r#"{"message":"kw","s":"ab","n":1,"x":1.4999,"e":null,"c":true,"any":[{"z":1}]}"#,
        r#"{"message":"kw","s":"ab","n":1,"e":"b","o":{"k":"v","m":null},"a":["x","y"]}"#,
        r#"{"message":"kw","s":"ab","n":1,"contestId":"c-1","participantCount":2}"#,
        // Keys before the name are checked once it is read.
        r#"{"n":3,"s":"abc","message":"kw"}"#,
        r#"{"event":"kw","ts":1740787200000,"game":"g","attrs":{"s":"ab","n":2}}"#,
        r#"{"attrs":{"s":"ab","n":2},"id":7,"event":"kw","message":"ignored","extra":{}}"#,
        r#"{"message":"closed","s":"x"}"#,
        r#"{"message":"open","whatever":{"deep":[1,2]},"n":"x"}"#,
        r#"{"event":"open"}"#,
        r#"{"message":"no.schema","anything":1}"#,
    ];
    for line in clean {
        let vouched = agrees(plan, line).unwrap_or_else(|e| panic!("{e}"));
        assert!(vouched, "the fast path should vouch for {line}");
        // Core's fast reader leaves surrogate escapes to serde_json, which hands no members.
        let scanned = scanned_agrees(plan, line).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(scanned, !line.contains(r"\ud83d"), "scanned path on {line}");
    }
}

#[test]
fn the_fast_path_steps_aside_from_what_it_does_not_vouch_for() {
    let plan = plan();
    let aside = [
        // Violations of each keyword.
        r#"{"message":"kw","s":"a","n":1}"#,
        r#"{"message":"kw","s":"abcde","n":1}"#,
        r#"{"message":"kw","s":"\u00e9","n":1}"#,
        r#"{"message":"kw","s":"ab","n":11}"#,
        r#"{"message":"kw","s":"ab","n":-1}"#,
        r#"{"message":"kw","s":"ab","n":"1"}"#,
        r#"{"message":"kw","s":"ab","n":1,"x":1.5}"#,
        r#"{"message":"kw","s":"ab","n":1,"x":0}"#,
        r#"{"message":"kw","s":"ab","n":1,"e":"c"}"#,
        r#"{"message":"kw","s":"ab","n":1,"c":false}"#,
        r#"{"message":"kw","s":"ab","n":1,"o":{"m":1}}"#,
        r#"{"message":"kw","s":"ab","n":1,"o":{"k":"v","z":1}}"#,
        r#"{"message":"kw","s":"ab","n":1,"a":[]}"#,
        r#"{"message":"kw","s":"ab","n":1,"a":["x","y","z"]}"#,
        r#"{"message":"kw","s":"ab","n":1,"a":["xy"]}"#,
        r#"{"message":"kw","s":"ab","n":1,"no":null}"#,
        r#"{"message":"kw","s":"ab"}"#,
        r#"{"event":"kw"}"#,
        // An undeclared attr (a warning), or forbidden.
        r#"{"message":"kw","s":"ab","n":1,"extra":1}"#,
        r#"{"message":"closed","s":"x","t":1}"#,
        // Doubt: 1.0 is an integer to JSON Schema, a repeated key keeps its last value, a
        // schema outside the subset.
        r#"{"message":"kw","s":"ab","n":1.0}"#,
        r#"{"message":"kw","s":"ab","n":1,"n":2}"#,
        r#"{"message":"kw","message":"kw","s":"ab","n":1}"#,
        r#"{"message":"fmt","t":"2025-03-01T00:00:00Z"}"#,
        // Not one event: core refuses it, or reads it as a document.
        r#"{"message":"kw","s":"ab","n":1,"contestId":7}"#,
        r#"{"message":"","s":"ab","n":1}"#,
        r#"{"message":"kw","level":3,"s":"ab","n":1}"#,
        r#"{"message":"kw","s":"ab","n":1,"event":"kw"}"#,
        r#"{"event":"kw","attrs":[1],"s":"ab"}"#,
        r#"{"events":[{"event":"kw"}]}"#,
        r#"[{"event":"kw"}]"#,
        r#"{"message":"kw","s":"ab","n":1} trailing"#,
        r#"{"message":"kw","s":"ab","n":1"#,
        r#"{"message":"kw","s":"\ud800","n":1}"#,
    ];
    for line in aside {
        assert!(plan.check_line(line).is_none(), "vouched for {line}");
        // The scanned path has core's verdict on the envelope: a repeated `message` (core and
        // the exact way both read the last) is no doubt there; it still agrees with the exact
        // way (checked inside `scanned_agrees`).
        let scanned = scanned_agrees(plan, line).unwrap_or_else(|e| panic!("{e}"));
        let repeated_name = line.matches(r#""message""#).count() > 1;
        assert_eq!(scanned, repeated_name, "the scanned path on {line}");
    }
}

/// Values chosen around every keyword's edges.
const VALUES: &[&str] = &[
    "null",
    "true",
    "false",
    "0",
    "-0",
    "1",
    "1.0",
    "1e0",
    "10",
    "11",
    "-1",
    "0.5",
    "1.5",
    "1.4999",
    "9007199254740993",
    "18446744073709551615",
    "-9223372036854775808",
    "1e400",
    r#""""#,
    r#""a""#,
    r#""b""#,
    r#""ab""#,
    r#""abcd""#,
    r#""abcde""#,
    r#""éé""#,
    r#""\u00e9""#,
    r#""\u00e9\u00e9""#,
    r#""\ud83d\ude00""#,
    r#""\ud83d\ude00\ud83d\ude00""#,
    r#""\ud800""#,
    r#""a\"b""#,
    "[]",
    r#"["x"]"#,
    r#"["x","y"]"#,
    r#"["x","y","z"]"#,
    r#"["xy"]"#,
    "[1]",
    "{}",
    r#"{"k":"v"}"#,
    r#"{"k":"v","m":1}"#,
    r#"{"k":"v","m":1.0}"#,
    r#"{"k":"v","k":"w"}"#,
    r#"{"k":"v","z":null}"#,
    r#"{"k":1}"#,
    r#"{"s":"ab","n":1}"#,
    r#"{"s":"ab","n":1,"n":1}"#,
    r#""2025-03-01T00:00:00Z""#,
    "1740787200000",
    r#""kw""#,
    r#""closed""#,
    r#""open""#,
    r#""fmt""#,
    r#""telemetry.hub.contestArmed""#,
    r#""1.42""#,
    r#""1.42\n""#,
    r#""x1.42""#,
    r#""\u0031.2""#,
    r#""١.٢""#,
];

const KEYS: &[&str] = &[
    "p",
    "s",
    "n",
    "x",
    "e",
    "c",
    "o",
    "a",
    "any",
    "no",
    "contestId",
    "participantCount",
    "extra",
    "level",
    "timestamp",
    "ts",
    "id",
    "game",
    "attrs",
    "message",
    "event",
    "k\\u0073",
];

const NAMES: &[&str] = &["kw", "closed", "open", "fmt", "unknown.event", " "];

fn pairs() -> impl Strategy<Value = Vec<(usize, usize)>> {
    prop::collection::vec((0..KEYS.len(), 0..VALUES.len()), 0..9)
}

fn object(pairs: &[(String, String)]) -> String {
    let body: Vec<String> = pairs.iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
    format!("{{{}}}", body.join(","))
}

/// A structured or native line around `pairs`, its name key at `at`.
fn line() -> impl Strategy<Value = String> {
    (
        any::<bool>(),
        0..NAMES.len(),
        pairs(),
        0usize..10,
        pairs(),
        any::<bool>(),
    )
        .prop_map(|(native, name, pairs, at, attrs, good)| {
            let text = |(k, v): &(usize, usize)| (KEYS[*k].to_string(), VALUES[*v].to_string());
            let mut top: Vec<(String, String)> = pairs.iter().map(text).collect();
            // Half the time the required attrs are there and right, so clean lines occur.
            let mut inner: Vec<(String, String)> = attrs.iter().map(text).collect();
            if good {
                let required = [("s".into(), r#""ab""#.into()), ("n".into(), "1".into())];
                if native {
                    inner.splice(0..0, required);
                } else {
                    top.splice(0..0, required);
                }
            }
            let key = if native { "event" } else { "message" };
            let name = (key.to_string(), format!("\"{}\"", NAMES[name]));
            top.insert(at.min(top.len()), name);
            if native {
                top.push(("attrs".into(), object(&inner)));
            }
            object(&top)
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4000))]

    #[test]
    fn a_vouched_line_is_clean_the_exact_way(line in line()) {
        agrees(plan(), &line)?;
    }

    #[test]
    fn a_line_vouched_from_the_scanners_members_is_clean_the_exact_way(line in line()) {
        scanned_agrees(plan(), &line)?;
    }
}

#[test]
fn generated_lines_often_take_the_fast_path() {
    // The property above holds trivially if the fast path never vouches: count how often it
    // does on the same generator (deterministic runner).
    let plan = plan();
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let strategy = line();
    let (mut vouched, mut clean, mut scanned) = (0, 0, 0);
    for _ in 0..2000 {
        let line = strategy.new_tree(&mut runner).unwrap().current();
        if exact(plan, &line).is_some_and(|(_, ok, _)| ok) {
            clean += 1;
        }
        if agrees(plan, &line).unwrap() {
            vouched += 1;
        }
        if scanned_agrees(plan, &line).unwrap() {
            scanned += 1;
        }
    }
    assert!(
        scanned * 2 > clean,
        "the scanned path vouched for {scanned} of {clean} clean lines"
    );
    assert!(clean > 100, "the generator made only {clean} clean lines");
    assert!(
        vouched * 2 > clean,
        "vouched for {vouched} of {clean} clean lines"
    );
}
