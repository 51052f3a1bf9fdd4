//! The store's health as a user meets it, with real `serve` processes: a store that cannot be
//! written refuses to start, `/readyz` says `rebuilding` until the live state is rebuilt, a
//! truncated WAL after `kill -9` is reported, `/v1/events` pages a filter that matches little
//! with a bounded scan, and bodies stored without their envelope read back unchanged.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod server;

use server::{event, spawn, start};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// The effective user id (`id -u`).
fn euid() -> u32 {
    let out = Command::new("id").arg("-u").output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

/// Polls `f` until it holds (60 s at most).
fn until(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !f() {
        assert!(Instant::now() < deadline, "never: {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A store whose database file the collector's user cannot write. Root writes any file whatever
/// its mode, so as root the collector runs as `nobody` (65534) over a directory it owns and a
/// database file that stays root's with mode 0444: the operating system refuses the write, the
/// same as for an ordinary user's read-only file.
#[test]
fn a_read_only_store_refuses_to_start_naming_the_file() {
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::process::CommandExt;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let s = start(&data, "");
    assert_eq!(s.ingest(&event("a", "1", "{}"), None).0, 200);
    let (code, log) = s.terminate();
    assert_eq!(code, Some(0), "{log}");

    let db = data.join("playtrace.db");
    for extra in ["playtrace.db-wal", "playtrace.db-shm"] {
        let _ = std::fs::remove_file(data.join(extra));
    }
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o444)).unwrap();
    let mut serve = Command::new(env!("CARGO_BIN_EXE_playtrace"));
    serve
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(&data)
        .env_remove("PLAYTRACE_LOG");
    if euid() == 0 {
        let nobody = 65534;
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        for entry in std::fs::read_dir(&data).unwrap() {
            let path = entry.unwrap().path();
            if path != db {
                std::os::unix::fs::chown(&path, Some(nobody), Some(nobody)).unwrap();
            }
        }
        std::os::unix::fs::chown(&data, Some(nobody), Some(nobody)).unwrap();
        serve.uid(nobody).gid(nobody);
    }
    // Without the check it would serve: give it a bounded time to exit.
    let mut child = serve
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the collector is serving a store it cannot write");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(2),
        "started on a read-only store: {err}"
    );
    assert!(
        err.contains(&db.display().to_string())
            && err.contains("cannot be written")
            && err.contains("write access"),
        "{err}"
    );
}

/// 507 from a full store, and `/readyz` is 503 while it cannot write.
#[test]
fn a_full_store_is_not_ready() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(
        &dir.path().join("data"),
        "[retention]\nmax_bytes = \"200KB\"\ninterval = \"1h\"\n",
    );
    let mut full = false;
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
        if s.ingest(&body, None).0 == 507 {
            full = true;
            break;
        }
    }
    assert!(full, "the store never filled up");
    let (status, _, body) = s.get("/readyz", None);
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["status"], "store_unwritable", "{body}");
    assert_eq!(body["store"]["writable"], false, "{body}");
    assert!(
        body["store"]["problem"].as_str().unwrap().contains("full"),
        "{body}"
    );
    assert_eq!(s.get("/healthz", None).0, 200);
    let (_, _, metrics) = s.get("/metrics", None);
    assert!(
        metrics
            .as_str()
            .unwrap()
            .contains("playtrace_store_writable 0"),
        "{metrics}"
    );
}

/// Writes `n` stored events straight into a collector's (stopped) database, received now, so
/// the next start has them to rebuild.
fn fill(db: &Path, n: usize) {
    let conn = rusqlite::Connection::open(db).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    conn.execute_batch("BEGIN").unwrap();
    {
        let mut stmt = conn
            .prepare(
                "INSERT INTO events (recv_ms, game, id, name, env, body)
                 VALUES (?1, 'gf', ?2, 'telemetry.contest.armed', 'prod', ?3)",
            )
            .unwrap();
        for i in 0..n {
            let id = format!("r{i}");
            let body = format!(
                r#"{{"event":"telemetry.contest.armed","id":"{id}","game":"gf","env":"prod","attrs":{{"contestId":"c{i}","hubId":"h","ms":12}}}}"#
            );
            stmt.execute(rusqlite::params![now, id, body]).unwrap();
        }
    }
    conn.execute_batch("COMMIT").unwrap();
}

