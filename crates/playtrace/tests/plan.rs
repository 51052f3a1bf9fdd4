//! `playtrace plan check|infer|diff` end to end: the quest parity scenario, exit codes, broken
//! plans, drafts that their logs pass, breaking diffs, and PlayTrace's own plan over its fixtures.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail by panicking

mod common;

use common::*;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn quest_plan(dir: &Path) -> PathBuf {
    let plan = dir.join("plan");
    std::fs::create_dir_all(&plan).unwrap();
    write(
        &plan,
        "quest.objective.json",
        &json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "type": "object",
            "required": ["telemetryTag", "questId", "objectiveId"],
            "properties": {
                "telemetryTag": {"type": "string"},
                "questId": {"type": "string"},
                "objectiveId": {"type": "string"}
            }
        })
        .to_string(),
    );
    plan
}

const QUEST_LOG: &str = concat!(
    r#"{"event":"quest.objective","ts":1,"attrs":{"telemetryTag":"quest","questId":"q1","objectiveId":"o1"}}"#,
    "\n",
    r#"{"event":"quest.objective","ts":2,"attrs":{"telemetryTag":"quest","objectiveId":"o2","branchId":"b"}}"#,
    "\n"
);

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(path)
}

/// The engine team's quest parity scenario: the fixture's figures, exit 1, and `-o` writes the
/// same document that `--format json` prints.
#[test]
fn the_quest_parity_scenario_gives_the_fixtures_figures() {
    let dir = tempfile::tempdir().unwrap();
    let plan = quest_plan(dir.path());
    let log = write(dir.path(), "quest.ndjson", QUEST_LOG);
    let report_file = dir.path().join("report.json");
    let out = playtrace()
        .args(["plan", "check", "--format", "json", "--plan"])
        .arg(&plan)
        .arg(&log)
        .arg("-o")
        .arg(&report_file)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let report = json(&out);
    let fixture: Value = serde_json::from_str(
        &std::fs::read_to_string(repo(
            "crates/playtrace-plan/tests/quest-parity-summary.json",
        ))
        .unwrap(),
    )
    .unwrap();
    assert_eq!(report["ok"], false);
    assert_eq!(
        report["coverage"]["payload"],
        fixture["coverage"]["payload"]
    );
    assert_eq!(report["unexpectedFields"], fixture["unexpectedFields"]);
    for (got, want) in report["issues"]
        .as_array()
        .unwrap()
        .iter()
        .zip(fixture["issues"].as_array().unwrap())
    {
        for key in ["severity", "path", "message"] {
            assert_eq!(got[key], want[key]);
        }
    }
    assert_eq!(report["issues"][0]["line"], 2);
    assert_eq!(report["events"]["quest.objective"]["missing"]["questId"], 1);
    let written: Value =
        serde_json::from_str(&std::fs::read_to_string(&report_file).unwrap()).unwrap();
    assert_eq!(written, report);

    // Text for people names the missing field and the line.
    let out = playtrace()
        .args(["plan", "check", "--plan"])
        .arg(&plan)
        .arg(&log)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert!(text.contains("FAILED"), "{text}");
    assert!(text.contains("quest.ndjson:2"), "{text}");
    assert!(text.contains("questId"), "{text}");
}

#[test]
fn warnings_alone_pass_and_a_forbidden_field_fails() {
    let dir = tempfile::tempdir().unwrap();
    let plan = quest_plan(dir.path());
    let log = write(
        dir.path(),
        "ok.ndjson",
        r#"{"event":"quest.objective","attrs":{"telemetryTag":"t","questId":"q","objectiveId":"o","branchId":"b"}}"#,
    );
    let out = playtrace()
        .args(["plan", "check", "--format", "json", "--plan"])
        .arg(&plan)
        .arg(&log)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert_eq!(json(&out)["totals"]["warnings"], 1);

    let mut schema: Value =
        serde_json::from_str(&std::fs::read_to_string(plan.join("quest.objective.json")).unwrap())
            .unwrap();
    schema["additionalProperties"] = json!(false);
    write(&plan, "quest.objective.json", &schema.to_string());
    let out = playtrace()
        .args(["plan", "check", "--format", "json", "--plan"])
        .arg(&plan)
        .arg(&log)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(json(&out)["issues"][0]["rule"], "additionalProperties");
}

/// A broken plan is exit 2 and names the file and the JSON pointer.
#[test]
fn a_bad_schema_exits_2_naming_the_file_and_pointer() {
    let dir = tempfile::tempdir().unwrap();
    let plan = quest_plan(dir.path());
    let log = write(dir.path(), "quest.ndjson", QUEST_LOG);
    write(
        &plan,
        "quest.completed.json",
        r#"{"type": "object", "properties": {"rewardXp": {"type": "int"}}}"#,
    );
    let out = playtrace()
        .args(["plan", "check", "--plan"])
        .arg(&plan)
        .arg(&log)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("quest.completed.json"), "{err}");
    assert!(err.contains("/properties/rewardXp/type"), "{err}");

    write(&plan, "quest.completed.json", "{\"type\": \"object\",,}");
    let out = playtrace()
        .args(["plan", "check", "--plan"])
        .arg(&plan)
        .arg(&log)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("quest.completed.json` line 1"),
        "{}",
        stderr(&out)
    );

    let out = playtrace()
        .args(["plan", "check", "--plan"])
        .arg(dir.path().join("no-such-plan"))
        .arg(&log)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

