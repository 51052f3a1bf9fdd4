//! Budgets grouped by a configured attribute (`[[dimensions]]`, `monitor --dimension`): the
//! collector's `GET /v1/budgets?group_by=variant` equals `playtrace monitor --group-by variant`
//! on the same lines, and a flood of distinct values folds into `other` with an alert.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod server;

use common::playtrace;
use serde_json::Value;
use server::start;
use std::time::{Duration, Instant};

const NDJSON: (&str, &str) = ("Content-Type", "application/x-ndjson");

/// An A/B test: arm `b` arms and resolves slower than arm `a`.
fn ab_lines() -> String {
    let mut out = String::new();
    for i in 0..120u32 {
        let (variant, slow) = if i % 3 == 0 { ("b", 400) } else { ("a", 0) };
        let common = format!(
            r#""hubId":"h","roomId":"r{}","contestKey":"k{i}","variant":"{variant}""#,
            i % 4
        );
        out.push_str(&format!(
            r#"{{"event":"telemetry.contest.armed","game":"gf","attrs":{{{common},"createdAt":1000}}}}"#
        ));
        out.push('\n');
        out.push_str(&format!(
            r#"{{"event":"telemetry.contest.launched","game":"gf","attrs":{{{common},"contestId":"c{i}","armingDurationMs":{}}}}}"#,
            1000 + slow + i * 7
        ));
        out.push('\n');
        out.push_str(&format!(
            r#"{{"event":"telemetry.contest.resolved","game":"gf","attrs":{{"contestId":"c{i}","resolutionDurationMs":{},"variant":"{variant}"}}}}"#,
            200 + slow + i * 3
        ));
        out.push('\n');
    }
    out
}