#[test]
fn readyz_says_rebuilding_until_the_live_state_is_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let s = start(&data, "");
    let (code, log) = s.terminate();
    assert_eq!(code, Some(0), "{log}");
    fill(&data.join("playtrace.db"), 300_000);

    let s = spawn(&data, "");
    // Listening already, rebuilding 300,000 events: alive, not ready, and ingest is refused
    // with a delay to retry after — not acknowledged and dropped.
    let (status, _, body) = s.get("/readyz", None);
    assert_eq!(
        (status, body["status"].as_str()),
        (503, Some("rebuilding")),
        "{body}"
    );
    assert_eq!(s.get("/healthz", None).0, 200);
    let (status, retry, body) = s.ingest(&event("early", "early-1", "{}"), None);
    assert_eq!(status, 503, "{body}");
    assert_eq!(retry.as_deref(), Some("1"));
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("rebuilds its live state"),
        "{body}"
    );
    until("ready after the rebuild", || {
        s.get("/readyz", None).0 == 200
    });
    let (status, _, body) = s.ingest(&event("late", "late-1", "{}"), None);
    assert_eq!(
        (status, body["accepted"].as_u64()),
        (200, Some(1)),
        "{body}"
    );
    let (_, _, early) = s.get("/v1/events?name=early", None);
    assert_eq!(early["events"].as_array().unwrap().len(), 0, "{early}");
    let (_, _, open) = s.get("/v1/contests?state=arming&limit=1000", None);
    assert!(
        !open["contests"].as_array().unwrap().is_empty(),
        "rebuilt: {open}"
    );
}

#[test]
fn a_truncated_wal_after_kill_9_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let s = start(&data, "");
    // A long-running reader (a backup, an export) pins its snapshot: checkpoints cannot copy
    // what comes after into the database, so the new commits live only in the WAL.
    let pin = rusqlite::Connection::open(s.db()).unwrap();
    pin.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE,
        true,
    )
    .unwrap();
    pin.execute_batch("BEGIN").unwrap();
    let _: i64 = pin
        .query_row("SELECT count(*) FROM events", [], |r| r.get(0))
        .unwrap();
    let mut acked = 0;
    for b in 0..20 {
        let body: String = (0..1000)
            .map(|i| event("wal.tick", &format!("{b}-{i}"), r#"{"hubId":"h"}"#) + "\n")
            .collect();
        let (status, _, answer) = s.ingest(&body, None);
        assert_eq!(status, 200, "{answer}");
        acked += answer["accepted"].as_u64().unwrap();
    }
    assert_eq!(acked, 20_000);
    let mark = data.join("playtrace.hwm");
    until(
        "the high-water mark covers every acknowledged event",
        || {
            std::fs::read_to_string(&mark)
                .ok()
                .and_then(|t| t.trim().parse::<u64>().ok())
                .is_some_and(|m| m >= acked)
        },
    );
    s.kill();
    drop(pin);
    let wal = data.join("playtrace.db-wal");
    let len = std::fs::metadata(&wal).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&wal)
        .unwrap()
        .set_len(len / 2)
        .unwrap();

    let (code, out) = store_cmd(&["verify", "--format", "json", "--data-dir"], &data);
    assert_eq!(code, Some(1), "{out}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        (v["ok"].as_bool(), v["integrity"].as_str()),
        (Some(false), Some("ok")),
        "{v}"
    );
    assert_eq!(v["acknowledged"].as_u64(), Some(acked), "{v}");
    assert!(v["missing"].as_u64().unwrap() > 0, "{v}");

    let s = start(&data, "");
    let stored: i64 = rusqlite::Connection::open(s.db())
        .unwrap()
        .query_row("SELECT count(*) FROM events", [], |r| r.get(0))
        .unwrap();
    assert!((stored as u64) < acked, "the damage lost nothing: {stored}");
    let (status, _, ready) = s.get("/readyz", None);
    assert_eq!(status, 200, "waiting cannot fix it: {ready}");
    let hwm = &ready["store"]["highWaterMark"];
    assert_eq!(hwm["acknowledged"].as_u64(), Some(acked), "{ready}");
    assert_eq!(hwm["stored"].as_i64(), Some(stored), "{ready}");
    assert_eq!(
        hwm["missing"].as_u64(),
        Some(acked - stored as u64),
        "{ready}"
    );
    let log = s.stderr.lock().unwrap().clone();
    assert!(log.contains("holds less than it acknowledged"), "{log}");
    let (_, _, metrics) = s.get("/metrics", None);
    let line = format!(
        "playtrace_store_missing_acknowledged {}",
        acked - stored as u64
    );
    assert!(metrics.as_str().unwrap().contains(&line), "{metrics}");
    // New events never reuse an acknowledged sequence number.
    s.ingest(&event("after", "after-1", "{}"), None);
    let (_, _, page) = s.get(&format!("/v1/events?after={acked}"), None);
    assert_eq!(page["events"][0]["seq"].as_u64(), Some(acked + 1), "{page}");
}

