//! The QA engine end to end on its library API: the fixture replayed, and generated
//! session-closure records whose truth is known (gate reasons per delta, cadence times, jobs
//! per bundle, the retry queue's backoff and dead letter).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use playtrace_core::time::parse_rfc3339_ms;
use playtrace_qa::decisions::Decisions;
use playtrace_qa::index::{IndexName, SearchIndex};
use playtrace_qa::telemetry::Telemetry;
use playtrace_qa::{drain, DrainOptions, DriftMode, QaOptions, QaResult};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/fixtures/glass-frontier/offline-qa-gamma.trimmed.json")
}

fn t(s: &str) -> f64 {
    parse_rfc3339_ms(s).unwrap()
}

fn options(input: &Path, state: &Path) -> QaOptions {
    QaOptions {
        sessions: playtrace_qa::input::load(input, None).unwrap(),
        output: None,
        state_dir: state.to_path_buf(),
        target: None,
        index: None,
        now_ms: t("2025-11-05T07:30:00Z"),
        decisions: Decisions::default(),
        drift: DriftMode::Off,
        storage_outage: false,
        gate: Default::default(),
        cadence: Default::default(),
    }
}

fn run(o: QaOptions) -> QaResult {
    playtrace_qa::run(o, &Telemetry::off(), &AtomicU64::new(0)).unwrap()
}

fn codes(r: &QaResult) -> Vec<&str> {
    r.findings.iter().map(|f| f.code.as_str()).collect()
}

#[test]
fn the_fixture_is_held_with_its_figures_and_its_contradiction_is_a_finding() {
    let dir = tempfile::tempdir().unwrap();
    let r = run(options(&fixture(), &dir.path().join("state")));
    assert_eq!(r.mode, "replay");
    assert!(r.failed);
    let report = &r.reports[0];
    assert_eq!(report["mode"], "replay");
    assert_eq!(report["worldDeltas"]["deltaCount"], 8);
    assert_eq!(report["entityExtraction"]["mentionCount"], 8);
    assert_eq!(report["moderation"]["capabilityViolations"], 3);
    assert_eq!(
        report["moderation"]["reasons"],
        json!(["capability_violation"])
    );
    let schedule = &report["publishing"]["schedule"];
    assert_eq!(schedule["moderation"]["pendingCount"], 3);
    assert_eq!(schedule["moderation"]["status"], "awaiting_review");
    assert_eq!(
        schedule["moderation"]["startAt"],
        "2025-11-05T06:30:00.000Z"
    );
    assert_eq!(
        schedule["moderation"]["escalations"],
        json!(["2025-11-05T07:00:00.000Z", "2025-11-05T07:10:00.000Z"])
    );
    assert_eq!(schedule["batches"][0]["batchId"], "qa-batch-gamma-batch-0");
    assert_eq!(schedule["batches"][0]["status"], "awaiting_moderation");
    assert_eq!(schedule["batches"][0]["notes"], "moderation_gate_pending");
    assert_eq!(schedule["digest"]["runAt"], "2025-11-06T02:00:00.000Z");
    // Held: nothing published, no search job.
    assert_eq!(report["publishing"]["status"], "awaiting_moderation");
    assert_eq!(report["publishing"]["searchPlan"]["status"], "held");
    assert_eq!(report["publishing"]["searchPlan"]["jobs"], json!([]));
    assert_eq!(report["publishing"]["storage"], Value::Null);
    let index = SearchIndex::open(&dir.path().join("state/search.db")).unwrap();
    assert_eq!(index.count(IndexName::LoreBundles).unwrap(), 0);
    assert_eq!(index.count(IndexName::NewsCards).unwrap(), 0);
    // The recorded published-while-held state is reported; the recorded cadence agrees.
    assert!(
        codes(&r).contains(&"published_while_held"),
        "{:?}",
        r.findings
    );
    assert!(!codes(&r).contains(&"cadence_mismatch"), "{:?}", r.findings);
    assert!(!codes(&r).contains(&"gate_disagrees"), "{:?}", r.findings);
    assert_eq!(report["replay"]["recordedPublishingStatus"], "published");
    assert_eq!(r.rollup["totalDeltas"], 8);
    assert_eq!(r.rollup["sessionsWithCapabilityViolations"], 1);
}

