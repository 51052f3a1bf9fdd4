use super::*;

/// `body` with the columns ingest would give it: the envelope members it has, read by
/// serde_json (so an escaped value's column is what it reads as).
pub(crate) fn event(body: &str) -> StoredEvent {
    let v: serde_json::Value = serde_json::from_str(body).unwrap();
    let text = |k: &str| v.get(k).and_then(|x| x.as_str()).map(Into::into);
    StoredEvent {
        name: text("event").unwrap_or_default(),
        id: text("id"),
        game: text("game").unwrap_or_default(),
        env: text("env"),
        session: text("session"),
        ts_ms: v.get("ts").and_then(|t| t.as_f64()),
        body: body.into(),
        ..StoredEvent::default()
    }
}

/// What the writer stores for `e` (body, `envelope` column).
fn stored(e: &StoredEvent) -> (String, Option<i64>) {
    match pack(e) {
        Some((mask, at)) => {
            let mut out = String::new();
            packed_body(e, at, &mut out);
            (out, Some(mask))
        }
        None => (e.body.clone(), None),
    }
}

/// What a read gives back.
fn read_back(e: &StoredEvent, (body, mask): &(String, Option<i64>)) -> String {
    match mask {
        Some(mask) => unpack(e, *mask, body),
        None => body.clone(),
    }
}

#[test]
fn a_line_as_sdks_send_it_is_stored_as_its_attrs_and_read_back_as_sent() {
    let line = r#"{"event":"match.end","id":"c0-1","game":"bench","env":"prod","session":"s-1","ts":1795700000000,"attrs":{"playerId":"p-1","latencyMs":97.19}}"#;
    let e = event(line);
    let s = stored(&e);
    assert_eq!(
        s,
        (
            r#"{"attrs":{"playerId":"p-1","latencyMs":97.19}}"#.into(),
            Some(219345)
        )
    );
    assert_eq!(read_back(&e, &s), line);
}

