//! An S3 endpoint that accepts connections and never answers costs seconds, not a minute per
//! attempt: the read timeout gives up, the artifact is queued for `export retry`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{fixture_str, playtrace, stderr};
use std::time::{Duration, Instant};

#[test]
fn a_silent_endpoint_queues_the_artifact_within_seconds() {
    let dir = tempfile::tempdir().unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    // Accept every connection and hold it open without a byte in answer.
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming() {
            match stream {
                Ok(s) => held.push(s),
                Err(_) => return,
            }
        }
    });
    let log = fixture_str("contest-telemetry-load-breach.ndjson");
    let started = Instant::now();
    let out = playtrace()
        .current_dir(dir.path())
        .env("AWS_ACCESS_KEY_ID", "AKTEST")
        .env("AWS_SECRET_ACCESS_KEY", "SKTEST")
        .env("AWS_ENDPOINT_URL", format!("http://127.0.0.1:{port}"))
        .args(["export", &log, "--kinds", "report", "--retry-for", "0"])
        .args(["--to", "s3://qa-artifacts/silent"])
        .output()
        .unwrap();
    let took = started.elapsed();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("queued for retry"), "{err}");
    // Generous for a loaded machine; without the timeout this takes 60 s per attempt.
    assert!(took < Duration::from_secs(30), "took {took:?}: {err}");
}