#[test]
fn approving_the_fixtures_batch_publishes_it_and_indexes_its_documents() {
    let dir = tempfile::tempdir().unwrap();
    let decisions = dir.path().join("decisions.json");
    std::fs::write(
        &decisions,
        r#"{"decisionId":"mod-7","decisions":[{"sessionId":"qa-batch-gamma","decision":"approve"}]}"#,
    )
    .unwrap();
    let mut o = options(&fixture(), &dir.path().join("state"));
    o.decisions = Decisions::load(&decisions).unwrap();
    let r = run(o);
    let report = &r.reports[0];
    assert_eq!(report["publishing"]["status"], "published");
    assert_eq!(
        report["publishing"]["schedule"]["moderation"]["status"],
        "decided"
    );
    assert_eq!(
        report["publishing"]["schedule"]["moderation"]["moderationDecisionId"],
        "mod-7"
    );
    assert_eq!(report["publishing"]["searchPlan"]["status"], "in_sync");
    let index = SearchIndex::open(&dir.path().join("state/search.db")).unwrap();
    assert_eq!(
        index.search(IndexName::LoreBundles, "Echo Ledger").unwrap(),
        [(
            "qa-batch-gamma-lore-faction.echo-ledger-conclave".to_string(),
            1
        )]
    );
    assert_eq!(index.count(IndexName::NewsCards).unwrap(), 1);
    // The recorded contradiction is still a finding: approving now does not make it true then.
    assert!(codes(&r).contains(&"published_while_held"));
}

/// A generated batch: session `s-<i>` with `entities` entities of 2 deltas each; delta 0 of
/// entity 0 touches a critical capability, delta 1 of entity 1 has a conflict, delta 0 of
/// entity 2 has confidence 0.4 — only in sessions where `flagged` is true.
fn closure(i: usize, entities: usize, flagged: bool) -> Value {
    let mut deltas = Vec::new();
    for e in 0..entities {
        for k in 0..2 {
            let cap = flagged && e == 0 && k == 0;
            let conflict = flagged && e == 1 && k == 1;
            let low = flagged && e == 2 && k == 0;
            deltas.push(json!({
                "deltaId": format!("d-{i}-{e}-{k}"),
                "entityId": format!("location.place-{e}"),
                "entityType": "location",
                "canonicalName": format!("Place {e} of session {i}"),
                "confidence": if low { 0.4 } else { 0.9 },
                "capabilityRefs": if cap { json!([{"capabilityId": "capability.temporal-retcon", "severity": "critical"}]) }
                    else { json!([{"capabilityId": "capability.trade", "severity": "low"}]) },
                "conflicts": if conflict { json!([{"field": "ruler", "reason": "two rulers"}]) } else { json!([]) },
                "before": {"ruler": "nobody"},
                "after": {"ruler": format!("ruler{e}x{k}")},
                "mentions": 2,
            }));
        }
    }
    json!({"sessionId": format!("s-{i}"), "sessionClosedAt": "2025-11-05T23:40:00Z", "deltas": deltas})
}

fn write_batch(dir: &Path, sessions: &[Value]) -> PathBuf {
    let path = dir.join("closures.json");
    std::fs::write(
        &path,
        serde_json::to_vec(&json!({ "sessions": sessions })).unwrap(),
    )
    .unwrap();
    path
}

