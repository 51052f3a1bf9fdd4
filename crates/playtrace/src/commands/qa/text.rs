//! The text output of `playtrace qa` and `qa drain`.

use playtrace_qa::DrainResult;
use serde_json::Value;
use std::fmt::Write;

fn n(v: &Value) -> u64 {
    v.as_u64().unwrap_or(0)
}

fn s(v: &Value) -> &str {
    v.as_str().unwrap_or("-")
}

/// A run's summary for a terminal.
pub fn batch(summary: &Value) -> String {
    let mut out = String::new();
    let sessions = summary["sessions"].as_array().cloned().unwrap_or_default();
    let _ = writeln!(
        out,
        "playtrace qa: {} session(s), mode {}, at {}",
        sessions.len(),
        s(&summary["mode"]),
        s(&summary["generatedAt"])
    );
    for x in sessions.iter().take(50) {
        let _ = writeln!(
            out,
            "  {:<28} {:<8} {:<20} moderation {} ({} pending)  search {} ({} jobs, {} queued, {} dead)",
            s(&x["sessionId"]),
            s(&x["mode"]),
            s(&x["publishingStatus"]),
            s(&x["moderationStatus"]),
            n(&x["pendingModeration"]),
            s(&x["searchStatus"]),
            n(&x["jobs"]),
            n(&x["pendingJobs"]),
            n(&x["deadLettered"]),
        );
    }
    if sessions.len() > 50 {
        let _ = writeln!(
            out,
            "  ... and {} more (--format json lists all)",
            sessions.len() - 50
        );
    }
    let r = &summary["rollup"];
    let _ = writeln!(
        out,
        "Rollup: {} sessions, {} mentions, {} deltas; with moderation {}, capability violations {}, conflicts {}, low confidence {}",
        n(&r["totalSessions"]),
        n(&r["totalMentions"]),
        n(&r["totalDeltas"]),
        n(&r["sessionsWithModeration"]),
        n(&r["sessionsWithCapabilityViolations"]),
        n(&r["sessionsWithConflicts"]),
        n(&r["sessionsWithLowConfidence"]),
    );
    let q = &summary["retryQueue"];
    let _ = writeln!(
        out,
        "Retry queue: {} pending (next retry {}), {} dead-lettered (searchOutOfSync)",
        n(&q["pendingCount"]),
        s(&q["nextRetryAt"]),
        n(&q["deadLetterCount"]),
    );
    let findings = summary["findings"].as_array().cloned().unwrap_or_default();
    let _ = writeln!(out, "Findings: {}", findings.len());
    for f in &findings {
        let _ = writeln!(
            out,
            "  - [{}] {}: {}",
            s(&f["code"]),
            s(&f["sessionId"]),
            s(&f["message"])
        );
    }
    for path in summary["reports"].as_array().into_iter().flatten() {
        let _ = writeln!(out, "Wrote {}", s(path));
    }
    let _ = writeln!(
        out,
        "Result: {}",
        if summary["status"] == "ok" {
            "everything published and in sync"
        } else {
            "NOT CLEAN (held, unpublished, out of sync, queued, or findings)"
        }
    );
    out
}

/// A drain's result for a terminal.
pub fn drain(result: &DrainResult) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Drained {} job(s): before {} pending; after {} pending, {} dead-lettered",
        result.drained.len(),
        n(&result.before["pendingCount"]),
        result.pending,
        result.dead_lettered
    );
    for j in &result.drained {
        let _ = writeln!(
            out,
            "  {:<40} attempt {} -> {}{}",
            j.job_id,
            j.attempts,
            j.status.as_str(),
            j.last_error
                .as_deref()
                .map_or(String::new(), |e| format!(" ({e})"))
        );
    }
    out
}
