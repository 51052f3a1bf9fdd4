//! The sessions of a batch through the steps PlayTrace owns, a chunk at a time: the replay
//! checks (old reports), the gate and the decisions, the cadence and the moderation hold for
//! each session ([`prepare`]); then publishing of the chunk's released batches and the first
//! attempt of their search jobs ([`finish`]), so a chunk costs a handful of fsyncs rather
//! than a handful per session.

use crate::bundles::{bundles, Bundle};
use crate::cadence::{schedule, Schedule};
use crate::decisions::Verdict;
use crate::drain::report_drift;
use crate::findings::Finding;
use crate::gate::{self, Summary};
use crate::index::SearchIndex;
use crate::input::{Mode, Session};
use crate::options::QaOptions;
use crate::publish::{pointer_version, publish_many, versions, Objects, Published};
use crate::queue::{Job, JobStatus};
use crate::replay;
use crate::report::{schedule_json, ModerationState, Timings};
use crate::state::State;
use crate::telemetry::Telemetry;
use crate::QaError;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::time::Instant;

/// Sessions published and synced together.
pub(crate) const CHUNK: usize = 16;

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

/// A session through the gate, waiting for publishing.
pub(crate) struct Prepared<'a> {
    session: &'a Session,
    started: Instant,
    job_id: String,
    findings: Vec<Finding>,
    deltas: Vec<Value>,
    summary: Summary,
    pending: u64,
    moderation_status: &'static str,
    decision_id: Option<String>,
    times: Schedule,
    items: Vec<Bundle>,
}

/// The gate, the decisions, the cadence and the hold of one session.
pub(crate) fn prepare<'a>(
    session: &'a Session,
    options: &QaOptions,
    state: &State,
    telemetry: &Telemetry,
) -> Result<Prepared<'a>, QaError> {
    let started = Instant::now();
    let sid = session.session_id.as_str();
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
    let items = if held {
        telemetry.emit(
            "admin.alert",
            sid,
            vec![
                ("severity", "high".into()),
                ("category", "moderation".into()),
                ("reason", "world_delta_requires_moderation".into()),
                (
                    "data",
                    json!({
                        "pendingCount": pending,
                        "deltaCount": session.delta_count,
                        "reasons": summary_m.reasons.iter().map(|r| r.as_str()).collect::<Vec<_>>(),
                        "batchId": crate::cadence::batch_id(sid),
                    }),
                ),
            ],
        );
        Vec::new()
    } else {
        bundles(sid, &publishable)
    };
    Ok(Prepared {
        session,
        started,
        job_id,
        findings,
        deltas,
        summary: summary_m,
        pending,
        moderation_status,
        decision_id,
        times,
        items,
    })
}

/// The objects of a released batch: its bundles and a manifest.
fn objects(sid: &str, items: &[Bundle]) -> Objects {
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
    objects
}

