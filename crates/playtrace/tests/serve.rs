//! `playtrace serve` against real clients on loopback: dialects, budgets equal to the monitor's,
//! every bad-request answer while another client keeps ingesting, tokens, durability settings,
//! retention, restart and shutdown.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod server;

use common::{fixture, fixture_str, playtrace};
use serde_json::{json, Value};
use server::{event, start};
use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

fn names(events: &Value) -> Vec<String> {
    events["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn every_dialect_is_ingested_and_queryable() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(&dir.path().join("data"), "");
    // Native and structured log lines.
    let (status, _, body) = s.ingest(
        &[
            event(
                "telemetry.contest.armed",
                "n1",
                r#"{"hubId":"h","roomId":"r","contestKey":"k"}"#,
            ),
            r#"{"level":"info","message":"chat.message","sessionId":"s1","text":"gg"}"#.to_string(),
        ]
        .join("\n"),
        None,
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({"accepted": 2, "duplicates": 0, "rejected": []})
    );
    // A JSON array.
    let (status, _, body) = s.post_with(
        "/v1/events",
        &[("Content-Type", "application/json")],
        br#"[{"event":"array.one","id":"a1"},{"event":"array.two","id":"a2"}]"#,
    );
    assert_eq!((status, body["accepted"].as_u64()), (200, Some(2)));
    // A timeline artefact (one document).
    let timeline = std::fs::read(fixture("contest-timeline-artefact.trimmed.json")).unwrap();
    let (status, _, body) = s.post_with(
        "/v1/events",
        &[("Content-Type", "application/json")],
        &timeline,
    );
    assert_eq!(status, 200, "{body}");
    assert!(body["accepted"].as_u64().unwrap() >= 3, "{body}");
    // A monitor summary re-ingested.
    let summary = std::fs::read(fixture("contest-monitor-summary.derived.json")).unwrap();
    let (status, _, body) = s.post_with(
        "/v1/events",
        &[("Content-Type", "application/json; charset=utf-8")],
        &summary,
    );
    assert_eq!(status, 200, "{body}");
    assert!(body["accepted"].as_u64().unwrap() > 0, "{body}");

    let (_, _, page) = s.get("/v1/events?limit=4", None);
    assert_eq!(
        names(&page),
        [
            "telemetry.contest.armed",
            "chat.message",
            "array.one",
            "array.two"
        ]
    );
    assert_eq!(page["next"], 4);
    assert_eq!(page["events"][0]["game"], "gf");
    assert_eq!(page["events"][0]["attrs"]["hubId"], "h");
    assert_eq!(page["events"][1]["attrs"]["sessionId"], "s1");
    assert_eq!(page["events"][1]["level"], "info");
    // Prefix filter and cursor.
    let (_, _, page) = s.get(
        "/v1/events?name=telemetry.contest.&after=1&limit=1000",
        None,
    );
    let got = names(&page);
    assert!(!got.is_empty());
    assert!(
        got.iter().all(|n| n.starts_with("telemetry.contest.")),
        "{got:?}"
    );
    assert!(page["events"][0]["seq"].as_i64().unwrap() > 1);
    let (status, _, body) = s.get("/v1/events?limit=5000", None);
    assert_eq!(status, 400);
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("1 to 1000"));
}

#[test]
fn fixture_budgets_equal_the_monitors() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(&dir.path().join("data"), "");
    let ndjson = std::fs::read_to_string(fixture("contest-telemetry-load-breach.ndjson")).unwrap();
    let (status, _, body) = s.ingest(&ndjson, None);
    assert_eq!(
        (status, body["accepted"].as_u64()),
        (200, Some(12)),
        "{body}"
    );

    let out = playtrace()
        .args([
            "monitor",
            "--format",
            "json",
            &fixture_str("contest-telemetry-load-breach.ndjson"),
        ])
        .output()
        .unwrap();
    let monitor: Value = serde_json::from_slice(&out.stdout).unwrap();
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
            for key in ["samples", "p50", "p95", "p99", "max", "budget", "breached"] {
                assert_eq!(
                    live[key], offline[key],
                    "{metric}.{key} in {}",
                    window["window"]
                );
            }
            assert_eq!(live["status"], "breach");
        }
    }
    assert_eq!(budgets["windows"][0]["window"], "5m");
    assert_eq!(budgets["windows"][1]["window"], "1h");

    // Per group, filtered by scope (the fixture's lines carry no game: a game filter finds none).
    let (_, _, grouped) = s.get("/v1/budgets?group_by=hub&window=10m", None);
    assert_eq!(grouped["windows"].as_array().unwrap().len(), 1);
    assert!(!grouped["windows"][0]["groups"]
        .as_array()
        .unwrap()
        .is_empty());
    let (_, _, other) = s.get("/v1/budgets?game=nope", None);
    assert_eq!(other["windows"][0]["budgets"][0]["samples"], 0);
    let (status, _, bad) = s.get("/v1/budgets?group_by=planet", None);
    assert_eq!(status, 400);
    assert!(bad["error"]["message"].as_str().unwrap().contains("planet"));

    // Contests by state, and one contest's lifecycle.
    let (_, _, resolved) = s.get("/v1/contests?state=resolved", None);
    assert_eq!(resolved["contests"].as_array().unwrap().len(), 4);
    let (status, _, alpha) = s.get("/v1/contests/contest-alpha", None);
    assert_eq!(status, 200, "{alpha}");
    assert_eq!(alpha["state"], "resolved");
    assert_eq!(alpha["armingDurationMs"], 420);
    let (status, _, missing) = s.get("/v1/contests/nope", None);
    assert_eq!(status, 404);
    assert!(missing["error"]["message"]
        .as_str()
        .unwrap()
        .contains("nope"));
}

