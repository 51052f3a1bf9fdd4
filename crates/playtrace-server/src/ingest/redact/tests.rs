use super::*;
use crate::config::ServeConfig;

pub(super) const SECRET: &str = "a-test-secret-of-32-bytes-000000";

pub(super) fn privacy(toml: &str, secret: &str) -> Privacy {
    let secret = secret.to_string();
    ServeConfig::from_toml_env(toml, "test", &move |var| {
        (var == "PT_SECRET").then(|| secret.clone())
    })
    .unwrap()
    .privacy
}

pub(super) const RULES: &str = r#"
[privacy]
hash_secret_env = "PT_SECRET"
[[privacy.rules]]
event = "chat.*"
drop = ["text"]
hash = ["playerId"]
[[privacy.rules]]
truncate = { note = 5 }
mask = ["email", "ip"]
"#;

fn redact(p: &Privacy, line: &str) -> Value {
    serde_json::from_str(&p.redact_text(line)).unwrap()
}

#[test]
fn rules_drop_hash_truncate_and_mask_an_events_attrs() {
    let p = privacy(RULES, SECRET);
    let v = redact(
        &p,
        r#"{"event":"chat.message","id":"e1","session":"s1","attrs":{"playerId":"alice-77","text":"meet me","note":"abcdefgh","contact":"mail alice@example.com from 10.1.2.3 or 2001:db8::1"}}"#,
    );
    let attrs = &v["attrs"];
    assert!(attrs.get("text").is_none(), "{v}");
    let hashed = attrs["playerId"].as_str().unwrap();
    assert_eq!(hashed.len(), 32);
    assert_eq!(Some(hashed.to_string()), p.hash("alice-77"));
    assert_eq!(attrs["note"], "abcde");
    assert_eq!(attrs["contact"], "mail [email] from [ip] or [ip]");
    // The envelope is untouched.
    assert_eq!(
        (v["event"].as_str(), v["id"].as_str()),
        (Some("chat.message"), Some("e1"))
    );
}

#[test]
fn a_rule_for_other_events_leaves_them_alone_and_unchanged_lines_are_not_rewritten() {
    let p = privacy(RULES, SECRET);
    let v = redact(
        &p,
        r#"{"event":"match.end","attrs":{"playerId":"bob","text":"gg"}}"#,
    );
    assert_eq!(v["attrs"]["playerId"], "bob");
    assert_eq!(v["attrs"]["text"], "gg");
    let plain = r#"{"event":"match.end","attrs":{"score":3}}"#;
    assert!(matches!(p.redact_text(plain), Cow::Borrowed(_)));
    // Times and contest keys are not IP addresses.
    let keys = r#"{"event":"x","ts":"2026-11-26T13:00:00.123Z","attrs":{"contestKey":"verb:actor-0::actor-100","v":"12:30:45"}}"#;
    assert!(matches!(p.redact_text(keys), Cow::Borrowed(_)));
}

#[test]
fn hashes_are_stable_and_differ_with_another_secret() {
    let a = privacy(RULES, SECRET);
    let again = privacy(RULES, SECRET);
    let other = privacy(RULES, "another-secret-of-enough-bytes!!");
    assert_eq!(a.hash("alice-77"), again.hash("alice-77"));
    assert_ne!(a.hash("alice-77"), other.hash("alice-77"));
    assert_ne!(a.hash("alice-77"), a.hash("alice-78"));
}

#[test]
fn a_reject_keeps_no_dropped_text_raw_id_or_address() {
    let p = privacy(RULES, SECRET);
    let raw = r#"{"event":"chat.message","attrs":{"playerId":"alice-77","ip":"192.168.4.20","text":"my secret is here, write to a.b@example.org"#;
    let out = p.redact_text(raw).into_owned();
    assert!(!out.contains("alice-77"), "{out}");
    assert!(!out.contains("my secret"), "{out}");
    assert!(!out.contains("192.168.4.20"), "{out}");
    assert!(!out.contains("a.b@example.org"), "{out}");
    assert!(out.contains(&p.hash("alice-77").unwrap()), "{out}");
}

