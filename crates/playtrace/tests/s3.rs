//! `playtrace export` to a real S3-protocol server (s3s-fs, installed by scripts/test): keys and
//! bytes, a stopped server leaving artifacts queued until `export retry`, wrong credentials in
//! the dead-letter queue, and the filesystem writer writing throughout.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{fixture_str, playtrace, stderr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BUCKET: &str = "qa-artifacts";

struct S3Server {
    child: Child,
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn s3s_binary() -> String {
    let name = std::env::var("PLAYTRACE_S3S").unwrap_or_else(|_| "s3s-fs".into());
    let found = Command::new(&name).arg("--version").output().is_ok();
    assert!(
        found,
        "the S3 test server `{name}` is missing: run scripts/test (it installs it with \
         `cargo install s3s-fs --version 0.14.1 --features binary`) or set PLAYTRACE_S3S"
    );
    name
}

fn start_s3(root: &Path, port: u16) -> S3Server {
    std::fs::create_dir_all(root.join(BUCKET)).unwrap();
    let child = Command::new(s3s_binary())
        .args(["--host", "127.0.0.1", "--port", &port.to_string()])
        .args(["--access-key", "AKTEST", "--secret-key", "SKTEST"])
        .arg(root)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
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

fn export(dir: &Path, port: u16, secret: &str, args: &[&str]) -> std::process::Output {
    playtrace()
        .current_dir(dir)
        .env("AWS_ACCESS_KEY_ID", "AKTEST")
        .env("AWS_SECRET_ACCESS_KEY", secret)
        .env("AWS_ENDPOINT_URL", format!("http://127.0.0.1:{port}"))
        .arg("export")
        .args(args)
        .output()
        .unwrap()
}

fn objects(root: &Path, prefix: &str) -> Vec<(String, Vec<u8>)> {
    let dir: PathBuf = root.join(BUCKET).join(prefix);
    let mut found: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .map(|d| {
            d.filter_map(Result::ok)
                .map(|e| {
                    (
                        e.file_name().to_string_lossy().into_owned(),
                        std::fs::read(e.path()).unwrap(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    found.sort();
    found
}

#[test]
fn objects_land_with_the_right_keys_and_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("s3");
    let port = free_port();
    let _s3 = start_s3(&root, port);
    let log = fixture_str("contest-telemetry-load-breach.ndjson");
    let out = export(
        dir.path(),
        port,
        "SKTEST",
        &[
            &log,
            "--kinds",
            "report",
            "--to",
            &format!("s3://{BUCKET}/runs/7"),
            "--to",
            "fs:local",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let stored = objects(&root, "runs/7");
    let names: Vec<&str> = stored.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "playtrace-arming-latency.svg",
            "playtrace-budget-report.json",
            "playtrace-budget-report.md",
            "playtrace-contest-durations.csv",
            "playtrace-resolution-latency.svg"
        ]
    );
    for (name, bytes) in &stored {
        assert_eq!(
            bytes,
            &std::fs::read(dir.path().join("local").join(name)).unwrap(),
            "{name}"
        );
    }
}

#[test]
fn a_stopped_server_leaves_artifacts_queued_and_retry_delivers_each_once() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("s3");
    let port = free_port();
    let log = fixture_str("contest-telemetry-load-breach.ndjson");
    let target = format!("s3://{BUCKET}/runs/8");
    // The server is down: S3 writes fail (transient), the filesystem writer writes everything:
    // the report's 5 artifacts (nothing is rejected, so there is no rejects file).
    let started = Instant::now();
    let out = export(
        dir.path(),
        port,
        "SKTEST",
        &[
            &log,
            "--to",
            &target,
            "--to",
            "fs:local",
            "--retry-for",
            "2.5s",
            "--manifest",
            "manifest.json",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(started.elapsed() < Duration::from_secs(10));
    let err = stderr(&out);
    assert!(
        err.contains(&format!("export: {target}: 0 of 5 written (0 bytes, "))
            && err.contains("ms), 5 retries, 5 queued for retry, 0 dead-lettered"),
        "{err}"
    );
    assert!(
        err.contains("(after 2 attempts; queued for retry: `playtrace export retry`)"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_dir(dir.path().join("local")).unwrap().count(),
        5
    );
    // The manifest says where each artifact is, and how many attempts it took.
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("manifest.json")).unwrap()).unwrap();
    for a in manifest["artifacts"].as_array().unwrap() {
        let writes = a["writes"].as_array().unwrap();
        let s3 = writes
            .iter()
            .find(|w| w["writer"] == target.as_str())
            .unwrap();
        assert_eq!(
            (s3["status"].as_str(), s3["attempts"].as_u64()),
            (Some("queued"), Some(2))
        );
        assert!(s3["error"].as_str().unwrap().contains("127.0.0.1"), "{s3}");
        let fs = writes.iter().find(|w| w["writer"] == "fs:local").unwrap();
        assert_eq!(
            (fs["status"].as_str(), fs["attempts"].as_u64()),
            (Some("written"), Some(1))
        );
    }
    // Just failed: nothing is due yet (the next attempt backs off ≥2 s), and --due says so.
    let due = export(dir.path(), port, "SKTEST", &["retry", "--due"]);
    assert_eq!(due.status.code(), Some(1), "{}", stderr(&due));
    assert!(
        stderr(&due).contains("nothing due yet; 5 queued artifact(s) are still backing off"),
        "{}",
        stderr(&due)
    );
    // Nothing to deliver while it is still down: still queued.
    let still = export(dir.path(), port, "SKTEST", &["retry", "--retry-for", "0"]);
    assert_eq!(still.status.code(), Some(1), "{}", stderr(&still));
    // Up again: one retry delivers all of them, and a second one has nothing left to do.
    let _s3 = start_s3(&root, port);
    let retry = export(dir.path(), port, "SKTEST", &["retry"]);
    assert_eq!(retry.status.code(), Some(0), "{}", stderr(&retry));
    assert!(
        stderr(&retry).contains(&format!("export retry: {target}: 5 of 5 written")),
        "{}",
        stderr(&retry)
    );
    let again = export(dir.path(), port, "SKTEST", &["retry"]);
    assert_eq!(again.status.code(), Some(0), "{}", stderr(&again));
    assert_eq!(stderr(&again).trim(), "export retry: nothing to retry");
    let stored = objects(&root, "runs/8");
    assert_eq!(stored.len(), 5);
    for (name, bytes) in &stored {
        assert_eq!(
            bytes,
            &std::fs::read(dir.path().join("local").join(name)).unwrap(),
            "{name}"
        );
    }
}

#[test]
fn a_server_that_comes_back_during_the_run_gets_everything_from_the_retry_queue() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("s3");
    let port = free_port();
    let log = fixture_str("contest-telemetry-load-breach.ndjson");
    let target = format!("s3://{BUCKET}/runs/9");
    // The server starts 1.5 s after the export: the first attempts and the retry after ~1 s
    // are refused, a later one (after ~2 s more) lands.
    let server = std::thread::spawn({
        let root = root.clone();
        move || {
            std::thread::sleep(Duration::from_millis(1_500));
            start_s3(&root, port)
        }
    });
    let out = export(
        dir.path(),
        port,
        "SKTEST",
        &[&log, "--to", &target, "--manifest", "manifest.json"],
    );
    let _s3 = server.join().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains(&format!("export: {target}: 5 of 5 written")),
        "{err}"
    );
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("manifest.json")).unwrap()).unwrap();
    for a in manifest["artifacts"].as_array().unwrap() {
        let w = &a["writes"][0];
        assert_eq!(w["status"], "written", "{w}");
        assert!(w["attempts"].as_u64().unwrap() >= 3, "{w}");
        assert!(w["error"].is_null(), "{w}");
    }
    let writer = &manifest["writers"][0];
    assert_eq!(writer["successes"], 5);
    // Each of the 5 artifacts (the report's; nothing was rejected, so no rejects file) was
    // retried at least twice.
    assert!(writer["retried"].as_u64().unwrap() >= 10, "{writer}");
    assert_eq!(writer["queued"], 0);
    assert_eq!(objects(&root, "runs/9").len(), 5);
    let retry = export(dir.path(), port, "SKTEST", &["retry"]);
    assert_eq!(stderr(&retry).trim(), "export retry: nothing to retry");
}

#[test]
fn a_named_profile_in_the_aws_files_is_enough_to_connect() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("s3");
    let port = free_port();
    let _s3 = start_s3(&root, port);
    std::fs::write(
        dir.path().join("aws-config"),
        format!("[profile qa]\nregion = eu-north-1\nendpoint_url = http://127.0.0.1:{port}\n"),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("aws-credentials"),
        "[default]\naws_access_key_id = WRONG\naws_secret_access_key = WRONG\n\n[qa]\naws_access_key_id = AKTEST\naws_secret_access_key = SKTEST\n",
    )
    .unwrap();
    let log = fixture_str("contest-telemetry-load-breach.ndjson");
    let mut cmd = playtrace();
    for var in [
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_ENDPOINT_URL",
        "AWS_ENDPOINT_URL_S3",
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
    ] {
        cmd.env_remove(var);
    }
    let out = cmd
        .current_dir(dir.path())
        .env("AWS_CONFIG_FILE", dir.path().join("aws-config"))
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            dir.path().join("aws-credentials"),
        )
        .env("AWS_PROFILE", "qa")
        .args(["export", &log, "--kinds", "report", "--retry-for", "0"])
        .args(["--to", &format!("s3://{BUCKET}/profiled")])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(objects(&root, "profiled").len(), 5);
}

#[test]
fn wrong_credentials_are_a_permanent_error_in_the_dlq() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("s3");
    let port = free_port();
    let _s3 = start_s3(&root, port);
    // One unreadable line, so there is a rejects artifact to write.
    let log = dir.path().join("with-a-reject.ndjson");
    let mut bytes = std::fs::read(fixture_str("contest-telemetry-load-breach.ndjson")).unwrap();
    bytes.extend_from_slice(b"not json\n");
    std::fs::write(&log, bytes).unwrap();
    let log = log.to_string_lossy().into_owned();
    let out = export(
        dir.path(),
        port,
        "not-the-secret",
        &[
            &log,
            "--kinds",
            "rejects",
            "--to",
            &format!("s3://{BUCKET}/x"),
            "--to",
            "fs:local",
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("dead-letter queue"),
        "{}",
        stderr(&out)
    );
    assert!(objects(&root, "x").is_empty());
    assert!(dir.path().join("local/playtrace-rejects.ndjson").exists());
    let list = export(dir.path(), port, "SKTEST", &["dlq", "list"]);
    let text = String::from_utf8_lossy(&list.stdout).into_owned();
    assert!(
        text.contains("403") && text.contains("playtrace-rejects.ndjson"),
        "{text}"
    );
    // With the right secret the dead letter is delivered.
    let retry = export(dir.path(), port, "SKTEST", &["dlq", "retry"]);
    assert_eq!(retry.status.code(), Some(0), "{}", stderr(&retry));
    assert_eq!(objects(&root, "x").len(), 1);
}

#[test]
fn a_sigkill_mid_export_loses_nothing_that_was_queued() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("s3");
    let port = free_port();
    // 400 sessions → 1,200 transcript artifacts, all failing (the server is down).
    let log = dir.path().join("transcripts.ndjson");
    let mut text = String::new();
    for s in 0..400 {
        for i in 0..3 {
            text.push_str(&format!(
                "{{\"event\":\"telemetry.transcript.entry\",\"attrs\":{{\"sessionId\":\"s-{s}\",\"sequence\":{i},\"event\":\"step\",\"action\":\"done\",\"timestamp\":{}}}}}\n",
                1_761_843_600_000u64 + i
            ));
        }
    }
    std::fs::write(&log, text).unwrap();
    let log = log.to_string_lossy().into_owned();
    let target = format!("s3://{BUCKET}/killed");
    let mut child = Command::new(env!("CARGO_BIN_EXE_playtrace"))
        .current_dir(dir.path())
        .env("AWS_ACCESS_KEY_ID", "AKTEST")
        .env("AWS_SECRET_ACCESS_KEY", "SKTEST")
        .env("AWS_ENDPOINT_URL", format!("http://127.0.0.1:{port}"))
        .args(["export", &log, "--kinds", "transcripts", "--to", &target])
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Kill it once some failures are queued (or it finished).
    let db = dir.path().join("playtrace-export/export.db");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let queued: i64 = rusqlite::Connection::open(&db)
            .and_then(|c| c.query_row("SELECT count(*) FROM retry_queue", [], |r| r.get(0)))
            .unwrap_or(0);
        if queued > 0 || child.try_wait().unwrap().is_some() {
            break;
        }
        assert!(Instant::now() < deadline, "nothing was ever queued");
        std::thread::sleep(Duration::from_millis(2));
    }
    let _ = child.kill(); // SIGKILL
    child.wait().unwrap();
    let queued: Vec<String> = {
        let c = rusqlite::Connection::open(&db).unwrap();
        let mut stmt = c.prepare("SELECT name FROM retry_queue").unwrap();
        let rows = stmt.query_map([], |r| r.get::<_, String>(0)).unwrap();
        rows.map(Result::unwrap).collect()
    };
    assert!(!queued.is_empty());
    // Server up: retry delivers every queued artifact; a re-run delivers the rest, once each.
    let _s3 = start_s3(&root, port);
    let retry = export(dir.path(), port, "SKTEST", &["retry"]);
    assert_eq!(retry.status.code(), Some(0), "{}", stderr(&retry));
    let stored: Vec<String> = objects(&root, "killed")
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    for name in &queued {
        assert!(stored.contains(name), "{name} was queued and is lost");
    }
    let rerun = export(
        dir.path(),
        port,
        "SKTEST",
        &[&log, "--kinds", "transcripts", "--to", &target],
    );
    assert_eq!(rerun.status.code(), Some(0), "{}", stderr(&rerun));
    assert_eq!(objects(&root, "killed").len(), 1_200);
}

