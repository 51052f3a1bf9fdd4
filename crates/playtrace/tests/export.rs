//! `playtrace export` with the filesystem and stdout writers: artifacts, manifest, dry run,
//! dead letters and exit codes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{fixture_str, playtrace, stderr};
use serde_json::Value;
use std::path::Path;

fn input(dir: &Path) -> String {
    let path = dir.join("run.ndjson");
    let mut text =
        std::fs::read_to_string(fixture_str("contest-telemetry-load-breach.ndjson")).unwrap();
    text.push_str(r#"{"event":"telemetry.transcript.entry","attrs":{"sessionId":"s/1","sequence":1,"event":"step","promptId":"p","title":"Move, \"now\"","action":"done","timestamp":1761843604500,"narrative":"a | b\nc","metadata":{"x":null}}}"#);
    text.push('\n');
    text.push_str(r#"{"event":"telemetry.transcript.entry","attrs":{"sessionId":"s/1","sequence":0,"event":"start","action":"started","timestamp":1761843600000,"metadata":null}}"#);
    text.push_str("\n{broken\n");
    std::fs::write(&path, text).unwrap();
    path.to_string_lossy().into_owned()
}

#[test]
fn artifacts_land_whole_with_a_manifest_of_hashes() {
    let dir = tempfile::tempdir().unwrap();
    let log = input(dir.path());
    let out = playtrace()
        .current_dir(dir.path())
        .args([
            "export",
            &log,
            "--to",
            "fs:out",
            "--prefix",
            "qa",
            "--manifest",
            "manifest.json",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("manifest.json")).unwrap()).unwrap();
    let names: Vec<&str> = manifest["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "qa-budget-report.json",
            "qa-contest-durations.csv",
            "qa-resolution-latency.svg",
            "qa-budget-report.md",
            "qa-rejects.ndjson",
            "qa-transcript-s_1-b6a3c3d6bc.json",
            "qa-transcript-s_1-b6a3c3d6bc.csv",
            "qa-transcript-s_1-b6a3c3d6bc.md"
        ]
    );
    for a in manifest["artifacts"].as_array().unwrap() {
        let bytes =
            std::fs::read(dir.path().join("out").join(a["name"].as_str().unwrap())).unwrap();
        assert_eq!(a["bytes"], bytes.len());
        assert_eq!(a["writes"][0]["status"], "written");
        assert_eq!(a["sha256"].as_str().unwrap().len(), 64);
    }
    assert_eq!(manifest["writers"][0]["successes"], 8);
    // The report is the monitor's JSON (breached budgets do not change the exit code).
    let report: Value = serde_json::from_slice(
        &std::fs::read(dir.path().join("out/qa-budget-report.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(report["durations"]["resolution"]["p95"], 930);
    let csv = std::fs::read_to_string(dir.path().join("out/qa-contest-durations.csv")).unwrap();
    assert!(
        csv.lines()
            .any(|l| l
                == "contest-alpha,hub-moderation,room-contest-a,420,580,2,2,true,mixed-success"),
        "{csv}"
    );
    let md = std::fs::read_to_string(dir.path().join("out/qa-budget-report.md")).unwrap();
    assert!(md.contains("](qa-resolution-latency.svg)"));
    let svg = std::fs::read_to_string(dir.path().join("out/qa-resolution-latency.svg")).unwrap();
    assert!(svg.contains("budget 800 ms"));
    // The transcript, rebuilt in sequence order with SPEC §6 escaping.
    let t = std::fs::read_to_string(dir.path().join("out/qa-transcript-s_1-b6a3c3d6bc.csv")).unwrap();
    assert_eq!(
        t,
        "sequence,event,prompt_id,title,action,timestamp,timestamp_iso,follow_up_narrative,metadata\n\
         0,start,,,started,1761843600000,2025-10-30T17:00:00.000Z,,\n\
         1,step,p,\"Move, \"\"now\"\"\",done,1761843604500,2025-10-30T17:00:04.500Z,\"a | b\nc\",\"{\"\"x\"\":null}\"\n"
    );
    let tmd = std::fs::read_to_string(dir.path().join("out/qa-transcript-s_1-b6a3c3d6bc.md")).unwrap();
    assert!(
        tmd.contains(
            "| 1 | step | Move, \"now\" | done | 2025-10-30T17:00:04.500Z | a \\| b<br>c |"
        ),
        "{tmd}"
    );
    let rejects = std::fs::read_to_string(dir.path().join("out/qa-rejects.ndjson")).unwrap();
    assert_eq!(rejects.lines().count(), 1);
    // A re-run rewrites the same names, nothing new; `--manifest -` prints the same manifest.
    let again = playtrace()
        .current_dir(dir.path())
        .args(["export", &log, "--to", "fs:out", "--prefix", "qa"])
        .args(["--manifest", "-"])
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(0));
    let printed: Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(printed["artifacts"], manifest["artifacts"]);
    assert!(!dir.path().join("-").exists());
    assert_eq!(
        std::fs::read_dir(dir.path().join("out")).unwrap().count(),
        8
    );
}

#[test]
fn a_dry_run_writes_nothing_anywhere() {
    let dir = tempfile::tempdir().unwrap();
    let log = input(dir.path());
    let out = playtrace()
        .current_dir(dir.path())
        .args([
            "export",
            &log,
            "--to",
            "fs:out",
            "--kinds",
            "report",
            "--dry-run",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let m: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(m["dryRun"], true);
    assert_eq!(m["artifacts"].as_array().unwrap().len(), 4);
    assert_eq!(m["artifacts"][0]["writes"][0]["status"], "planned");
    assert!(!dir.path().join("out").exists());
    assert!(
        !dir.path().join("playtrace-export").exists(),
        "not even the queue"
    );
}

#[test]
fn a_permanent_failure_goes_to_the_dlq_and_the_other_writer_still_writes() {
    let dir = tempfile::tempdir().unwrap();
    let log = input(dir.path());
    std::fs::write(dir.path().join("blocker"), "a file, not a directory").unwrap();
    let out = playtrace()
        .current_dir(dir.path())
        .args([
            "export",
            &log,
            "--kinds",
            "report",
            "--to",
            "fs:blocker/out",
            "--to",
            "fs:good",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("dead-letter queue") && err.contains("fs:blocker/out"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_dir(dir.path().join("good")).unwrap().count(),
        4
    );
    let list = playtrace()
        .current_dir(dir.path())
        .args(["export", "dlq", "list"])
        .output()
        .unwrap();
    let dead: Vec<Value> = String::from_utf8_lossy(&list.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(dead.len(), 4);
    assert!(dead
        .iter()
        .all(|d| d["writer"] == "fs:blocker/out" && d["bytes"].as_u64().unwrap() > 0));
    // Fixed: the dead letters go back through the retry queue and are delivered.
    std::fs::remove_file(dir.path().join("blocker")).unwrap();
    let retry = playtrace()
        .current_dir(dir.path())
        .args(["export", "dlq", "retry"])
        .output()
        .unwrap();
    assert_eq!(retry.status.code(), Some(0), "{}", stderr(&retry));
    assert_eq!(
        std::fs::read_dir(dir.path().join("blocker/out"))
            .unwrap()
            .count(),
        4
    );
    let list = playtrace()
        .current_dir(dir.path())
        .args(["export", "dlq", "list"])
        .output()
        .unwrap();
    assert!(list.stdout.is_empty());
}

#[test]
fn usage_errors_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let log = input(dir.path());
    for (args, want) in [
        (vec!["export", log.as_str()], "no writer"),
        (
            vec!["export", log.as_str(), "--to", "ftp://x"],
            "not a writer",
        ),
        (vec!["export", "--to", "fs:out"], "no input"),
        (
            vec![
                "export",
                log.as_str(),
                "--to",
                "fs:out",
                "--kinds",
                "everything",
            ],
            "everything",
        ),
        (
            vec![
                "export",
                log.as_str(),
                "--to",
                "fs:out",
                "--retry-for",
                "soon",
            ],
            "--retry-for",
        ),
        (
            vec!["export", "retry", "--max-attempts", "0"],
            "--max-attempts",
        ),
        (
            vec!["export", log.as_str(), "--to", "stdout", "--manifest", "-"],
            "both write to standard output",
        ),
    ] {
        let out = playtrace()
            .current_dir(dir.path())
            .args(&args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(stderr(&out).contains(want), "{args:?}: {}", stderr(&out));
    }
}