#[test]
fn documents_are_redacted_event_by_event() {
    let p = privacy(RULES, SECRET);
    let v = redact(
        &p,
        r#"[{"event":"chat.message","attrs":{"text":"one"}},{"event":"other","attrs":{"text":"two"}}]"#,
    );
    assert!(v[0]["attrs"].get("text").is_none());
    assert_eq!(v[1]["attrs"]["text"], "two");
}

#[test]
fn subjects_are_the_player_attrs_and_sessions_an_event_names() {
    assert!(
        privacy("", SECRET)
            .subjects(r#"{"event":"x","attrs":{"playerId":"p1"}}"#, Some("s1"))
            .is_empty(),
        "without [privacy] nothing is indexed"
    );
    let p = privacy("[privacy]\n", SECRET);
    let keys = p.subjects(
        r#"{"event":"x","attrs":{"playerId":"p1","actorId":42,"sessionId":"s2"}}"#,
        Some("s1"),
    );
    let mut want = vec![
        subject_key(SubjectKind::Player, "p1"),
        subject_key(SubjectKind::Player, "42"),
        subject_key(SubjectKind::Session, "s1"),
        subject_key(SubjectKind::Session, "s2"),
    ];
    want.sort_unstable();
    assert_eq!(keys, want);
    assert!(p.subjects(r#"{"event":"x"}"#, None).is_empty());
}

#[test]
fn an_erasure_looks_for_the_raw_and_the_hashed_id_and_logs_neither() {
    let p = privacy(RULES, SECRET);
    let e = p.erasure(SubjectKind::Player, "alice-77", "admin");
    assert_eq!(
        e.values,
        vec!["alice-77".to_string(), p.hash("alice-77").unwrap()]
    );
    assert_eq!(e.subject_hash.len(), 64);
    assert!(!e.subject_hash.contains("alice"));
    let unkeyed = privacy("", SECRET).erasure(SubjectKind::Player, "alice-77", "admin");
    assert_eq!(unkeyed.values, vec!["alice-77".to_string()]);
    assert_ne!(unkeyed.subject_hash, e.subject_hash);
}

#[test]
fn bad_rules_are_refused_naming_the_key() {
    let env = |_: &str| None;
    for (toml, key) in [
        (
            "[[privacy.rules]]\nhash = [\"playerId\"]\n",
            "privacy.hash_secret_env",
        ),
        ("[privacy]\nhash_secret_env = \"PT_NONE\"\n", "PT_NONE"),
        (
            "[[privacy.rules]]\nmask = [\"phone\"]\n",
            "privacy.rules[0].mask",
        ),
        (
            "[[privacy.rules]]\nmask = [\"regex:(\"]\n",
            "privacy.rules[0].mask",
        ),
        ("[[privacy.rules]]\nevent = \"x\"\n", "privacy.rules[0]"),
        (
            "[[privacy.rules]]\ntruncate = { a = 0 }\n",
            "privacy.rules[0].truncate.a",
        ),
    ] {
        let err = ServeConfig::from_toml_env(toml, "test", &env)
            .unwrap_err()
            .to_string();
        assert!(err.contains(key), "{toml}: {err}");
    }
}

#[test]
fn every_reject_is_redacted_once_whichever_path_made_it() {
    use crate::ingest::json::parse_body;
    use crate::ingest::Parsed;
    let p = std::sync::Arc::new(privacy(RULES, SECRET));
    let hashed = p.hash("alice-77").unwrap();
    let long = format!(
        r#"{{"event":"chat.message","attrs":{{"playerId":"alice-77","text":"secret words","pad":"{}"}}}}"#,
        "x".repeat(300)
    );
    let body = format!(
        "{long}\n{{\"event\":\"chat.message\",\"attrs\":{{\"playerId\":\"alice-77\",\"text\":\"cut words\"\n{{\"event\":\"chat.message\",\"attrs\":{{\"playerId\":\"alice-77\",\"participantCount\":\"two\"}}}}\n"
    );
    let parsed = parse_body(
        Parsed::default().with_privacy(p.clone()),
        body.as_bytes(),
        crate::ingest::json::BodyFormat::Ndjson,
        200,
    );
    assert_eq!(parsed.rejects.len(), 3, "{:?}", parsed.rejects);
    for r in &parsed.rejects {
        assert!(!r.raw.contains("alice-77"), "{}: {}", r.kind, r.raw);
        assert!(!r.raw.contains("words"), "{}: {}", r.kind, r.raw);
    }
    // Hashed once, so an erasure finds it by hashing the raw id.
    assert!(
        parsed.rejects[2].raw.contains(&hashed),
        "{}",
        parsed.rejects[2].raw
    );
}

/// Rules of every kind, several on one key (a later rule sees what an earlier one left), with
/// and without event patterns, and an anchored mask.
pub(super) const EVERY_KIND: &str = r#"
[privacy]
hash_secret_env = "PT_SECRET"
[[privacy.rules]]
event = "chat.*"
drop = ["text", "blob"]
[[privacy.rules]]
hash = ["playerId", "meta", "n"]
[[privacy.rules]]
truncate = { note = 6, playerId = 20, n = 3, "ключ" = 2 }
mask = ["email", "ip"]
[[privacy.rules]]
event = "match.*"
truncate = { text = 4 }
mask = ['regex:\b\d{4}-\d{4}\b', 'regex:^secret']
[[privacy.rules]]
event = "*.end"
drop = ["peer"]
hash = ["sessionId"]
mask = ['regex:[0-9a-f]{6}']
"#;

/// A small deterministic generator (xorshift), so a failure names a reproducible line.
pub(super) struct Gen(pub(super) u64);

impl Gen {
    pub(super) fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    pub(super) fn pick<'s>(&mut self, from: &[&'s str]) -> &'s str {
        from[(self.next() % from.len() as u64) as usize]
    }

    pub(super) fn ws(&mut self) -> &'static str {
        self.pick(&["", "", "", " ", "\n\t ", "  "])
    }

    fn string(&mut self) -> String {
        let pieces = [
            "plain",
            "mail a.b@example.org now",
            "from 10.1.2.3",
            "2001:db8::1",
            "card 1234-5678 ok",
            "secret at the start",
            "q\\\"uote\\\\d",
            "esc\\u0040ped.at@example.com",
            "line\\nbreak\\ttab\\/slash",
            "\\ud83d\\ude00 surrogate",
            "ünïcødé ✓ 日本語",
            "😀 emoji",
            "abcdef0123",
            "",
        ];
        let n = 1 + self.next() % 3;
        let s: Vec<&str> = (0..n).map(|_| self.pick(&pieces)).collect();
        format!("\"{}\"", s.join(" "))
    }

    pub(super) fn scalar(&mut self) -> String {
        match self.next() % 9 {
            0 => "null".into(),
            1 => "true".into(),
            2 => "false".into(),
            3 => format!("{}", self.next() % 100_000),
            4 => format!("-{}.{}", self.next() % 100, self.next() % 1000),
            5 => self
                .pick(&["1.50", "1e3", "-0", "2.5E-3", "12345678901234567890123"])
                .into(),
            _ => self.string(),
        }
    }

    fn key(&mut self) -> String {
        self.pick(&[
            "playerId",
            "text",
            "note",
            "meta",
            "n",
            "blob",
            "peer",
            "sessionId",
            "level",
            "message",
            "ts",
            "id",
            "ключ",
            "other",
            "x",
            "p\\u006cayerId",
        ])
        .to_string()
    }

    pub(super) fn value(&mut self, depth: u32) -> String {
        match (depth < 3).then(|| self.next() % 6) {
            Some(0) => self.object(depth + 1, 4),
            Some(1) => {
                let n = self.next() % 4;
                let items: Vec<String> = (0..n).map(|_| self.value(depth + 1)).collect();
                let sep = format!(",{}", self.ws());
                format!("[{}{}]", self.ws(), items.join(&sep))
            }
            _ => self.scalar(),
        }
    }

    fn object(&mut self, depth: u32, most: u64) -> String {
        let n = self.next() % (most + 1);
        let entries: Vec<String> = (0..n)
            .map(|_| {
                let (k, w1, w2, v) = (self.key(), self.ws(), self.ws(), self.value(depth));
                format!("\"{k}\"{w1}:{w2}{v}")
            })
            .collect();
        let (a, b) = (self.ws(), self.ws());
        format!("{{{a}{}{b}}}", entries.join(","))
    }

    pub(super) fn event(&mut self) -> String {
        let name = self.pick(&[
            "chat.message",
            "match.end",
            "match.start",
            "other",
            "round.end",
        ]);
        let name_key = self.pick(&["event", "event", "message", "name"]);
        let attrs = self.object(1, 7);
        let extra = self.object(2, 3);
        let ws = self.ws();
        match self.next() % 4 {
            0 => format!(
                r#"{{"{name_key}":"{name}",{ws}"session":"s1","attrs":{attrs},"x":{extra}}}"#
            ),
            1 => format!(
                r#"{{"attrs":{attrs},{ws}"{name_key}":"{name}","level":"secret 10.0.0.1"}}"#
            ),
            2 => format!(
                r#"{{"{name_key}":"{name}","message":"at 10.0.0.1","attrs":{attrs},"attrs":{extra}}}"#
            ),
            _ => format!(
                r#"{ws}{{"{name_key}":{},"attrs":{attrs}}}{ws}"#,
                self.value(2)
            ),
        }
    }
}

