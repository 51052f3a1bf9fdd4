//! `playtrace alerts` verbs against the real collector: list (text and JSON, filters), ack,
//! resolve, silence by --match, silences, unsilence, watch (replay after an id, one line per
//! change), and the freshness check by name with the same exit codes as without a verb.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod server;

use common::{playtrace, stderr, stdout};
use serde_json::{json, Value};
use server::start;

const CONFIG: &str = r#"
[[tokens]]
name = "ops-1"
secret = "admin-secret"
scopes = ["ingest", "read", "admin"]

[[tokens]]
name = "viewer"
secret = "read-secret"
scopes = ["read"]
"#;

fn post_alert(s: &server::Server, check: &str, session: &str, room: &str) -> String {
    let (status, _, body) = s.post_with(
        "/v1/alerts",
        &[
            ("Content-Type", "application/json"),
            ("Authorization", "Bearer admin-secret"),
        ],
        json!({"sessionId": session, "severity": "high", "reason": format!("abuse {check}"),
               "data": {"checkId": check, "roomId": room}})
        .to_string()
        .as_bytes(),
    );
    assert_eq!(status, 200, "{body}");
    body["alertId"].as_str().unwrap().to_string()
}

fn alerts(url: &str, args: &[&str]) -> std::process::Output {
    playtrace()
        .arg("alerts")
        .args(args)
        .args(["--url", url, "--read-token", "read-secret"])
        .env("PLAYTRACE_ADMIN_TOKEN", "admin-secret")
        .output()
        .unwrap()
}

fn json_of(out: &std::process::Output) -> Value {
    assert!(out.status.success(), "{}", stderr(out));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn verbs_list_ack_resolve_silence_and_unsilence() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(&dir.path().join("data"), CONFIG);
    let pier = post_alert(&s, "k1", "s-1", "pier");
    let dock = post_alert(&s, "k2", "s-2", "dock");

    let out = alerts(&s.url, &["list"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert_eq!(text.lines().count(), 2, "{text}");
    assert!(
        text.contains(&pier) && text.contains("firing") && text.contains("abuse k1"),
        "{text}"
    );
    let listed = json_of(&alerts(
        &s.url,
        &["list", "--category", "budget", "--format", "json"],
    ));
    assert_eq!(listed["alerts"], json!([]));

    let acked = json_of(&alerts(
        &s.url,
        &["ack", &pier, "--comment", "on it", "--format", "json"],
    ));
    assert_eq!(acked["acknowledgedBy"], "ops-1");
    assert_eq!(acked["ackComment"], "on it");
    assert_eq!(acked["state"], "firing");

    let silence = json_of(&alerts(
        &s.url,
        &[
            "silence",
            "--match",
            "room=pier",
            "--for",
            "2h",
            "--comment",
            "raid",
            "--format",
            "json",
        ],
    ));
    assert_eq!(silence["matchers"], json!({"room": "pier"}));
    assert_eq!(silence["author"], "ops-1");
    let sid = silence["id"].as_str().unwrap().to_string();
    let firing = json_of(&alerts(
        &s.url,
        &["list", "--state", "firing", "--format", "json"],
    ));
    let ids: Vec<&str> = firing["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [dock.as_str()], "the pier alert is silenced");
    let out = alerts(&s.url, &["silences"]);
    assert!(
        stdout(&out).contains(&sid) && stdout(&out).contains("active"),
        "{}",
        stdout(&out)
    );

    let ended = json_of(&alerts(&s.url, &["unsilence", &sid, "--format", "json"]));
    assert_eq!(ended["state"], "expired");
    let resolved = json_of(&alerts(&s.url, &["resolve", &pier, "--format", "json"]));
    assert_eq!(resolved["state"], "resolved");

    // A read token may not act: exit 2 naming the admin token.
    let out = playtrace()
        .args(["alerts", "resolve", &dock, "--url", &s.url])
        .env("PLAYTRACE_ADMIN_TOKEN", "read-secret")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("admin token"), "{}", stderr(&out));
    // A malformed matcher is a usage error.
    let out = alerts(&s.url, &["silence", "--match", "pier"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("KEY=VALUE"), "{}", stderr(&out));
}

#[test]
fn watch_prints_one_line_per_change_and_resumes_after_an_id() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(&dir.path().join("data"), CONFIG);
    let first = post_alert(&s, "w1", "s-1", "pier");
    let second = post_alert(&s, "w2", "s-2", "pier");
    let out = alerts(
        &s.url,
        &["watch", "--after", "0", "--count", "2", "--format", "json"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let changes: Vec<Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(changes.len(), 2);
    assert_eq!(changes[0]["id"], first.as_str());
    assert_eq!(changes[1]["id"], second.as_str());
    // Text lines carry the stream id; resuming after the first line skips it.
    let out = alerts(&s.url, &["watch", "--after", "0", "--count", "1"]);
    let line = stdout(&out);
    let id = line
        .trim_start_matches('#')
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    let out = alerts(
        &s.url,
        &["watch", "--after", &id, "--count", "1", "--format", "json"],
    );
    let next: Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    assert_eq!(next["id"], second.as_str());
}

#[test]
fn the_check_by_name_answers_like_the_bare_command() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(&dir.path().join("data"), CONFIG);
    for args in [&["--window", "6h"][..], &["check", "--window", "6h"][..]] {
        let out = alerts(&s.url, args);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", stdout(&out));
        assert!(stdout(&out).starts_with("no-alerts"), "{}", stdout(&out));
    }
    post_alert(&s, "c1", "s-1", "pier");
    for args in [&["--window", "6h"][..], &["check", "--window", "6h"][..]] {
        let out = alerts(&s.url, args);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", stdout(&out));
        assert!(stdout(&out).starts_with("ready"), "{}", stdout(&out));
    }
}