#[test]
fn a_filter_matching_little_pages_with_a_bounded_scan() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(&dir.path().join("data"), "");
    for b in 0..5 {
        let body: String = (0..5000)
            .map(|i| event("busy", &format!("{b}-{i}"), "{}") + "\n")
            .collect();
        assert_eq!(s.ingest(&body, None).0, 200);
    }
    let rare = r#"{"event":"rare","id":"rare-1","game":"quiet","attrs":{}}"#;
    assert_eq!(s.ingest(rare, None).0, 200);
    let (status, _, first) = s.get("/v1/events?game=quiet", None);
    assert_eq!(status, 200);
    assert_eq!(first["events"].as_array().unwrap().len(), 0, "{first}");
    assert_eq!(first["scanLimited"], true, "{first}");
    let mut next = first["next"].as_u64().unwrap();
    assert!(next > 0 && next < 25_000, "the cursor reached: {next}");
    let mut found = Vec::new();
    let mut pages = 1;
    loop {
        let (_, _, page) = s.get(&format!("/v1/events?game=quiet&after={next}"), None);
        pages += 1;
        found.extend(
            page["events"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["id"].clone()),
        );
        next = page["next"].as_u64().unwrap();
        if page["scanLimited"] == false {
            break;
        }
        assert!(pages < 10, "never reached the end");
    }
    assert_eq!(found, vec![serde_json::json!("rare-1")]);
    assert_eq!(next, 25_001);
}

#[test]
fn tokens_rotate_on_sighup_and_reload_and_a_bad_config_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let s = start(&data, server::TOKENS);
    let config = data.with_extension("toml");
    assert_eq!(s.get("/v1/events", Some("read-secret-1")).0, 200);

    // Rotate the read token, then SIGHUP.
    std::fs::write(
        &config,
        server::TOKENS.replace("read-secret-1", "read-secret-2"),
    )
    .unwrap();
    let hup = Command::new("kill")
        .args(["-HUP", &s.pid().to_string()])
        .status()
        .unwrap();
    assert!(hup.success());
    until("the new token is in force", || {
        s.get("/v1/events", Some("read-secret-2")).0 == 200
    });
    assert_eq!(
        s.get("/v1/events", Some("read-secret-1")).0,
        401,
        "old token"
    );
    assert_eq!(
        s.get("/v1/events", Some("read-secret-2")).0,
        200,
        "new token"
    );

    // An invalid file is refused with the reason; the configuration in force stays.
    std::fs::write(
        &config,
        format!("{}\n[limits]\nmax_body = \"lots\"\n", server::TOKENS),
    )
    .unwrap();
    let reload = |token: &str| {
        s.post_with(
            "/v1/admin/reload",
            &[("Authorization", &format!("Bearer {token}"))],
            b"",
        )
    };
    assert_eq!(
        reload("read-secret-2").0,
        403,
        "reload needs the admin scope"
    );
    let (status, _, body) = reload("admin-secret-1");
    assert_eq!(status, 422, "{body}");
    let msg = body["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains("limits.max_body") && msg.contains("stays"),
        "{msg}"
    );
    assert_eq!(
        s.get("/v1/events", Some("read-secret-2")).0,
        200,
        "still in force"
    );
    assert_eq!(s.get("/v1/events", Some("read-secret-1")).0, 401);

    // A valid file through the route: rotated admin token, and restart-only keys reported
    // (the duplicate check's mode among them: the store switches it at start).
    std::fs::write(
        &config,
        format!(
            "{}\n[stream]\nbuffer = 7\n[store]\ndedup = \"memory\"\n",
            server::TOKENS.replace("admin-secret-1", "admin-secret-2")
        ),
    )
    .unwrap();
    let (status, _, body) = reload("admin-secret-1");
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["needsRestart"],
        serde_json::json!(["store", "stream"]),
        "{body}"
    );
    assert_eq!(
        reload("admin-secret-1").0,
        401,
        "the old admin token is gone"
    );
    assert_eq!(reload("admin-secret-2").0, 200);
}