#[test]
fn the_span_rewriter_redacts_as_the_value_round_trip_did() {
    let p = privacy(EVERY_KIND, SECRET);
    let mut gen = Gen(0x9e37_79b9_7f4a_7c15);
    let (mut changed, mut rewritten) = (0, 0);
    for i in 0..20_000 {
        let line = match i % 10 {
            9 => format!("[{}, {}]", gen.event(), gen.event()),
            _ => gen.event(),
        };
        let Ok(sent) = serde_json::from_str::<Value>(&line) else {
            panic!("the generator wrote a bad line: {line}");
        };
        let old: Value = serde_json::from_str(&p.redact_parsed(&line)).unwrap();
        let new_text = p.redact_text(&line);
        let new: Value = serde_json::from_str(&new_text)
            .unwrap_or_else(|e| panic!("{e}: {new_text}\nfrom {line}"));
        assert_eq!(new, old, "line {i}: {line}\nrewritten: {new_text}");
        changed += usize::from(old != sent);
        rewritten += usize::from(matches!(new_text, Cow::Owned(_)));
    }
    // The generator reaches the rules: most lines are changed by one.
    assert!(changed > 10_000, "{changed} lines changed");
    assert!(
        rewritten >= changed,
        "{rewritten} rewritten, {changed} changed"
    );
}

