//! The tracking plan at ingest, against a real `playtrace serve`: observe stores and counts,
//! enforce rejects with the field path and rule (stored as a reject: nothing lost either way),
//! unknown events, the drift alert for a field dropped mid-stream, and the coverage route.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod server;

use serde_json::{json, Value};
use server::start;
use std::path::{Path, PathBuf};

fn quest_plan(dir: &Path) -> PathBuf {
    let plan = dir.join("plan");
    std::fs::create_dir_all(&plan).unwrap();
    let schema = json!({
        "type": "object",
        "required": ["telemetryTag", "questId", "objectiveId"],
        "properties": {
            "telemetryTag": {"type": "string"},
            "questId": {"type": "string"},
            "objectiveId": {"type": "string"},
            "step": {"type": "integer"}
        }
    });
    std::fs::write(plan.join("quest.objective.json"), schema.to_string()).unwrap();
    plan
}

fn config(plan: &Path, extra: &str) -> String {
    format!("[plan]\ndir = {:?}\n{extra}\n", plan.display().to_string())
}

fn quest(id: &str, attrs: Value) -> String {
    json!({"event": "quest.objective", "id": id, "game": "gf", "env": "prod", "attrs": attrs})
        .to_string()
}

fn good(id: &str) -> String {
    quest(
        id,
        json!({"telemetryTag": "t", "questId": "q", "objectiveId": "o"}),
    )
}

fn body() -> String {
    [
        good("a"),
        quest(
            "b",
            json!({"telemetryTag": "t", "objectiveId": "o", "branchId": "x"}),
        ),
        json!({"event": "brand.new", "id": "c", "game": "gf", "env": "prod"}).to_string(),
        quest(
            "d",
            json!({"telemetryTag": "t", "questId": "q", "objectiveId": "o", "step": "2"}),
        ),
    ]
    .join("\n")
}