/// Runs `playtrace store <args> <dir>`: exit code and stdout (stderr appended).
fn store_cmd(args: &[&str], dir: &Path) -> (Option<i32>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_playtrace"))
        .arg("store")
        .args(args)
        .arg(dir)
        .output()
        .unwrap();
    let mut text = String::from_utf8_lossy(&out.stdout).to_string();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    (out.status.code(), text)
}

#[test]
fn store_verify_and_backup_work_while_serve_runs() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let s = start(&data, "");
    let body: String = (0..100)
        .map(|i| event("b", &format!("b-{i}"), "{}") + "\n")
        .collect();
    assert_eq!(s.ingest(&body, None).0, 200);

    let copy = dir.path().join("copy.db");
    let (code, out) = store_cmd(
        &["backup", "--to", copy.to_str().unwrap(), "--data-dir"],
        &data,
    );
    assert_eq!(code, Some(0), "the lock is not needed: {out}");
    let n: i64 = rusqlite::Connection::open(&copy)
        .unwrap()
        .query_row("SELECT count(*) FROM events", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 100);
    let (code, out) = store_cmd(
        &["backup", "--to", copy.to_str().unwrap(), "--data-dir"],
        &data,
    );
    assert_eq!(code, Some(2), "never overwrites: {out}");
    assert!(out.contains("exists already"), "{out}");

    let (code, out) = store_cmd(&["verify", "--data-dir"], &data);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("integrity ok"), "{out}");
    // Serving went on meanwhile.
    assert_eq!(s.ingest(&event("after", "after-1", "{}"), None).0, 200);
    let (code, out) = store_cmd(&["verify", "--data-dir"], &dir.path().join("nothing"));
    assert_eq!(code, Some(2), "{out}");
}

