//! OTLP/HTTP logs (`POST /v1/logs`) against a real `playtrace serve`: the OpenTelemetry Python
//! SDK's own exporter (from the repo-local venv `scripts/test` creates), golden OTLP/JSON as the
//! Collector and the JS SDK write it, hand-encoded protobuf, limits and tokens.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod server;

use common::{fixture, fixture_str, playtrace};
use serde_json::{json, Value};
use server::{start, subscribe, TOKENS};
use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The venv's Python (`PLAYTRACE_OTEL_PYTHON` overrides). Never skipped: without it the test
/// fails and says how to make it.
fn otel_python() -> PathBuf {
    let python = std::env::var_os("PLAYTRACE_OTEL_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join(".venv/bin/python"));
    assert!(
        python.exists(),
        "{} is missing: run scripts/test (it creates the venv with opentelemetry-sdk and \
         opentelemetry-exporter-otlp-proto-http), or set PLAYTRACE_OTEL_PYTHON",
        python.display()
    );
    python
}

fn golden(name: &str) -> Vec<u8> {
    std::fs::read(
        repo()
            .join("crates/playtrace-server/testdata/otlp")
            .join(name),
    )
    .unwrap()
}

const INGEST: &str = "Bearer ingest-secret-1";
const READ: &str = "read-secret-1";

fn events(s: &server::Server, query: &str) -> Vec<Value> {
    let (status, _, body) = s.get(&format!("/v1/events?limit=1000{query}"), Some(READ));
    assert_eq!(status, 200, "{body}");
    body["events"].as_array().unwrap().clone()
}

#[test]
fn the_python_sdks_exporter_is_stored_mapped_budgeted_and_alerted() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(&dir.path().join("data"), TOKENS);
    let alerts = subscribe(
        &s.url,
        "/v1/stream?topics=alerts",
        &[("Authorization", "Bearer read-secret-1")],
    );
    assert_eq!(alerts.status, 200);

    let out = std::process::Command::new(otel_python())
        .arg(repo().join("crates/playtrace/tests/otlp/send_logs.py"))
        .arg(format!("{}/v1/logs", s.url))
        .arg("ingest-secret-1")
        .arg(fixture("contest-telemetry-load-breach.ndjson"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the exporter did not succeed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The exporter saw success for every export (13 records, one export each).
    let exports: Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(exports["exports"], json!(vec!["SUCCESS"; 13]));

    let stored = events(&s, "");
    let names: Vec<&str> = stored
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 13, "{names:?}");
    assert_eq!(names[0], "telemetry.contest.armed");
    assert_eq!(names[12], "moderation.check");
    let launched = &stored[1];
    assert_eq!(launched["game"], "glass-frontier");
    assert_eq!(launched["env"], "prod");
    assert_eq!(launched["session"], "session-room-contest-a");
    assert_eq!(launched["severityText"], "INFO");
    assert_eq!(launched["attrs"]["contestId"], "contest-alpha");
    assert_eq!(launched["attrs"]["armingDurationMs"], 420);
    assert!(launched["ts"].as_f64().unwrap() > 1.7e12);
    let check = &stored[12];
    assert_eq!(
        check["attrs"]["safetyFlags"],
        json!(["ok", "prohibited-capability"])
    );

    // The budgets equal the monitor's over the same records written as NDJSON.
    let out = playtrace()
        .args([
            "monitor",
            "--format",
            "json",
            &fixture_str("contest-telemetry-load-breach.ndjson"),
        ])
        .output()
        .unwrap();
    let monitor: Value = serde_json::from_slice(&out.stdout).unwrap();
    let (_, _, budgets) = s.get("/v1/budgets", Some(READ));
    for window in budgets["windows"].as_array().unwrap() {
        for metric in ["arming", "resolution"] {
            let live = window["budgets"]
                .as_array()
                .unwrap()
                .iter()
                .find(|b| b["metric"] == metric)
                .unwrap();
            for key in ["samples", "p50", "p95", "p99", "max", "budget", "breached"] {
                assert_eq!(
                    live[key], monitor["durations"][metric][key],
                    "{metric}.{key} in {}",
                    window["window"]
                );
            }
        }
    }

    // The flagged check raised a moderation alert on the stream.
    let deadline = Instant::now() + Duration::from_secs(20);
    let alert = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let msg = alerts.next(left).expect("no alert on the stream");
        if msg.event == "alert" {
            break msg.data;
        }
    };
    assert_eq!(alert["category"], "moderation");
    assert_eq!(alert["reason"], "prohibited-capability");
    assert_eq!(alert["game"], "glass-frontier");
    // ... and /metrics counts it.
    let (_, _, text) = s.get("/metrics", Some(READ));
    let line = "playtrace_alerts{state=\"firing\",category=\"moderation\",severity=\"high\"} 1";
    assert!(
        text.as_str().unwrap().contains(line),
        "{line} missing in {text}"
    );
}

