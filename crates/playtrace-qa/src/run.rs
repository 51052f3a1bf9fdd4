//! One QA run over a batch: every session through the gate, the cadence, publishing and search
//! sync; then one drain of the jobs that are due; then reports, the rollup and the findings.

use crate::bundles::{bundles, safe};
use crate::cadence::{schedule, CadenceConfig};
use crate::decisions::{Decisions, Verdict};
use crate::drain::{drain_open, report_drift};
use crate::findings::Finding;
use crate::gate::{self, GateConfig, Summary};
use crate::index::SearchIndex;
use crate::input::{Mode, Session};
use crate::publish::{pointer_version, publish, versions, Published, Target};
use crate::queue::{summary, Drift, Job, JobStatus};
use crate::replay;
use crate::report::{file_stamp, schedule_json, ModerationState, Rollup};
use crate::state::{State, INDEX_DB};
use crate::telemetry::Telemetry;
use crate::{iso, QaError};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// `--simulate-search-drift`: which search jobs fail, deterministically.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DriftMode {
    /// No simulated faults.
    Off,
    /// Every other job of a session (the 1st, 3rd, ...) fails its first attempt, alternately a
    /// refused write and a stale version.
    First,
    /// The same jobs fail every attempt (they end dead-lettered).
    Always,
}

impl DriftMode {
    fn for_job(self, position: usize) -> Drift {
        if self == DriftMode::Off || position % 2 == 1 {
            return Drift::None;
        }
        match (self, position % 4 == 0) {
            (DriftMode::First, true) => Drift::FirstFail,
            (DriftMode::First, false) => Drift::FirstStale,
            (_, true) => Drift::AlwaysFail,
            (_, false) => Drift::AlwaysStale,
        }
    }
}

/// What to run.
pub struct QaOptions {
    /// The sessions (from [`crate::input`]).
    pub sessions: Vec<Session>,
    /// Where reports go (none: stdout only).
    pub output: Option<PathBuf>,
    /// The state directory.
    pub state_dir: PathBuf,
    /// Where batches are published (none: versions are kept in the state only).
    pub target: Option<Target>,
    /// The search index (default `<state>/search.db`).
    pub index: Option<PathBuf>,
    /// "Now", epoch ms.
    pub now_ms: f64,
    /// Moderators' decisions.
    pub decisions: Decisions,
    /// Simulated search drift.
    pub drift: DriftMode,
    /// Simulated storage outage halfway through each batch.
    pub storage_outage: bool,
    /// The gate's thresholds.
    pub gate: GateConfig,
    /// The cadence.
    pub cadence: CadenceConfig,
}

/// The outcome of a run.
#[derive(Debug, Clone)]
pub struct QaResult {
    /// `closure`, `replay` or `mixed`.
    pub mode: String,
    /// One report per session (the `<sessionId>-offline-qa.json` objects).
    pub reports: Vec<Value>,
    /// Files written.
    pub files: Vec<PathBuf>,
    /// The rollup object.
    pub rollup: Value,
    /// Every contradiction found.
    pub findings: Vec<Finding>,
    /// Whether the run fails its check (exit 1): something held, unpublished, out of sync, left
    /// queued, or a finding.
    pub failed: bool,
    /// The summary printed on stdout.
    pub summary: Value,
}

/// A current-thread runtime for the writers.
pub(crate) fn runtime() -> Result<tokio::runtime::Runtime, QaError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| QaError::Usage(format!("cannot start the async runtime: {e}")))
}

/// One session's result before the drain.
struct Processed {
    session_id: String,
    mode: Mode,
    mention_count: u64,
    delta_count: u64,
    summary: Summary,
    deltas: Vec<Value>,
    schedule: Value,
    status: &'static str,
    held: bool,
    published: Option<Published>,
    plan: Vec<String>,
    before: Vec<Job>,
    findings: Vec<Finding>,
    recorded: Option<serde_json::Map<String, Value>>,
    error: Option<String>,
}

