//! One QA run over a batch: every session through the gate, the cadence, publishing and search
//! sync; then one drain of the jobs that are due; then reports, the rollup and the findings.

use crate::bundles::safe;
use crate::drain::drain_open;
use crate::findings::Finding;
use crate::index::SearchIndex;
use crate::options::QaOptions;
use crate::publish::versions;
use crate::queue::{summary, Job, JobStatus};
use crate::report::{file_stamp, Rollup, Timings};
use crate::session::{finish, prepare, CHUNK};
use crate::state::{State, INDEX_DB};
use crate::telemetry::Telemetry;
use crate::{iso, runtime, QaError};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

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
    let mut timings = Timings::default();
    let mut processed = Vec::with_capacity(options.sessions.len());
    for chunk in options.sessions.chunks(CHUNK) {
        let step = std::time::Instant::now();
        let prepared = chunk
            .iter()
            .map(|s| prepare(s, &options, &state, telemetry))
            .collect::<Result<Vec<_>, _>>()?;
        timings.moderation += step.elapsed().as_secs_f64();
        processed.extend(finish(
            prepared,
            &options,
            &mut state,
            &mut index,
            &runtime,
            telemetry,
            &mut timings,
        )?);
        done.fetch_add(chunk.len() as u64, Ordering::Relaxed);
    }
    let step = std::time::Instant::now();
    let drained = drain_open(&mut state, &mut index, now, false, telemetry)?;
    timings.drain += step.elapsed().as_secs_f64();
    let step = std::time::Instant::now();
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
    timings.reports += step.elapsed().as_secs_f64();
    let result_summary = json!({
        "timings": timings.to_json(),
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