/// Protobuf by hand (the test must not share the decoder it checks): a length-delimited field.
fn field(tag: u32, bytes: &[u8]) -> Vec<u8> {
    let mut out = vec![(tag << 3 | 2) as u8];
    let mut n = bytes.len();
    loop {
        let b = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(b);
            break;
        }
        out.push(b | 0x80);
    }
    out.extend_from_slice(bytes);
    out
}

/// An ExportLogsServiceRequest with one resource (service.name = `game`) and records named by
/// their `eventName` (field 12); an empty name makes a record without one.
fn request(game: &str, names: &[&str]) -> Vec<u8> {
    let any = field(1, game.as_bytes()); // AnyValue.string_value
    let kv = [field(1, b"service.name"), field(2, &any)].concat();
    let resource = field(1, &kv); // Resource.attributes
    let records: Vec<u8> = names
        .iter()
        .flat_map(|n| field(2, &field(12, n.as_bytes()))) // ScopeLogs.log_records
        .collect();
    let resource_logs = [field(1, &resource), field(2, &records)].concat();
    field(1, &resource_logs)
}

fn post(s: &server::Server, headers: &[(&str, &str)], body: &[u8]) -> (u16, String, Vec<u8>) {
    let mut req = server::agent().post(format!("{}/v1/logs", s.url));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let mut r = req.send(body).unwrap();
    let status = r.status().as_u16();
    let ct = r
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (status, ct, r.body_mut().read_to_vec().unwrap())
}

