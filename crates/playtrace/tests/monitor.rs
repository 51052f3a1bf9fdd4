//! `playtrace monitor` end to end: fixtures, dialects, inputs, rejects, budgets, exit codes.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail by panicking

mod common;

use common::*;
use flate2::write::GzEncoder;
use flate2::Compression;
use serde_json::{json, Value};
use std::io::Write;

/// The summary with PlayTrace's added keys removed, to compare with the old monitor's output.
fn legacy_view(mut v: Value) -> Value {
    let o = v.as_object_mut().unwrap();
    for key in ["rejects", "budgets", "groups", "outcome"] {
        o.remove(key);
    }
    o["totals"]
        .as_object_mut()
        .unwrap()
        .remove("unresolvedContests");
    for metric in o["durations"].as_object_mut().unwrap().values_mut() {
        metric.as_object_mut().unwrap().remove("p99");
    }
    v
}

fn fixture_summary() -> Value {
    serde_json::from_str(
        &std::fs::read_to_string(fixture("contest-monitor-summary.derived.json")).unwrap(),
    )
    .unwrap()
}

#[test]
fn load_breach_fixture_matches_the_old_summary_and_fails_the_gate() {
    let out = playtrace()
        .args(["monitor", "--format", "json"])
        .arg(fixture("contest-telemetry-load-breach.ndjson"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let ours = json(&out);
    let mut expected = fixture_summary();
    expected.as_object_mut().unwrap().remove("raw");
    assert_eq!(legacy_view(ours.clone()), expected);

    assert_eq!(ours["durations"]["arming"]["p95"], 9200);
    assert_eq!(ours["durations"]["resolution"]["p95"], 930);
    assert_eq!(ours["durations"]["arming"]["p99"], 9200);
    assert_eq!(ours["participants"]["average"], 2.25);
    assert_eq!(ours["totals"]["unresolvedContests"], 0);
    assert_eq!(
        ours["rejects"],
        json!({"total": 0, "byKind": {"parse": 0, "schema": 0, "size": 0, "encoding": 0}})
    );
    assert_eq!(
        ours["budgets"],
        json!([
            {"metric": "arming", "percentile": 95, "budget": 8000, "value": 9200, "samples": 4, "status": "breach"},
            {"metric": "resolution", "percentile": 95, "budget": 800, "value": 930, "samples": 4, "status": "breach"}
        ])
    );
    assert!(ours.get("raw").is_none());
    assert!(ours.get("groups").is_none());
}

#[test]
fn include_raw_reproduces_the_old_raw_block() {
    let out = playtrace()
        .args(["monitor", "--format", "json", "--include-raw"])
        .arg(fixture("contest-telemetry-load-breach.ndjson"))
        .output()
        .unwrap();
    assert_eq!(legacy_view(json(&out)), fixture_summary());
}

#[test]
fn the_old_scripts_flags_still_work() {
    let out = playtrace()
        .args([
            "monitor",
            "--json",
            "--input",
            &fixture_str("contest-telemetry-load-breach.ndjson"),
        ])
        .args(["--arming-threshold", "9200", "--resolution-threshold", "1s"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "9200 is not strictly above 9200: {}",
        stderr(&out)
    );
    let v = json(&out);
    assert_eq!(v["durations"]["arming"]["budget"], 9200);
    assert_eq!(v["durations"]["resolution"]["budget"], 1000);
    assert_eq!(v["durations"]["arming"]["breached"], false);
}

#[test]
fn timeline_artefact_is_read_as_contest_events() {
    let out = playtrace()
        .args(["monitor", "--format", "json", "--include-raw"])
        .arg(fixture("contest-timeline-artefact.trimmed.json"))
        .output()
        .unwrap();
    // Without durations the budgets cannot be judged: the gate fails as `no_data`.
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let v = json(&out);
    assert_eq!(v["outcome"], "no_data");
    assert_eq!(
        v["totals"],
        json!({"contestsObserved": 1, "resolvedContests": 1, "workflowFailures": 0, "expiredContests": 0, "unresolvedContests": 0})
    );
    assert_eq!(
        v["raw"]["contests"],
        json!([{
            "contestId": "d0bb924f-a94b-4440-8f6b-8892917d5300", "hubId": "hub-moderation", "roomId": "room-contest",
            "armingDurationMs": null, "resolutionDurationMs": null, "participantCount": 2, "participantCapacity": null,
            "outcomes": ["mixed-success"], "resolved": true
        }])
    );
    assert_eq!(v["budgets"][0]["status"], "insufficient_data");
    assert_eq!(v["durations"]["arming"]["missing"], 1);
    assert_eq!(v["durations"]["resolution"]["missing"], 1);
    assert_eq!(v["rejects"]["total"], 0);
}

#[test]
fn native_envelopes_and_structured_lines_mix() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mixed.ndjson");
    std::fs::write(
        &path,
        concat!(
            r#"{"event":"telemetry.contest.armed","ts":"2026-01-01T00:00:00Z","game":"gf","env":"prod","attrs":{"hubId":"h","roomId":"r","contestKey":"k"}}"#, "\n",
            r#"{"event":"telemetry.contest.launched","ts":"2026-01-01T00:00:02.5Z","attrs":{"hubId":"h","roomId":"r","contestKey":"k","contestId":"c"}}"#, "\n",
            r#"{"level":"info","timestamp":"2026-01-01T00:00:03.100Z","message":"telemetry.contest.resolved","contestId":"c"}"#, "\n",
        ),
    )
    .unwrap();
    let out = playtrace()
        .args(["monitor", "--format", "json"])
        .arg(&path)
        .output()
        .unwrap();
    let v = json(&out);
    assert_eq!(
        v["durations"]["arming"]["p50"], 2500,
        "derived from the event timestamps"
    );
    assert_eq!(v["durations"]["resolution"]["p50"], 600);
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn several_inputs_stdin_and_gzip_are_one_run() {
    let dir = tempfile::tempdir().unwrap();
    let plain = dir.path().join("a.ndjson");
    std::fs::write(&plain, contest_lines("a", "r1", 100, 100)).unwrap();
    // Gzip detected by content, not by name; two concatenated members.
    let gz = dir.path().join("b.log");
    let mut bytes = Vec::new();
    for (id, arming) in [("b", 200), ("c", 300)] {
        let mut enc = GzEncoder::new(Vec::new(), Compression::default());
        enc.write_all(contest_lines(id, "r2", arming, 100).as_bytes())
            .unwrap();
        bytes.extend(enc.finish().unwrap());
    }
    std::fs::write(&gz, bytes).unwrap();
    let out = playtrace()
        .args(["monitor", "--format", "json"])
        .arg(&plain)
        .arg("-")
        .arg("--input")
        .arg(&gz)
        .write_stdin(contest_lines("d", "r3", 400, 100))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v = json(&out);
    assert_eq!(v["totals"]["contestsObserved"], 4);
    assert_eq!(v["durations"]["arming"]["max"], 400);
    assert_eq!(v["durations"]["arming"]["p50"], 200);
}

#[test]
fn stdin_is_read_when_no_file_is_given() {
    let out = playtrace()
        .args(["monitor", "--format", "json"])
        .write_stdin(contest_lines("a", "r", 1, 1))
        .output()
        .unwrap();
    assert_eq!(json(&out)["totals"]["contestsObserved"], 1);
}

#[test]
fn bad_lines_become_rejects_with_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log.ndjson");
    let mut content = contest_lines("a", "r", 100, 100).into_bytes();
    content.extend_from_slice(b"{\"message\":\"telemetry.contest.launched\",\"contestId\":\n");
    content.extend_from_slice(b"\n");
    content.extend_from_slice(b"{\"level\":\"info\"}\n");
    content.extend_from_slice(b"\xff\xfe binary \x00\n");
    content.extend_from_slice(b"{\"message\":\"telemetry.contest.resolved\",\"contestId\":\"a\",\"resolutionDurationMs\":\"fast\"}\r\n");
    std::fs::write(&log, content).unwrap();
    let rejects = dir.path().join("rejects.ndjson");
    let out = playtrace()
        .args(["monitor", "--format", "json", "--rejects"])
        .arg(&rejects)
        .arg(&log)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v = json(&out);
    assert_eq!(
        v["rejects"],
        json!({"total": 4, "byKind": {"parse": 1, "schema": 2, "size": 0, "encoding": 1}})
    );
    assert_eq!(
        v["totals"]["contestsObserved"], 1,
        "good lines around bad ones are still read"
    );

    let file = log.to_string_lossy().into_owned();
    let lines: Vec<Value> = std::fs::read_to_string(&rejects)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        lines,
        [
            json!({"file": file, "line": 4, "kind": "parse", "message": "invalid JSON: EOF while parsing a value at column 52", "raw": "{\"message\":\"telemetry.contest.launched\",\"contestId\":"}),
            json!({"file": file, "line": 6, "kind": "schema", "message": "no event name: a line needs `event` (native envelope) or `message` (structured log line)", "raw": "{\"level\":\"info\"}"}),
            json!({"file": file, "line": 7, "kind": "encoding", "message": "not UTF-8: invalid byte at column 1; PlayTrace reads UTF-8 text (re-encode the file, or find what wrote binary data into the log)", "raw": "\u{FFFD}\u{FFFD} binary \u{0}"}),
            json!({"file": file, "line": 8, "kind": "schema", "message": "field `resolutionDurationMs` must be a number of milliseconds, 0 or more, got \"fast\"", "raw": "{\"message\":\"telemetry.contest.resolved\",\"contestId\":\"a\",\"resolutionDurationMs\":\"fast\"}"}),
        ]
    );
    let err = stderr(&out);
    assert!(err.contains("warning: 4 lines were rejected"), "{err}");
    assert!(
        err.contains(&format!("{file}:4: parse: invalid JSON")),
        "{err}"
    );
    assert!(err.contains("all rejected lines are in"), "{err}");
}

#[test]
fn missing_files_and_directories_are_input_errors_naming_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.ndjson");
    std::fs::write(&good, contest_lines("a", "r", 1, 1)).unwrap();
    let missing = dir.path().join("nope.ndjson");
    let out = playtrace()
        .arg("monitor")
        .arg(&good)
        .arg(&missing)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stderr(&out),
        format!("error: cannot open `{}`: no such file (check the path; use `-` to read standard input)\n", missing.display())
    );
    assert!(
        out.stdout.is_empty(),
        "no summary when an input cannot be opened"
    );

    let out = playtrace().arg("monitor").arg(dir.path()).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("is a directory; pass the log files inside it"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn unreadable_input_is_an_input_error() {
    // Reading /proc/self/mem at offset 0 fails with EIO: an input that opens but cannot be read.
    let out = playtrace()
        .args(["monitor", "/proc/self/mem"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).starts_with("error: cannot read `/proc/self/mem`"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn empty_input_prints_a_summary_with_insufficient_data() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.ndjson");
    std::fs::write(&empty, "").unwrap();
    let out = playtrace()
        .args(["monitor", "--format", "json"])
        .arg(&empty)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "no data fails the gate");
    let v = json(&out);
    assert_eq!(v["outcome"], "no_data");
    assert_eq!(v["totals"]["contestsObserved"], 0);
    assert_eq!(v["budgets"][0]["status"], "insufficient_data");
    assert_eq!(v["budgets"][1]["value"], Value::Null);
}

#[test]
fn binary_garbage_is_read_as_far_as_it_goes() {
    let dir = tempfile::tempdir().unwrap();
    let garbage = dir.path().join("garbage.bin");
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let bytes: Vec<u8> = (0..300_000)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect();
    std::fs::write(&garbage, bytes).unwrap();
    let out = playtrace()
        .args(["monitor", "--format", "json"])
        .arg(&garbage)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let v = json(&out);
    assert_eq!(v["outcome"], "no_data");
    assert!(v["rejects"]["total"].as_u64().unwrap() > 100);
    assert!(v["rejects"]["byKind"]["encoding"].as_u64().unwrap() > 0);
    assert_eq!(v["totals"]["contestsObserved"], 0);
}

#[test]
fn a_100_mb_line_is_a_size_reject_and_the_rest_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("huge.ndjson");
    let mut f = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    f.write_all(contest_lines("before", "r", 10, 10).as_bytes())
        .unwrap();
    let head = b"{\"message\":\"telemetry.contest.launched\",\"label\":\"";
    f.write_all(head).unwrap();
    let block = vec![b'x'; 1 << 20];
    for _ in 0..100 {
        f.write_all(&block).unwrap();
    }
    f.write_all(b"\"}\n").unwrap();
    f.write_all(contest_lines("after", "r", 20, 20).as_bytes())
        .unwrap();
    drop(f);
    let rejects = dir.path().join("rejects.ndjson");
    let out = playtrace()
        .args(["monitor", "--format", "json", "--rejects"])
        .arg(&rejects)
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v = json(&out);
    assert_eq!(v["rejects"]["byKind"]["size"], 1);
    assert_eq!(
        v["totals"]["contestsObserved"], 2,
        "lines before and after the huge one are read"
    );
    let reject: Value =
        serde_json::from_str(std::fs::read_to_string(&rejects).unwrap().trim()).unwrap();
    assert_eq!(reject["line"], 4);
    assert_eq!(reject["kind"], "size");
    let len = head.len() + 100 * (1 << 20) + 2;
    assert_eq!(
        reject["message"],
        format!("line of {len} bytes is over the 16777216 byte limit; raise --max-line-bytes if such lines are expected")
    );
    assert_eq!(
        reject["raw"].as_str().unwrap().len(),
        64 * 1024,
        "raw text is bounded"
    );
}

#[test]
fn corrupt_gzip_keeps_what_was_read_and_says_where_it_broke() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::new();
    for i in 0..2000 {
        text.push_str(&contest_lines(&format!("c{i}"), "r", 10, 10));
    }
    let mut enc = GzEncoder::new(Vec::new(), Compression::default());
    enc.write_all(text.as_bytes()).unwrap();
    let mut bytes = enc.finish().unwrap();
    bytes.truncate(bytes.len() * 2 / 3);
    let path = dir.path().join("cut.ndjson.gz");
    std::fs::write(&path, bytes).unwrap();
    let out = playtrace()
        .args(["monitor", "--format", "json"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v = json(&out);
    assert_eq!(v["rejects"]["byKind"]["encoding"], 1);
    assert!(v["totals"]["contestsObserved"].as_u64().unwrap() > 100);
    assert!(
        stderr(&out).contains("the gzip stream is corrupt or truncated"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn crlf_and_a_byte_order_mark_are_tolerated() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("windows.ndjson");
    let text = format!(
        "\u{FEFF}{}",
        contest_lines("a", "r", 5, 6).replace('\n', "\r\n")
    );
    std::fs::write(&path, text).unwrap();
    let out = playtrace()
        .args(["monitor", "--format", "json"])
        .arg(&path)
        .output()
        .unwrap();
    let v = json(&out);
    assert_eq!(v["rejects"]["total"], 0);
    assert_eq!(v["durations"]["resolution"]["max"], 6);
}

#[test]
fn a_pretty_printed_array_of_events_is_one_document() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.json");
    let events: Vec<Value> = contest_lines("a", "r", 5, 6)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    std::fs::write(&path, serde_json::to_string_pretty(&events).unwrap()).unwrap();
    let out = playtrace()
        .args(["monitor", "--format", "json"])
        .arg(&path)
        .output()
        .unwrap();
    let v = json(&out);
    assert_eq!(v["rejects"]["total"], 0);
    assert_eq!(v["totals"]["contestsObserved"], 1);
}

#[test]
fn ndjson_with_a_cut_first_line_is_still_read_line_by_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cut.ndjson");
    std::fs::write(
        &path,
        format!(
            "{{\"message\":\"telemetry.contest.armed\",\n{}",
            contest_lines("a", "r", 5, 6)
        ),
    )
    .unwrap();
    let rejects = dir.path().join("rejects.ndjson");
    let out = playtrace()
        .args(["monitor", "--format", "json", "--rejects"])
        .arg(&rejects)
        .arg(&path)
        .output()
        .unwrap();
    let v = json(&out);
    assert_eq!(v["rejects"]["total"], 1);
    assert_eq!(v["totals"]["contestsObserved"], 1);
    let reject: Value =
        serde_json::from_str(std::fs::read_to_string(&rejects).unwrap().trim()).unwrap();
    assert_eq!(reject["line"], 1);
}

#[test]
fn a_summary_with_raw_can_be_re_read() {
    let first = playtrace()
        .args(["monitor", "--format", "json", "--include-raw"])
        .arg(fixture("contest-telemetry-load-breach.ndjson"))
        .output()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let summary = dir.path().join("summary.json");
    std::fs::write(&summary, &first.stdout).unwrap();
    let again = playtrace()
        .args(["monitor", "--format", "json", "--include-raw"])
        .arg(&summary)
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(1));
    let (a, b) = (json(&first), json(&again));
    for key in ["totals", "durations", "participants", "budgets", "raw"] {
        assert_eq!(a[key], b[key], "{key} survives a round trip");
    }
}

#[test]
fn a_summary_without_raw_is_a_schema_reject_naming_include_raw() {
    let out = playtrace()
        .args(["monitor", "--format", "json"])
        .arg(fixture("contest-telemetry-load-breach.ndjson"))
        .output()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let summary = dir.path().join("summary.json");
    std::fs::write(&summary, &out.stdout).unwrap();
    let rejects = dir.path().join("rejects.ndjson");
    let again = playtrace()
        .args(["monitor", "--format", "json", "--rejects"])
        .arg(&rejects)
        .arg(&summary)
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(1), "nothing to judge: no_data");
    assert_eq!(json(&again)["rejects"]["byKind"]["schema"], 1);
    let reject: Value =
        serde_json::from_str(std::fs::read_to_string(&rejects).unwrap().trim()).unwrap();
    assert!(
        reject["message"]
            .as_str()
            .unwrap()
            .contains("--include-raw"),
        "{reject}"
    );
}

