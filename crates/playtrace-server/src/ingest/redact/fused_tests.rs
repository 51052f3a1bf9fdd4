//! The one-pass redaction (`fused.rs`) held to the members path (`members.rs`) and the span
//! rewriter (`spans.rs`): the same stored bytes and subjects wherever it answers, and ingest
//! keeping what it kept before wherever it steps aside.

use super::equivalence_tests::{sdk_line, Gen, DROPS, EVERY_KIND};
use super::members::Redacted;
use super::one_scan_tests::{ingest_line, BENCH_RULES};
use super::tests::{privacy, RULES, SECRET};
use super::Fused;
use crate::config::{MaskBytes, Privacy};
use playtrace_core::scan::{scan_line_members, scan_line_sink, LineScan, Members};
use std::borrow::Cow;

/// What the one pass answers for `line`: `None` where it steps aside.
fn fused<'a>(p: &Privacy, line: &'a str) -> Option<Redacted<'a>> {
    let mut sink = Fused::new(p, line)?;
    let mut answer = None;
    let scanned = scan_line_sink(line, &mut sink, |e, sink| {
        answer = sink.finish(e.envelope.session.as_deref());
    });
    match scanned {
        Some(Ok(LineScan::Event(()))) => answer,
        _ => None,
    }
}

/// What the members path answers for `line`, and the envelope's session.
fn listed<'a>(p: &Privacy, line: &'a str) -> (Option<Redacted<'a>>, Option<String>) {
    let mut members = Members::with_capacity(16);
    let mut answer = (None, None);
    let _ = scan_line_members(line, Some(&mut members), |e, m| {
        let session = e.envelope.session.as_deref();
        answer = (
            m.and_then(|m| p.redact_members(line, m, session)),
            session.map(str::to_string),
        );
    });
    answer
}

#[test]
fn a_line_redacted_in_the_read_is_the_members_and_span_rewriters_line() {
    // Wherever the one pass answers, its bytes and subjects are those of the members path and
    // of redacting the text (`spans.rs`) and searching the result; and it answers for nearly
    // every line SDKs write.
    let mut gen = Gen(0x3c6e_f372_fe94_f82b);
    let (mut taken, mut rewritten, mut sdk, mut sdk_taken) = (0, 0, 0, 0);
    for toml in [DROPS, BENCH_RULES, EVERY_KIND, RULES, "[privacy]\n"] {
        let p = privacy(toml, SECRET);
        for i in 0..6_000 {
            let line = match i % 4 {
                0 | 1 => sdk_line(&mut gen, i).0,
                2 => gen.flat_event(),
                _ => gen.event(),
            };
            let one = fused(&p, &line);
            if i % 4 < 2 {
                sdk += 1;
                sdk_taken += usize::from(one.is_some());
            }
            let Some(one) = one else { continue };
            let (Some(members), session) = listed(&p, &line) else {
                panic!("the members path refused a line the one pass took: {line}");
            };
            assert_eq!(one.body, members.body, "{line}");
            assert_eq!(one.subjects, members.subjects, "{line}");
            let spans = p.redact_text(&line);
            assert_eq!(one.body, spans, "{line}");
            assert_eq!(
                one.subjects,
                p.subjects(&spans, session.as_deref()),
                "{line}"
            );
            taken += 1;
            rewritten += usize::from(matches!(one.body, Cow::Owned(_)));
        }
    }
    // Of the SDKs' lines, only those with an escaped string or a long integer (`scalar`
    // writes some) or a contest field (`actorId`) a mask changes step aside.
    assert!(
        sdk_taken * 10 > sdk * 8,
        "{sdk_taken} of {sdk} SDK lines taken"
    );
    assert!(taken > 14_000, "{taken} lines taken");
    assert!(rewritten > 6_000, "{rewritten} of them rewritten");
}

/// Rules for [`every_line_the_one_pass_refuses_is_kept_as_before`]: a contest field hashed,
/// `attrs` itself dropped for one event, attrs at the top level.
const REFUSALS: &str = r#"
[privacy]
hash_secret_env = "PT_SECRET"
[[privacy.rules]]
hash = ["playerId", "hubId"]
mask = ["email", "ip"]
[[privacy.rules]]
event = "drop.attrs"
drop = ["attrs"]
"#;

