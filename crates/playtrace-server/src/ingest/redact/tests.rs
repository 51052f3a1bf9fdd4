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

pub(super) fn redact(p: &Privacy, line: &str) -> Value {
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

/// The subject index finds every attr of `player_attrs` and `sessionId` wherever it is, with
/// spaces around its colon or nested, an attr listed in both counts as both, and a name written
/// as a value names nothing.
#[test]
fn the_index_finds_each_subject_attr_whatever_player_attrs_lists() {
    let p = privacy(
        "[privacy]\nplayer_attrs = [\"sessionId\", \"uid\", \"userId\"]\n",
        SECRET,
    );
    let keys = p.subjects(
        r#"{"event":"x","attrs":{"note":"uid","uid" : "u1","userId":7,"sessionId":"s2","deep":{"uid":"u2"}}}"#,
        None,
    );
    let mut want = vec![
        subject_key(SubjectKind::Player, "u1"),
        subject_key(SubjectKind::Player, "7"),
        subject_key(SubjectKind::Player, "s2"),
        subject_key(SubjectKind::Session, "s2"),
        subject_key(SubjectKind::Player, "u2"),
    ];
    want.sort_unstable();
    assert_eq!(keys, want);
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