/// `/metrics` counts the bytes of the lines stored and the WAL bytes their commits wrote, so an
/// operator can see the write amplification (docs/OPERATIONS.md "Memory": random ids).
#[test]
fn metrics_count_the_event_bytes_stored_and_the_wal_pages_written() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(&dir.path().join("data"), "");
    let counter = |name: &str| -> u64 {
        let (_, _, text) = s.get("/metrics", None);
        let text = text.as_str().unwrap().to_string();
        let line = text
            .lines()
            .find(|l| l.starts_with(&format!("{name} ")))
            .unwrap_or_else(|| panic!("no {name} in {text}"));
        line.rsplit(' ').next().unwrap().parse().unwrap()
    };
    let mut lines = 0;
    let mut bodies = Vec::new();
    for b in 0..2 {
        let body: Vec<String> = (0..300)
            .map(|i| event("m", &format!("{b}-{i}"), r#"{"level":3}"#))
            .collect();
        lines += body.iter().map(|l| l.len() as u64).sum::<u64>();
        bodies.push(body.join("\n") + "\n");
        assert_eq!(s.ingest(&bodies[b], None).0, 200);
    }
    // The lines are stored as sent; the sequence head's commit is durable before the answer.
    assert_eq!(counter("playtrace_store_event_bytes_total"), lines);
    // A resend stores nothing, so it counts nothing.
    let (code, _, answer) = s.ingest(&bodies[0], None);
    assert_eq!(
        (code, answer["duplicates"].as_u64()),
        (200, Some(300)),
        "{answer}"
    );
    assert_eq!(counter("playtrace_store_event_bytes_total"), lines);
    let wal = counter("playtrace_store_wal_bytes_total");
    assert!(wal >= lines, "{wal} WAL bytes for {lines} bytes of lines");
    assert_eq!(wal % 16_384, 0, "whole 16 KiB pages: {wal}");
}

/// The default `[store] dedup = "auto"` through a real collector: random ids move the duplicate
/// check to memory (logged as a warning), and resends from before the move are still refused.
#[test]
fn random_ids_move_the_default_duplicate_check_to_memory_and_resends_stay_refused() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(&dir.path().join("data"), "");
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut random_hex = || {
        // xorshift64*: ids as scattered as UUIDv4s.
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        format!("{:016x}", state.wrapping_mul(0x2545_f491_4f6c_dd1d))
    };
    let pad = "p".repeat(200);
    let mut first = String::new();
    let moved = |s: &server::Server| {
        s.stderr
            .lock()
            .unwrap()
            .contains("the duplicate check moved from the index to memory")
    };
    let mut bodies = 0;
    while !moved(&s) {
        assert!(bodies < 400, "no move after {bodies} bodies of random ids");
        let body: String = (0..1000)
            .map(|_| event("r", &random_hex(), &format!(r#"{{"note":"{pad}"}}"#)) + "\n")
            .collect();
        assert_eq!(s.ingest(&body, None).0, 200);
        if bodies == 0 {
            first = body;
        }
        bodies += 1;
    }
    let (status, _, answer) = s.ingest(&first, None);
    assert_eq!(status, 200);
    assert_eq!(
        (answer["accepted"].as_u64(), answer["duplicates"].as_u64()),
        (Some(0), Some(1000)),
        "{answer}"
    );
    let log = s.stderr.lock().unwrap().clone();
    assert!(log.contains("WARN"), "a warning: {log}");
    assert!(!log.contains('\u{1b}'), "plain text off a terminal: {log}");
}

/// Bodies are stored without the envelope members their columns hold, and nothing of any line
/// changes for it: `/v1/events` shows the same events after a restart (whose live state is
/// rebuilt from the stored bodies) in every shape a line may take, and a resent line is still a
/// duplicate.
#[test]
fn events_read_back_the_same_whatever_their_envelope_looks_like() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let s = start(&data, "");
    let lines = [
        r#"{"event":"match.end","id":"e-1","game":"g1","env":"prod","session":"s-1","ts":1795700000000,"attrs":{"playerId":"p1","score":3}}"#,
        r#"{"ts":"2026-11-28T07:00:00.000Z","event":"chat.message","id":"e-\u0032","attrs":{"text":"hi"}}"#,
        r#"{"event":"session.start", "id":"e-3","ts":1795700000000.5,"attrs":{}}"#,
        r#"{"attrs":{"k":1},"event":"x","id":"e-4"}"#,
        r#"{"id":"e-5","event":"warned","other":"kept","attrs":{"a":[1,2]}}"#,
    ];
    let (_, _, answer) = s.ingest(&lines.join("\n"), None);
    assert_eq!(answer["accepted"], 5, "{answer}");
    let (_, _, before) = s.get("/v1/events?limit=100", None);
    let db = rusqlite::Connection::open(s.db()).unwrap();
    let stored: String = db
        .query_row("SELECT body FROM events WHERE id = 'e-1'", [], |r| r.get(0))
        .unwrap();
    assert_eq!(stored, r#"{"attrs":{"playerId":"p1","score":3}}"#);
    drop(db);
    let (code, log) = s.terminate();
    assert_eq!(code, Some(0), "{log}");

    let s = start(&data, "");
    let (_, _, after) = s.get("/v1/events?limit=100", None);
    assert_eq!(before["events"], after["events"]);
    let events = after["events"].as_array().unwrap();
    assert_eq!(events.len(), 5);
    assert_eq!(events[1]["id"], "e-2");
    assert_eq!(events[1]["ts"], 1795849200000i64);
    assert_eq!(events[2]["ts"], 1795700000000.5);
    assert_eq!(
        (&events[4]["event"], &events[4]["id"]),
        (&"warned".into(), &"e-5".into())
    );
    assert_eq!(
        events[0]["attrs"],
        serde_json::json!({"playerId": "p1", "score": 3})
    );
    let (_, _, again) = s.ingest(lines[0], None);
    assert_eq!(again["duplicates"], 1, "{again}");
}