#[test]
fn the_span_rewriter_leaves_the_rest_of_the_line_as_sent() {
    let p = privacy(EVERY_KIND, SECRET);
    // Hashed, then cut to 20 characters by the next rule.
    let hashed = &p.hash("alice-77").unwrap()[..20];
    let line = r#"{"event":"chat.message", "ts":1.50e3, "attrs":{ "text":"bye" , "playerId":"alice-77",  "score":1.50,"s":"caf\u00e9" }, "blob":{"a":[1,2]} }"#;
    assert_eq!(
        p.redact_text(line),
        format!(
            r#"{{"event":"chat.message", "ts":1.50e3, "attrs":{{"playerId":"{hashed}",  "score":1.50,"s":"caf\u00e9" }}}}"#
        )
    );
    // Lines the outline does not read take the Value round trip (here: nested too deep).
    let deep = format!(
        r#"{{"event":"chat.x","attrs":{{"text":"t","d":{}1{}}}}}"#,
        "[".repeat(110),
        "]".repeat(110)
    );
    let v: Value = serde_json::from_str(&p.redact_text(&deep)).unwrap();
    assert!(v["attrs"].get("text").is_none());
    // What serde_json refuses is a reject's text, redacted as raw text either way.
    for bad in [
        r#"{"event":"chat.x","attrs":{"text":"secret words",}}"#,
        r#"{"event":"chat.x","attrs":{"text":"secret words","n":01}}"#,
        r#"{"event":"chat.x","attrs":{"text":"secret words","n":1e999}}"#,
        r#"{"event":"chat.x","attrs":{"text":"secret words\ud800"}}"#,
    ] {
        assert_eq!(p.redact_text(bad), p.redact_parsed(bad), "{bad}");
        assert!(!p.redact_text(bad).contains("secret"), "{bad}");
    }
}

