//! Privacy on the real binary (docs/PRIVACY.md): redaction before anything is stored, erasure
//! through the API and the CLI — checked on the bytes of the database and WAL files.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod hook;
mod server;

use serde_json::Value;
use server::{start_env, subscribe};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

const SECRET_VAR: &str = "PLAYTRACE_TEST_HASH_SECRET";
const SECRET: &str = "test-secret-0123456789abcdef0123";

const RULES: &str = r#"
[privacy]
hash_secret_env = "PLAYTRACE_TEST_HASH_SECRET"
[[privacy.rules]]
event = "chat.*"
drop = ["text"]
hash = ["playerId"]
[[privacy.rules]]
mask = ["email", "ip"]
"#;

/// The database and WAL files' bytes, together.
fn store_bytes(dir: &Path) -> Vec<u8> {
    let mut bytes = std::fs::read(dir.join("playtrace.db")).unwrap();
    bytes.extend(std::fs::read(dir.join("playtrace.db-wal")).unwrap_or_default());
    bytes
}

fn occurs(bytes: &[u8], needle: &str) -> bool {
    bytes.windows(needle.len()).any(|w| w == needle.as_bytes())
}

fn chat(id: &str, player: &str, session: &str, text: &str) -> String {
    format!(
        r#"{{"event":"chat.message","id":"{id}","game":"gf","session":"{session}","attrs":{{"playerId":"{player}","text":"{text}","from":"{player}@example.com at 203.0.113.77"}}}}"#
    )
}

/// `POST /v1/erasures` with `body`, which must succeed; its answer.
fn erase(s: &server::Server, body: &str) -> Value {
    let (status, _, answer) = s.post_with(
        "/v1/erasures",
        &[("Content-Type", "application/json")],
        body.as_bytes(),
    );
    assert_eq!(status, 200, "{answer}");
    answer
}

fn events(s: &server::Server) -> Vec<Value> {
    let (status, _, page) = s.get("/v1/events?limit=1000", None);
    assert_eq!(status, 200, "{page}");
    page["events"].as_array().unwrap().clone()
}

#[test]
fn redaction_keeps_raw_ids_texts_and_addresses_out_of_the_files_and_hashes_stay_stable() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let env = [(SECRET_VAR, SECRET)];
    let s = start_env(&data, RULES, &env);
    let body = [
        chat("c-1", "alice-4411", "s-a", "alice private chat zq81"),
        // Not JSON: stored as a reject, redacted as text.
        r#"{"event":"chat.message","attrs":{"playerId":"alice-4411","text":"rejected chat qx55","ip":"198.51.100.23""#.to_string(),
    ]
    .join("\n");
    let (status, _, answer) = s.ingest(&body, None);
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["accepted"], 1);
    assert_eq!(answer["rejected"].as_array().unwrap().len(), 1);
    let stored = events(&s);
    let hashed = stored[0]["attrs"]["playerId"].as_str().unwrap().to_string();
    assert_eq!(hashed.len(), 32);
    assert!(stored[0]["attrs"].get("text").is_none());
    assert_eq!(stored[0]["attrs"]["from"], "[email] at [ip]");
    let (_, _, rejects) = s.get("/v1/rejects", None);
    let raw = rejects.to_string();
    assert!(
        raw.contains(&hashed),
        "the reject keeps the hashed id: {raw}"
    );
    for secret in [
        "alice-4411",
        "zq81",
        "qx55",
        "example.com",
        "203.0.113.77",
        "198.51.100.23",
    ] {
        assert!(!raw.contains(secret), "{secret} in the rejects: {raw}");
    }
    let (code, _) = s.terminate();
    assert_eq!(code, Some(0));
    let bytes = store_bytes(&data);
    for secret in [
        "alice-4411",
        "zq81",
        "qx55",
        "@example.com",
        "203.0.113.77",
        "198.51.100.23",
    ] {
        assert!(
            !occurs(&bytes, secret),
            "`{secret}` is in the store's files"
        );
    }
    assert!(occurs(&bytes, &hashed));

    // After a restart, the same secret gives the same hash: the player still correlates.
    let s = start_env(&data, RULES, &env);
    s.ingest(&chat("c-2", "alice-4411", "s-b", "again"), None);
    let stored = events(&s);
    assert_eq!(stored.len(), 2);
    assert!(stored
        .iter()
        .all(|e| e["attrs"]["playerId"] == hashed.as_str()));
    s.terminate();

    // Another secret, another hash.
    let other = start_env(
        &dir.path().join("other"),
        RULES,
        &[(SECRET_VAR, "another-secret-0123456789abcdef")],
    );
    other.ingest(&chat("c-1", "alice-4411", "s-a", "hi"), None);
    let stored = events(&other);
    assert_ne!(stored[0]["attrs"]["playerId"], hashed.as_str());
}