#[test]
fn observe_stores_everything_and_counts_violations() {
    let dir = tempfile::tempdir().unwrap();
    let plan = quest_plan(dir.path());
    let s = start(&dir.path().join("data"), &config(&plan, ""));
    let (status, _, answer) = s.ingest(&body(), None);
    assert_eq!(status, 200);
    assert_eq!(
        answer,
        json!({"accepted": 4, "duplicates": 0, "rejected": []})
    );
    assert_eq!(
        s.metric(r#"playtrace_plan_violations_total{schema="quest.objective",field="questId",kind="missing"}"#),
        1.0
    );
    assert_eq!(
        s.metric(r#"playtrace_plan_violations_total{schema="quest.objective",field="step",kind="wrong_type"}"#),
        1.0
    );
    assert_eq!(
        s.metric(r#"playtrace_plan_violations_total{schema="quest.objective",field="branchId",kind="unexpected"}"#),
        1.0
    );
    assert_eq!(
        s.metric(r#"playtrace_plan_events_total{result="unknown"}"#),
        1.0
    );
    assert_eq!(
        s.metric(r#"playtrace_plan_events_total{result="clean"}"#),
        1.0
    );

    // The coverage route: the plan check report over what is stored.
    let (status, _, report) = s.get("/v1/plan/coverage?game=gf&env=prod&since=1h", None);
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["ok"], false);
    assert_eq!(report["totals"]["events"], 4);
    assert_eq!(report["totals"]["unknownEvents"], 1);
    assert_eq!(
        report["coverage"]["payload"]["missingFieldNames"],
        json!(["questId"])
    );
    assert_eq!(report["events"]["quest.objective"]["wrongType"]["step"], 1);
    let (status, _, err) = s.get("/v1/plan/coverage?since=yesterday", None);
    assert_eq!(status, 400, "{err}");
}

#[test]
fn enforce_rejects_with_path_and_rule_and_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let plan = quest_plan(dir.path());
    let s = start(
        &dir.path().join("data"),
        &config(
            &plan,
            "mode = \"enforce\"\n[[plan.overrides]]\ngame = \"gf\"\nevent = \"brand.*\"\nunknown = \"reject\"",
        ),
    );
    let (status, _, answer) = s.ingest(&body(), None);
    assert_eq!(status, 200);
    assert_eq!(answer["accepted"], 1, "{answer}");
    let rejected = answer["rejected"].as_array().unwrap();
    let lines: Vec<u64> = rejected
        .iter()
        .map(|r| r["line"].as_u64().unwrap())
        .collect();
    assert_eq!(lines, [2, 3, 4], "{answer}");
    assert!(rejected.iter().all(|r| r["kind"] == "schema"));
    let missing = rejected[0]["message"].as_str().unwrap();
    assert!(
        missing.contains("attrs.questId") && missing.contains("`required`"),
        "{missing}"
    );
    assert!(rejected[1]["message"]
        .as_str()
        .unwrap()
        .contains("brand.new"));
    let wrong = rejected[2]["message"].as_str().unwrap();
    assert!(
        wrong.contains("attrs.step") && wrong.contains("`type`"),
        "{wrong}"
    );

    // Nothing lost: the rejected lines are stored with their raw text.
    let (_, _, stored) = s.get("/v1/rejects", None);
    let rejects = stored["rejects"].as_array().unwrap();
    assert_eq!(rejects.len(), 3, "{stored}");
    assert!(
        rejects[0]["raw"].as_str().unwrap().contains("\"branchId\""),
        "{stored}"
    );
    let (_, _, events) = s.get("/v1/events", None);
    assert_eq!(events["events"].as_array().unwrap().len(), 1);
    assert_eq!(s.metric("playtrace_plan_rejected_total"), 3.0);
}

#[test]
fn a_field_dropped_mid_stream_raises_a_pipeline_alert_that_resolves_when_it_returns() {
    let dir = tempfile::tempdir().unwrap();
    let plan = quest_plan(dir.path());
    let s = start(
        &dir.path().join("data"),
        &config(&plan, "alert_ratio = 0.2\nalert_min_events = 10"),
    );
    let lines = |from: usize, n: usize, with: bool| -> String {
        (from..from + n)
            .map(|i| {
                if with {
                    good(&format!("e{i}"))
                } else {
                    quest(
                        &format!("e{i}"),
                        json!({"telemetryTag": "t", "objectiveId": "o"}),
                    )
                }
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    let pipeline = |s: &server::Server| -> Vec<Value> {
        let (_, _, page) = s.get("/v1/alerts?category=pipeline", None);
        page["alerts"].as_array().cloned().unwrap_or_default()
    };
    assert_eq!(s.ingest(&lines(0, 20, true), None).0, 200);
    assert!(pipeline(&s).is_empty());
    // A client build drops questId.
    assert_eq!(s.ingest(&lines(20, 20, false), None).0, 200);
    let alerts = pipeline(&s);
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    let alert = &alerts[0];
    assert_eq!(alert["state"], "firing");
    assert_eq!(alert["rule"], "plan.field_missing");
    assert_eq!(alert["game"], "gf");
    let reason = alert["reason"].as_str().unwrap();
    assert!(
        reason.contains("`quest.objective` lost `questId` in 50% of events from game gf since"),
        "{reason}"
    );
    // The fix ships: the share falls back under the threshold.
    assert_eq!(s.ingest(&lines(40, 100, true), None).0, 200);
    let alerts = pipeline(&s);
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts[0]["state"], "resolved", "{alerts:?}");
}

#[test]
fn without_a_plan_the_coverage_route_says_how_to_configure_one() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(&dir.path().join("data"), "");
    let (status, _, err) = s.get("/v1/plan/coverage", None);
    assert_eq!(status, 404);
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("[plan] dir")
            || err.to_string().contains("[plan] dir"),
        "{err}"
    );
}

#[test]
fn a_broken_plan_stops_serve_with_exit_2_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let plan = quest_plan(dir.path());
    std::fs::write(plan.join("bad.json"), r#"{"type": 7}"#).unwrap();
    let config_path = dir.path().join("c.toml");
    std::fs::write(&config_path, config(&plan, "")).unwrap();
    let out = common::playtrace()
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path().join("data"))
        .arg("--config")
        .arg(&config_path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.json") && err.contains("/type"), "{err}");
}

#[test]
fn a_changed_plan_takes_effect_on_reload_and_a_broken_one_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let plan = quest_plan(dir.path());
    let s = start(
        &dir.path().join("data"),
        &config(&plan, "mode = \"enforce\""),
    );
    let no_quest = |id: &str| quest(id, json!({"telemetryTag": "t", "objectiveId": "o"}));
    let (_, _, answer) = s.ingest(&no_quest("r1"), None);
    assert_eq!(answer["accepted"], 0, "{answer}");

    // The team drops `questId` from the required fields: in force after a reload, no restart.
    let relaxed = json!({"type": "object", "required": ["telemetryTag", "objectiveId"]});
    std::fs::write(plan.join("quest.objective.json"), relaxed.to_string()).unwrap();
    let (status, _, answer) = s.post_with("/v1/admin/reload", &[], b"");
    assert_eq!(status, 200, "{answer}");
    assert!(
        answer["reloaded"]
            .as_array()
            .unwrap()
            .contains(&json!("plan")),
        "{answer}"
    );
    let (_, _, answer) = s.ingest(&no_quest("r2"), None);
    assert_eq!(answer["accepted"], 1, "{answer}");

    // A broken schema refuses the whole reload, naming the file and pointer; the plan stays.
    std::fs::write(
        plan.join("quest.objective.json"),
        r#"{"type": "object", "properties": {"step": {"type": "integr"}}}"#,
    )
    .unwrap();
    let (status, _, answer) = s.post_with("/v1/admin/reload", &[], b"");
    assert_eq!(status, 422, "{answer}");
    let message = answer["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("quest.objective.json") && message.contains("/properties/step/type"),
        "{message}"
    );
    assert!(message.contains("the one in force stays"), "{message}");
    let (_, _, answer) = s.ingest(&no_quest("r3"), None);
    assert_eq!(
        answer["accepted"], 1,
        "the relaxed plan is still in force: {answer}"
    );
    let (_, _, answer) = s.ingest(&quest("r4", json!({"telemetryTag": "t"})), None);
    assert_eq!(answer["accepted"], 0, "{answer}");
    assert!(
        answer["rejected"][0]["message"]
            .as_str()
            .unwrap()
            .contains("objectiveId"),
        "{answer}"
    );
}