#[test]
fn every_line_the_one_pass_refuses_is_kept_as_before() {
    // One line for each reason the one pass steps aside: ingest then keeps exactly what
    // redacting the text and scanning it kept (events, rejects, observations).
    let lines = [
        // `event` not first: the name is not known before the members.
        r#"{"id":"e1","event":"chat.message","attrs":{"playerId":"p1"}}"#,
        r#"{"message":"chat.message","playerId":"p1","level":"info"}"#,
        // The name not a string, or escaped.
        r#"{"event":5,"attrs":{"playerId":"p1"}}"#,
        r#"{"event":"chat.\u006dessage","attrs":{"playerId":"p1"}}"#,
        // A second `event` (the last one names the event), a second `attrs`.
        r#"{"event":"chat.message","attrs":{"playerId":"p1"},"event":"drop.attrs"}"#,
        r#"{"event":"chat.message","attrs":{"playerId":"p1"},"attrs":{"playerId":"p2"}}"#,
        // `attrs` not an object; `attrs` itself dropped.
        r#"{"event":"chat.message","attrs":"p1"}"#,
        r#"{"event":"drop.attrs","attrs":{"playerId":"p1"}}"#,
        // Nested values.
        r#"{"event":"chat.message","attrs":{"playerId":"p1","pos":{"x":1}}}"#,
        r#"{"event":"chat.message","attrs":{"playerId":"p1","tags":["a@b.cd"]}}"#,
        r#"{"event":"chat.message","meta":{"playerId":"p1"},"attrs":{}}"#,
        // A member outside `attrs` the rules change.
        r#"{"event":"chat.message","playerId":"p1","attrs":{}}"#,
        r#"{"event":"chat.message","session":"10.0.0.1","attrs":{"playerId":"p1"}}"#,
        // A contest field the rules change (core reads it from the line as sent).
        r#"{"event":"chat.message","attrs":{"hubId":"h1","playerId":"p1"}}"#,
        // An escaped value.
        r#"{"event":"chat.message","attrs":{"playerId":"p\u0031"}}"#,
        // Lines the fast reader does not read, documents, rejects.
        r#"{"event":"chat.message","attrs":{"playerId":"p1"}"#,
        r#"[{"event":"chat.message","attrs":{"playerId":"p1"}}]"#,
        r#"{"event":"chat.message","attrs":{"playerId":"p1","n":12345678901234567890123}}"#,
        r#"{}"#,
        r#"{"event":"","attrs":{"playerId":"p1"}}"#,
    ];
    let p = std::sync::Arc::new(privacy(REFUSALS, SECRET));
    let kept = |line: &str| {
        let (new, old) = (ingest_line(&p, line, true), ingest_line(&p, line, false));
        assert_eq!(new.events, old.events, "{line}");
        assert_eq!(new.rejects, old.rejects, "{line}");
        assert_eq!(
            new.observations.observations, old.observations.observations,
            "{line}"
        );
        assert_eq!(new.observations.events, old.observations.events, "{line}");
    };
    for line in lines {
        assert!(fused(&p, line).is_none(), "the one pass took {line}");
        kept(line);
    }
    // The same lines' plain form is taken (the refusals above are the reasons, not the rules).
    let plain = r#"{"event":"chat.message","session":"s1","attrs":{"playerId":"p1","x":"a@b.cd"}}"#;
    assert!(fused(&p, plain).is_some_and(|r| matches!(r.body, Cow::Owned(_))));
    kept(plain);
    // More rules than the bit sets hold.
    let many = (0..65).fold(String::from("[privacy]\n"), |toml, r| {
        toml + &format!("[[privacy.rules]]\nevent = \"e{r}\"\ndrop = [\"x\"]\n")
    });
    let p = std::sync::Arc::new(privacy(&many, SECRET));
    let line = r#"{"event":"e64","attrs":{"x":1,"y":2}}"#;
    assert!(fused(&p, line).is_none());
    kept(line);
}

#[test]
fn a_strings_mask_bytes_answer_as_its_search() {
    // The one pass checks each string's bytes once for every mask: each answer must be what
    // the mask's own check of the string says (a wrong `false` would let a match through).
    let p = privacy(BENCH_RULES, SECRET);
    let masks: Vec<_> = p.rules.iter().flat_map(|r| &r.mask).collect();
    assert_eq!(masks.len(), 3);
    let pieces = [
        "a", "7", "1.2", ".", ":", "@", "f:", "::", "ab", "10.0.0", "é", "✓", " ", "-", "1234",
    ];
    let mut gen = Gen(0x510e_527f_ade6_82d1);
    let mut open = [0usize; 3];
    for _ in 0..30_000 {
        let n = gen.next() % 12;
        let text: String = (0..n).map(|_| gen.pick(&pieces)).collect();
        let bytes = MaskBytes::of(&text);
        for (k, mask) in masks.iter().enumerate() {
            let want = mask.may_match(&text);
            assert_eq!(
                mask.may_match_in(&text, bytes),
                want,
                "{} {text:?}",
                mask.name
            );
            open[k] += usize::from(want);
        }
    }
    assert!(open.iter().all(|&n| n > 1_000), "{open:?}");
}