/// Runs the batch. `done` counts finished sessions (for a progress bar).
pub fn run(
    options: QaOptions,
    telemetry: &Telemetry,
    done: &AtomicU64,
) -> Result<QaResult, QaError> {
    let mut state = State::open(&options.state_dir)?;
    let index_path = options
        .index
        .clone()
        .unwrap_or_else(|| options.state_dir.join(INDEX_DB));
    let mut index = SearchIndex::open(&index_path)?;
    let runtime = runtime()?;
    let now = options.now_ms;
    let mut processed = Vec::with_capacity(options.sessions.len());
    for session in &options.sessions {
        let p = process(
            session, &options, &mut state, &mut index, &runtime, telemetry,
        )?;
        processed.push(p);
        done.fetch_add(1, Ordering::Relaxed);
    }
    let drained = drain_open(&mut state, &mut index, now, false, telemetry)?;
    let mut drained_by: HashMap<&str, Vec<&Job>> = HashMap::new();
    for j in &drained {
        drained_by.entry(j.session_id.as_str()).or_default().push(j);
    }
    let mut reports = Vec::with_capacity(processed.len());
    let mut findings = Vec::new();
    let mut rollup = Rollup::default();
    let mut failed = false;
    let mut sessions = Vec::new();
    let mut modes: Vec<&str> = Vec::new();
    for p in &processed {
        let jobs: Vec<Job> = state
            .session_jobs(&p.session_id)?
            .into_iter()
            .filter(|j| p.plan.contains(&j.job_id))
            .collect();
        let mine = drained_by
            .get(p.session_id.as_str())
            .cloned()
            .unwrap_or_default();
        let in_sync = jobs.iter().all(|j| j.status == JobStatus::Done);
        let dead = jobs
            .iter()
            .filter(|j| j.status == JobStatus::OutOfSync)
            .count();
        let pending = jobs
            .iter()
            .filter(|j| j.status == JobStatus::Pending)
            .count();
        let search_status = if p.held {
            "held"
        } else if p.plan.is_empty() {
            "not_applicable"
        } else if dead > 0 {
            "searchOutOfSync"
        } else if pending > 0 {
            "drift_pending"
        } else {
            "in_sync"
        };
        let after = summary(&jobs);
        let ok = matches!(p.status, "published" | "nothing_to_publish")
            && in_sync
            && p.findings.is_empty();
        failed |= !ok;
        rollup.add(p.mention_count, p.delta_count, &p.summary);
        findings.extend(p.findings.iter().cloned());
        if !modes.contains(&p.mode.as_str()) {
            modes.push(p.mode.as_str());
        }
        let storage = p.published.as_ref().map(|pb| {
            json!({
                "target": options.target.as_ref().map(|t| t.spec.clone()),
                "status": pb.status,
                "version": pb.version,
                "pointerVersion": pb.pointer,
                "objects": pb.objects,
                "error": pb.error,
                "versions": versions(&state, &p.session_id).unwrap_or_default(),
            })
        });
        let moderation = p.summary.to_json();
        let mut report = json!({
            "sessionId": p.session_id,
            "mode": p.mode.as_str(),
            "generatedAt": iso(now),
            "summary": p.recorded.as_ref().and_then(|r| r.get("summary").cloned()),
            "entityExtraction": {
                "mentionCount": p.mention_count,
                "mentions": p.recorded.as_ref()
                    .and_then(|r| r.get("entityExtraction").and_then(|e| e.get("mentions")).cloned())
                    .unwrap_or(json!([])),
            },
            "worldDeltas": { "deltaCount": p.delta_count, "deltas": p.deltas },
            "publishing": {
                "status": p.status,
                "schedule": p.schedule,
                "preparedBatch": p.published.as_ref().filter(|pb| pb.ok()).map(|pb| json!({
                    "batchId": crate::cadence::batch_id(&p.session_id),
                    "version": pb.version,
                    "objects": pb.objects,
                })),
                "searchPlan": {
                    "jobs": jobs.iter().map(Job::to_json).collect::<Vec<_>>(),
                    "status": search_status,
                    "retrySummary": after,
                },
                "moderation": moderation,
                "retryQueue": {
                    "status": after["status"],
                    "beforeDrain": summary(&p.before),
                    "afterDrain": after,
                    "drainedJobs": mine.iter().map(|j| j.to_json()).collect::<Vec<_>>(),
                },
                "storage": storage,
                "error": p.error,
            },
            "moderation": moderation,
            "findings": p.findings,
        });
        if let Some(r) = &p.recorded {
            report["replay"] = json!({
                "source": "offline-qa report of the old harness",
                "recordedPublishingStatus": r.get("publishing").and_then(|x| x.get("status")),
                "recordedSearchPlanStatus": r.get("publishing").and_then(|x| x.get("searchPlan")).and_then(|x| x.get("status")),
                "recordedRollup": r.iter().find(|(k, _)| k.starts_with("_rollup")).map(|(_, v)| v.clone()),
                "deltasPresent": p.deltas.len(),
            });
        }
        sessions.push(json!({
            "sessionId": p.session_id,
            "mode": p.mode.as_str(),
            "publishingStatus": p.status,
            "moderationStatus": p.schedule["moderation"]["status"],
            "pendingModeration": p.schedule["moderation"]["pendingCount"],
            "searchStatus": search_status,
            "version": p.published.as_ref().map(|pb| pb.version),
            "jobs": jobs.len(),
            "pendingJobs": pending,
            "deadLettered": dead,
            "findings": p.findings.len(),
        }));
        reports.push(report);
    }
    // A drift whose retry time passed with nobody re-executing it.
    for j in state.open_jobs()? {
        if j.status == JobStatus::Pending && j.retry_at_ms.is_some_and(|t| t < now) {
            failed = true;
            findings.push(Finding::new(
                "drift_never_retried",
                &j.session_id,
                "retryQueue",
                format!(
                    "search job `{}` was due at {} and was not re-executed",
                    j.job_id,
                    iso(j.retry_at_ms.unwrap_or(now))
                ),
            ));
        }
    }
    let queue_all = state.open_jobs()?;
    failed |= !findings.is_empty() || !queue_all.is_empty();
    let mode = match modes.as_slice() {
        [one] => one.to_string(),
        [] => "closure".into(),
        _ => "mixed".into(),
    };
    let rollup_json = rollup.to_json();
    let mut files = Vec::new();
    if let Some(dir) = &options.output {
        std::fs::create_dir_all(dir).map_err(|error| QaError::Output {
            path: dir.clone(),
            error,
        })?;
        for r in &reports {
            let sid = r["sessionId"].as_str().unwrap_or("session");
            let path = dir.join(format!("{}-offline-qa.json", safe(sid)));
            write_json(&path, r)?;
            files.push(path);
        }
        let path = dir.join(format!("offline-qa-batch-rollup-{}.json", file_stamp(now)));
        let mut body = rollup_json.clone();
        body["generatedAt"] = json!(iso(now));
        body["mode"] = json!(mode);
        body["findings"] = json!(findings.len());
        write_json(&path, &body)?;
        files.push(path);
    }
    let result_summary = json!({
        "mode": mode,
        "generatedAt": iso(now),
        "status": if failed { "failed" } else { "ok" },
        "sessions": sessions,
        "rollup": rollup_json,
        "retryQueue": summary(&queue_all),
        "drainedJobs": drained.iter().map(Job::to_json).collect::<Vec<_>>(),
        "findings": findings,
        "reports": files.iter().map(|f| f.display().to_string()).collect::<Vec<_>>(),
    });
    Ok(QaResult {
        mode,
        reports,
        files,
        rollup: rollup_json,
        findings,
        failed,
        summary: result_summary,
    })
}

