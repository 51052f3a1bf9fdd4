//! The JSON a run writes: per session `<sessionId>-offline-qa.json` in the old harness's shape
//! (its keys and meanings, plus `mode`, `storage` and `findings`), the batch rollup
//! `offline-qa-batch-rollup-<ts>.json` with the old `_rollup` fields, and the summary on stdout.

use crate::cadence::{batch_id, Schedule};
use crate::gate::Summary;
use crate::iso;
use serde_json::{json, Value};

/// The moderation part of a session's state, for the schedule's `moderation` object.
pub(crate) struct ModerationState<'a> {
    pub status: &'a str,
    pub pending: u64,
    pub summary: &'a Summary,
    pub delta_count: u64,
    pub decision_id: Option<&'a str>,
}

/// The fixture's `publishing.schedule`.
pub(crate) fn schedule_json(
    session: &str,
    s: &Schedule,
    m: &ModerationState<'_>,
    batch_status: &str,
    batch_notes: Option<&str>,
    now: f64,
) -> Value {
    let reasons: Vec<&str> = m.summary.reasons.iter().map(|r| r.as_str()).collect();
    let moderation = json!({
        "startAt": iso(s.moderation_start),
        "endAt": iso(s.moderation_end),
        "escalations": s.escalations.iter().map(|t| iso(*t)).collect::<Vec<_>>(),
        "status": m.status,
        "pendingCount": m.pending,
        "reasons": reasons,
        "deltaCount": m.delta_count,
        "notes": Value::Null,
        "updatedAt": iso(now),
        "moderationDecisionId": m.decision_id,
    });
    let batch = batch_id(session);
    json!({
        "sessionClosedAt": iso(s.closed_at),
        "moderation": moderation,
        "batches": [{
            "batchId": batch,
            "type": "hourly",
            "runAt": iso(s.batch_run_at),
            "status": batch_status,
            "deltaCount": m.delta_count,
            "notes": batch_notes,
        }],
        "digest": { "runAt": iso(s.digest_run_at), "status": "scheduled" },
        "overrides": [],
        "sessionId": session,
        "history": [
            { "type": "cadence.initialised", "occurredAt": iso(now), "payload": {
                "sessionClosedAt": iso(s.closed_at),
                "moderationStartAt": iso(s.moderation_start),
                "loreBatchRunAt": iso(s.batch_run_at),
                "digestRunAt": iso(s.digest_run_at),
            }},
            { "type": "cadence.batch.status", "occurredAt": iso(now), "payload": {
                "batchId": batch, "status": batch_status,
                "metadata": { "deltaCount": m.delta_count, "notes": batch_notes },
            }},
            { "type": "cadence.moderation.status", "occurredAt": iso(now), "payload": {
                "status": m.status, "pendingCount": m.pending, "reasons": reasons,
                "deltaCount": m.delta_count, "moderationDecisionId": m.decision_id,
                "updatedAt": iso(now),
            }},
        ],
    })
}

/// The batch rollup's totals (the old `_rollup_<ts>` fields).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Rollup {
    pub total_sessions: u64,
    pub total_mentions: u64,
    pub total_deltas: u64,
    pub with_moderation: u64,
    pub with_capability_violations: u64,
    pub with_conflicts: u64,
    pub with_low_confidence: u64,
}

impl Rollup {
    pub fn add(&mut self, mentions: u64, deltas: u64, m: &Summary) {
        self.total_sessions += 1;
        self.total_mentions += mentions;
        self.total_deltas += deltas;
        self.with_moderation += u64::from(m.requires_moderation);
        self.with_capability_violations += u64::from(m.capability_violations > 0);
        self.with_conflicts += u64::from(m.conflict_detections > 0);
        self.with_low_confidence += u64::from(m.low_confidence_findings > 0);
    }

    pub fn to_json(&self) -> Value {
        json!({
            "totalSessions": self.total_sessions,
            "totalMentions": self.total_mentions,
            "totalDeltas": self.total_deltas,
            "sessionsWithModeration": self.with_moderation,
            "sessionsWithCapabilityViolations": self.with_capability_violations,
            "sessionsWithConflicts": self.with_conflicts,
            "sessionsWithLowConfidence": self.with_low_confidence,
        })
    }
}

/// The rollup file's timestamp part (`2025-11-05T04-53-56-862Z`, as the old tool named it).
pub(crate) fn file_stamp(now: f64) -> String {
    iso(now).replace([':', '.'], "-")
}

/// Seconds spent per step of a run (the benchmark's "share of time per step"). Moderation
/// covers the replay checks, the gate, the cadence and building the bundles.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Timings {
    pub moderation: f64,
    pub publish: f64,
    pub search_sync: f64,
    pub drain: f64,
    pub reports: f64,
}

impl Timings {
    pub fn to_json(&self) -> Value {
        json!({
            "moderationSeconds": self.moderation,
            "publishSeconds": self.publish,
            "searchSyncSeconds": self.search_sync,
            "drainSeconds": self.drain,
            "reportsSeconds": self.reports,
        })
    }
}