#[test]
fn closures_get_the_known_gate_reasons_cadence_and_jobs() {
    let dir = tempfile::tempdir().unwrap();
    let input = write_batch(dir.path(), &[closure(0, 3, true), closure(1, 4, false)]);
    let r = run(options(&input, &dir.path().join("state")));
    assert_eq!(r.mode, "closure");
    let (held, clean) = (&r.reports[0], &r.reports[1]);
    // Gate: the flagged deltas and their reasons.
    let reasons: Vec<(String, Value)> = held["worldDeltas"]["deltas"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["safety"]["requiresModeration"] == true)
        .map(|d| {
            (
                d["deltaId"].as_str().unwrap().to_string(),
                d["safety"]["reasons"].clone(),
            )
        })
        .collect();
    assert_eq!(
        reasons,
        [
            ("d-0-0-0".to_string(), json!(["capability_violation"])),
            ("d-0-1-1".to_string(), json!(["conflict_detected"])),
            ("d-0-2-0".to_string(), json!(["low_confidence"])),
        ]
    );
    assert_eq!(held["moderation"]["capabilityViolations"], 1);
    assert_eq!(held["moderation"]["conflictDetections"], 1);
    assert_eq!(held["moderation"]["lowConfidenceFindings"], 1);
    assert_eq!(held["publishing"]["status"], "awaiting_moderation");
    assert_eq!(
        held["publishing"]["schedule"]["moderation"]["pendingCount"],
        3
    );
    // Cadence from a close at 23:40: the digest is the next day's 02:00.
    let s = &clean["publishing"]["schedule"];
    assert_eq!(s["moderation"]["startAt"], "2025-11-05T23:55:00.000Z");
    assert_eq!(s["moderation"]["endAt"], "2025-11-06T00:40:00.000Z");
    assert_eq!(
        s["moderation"]["escalations"],
        json!(["2025-11-06T00:25:00.000Z", "2025-11-06T00:35:00.000Z"])
    );
    assert_eq!(s["batches"][0]["runAt"], "2025-11-06T00:40:00.000Z");
    assert_eq!(s["digest"]["runAt"], "2025-11-06T02:00:00.000Z");
    // Jobs: one per entity's lore bundle plus the news card.
    assert_eq!(clean["publishing"]["status"], "published");
    let jobs: Vec<&str> = clean["publishing"]["searchPlan"]["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["jobId"].as_str().unwrap())
        .collect();
    assert_eq!(
        jobs,
        [
            "index-lore-s-1-lore-location.place-0",
            "index-lore-s-1-lore-location.place-1",
            "index-lore-s-1-lore-location.place-2",
            "index-lore-s-1-lore-location.place-3",
            "index-news-s-1-news-0",
        ]
    );
    assert_eq!(clean["publishing"]["searchPlan"]["status"], "in_sync");
    assert_eq!(r.rollup["totalSessions"], 2);
    assert_eq!(r.rollup["totalDeltas"], 14);
    assert_eq!(r.rollup["totalMentions"], 28);
    assert_eq!(r.rollup["sessionsWithModeration"], 1);
    assert!(r.findings.is_empty());
    assert!(r.failed, "a held session fails the run");
    // Rejecting the flagged deltas releases the batch without them.
    let decisions = dir.path().join("d.json");
    std::fs::write(&decisions, r#"[{"sessionId":"s-0","decision":"reject"}]"#).unwrap();
    let mut o = options(&input, &dir.path().join("state"));
    o.decisions = Decisions::load(&decisions).unwrap();
    let r = run(o);
    assert!(!r.failed, "{:?}", r.summary);
    let lore = r.reports[0]["publishing"]["searchPlan"]["jobs"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(
        lore, 4,
        "3 entities still have publishable deltas, plus the card"
    );
}

#[test]
fn drift_waits_in_the_queue_with_its_backoff_and_the_drain_re_executes_it() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let input = write_batch(dir.path(), &[closure(1, 4, false)]);
    let mut o = options(&input, &state);
    o.drift = DriftMode::First;
    let r = run(o);
    assert!(r.failed);
    let q = &r.reports[0]["publishing"]["retryQueue"];
    // Jobs 0, 2 and 4 drift on their first attempt (a refused write, a stale version, a refused write).
    assert_eq!(q["beforeDrain"]["pendingCount"], 3);
    assert_eq!(q["beforeDrain"]["nextRetryAt"], "2025-11-05T07:35:00.000Z");
    assert_eq!(q["afterDrain"]["pendingCount"], 3, "nothing is due yet");
    assert_eq!(q["drainedJobs"], json!([]));
    let errors: Vec<&str> = q["beforeDrain"]["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["lastError"].as_str().unwrap())
        .collect();
    assert!(
        errors
            .iter()
            .any(|e| e.starts_with("version drift: expected v1, the index holds v0")),
        "{errors:?}"
    );
    assert!(
        errors.iter().any(|e| e.contains("refused the write")),
        "{errors:?}"
    );
    // Not due at 07:34; due at 07:35.
    let opts = |now: &str, force| DrainOptions {
        state_dir: state.clone(),
        index: None,
        now_ms: t(now),
        force,
    };
    let early = drain(&opts("2025-11-05T07:34:00Z", false), &Telemetry::off()).unwrap();
    assert!(early.drained.is_empty());
    let due = drain(&opts("2025-11-05T07:35:00Z", false), &Telemetry::off()).unwrap();
    assert_eq!(due.drained.len(), 3);
    assert_eq!((due.pending, due.dead_lettered), (0, 0));
    let index = SearchIndex::open(&state.join("search.db")).unwrap();
    for doc in ["s-1-lore-location.place-0", "s-1-lore-location.place-2"] {
        assert_eq!(
            index.version(IndexName::LoreBundles, doc).unwrap(),
            Some(1),
            "{doc}"
        );
    }
    assert_eq!(
        index.version(IndexName::NewsCards, "s-1-news-0").unwrap(),
        Some(1)
    );
}

#[test]
fn a_job_failing_three_times_is_dead_lettered_as_search_out_of_sync() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let input = write_batch(dir.path(), &[closure(1, 1, false)]);
    let mut o = options(&input, &state);
    o.drift = DriftMode::Always;
    let r = run(o);
    let before = &r.reports[0]["publishing"]["retryQueue"]["beforeDrain"];
    assert_eq!(before["pendingCount"], 1);
    assert_eq!(before["jobs"][0]["retryAt"], "2025-11-05T07:35:00.000Z");
    let opts = |force| DrainOptions {
        state_dir: state.clone(),
        index: None,
        now_ms: t("2025-11-05T07:31:00Z"),
        force,
    };
    let second = drain(&opts(true), &Telemetry::off()).unwrap();
    assert_eq!(second.drained[0].attempts, 2);
    assert_eq!(
        second.drained[0].retry_at_ms,
        Some(t("2025-11-05T07:41:00Z")),
        "5 min x 2^(2-1)"
    );
    let third = drain(&opts(true), &Telemetry::off()).unwrap();
    assert_eq!(third.drained[0].attempts, 3);
    assert_eq!(third.drained[0].status.as_str(), "searchOutOfSync");
    assert!(third.drained[0]
        .last_error
        .as_deref()
        .unwrap()
        .contains("attempt 3"));
    assert_eq!((third.pending, third.dead_lettered), (0, 1));
    assert_eq!(third.after["status"], "searchOutOfSync");
    // A dead letter is never re-executed by a drain.
    assert!(drain(&opts(true), &Telemetry::off())
        .unwrap()
        .drained
        .is_empty());
}

/// The filesystem writer, except that pointer objects fail (a storage that died between the
/// last object and the pointer).
struct NoPointer(playtrace_export::fs::FsWriter);

impl playtrace_export::Writer for NoPointer {
    fn id(&self) -> String {
        self.0.id()
    }
    fn write<'a>(&'a self, a: &'a playtrace_export::Artifact) -> playtrace_export::WriteFuture<'a> {
        if a.name.ends_with("/current") {
            Box::pin(async {
                Err(playtrace_export::WriteError::Transient(
                    "connection reset".into(),
                ))
            })
        } else {
            self.0.write(a)
        }
    }
}

#[test]
fn a_version_written_without_its_pointer_is_a_finding_and_the_rerun_completes_it() {
    use playtrace_qa::Target;
    use std::sync::Arc;
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let published = dir.path().join("pub");
    let input = write_batch(dir.path(), &[closure(3, 2, false)]);
    let mut o = options(&input, &state);
    o.target = Some(Target {
        writer: Arc::new(NoPointer(playtrace_export::fs::FsWriter::new(&published))),
        spec: format!("fs:{}", published.display()),
    });
    let r = run(o);
    assert_eq!(r.reports[0]["publishing"]["status"], "publish_failed");
    assert_eq!(
        r.reports[0]["publishing"]["storage"]["status"],
        "pointer_failed"
    );
    assert!(published.join("s-3/v1/manifest.json").exists());
    assert!(!published.join("s-3/current").exists());
    assert_eq!(r.reports[0]["publishing"]["searchPlan"]["jobs"], json!([]));
    let mut o = options(&input, &state);
    o.target = Some(Target {
        writer: Arc::new(playtrace_export::fs::FsWriter::new(&published)),
        spec: format!("fs:{}", published.display()),
    });
    let r = run(o);
    assert_eq!(codes(&r), ["version_without_pointer"]);
    assert_eq!(r.reports[0]["publishing"]["status"], "published");
    let pointer: Value =
        serde_json::from_slice(&std::fs::read(published.join("s-3/current")).unwrap()).unwrap();
    assert_eq!(pointer["version"], 1, "the same version, completed");
    // Once completed, nothing is left to report.
    let mut o = options(&input, &state);
    o.target = Some(Target {
        writer: Arc::new(playtrace_export::fs::FsWriter::new(&published)),
        spec: format!("fs:{}", published.display()),
    });
    let r = run(o);
    assert!(r.findings.is_empty(), "{:?}", r.findings);
    assert!(!r.failed);
    assert_eq!(r.reports[0]["publishing"]["storage"]["status"], "unchanged");
}

#[test]
fn a_replayed_drain_that_dropped_jobs_and_disagreeing_counts_are_findings() {
    let dir = tempfile::tempdir().unwrap();
    let mut report: Value = serde_json::from_slice(&std::fs::read(fixture()).unwrap()).unwrap();
    // The old harness's drain: it emptied the queue without re-running anything.
    let job = json!({"jobId": "index-lore-qa-batch-gamma-lore-0", "attempt": 1});
    report["publishing"]["retryQueue"]["beforeDrain"]["jobs"] = json!([job]);
    report["publishing"]["retryQueue"]["beforeDrain"]["pendingCount"] = json!(1);
    report["publishing"]["schedule"]["batches"][0]["deltaCount"] = json!(7);
    report["publishing"]["schedule"]["moderation"]["endAt"] = json!("2025-11-05T07:20:00.000Z");
    let path = dir.path().join("edited-offline-qa.json");
    std::fs::write(&path, serde_json::to_vec(&report).unwrap()).unwrap();
    let r = run(options(&path, &dir.path().join("state")));
    let found: Vec<(&str, &str)> = r
        .findings
        .iter()
        .map(|f| (f.code.as_str(), f.path.as_str()))
        .collect();
    assert!(
        found.contains(&("drift_never_retried", "publishing.retryQueue")),
        "{found:?}"
    );
    assert!(
        found.contains(&(
            "count_mismatch",
            "publishing.schedule.batches[0].deltaCount"
        )),
        "{found:?}"
    );
    assert!(
        found.contains(&("cadence_mismatch", "publishing.schedule.moderation.endAt")),
        "{found:?}"
    );
    // The unedited fixture has none of these.
    let clean = run(options(&fixture(), &dir.path().join("state2")));
    assert_eq!(
        codes(&clean),
        ["published_while_held", "search_published_while_held"]
    );
}
