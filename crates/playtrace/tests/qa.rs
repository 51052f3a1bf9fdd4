//! `playtrace qa` as users run it: the fixture replayed (exit 1, findings on stdout and in the
//! report), exit codes, the retry queue surviving a SIGKILL of `qa drain`, publishing to a real
//! S3 server (s3s-fs) with the pointer, an outage mid-batch, a stopped server and rollback, and
//! the pipeline's alerts on a real collector's stream with `--url`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod server;

use common::{fixture_str, json, playtrace, stderr};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const NOW: &str = "2025-11-05T07:30:00Z";
const BUCKET: &str = "qa-published";

fn qa(dir: &Path, args: &[&str]) -> std::process::Output {
    playtrace()
        .current_dir(dir)
        .arg("qa")
        .args(args)
        .args(["--now", NOW])
        .output()
        .unwrap()
}

/// Session `id` with `entities` entities, two deltas each, none flagged; `tag` changes the
/// content (a new version to publish).
fn closure(id: &str, entities: usize, tag: &str) -> Value {
    let deltas: Vec<Value> = (0..entities * 2)
        .map(|k| {
            json!({
                "deltaId": format!("{id}-d{k}"),
                "entityId": format!("npc.keeper-{}", k / 2),
                "entityType": "npc",
                "canonicalName": format!("Keeper {}", k / 2),
                "confidence": 0.92,
                "capabilityRefs": [],
                "conflicts": [],
                "before": {},
                "after": {"title": format!("warden {tag}")},
                "mentions": 1,
            })
        })
        .collect();
    json!({"sessionId": id, "sessionClosedAt": "2025-11-05T06:15:00Z", "deltas": deltas})
}

fn write(dir: &Path, name: &str, sessions: Vec<Value>) -> String {
    let path = dir.join(name);
    std::fs::write(
        &path,
        serde_json::to_vec(&json!({ "sessions": sessions })).unwrap(),
    )
    .unwrap();
    path.to_string_lossy().into_owned()
}

