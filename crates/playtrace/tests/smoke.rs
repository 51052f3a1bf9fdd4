//! `playtrace smoke` and `playtrace alerts` against a real collector on loopback.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod server;

use common::{fixture, playtrace, stderr};
use serde_json::{json, Value};
use server::start;
use std::path::Path;
use std::time::{Duration, Instant};

fn read_json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

#[test]
fn smoke_passes_against_a_working_collector() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(&dir.path().join("data"), "");
    let report = dir.path().join("report.json");
    let observation = dir.path().join("obs.json");
    let out = playtrace()
        .args(["smoke", "--url", &s.url, "--report"])
        .arg(&report)
        .arg("--observation")
        .arg(&observation)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("PASS"), "{stdout}");
    let r = read_json(&report);
    assert_eq!(r["success"], true);
    assert_eq!(r["error"], Value::Null);
    assert_eq!(r["baseUrl"], s.url.as_str());
    for check in ["probe", "adminAlert", "replay"] {
        assert_eq!(r["metrics"][check]["observed"], true, "{check}");
        let latency = r["metrics"][check]["latencyMs"].as_f64().unwrap();
        assert!(latency > 0.0, "{check} latency {latency}");
    }
    let alert = &r["metrics"]["adminAlert"];
    assert_eq!(alert["seeded"], false);
    assert_eq!(alert["severity"], "high");
    assert_eq!(alert["reason"], "prohibited-capability");
    assert!(r["runId"].as_str().unwrap().len() >= 32);
    assert!(r["durationMs"].as_f64().unwrap() > 0.0);
    assert!(r["eventCounts"]["playtrace.smoke.probe"].as_u64().unwrap() >= 1);
    assert_eq!(r["eventCounts"]["alert"], 1);
    // The old report's keys, plus `error`.
    let old = read_json(&fixture("langgraph-sse-staging.json"));
    for key in [
        "runId",
        "startedAt",
        "baseUrl",
        "config",
        "metrics",
        "eventCounts",
        "success",
        "completedAt",
        "durationMs",
    ] {
        assert!(old.get(key).is_some() && r.get(key).is_some(), "{key}");
    }
    assert!(r.get("error").is_some());
    // The observation, in the shape of the fixture.
    let o = read_json(&observation);
    let want = read_json(&fixture("admin-alert-observations.json"));
    let keys = |v: &Value| {
        let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
        k.sort();
        k
    };
    assert_eq!(keys(&o), keys(&want));
    assert_eq!(o["runId"], r["runId"]);
    // The probe's alert is live but not in the moderators' default list.
    let (_, _, list) = s.get("/v1/alerts?category=moderation", None);
    assert_eq!(list["alerts"], json!([]));
    let (_, _, probes) = s.get("/v1/alerts?category=moderation&include_probes=true", None);
    assert_eq!(
        probes["alerts"][0]["data"]["checkId"],
        r["metrics"]["adminAlert"]["checkId"]
    );
    // `alerts` reads the observation smoke just wrote: ready.
    let out = playtrace()
        .args(["alerts", "--format", "json", "--observation"])
        .arg(&observation)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["status"], "ready");
}

#[test]
fn smoke_fails_with_exit_1_when_no_live_alert_comes_and_keeps_the_good_observation() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(
        &dir.path().join("data"),
        "[alerts]\ndefault_rules = false\n",
    );
    let report = dir.path().join("report.json");
    let observation = dir.path().join("obs.json");
    let good = r#"{"observedAt":"2025-11-05T04:53:28.025Z","latencyMs":3}"#;
    std::fs::write(&observation, good).unwrap();
    let out = playtrace()
        .args(["smoke", "--timeout", "700ms", "--url", &s.url, "--report"])
        .arg(&report)
        .arg("--observation")
        .arg(&observation)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let r = read_json(&report);
    assert_eq!(r["success"], false);
    assert_eq!(r["error"]["check"], "adminAlert");
    let message = r["error"]["message"].as_str().unwrap();
    assert!(message.contains("no live alert"), "{message}");
    assert_eq!(r["metrics"]["probe"]["observed"], true);
    assert_eq!(r["metrics"]["adminAlert"]["observed"], false);
    // The old script overwrote a good observation with an empty one; not here.
    assert_eq!(std::fs::read_to_string(&observation).unwrap(), good);
}

