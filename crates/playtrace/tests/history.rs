//! Budget history (`GET /v1/budgets/history`): per-minute rows of counts per distinct duration,
//! so its percentiles over a range equal the live window's and `playtrace monitor`'s on the same
//! events; a later event replaces a contest's sample there too; a restart (clean or killed)
//! counts nothing twice and loses nothing; bad parameters are JSON 400s.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod server;

use common::playtrace;
use serde_json::Value;
use server::start;

const NDJSON: (&str, &str) = ("Content-Type", "application/x-ndjson");
const BUILD: &str = "[[dimensions]]\nname = \"build\"\nattr = \"clientVersion\"\n";

/// Contests in 4 rooms and 2 builds (1.4.2 resolves slower), decimals and repeats included; the
/// first `changed` contests get a second `resolved` event with another duration (a later event
/// wins: it replaces the sample).
fn lines(run: &str, n: u32, changed: u32) -> String {
    let mut out = String::new();
    for i in 0..n {
        let build = if i % 3 == 0 { "1.4.2" } else { "1.4.1" };
        let slow = if build == "1.4.2" { 300.5 } else { 0.0 };
        let common = format!(
            r#""hubId":"h","roomId":"r{}","contestKey":"k{run}{i}","clientVersion":"{build}""#,
            i % 4
        );
        out.push_str(&format!(
            "{{\"event\":\"telemetry.contest.launched\",\"id\":\"{run}l{i}\",\"game\":\"gf\",\
             \"attrs\":{{{common},\"contestId\":\"c{run}{i}\",\"armingDurationMs\":{}}}}}\n",
            1000 + (i % 17) * 7
        ));
        out.push_str(&format!(
            "{{\"event\":\"telemetry.contest.resolved\",\"id\":\"{run}r{i}\",\"game\":\"gf\",\
             \"attrs\":{{{common},\"contestId\":\"c{run}{i}\",\"resolutionDurationMs\":{}}}}}\n",
            200.0 + slow + f64::from(i % 23) * 3.0
        ));
    }
    for i in 0..changed {
        out.push_str(&format!(
            "{{\"event\":\"telemetry.contest.resolved\",\"id\":\"{run}again{i}\",\"game\":\"gf\",\
             \"attrs\":{{\"contestId\":\"c{run}{i}\",\"resolutionDurationMs\":{}}}}}\n",
            5000 + i
        ));
    }
    out
}

/// One point covering everything posted: a day's step over the last hour.
const ALL: &str = "/v1/budgets/history?from=1h&step=1d";

fn budget<'a>(lines: &'a Value, metric: &str) -> &'a Value {
    lines
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["metric"] == metric)
        .unwrap()
}

fn same_figures(history: &Value, live: &Value, what: &str) {
    for metric in ["arming", "resolution"] {
        let (h, l) = (budget(history, metric), budget(live, metric));
        for field in ["samples", "value", "p50", "p95", "p99", "max", "status"] {
            assert_eq!(h[field], l[field], "{what} {metric} {field}: {h} vs {l}");
        }
    }
}

/// The history's one point against the live 1h window, overall and per group.
fn assert_history_equals_live(s: &server::Server, group_by: &str) {
    let (status, _, history) = s.get(&format!("{ALL}&group_by={group_by}"), None);
    assert_eq!(status, 200, "{history}");
    let (status, _, live) = s.get(&format!("/v1/budgets?window=1h&group_by={group_by}"), None);
    assert_eq!(status, 200, "{live}");
    let points = history["points"].as_array().unwrap();
    assert_eq!(points.len(), 1, "{history}");
    let window = &live["windows"][0];
    same_figures(&points[0]["budgets"], &window["budgets"], "overall");
    let (hg, lg) = (
        points[0]["groups"].as_array().unwrap(),
        window["groups"].as_array().unwrap(),
    );
    assert_eq!(hg.len(), lg.len(), "{history}\n{live}");
    for (h, l) in hg.iter().zip(lg) {
        assert_eq!(h["key"], l["key"]);
        same_figures(&h["budgets"], &l["budgets"], &h["key"].to_string());
    }
}

