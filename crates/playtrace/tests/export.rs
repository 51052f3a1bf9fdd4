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
            "qa-arming-latency.svg",
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
    assert_eq!(manifest["writers"][0]["successes"], 9);
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
    assert!(md.contains("](qa-arming-latency.svg)"));
    let svg = std::fs::read_to_string(dir.path().join("out/qa-resolution-latency.svg")).unwrap();
    assert!(svg.contains("budget 800 ms"));
    // The transcript, rebuilt in sequence order with SPEC §6 escaping.
    let t =
        std::fs::read_to_string(dir.path().join("out/qa-transcript-s_1-b6a3c3d6bc.csv")).unwrap();
    assert_eq!(
        t,
        "sequence,event,prompt_id,title,action,timestamp,timestamp_iso,follow_up_narrative,metadata\n\
         0,start,,,started,1761843600000,2025-10-30T17:00:00.000Z,,\n\
         1,step,p,\"Move, \"\"now\"\"\",done,1761843604500,2025-10-30T17:00:04.500Z,\"a | b\nc\",\"{\"\"x\"\":null}\"\n"
    );
    let tmd =
        std::fs::read_to_string(dir.path().join("out/qa-transcript-s_1-b6a3c3d6bc.md")).unwrap();
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
        9
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
    assert_eq!(m["artifacts"].as_array().unwrap().len(), 5);
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
        5
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
    assert_eq!(dead.len(), 5);
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
        5
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
        (
            vec!["export", log.as_str(), "--to", "fs:out", "--prefix", "a\nb"],
            "--prefix must not contain control characters",
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

/// The artifacts' manifest of an export of `args` into `dir/out`, asserting it exits 0.
fn export_ok(dir: &Path, args: &[&str]) -> Value {
    let out = playtrace()
        .current_dir(dir)
        .arg("export")
        .args(args)
        .args(["--to", "fs:out", "--manifest", "manifest.json"])
        .timeout(std::time::Duration::from_secs(120))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).unwrap()).unwrap()
}

fn artifact_names(manifest: &Value) -> Vec<String> {
    manifest["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap().to_string())
        .collect()
}

/// Export used to read every input twice: a FIFO (whose writer is gone after the first read)
/// hung it for ever.
#[test]
fn a_fifo_input_is_read_once() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read(input(dir.path())).unwrap();
    let fifo = dir.path().join("live.fifo");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    let writer = {
        let fifo = fifo.clone();
        std::thread::spawn(move || std::fs::write(fifo, text).unwrap())
    };
    let manifest = export_ok(dir.path(), &[fifo.to_str().unwrap(), "--prefix", "qa"]);
    writer.join().unwrap();
    let names = artifact_names(&manifest);
    assert!(
        names.iter().any(|n| n.starts_with("qa-transcript-s_1-")),
        "{names:?}"
    );
    assert_eq!(manifest["input"]["rejects"]["total"], 1);
}

/// Gzip is known by its content, as `monitor` knows it: a compressed log named `.log` (or read
/// from standard input) gives the same report and transcripts as the plain one.
#[test]
fn gzip_is_detected_by_content_also_on_standard_input() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let plain = std::fs::read(input(dir.path())).unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&plain).unwrap();
    let gz = gz.finish().unwrap();
    std::fs::write(dir.path().join("run.log"), &gz).unwrap();

    // The rejects name their input; every other artifact is the same bytes.
    let hashes = |m: &Value| -> Vec<(String, Value)> {
        m["artifacts"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|a| a["name"] != "qa-rejects.ndjson")
            .map(|a| (a["name"].as_str().unwrap().to_string(), a["sha256"].clone()))
            .collect()
    };
    let want = export_ok(dir.path(), &["run.ndjson", "--prefix", "qa"]);
    let from_file = export_ok(dir.path(), &["run.log", "--prefix", "qa"]);
    assert_eq!(hashes(&from_file), hashes(&want));
    assert_eq!(from_file["input"], want["input"]);
    assert!(artifact_names(&want)
        .iter()
        .any(|n| n.starts_with("qa-transcript-")));

    let out = playtrace()
        .current_dir(dir.path())
        .args(["export", "-", "--prefix", "qa", "--to", "fs:stdin-out"])
        .args(["--manifest", "stdin.json"])
        .write_stdin(gz)
        .timeout(std::time::Duration::from_secs(120))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let from_stdin: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("stdin.json")).unwrap()).unwrap();
    assert_eq!(hashes(&from_stdin), hashes(&want));
}

