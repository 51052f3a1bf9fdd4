//! Lines the one-scan ingest must read as the redact-then-scan path did: escapes, many lines in
//! one body, and the members rewrite against the span rewriter.

use super::equivalence_tests::{sdk_line, Gen, DROPS, EVERY_KIND};
use super::tests::{privacy, redact, RULES, SECRET};
use super::*;

#[test]
fn a_line_with_escapes_is_read_by_rules_without_masks_too() {
    // No mask to make the line live, and `"text"` not written as such: the escape must not let
    // the dropped attr through.
    let p = privacy(
        "[[privacy.rules]]
drop = ['text']
",
        SECRET,
    );
    let v = redact(
        &p,
        r#"{"event":"chat.message","attrs":{"t\u0065xt":"my secret"}}"#,
    );
    assert!(v["attrs"].get("text").is_none(), "{v}");
}

#[test]
fn an_id_written_with_escapes_is_indexed_and_hashed_as_it_reads() {
    let p = privacy(RULES, SECRET);
    let plain =
        r#"{"event":"chat.message","session":"s1","attrs":{"playerId":"alice","sessionId":"s2"}}"#;
    let escaped = r#"{"event":"chat.message","session":"s1","attrs":{"playerId":"al\u0069ce","sessionId":"\u0073\u0032"}}"#;
    assert_eq!(redact(&p, plain), redact(&p, escaped));
    let bare = privacy("[privacy]\n", SECRET);
    assert_eq!(bare.redact_text(escaped), escaped, "nothing to redact");
    let keys = bare.subjects(escaped, Some("s1"));
    assert_eq!(keys, bare.subjects(plain, Some("s1")));
    assert!(keys.contains(&subject_key(SubjectKind::Player, "alice")));
    assert!(keys.contains(&subject_key(SubjectKind::Session, "s2")));
}

impl Gen {
    /// A line as games send most of them: an envelope of scalars and one flat `attrs`, keys
    /// the rules name, contest fields core reads, now and then a duplicate key, a top-level
    /// attr, a second `attrs` or a nested value; strings mostly without escapes.
    pub(super) fn flat_event(&mut self) -> String {
        let name = self.pick(&[
            "chat.message",
            "match.end",
            "store.buy",
            "other",
            "round.end",
        ]);
        let name_key = self.pick(&["event", "event", "event", "message", "name"]);
        let n = self.next() % 8;
        let attrs: Vec<String> = (0..n)
            .map(|_| {
                let key = self.pick(&[
                    "playerId",
                    "accountId",
                    "actorId",
                    "text",
                    "note",
                    "peer",
                    "meta",
                    "n",
                    "sessionId",
                    "level",
                    "hubId",
                    "roomId",
                    "message",
                    "name",
                    "other",
                    "ключ",
                ]);
                let value = match self.next() % 12 {
                    0 => self.value(2),
                    1..=4 => self.scalar(),
                    _ => format!(
                        "\"{}\"",
                        self.pick(&[
                            "alice-77",
                            "bob",
                            "mail a.b@example.org now",
                            "from 10.1.2.3",
                            "card 1234-5678 ok",
                            "secret at the start",
                            "abcdef0123",
                            "",
                            "ünïcødé ✓ 日本語",
                            "a long note about the match that goes on",
                        ])
                    ),
                };
                let (w1, w2) = (self.ws(), self.ws());
                format!("\"{key}\"{w1}:{w2}{value}")
            })
            .collect();
        let (a, b) = (self.ws(), self.ws());
        let attrs = format!("{{{a}{}{b}}}", attrs.join(&format!(",{}", self.ws())));
        let ws = self.ws();
        let tail = match self.next() % 10 {
            0 => r#","text":"top 10.0.0.1","playerId":"carol""#.to_string(),
            1 => r#","attrs":{"text":"again"}"#.to_string(),
            2 => r#","hubId":"h1","name":"x.y""#.to_string(),
            _ => String::new(),
        };
        format!(
            r#"{{"{name_key}":"{name}",{ws}"id":"e{}","game":"g","session":"s{}","ts":{},"attrs":{attrs}{tail}}}"#,
            self.next() % 1000,
            self.next() % 9,
            1_795_700_000_000u64 + self.next() % 1000
        )
    }
}

/// What ingest keeps of one line with `privacy`: through the one-scan path (`push_text`), or
/// the line redacted as text and then scanned (what ingest did before).
pub(super) fn ingest_line(
    p: &std::sync::Arc<Privacy>,
    line: &str,
    once: bool,
) -> crate::ingest::Parsed {
    let mut parsed = crate::ingest::Parsed::default().with_privacy(p.clone());
    if once {
        parsed.push_text(1, line);
    } else {
        parsed.push_redacted(1, line);
    }
    parsed
}

pub(super) const BENCH_RULES: &str = r#"
[privacy]
hash_secret_env = "PT_SECRET"
[[privacy.rules]]
event = "chat.*"
drop = ["text"]
[[privacy.rules]]
hash = ["playerId", "accountId"]
[[privacy.rules]]
mask = ["email", "ip"]
[[privacy.rules]]
event = "match.*"
truncate = { note = 16 }
[[privacy.rules]]
event = "store.*"
mask = ['regex:\b\d{4}-\d{4}\b']
"#;

