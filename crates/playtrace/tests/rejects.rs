//! Stored rejects recovered (issue 25) against a real `playtrace serve`: browsing and grouping,
//! a dry run, a replay through ingest repaired by a transform (budgets then equal the monitor's
//! on the repaired lines), replaying twice, a replay killed with SIGKILL and run again, and the
//! alert a replayed event raises.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod server;

use common::{contest_lines, playtrace};
use serde_json::{json, Value};
use server::{start, Server};
use std::time::{Duration, Instant};

/// The repair of the client bug the tests simulate: `message` sent as `msg`.
const TRANSFORM: &str = "[[rename]]\nfrom = \"msg\"\nto = \"message\"\n";

/// `n` lines of contests as the fixed client writes them, and as the buggy one did.
fn lines(n: usize) -> (String, String) {
    let mut good = String::new();
    let mut contest = 0;
    while good.lines().count() < n {
        good.push_str(&contest_lines(
            &format!("c{contest}"),
            &format!("r{}", contest % 7),
            100 + (contest * 37 % 900) as u64,
            1000 + (contest * 53 % 4000) as u64,
        ));
        contest += 1;
    }
    let good: String = good.lines().take(n).map(|l| format!("{l}\n")).collect();
    let bad = good.replace("\"message\":", "\"msg\":");
    (good, bad)
}

fn post_json(s: &Server, path: &str, body: &Value) -> (u16, Value) {
    let (status, _, answer) = s.post_with(
        path,
        &[("Content-Type", "application/json")],
        body.to_string().as_bytes(),
    );
    (status, answer)
}

fn ingest_all(s: &Server, body: &str) -> u64 {
    let mut rejected = 0;
    let all: Vec<&str> = body.lines().collect();
    for chunk in all.chunks(5000) {
        let (status, _, answer) = s.ingest(&(chunk.join("\n") + "\n"), None);
        assert_eq!(status, 200, "{answer}");
        rejected += answer["rejected"].as_array().unwrap().len() as u64;
    }
    rejected
}

fn assert_budgets_equal(s: &Server, monitor: &Value) {
    let (_, _, budgets) = s.get("/v1/budgets", None);
    for window in budgets["windows"].as_array().unwrap() {
        for metric in ["arming", "resolution"] {
            let live = window["budgets"]
                .as_array()
                .unwrap()
                .iter()
                .find(|b| b["metric"] == metric)
                .unwrap();
            let offline = &monitor["durations"][metric];
            assert!(offline["samples"].as_u64().unwrap() > 300, "{offline}");
            for key in ["samples", "p50", "p95", "p99", "max"] {
                assert_eq!(
                    live[key], offline[key],
                    "{metric}.{key} in {}",
                    window["window"]
                );
            }
        }
    }
}