#[test]
fn budgets_file_sets_what_is_checked() {
    let dir = tempfile::tempdir().unwrap();
    let budgets = dir.path().join("budgets.toml");
    std::fs::write(
        &budgets,
        "[[budget]]\nmetric = \"arming\"\npercentile = 50\nlimit_ms = \"2s\"\n\n[[budget]]\nmetric = \"resolution\"\npercentile = 99\nlimit_ms = 1000\n\n[[budget]]\nmetric = \"expiredArming\"\nlimit_ms = 9000\nmin_samples = 5\n",
    )
    .unwrap();
    let out = playtrace()
        .args(["monitor", "--format", "json", "--budgets"])
        .arg(&budgets)
        .arg(fixture("contest-telemetry-load-breach.ndjson"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        json(&out)["budgets"],
        json!([
            {"metric": "arming", "percentile": 50, "budget": 2000, "value": 1200, "samples": 4, "status": "pass"},
            {"metric": "resolution", "percentile": 99, "budget": 1000, "value": 930, "samples": 4, "status": "pass"},
            {"metric": "expiredArming", "percentile": 95, "budget": 9000, "value": null, "samples": 0, "status": "insufficient_data"}
        ])
    );
}

#[test]
fn a_bad_budgets_file_is_a_usage_error_naming_the_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let budgets = dir.path().join("budgets.toml");
    std::fs::write(&budgets, "[[budget]]\nmetric = \"latency\"\nlimit_ms = 5\n").unwrap();
    let out = playtrace()
        .args(["monitor", "--budgets"])
        .arg(&budgets)
        .arg(fixture("contest-telemetry-load-breach.ndjson"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.starts_with(&format!(
            "error: invalid budgets file `{}`",
            budgets.display()
        )),
        "{err}"
    );
    assert!(
        err.contains("line 2") && err.contains("unknown variant `latency`"),
        "{err}"
    );
}

#[test]
fn group_by_room_reports_and_gates_per_group() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rooms.ndjson");
    let mut text = String::new();
    for i in 0..40 {
        text.push_str(&contest_lines(&format!("fast{i}"), "fast-room", 100, 100));
    }
    text.push_str(&contest_lines("slow", "slow-room", 100, 900));
    std::fs::write(&path, text).unwrap();

    let overall = playtrace()
        .args(["monitor", "--format", "json"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(
        overall.status.code(),
        Some(0),
        "overall p95 hides the slow room"
    );

    let grouped = playtrace()
        .args(["monitor", "--format", "json", "--group-by", "room"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(grouped.status.code(), Some(1));
    let v = json(&grouped);
    assert_eq!(v["groups"]["by"], json!(["room"]));
    let entries = v["groups"]["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[1]["key"], json!({"room": "slow-room"}));
    assert_eq!(entries[1]["contests"], 1);
    assert_eq!(entries[1]["budgets"][1]["status"], "breach");
    assert_eq!(entries[0]["budgets"][1]["status"], "pass");

    let both = playtrace()
        .args(["monitor", "--format", "json", "--group-by", "hub,room"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(
        json(&both)["groups"]["entries"][0]["key"],
        json!({"hub": "hub", "room": "fast-room"})
    );
}

#[test]
fn usage_errors_exit_2_and_say_what_is_accepted() {
    let out = playtrace()
        .args(["monitor", "--group-by", "planet", "x"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("`planet` is not a dimension; use hub, room, move or type"),
        "{}",
        stderr(&out)
    );
    let out = playtrace()
        .args(["monitor", "--arming-threshold", "-5", "x"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = playtrace()
        .args(["monitor", "--arming-threshold", "0", "x"])
        .output()
        .unwrap();
    assert!(
        stderr(&out).contains("must be more than 0"),
        "{}",
        stderr(&out)
    );
    let out = playtrace()
        .args(["monitor", "--format", "yaml", "x"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = playtrace().args(["monitor", "-", "-"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("it can be read only once"));
}

#[test]
fn help_documents_the_exit_codes() {
    let out = playtrace().args(["monitor", "--help"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let help = stdout(&out);
    assert!(help.contains("Exit codes:"));
    assert!(help.contains("1  a budget breached"));
    assert!(help.contains("--group-by"));
}

#[test]
fn quiet_silences_reject_warnings_but_still_counts_them() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log.ndjson");
    std::fs::write(&log, format!("{}not json\n", contest_lines("a", "r", 1, 1))).unwrap();
    let loud = playtrace()
        .args(["monitor", "--format", "json"])
        .arg(&log)
        .output()
        .unwrap();
    assert!(
        stderr(&loud).contains("warning: 1 line was rejected"),
        "{}",
        stderr(&loud)
    );
    let quiet = playtrace()
        .args(["monitor", "--format", "json", "-q"])
        .arg(&log)
        .output()
        .unwrap();
    assert!(quiet.stderr.is_empty(), "{}", stderr(&quiet));
    assert_eq!(json(&quiet)["rejects"]["total"], 1);
}

#[test]
fn piped_runs_are_quiet_on_stderr() {
    let out = playtrace()
        .arg("monitor")
        .arg(fixture("contest-telemetry-load-breach.ndjson"))
        .output()
        .unwrap();
    assert!(out.stderr.is_empty(), "{}", stderr(&out));
}

/// Many contests across many 1 MiB blocks, with "later event wins" updates and a bad line far
/// from the start: results and line numbers must not depend on how many threads read them.
#[test]
fn results_do_not_depend_on_thread_count() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.ndjson");
    let mut text = String::new();
    for i in 0..12_000u64 {
        text.push_str(&contest_lines(
            &format!("c{i}"),
            &format!("room-{}", i % 7),
            100 + i % 9000,
            50 + i % 1000,
        ));
        if i % 997 == 0 {
            // A later event for an earlier contest, possibly in a later block, wins.
            text.push_str(&format!(
                "{{\"message\":\"telemetry.contest.resolved\",\"contestId\":\"c{}\",\"resolutionDurationMs\":{}}}\n",
                i / 2,
                5000 + i
            ));
        }
    }
    text.push_str("{broken\n");
    let bad_line = text.lines().count();
    text.push_str(&contest_lines("last", "room-0", 1, 1));
    std::fs::write(&path, &text).unwrap();
    assert!(text.len() > 3 << 20, "spans several blocks");

    let run = |threads: &str| {
        let rejects = dir.path().join(format!("rejects-{threads}.ndjson"));
        let out = playtrace()
            .args([
                "monitor",
                "--format",
                "json",
                "--include-raw",
                "--group-by",
                "room",
                "--threads",
                threads,
                "--rejects",
            ])
            .arg(&rejects)
            .arg(&path)
            .output()
            .unwrap();
        (out.stdout, std::fs::read_to_string(rejects).unwrap())
    };
    let (one, rejects_one) = run("1");
    let (four, rejects_four) = run("4");
    assert!(one == four, "output differs between 1 and 4 threads");
    assert_eq!(rejects_one, rejects_four);
    let reject: Value = serde_json::from_str(rejects_one.trim()).unwrap();
    assert_eq!(reject["line"], bad_line);
    let v: Value = serde_json::from_slice(&one).unwrap();
    assert_eq!(v["totals"]["contestsObserved"], 12_001);
    let contest_zero = &v["raw"]["contests"][0];
    assert_eq!(
        contest_zero["resolutionDurationMs"], 5000,
        "the later resolved event won"
    );
    assert_eq!(contest_zero["outcomes"], json!(["success"]));
}

/// The README's example: overall within budget, one slow room caught by `--group-by`.
#[test]
fn the_readme_example_passes_overall_and_fails_by_room() {
    let example = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/telemetry/contests.ndjson");
    let overall = playtrace().arg("monitor").arg(&example).output().unwrap();
    assert_eq!(overall.status.code(), Some(0), "{}", stdout(&overall));
    assert!(stdout(&overall).ends_with("PASS: no budget breached\n"));
    let by_room = playtrace()
        .args(["monitor", "--group-by", "room"])
        .arg(&example)
        .output()
        .unwrap();
    assert_eq!(by_room.status.code(), Some(1));
    assert!(
        stdout(&by_room)
            .ends_with("FAIL: no budget breached overall, but 2 breaches in groups by room\n"),
        "{}",
        stdout(&by_room)
    );
    let v = json(
        &playtrace()
            .args(["monitor", "--format", "json"])
            .arg(&example)
            .output()
            .unwrap(),
    );
    assert_eq!(
        v["totals"],
        json!({"contestsObserved": 23, "resolvedContests": 21, "workflowFailures": 1, "expiredContests": 1, "unresolvedContests": 1})
    );
    assert_eq!(
        v["durations"]["arming"]["missing"], 0,
        "derived from createdAt/startedAt where fields are absent"
    );
    let budgets = example.with_file_name("../budgets.toml");
    let with_file = playtrace()
        .args(["monitor", "--format", "json", "--budgets"])
        .arg(&budgets)
        .arg(&example)
        .output()
        .unwrap();
    assert_eq!(with_file.status.code(), Some(0), "{}", stderr(&with_file));
    assert_eq!(json(&with_file)["budgets"].as_array().unwrap().len(), 4);
}

#[test]
fn a_pretty_document_over_its_limit_is_one_size_reject() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big-timeline.json");
    let entries: Vec<Value> = (0..2000)
        .map(|i| json!({"type": "telemetry.hub.contestLaunched", "payload": {"contestId": format!("c{i}"), "armingDurationMs": 10}}))
        .collect();
    std::fs::write(
        &path,
        serde_json::to_string_pretty(&json!({"timeline": entries})).unwrap(),
    )
    .unwrap();
    let rejects = dir.path().join("rejects.ndjson");
    let out = playtrace()
        .args([
            "monitor",
            "--format",
            "json",
            "--max-document-bytes",
            "64KiB",
            "--rejects",
        ])
        .arg(&rejects)
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let v = json(&out);
    assert_eq!(
        v["rejects"],
        json!({"total": 1, "byKind": {"parse": 0, "schema": 0, "size": 1, "encoding": 0}})
    );
    let reject: Value =
        serde_json::from_str(std::fs::read_to_string(&rejects).unwrap().trim()).unwrap();
    assert_eq!(reject["line"], 1);
    assert!(
        reject["message"]
            .as_str()
            .unwrap()
            .ends_with("byte limit; raise --max-document-bytes to read it"),
        "{reject}"
    );

    // Within the default limit the same file is read whole.
    let whole = playtrace()
        .args(["monitor", "--format", "json"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(json(&whole)["totals"]["contestsObserved"], 2000);
}

#[test]
fn a_records_created_and_started_fields_win_over_the_armed_lines_timestamp() {
    // The log was written an hour after the game's clock: the armed line's `timestamp` must not
    // be taken as the creation time when the launched record carries createdAt and startedAt.
    let lines = concat!(
        r#"{"timestamp":"2026-03-01T13:00:00.000Z","message":"telemetry.contest.armed","hubId":"h","roomId":"r","contestKey":"k"}"#,
        "\n",
        r#"{"timestamp":"2026-03-01T13:00:05.000Z","message":"telemetry.contest.launched","hubId":"h","roomId":"r","contestKey":"k","contestId":"c","createdAt":1772366400000,"startedAt":1772366400240}"#,
        "\n",
    );
    let out = playtrace()
        .args(["monitor", "--format", "json", "--include-raw"])
        .write_stdin(lines)
        .output()
        .unwrap();
    let v = json(&out);
    assert_eq!(v["durations"]["arming"]["p95"], 240, "{v}");
    assert_eq!(v["raw"]["contests"][0]["armingDurationMs"], 240);
}

/// A CI gate must not pass on nothing: an empty file, an empty pipe, garbage and a log of
/// other events all end `no_data` with exit 1, said plainly in every format.
#[test]
fn no_data_fails_the_gate_unless_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.ndjson");
    std::fs::write(&empty, "").unwrap();
    let garbage = dir.path().join("garbage.log");
    std::fs::write(&garbage, "not json\nat all\n").unwrap();
    for input in [&empty, &garbage] {
        let text = playtrace().arg("monitor").arg(input).output().unwrap();
        assert_eq!(text.status.code(), Some(1), "{}", stderr(&text));
        let report = stdout(&text);
        assert!(!report.contains("PASS"), "{report}");
        assert!(
            report.contains("NO DATA: not enough data to judge: arming p95 has 0 samples; resolution p95 has 0 samples (is this the right log?)"),
            "{report}"
        );
        let md = playtrace()
            .args(["monitor", "--format", "markdown"])
            .arg(input)
            .output()
            .unwrap();
        assert_eq!(md.status.code(), Some(1));
        let md = stdout(&md);
        assert!(md.contains("⚠️ **Not enough data to judge"), "{md}");
        assert!(!md.contains('✅'), "{md}");
    }
    let piped = playtrace()
        .args(["monitor", "--format", "json"])
        .write_stdin("")
        .output()
        .unwrap();
    assert_eq!(piped.status.code(), Some(1));
    assert_eq!(json(&piped)["outcome"], "no_data");

    let allowed = playtrace()
        .args(["monitor", "--allow-no-data"])
        .arg(&empty)
        .output()
        .unwrap();
    assert_eq!(allowed.status.code(), Some(0), "{}", stderr(&allowed));
    assert!(stdout(&allowed).contains("allowed by --allow-no-data"));
}

#[test]
fn min_contests_sets_a_floor_and_groups_with_few_samples_do_not_fail() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log.ndjson");
    let mut lines = String::new();
    for i in 0..5 {
        lines.push_str(&contest_lines(&format!("busy-{i}"), "room-busy", 100, 100));
    }
    lines.push_str(&contest_lines("rare", "room-rare", 100, 100));
    std::fs::write(&log, lines).unwrap();
    let budgets = dir.path().join("budgets.toml");
    std::fs::write(
        &budgets,
        "[[budget]]\nmetric = \"arming\"\nlimit_ms = 8000\nmin_samples = 3\n",
    )
    .unwrap();
    let grouped = playtrace()
        .args([
            "monitor",
            "--format",
            "json",
            "--group-by",
            "room",
            "--budgets",
        ])
        .arg(&budgets)
        .arg(&log)
        .output()
        .unwrap();
    assert_eq!(grouped.status.code(), Some(0), "{}", stderr(&grouped));
    let v = json(&grouped);
    assert_eq!(v["outcome"], "pass");
    let rare = v["groups"]["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["key"]["room"] == "room-rare")
        .unwrap();
    assert_eq!(rare["budgets"][0]["status"], "insufficient_data");

    let floor = playtrace()
        .args(["monitor", "--min-contests", "10"])
        .arg(&log)
        .output()
        .unwrap();
    assert_eq!(floor.status.code(), Some(1));
    assert!(
        stdout(&floor).contains("6 contests observed, --min-contests is 10"),
        "{}",
        stdout(&floor)
    );
}