#[test]
fn one_scan_ingest_keeps_what_redacting_then_scanning_kept() {
    let configs = [EVERY_KIND, BENCH_RULES, RULES, "[privacy]\n"];
    let mut gen = Gen(0x2545_f491_4f6c_dd1d);
    let (mut once, mut changed) = (0, 0);
    for (c, toml) in configs.iter().enumerate() {
        let p = std::sync::Arc::new(privacy(toml, SECRET));
        for i in 0..6_000 {
            let line = match i % 6 {
                5 => gen.event(),
                _ => gen.flat_event(),
            };
            let new = ingest_line(&p, &line, true);
            let old = ingest_line(&p, &line, false);
            let at = format!("config {c}, line {i}: {line}");
            assert_eq!(new.events, old.events, "{at}");
            assert_eq!(new.rejects, old.rejects, "{at}");
            assert_eq!(
                new.observations.observations, old.observations.observations,
                "{at}"
            );
            assert_eq!(new.observations.events, old.observations.events, "{at}");
            // How many lines the one-scan path took (it answers `None` where it steps aside).
            let members = {
                let mut m = playtrace_core::scan::Members::with_capacity(8);
                let mut taken = false;
                let _ = playtrace_core::scan::scan_line_members(&line, Some(&mut m), |e, m| {
                    taken = m
                        .and_then(|m| p.redact_members(&line, m, e.envelope.session.as_deref()))
                        .is_some_and(|r| {
                            changed += usize::from(matches!(r.body, Cow::Owned(_)));
                            true
                        });
                });
                taken
            };
            once += usize::from(members);
        }
    }
    // Most flat lines take the one-scan path, and many of those are rewritten there.
    assert!(once > 7_000, "{once} lines took the one-scan path");
    assert!(changed > 2_000, "{changed} lines rewritten on it");
}

#[test]
fn one_parse_of_many_lines_keeps_what_a_parse_per_line_kept() {
    // A request's lines share one members list (emptied between lines): nothing a line read
    // may leak into the next one's redaction, subjects or observations.
    let mut gen = Gen(0x9e37_79b9_7f4a_7c15);
    for toml in [BENCH_RULES, EVERY_KIND] {
        let p = std::sync::Arc::new(privacy(toml, SECRET));
        let lines: Vec<String> = (0..3_000)
            .map(|i| match i % 6 {
                5 => gen.event(),
                _ => gen.flat_event(),
            })
            .collect();
        let mut together = crate::ingest::Parsed::default().with_privacy(p.clone());
        let mut events = Vec::new();
        let mut rejects = Vec::new();
        for (i, line) in lines.iter().enumerate() {
            together.push_text(i as u32 + 1, line);
            let mut alone = crate::ingest::Parsed::default().with_privacy(p.clone());
            alone.push_text(i as u32 + 1, line);
            events.extend(alone.events);
            rejects.extend(alone.rejects);
        }
        assert_eq!(together.events, events);
        assert_eq!(together.rejects, rejects);
        assert!(together.events.len() > 2_000, "{}", together.events.len());
    }
}

#[test]
fn a_line_rewritten_from_its_members_is_the_span_rewriters_line() {
    // The members path writes the redacted line as it reads the members (a removed member's
    // separators, a hash written in place, runs of the line copied together) and skips strings
    // when no mask can match anywhere in the line: on flat lines with many removed, hashed and
    // masked members and odd whitespace, its bytes and subjects are those of redacting the text
    // (`spans.rs`) and searching the result.
    let mut gen = Gen(0x6c07_8965_d2b8_1f4b);
    let (mut taken, mut rewritten, mut cleared) = (0, 0, 0);
    for toml in [DROPS, BENCH_RULES] {
        let p = privacy(toml, SECRET);
        for i in 0..8_000 {
            let (line, n) = sdk_line(&mut gen, i);
            let mut members = playtrace_core::scan::Members::with_capacity(16);
            let _ = playtrace_core::scan::scan_line_members(&line, Some(&mut members), |e, m| {
                let session = e.envelope.session.as_deref();
                let Some(fast) = m.and_then(|m| p.redact_members(&line, m, session)) else {
                    return;
                };
                let slow = p.redact_text(&line);
                assert_eq!(fast.body, slow, "{line}");
                assert_eq!(fast.subjects, p.subjects(&slow, session), "{line}");
                taken += 1;
                rewritten += usize::from(matches!(fast.body, Cow::Owned(_)));
                cleared +=
                    usize::from(!line.contains(['@', '.']) && !line.contains("fe80") && n > 0);
            });
        }
    }
    assert!(taken > 12_000, "{taken} lines took the members path");
    assert!(rewritten > 6_000, "{rewritten} of them rewritten");
    assert!(cleared > 500, "{cleared} of them with no mask open");
}