/// A line export cannot read is a reject it counts (report, manifest, stderr) and writes, with
/// the same header counts as `monitor` (it said "0 events").
#[test]
fn rejects_are_counted_and_the_report_header_counts_events_as_monitor_does() {
    let dir = tempfile::tempdir().unwrap();
    let example =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/telemetry/contests.ndjson");
    let mut text = std::fs::read_to_string(&example).unwrap();
    text.push_str("{not json\n");
    std::fs::write(dir.path().join("example.ndjson"), &text).unwrap();
    let monitor = playtrace()
        .current_dir(dir.path())
        .args([
            "monitor",
            "example.ndjson",
            "--format",
            "markdown",
            "--quiet",
        ])
        .output()
        .unwrap();
    let monitor_md = String::from_utf8(monitor.stdout).unwrap();
    assert!(monitor_md.contains("· 99 events ·"), "{monitor_md}");

    let out = playtrace()
        .current_dir(dir.path())
        .args(["export", "example.ndjson", "--kinds", "report,rejects"])
        .args(["--to", "fs:out", "--manifest", "manifest.json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("warning: 1 line was rejected"),
        "{}",
        stderr(&out)
    );
    let md = std::fs::read_to_string(dir.path().join("out/playtrace-budget-report.md")).unwrap();
    assert!(md.starts_with(&monitor_md), "{md}\n---\n{monitor_md}");
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["input"]["events"], 99);
    assert_eq!(manifest["input"]["rejects"]["total"], 1);
    assert_eq!(manifest["input"]["rejects"]["parse"], 1);
    let report: Value = serde_json::from_slice(
        &std::fs::read(dir.path().join("out/playtrace-budget-report.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(report["rejects"]["total"], 1);
    let rejects = std::fs::read_to_string(dir.path().join("out/playtrace-rejects.ndjson")).unwrap();
    let reject: Value = serde_json::from_str(rejects.trim()).unwrap();
    assert_eq!(reject["line"], text.lines().count());
    assert_eq!(reject["kind"], "parse");
}

/// A 64 MiB line without a newline is one `size` reject, read without holding it: under a
/// 40 MiB data limit (export held the whole line, 64 MiB and more, in a String).
#[test]
fn a_long_line_without_a_newline_is_a_size_reject_in_bounded_memory() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("long.ndjson"), vec![b'x'; 64 << 20]).unwrap();
    let args = [
        "export",
        "long.ndjson",
        "--threads",
        "2",
        "--kinds",
        "report,rejects",
        "--to",
        "fs:out",
    ];
    // `prlimit` (util-linux) caps the data segment where it is installed.
    let limited = std::process::Command::new("prlimit")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    let out = if limited {
        std::process::Command::new("prlimit")
            .arg(format!("--data={}", 40 << 20))
            .arg(env!("CARGO_BIN_EXE_playtrace"))
            .args(args)
            .current_dir(dir.path())
            .output()
            .unwrap()
    } else {
        playtrace()
            .current_dir(dir.path())
            .args(args)
            .output()
            .unwrap()
    };
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let rejects = std::fs::read_to_string(dir.path().join("out/playtrace-rejects.ndjson")).unwrap();
    let reject: Value = serde_json::from_str(rejects.trim()).unwrap();
    assert_eq!(reject["kind"], "size");
    assert_eq!(reject["line"], 1);
}

/// Sessions whose ids sanitise to one file name used to overwrite each other ("12 of 12
/// written", three files holding `s_1`): each gets its own name, its id inside.
#[test]
fn sessions_that_sanitise_alike_keep_their_own_transcripts() {
    let dir = tempfile::tempdir().unwrap();
    let ids = ["s 1", "s_1", "s/1", "s.1"];
    let mut text = String::new();
    for id in ids {
        text.push_str(
            &serde_json::json!({"event": "telemetry.transcript.entry",
            "attrs": {"sessionId": id, "sequence": 0, "event": "start", "action": id,
                      "timestamp": 1761843600000u64}})
            .to_string(),
        );
        text.push('\n');
    }
    std::fs::write(dir.path().join("t.ndjson"), text).unwrap();
    let manifest = export_ok(dir.path(), &["t.ndjson", "--kinds", "transcripts"]);
    assert_eq!(manifest["writers"][0]["successes"], 12);
    let names = artifact_names(&manifest);
    assert_eq!(
        std::fs::read_dir(dir.path().join("out")).unwrap().count(),
        12,
        "{names:?}"
    );
    assert!(names.contains(&"playtrace-transcript-s_1.json".to_string()));
    for id in ids {
        let json_name = manifest["artifacts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["context"]["sessionId"] == id && a["mediaType"] == "application/json")
            .unwrap()["name"]
            .as_str()
            .unwrap()
            .to_string();
        let t: Value = serde_json::from_slice(
            &std::fs::read(dir.path().join("out").join(&json_name)).unwrap(),
        )
        .unwrap();
        assert_eq!(t["sessionId"], id);
        assert_eq!(
            t["entries"][0]["action"], id,
            "{json_name} holds another session"
        );
    }
}

/// One export per state directory: a second one exits 2 naming the first one's PID, and the
/// default directory is export's own, not the collector's `./playtrace-data`.
#[test]
fn a_second_export_on_the_same_state_directory_exits_2_naming_the_holder() {
    use std::io::Write;
    use std::process::Stdio;
    let dir = tempfile::tempdir().unwrap();
    let log = input(dir.path());
    // The first export reads standard input, which stays open until we close it.
    let mut first = std::process::Command::new(env!("CARGO_BIN_EXE_playtrace"))
        .current_dir(dir.path())
        .args(["export", "-", "--to", "fs:first"])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let lock = dir.path().join("playtrace-export/lock");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while std::fs::read_to_string(&lock).unwrap_or_default().trim() != first.id().to_string() {
        assert!(
            std::time::Instant::now() < deadline,
            "the first export never took the lock"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let second = playtrace()
        .current_dir(dir.path())
        .args(["export", &log, "--to", "fs:second"])
        .output()
        .unwrap();
    assert_eq!(second.status.code(), Some(2), "{}", stderr(&second));
    assert!(
        stderr(&second).contains(&format!("pid {}", first.id())),
        "{}",
        stderr(&second)
    );
    let retry = playtrace()
        .current_dir(dir.path())
        .args(["export", "retry"])
        .output()
        .unwrap();
    assert_eq!(retry.status.code(), Some(2), "{}", stderr(&retry));
    // Another --state is free.
    let elsewhere = playtrace()
        .current_dir(dir.path())
        .args([
            "export",
            &log,
            "--to",
            "fs:second",
            "--state",
            "other-state",
        ])
        .output()
        .unwrap();
    assert_eq!(elsewhere.status.code(), Some(0), "{}", stderr(&elsewhere));

    let mut stdin = first.stdin.take().unwrap();
    stdin
        .write_all(&std::fs::read(dir.path().join("run.ndjson")).unwrap())
        .unwrap();
    drop(stdin);
    let out = first.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(dir.path().join("playtrace-export/export.db").exists());
    assert!(!dir.path().join("playtrace-data").exists());
}

/// The exported report says what `playtrace monitor` says about the same log with the same
/// options: here the README example passes overall and breaches by room, so with
/// `--group-by room` the report fails; and a log without a rejected line gets no rejects file.
#[test]
fn the_report_takes_the_monitors_options_and_says_what_the_monitor_says() {
    let dir = tempfile::tempdir().unwrap();
    let example = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/telemetry/contests.ndjson")
        .to_string_lossy()
        .into_owned();
    let out = playtrace()
        .current_dir(dir.path())
        .args([
            "export",
            &example,
            "--kinds",
            "report,rejects",
            "--to",
            "fs:out",
        ])
        .args(["--group-by", "ROOM", "--resolution-threshold", "800ms"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let md = std::fs::read_to_string(dir.path().join("out/playtrace-budget-report.md")).unwrap();
    let monitor = playtrace()
        .args([
            "monitor",
            "--format",
            "markdown",
            "--group-by",
            "room",
            &example,
        ])
        .output()
        .unwrap();
    let monitor_md = String::from_utf8(monitor.stdout).unwrap();
    assert!(
        md.starts_with(&monitor_md),
        "--- export\n{md}\n--- monitor\n{monitor_md}"
    );
    assert!(
        md.contains("❌ **No budget breached overall, but 2 breaches in groups by room**"),
        "{md}"
    );
    assert!(md.contains("### By room"), "{md}");
    let report: Value = serde_json::from_slice(
        &std::fs::read(dir.path().join("out/playtrace-budget-report.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(report["outcome"], "breach");
    assert_eq!(report["groups"]["by"], serde_json::json!(["room"]));
    assert!(
        !dir.path().join("out/playtrace-rejects.ndjson").exists(),
        "nothing was rejected: no (empty) rejects file"
    );

    // No data in the report says so, as the monitor does, unless allowed.
    let empty = dir.path().join("empty.ndjson");
    std::fs::write(&empty, "").unwrap();
    let out = playtrace()
        .current_dir(dir.path())
        .args([
            "export",
            "empty.ndjson",
            "--kinds",
            "report",
            "--to",
            "fs:none",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let report: Value = serde_json::from_slice(
        &std::fs::read(dir.path().join("none/playtrace-budget-report.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(report["outcome"], "no_data");
    let md = std::fs::read_to_string(dir.path().join("none/playtrace-budget-report.md")).unwrap();
    assert!(md.contains("⚠️ **Not enough data to judge"), "{md}");
}

/// A queued `fs:` artifact keeps its absolute directory: a retry run from another working
/// directory writes where the export meant to, not relative to itself.
#[test]
fn a_retry_from_another_directory_writes_where_the_export_meant() {
    let dir = tempfile::tempdir().unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
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
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    std::fs::remove_file(dir.path().join("blocker")).unwrap();
    let retry = playtrace()
        .current_dir(elsewhere.path())
        .args(["export", "dlq", "retry", "--state"])
        .arg(dir.path().join("playtrace-export"))
        .output()
        .unwrap();
    assert_eq!(retry.status.code(), Some(0), "{}", stderr(&retry));
    assert_eq!(
        std::fs::read_dir(dir.path().join("blocker/out"))
            .unwrap()
            .count(),
        5
    );
    assert!(!elsewhere.path().join("blocker").exists());
}