#[test]
fn smoke_against_a_stopped_collector_or_with_a_wrong_token_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    // Nothing listens on this port.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out = playtrace()
        .args(["smoke", "--url", &format!("http://127.0.0.1:{port}")])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("cannot reach the collector"), "{err}");

    let s = start(
        &dir.path().join("data"),
        r#"
[[tokens]]
name = "game"
secret = "ingest-secret-1"
scopes = ["ingest"]
[[tokens]]
name = "dashboard"
secret = "read-secret-1"
scopes = ["read"]
"#,
    );
    let out = playtrace()
        .args(["smoke", "--url", &s.url, "--read-token", "read-secret-1"])
        .env("PLAYTRACE_INGEST_TOKEN", "wrong-token")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("401") && err.contains("ingest token"), "{err}");
    // With the right tokens (from the environment) it passes.
    let out = playtrace()
        .args(["smoke"])
        .env("PLAYTRACE_URL", &s.url)
        .env("PLAYTRACE_INGEST_TOKEN", "ingest-secret-1")
        .env("PLAYTRACE_READ_TOKEN", "read-secret-1")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

#[test]
fn watch_appends_one_report_per_run() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(&dir.path().join("data"), "");
    let log = dir.path().join("smoke.ndjson");
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_playtrace"))
        .args(["smoke", "--watch", "100ms", "--url", &s.url, "--log"])
        .arg(&log)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let lines = std::fs::read_to_string(&log).unwrap_or_default();
        if lines.lines().count() >= 3 {
            break;
        }
        assert!(Instant::now() < deadline, "watch wrote {lines:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
    std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let runs: Vec<Value> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(runs.len() >= 3);
    assert!(runs.iter().all(|r| r["success"] == true));
    let ids: std::collections::HashSet<&str> =
        runs.iter().map(|r| r["runId"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), runs.len(), "every run has its own id");
    let status = String::from_utf8_lossy(&out.stdout);
    assert!(
        status.lines().count() >= 3 && status.lines().all(|l| l.contains("PASS")),
        "{status}"
    );
}

fn alerts(args: &[&str]) -> (Option<i32>, Value, String) {
    let out = playtrace()
        .arg("alerts")
        .args(args)
        .args(["--format", "json"])
        .output()
        .unwrap();
    let v = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (out.status.code(), v, stderr(&out))
}