#[test]
fn only_a_leading_run_of_exact_compact_members_is_left_out() {
    // (line, what is stored, mask)
    let cases: &[(&str, &str, Option<i64>)] = &[
        // No env: the others still go.
        (
            r#"{"event":"a","id":"1","session":"s","attrs":{}}"#,
            r#"{"attrs":{}}"#,
            Some(337),
        ),
        // Everything is envelope: `{}`.
        (r#"{"event":"a","id":"1"}"#, "{}", Some(17)),
        // Any order: the column says which.
        (
            r#"{"id":"1","event":"a","attrs":{}}"#,
            r#"{"attrs":{}}"#,
            Some(10),
        ),
        (
            r#"{"event":"a","ts":5,"id":"1","game":"g","env":"e","session":"s","x":1}"#,
            r#"{"x":1}"#,
            Some(181937),
        ),
        // A key twice: the second stays.
        (r#"{"event":"a","event":"a"}"#, r#"{"event":"a"}"#, Some(1)),
        // An escaped value reads differently from its text: kept, and the run stops.
        (
            r#"{"event":"a","id":"\u0031","game":"g"}"#,
            r#"{"id":"\u0031","game":"g"}"#,
            Some(1),
        ),
        (
            r#"{"event":"a\/b","id":"1"}"#,
            r#"{"event":"a\/b","id":"1"}"#,
            None,
        ),
        // Whitespace: kept as sent.
        (r#"{ "event":"a"}"#, r#"{ "event":"a"}"#, None),
        (
            r#"{"event": "a","id":"1"}"#,
            r#"{"event": "a","id":"1"}"#,
            None,
        ),
        (
            r#"{"event":"a" ,"id":"1"}"#,
            r#"{"event":"a" ,"id":"1"}"#,
            None,
        ),
        (r#"{"event":"a"} "#, r#"{"event":"a"} "#, None),
        // A timestamp that is not the integer its column reads as.
        (
            r#"{"event":"a","ts":"2026-11-28T00:00:00Z","x":1}"#,
            r#"{"ts":"2026-11-28T00:00:00Z","x":1}"#,
            Some(1),
        ),
        (r#"{"ts":1.5,"x":1}"#, r#"{"ts":1.5,"x":1}"#, None),
        (r#"{"ts":1e3,"x":1}"#, r#"{"ts":1e3,"x":1}"#, None),
        (r#"{"ts":-0,"x":1}"#, r#"{"ts":-0,"x":1}"#, None),
        (r#"{"ts":1000.0,"x":1}"#, r#"{"ts":1000.0,"x":1}"#, None),
        (r#"{"ts":-25,"x":1}"#, r#"{"x":1}"#, Some(6)),
        // A key that only starts like an envelope key.
        (
            r#"{"events":"a","id":"1"}"#,
            r#"{"events":"a","id":"1"}"#,
            None,
        ),
        (r#"{"event":"a","idx":"1"}"#, r#"{"idx":"1"}"#, Some(1)),
        // Not an object at all.
        (r#"[1]"#, r#"[1]"#, None),
    ];
    for &(line, want, mask) in cases {
        let e = event(line);
        let s = stored(&e);
        assert_eq!(s, (want.to_string(), mask), "{line}");
        assert_eq!(read_back(&e, &s), line, "{line}");
    }
}

/// A column that differs from the body's member (ingest gave the event its request's game, say)
/// keeps the member in the body.
#[test]
fn a_member_its_column_does_not_match_is_kept() {
    let line = r#"{"event":"a","game":"sent","id":"1"}"#;
    let mut e = event(line);
    e.game = "scope".into();
    let s = stored(&e);
    assert_eq!(s, (r#"{"game":"sent","id":"1"}"#.into(), Some(1)));
    assert_eq!(read_back(&e, &s), line);
    e.name = "other".into();
    assert_eq!(stored(&e), (line.into(), None));
}

/// Every line made of envelope members in any order, spellings and values, followed or not by
/// more members, is read back byte for byte, and what is stored is still a JSON object with
/// every member the line had beyond those left out.
#[test]
fn any_line_is_read_back_byte_for_byte() {
    let members: &[&str] = &[
        r#""event":"match.end""#,
        r#""event":"é\"x""#,
        r#""id":"c-1""#,
        r#""id":"""#,
        r#""game":"g""#,
        r#""game":"""#,
        r#""env":"prod""#,
        r#""session":"s 1""#,
        r#""ts":1795700000000"#,
        r#""ts":17957000000.25"#,
        r#""ts":"2026-11-28""#,
        r#""ts":null"#,
        r#""env":null"#,
        r#""attrs":{"a":[1,{"b":"c"}]}"#,
        r#""x":true"#,
    ];
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut next = |n: usize| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % n as u64) as usize
    };
    let mut packed = 0;
    for _ in 0..20_000 {
        let mut keys = std::collections::HashSet::new();
        let picked: Vec<&str> = (0..next(8))
            .map(|_| members[next(members.len())])
            .filter(|m| keys.insert(m.split(':').next().unwrap_or_default().to_string()))
            .collect();
        let sep = if next(10) == 0 { ", " } else { "," };
        let line = format!("{{{}}}", picked.join(sep));
        let e = event(&line);
        let s = stored(&e);
        packed += usize::from(s.1.is_some());
        assert_eq!(read_back(&e, &s), line, "{line}");
        let kept: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(&s.0).unwrap_or_else(|err| panic!("{line}: {err}"));
        let full: serde_json::Map<String, serde_json::Value> = serde_json::from_str(&line).unwrap();
        for (k, v) in &kept {
            assert_eq!(full.get(k), Some(v), "{line}");
        }
    }
    assert!(packed > 2_000, "only {packed} lines left members out");
}

/// A column value no release writes (a database edited by hand) gives the body as stored,
/// whatever it is, rather than a line made up of it.
#[test]
fn a_code_no_release_writes_leaves_the_body_as_stored() {
    let e = event(r#"{"event":"a","id":"1"}"#);
    for code in [0, -1, i64::MIN, 1 << 18, 7, 7 << 3 | 1, 0b001_000] {
        assert_eq!(unpack(&e, code, r#"{"x":1}"#), r#"{"x":1}"#, "{code}");
    }
    // Columns the code names but the row lacks.
    let bare = event(r#"{"x":1}"#);
    assert_eq!(unpack(&bare, 2, r#"{"x":1}"#), r#"{"x":1}"#);
}