#[test]
fn budgets_by_variant_live_equal_the_monitors() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("ab.ndjson");
    std::fs::write(&file, ab_lines()).unwrap();
    let s = start(
        &dir.path().join("data"),
        "[[dimensions]]\nname = \"variant\"\nattr = \"variant\"\n",
    );
    let (status, _, answer) = s.post_with("/v1/events", &[NDJSON], ab_lines().as_bytes());
    assert_eq!(status, 200, "{answer}");

    let out = playtrace()
        .args([
            "monitor",
            "--format",
            "json",
            "--dimension",
            "variant=variant",
        ])
        .args(["--group-by", "variant"])
        .arg(&file)
        .output()
        .unwrap();
    let monitor: Value = serde_json::from_slice(&out.stdout).unwrap();
    let offline = monitor["groups"]["entries"].as_array().expect("groups");
    assert_eq!(offline.len(), 2, "{monitor}");

    let (status, _, budgets) = s.get("/v1/budgets?group_by=variant&window=1h", None);
    assert_eq!(status, 200, "{budgets}");
    let live = budgets["windows"][0]["groups"].as_array().expect("groups");
    assert_eq!(live.len(), 2, "{budgets}");
    for (off, on) in offline.iter().zip(live) {
        assert_eq!(off["key"], on["key"]);
        for metric in ["arming", "resolution"] {
            let find = |g: &Value| {
                g["budgets"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|b| b["metric"] == metric)
                    .cloned()
                    .unwrap()
            };
            let (off, on) = (find(off), find(on));
            assert_eq!(off["samples"], on["samples"], "{metric}");
            assert_eq!(off["value"], on["value"], "{metric}");
        }
    }
    // The arms differ, so the comparison means something.
    assert_eq!(live[0]["key"]["variant"], "a");
    assert_ne!(
        live[0]["budgets"][0]["value"],
        live[1]["budgets"][0]["value"]
    );

    // An undeclared dimension is refused, naming what can be used.
    let (status, _, err) = s.get("/v1/budgets?group_by=platform", None);
    assert_eq!(status, 400);
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .contains("variant"),
        "{err}"
    );
    let out = playtrace()
        .args(["monitor", "--group-by", "platform"])
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn a_flood_of_distinct_builds_folds_into_other_and_alerts() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(
        &dir.path().join("data"),
        "[[dimensions]]\nname = \"build\"\nattr = \"clientVersion\"\nmax_values = 50\n",
    );
    let rss_before = s.metric("process_resident_memory_bytes");
    for chunk in 0..10 {
        let body: String = (0..10_000)
            .map(|i| {
                let n = chunk * 10_000 + i;
                format!(
                    r#"{{"event":"telemetry.contest.resolved","game":"gf","attrs":{{"contestId":"c{n}","resolutionDurationMs":5,"clientVersion":"9.9.{n}"}}}}"#
                ) + "\n"
            })
            .collect();
        let (status, _, answer) = s.post_with("/v1/events", &[NDJSON], body.as_bytes());
        assert_eq!(status, 200, "{answer}");
    }
    let folded = s.metric("playtrace_dimension_folded_total{dimension=\"build\"}");
    assert_eq!(folded, 100_000.0 - 50.0);
    let (_, _, budgets) = s.get("/v1/budgets?group_by=build&window=5m", None);
    let groups = budgets["windows"][0]["groups"].as_array().unwrap();
    assert_eq!(groups.len(), 51);
    let other = groups
        .iter()
        .find(|g| g["key"]["build"] == "other")
        .expect("other");
    let resolution = other["budgets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["metric"] == "resolution")
        .unwrap();
    assert_eq!(resolution["samples"], 100_000 - 50, "{other}");
    // The contests themselves take memory (bounded by the windows); the build strings do not.
    let rss_after = s.metric("process_resident_memory_bytes");
    assert!(
        rss_after - rss_before < 400e6,
        "RSS grew {} MB",
        (rss_after - rss_before) / 1e6
    );

    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, _, list) = s.get("/v1/alerts?category=pipeline", None);
        let alert = list["alerts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["reason"] == "cardinality.folded")
            .cloned();
        if let Some(a) = alert {
            assert_eq!(a["data"]["dimension"], "build", "{a}");
            assert_eq!(a["data"]["maxValues"], 50, "{a}");
            break;
        }
        assert!(Instant::now() < deadline, "no cardinality alert: {list}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn monitor_with_the_serve_config_groups_and_judges_as_the_collector() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("ab.ndjson");
    std::fs::write(&file, ab_lines()).unwrap();
    let config = "[[dimensions]]\nname = \"variant\"\nattr = \"variant\"\n\
                  [[budget]]\nmetric = \"arming\"\npercentile = 50\nlimit_ms = \"1300ms\"\n\
                  [[budget]]\nmetric = \"resolution\"\npercentile = 90\nlimit_ms = 500\n";
    let s = start(&dir.path().join("data"), config);
    let (status, _, answer) = s.post_with("/v1/events", &[NDJSON], ab_lines().as_bytes());
    assert_eq!(status, 200, "{answer}");

    // The very file the collector runs with (the test server writes it beside its data dir).
    let out = playtrace()
        .args(["monitor", "--format", "json", "--group-by", "variant"])
        .arg("--config")
        .arg(dir.path().join("data.toml"))
        .arg(&file)
        .output()
        .unwrap();
    let monitor: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    let offline = monitor["groups"]["entries"].as_array().expect("groups");
    let (_, _, budgets) = s.get("/v1/budgets?group_by=variant&window=1h", None);
    let live = budgets["windows"][0]["groups"].as_array().expect("groups");
    assert_eq!((offline.len(), live.len()), (2, 2), "{monitor}\n{budgets}");
    for (off, on) in offline.iter().zip(live) {
        assert_eq!(off["key"], on["key"]);
        let (off, on) = (
            off["budgets"].as_array().unwrap(),
            on["budgets"].as_array().unwrap(),
        );
        assert_eq!(off.len(), 2, "{off:?}");
        assert_eq!(off.len(), on.len());
        for (a, b) in off.iter().zip(on) {
            for key in [
                "metric",
                "percentile",
                "budget",
                "value",
                "samples",
                "status",
            ] {
                assert_eq!(a[key], b[key], "{key}: {a} vs {b}");
            }
        }
    }
    // The config's budgets are in force (not the monitor's p95 defaults).
    assert_eq!(offline[0]["budgets"][0]["percentile"], 50, "{monitor}");
}

/// ~700 KiB of A/B contests with chat lines between them (escapes, multi-byte text), blank
/// lines and broken ones: what the parts read must cut and join without a seam.
fn large_mixed_body() -> String {
    let mut out = String::new();
    let (mut line, mut copy) = (0u32, 0u32);
    while out.len() < 700 << 10 {
        copy += 1;
        for l in ab_lines().lines() {
            line += 1;
            // Unique contests per copy, so no copy's lines join an earlier copy's contests.
            out.push_str(
                &l.replace("\"contestKey\":\"k", &format!("\"contestKey\":\"k{copy}-"))
                    .replace("\"contestId\":\"c", &format!("\"contestId\":\"c{copy}-")),
            );
            out.push('\n');
            match line % 97 {
                0 => out.push_str("{\"event\":\"broken\",\"attrs\":{\n"),
                13 => out.push('\n'),
                29 => out.push_str(&format!(
                    "{{\"event\":\"chat.message\",\"id\":\"m{line}\",\"game\":\"gf\",\"attrs\":{{\"text\":\"gg \\\"wp\\\" é 🎮 {line}\",\"variant\":\"a\"}}}}\n"
                )),
                61 => out.push_str("{\"attrs\":{\"no\":\"event name\"}}\n"),
                _ => {}
            }
        }
    }
    out
}

/// Every stored event and reject as the API lists them (sequence numbers included: both stores
/// start empty, so they must agree too).
fn stored(s: &server::Server) -> (Vec<Value>, Vec<Value>) {
    let page = |path: &str, key: &str| -> Vec<Value> {
        let mut all = Vec::new();
        let mut after = 0;
        loop {
            let (status, _, v) = s.get(&format!("{path}?after={after}&limit=1000"), None);
            assert_eq!(status, 200, "{v}");
            let items = v[key].as_array().unwrap().clone();
            if items.is_empty() {
                return all;
            }
            after = items.last().unwrap()["seq"].as_i64().unwrap();
            all.extend(items.into_iter().map(|mut e| {
                for time in ["receivedMs", "receivedAt"] {
                    e.as_object_mut().unwrap().remove(time);
                }
                e
            }));
        }
    };
    (page("/v1/events", "events"), page("/v1/rejects", "rejects"))
}

#[test]
fn a_large_body_read_in_parts_answers_and_stores_as_one_read_whole() {
    let dir = tempfile::tempdir().unwrap();
    let config = |threads: u32| {
        format!("[[dimensions]]\nname = \"variant\"\nattr = \"variant\"\n[http]\nparse_threads = {threads}\n")
    };
    // `parse_threads` set, the parts read runs on any machine (by default only on 4+ cores).
    let whole = start(&dir.path().join("whole"), &config(1));
    let parts = start(&dir.path().join("parts"), &config(6));
    let body = large_mixed_body();
    let answers: Vec<Value> = [&whole, &parts]
        .iter()
        .map(|s| {
            let (status, _, answer) = s.post_with("/v1/events", &[NDJSON], body.as_bytes());
            assert_eq!(status, 200, "{answer}");
            answer
        })
        .collect();
    assert_eq!(
        answers[0], answers[1],
        "the same answer, reject line numbers included"
    );
    let rejected = answers[0]["rejected"].as_array().unwrap();
    assert!(rejected.len() > 20, "{}", answers[0]);
    assert!(
        answers[0]["accepted"].as_u64().unwrap() > 4000,
        "{}",
        answers[0]
    );

    let (events, rejects) = stored(&whole);
    assert_eq!((events.clone(), rejects.clone()), stored(&parts));
    assert_eq!(
        events.len() as u64,
        answers[0]["accepted"].as_u64().unwrap()
    );
    assert_eq!(rejects.len(), rejected.len());

    let budgets = |s: &server::Server| {
        let (status, _, v) = s.get("/v1/budgets?group_by=variant&window=1h", None);
        assert_eq!(status, 200, "{v}");
        v["windows"][0]["groups"].clone()
    };
    let (a, b) = (budgets(&whole), budgets(&parts));
    assert_eq!(a, b);
    assert_eq!(a.as_array().unwrap().len(), 2, "{a}");
}