#[test]
fn alerts_reads_the_fixture_observation() {
    let obs = fixture("admin-alert-observations.json");
    let obs = obs.to_str().unwrap();
    // Observed at 04:53:28.025Z; at 06:00 it is 66 minutes old.
    let (code, v, _) = alerts(&[
        "--observation",
        obs,
        "--now",
        "2025-11-05T06:00:00Z",
        "--window",
        "1h",
    ]);
    assert_eq!(code, Some(1));
    assert_eq!(v["status"], "stale");
    assert_eq!(v["ageMs"], 3_991_975);
    assert_eq!(v["windowMs"], 3_600_000);
    let (code, v, _) = alerts(&[
        "--observation",
        obs,
        "--now",
        "2025-11-05T06:00:00Z",
        "--window",
        "2h",
    ]);
    assert_eq!(code, Some(0));
    assert_eq!(
        v,
        json!({"status": "ready", "observedAt": "2025-11-05T04:53:28.025Z", "ageMs": 3_991_975,
               "windowMs": 7_200_000, "latencyMs": 3, "severity": "high",
               "reason": "prohibited-capability", "seeded": false, "alertSource": "live",
               "source": obs})
    );
    // For people, the age is a duration, not milliseconds.
    let text = playtrace()
        .args([
            "alerts",
            "--observation",
            obs,
            "--now",
            "2025-11-05T06:00:00Z",
            "--window",
            "2h",
        ])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&text.stdout),
        "ready: newest moderation alert prohibited-capability (1h 6m ago, window 2h), at 2025-11-05T04:53:28.025Z\n"
    );
    // Every duration format (a bare number is ms; the window includes its end), and bad ones.
    for (window, status) in [
        ("3991974", "stale"),
        ("3991975", "ready"),
        ("3992s", "ready"),
        ("66m", "stale"),
        ("67m", "ready"),
        ("1.2h", "ready"),
        ("0.05d", "ready"),
    ] {
        let (_, v, err) = alerts(&[
            "--observation",
            obs,
            "--now",
            "2025-11-05T06:00:00Z",
            "--window",
            window,
        ]);
        assert_eq!(v["status"], status, "--window {window}: {err}");
    }
    let (code, _, err) = alerts(&["--observation", obs, "--window", "6 hours"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("--window") && err.contains("6 hours"), "{err}");
    let (code, _, err) = alerts(&["--observation", obs, "--now", "yesterday"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("--now"), "{err}");
}

#[test]
fn alerts_statuses_missing_seeded_no_alerts_and_live() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("none.json");
    let (code, v, _) = alerts(&["--observation", missing.to_str().unwrap()]);
    assert_eq!((code, v["status"].as_str()), (Some(1), Some("missing")));
    let seeded = dir.path().join("seeded.json");
    std::fs::write(
        &seeded,
        r#"{"observedAt":"2025-11-05T04:53:28.025Z","seeded":true,"reason":"debug.fallback"}"#,
    )
    .unwrap();
    let (code, v, _) = alerts(&[
        "--observation",
        seeded.to_str().unwrap(),
        "--now",
        "2025-11-05T05:00:00Z",
    ]);
    assert_eq!((code, v["status"].as_str()), (Some(1), Some("seeded")));
    let broken = dir.path().join("broken.json");
    std::fs::write(&broken, "not json").unwrap();
    let (code, _, err) = alerts(&["--observation", broken.to_str().unwrap()]);
    assert_eq!(code, Some(2));
    assert!(err.contains("broken.json"), "{err}");

    // From a collector: no alerts, then a seeded one (newest), then a live one.
    let s = start(&dir.path().join("data"), "");
    let (code, v, _) = alerts(&["--url", &s.url]);
    assert_eq!((code, v["status"].as_str()), (Some(1), Some("no-alerts")));
    let post = |body: Value| {
        s.post_with(
            "/v1/alerts",
            &[("Content-Type", "application/json")],
            body.to_string().as_bytes(),
        )
    };
    post(json!({"id": "live", "sessionId": "s", "reason": "player.report"}));
    std::thread::sleep(Duration::from_millis(10));
    post(json!({"id": "fake", "sessionId": "s", "reason": "debug.seeded"}));
    let (code, v, _) = alerts(&["--url", &s.url]);
    assert_eq!((code, v["status"].as_str()), (Some(1), Some("seeded")));
    std::thread::sleep(Duration::from_millis(10));
    post(
        json!({"id": "live-2", "sessionId": "s", "reason": "player.report", "data": {"latencyMs": 12}}),
    );
    let (code, v, _) = alerts(&["--url", &s.url, "--window", "1m"]);
    assert_eq!((code, v["status"].as_str()), (Some(0), Some("ready")));
    assert_eq!(v["latencyMs"], 12);
    assert_eq!(v["source"], s.url.as_str());
    // Judged from far in the future it is stale.
    let (code, v, _) = alerts(&[
        "--url",
        &s.url,
        "--window",
        "1m",
        "--now",
        "2999-01-01T00:00:00Z",
    ]);
    assert_eq!((code, v["status"].as_str()), (Some(1), Some("stale")));
    // A collector that is not there: exit 2.
    drop(s);
    let (code, _, err) = alerts(&["--url", "http://127.0.0.1:9"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("cannot reach"), "{err}");
}

/// "Verify a deployment": right after a passing `smoke`, `alerts` finds smoke's probe alert,
/// a live alert from the real pipeline, and passes; `--exclude-probes` judges real moderation
/// traffic only (none here). Age is from createdAt even once the alert has resolved.
#[test]
fn alerts_counts_a_probes_live_alert_unless_probes_are_excluded() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(&dir.path().join("data"), "");
    let smoke = playtrace()
        .args(["smoke", "--url", &s.url])
        .output()
        .unwrap();
    assert_eq!(smoke.status.code(), Some(0), "{}", stderr(&smoke));
    let (code, v, err) = alerts(&["--url", &s.url, "--window", "6h"]);
    assert_eq!(
        (code, v["status"].as_str()),
        (Some(0), Some("ready")),
        "{err}"
    );
    assert_eq!(v["alertSource"], "probe");
    let text = playtrace()
        .args(["alerts", "--url", &s.url, "--window", "6h"])
        .output()
        .unwrap();
    let line = String::from_utf8_lossy(&text.stdout).into_owned();
    assert!(
        line.starts_with("ready: ") && line.contains("from a verification probe"),
        "{line}"
    );
    assert!(line.contains("ago, window 6h)"), "{line}");
    let (code, v, _) = alerts(&["--url", &s.url, "--window", "6h", "--exclude-probes"]);
    assert_eq!((code, v["status"].as_str()), (Some(1), Some("no-alerts")));
    let (code, v, _) = alerts(&["check", "--url", &s.url, "--exclude-probes"]);
    assert_eq!((code, v["status"].as_str()), (Some(1), Some("no-alerts")));
}