#[test]
fn a_missing_hash_secret_refuses_to_start_naming_the_variable() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("c.toml");
    std::fs::write(&config, RULES).unwrap();
    let out = common::playtrace()
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path().join("data"))
        .arg("--config")
        .arg(&config)
        .env_remove(SECRET_VAR)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        common::stderr(&out).contains(SECRET_VAR),
        "{}",
        common::stderr(&out)
    );
}

/// Alice's events come first, then 20 other players'; one flagged event of alice's session
/// raises a moderation alert naming the session.
fn populate(s: &server::Server) {
    let alice: String = (0..30)
        .map(|i| {
            chat(
                &format!("a-{i}"),
                "alice-4411",
                "s-alice",
                &format!("alice words {i}"),
            ) + "\n"
        })
        .collect();
    assert_eq!(s.ingest(&alice, None).0, 200);
    let flagged = r#"{"event":"narrative.check.completed","id":"f-1","game":"gf","session":"s-alice","attrs":{"checkId":"chk-1","playerId":"alice-4411","safetyFlags":["prohibited-capability"]}}"#;
    assert_eq!(s.ingest(flagged, None).0, 200);
    let others: String = (0..200)
        .map(|i| {
            let p = format!("bob-{}", i % 20);
            chat(
                &format!("b-{i}"),
                &p,
                &format!("s-{p}"),
                &format!("{p} words {i}"),
            ) + "\n"
        })
        .collect();
    assert_eq!(s.ingest(&others, None).0, 200);
}