#[test]
fn renamed_field_rejects_replay_once_and_budgets_equal_the_monitors() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(&dir.path().join("data"), "");
    let (good, bad) = lines(1000);
    assert_eq!(ingest_all(&s, &bad), 1000);

    // What is failing: one request, grouped; the groups add up to the stored rejects.
    let (status, _, grouped) = s.get("/v1/rejects?group_by=kind,message", None);
    assert_eq!(status, 200, "{grouped}");
    let groups = grouped["groups"].as_array().unwrap();
    let sum: u64 = groups.iter().map(|g| g["count"].as_u64().unwrap()).sum();
    assert_eq!((sum, grouped["total"].as_u64()), (1000, Some(1000)));
    assert!(groups[0]["example"]["raw"]
        .as_str()
        .unwrap()
        .contains("\"msg\""));
    assert!(groups[0]["kind"].is_string() && groups[0]["message"].is_string());
    // Filters narrow them: by kind, and by a word of the message.
    let kind = groups[0]["kind"].as_str().unwrap();
    let of_kind: u64 = groups
        .iter()
        .filter(|g| g["kind"] == kind)
        .map(|g| g["count"].as_u64().unwrap())
        .sum();
    let (_, _, by_kind) = s.get(&format!("/v1/rejects?group_by=kind&kind={kind}"), None);
    assert_eq!(by_kind["total"].as_u64(), Some(of_kind), "{by_kind}");
    let (_, _, none) = s.get("/v1/rejects?q=no-such-message-text", None);
    assert_eq!(none["rejects"], json!([]));
    let (status, _, refused) = s.get("/v1/rejects?group_by=colour", None);
    assert_eq!(status, 400, "{refused}");
    assert!(refused.to_string().contains("colour"), "{refused}");

    // A dry run without the transform: nothing passes, and it says why (grouped).
    let (status, dry) = post_json(&s, "/v1/rejects/replay", &json!({"dryRun": true}));
    assert_eq!(status, 200, "{dry}");
    assert_eq!(
        (dry["selected"].as_u64(), dry["passing"].as_u64()),
        (Some(1000), Some(0))
    );
    let failing: u64 = dry["stillFailing"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["count"].as_u64().unwrap())
        .sum();
    assert_eq!(failing, 1000, "{dry}");
    // With it: all 1,000 would pass; a dry run stores nothing.
    let (_, dry) = post_json(
        &s,
        "/v1/rejects/replay",
        &json!({"dryRun": true, "transform": TRANSFORM}),
    );
    assert_eq!(
        (dry["passing"].as_u64(), dry["events"].as_u64()),
        (Some(1000), Some(0)),
        "{dry}"
    );
    assert_eq!(s.get("/v1/events?limit=1", None).2["events"], json!([]));

    let (status, done) = post_json(&s, "/v1/rejects/replay", &json!({"transform": TRANSFORM}));
    assert_eq!(status, 200, "{done}");
    assert_eq!(
        (done["replayed"].as_u64(), done["events"].as_u64()),
        (Some(1000), Some(1000)),
        "{done}"
    );
    assert_eq!(done["outsideLiveWindows"], 0);

    // Budgets now include them, equal to `monitor` on the repaired lines.
    let repaired = dir.path().join("repaired.ndjson");
    std::fs::write(&repaired, &good).unwrap();
    let out = playtrace()
        .args(["monitor", "--format", "json"])
        .arg(&repaired)
        .output()
        .unwrap();
    let monitor: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_budgets_equal(&s, &monitor);

    // Replayed events say so; the rejects stay, marked with the event they became.
    let (_, _, page) = s.get("/v1/events?limit=1", None);
    assert_eq!(page["events"][0]["replayed"], true, "{page}");
    assert_eq!(page["events"][0]["id"], "reject-1", "{page}");
    let (_, _, first) = s.get("/v1/rejects/1", None);
    assert_eq!(first["replayed"], true, "{first}");
    assert_eq!(first["replayedSeq"], page["events"][0]["seq"], "{first}");
    let (_, _, left) = s.get("/v1/rejects?replayed=false", None);
    assert_eq!(left["rejects"], json!([]));

    // A second replay adds nothing.
    let (_, again) = post_json(&s, "/v1/rejects/replay", &json!({"transform": TRANSFORM}));
    assert_eq!(
        (again["selected"].as_u64(), again["events"].as_u64()),
        (Some(0), Some(0)),
        "{again}"
    );
    // After a restart the live state is rebuilt with the replayed events where they were.
    let db = s.db();
    let data = s.data_dir.clone();
    s.terminate();
    let s = start(&data, "");
    assert_budgets_equal(&s, &monitor);
    s.terminate();
    let conn = rusqlite::Connection::open(db).unwrap();
    let (n, ids): (i64, i64) = conn
        .query_row(
            "SELECT count(*), count(DISTINCT id) FROM events WHERE kind = 0",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!((n, ids), (1000, 1000));
}