/// Every watch run is one line of the log, failed or not: a refused token is a failed run
/// (check `auth`) in the log, not only a FAIL on the terminal.
#[test]
fn watch_logs_failed_runs_too() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(
        &dir.path().join("data"),
        "[[tokens]]\nname = \"game\"\nsecret = \"ingest-secret-1\"\nscopes = [\"ingest\"]\n[[tokens]]\nname = \"dashboard\"\nsecret = \"read-secret-1\"\nscopes = [\"read\"]\n",
    );
    let log = dir.path().join("smoke.ndjson");
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_playtrace"))
        .args(["smoke", "--watch", "100ms", "--url", &s.url, "--log"])
        .arg(&log)
        .args([
            "--read-token",
            "read-secret-1",
            "--ingest-token",
            "wrong-token",
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let lines = std::fs::read_to_string(&log).unwrap_or_default();
        if lines.lines().count() >= 2 {
            break;
        }
        assert!(Instant::now() < deadline, "watch wrote {lines:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
    std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1), "the last run failed");
    let runs: Vec<Value> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    for r in &runs {
        assert_eq!(r["success"], false);
        assert_eq!(r["error"]["check"], "auth", "{r}");
        assert!(
            r["error"]["message"].as_str().unwrap().contains("401"),
            "{r}"
        );
        assert_eq!(r["baseUrl"], s.url.as_str());
    }
}

#[test]
fn smoke_summary_reports_pass_rate_latencies_and_the_last_failure() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("smoke.ndjson");
    let pass = |id: &str, at: &str, probe: f64, alert: f64, replay: f64| {
        json!({"runId": id, "startedAt": at, "success": true, "error": null,
               "metrics": {"probe": {"observed": true, "latencyMs": probe},
                           "adminAlert": {"observed": true, "latencyMs": alert},
                           "replay": {"observed": true, "latencyMs": replay}}})
        .to_string()
    };
    let failed = json!({"runId": "r3", "startedAt": "2025-11-05T05:10:00Z", "success": false,
        "error": {"check": "adminAlert", "message": "no live alert | rules off"},
        "metrics": {"probe": {"observed": true, "latencyMs": 9.0},
                    "adminAlert": {"observed": false, "latencyMs": null},
                    "replay": {"observed": false, "latencyMs": null}}})
    .to_string();
    let lines = [
        pass("r1", "2025-11-05T05:00:00Z", 2.0, 10.0, 3.0),
        pass("r2", "2025-11-05T05:05:00Z", 4.0, 30.0, 5.0),
        failed,
        "not a report".to_string(),
        pass("r4", "2025-11-05T05:15:00Z", 6.0, 20.0, 7.0),
    ];
    std::fs::write(&log, lines.join("\n") + "\n").unwrap();
    let run = |format: &str| {
        playtrace()
            .args(["smoke", "summary", "--format", format])
            .arg(&log)
            .output()
            .unwrap()
    };
    let out = run("json");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stderr(&out).contains("smoke.ndjson:4: not a smoke report"));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (v["runs"].as_u64(), v["passed"].as_u64()),
        (Some(4), Some(3))
    );
    assert_eq!(v["passRate"], 0.75);
    assert_eq!(
        v["latencyMs"]["probe"],
        json!({"samples": 4, "p50": 4.0, "p95": 9.0, "max": 9.0})
    );
    assert_eq!(
        v["latencyMs"]["adminAlert"],
        json!({"samples": 3, "p50": 20.0, "p95": 30.0, "max": 30.0})
    );
    assert_eq!(v["firstRun"]["runId"], "r1");
    assert_eq!(v["lastRun"]["startedAt"], "2025-11-05T05:15:00Z");
    assert_eq!(
        v["lastFailure"],
        json!({"runId": "r3", "startedAt": "2025-11-05T05:10:00Z", "success": false,
               "check": "adminAlert", "message": "no live alert | rules off"})
    );
    assert_eq!(v["unreadableLines"], 1);
    let text = String::from_utf8(run("TEXT").stdout).unwrap();
    assert!(
        text.contains("Pass rate:  75.0% (3 passed, 1 failed: adminAlert 1)"),
        "{text}"
    );
    assert!(
        text.contains(
            "Last failure: 2025-11-05T05:10:00Z (run r3): adminAlert: no live alert | rules off"
        ),
        "{text}"
    );
    let md = String::from_utf8(run("markdown").stdout).unwrap();
    assert!(
        md.contains("| alert | 3 | 20.0 ms | 30.0 ms | 30.0 ms |"),
        "{md}"
    );
    assert!(md.contains("no live alert \\| rules off"), "{md}");
    // A log with no run has nothing to report: exit 1.
    let empty = dir.path().join("empty.ndjson");
    std::fs::write(&empty, "").unwrap();
    let out = playtrace()
        .args(["smoke", "summary"])
        .arg(&empty)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
}