#[test]
fn the_fixture_replays_held_with_its_contradiction_as_a_finding() {
    let dir = tempfile::tempdir().unwrap();
    let fixture = fixture_str("offline-qa-gamma.trimmed.json");
    let out = qa(
        dir.path(),
        &["--input", &fixture, "-o", "reports", "--format", "json"],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let summary = json(&out);
    assert_eq!(summary["mode"], "replay");
    assert_eq!(
        summary["sessions"][0]["publishingStatus"],
        "awaiting_moderation"
    );
    assert_eq!(summary["sessions"][0]["pendingModeration"], 3);
    assert_eq!(summary["sessions"][0]["searchStatus"], "held");
    let codes: Vec<&str> = summary["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["code"].as_str().unwrap())
        .collect();
    assert!(codes.contains(&"published_while_held"), "{codes:?}");
    let report: Value = serde_json::from_slice(
        &std::fs::read(dir.path().join("reports/qa-batch-gamma-offline-qa.json")).unwrap(),
    )
    .unwrap();
    // The fixture's keys, with PlayTrace's findings.
    for key in [
        "sessionId",
        "generatedAt",
        "entityExtraction",
        "worldDeltas",
        "publishing",
        "moderation",
        "findings",
    ] {
        assert!(report.get(key).is_some(), "{key}");
    }
    for key in [
        "status",
        "schedule",
        "searchPlan",
        "moderation",
        "retryQueue",
    ] {
        assert!(report["publishing"].get(key).is_some(), "publishing.{key}");
    }
    assert_eq!(report["findings"][0]["code"], "published_while_held");
    let rollups: Vec<String> = std::fs::read_dir(dir.path().join("reports"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("offline-qa-batch-rollup-"))
        .collect();
    assert_eq!(
        rollups,
        ["offline-qa-batch-rollup-2025-11-05T07-30-00-000Z.json"]
    );
    // Text lists the findings under "Findings".
    let text = qa(dir.path(), &["--input", &fixture, "--state", "s2"]);
    let text = String::from_utf8_lossy(&text.stdout).into_owned();
    assert!(text.contains("Findings: 2"), "{text}");
    assert!(
        text.contains("[published_while_held] qa-batch-gamma"),
        "{text}"
    );
}

#[test]
fn a_clean_batch_exits_0_and_usage_or_unreadable_input_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let input = write(dir.path(), "c.json", vec![closure("s-1", 2, "a")]);
    let out = qa(dir.path(), &["--input", &input, "--publish-to", "fs:pub"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        stderr(&out),
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(dir.path().join("pub/s-1/current").exists());
    let out = qa(dir.path(), &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--input"), "{}", stderr(&out));
    std::fs::write(
        dir.path().join("bad.json"),
        "{\"sessionId\": \"x\"}\nnot json\n",
    )
    .unwrap();
    let out = qa(dir.path(), &["--input", "bad.json", "--state", "s2"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("bad.json: line 2"),
        "{}",
        stderr(&out)
    );
    std::fs::write(dir.path().join("odd.json"), "{\"sessionId\": \"x\"}").unwrap();
    let out = qa(dir.path(), &["--input", "odd.json", "--state", "s2"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("docs/qa.md"), "{}", stderr(&out));
}

fn count(db: &Path, sql: &str) -> i64 {
    let conn =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap();
    conn.busy_timeout(Duration::from_secs(5)).unwrap();
    conn.query_row(sql, [], |r| r.get(0)).unwrap()
}

#[test]
fn the_retry_queue_survives_a_sigkill_of_the_drain() {
    let dir = tempfile::tempdir().unwrap();
    let sessions: Vec<Value> = (0..600)
        .map(|i| closure(&format!("k-{i}"), 2, "a"))
        .collect();
    let input = write(dir.path(), "many.json", sessions);
    let out = qa(
        dir.path(),
        &[
            "--input",
            &input,
            "--simulate-search-drift",
            "--format",
            "json",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let db = dir.path().join("playtrace-qa/qa.db");
    // Jobs 0 and 2 of each session's three drifted on their first attempt.
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM search_jobs WHERE status = 'pending'"
        ),
        1200
    );
    let mut drain: Child = Command::new(env!("CARGO_BIN_EXE_playtrace"))
        .current_dir(dir.path())
        .args(["qa", "drain", "--force", "--now", NOW])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while count(&db, "SELECT count(*) FROM search_jobs WHERE attempts = 2") == 0 {
        assert!(
            Instant::now() < deadline,
            "the drain never recorded an attempt"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    let still_running = drain.try_wait().unwrap().is_none();
    drain.kill().unwrap();
    drain.wait().unwrap();
    assert!(
        still_running,
        "the drain finished before it could be killed; give it more jobs"
    );
    let retried = count(&db, "SELECT count(*) FROM search_jobs WHERE attempts = 2");
    let pending = count(
        &db,
        "SELECT count(*) FROM search_jobs WHERE status = 'pending'",
    );
    assert!(
        pending > 0 && retried > 0,
        "killed between rounds: {retried} retried, {pending} pending"
    );
    assert_eq!(
        pending + retried,
        1200,
        "every queued job is either retried or still queued"
    );
    // The rest is re-executed by the next drain, each job attempted exactly twice.
    let out = playtrace()
        .current_dir(dir.path())
        .args(["qa", "drain", "--force", "--now", NOW, "--format", "json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        json(&out)["drainedJobs"].as_array().unwrap().len() as i64,
        pending
    );
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM search_jobs WHERE status != 'done'"
        ),
        0
    );
    assert_eq!(
        count(&db, "SELECT count(*) FROM search_jobs WHERE attempts = 2"),
        1200
    );
    let index = dir.path().join("playtrace-qa/search.db");
    assert_eq!(
        count(
            &index,
            "SELECT count(*) FROM lore_bundles WHERE version = 1"
        ),
        1200,
        "every lore bundle holds its expected version"
    );
}

struct S3Server {
    child: Child,
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_s3(root: &Path, port: u16) -> S3Server {
    std::fs::create_dir_all(root.join(BUCKET)).unwrap();
    let name = std::env::var("PLAYTRACE_S3S").unwrap_or_else(|_| "s3s-fs".into());
    let child = Command::new(&name)
        .args(["--host", "127.0.0.1", "--port", &port.to_string()])
        .args(["--access-key", "AKTEST", "--secret-key", "SKTEST"])
        .arg(root)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("the S3 test server `{name}` is missing ({e}): run scripts/test or set PLAYTRACE_S3S"));
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "s3s-fs did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    S3Server { child }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn qa_s3(dir: &Path, port: u16, args: &[&str]) -> std::process::Output {
    playtrace()
        .current_dir(dir)
        .env("AWS_ACCESS_KEY_ID", "AKTEST")
        .env("AWS_SECRET_ACCESS_KEY", "SKTEST")
        .env("AWS_ENDPOINT_URL", format!("http://127.0.0.1:{port}"))
        .arg("qa")
        .args(args)
        .args(["--now", NOW, "--format", "json"])
        .output()
        .unwrap()
}

fn pointer(root: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(root.join(BUCKET).join("live/s-1/current")).unwrap())
        .unwrap()
}

fn objects(dir: PathBuf) -> usize {
    walk(&dir)
}

fn walk(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(Result::ok)
                .map(|e| {
                    if e.path().is_dir() {
                        walk(&e.path())
                    } else {
                        1
                    }
                })
                .sum()
        })
        .unwrap_or(0)
}

#[test]
fn s3_publishing_moves_the_pointer_only_after_a_whole_batch_and_rollback_restores_it() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("s3");
    let port = free_port();
    let _s3 = start_s3(&root, port);
    let target = format!("s3://{BUCKET}/live");
    let v1 = write(dir.path(), "v1.json", vec![closure("s-1", 5, "one")]);
    let v2 = write(dir.path(), "v2.json", vec![closure("s-1", 5, "two")]);
    let out = qa_s3(dir.path(), port, &["--input", &v1, "--publish-to", &target]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(pointer(&root)["version"], 1);
    // 5 lore bundles, the news card and the manifest.
    assert_eq!(objects(root.join(BUCKET).join("live/s-1/v1")), 7);
    let v1_pointer = std::fs::read(root.join(BUCKET).join("live/s-1/current")).unwrap();
    // The storage fails halfway through v2: the pointer stays on v1, v2 is marked incomplete.
    let out = qa_s3(
        dir.path(),
        port,
        &[
            "--input",
            &v2,
            "--publish-to",
            &target,
            "--simulate-storage-outage",
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    let summary = json(&out);
    assert_eq!(summary["sessions"][0]["publishingStatus"], "publish_failed");
    assert_eq!(
        std::fs::read(root.join(BUCKET).join("live/s-1/current")).unwrap(),
        v1_pointer
    );
    let written = objects(root.join(BUCKET).join("live/s-1/v2"));
    assert!(written > 0 && written < 7, "half of v2 landed: {written}");
    assert_eq!(
        count(
            &dir.path().join("playtrace-qa/qa.db"),
            "SELECT count(*) FROM publish_versions WHERE version = 2 AND status = 'incomplete'"
        ),
        1
    );
    assert_eq!(
        count(
            &dir.path().join("playtrace-qa/search.db"),
            "SELECT count(*) FROM lore_bundles WHERE version = 2"
        ),
        0,
        "no search job for an unpublished version"
    );
    // The rerun completes the same version and only then moves the pointer.
    let out = qa_s3(dir.path(), port, &["--input", &v2, "--publish-to", &target]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(pointer(&root)["version"], 2);
    assert_eq!(objects(root.join(BUCKET).join("live/s-1/v2")), 7);
    // Rollback to the previous version, then forward again with --to.
    let out = qa_s3(dir.path(), port, &["rollback", "--session", "s-1"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(json(&out)["to"], 1);
    assert_eq!(pointer(&root)["version"], 1);
    assert_eq!(pointer(&root)["prefix"], "s-1/v1/");
    // The search index follows: v1's documents are back, v2's gone.
    let index = dir.path().join("playtrace-qa/search.db");
    let versions = |v: i64| {
        count(
            &index,
            &format!(
                "SELECT count(*) FROM lore_bundles WHERE session_id = 's-1' AND version = {v}"
            ),
        )
    };
    assert_eq!((versions(1), versions(2)), (5, 0));
    assert_eq!(json(&out)["reindexed"]["synced"], 6);
    let out = qa_s3(
        dir.path(),
        port,
        &["rollback", "--session", "s-1", "--to", "2"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(pointer(&root)["version"], 2);
    assert_eq!((versions(1), versions(2)), (0, 5));
    let out = qa_s3(
        dir.path(),
        port,
        &["rollback", "--session", "s-1", "--to", "9"],
    );
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn a_stopped_s3_server_leaves_the_pointer_and_a_rerun_completes() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("s3");
    let port = free_port();
    let target = format!("s3://{BUCKET}/live");
    let v1 = write(dir.path(), "v1.json", vec![closure("s-1", 3, "one")]);
    let v2 = write(dir.path(), "v2.json", vec![closure("s-1", 3, "two")]);
    let s3 = start_s3(&root, port);
    let out = qa_s3(dir.path(), port, &["--input", &v1, "--publish-to", &target]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    drop(s3);
    let out = qa_s3(dir.path(), port, &["--input", &v2, "--publish-to", &target]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        json(&out)["sessions"][0]["publishingStatus"],
        "publish_failed"
    );
    assert_eq!(pointer(&root)["version"], 1);
    let _s3 = start_s3(&root, port);
    let out = qa_s3(dir.path(), port, &["--input", &v2, "--publish-to", &target]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(pointer(&root)["version"], 2);
    assert_eq!(objects(root.join(BUCKET).join("live/s-1/v2")), 5);
}

#[test]
fn with_url_the_pipeline_alerts_reach_the_collectors_stream() {
    let dir = tempfile::tempdir().unwrap();
    let s = server::start(&dir.path().join("data"), "");
    let sub = server::subscribe(&s.url, "/v1/stream?topics=alerts", &[]);
    assert_eq!(sub.status, 200);
    let fixture = fixture_str("offline-qa-gamma.trimmed.json");
    let clean = write(dir.path(), "c.json", vec![closure("s-out", 2, "a")]);
    // A held batch raises the moderation alert; a storage outage fails the workflow.
    let out = qa(dir.path(), &["--input", &fixture, "--url", &s.url]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let out = qa(
        dir.path(),
        &[
            "--input",
            &clean,
            "--url",
            &s.url,
            "--publish-to",
            "fs:pub",
            "--simulate-storage-outage",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let mut reasons = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while reasons.len() < 2 {
        assert!(Instant::now() < deadline, "alerts so far: {reasons:?}");
        if let Some(m) = sub.next(Duration::from_secs(5)) {
            if m.event == "alert" {
                reasons.push((
                    m.data["reason"].as_str().unwrap_or("").to_string(),
                    m.data["sessionId"].clone(),
                ));
            }
        }
    }
    assert!(
        reasons.contains(&(
            "world_delta_requires_moderation".into(),
            json!("qa-batch-gamma")
        )),
        "{reasons:?}"
    );
    assert!(
        reasons.contains(&("offline.workflow_failed".into(), json!("s-out"))),
        "{reasons:?}"
    );
}