#[test]
fn an_attr_name_spelled_with_escapes_is_redacted_too() {
    // The quick check looks for `"playerId"` and `"text"` as written; JSON may spell them with
    // escapes, which used to let the line through as sent.
    let p = privacy(RULES, SECRET);
    let v = redact(
        &p,
        r#"{"event":"chat.message","attrs":{"p\u006cayerId":"alice-77","t\u0065xt":"my secret"}}"#,
    );
    assert_eq!(
        v["attrs"]["playerId"].as_str(),
        p.hash("alice-77").as_deref()
    );
    assert!(v["attrs"].get("text").is_none(), "{v}");
    // The subject index finds it under its hash too, so an erasure does.
    let body = p.redact_text(r#"{"event":"chat.message","attrs":{"p\u006cayerId":"alice-77"}}"#);
    assert_eq!(
        p.subjects(&body, None),
        vec![subject_key(
            SubjectKind::Player,
            &p.hash("alice-77").unwrap()
        )]
    );
}

#[test]
fn a_mask_anchored_to_a_values_start_is_applied() {
    // `^` matches where a string value starts, never in the line as sent (which starts with
    // `{`): the quick check used to let every such line through as sent.
    let p = privacy(
        "[[privacy.rules]]
mask = ['regex:^secret']
",
        SECRET,
    );
    let v = redact(
        &p,
        r#"{"event":"x","attrs":{"note":"secret code","n":"no secret"}}"#,
    );
    assert_eq!(v["attrs"]["note"], "[redacted] code");
    assert_eq!(v["attrs"]["n"], "no secret");
}

#[test]
fn a_masks_quick_check_never_skips_a_text_its_regex_matches() {
    // `Mask::may_match` runs before every mask's regex, on the line and on each string: a
    // check that said no where the regex matches would store an address as sent.
    let p = privacy(
        "[[privacy.rules]]
mask = ['email', 'ip', 'regex:\\d{4}']
",
        SECRET,
    );
    let masks = &p.rules[0].mask;
    let pieces = [
        "1", "25", "255", "7", "0", ".", ".", ":", "::", "a", "F", "g", "@", "x", "-", " ", "\"",
        "١", "٢٣", "０", "é", "10.1.2.3", "fe80", "db8", "b.c", "@ex.org", "_",
    ];
    let (matched, skipped) = checks_never_skip_a_match(masks, &pieces, 0x5eed_1234_abcd);
    // The generator reaches both sides of each built-in check.
    for k in 0..2 {
        assert!(
            matched[k] > 100 && skipped[k] > 100,
            "{matched:?} {skipped:?}"
        );
    }
    for (text, masked) in [
        ("from ١٢.٤.٥.٦ today", "from [ip] today"),
        ("peer fe80::1ff:fe23:4567:890a", "peer [ip]"),
        ("at 2001:DB8::1", "at [ip]"),
        ("x1.2.3.4y and 01.2.3.4", "x1.2.3.4y and [ip]"),
        ("12:30:45 or 1.2.3", "12:30:45 or 1.2.3"),
        ("to a@b.co", "to [email]"),
    ] {
        let line = format!(r#"{{"event":"x","attrs":{{"t":"{text}"}}}}"#);
        assert_eq!(redact(&p, &line)["attrs"]["t"], masked, "{line}");
    }
}

/// 50,000 random strings of `pieces` through each mask: a pre-check that says no where the
/// regex matches fails the test. Per mask: how many strings matched, how many the check skipped.
fn checks_never_skip_a_match(
    masks: &[crate::config::Mask],
    pieces: &[&str],
    seed: u64,
) -> (Vec<usize>, Vec<usize>) {
    let mut g = Gen(seed);
    let (mut matched, mut skipped) = (vec![0; masks.len()], vec![0; masks.len()]);
    for _ in 0..50_000 {
        let n = 1 + g.next() % 12;
        let text: String = (0..n).map(|_| g.pick(pieces)).collect();
        for (k, mask) in masks.iter().enumerate() {
            if mask.regex.is_match(&text) {
                assert!(mask.may_match(&text), "{} skipped {text:?}", mask.name);
                matched[k] += 1;
            } else if !mask.may_match(&text) {
                skipped[k] += 1;
            }
        }
    }
    (matched, skipped)
}

#[test]
fn a_regex_masks_shape_never_skips_a_text_it_matches() {
    // A `regex:` mask whose matches all have one length checks text for a window of its shape
    // before its regex runs; one that said no where the regex matches would store a card
    // number as sent.
    let p = privacy(
        "[[privacy.rules]]
mask = ['regex:\\d{4}', 'regex:\\b\\d{4}-\\d{2}\\b', 'regex:(?i)e8\\d', 'regex:x?\\d']
",
        SECRET,
    );
    let masks = &p.rules[0].mask;
    let pieces = [
        "1", "25", "255", "7", "0", "-", "-", ".", "a", "F", "E", "e8", "x", " ", "١", "٢٣", "０",
        "é", "fe80", "_", "4111",
    ];
    let (matched, skipped) = checks_never_skip_a_match(masks, &pieces, 0x5eed_4321_dcba);
    // Both sides of each shape are reached; matches of several lengths have no shape.
    assert_eq!(skipped[3], 0);
    for k in 0..3 {
        assert!(
            matched[k] > 30 && skipped[k] > 100,
            "{matched:?} {skipped:?}"
        );
    }
    // The bench's card-like ids: dashes and digits that are not a card are skipped.
    for (text, may) in [
        ("s-12345-3", false),
        ("player-1234", false),
        ("#ID#-1234-12", true),
        ("日本 12-3", true),
    ] {
        assert_eq!(masks[1].may_match(text), may, "{text}");
    }
}

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
    const DROPS: &str = r#"
[privacy]
hash_secret_env = "PT_SECRET"
[[privacy.rules]]
drop = ["text", "peer"]
[[privacy.rules]]
hash = ["playerId", "accountId"]
mask = ["email", "ip"]
[[privacy.rules]]
event = "store.*"
mask = ['regex:\b\d{4}-\d{4}\b']
"#;
    let mut gen = Gen(0x6c07_8965_d2b8_1f4b);
    let (mut taken, mut rewritten, mut cleared) = (0, 0, 0);
    for toml in [DROPS, BENCH_RULES] {
        let p = privacy(toml, SECRET);
        for i in 0..8_000 {
            let n = gen.next() % 7;
            let attrs: Vec<String> = (0..n)
                .map(|_| {
                    let key = gen.pick(&[
                        "text",
                        "peer",
                        "playerId",
                        "accountId",
                        "sessionId",
                        "note",
                        "sku",
                        "x",
                    ]);
                    let value = match gen.next() % 9 {
                        0 => (gen.next() % 1000).to_string(),
                        1 => "true".to_string(),
                        _ => format!(
                            "\"{}\"",
                            gen.pick(&[
                                "player-7",
                                "s-1-2",
                                "hello gg wp",
                                "mail me at p7@example.com",
                                "10.7.3.7",
                                "card 1234-5678",
                                "a long note about the match that goes on",
                                "",
                            ])
                        ),
                    };
                    let (w1, w2, w3) = (gen.ws(), gen.ws(), gen.ws());
                    format!("{w1}\"{key}\"{w2}:{w3}{value}")
                })
                .collect();
            let name = gen.pick(&["chat.message", "match.end", "store.purchase", "ping"]);
            let close = gen.ws();
            let line = format!(
                r#"{{"event":"{name}","id":"e{i}","session":"s-{}","attrs":{{{}{close}}}}}"#,
                gen.next() % 5,
                attrs.join(",")
            );
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
                cleared += usize::from(!line.contains(['@', '.']) && n > 0);
            });
        }
    }
    assert!(taken > 12_000, "{taken} lines took the members path");
    assert!(rewritten > 6_000, "{rewritten} of them rewritten");
    assert!(cleared > 1_000, "{cleared} of them with no mask open");
}