fn write_json(path: &std::path::Path, value: &Value) -> Result<(), QaError> {
    let mut bytes = serde_json::to_vec_pretty(value).unwrap_or_default();
    bytes.push(b'\n');
    playtrace_export::atomic::write_atomic(path, &bytes).map_err(|error| QaError::Output {
        path: path.to_path_buf(),
        error,
    })
}

fn process(
    session: &Session,
    options: &QaOptions,
    state: &mut State,
    index: &mut SearchIndex,
    runtime: &tokio::runtime::Runtime,
    telemetry: &Telemetry,
) -> Result<Processed, QaError> {
    let started = Instant::now();
    let sid = session.session_id.as_str();
    let now = options.now_ms;
    let job_id = format!("session-closure-{sid}");
    telemetry.emit(
        "offline.sessionClosure.queued",
        sid,
        vec![("jobId", job_id.clone().into())],
    );
    telemetry.emit(
        "offline.sessionClosure.started",
        sid,
        vec![("jobId", job_id.clone().into())],
    );
    let mut findings = match &session.recorded {
        Some(o) => replay::check(session, o, &options.gate, &options.cadence),
        None => Vec::new(),
    };
    findings.extend(unpointed_versions(state, sid)?);
    // The gate.
    let mut computed = Summary::default();
    let mut deltas = Vec::with_capacity(session.deltas.len());
    let mut publishable = Vec::new();
    let mut undecided = 0u64;
    let mut decided_present = 0u64;
    for d in &session.deltas {
        let reasons = gate::reasons(d, &options.gate);
        computed.add(&reasons);
        let verdict = if reasons.is_empty() {
            None
        } else {
            options.decisions.verdict(sid, &d.delta_id)
        };
        let status = match (reasons.is_empty(), verdict) {
            (true, _) => "ready",
            (false, Some(Verdict::Approve)) => "approved",
            (false, Some(Verdict::Reject)) => "rejected",
            (false, None) => "needs-review",
        };
        if !reasons.is_empty() {
            if verdict.is_some() {
                decided_present += 1
            } else {
                undecided += 1
            }
        }
        if matches!(status, "ready" | "approved") {
            publishable.push(d);
        }
        let mut raw = d.raw.clone();
        raw.insert("confidenceTier".into(), json!(gate::tier(d.confidence)));
        raw.insert(
            "safety".into(),
            json!({
                "requiresModeration": !reasons.is_empty(),
                "reasons": reasons.iter().map(|r| r.as_str()).collect::<Vec<_>>(),
                "capabilityViolations": gate::violations(d, &options.gate),
                "confidence": gate::tier(d.confidence),
            }),
        );
        raw.insert("status".into(), json!(status));
        deltas.push(Value::Object(raw));
    }
    let (summary_m, pending, decision_id) = match &session.recorded {
        Some(o) => {
            let rec = replay::recorded(o);
            let held = replay::recorded_held(o, &rec);
            let pending = match options.decisions.session_verdict(sid) {
                Some(_) => 0,
                None if held => rec.pending.max(1).saturating_sub(decided_present),
                None => 0,
            };
            (
                rec.summary,
                pending,
                options.decisions.decision_id.clone().or(rec.decision_id),
            )
        }
        None => (computed, undecided, options.decisions.decision_id.clone()),
    };
    let held = pending > 0;
    let moderation_status = if !summary_m.requires_moderation {
        "not_required"
    } else if held {
        "awaiting_review"
    } else {
        "decided"
    };
    let times = schedule(session.closed_at, &options.cadence);
    let mut published = None;
    let mut plan = Vec::new();
    let mut before = Vec::new();
    let mut error = None;
    let (status, batch_status, notes) =
        if held {
            telemetry.emit("admin.alert", sid, vec![
            ("severity", "high".into()),
            ("category", "moderation".into()),
            ("reason", "world_delta_requires_moderation".into()),
            ("data", json!({
                "pendingCount": pending,
                "deltaCount": session.delta_count,
                "reasons": summary_m.reasons.iter().map(|r| r.as_str()).collect::<Vec<_>>(),
                "batchId": crate::cadence::batch_id(sid),
            })),
        ]);
            (
                "awaiting_moderation",
                "awaiting_moderation",
                Some("moderation_gate_pending"),
            )
        } else {
            let items = bundles(sid, &publishable);
            if items.is_empty() {
                (
                    "nothing_to_publish",
                    "skipped",
                    Some("no_publishable_deltas"),
                )
            } else {
                let mut objects: Vec<(String, Vec<u8>)> = items
                    .iter()
                    .map(|b| {
                        (
                            b.object_name(),
                            serde_json::to_vec_pretty(&b.json).unwrap_or_default(),
                        )
                    })
                    .collect();
                let manifest = json!({
                    "sessionId": sid,
                    "batchId": crate::cadence::batch_id(sid),
                    "objects": objects.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>(),
                });
                objects.push((
                    "manifest.json".into(),
                    serde_json::to_vec_pretty(&manifest).unwrap_or_default(),
                ));
                let pb = runtime.block_on(publish(
                    state,
                    options.target.as_ref(),
                    sid,
                    objects,
                    options.storage_outage,
                    now,
                ))?;
                let ok = pb.ok();
                if ok {
                    let mut fresh = Vec::new();
                    for (i, b) in items.iter().enumerate() {
                        let id = b.job_id();
                        plan.push(id.clone());
                        match state.job(&id)? {
                            Some(j) if j.expected_version == pb.version => before.push(j),
                            _ => fresh.push(Job {
                                job_id: id,
                                session_id: sid.to_string(),
                                index: b.index,
                                doc_id: b.id.clone(),
                                expected_version: pb.version,
                                title: b.title.clone(),
                                body: b.body.clone(),
                                drift: options.drift.for_job(i),
                                attempts: 0,
                                status: JobStatus::Pending,
                                retry_at_ms: None,
                                last_error: None,
                            }),
                        }
                    }
                    for j in crate::sync::attempt(state, index, fresh, now)? {
                        report_drift(telemetry, &j);
                        before.push(j);
                    }
                    before.sort_by(|a, b| a.job_id.cmp(&b.job_id));
                } else {
                    error = pb.error.clone();
                    telemetry.emit(
                        "offline.sessionClosure.failed",
                        sid,
                        vec![
                            ("jobId", job_id.clone().into()),
                            ("error", pb.error.clone().unwrap_or_default().into()),
                            ("attempts", 1.into()),
                        ],
                    );
                }
                published = Some(pb);
                if ok {
                    ("published", "published", None)
                } else {
                    ("publish_failed", "publish_failed", Some("storage_error"))
                }
            }
        };
    if status != "publish_failed" {
        telemetry.emit(
            "offline.sessionClosure.completed",
            sid,
            vec![
                ("jobId", job_id.into()),
                ("durationMs", (started.elapsed().as_millis() as u64).into()),
                ("status", status.into()),
            ],
        );
    }
    let m = ModerationState {
        status: moderation_status,
        pending,
        summary: &summary_m,
        delta_count: session.delta_count,
        decision_id: decision_id.as_deref(),
    };
    let schedule_v = schedule_json(sid, &times, &m, batch_status, notes, now);
    Ok(Processed {
        session_id: sid.to_string(),
        mode: session.mode,
        mention_count: session.mention_count,
        delta_count: session.delta_count,
        summary: summary_m,
        deltas,
        schedule: schedule_v,
        status,
        held,
        published,
        plan,
        before,
        findings,
        recorded: session.recorded.clone(),
        error,
    })
}

/// Versions an earlier run wrote whole but never pointed to (the pointer write failed or the
/// process died between the two).
fn unpointed_versions(state: &State, sid: &str) -> Result<Vec<Finding>, QaError> {
    let pointer = pointer_version(state, sid)?.unwrap_or(0);
    Ok(versions(state, sid)?
        .into_iter()
        .filter(|v| v["status"] == "written" && v["version"].as_i64().unwrap_or(0) > pointer)
        .map(|v| {
            Finding::new(
                "version_without_pointer",
                sid,
                "storage",
                format!(
                    "version {} was published whole but the `current` pointer still names {}; this run completes it",
                    v["version"],
                    if pointer == 0 { "nothing".to_string() } else { format!("v{pointer}") }
                ),
            )
        })
        .collect())
}
