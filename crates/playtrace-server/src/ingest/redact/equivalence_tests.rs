//! Property tests that hold the redaction's span rewriter and the masks' quick checks to the
//! plain value round trip and regexes on generated lines, and the generator the tests share.

use super::tests::{privacy, redact, RULES, SECRET};
use super::*;

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

/// Rules that drop and hash attrs of every event, and masks.
pub(super) const DROPS: &str = r#"
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

/// A native line as SDKs write it (`event` first, the envelope, one flat `attrs`), with keys
/// the rules name, odd whitespace and values masks match; with the number of attrs.
pub(super) fn sdk_line(gen: &mut Gen, i: usize) -> (String, u64) {
    let n = gen.next() % 7;
    let attrs: Vec<String> = (0..n)
        .map(|_| {
            let key = gen.pick(&[
                "text",
                "peer",
                "playerId",
                "accountId",
                "actorId",
                "sessionId",
                "note",
                "meta",
                "n",
                "sku",
                "x",
            ]);
            let value = match gen.next() % 9 {
                0 => (gen.next() % 1000).to_string(),
                1 => gen.scalar(),
                _ => format!(
                    "\"{}\"",
                    gen.pick(&[
                        "player-7",
                        "s-1-2",
                        "hello gg wp",
                        "mail me at p7@example.com",
                        "10.7.3.7",
                        "fe80:0:1::7",
                        "card 1234-5678",
                        "a long note about the match that goes on",
                        "ünïcødé ✓ 10.0.0.1",
                        "",
                    ])
                ),
            };
            let (w1, w2, w3) = (gen.ws(), gen.ws(), gen.ws());
            format!("{w1}\"{key}\"{w2}:{w3}{value}")
        })
        .collect();
    let name = gen.pick(&[
        "chat.message",
        "match.end",
        "store.purchase",
        "round.end",
        "ping",
    ]);
    let (close, ws) = (gen.ws(), gen.ws());
    let session = gen.pick(&["s-1", "s-2", "s-3"]);
    let line = format!(
        r#"{{"event":"{name}",{ws}"id":"e{i}","game":"g","session":"{session}","ts":{i},"attrs":{{{}{close}}}}}"#,
        attrs.join(",")
    );
    (line, n)
}