#[test]
fn erasing_a_player_through_the_api_removes_its_bytes_and_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // Without a [privacy] section nothing is indexed for erasure, and the API says so.
    {
        let bare = dir.path().join("bare");
        let s = start_env(&bare, "", &[]);
        let (status, _, answer) = s.post_with(
            "/v1/erasures",
            &[("Content-Type", "application/json")],
            br#"{"player":"alice-4411"}"#,
        );
        assert_eq!(status, 409, "{answer}");
        assert!(
            answer["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("[privacy]")),
            "{answer}"
        );
    }
    // No hashing: the raw id is stored, and must go.
    let s = start_env(&data, "[privacy]\n", &[]);
    populate(&s);
    assert!(occurs(&store_bytes(&data), "alice-4411"));
    let last_seq = events(&s).len();

    let answer = erase(&s, r#"{"player":"alice-4411"}"#);
    assert_eq!(answer["removed"]["events"], 31, "{answer}");
    assert_eq!(answer["walTruncated"], true);
    let bytes = store_bytes(&data);
    assert!(!occurs(&bytes, "alice-4411"), "alice's id is in the files");
    assert!(
        !occurs(&bytes, "alice words"),
        "alice's texts are in the files"
    );
    assert!(occurs(&bytes, "bob-3 words"), "other players stay");

    let left = events(&s);
    assert_eq!(left.len(), 200);
    assert!(left.iter().all(|e| e["attrs"]["playerId"] != "alice-4411"));

    let (status, _, log) = s.get("/v1/erasures", None);
    assert_eq!(status, 200);
    let entry = &log["erasures"][0];
    assert_eq!(entry["subject"], "player");
    assert_eq!(entry["removed"]["events"], 31);
    assert!(!log.to_string().contains("alice"), "{log}");

    // A client that stopped before alice's events resumes across the gap without a reset.
    let sub = subscribe(
        &s.url,
        "/v1/stream?topics=events",
        &[("Last-Event-ID", "0")],
    );
    let replayed = sub.take(200, Duration::from_secs(10));
    assert!(
        replayed.iter().all(|m| m.event == "event"),
        "a reset was sent"
    );
    assert_eq!(replayed[0].data["id"], "b-0");
    assert!(last_seq > 0);
    drop(sub);

    // The newest event erased: a client that saw it is not "ahead" of the store.
    s.ingest(&chat("c-1", "carol-1", "s-carol", "carol words"), None);
    let carol = events(&s).last().unwrap()["seq"]
        .as_i64()
        .unwrap()
        .to_string();
    let (status, _, _) = s.post_with("/v1/erasures", &[], br#"{"player":"carol-1"}"#);
    assert_eq!(status, 200);
    let sub = subscribe(
        &s.url,
        "/v1/stream?topics=events",
        &[("Last-Event-ID", carol.as_str())],
    );
    s.ingest(&chat("d-1", "dave-1", "s-dave", "dave words"), None);
    let first = sub.next(Duration::from_secs(10)).unwrap();
    assert_eq!(
        (first.event.as_str(), &first.data["id"]),
        ("event", &Value::from("d-1"))
    );
}

#[test]
fn erasing_a_session_scrubs_the_alert_naming_it_and_the_cli_erases_a_hashed_player() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let env = [(SECRET_VAR, SECRET)];
    let s = start_env(&data, RULES, &env);
    populate(&s);
    let (_, _, alerts) = s.get("/v1/alerts", None);
    assert_eq!(alerts["alerts"][0]["sessionId"], "s-alice");
    let answer = erase(&s, r#"{"session":"s-alice"}"#);
    assert_eq!(answer["removed"]["events"], 31, "{answer}");
    assert_eq!(answer["removed"]["alerts"], 1, "{answer}");
    let (_, _, alerts) = s.get("/v1/alerts", None);
    assert_eq!(alerts["alerts"][0]["sessionId"], "[erased]");
    assert!(!occurs(&store_bytes(&data), "s-alice"));
    let (status, _, bad) = s.post_with("/v1/erasures", &[], br#"{"player":"a","session":"b"}"#);
    assert_eq!(status, 400, "{bad}");
    let hash_of = |session: &str| {
        let stored = events(&s);
        let e = stored.iter().find(|e| e["session"] == session).unwrap();
        e["attrs"]["playerId"].as_str().unwrap().to_string()
    };
    let (bob3, bob4) = (hash_of("s-bob-3"), hash_of("s-bob-4"));
    s.terminate();

    // Offline, by the CLI: bob-3's id is stored hashed; the CLI hashes it with the same secret.
    let config = dir.path().join("c.toml");
    std::fs::write(&config, RULES).unwrap();
    let out = common::playtrace()
        .args([
            "store",
            "erase",
            "--player",
            "bob-3",
            "--format",
            "json",
            "--data-dir",
        ])
        .arg(&data)
        .arg("--config")
        .arg(&config)
        .env(SECRET_VAR, SECRET)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", common::stderr(&out));
    let answer = common::json(&out);
    assert_eq!(answer["removed"]["events"], 10, "{answer}");
    let bytes = store_bytes(&data);
    assert!(!occurs(&bytes, &bob3), "bob-3's hashed id is in the files");
    assert!(
        !occurs(&bytes, "s-bob-3\""),
        "bob-3's session is in the files"
    );
    assert!(occurs(&bytes, &bob4), "bob-4 stays");
}

/// Polls `f` until it holds (bounded).
fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !f() {
        assert!(Instant::now() < deadline, "never happened: {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn pending_notifications(s: &server::Server) -> Vec<Value> {
    let (status, _, v) = s.get("/v1/notifications?state=pending", None);
    assert_eq!(status, 200, "{v}");
    v["notifications"].as_array().unwrap().clone()
}

/// Alert notifications keep copies of the alert (the journal, the group and its members, the
/// payload waiting in the outbox) and a `group_by = ["session"]` route puts the session into the
/// group's key: an erasure scrubs them all, and the notifier's copies in memory are not sent.
#[test]
fn erasing_a_session_scrubs_its_pending_notification_in_the_files_and_in_memory() {
    // The receiver is down: the notification stays pending, retried from memory.
    let port = hook::free_port();
    let config = format!(
        "[privacy]\n[notify]\nbackoff = \"50ms\"\nmax_backoff = \"200ms\"\nmax_attempts = 1000\n\
         [[notify.receivers]]\nname = \"down\"\nkind = \"webhook\"\nurl = \"http://127.0.0.1:{port}\"\n\
         [[notify.routes]]\nreceiver = \"down\"\ngroup_by = [\"session\"]\ngroup_wait = \"0s\"\n"
    );
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let s = start_env(&data, &config, &[]);
    populate(&s);
    eventually("the alert's notification pending, and failing", || {
        pending_notifications(&s)
            .iter()
            .any(|n| n["attempts"].as_u64() >= Some(1))
    });
    let id = pending_notifications(&s)[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (_, _, before) = s.get(&format!("/v1/notifications/{id}"), None);
    assert!(before.to_string().contains("s-alice"), "{before}");
    assert!(occurs(&store_bytes(&data), "s-alice"));

    let answer = erase(&s, r#"{"session":"s-alice"}"#);
    assert_eq!(answer["walTruncated"], true, "{answer}");
    let bytes = store_bytes(&data);
    assert!(!occurs(&bytes, "s-alice"), "the session is in the files");
    assert!(occurs(&bytes, "s-bob-3"), "other sessions stay");

    // Still pending, scrubbed: its group key and payload no longer name the session.
    let pending = pending_notifications(&s);
    assert_eq!(pending.len(), 1, "{pending:?}");
    assert_eq!(pending[0]["id"], id.as_str());
    let (_, _, after) = s.get(&format!("/v1/notifications/{id}"), None);
    let text = after.to_string();
    assert!(!text.contains("s-alice"), "{after}");
    assert_eq!(
        after["payload"]["groupLabels"]["session"], "[erased]",
        "{after}"
    );

    // The receiver comes back: what it gets is the scrubbed copy, not one kept in memory from
    // before the erasure.
    let hook = hook::start_on(port, Arc::new(|_, _| hook::ok()));
    let got = hook.wait_for(1, Duration::from_secs(30));
    assert!(!got.is_empty(), "nothing delivered");
    for r in &got {
        assert!(!r.body.to_string().contains("s-alice"), "{}", r.body);
        assert_eq!(r.body["groupLabels"]["session"], "[erased]", "{}", r.body);
    }
    assert!(!occurs(&store_bytes(&data), "s-alice"));
}

/// A request naming 1,024 subject keys or more brings its index batch built before the writer
/// (the prepared path, `subjects::prepare`); smaller ones are indexed by the writer. A player
/// whose lines sit among 700 others of one request is erased exactly, and nobody else is.
#[test]
fn a_player_among_a_large_request_is_erased_and_nobody_else() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let s = start_env(&data, "[privacy]\n", &[]);
    // 700 lines, 2 keys each (player, session): 1,400 entries. Every 10th line is erin's.
    let body: String = (0..700)
        .map(|i| {
            let p = if i % 10 == 3 {
                "erin-77".to_string()
            } else {
                format!("finn-{}", i % 40)
            };
            chat(
                &format!("e-{i}"),
                &p,
                &format!("s-{p}"),
                &format!("{p} says {i}"),
            ) + "\n"
        })
        .collect();
    let (status, _, answer) = s.ingest(&body, None);
    assert_eq!(
        (status, &answer["accepted"]),
        (200, &Value::from(700)),
        "{answer}"
    );
    assert!(occurs(&store_bytes(&data), "erin-77 says"));

    let answer = erase(&s, r#"{"player":"erin-77"}"#);
    assert_eq!(answer["removed"]["events"], 70, "{answer}");
    let bytes = store_bytes(&data);
    assert!(!occurs(&bytes, "erin-77"), "erin's id is in the files");
    assert!(occurs(&bytes, "finn-12 says 12"), "the others stay");
    let left: Vec<String> = events(&s)
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_string())
        .collect();
    let want: Vec<String> = (0..700)
        .filter(|i| i % 10 != 3)
        .map(|i| format!("e-{i}"))
        .collect();
    assert_eq!(left, want, "exactly erin's rows left the store");
    // A session of the same request, through the same batch.
    let answer = erase(&s, r#"{"session":"s-finn-5"}"#);
    assert_eq!(answer["removed"]["events"], 18, "{answer}"); // i = 5, 45, … 685
}