#[test]
fn duplicates_are_stored_once() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(&dir.path().join("data"), "");
    let batch: String = (0..50)
        .map(|i| event("e", &format!("id-{i}"), "{}") + "\n")
        .collect();
    let (_, _, first) = s.ingest(&batch, None);
    assert_eq!(
        first,
        json!({"accepted": 50, "duplicates": 0, "rejected": []})
    );
    let (_, _, again) = s.ingest(&batch, None);
    assert_eq!(
        again,
        json!({"accepted": 0, "duplicates": 50, "rejected": []})
    );
    let (_, _, page) = s.get("/v1/events?limit=1000", None);
    assert_eq!(page["events"].as_array().unwrap().len(), 50);
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

#[test]
fn bad_requests_get_clear_answers_while_another_client_ingests() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(
        &dir.path().join("data"),
        &format!("[limits]\nmax_body = \"64KiB\"\nmax_line = 1024\n{TOKENS}"),
    );
    let url = s.url.clone();
    // Another client ingests the whole time and must keep succeeding.
    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(AtomicU64::new(0));
    let background = {
        let (stop, acked) = (stop.clone(), acked.clone());
        std::thread::spawn(move || {
            let agent = server::agent();
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                let body: String = (0..20)
                    .map(|i| event("bg.tick", &format!("bg-{n}-{i}"), "{}") + "\n")
                    .collect();
                n += 1;
                let mut r = agent
                    .post(format!("{url}/v1/events"))
                    .header("Content-Type", "application/x-ndjson")
                    .header("Authorization", "Bearer ingest-secret-1")
                    .send(body.as_bytes())
                    .unwrap();
                assert_eq!(r.status().as_u16(), 200, "background ingest failed");
                let v: Value =
                    serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap();
                acked.fetch_add(v["accepted"].as_u64().unwrap(), Ordering::Relaxed);
            }
        })
    };

    const AUTH: (&str, &str) = ("Authorization", "Bearer ingest-secret-1");
    let nd = [("Content-Type", "application/x-ndjson"), AUTH];
    // No token, an unknown one, one without the scope.
    assert_eq!(s.ingest(&event("e", "t-1", "{}"), None).0, 401);
    assert_eq!(
        s.ingest(&event("e", "t-1", "{}"), Some("guess-guess")).0,
        401
    );
    let (status, _, answer) = s.ingest(&event("e", "t-1", "{}"), Some("read-secret-1"));
    assert_eq!(status, 403);
    assert!(answer["error"]["message"]
        .as_str()
        .unwrap()
        .contains("ingest"));
    // Over the body limit: 413 naming the limit and the key.
    let big = "x".repeat(70 * 1024);
    let (status, _, body) = s.post_with("/v1/events", &nd, big.as_bytes());
    assert_eq!(status, 413);
    let msg = body["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains("65536") && msg.contains("limits.max_body"),
        "{msg}"
    );
    // Also when it only gets that big after decompression.
    let bomb = gzip(&vec![b'\n'; 200 * 1024]);
    let (status, _, _) = s.post_with(
        "/v1/events",
        &[
            ("Content-Type", "application/x-ndjson"),
            ("Content-Encoding", "gzip"),
            AUTH,
        ],
        &bomb,
    );
    assert_eq!(status, 413);
    // A long line and a non-UTF-8 line: rejects inside a 200, the good line stored.
    let mut body = format!("{}\n", event("ok", "good-1", "{}")).into_bytes();
    body.extend_from_slice(format!("{{\"event\":\"{}\"}}\n", "y".repeat(2000)).as_bytes());
    body.extend_from_slice(b"{\"event\":\"caf\xe9\"}\n");
    let (status, _, answer) = s.post_with("/v1/events", &nd, &body);
    assert_eq!(status, 200);
    assert_eq!(answer["accepted"], 1);
    let kinds: Vec<(u64, String)> = answer["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["line"].as_u64().unwrap(),
                r["kind"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        [(2, "size".to_string()), (3, "encoding".to_string())]
    );
    // Every line bad: still a 200, and the rejects are stored.
    let (status, _, answer) = s.ingest("{oops\n[1]\n", Some("ingest-secret-1"));
    assert_eq!(status, 200);
    assert_eq!(answer["accepted"], 0);
    assert_eq!(answer["rejected"].as_array().unwrap().len(), 2);
    let (_, _, rejects) = s.get("/v1/rejects?limit=1000", Some("read-secret-1"));
    let stored: Vec<&str> = rejects["rejects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["raw"].as_str().unwrap())
        .collect();
    assert!(stored.contains(&"{oops"), "{stored:?}");
    // gzip that is not gzip: 400. Good gzip: stored.
    let (status, _, answer) = s.post_with(
        "/v1/events",
        &[
            ("Content-Type", "application/x-ndjson"),
            ("Content-Encoding", "gzip"),
            AUTH,
        ],
        b"\x1f\x8b\x08\x00garbage",
    );
    assert_eq!(status, 400);
    assert!(answer["error"]["message"]
        .as_str()
        .unwrap()
        .contains("gzip"));
    let (status, _, answer) = s.post_with(
        "/v1/events",
        &[
            ("Content-Type", "application/x-ndjson"),
            ("Content-Encoding", "gzip"),
            AUTH,
        ],
        &gzip(event("zipped", "z-1", "{}").as_bytes()),
    );
    assert_eq!((status, answer["accepted"].as_u64()), (200, Some(1)));
    // Another content type: 415.
    let (status, _, answer) =
        s.post_with("/v1/events", &[("Content-Type", "text/plain"), AUTH], b"{}");
    assert_eq!(status, 415);
    assert!(answer["error"]["message"]
        .as_str()
        .unwrap()
        .contains("application/x-ndjson"));
    let (status, _, _) = s.post_with("/v1/events", &[AUTH], b"{}");
    assert_eq!(status, 415);

    stop.store(true, Ordering::Relaxed);
    background.join().unwrap();
    assert!(acked.load(Ordering::Relaxed) > 0);
}

#[test]
fn a_full_queue_answers_503_and_nothing_unstored_is_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(
        &dir.path().join("data"),
        "[limits]\nqueue_requests = 1\nqueue_bytes = 1\n",
    );
    let acked = Arc::new(AtomicU64::new(0));
    let refused = Arc::new(AtomicU64::new(0));
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let (url, acked, refused) = (s.url.clone(), acked.clone(), refused.clone());
            std::thread::spawn(move || {
                let agent = server::agent();
                for b in 0..15 {
                    let body: String = (0..200)
                        .map(|i| {
                            event(
                                "load",
                                &format!("{t}-{b}-{i}"),
                                r#"{"pad":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}"#,
                            ) + "\n"
                        })
                        .collect();
                    let mut r = agent
                        .post(format!("{url}/v1/events"))
                        .header("Content-Type", "application/x-ndjson")
                        .send(body.as_bytes())
                        .unwrap();
                    let status = r.status().as_u16();
                    let text = r.body_mut().read_to_string().unwrap();
                    match status {
                        200 => {
                            let v: Value = serde_json::from_str(&text).unwrap();
                            acked.fetch_add(v["accepted"].as_u64().unwrap(), Ordering::Relaxed);
                        }
                        503 => {
                            assert_eq!(r.headers().get("retry-after").unwrap(), "1");
                            assert!(text.contains("queue"), "{text}");
                            refused.fetch_add(1, Ordering::Relaxed);
                        }
                        other => panic!("unexpected {other}: {text}"),
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert!(
        refused.load(Ordering::Relaxed) > 0,
        "no 503 under 8 concurrent clients"
    );
    let conn = rusqlite::Connection::open(s.db()).unwrap();
    let stored: i64 = conn
        .query_row("SELECT count(*) FROM events", [], |r| r.get(0))
        .unwrap();
    let stored = stored as u64;
    assert_eq!(stored, acked.load(Ordering::Relaxed), "acked == stored");
}

#[test]
fn a_full_store_answers_507() {
    let dir = tempfile::tempdir().unwrap();
    // Retention would keep the store under 200 KB but only runs hourly: the hard cap (10% over)
    // is reached first.
    let s = start(
        &dir.path().join("data"),
        "[retention]\nmax_bytes = \"200KB\"\ninterval = \"1h\"\n",
    );
    let mut acked = 0;
    let mut full = None;
    for b in 0..200 {
        let body: String = (0..100)
            .map(|i| {
                event(
                    "fill",
                    &format!("{b}-{i}"),
                    &format!(r#"{{"pad":"{}"}}"#, "p".repeat(200)),
                ) + "\n"
            })
            .collect();
        let (status, _, answer) = s.ingest(&body, None);
        match status {
            200 => acked += answer["accepted"].as_u64().unwrap(),
            507 => {
                full = Some(answer);
                break;
            }
            other => panic!("unexpected {other}: {answer}"),
        }
    }
    let answer = full.expect("the store never filled up");
    let msg = answer["error"]["message"].as_str().unwrap();
    assert!(msg.contains("retention.max_bytes"), "{msg}");
    assert_eq!(msg.matches("store is full").count(), 1, "said once: {msg}");
    let conn = rusqlite::Connection::open(s.db()).unwrap();
    let stored: i64 = conn
        .query_row("SELECT count(*) FROM events", [], |r| r.get(0))
        .unwrap();
    let stored = stored as u64;
    assert_eq!(stored, acked, "the refused batch left nothing behind");
    // Reads still work, and the metrics count the refusal (the console's Health view).
    assert_eq!(s.get("/v1/events?limit=1", None).0, 200);
    let (_, _, metrics) = s.get("/metrics", None);
    assert!(
        metrics
            .as_str()
            .unwrap()
            .contains("\nplaytrace_store_full_total 1\n"),
        "{metrics}"
    );
}

use server::TOKENS;

#[test]
fn token_and_scope_matrix() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(&dir.path().join("data"), TOKENS);
    let line = event("t", "tok-1", "{}");
    let ingest = |token: Option<&str>| s.ingest(&line, token).0;
    let read = |path: &str, token: Option<&str>| s.get(path, token).0;
    // Ingest: ingest and admin tokens only.
    assert_eq!(ingest(None), 401);
    assert_eq!(ingest(Some("wrong-secret")), 401);
    assert_eq!(ingest(Some("read-secret-1")), 403);
    assert_eq!(ingest(Some("ingest-secret-1")), 200);
    assert_eq!(ingest(Some("admin-secret-1")), 200);
    // Reading: read and admin tokens only, on every read route.
    for path in [
        "/v1/events",
        "/v1/budgets",
        "/v1/contests",
        "/v1/rejects",
        "/metrics",
    ] {
        assert_eq!(read(path, None), 401, "{path}");
        assert_eq!(read(path, Some("ingest-secret-1")), 403, "{path}");
        assert_eq!(read(path, Some("read-secret-1")), 200, "{path}");
        assert_eq!(read(path, Some("admin-secret-1")), 200, "{path}");
    }
    // ?token= is for browsers' EventSource, on the stream only (tests/hardening.rs): elsewhere
    // a token in the URL would land in proxy logs.
    assert_eq!(read("/v1/events?token=read-secret-1", None), 401);
    // Health is open.
    assert_eq!(read("/healthz", None), 200);
    assert_eq!(read("/readyz", None), 200);
    let (_, _, body) = s.get("/v1/events", Some("ingest-secret-1"));
    let msg = body["error"]["message"].as_str().unwrap();
    assert!(msg.contains("`game`") && msg.contains("`read`"), "{msg}");
}

#[test]
fn the_store_is_in_wal_mode_with_full_sync() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(&dir.path().join("data"), "");
    let (_, _, ready) = s.get("/readyz", None);
    // The writer's own connection, as SQLite reports it.
    assert_eq!(ready["store"]["synchronous"], "full");
    assert_eq!(ready["store"]["journalMode"], "wal");
    // WAL is a property of the file: any connection sees it.
    let conn = rusqlite::Connection::open(s.db()).unwrap();
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
}

#[test]
fn retention_removes_the_oldest_events() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(
        &dir.path().join("data"),
        "[retention]\nmax_age = \"1500ms\"\ninterval = \"100ms\"\n",
    );
    s.ingest(&event("old", "o-1", "{}"), None);
    std::thread::sleep(Duration::from_millis(1000));
    s.ingest(&event("new", "n-1", "{}"), None);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (_, _, page) = s.get("/v1/events", None);
        let got = names(&page);
        if got == ["new"] {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "still {got:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn live_state_is_rebuilt_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let s = start(&data, "");
    let ndjson = std::fs::read_to_string(fixture("contest-telemetry-load-breach.ndjson")).unwrap();
    let lines: Vec<&str> = ndjson.lines().collect();
    // Everything but the last resolution, then restart.
    s.ingest(&lines[..lines.len() - 1].join("\n"), None);
    let (_, _, before) = s.get("/v1/budgets", None);
    let (code, log) = s.terminate();
    assert_eq!(code, Some(0), "{log}");
    assert!(log.contains("stopped cleanly"), "{log}");

    let s = start(&data, "");
    let (_, _, after) = s.get("/v1/budgets", None);
    assert_eq!(
        before["windows"][0]["budgets"],
        after["windows"][0]["budgets"]
    );
    // The last event completes a contest that was open before the restart.
    let (_, _, open) = s.get("/v1/contests?state=resolving", None);
    assert_eq!(open["contests"].as_array().unwrap().len(), 1, "{open}");
    s.ingest(lines[lines.len() - 1], None);
    let (_, _, open) = s.get("/v1/contests?state=resolving", None);
    assert!(open["contests"].as_array().unwrap().is_empty());
    let (_, _, full) = s.get("/v1/budgets", None);
    assert_eq!(full["windows"][0]["budgets"][1]["samples"], 4);
}

#[test]
fn metrics_count_what_happened() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(&dir.path().join("data"), "");
    let ndjson = std::fs::read_to_string(fixture("contest-telemetry-load-breach.ndjson")).unwrap();
    s.ingest(&format!("{ndjson}\n{{bad\n"), None);
    s.ingest(&event("e", "dup", "{}"), None);
    s.ingest(&event("e", "dup", "{}"), None);
    let (status, _, text) = s.get("/metrics", None);
    assert_eq!(status, 200);
    let text = text.as_str().unwrap();
    for line in [
        "playtrace_events_total{outcome=\"accepted\"} 13",
        "playtrace_events_total{outcome=\"duplicate\"} 1",
        "playtrace_events_total{outcome=\"rejected\",kind=\"parse\"} 1",
        "playtrace_ingest_duration_seconds_count 3",
        "playtrace_contests{state=\"resolved\"} 4",
        "playtrace_budget_breached{window=\"5m\",metric=\"arming\",percentile=\"95\"} 1",
        "playtrace_budget_value_seconds{window=\"5m\",metric=\"resolution\",percentile=\"95\"} 0.93",
    ] {
        assert!(text.contains(line), "missing {line:?} in\n{text}");
    }
    assert!(text.contains("playtrace_commit_batch_events_bucket"));
    assert!(text.contains("playtrace_store_bytes{kind=\"used\"}"));
}

#[test]
fn config_and_bind_errors_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // Beyond loopback without tokens.
    let out = playtrace()
        .args(["serve", "--listen", "0.0.0.0:0", "--data-dir"])
        .arg(&data)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("without tokens"));
    // A bad key.
    let cfg = dir.path().join("bad.toml");
    std::fs::write(&cfg, "[retention]\nmax_age = \"forever\"\n").unwrap();
    let out = playtrace()
        .args(["serve", "--config"])
        .arg(&cfg)
        .arg("--data-dir")
        .arg(&data)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("retention.max_age") && err.contains("forever"),
        "{err}"
    );
    // The port is taken.
    let s = start(&data, "");
    let addr = s.url.trim_start_matches("http://").to_string();
    let out = playtrace()
        .args(["serve", "--listen", &addr, "--data-dir"])
        .arg(dir.path().join("other"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot listen on"));
    let (code, _) = s.terminate();
    assert_eq!(code, Some(0));
}

#[test]
fn a_second_collector_on_one_data_dir_exits_2_naming_the_holder() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let s = start(&data, "");
    // Without the lock the second one would serve: give it a bounded time to exit.
    let mut second = std::process::Command::new(env!("CARGO_BIN_EXE_playtrace"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(&data)
        .env_remove("PLAYTRACE_LOG")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while second.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            let _ = second.kill();
            panic!("a second collector is running on the same data directory");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = second.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("in use by another playtrace process")
            && err.contains(&format!("PID {}", s.pid())),
        "{err}"
    );
    // The holder is unaffected, and once it stopped the directory is free again.
    let (status, _, body) = s.ingest(&event("a", "1", "{}"), None);
    assert_eq!((status, body["accepted"].as_u64()), (200, Some(1)));
    let (code, _) = s.terminate();
    assert_eq!(code, Some(0));
    let again = start(&data, "");
    let (_, _, events) = again.get("/v1/events", None);
    assert_eq!(events["events"].as_array().unwrap().len(), 1);
}