/// A queued artifact carries its writer's whole destination: `export retry` without the
/// export's --s3-endpoint (here: with the environment naming another, dead endpoint) still
/// writes to the endpoint, bucket and prefix the export meant, and `export queue list` shows
/// that destination without the secret. Connection errors name the endpoint.
#[test]
fn retry_writes_to_the_exports_own_destination_whatever_its_flags_say() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("s3");
    let port = free_port();
    let elsewhere = free_port();
    let endpoint = format!("http://127.0.0.1:{port}");
    let log = fixture_str("contest-telemetry-load-breach.ndjson");
    let target = format!("s3://{BUCKET}/runs/1");
    let run = |env_endpoint: Option<String>, args: &[&str]| {
        let mut cmd = playtrace();
        cmd.current_dir(dir.path())
            .env("AWS_ACCESS_KEY_ID", "AKTEST")
            .env("AWS_SECRET_ACCESS_KEY", "SKTEST")
            .env_remove("AWS_ENDPOINT_URL")
            .env_remove("AWS_ENDPOINT_URL_S3")
            .env("AWS_CONFIG_FILE", dir.path().join("no-config"))
            .env(
                "AWS_SHARED_CREDENTIALS_FILE",
                dir.path().join("no-credentials"),
            );
        if let Some(e) = env_endpoint {
            cmd.env("AWS_ENDPOINT_URL", e);
        }
        cmd.arg("export").args(args).output().unwrap()
    };
    let out = run(
        None,
        &[
            &log,
            "--kinds",
            "report",
            "--to",
            &target,
            "--s3-endpoint",
            &endpoint,
            "--retry-for",
            "0",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains(&format!("connection refused (endpoint {endpoint})")),
        "{err}"
    );
    assert!(!err.contains("error sending request"), "{err}");

    let list = run(None, &["queue", "list"]);
    assert_eq!(list.status.code(), Some(0), "{}", stderr(&list));
    let listed = String::from_utf8(list.stdout).unwrap();
    let lines: Vec<serde_json::Value> = listed
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 5, "{listed}");
    assert_eq!(lines[0]["writer"], target.as_str());
    assert_eq!(
        lines[0]["destination"],
        serde_json::json!({"url": target, "endpoint": endpoint, "region": "us-east-1", "pathStyle": true})
    );
    assert!(!listed.contains("SKTEST"), "the secret is never stored");

    let _s3 = start_s3(&root, port);
    let retry = run(Some(format!("http://127.0.0.1:{elsewhere}")), &["retry"]);
    assert_eq!(retry.status.code(), Some(0), "{}", stderr(&retry));
    assert_eq!(objects(&root, "runs/1").len(), 5);
    let empty = run(None, &["queue", "list"]);
    assert!(empty.stdout.is_empty());
}
