//! Replaying an old harness report: its recorded moderation figures are trusted (its delta list
//! was trimmed), and its state is checked for contradictions no check of the old tool caught.

use crate::cadence::{schedule, CadenceConfig};
use crate::findings::Finding;
use crate::gate::{self, GateConfig, Reason, Summary};
use crate::input::Session;
use playtrace_core::time::parse_rfc3339_ms;
use serde_json::{Map, Value};

/// The moderation state the old tool recorded.
#[derive(Debug, Clone, Default)]
pub(crate) struct Recorded {
    pub summary: Summary,
    pub pending: u64,
    pub status: String,
    pub decision_id: Option<String>,
}

fn at<'a>(o: &'a Map<String, Value>, path: &[&str]) -> Option<&'a Value> {
    let mut v = o.get(path[0])?;
    for k in &path[1..] {
        v = v.get(k)?;
    }
    Some(v)
}

fn u(o: &Map<String, Value>, path: &[&str]) -> Option<u64> {
    at(o, path).and_then(Value::as_u64)
}

fn s<'a>(o: &'a Map<String, Value>, path: &[&str]) -> Option<&'a str> {
    at(o, path).and_then(Value::as_str)
}

/// The recorded moderation figures (top-level `moderation`, else `publishing.moderation`).
pub(crate) fn recorded(o: &Map<String, Value>) -> Recorded {
    let m = if o.get("moderation").is_some_and(Value::is_object) {
        "moderation"
    } else {
        "publishing"
    };
    let base: &[&str] = if m == "moderation" {
        &["moderation"]
    } else {
        &["publishing", "moderation"]
    };
    let get = |k: &str| {
        let mut p = base.to_vec();
        p.push(k);
        u(o, &p).unwrap_or(0)
    };
    let mut reasons_path = base.to_vec();
    reasons_path.push("reasons");
    let mut reasons: Vec<Reason> = at(o, &reasons_path)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .filter_map(|r| match r {
                    "capability_violation" => Some(Reason::CapabilityViolation),
                    "conflict_detected" => Some(Reason::ConflictDetected),
                    "low_confidence" => Some(Reason::LowConfidence),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    reasons.sort();
    reasons.dedup();
    let mut rm = base.to_vec();
    rm.push("requiresModeration");
    let sched = ["publishing", "schedule", "moderation"];
    Recorded {
        summary: Summary {
            requires_moderation: at(o, &rm).and_then(Value::as_bool).unwrap_or(false),
            reasons,
            capability_violations: get("capabilityViolations"),
            conflict_detections: get("conflictDetections"),
            low_confidence_findings: get("lowConfidenceFindings"),
        },
        pending: u(o, &[sched[0], sched[1], sched[2], "pendingCount"]).unwrap_or(0),
        status: s(o, &[sched[0], sched[1], sched[2], "status"])
            .unwrap_or("")
            .to_string(),
        decision_id: s(o, &[sched[0], sched[1], sched[2], "moderationDecisionId"])
            .map(String::from),
    }
}

/// Whether the recorded state says the batch is held for moderation.
pub(crate) fn recorded_held(o: &Map<String, Value>, rec: &Recorded) -> bool {
    let batch_waiting = at(o, &["publishing", "schedule", "batches"])
        .and_then(Value::as_array)
        .is_some_and(|b| {
            b.iter()
                .any(|b| b.get("status").and_then(Value::as_str) == Some("awaiting_moderation"))
        });
    batch_waiting
        || (rec.summary.requires_moderation && rec.pending > 0 && rec.decision_id.is_none())
}

/// The contradictions in a recorded report.
pub(crate) fn check(
    session: &Session,
    o: &Map<String, Value>,
    gate_config: &GateConfig,
    cadence: &CadenceConfig,
) -> Vec<Finding> {
    let id = session.session_id.as_str();
    let mut out = Vec::new();
    let rec = recorded(o);
    let held = recorded_held(o, &rec);
    let publishing = s(o, &["publishing", "status"]).unwrap_or("");
    if held && publishing == "published" {
        out.push(Finding::new(
            "published_while_held",
            id,
            "publishing.status, publishing.schedule.batches[].status",
            format!(
                "publishing.status says `published` while the batch is awaiting moderation (moderation `{}`, {} pending); nothing may be published before a decision",
                rec.status, rec.pending
            ),
        ));
    }
    let jobs = at(o, &["publishing", "searchPlan", "jobs"])
        .and_then(Value::as_array)
        .map_or(0, Vec::len);
    if held && jobs > 0 {
        out.push(Finding::new(
            "search_jobs_for_held_batch",
            id,
            "publishing.searchPlan.jobs",
            format!("{jobs} search jobs were planned for a batch held for moderation"),
        ));
    }
    if held && s(o, &["publishing", "searchPlan", "status"]) == Some("published") {
        out.push(Finding::new(
            "search_published_while_held",
            id,
            "publishing.searchPlan.status",
            "publishing.searchPlan.status says `published` for a batch held for moderation; no search job may run while it is held".into(),
        ));
    }
    // A drift that left the queue without being re-executed.
    let ids = |path: &[&str]| -> Vec<String> {
        at(o, path)
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|j| j.get("jobId").and_then(Value::as_str).map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    };
    let before = ids(&["publishing", "retryQueue", "beforeDrain", "jobs"]);
    let after = ids(&["publishing", "retryQueue", "afterDrain", "jobs"]);
    let drained = at(o, &["publishing", "retryQueue", "drainedJobs"])
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|j| {
                    j.get("jobId")
                        .or(Some(j))
                        .and_then(Value::as_str)
                        .map(String::from)
                })
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    for job in &before {
        if !after.contains(job) && !drained.contains(job) {
            out.push(Finding::new(
                "drift_never_retried",
                id,
                "publishing.retryQueue",
                format!("search job `{job}` left the retry queue without being re-executed (not in drainedJobs)"),
            ));
        }
    }
    // Counts that must agree.
    let counts = [
        (
            "worldDeltas.deltaCount",
            u(o, &["worldDeltas", "deltaCount"]),
        ),
        (
            "publishing.schedule.moderation.deltaCount",
            u(o, &["publishing", "schedule", "moderation", "deltaCount"]),
        ),
    ];
    let mut batch_counts: Vec<(String, Option<u64>)> =
        counts.iter().map(|(p, c)| (p.to_string(), *c)).collect();
    if let Some(batches) = at(o, &["publishing", "schedule", "batches"]).and_then(Value::as_array) {
        for (i, b) in batches.iter().enumerate() {
            batch_counts.push((
                format!("publishing.schedule.batches[{i}].deltaCount"),
                b.get("deltaCount").and_then(Value::as_u64),
            ));
        }
    }
    let known: Vec<&(String, Option<u64>)> =
        batch_counts.iter().filter(|(_, c)| c.is_some()).collect();
    if let Some((first_path, first)) = known.first() {
        for (path, c) in &known[1..] {
            if c != first {
                out.push(Finding::new(
                    "count_mismatch",
                    id,
                    path,
                    format!(
                        "{path} is {} but {first_path} is {}",
                        c.unwrap_or(0),
                        first.unwrap_or(0)
                    ),
                ));
            }
        }
    }
    if rec.pending > session.delta_count {
        out.push(Finding::new(
            "count_mismatch",
            id,
            "publishing.schedule.moderation.pendingCount",
            format!(
                "{} deltas pending moderation out of {}",
                rec.pending, session.delta_count
            ),
        ));
    }
    // The gate over the deltas that are present.
    for (i, d) in session.deltas.iter().enumerate() {
        let ours: Vec<&str> = gate::reasons(d, gate_config)
            .iter()
            .map(|r| r.as_str())
            .collect();
        let mut theirs: Vec<&str> = d
            .raw
            .get("safety")
            .and_then(|s| s.get("reasons"))
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        theirs.sort();
        let mut ours_sorted = ours.clone();
        ours_sorted.sort();
        if ours_sorted != theirs {
            out.push(Finding::new(
                "gate_disagrees",
                id,
                &format!("worldDeltas.deltas[{i}].safety.reasons"),
                format!(
                    "delta `{}` was recorded with reasons {theirs:?}; the gate finds {ours:?}",
                    d.delta_id
                ),
            ));
        }
    }
    // The cadence's times.
    let ours = schedule(session.closed_at, cadence);
    let time = |path: &[&str]| s(o, path).and_then(parse_rfc3339_ms);
    let mut compare = |path: &str, recorded: Option<f64>, expected: f64| {
        if let Some(r) = recorded {
            if (r - expected).abs() > 0.5 {
                out.push(Finding::new(
                    "cadence_mismatch",
                    id,
                    path,
                    format!(
                        "{path} is {} but the cadence gives {}",
                        crate::iso(r),
                        crate::iso(expected)
                    ),
                ));
            }
        }
    };
    compare(
        "publishing.schedule.moderation.startAt",
        time(&["publishing", "schedule", "moderation", "startAt"]),
        ours.moderation_start,
    );
    compare(
        "publishing.schedule.moderation.endAt",
        time(&["publishing", "schedule", "moderation", "endAt"]),
        ours.moderation_end,
    );
    if let Some(b) = at(o, &["publishing", "schedule", "batches"]).and_then(Value::as_array) {
        for (i, b) in b.iter().enumerate() {
            if b.get("type").and_then(Value::as_str) == Some("hourly") {
                compare(
                    &format!("publishing.schedule.batches[{i}].runAt"),
                    b.get("runAt")
                        .and_then(Value::as_str)
                        .and_then(parse_rfc3339_ms),
                    ours.batch_run_at,
                );
            }
        }
    }
    compare(
        "publishing.schedule.digest.runAt",
        time(&["publishing", "schedule", "digest", "runAt"]),
        ours.digest_run_at,
    );
    if let Some(e) =
        at(o, &["publishing", "schedule", "moderation", "escalations"]).and_then(Value::as_array)
    {
        for (i, (r, x)) in e.iter().zip(&ours.escalations).enumerate() {
            compare(
                &format!("publishing.schedule.moderation.escalations[{i}]"),
                r.as_str().and_then(parse_rfc3339_ms),
                *x,
            );
        }
    }
    out
}