/// Publishes a chunk's released batches, runs the first attempt of their search jobs, and
/// sends each session's closing event.
pub(crate) fn finish(
    chunk: Vec<Prepared<'_>>,
    options: &QaOptions,
    state: &mut State,
    index: &mut SearchIndex,
    runtime: &tokio::runtime::Runtime,
    telemetry: &Telemetry,
    timings: &mut Timings,
) -> Result<Vec<Processed>, QaError> {
    let now = options.now_ms;
    let step = Instant::now();
    let released: Vec<usize> = (0..chunk.len())
        .filter(|i| chunk[*i].pending == 0 && !chunk[*i].items.is_empty())
        .collect();
    let batches: Vec<(String, Objects)> = released
        .iter()
        .map(|i| {
            let sid = &chunk[*i].session.session_id;
            (sid.clone(), objects(sid, &chunk[*i].items))
        })
        .collect();
    let results = runtime.block_on(publish_many(
        state,
        options.target.as_ref(),
        batches,
        options.storage_outage,
        now,
    ))?;
    let mut published: HashMap<usize, Published> = released.into_iter().zip(results).collect();
    timings.publish += step.elapsed().as_secs_f64();
    // The first attempt of every new search job of the chunk, together.
    let step = Instant::now();
    let mut plans: HashMap<usize, Vec<String>> = HashMap::new();
    let mut before: HashMap<String, Vec<Job>> = HashMap::new();
    let mut fresh = Vec::new();
    for (i, p) in chunk.iter().enumerate() {
        let Some(pb) = published.get(&i).filter(|pb| pb.ok()) else {
            continue;
        };
        let sid = p.session.session_id.as_str();
        for (k, b) in p.items.iter().enumerate() {
            let id = b.job_id();
            plans.entry(i).or_default().push(id.clone());
            match state.job(&id)? {
                Some(j) if j.expected_version == pb.version => {
                    before.entry(sid.to_string()).or_default().push(j)
                }
                _ => fresh.push(Job {
                    job_id: id,
                    session_id: sid.to_string(),
                    index: b.index,
                    doc_id: b.id.clone(),
                    expected_version: pb.version,
                    title: b.title.clone(),
                    body: b.body.clone(),
                    drift: options.drift.for_job(k),
                    attempts: 0,
                    status: JobStatus::Pending,
                    retry_at_ms: None,
                    last_error: None,
                }),
            }
        }
    }
    let documents: Vec<(&str, i64, &[Bundle])> = chunk
        .iter()
        .enumerate()
        .filter_map(|(i, p)| {
            let pb = published.get(&i).filter(|pb| pb.status == "published")?;
            Some((
                p.session.session_id.as_str(),
                pb.version,
                p.items.as_slice(),
            ))
        })
        .collect();
    crate::reindex::record_documents(state, &documents)?;
    for j in crate::sync::attempt(state, index, fresh, now)? {
        report_drift(telemetry, &j);
        before.entry(j.session_id.clone()).or_default().push(j);
    }
    timings.search_sync += step.elapsed().as_secs_f64();
    let mut out = Vec::with_capacity(chunk.len());
    for (i, p) in chunk.into_iter().enumerate() {
        let sid = p.session.session_id.as_str();
        let pb = published.remove(&i);
        let (status, batch_status, notes) = match &pb {
            _ if p.pending > 0 => (
                "awaiting_moderation",
                "awaiting_moderation",
                Some("moderation_gate_pending"),
            ),
            None => (
                "nothing_to_publish",
                "skipped",
                Some("no_publishable_deltas"),
            ),
            Some(pb) if pb.ok() => ("published", "published", None),
            Some(_) => ("publish_failed", "publish_failed", Some("storage_error")),
        };
        let error = pb.as_ref().and_then(|pb| pb.error.clone());
        if status == "publish_failed" {
            telemetry.emit(
                "offline.sessionClosure.failed",
                sid,
                vec![
                    ("jobId", p.job_id.clone().into()),
                    ("error", error.clone().unwrap_or_default().into()),
                    ("attempts", 1.into()),
                ],
            );
        } else {
            telemetry.emit(
                "offline.sessionClosure.completed",
                sid,
                vec![
                    ("jobId", p.job_id.clone().into()),
                    (
                        "durationMs",
                        (p.started.elapsed().as_millis() as u64).into(),
                    ),
                    ("status", status.into()),
                ],
            );
        }
        let m = ModerationState {
            status: p.moderation_status,
            pending: p.pending,
            summary: &p.summary,
            delta_count: p.session.delta_count,
            decision_id: p.decision_id.as_deref(),
        };
        let schedule_v = schedule_json(sid, &p.times, &m, batch_status, notes, now);
        let mut jobs = before.remove(sid).unwrap_or_default();
        jobs.sort_by(|a, b| a.job_id.cmp(&b.job_id));
        out.push(Processed {
            session_id: sid.to_string(),
            mode: p.session.mode,
            mention_count: p.session.mention_count,
            delta_count: p.session.delta_count,
            summary: p.summary,
            deltas: p.deltas,
            schedule: schedule_v,
            status,
            held: p.pending > 0,
            published: pb,
            plan: plans.remove(&i).unwrap_or_default(),
            before: jobs,
            findings: p.findings,
            recorded: p.session.recorded.clone(),
            error,
        });
    }
    Ok(out)
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