#[test]
fn a_replay_killed_midway_completes_exactly_once_when_run_again() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let s = start(&data, "");
    const N: usize = 8_000;
    let (_, bad) = lines(N);
    assert_eq!(ingest_all(&s, &bad), N as u64);
    let url = s.url.clone();
    let replay = std::thread::spawn(move || {
        // The answer never comes: the collector is killed under it.
        let _ = server::agent()
            .post(format!("{url}/v1/rejects/replay"))
            .header("Content-Type", "application/json")
            .send(json!({"transform": TRANSFORM}).to_string());
    });
    let deadline = Instant::now() + Duration::from_secs(120);
    while s.get("/v1/rejects?replayed=true&limit=1", None).2["rejects"] == json!([]) {
        assert!(Instant::now() < deadline, "the replay never started");
        std::thread::sleep(Duration::from_millis(5));
    }
    let db = s.db();
    s.kill();
    let _ = replay.join();
    let conn = rusqlite::Connection::open(&db).unwrap();
    let count = |sql: &str| -> i64 { conn.query_row(sql, [], |r| r.get(0)).unwrap() };
    let marked = count("SELECT count(*) FROM rejects JOIN reject_replays ON reject_seq = seq");
    // Every reject marked has exactly its events, and no event lacks its mark.
    assert_eq!(count("SELECT count(*) FROM events WHERE kind = 0"), marked);
    assert!(marked < N as i64, "the replay finished before the kill");
    drop(conn);

    let s = start(&data, "");
    let (status, done) = post_json(&s, "/v1/rejects/replay", &json!({"transform": TRANSFORM}));
    assert_eq!(status, 200, "{done}");
    assert_eq!(done["events"].as_i64(), Some(N as i64 - marked), "{done}");
    s.terminate();
    let conn = rusqlite::Connection::open(&db).unwrap();
    let count = |sql: &str| -> i64 { conn.query_row(sql, [], |r| r.get(0)).unwrap() };
    assert_eq!(
        count("SELECT count(*) FROM events WHERE kind = 0"),
        N as i64
    );
    assert_eq!(
        count("SELECT count(DISTINCT id) FROM events WHERE kind = 0"),
        N as i64
    );
    assert_eq!(
        count(
            "SELECT count(*) FROM rejects LEFT JOIN reject_replays ON reject_seq = seq
             WHERE event_seq IS NULL"
        ),
        0
    );
}

#[test]
fn an_alert_from_a_replayed_flagged_event_says_replayed() {
    let dir = tempfile::tempdir().unwrap();
    let config = r#"
[[alerts.rules]]
name = "cheat-flag"
category = "moderation"
event = "anticheat.flag"
when = [{ field = "score", op = "gt", value = 90 }]
severity = "high"
reason = "anticheat.flagged"
copy = ["score"]
"#;
    let s = start(&dir.path().join("data"), config);
    // The old client wrote its event name as `evt`.
    let line = r#"{"evt":"anticheat.flag","game":"gf","session":"s1","attrs":{"sessionId":"s1","score":97}}"#;
    assert_eq!(ingest_all(&s, line), 1);
    let (_, _, by_game) = s.get("/v1/rejects?game=gf", None);
    assert_eq!(by_game["rejects"].as_array().unwrap().len(), 1, "{by_game}");
    assert_eq!(
        s.get("/v1/rejects?game=other", None).2["rejects"],
        json!([])
    );
    // From the terminal: what fails, the line itself, then the replay with a transform file.
    let cli = |args: &[&str]| -> Value {
        let out = playtrace()
            .arg("rejects")
            .args(args)
            .args(["--url", &s.url, "--format", "json"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let groups = cli(&["list", "--group-by", "kind,message"]);
    assert_eq!(groups["total"], 1, "{groups}");
    let shown = cli(&["show", "1"]);
    assert_eq!(shown["raw"], line);
    let fix = dir.path().join("fix.toml");
    std::fs::write(&fix, "[[rename]]\nfrom = \"evt\"\nto = \"event\"\n").unwrap();
    let fix = fix.to_str().unwrap();
    let dry = cli(&["replay", "--game", "gf", "--dry-run", "--transform", fix]);
    assert_eq!(
        (dry["passing"].as_u64(), dry["events"].as_u64()),
        (Some(1), Some(0)),
        "{dry}"
    );
    let done = cli(&["replay", "--game", "gf", "--transform", fix]);
    assert_eq!(done["events"].as_u64(), Some(1), "{done}");
    let (_, _, alerts) = s.get("/v1/alerts", None);
    let alert = alerts["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["rule"] == "cheat-flag")
        .unwrap_or_else(|| panic!("no alert: {alerts}"));
    assert_eq!(alert["data"]["replayed"], true, "{alert}");
    assert_eq!(alert["data"]["score"], 97, "{alert}");
}