#[test]
fn otlp_http_answers_as_the_specification_says() {
    let dir = tempfile::tempdir().unwrap();
    let config = format!("{TOKENS}\n[limits]\nmax_body = \"64KiB\"\n");
    let s = start(&dir.path().join("data"), &config);
    let proto = [
        ("Content-Type", "application/x-protobuf"),
        ("Authorization", INGEST),
    ];
    let json_ct = [
        ("Content-Type", "application/json"),
        ("Authorization", INGEST),
    ];

    // Token matrix: none or unknown 401, read 403; ingest (and admin, which has every scope) 200.
    let body = request("gf", &["a.one"]);
    for (auth, want) in [
        (None, 401),
        (Some("Bearer read-secret-1"), 403),
        (Some("Bearer admin-secret-1"), 200),
        (Some("Bearer wrong-secret-9"), 401),
        (Some(INGEST), 200),
    ] {
        let mut headers = vec![("Content-Type", "application/x-protobuf")];
        if let Some(a) = auth {
            headers.push(("Authorization", a));
        }
        let (status, _, answer) = post(&s, &headers, &body);
        assert_eq!(
            status,
            want,
            "{auth:?}: {}",
            String::from_utf8_lossy(&answer)
        );
        if status != 200 {
            let e: Value = serde_json::from_slice(&answer).unwrap();
            assert!(e["error"]["message"].is_string());
        }
    }

    // Protobuf in, protobuf out: an empty ExportLogsServiceResponse when all is read.
    let (status, ct, answer) = post(&s, &proto, &request("gf", &["a.two", "a.three"]));
    assert_eq!((status, ct.as_str()), (200, "application/x-protobuf"));
    assert!(answer.is_empty(), "{answer:?}");
    // Partial success: one record without a name, counted; it is kept as a reject.
    let (status, _, answer) = post(&s, &proto, &request("gf", &["a.four", ""]));
    assert_eq!(status, 200);
    // partial_success (1) { rejected_log_records (1) = 1, error_message (2) ... }
    assert!(
        answer.windows(3).any(|w| w == [0x08, 0x01, 0x12]),
        "{answer:?}"
    );
    assert!(String::from_utf8_lossy(&answer).contains("no event name"));
    let (_, _, rejects) = s.get("/v1/rejects", Some(READ));
    assert_eq!(
        rejects["rejects"].as_array().map(Vec::len),
        Some(1),
        "{rejects}"
    );

    // A broken protobuf is a 400 with the JSON error, nothing stored.
    let (status, _, answer) = post(&s, &proto, b"\x0a\xff\xff\xff\xff\x0f");
    assert_eq!(status, 400);
    let e: Value = serde_json::from_slice(&answer).unwrap();
    assert_eq!(e["error"]["code"], "bad_request");
    assert!(e["error"]["message"].as_str().unwrap().contains("protobuf"));
    // Not an OTLP encoding: 415.
    let (status, _, _) = post(
        &s,
        &[("Content-Type", "text/plain"), ("Authorization", INGEST)],
        b"x",
    );
    assert_eq!(status, 415);

    // Golden OTLP/JSON from the Collector and the JS SDK; the answer is JSON.
    for name in ["collector.json", "js-sdk.json"] {
        let (status, ct, answer) = post(&s, &json_ct, &golden(name));
        assert_eq!((status, ct.as_str()), (200, "application/json"), "{name}");
        assert_eq!(serde_json::from_slice::<Value>(&answer).unwrap(), json!({}));
    }
    let gf = events(&s, "&game=glass-frontier");
    let names: Vec<&str> = gf.iter().map(|e| e["event"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "telemetry.contest.armed",
            "telemetry.contest.launched",
            "telemetry.contest.resolved",
            "moderation.check"
        ]
    );
    assert_eq!(gf[0]["traceId"], "5b8efff798038103d269b633813fc60c");
    assert_eq!(gf[0]["attrs"]["loadout"]["tags"][1], 9007199254740993i64);
    // A retried export: the record with a log.record.uid is stored once.
    let (status, _, _) = post(&s, &json_ct, &golden("collector.json"));
    assert_eq!(status, 200);
    let armed = events(&s, "&name=telemetry.contest.armed&game=glass-frontier");
    assert_eq!(armed.len(), 1);

    // Over the limit: a plain body, and a small gzip body that inflates past it.
    let (status, _, answer) = post(&s, &proto, &vec![0u8; 70 << 10]);
    assert_eq!(status, 413, "{}", String::from_utf8_lossy(&answer));
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(&vec![0u8; 16 << 20]).unwrap();
    let bomb = gz.finish().unwrap();
    assert!(bomb.len() < 32 << 10);
    let gzip = [
        ("Content-Type", "application/x-protobuf"),
        ("Content-Encoding", "gzip"),
        ("Authorization", INGEST),
    ];
    let (status, _, answer) = post(&s, &gzip, &bomb);
    assert_eq!(status, 413, "{}", String::from_utf8_lossy(&answer));
    let e: Value = serde_json::from_slice(&answer).unwrap();
    assert!(e["error"]["message"]
        .as_str()
        .unwrap()
        .contains("after decompression"));
    // A gzip body within the limit is read.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&request("gf", &["gz.one"])).unwrap();
    let (status, _, _) = post(&s, &gzip, &gz.finish().unwrap());
    assert_eq!(status, 200);
    assert_eq!(events(&s, "&name=gz.one").len(), 1);
}