/// `plan infer` drafts a plan that the logs it came from pass, from every dialect.
#[test]
fn an_inferred_plan_passes_its_own_logs() {
    let dir = tempfile::tempdir().unwrap();
    let drafts = dir.path().join("drafted");
    let logs = [
        fixture_str("contest-telemetry-load-breach.ndjson"),
        fixture_str("contest-timeline-artefact.trimmed.json"),
    ];
    let out = playtrace()
        .args(["plan", "infer", "-o"])
        .arg(&drafts)
        .args(&logs)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let armed: Value = serde_json::from_str(
        &std::fs::read_to_string(drafts.join("telemetry.contest.armed.json")).unwrap(),
    )
    .unwrap();
    assert!(armed["required"]
        .as_array()
        .unwrap()
        .contains(&json!("hubId")));
    let out = playtrace()
        .args(["plan", "check", "--format", "json", "--plan"])
        .arg(&drafts)
        .args(&logs)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let report = json(&out);
    assert_eq!(report["totals"]["unknownEvents"], 0);
    assert_eq!(report["totals"]["warnings"], 0);

    // Drafting over an existing plan needs --force.
    let out = playtrace()
        .args(["plan", "infer", "-o"])
        .arg(&drafts)
        .args(&logs)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--force"));
}

#[test]
fn plan_diff_exits_1_on_a_breaking_change_only() {
    let dir = tempfile::tempdir().unwrap();
    let old = quest_plan(dir.path());
    let new = dir.path().join("new");
    std::fs::create_dir_all(&new).unwrap();
    let mut schema: Value =
        serde_json::from_str(&std::fs::read_to_string(old.join("quest.objective.json")).unwrap())
            .unwrap();
    schema["properties"]["branchId"] = json!({"type": "string"});
    write(&new, "quest.objective.json", &schema.to_string());
    let out = playtrace()
        .args(["plan", "diff", "--format", "json"])
        .arg(&old)
        .arg(&new)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert_eq!(json(&out)["breaking"], 0);

    schema["required"] = json!(["telemetryTag", "questId", "objectiveId", "branchId"]);
    write(&new, "quest.objective.json", &schema.to_string());
    let out = playtrace()
        .args(["plan", "diff"])
        .arg(&old)
        .arg(&new)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert!(
        text.contains("breaking") && text.contains("branchId"),
        "{text}"
    );
}

/// PlayTrace's own plan (`examples/plan/`) describes every event of our fixtures.
#[test]
fn our_fixtures_pass_the_example_plan() {
    let logs = [
        fixture_str("contest-telemetry-load-breach.ndjson"),
        fixture_str("contest-timeline-artefact.trimmed.json"),
    ];
    let out = playtrace()
        .args(["plan", "check", "--format", "json", "--plan"])
        .arg(repo("examples/plan"))
        .args(&logs)
        .arg(repo("examples/telemetry/contests.ndjson"))
        .output()
        .unwrap();
    let report = json(&out);
    assert_eq!(out.status.code(), Some(0), "{report:#}");
    assert_eq!(report["totals"]["unknownEvents"], 0, "{report:#}");
    assert_eq!(report["totals"]["warnings"], 0, "{report:#}");
}

/// The demo's simulated game speaks PlayTrace's own plan: every event it sends is described and
/// none breaks it.
#[test]
fn the_demos_events_pass_the_example_plan() {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let data = dir.path().join("data");
    let out = playtrace()
        .args([
            "demo",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--duration",
            "4s",
        ])
        .arg("--data-dir")
        .arg(&data)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // Read back as the API reads them (the database keeps bodies without their envelope).
    let options = playtrace_store::StoreOptions {
        retention: playtrace_store::RetentionPolicy {
            max_age_ms: 1e15,
            max_bytes: 1 << 30,
            interval: std::time::Duration::from_secs(3600),
        },
        writer: playtrace_store::WriterOptions::default(),
        dedup: playtrace_store::DedupMode::Auto,
    };
    let store = playtrace_store::Store::open(&data, options).unwrap();
    let filter = playtrace_store::EventFilter {
        limit: 1_000_000,
        ..Default::default()
    };
    let bodies: Vec<String> = store
        .reader()
        .events(&filter)
        .unwrap()
        .into_iter()
        .map(|e| e.body)
        .collect();
    assert!(bodies.len() > 50, "the demo sent {} events", bodies.len());
    let log = write(dir.path(), "demo.ndjson", &(bodies.join("\n") + "\n"));
    let out = playtrace()
        .args(["plan", "check", "--format", "json", "--plan"])
        .arg(repo("examples/plan"))
        .arg(&log)
        .output()
        .unwrap();
    let report = json(&out);
    assert_eq!(out.status.code(), Some(0), "{report:#}");
    assert_eq!(report["totals"]["unknownEvents"], 0, "{report:#}");
    assert_eq!(report["totals"]["warnings"], 0, "{report:#}");
}
