//! One session through the steps PlayTrace owns: the replay checks (old reports), the gate and
//! the decisions, the cadence, the moderation hold, publishing and the first attempt of each
//! search job.

use crate::bundles::bundles;
use crate::cadence::schedule;
use crate::decisions::Verdict;
use crate::drain::report_drift;
use crate::findings::Finding;
use crate::gate::{self, Summary};
use crate::index::SearchIndex;
use crate::input::{Mode, Session};
use crate::options::QaOptions;
use crate::publish::{pointer_version, publish, versions, Published};
use crate::queue::{Job, JobStatus};
use crate::replay;
use crate::report::{schedule_json, ModerationState, Timings};
use crate::state::State;
use crate::telemetry::Telemetry;
use crate::QaError;
use serde_json::{json, Value};
use std::time::Instant;

/// One session's result before the drain.
pub(crate) struct Processed {
    pub session_id: String,
    pub mode: Mode,
    pub mention_count: u64,
    pub delta_count: u64,
    pub summary: Summary,
    pub deltas: Vec<Value>,
    pub schedule: Value,
    pub status: &'static str,
    pub held: bool,
    pub published: Option<Published>,
    pub plan: Vec<String>,
    pub before: Vec<Job>,
    pub findings: Vec<Finding>,
    pub recorded: Option<serde_json::Map<String, Value>>,
    pub error: Option<String>,
}

pub(crate) fn process(
    session: &Session,
    options: &QaOptions,
    state: &mut State,
    index: &mut SearchIndex,
    runtime: &tokio::runtime::Runtime,
    telemetry: &Telemetry,
    timings: &mut Timings,
) -> Result<Processed, QaError> {
    let started = Instant::now();
    let step = started;
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
                timings.moderation += step.elapsed().as_secs_f64();
                let step = Instant::now();
                let pb = runtime.block_on(publish(
                    state,
                    options.target.as_ref(),
                    sid,
                    objects,
                    options.storage_outage,
                    now,
                ))?;
                timings.publish += step.elapsed().as_secs_f64();
                let step = Instant::now();
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
                    timings.search_sync += step.elapsed().as_secs_f64();
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