#[test]
fn history_equals_the_live_window_and_the_monitor_with_later_events_replacing_samples() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(&dir.path().join("data"), BUILD);
    let body = lines("a", 150, 10);
    let (status, _, answer) = s.post_with("/v1/events", &[NDJSON], body.as_bytes());
    assert_eq!(status, 200, "{answer}");

    assert_history_equals_live(&s, "room");
    assert_history_equals_live(&s, "build");
    assert_history_equals_live(&s, "room,build");

    // Each contest is one sample: the ten re-resolved ones replaced theirs.
    let (_, _, h) = s.get(ALL, None);
    let resolution = budget(&h["points"][0]["budgets"], "resolution");
    assert_eq!(resolution["samples"], 150, "{h}");
    assert_eq!(resolution["max"], 5009.0, "{h}");

    // The same lines offline: the monitor's percentiles per build.
    let file = dir.path().join("lines.ndjson");
    std::fs::write(&file, &body).unwrap();
    let out = playtrace()
        .args([
            "monitor",
            "--format",
            "json",
            "--dimension",
            "build=clientVersion",
        ])
        .args(["--group-by", "build"])
        .arg(&file)
        .output()
        .unwrap();
    let monitor: Value = serde_json::from_slice(&out.stdout).unwrap();
    let offline = monitor["groups"]["entries"].as_array().expect("groups");
    let (_, _, h) = s.get(&format!("{ALL}&group_by=build"), None);
    let online = h["points"][0]["groups"].as_array().unwrap();
    assert_eq!(offline.len(), 2, "{monitor}");
    assert_eq!(online.len(), 2, "{h}");
    for (off, on) in offline.iter().zip(online) {
        assert_eq!(off["key"], on["key"]);
        for metric in ["arming", "resolution"] {
            let (a, b) = (
                budget(&off["budgets"], metric),
                budget(&on["budgets"], metric),
            );
            assert_eq!(a["samples"], b["samples"], "{metric}");
            assert_eq!(a["value"], b["value"], "{metric}");
        }
    }
    // The builds differ, so the comparison means something.
    assert_ne!(
        budget(&online[0]["budgets"], "resolution")["value"],
        budget(&online[1]["budgets"], "resolution")["value"]
    );

    // Minute steps add up to the same samples.
    let (status, _, minutes) = s.get("/v1/budgets/history?from=30m&step=1m", None);
    assert_eq!(status, 200, "{minutes}");
    let points = minutes["points"].as_array().unwrap();
    assert!(points.len() >= 30, "{minutes}");
    let total: u64 = points
        .iter()
        .map(|p| {
            budget(&p["budgets"], "resolution")["samples"]
                .as_u64()
                .unwrap()
        })
        .sum();
    assert_eq!(total, 150, "{minutes}");
}

#[test]
fn a_restart_counts_nothing_twice_and_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let s = start(&data, BUILD);
    let (status, _, _) = s.post_with("/v1/events", &[NDJSON], lines("a", 80, 5).as_bytes());
    assert_eq!(status, 200);
    let (_, _, before) = s.get(&format!("{ALL}&group_by=room"), None);
    let (code, log) = s.terminate();
    assert_eq!(code, Some(0), "{log}");

    // A clean restart replays the events the rows already count: nothing changes.
    let s = start(&data, BUILD);
    let (_, _, after) = s.get(&format!("{ALL}&group_by=room"), None);
    assert_eq!(before["points"], after["points"]);
    assert_history_equals_live(&s, "room,build");

    // Killed before its journal was written: the rebuild journals those events again, and
    // later events for contests counted before the kill replace their samples, once.
    let more = lines("b", 60, 0) + &lines("a", 0, 8);
    let (status, _, _) = s.post_with("/v1/events", &[NDJSON], more.as_bytes());
    assert_eq!(status, 200);
    s.kill();
    let s = start(&data, BUILD);
    assert_history_equals_live(&s, "room,build");
    let (_, _, h) = s.get(ALL, None);
    let resolution = budget(&h["points"][0]["budgets"], "resolution");
    assert_eq!(resolution["samples"], 140, "{h}");
    assert_eq!(resolution["max"], 5007.0, "{h}");
}

#[test]
fn bad_history_parameters_are_json_errors_naming_them() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(&dir.path().join("data"), BUILD);
    for (query, needle) in [
        ("from=yesterday", "from"),
        ("to=soon", "to"),
        ("from=1h&to=2h", "before"),
        ("step=90s", "whole number of minutes"),
        ("step=-1m", "step"),
        ("from=30d&step=1m", "points"),
        ("group_by=platform", "build"),
        ("window=1h", "unknown parameter"),
    ] {
        let (status, _, err) = s.get(&format!("/v1/budgets/history?{query}"), None);
        assert_eq!(status, 400, "{query}: {err}");
        assert_eq!(err["error"]["code"], "bad_request", "{query}: {err}");
        let message = err["error"]["message"].as_str().unwrap();
        assert!(message.contains(needle), "{query}: {message}");
    }
    // RFC 3339 times and durations are both times.
    let (status, _, ok) = s.get(
        "/v1/budgets/history?from=2026-01-01T00:00:00Z&to=2026-01-01T06:00:00Z&step=1h",
        None,
    );
    assert_eq!(status, 200, "{ok}");
    assert_eq!(ok["points"].as_array().unwrap().len(), 6, "{ok}");
    assert_eq!(ok["step"], "1h");
    let no_data = budget(&ok["points"][0]["budgets"], "resolution");
    assert_eq!(no_data["samples"], 0);
    assert_eq!(no_data["status"], "insufficient_data");
}
