//! [`ContestTracker`]: the hub PvP contest instrumentation of SPEC §3.
//!
//! Each call returns the [`Record`] the old instrumentation wrote for that moment, field for
//! field (the table in SPEC §3), with the same derivations: pending contests are keyed by
//! `hubId:roomId:contestKey` (unknown parts as `unknown`) and launched ones by contestId,
//! carrying createdAt, capacity, label, move and type forward; arming = startedAt − createdAt,
//! resolution = resolvedAt − startedAt, expired arming = expiredAt − createdAt (to the expiry,
//! not to the window end), all clamped at zero. Records are structured log lines
//! (`{level, message, ...fields}`), the dialect `playtrace monitor` and the collector read.

use crate::event::Event;
use serde_json::{json, Map, Value};
use std::collections::HashMap;

/// Log level of a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// Every lifecycle record but the two below.
    Info,
    /// Something degraded (timing fallback).
    Warn,
    /// A failure (workflow failed).
    Error,
}

impl Level {
    fn as_str(self) -> &'static str {
        match self {
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
        }
    }
}

/// One instrumentation record.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// The line's `level`: set by the event (SPEC §3's table), not by the caller.
    pub level: Level,
    /// Event name (`telemetry.contest.armed`).
    pub message: &'static str,
    /// The fields of SPEC §3's table for this event.
    pub fields: Map<String, Value>,
}

impl Record {
    /// The structured log line `{level, message, ...fields}`.
    pub fn to_json(&self) -> Value {
        let mut o = Map::new();
        o.insert("level".into(), json!(self.level.as_str()));
        o.insert("message".into(), json!(self.message));
        for (k, v) in &self.fields {
            o.insert(k.clone(), v.clone());
        }
        Value::Object(o)
    }

    /// As an event for [`crate::Client::emit`].
    pub fn to_event(&self) -> Event {
        let mut e = Event::new(self.message).attr("level", self.level.as_str());
        for (k, v) in &self.fields {
            e = e.attr(k.clone(), v.clone());
        }
        e
    }
}

/// Where a contest happens and what it is.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ContestRef {
    /// `hubId`; `unknown` in the pending key when `None`.
    pub hub_id: Option<String>,
    /// `roomId`; `unknown` in the pending key when `None`.
    pub room_id: Option<String>,
    /// `verb:actorA::actorB`.
    pub contest_key: Option<String>,
}

impl ContestRef {
    /// A reference from its three parts.
    pub fn new(hub: &str, room: &str, key: &str) -> ContestRef {
        ContestRef {
            hub_id: Some(hub.into()),
            room_id: Some(room.into()),
            contest_key: Some(key.into()),
        }
    }

    fn pending_key(&self) -> String {
        let part = |p: &Option<String>| p.clone().unwrap_or_else(|| "unknown".into());
        format!(
            "{}:{}:{}",
            part(&self.hub_id),
            part(&self.room_id),
            part(&self.contest_key)
        )
    }
}

/// Arming a contest.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Armed {
    /// Where it is armed; keys the contest until it launches.
    pub contest: ContestRef,
    /// Participants so far (default 1).
    pub participant_count: Option<u32>,
    /// Participants asked for.
    pub participant_capacity: Option<u32>,
    /// When armed (epoch ms).
    pub created_at: Option<f64>,
    /// When the arming window ends.
    pub expires_at: Option<f64>,
    /// `label`, carried forward to the launched and expired records.
    pub label: Option<String>,
    /// `move` (`sparring-match`), carried forward like `label`.
    pub move_: Option<String>,
    /// `type` (`pvp`), carried forward like `label`.
    pub type_: Option<String>,
}

#[derive(Debug, Clone, Default)]
struct Carried {
    contest: ContestRef,
    created_at: Option<f64>,
    expires_at: Option<f64>,
    started_at: Option<f64>,
    participant_count: Option<u32>,
    participant_capacity: Option<u32>,
    label: Option<String>,
    move_: Option<String>,
    type_: Option<String>,
    arming_ms: Option<f64>,
}

/// Tracks contests between their events.
#[derive(Debug, Default)]
pub struct ContestTracker {
    pending: HashMap<String, Carried>,
    active: HashMap<String, Carried>,
}

fn opt<T: Into<Value>>(v: Option<T>) -> Value {
    v.map_or(Value::Null, Into::into)
}

fn clamp(d: f64) -> f64 {
    d.max(0.0)
}

fn base(contest: &ContestRef) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("hubId".into(), opt(contest.hub_id.clone()));
    m.insert("roomId".into(), opt(contest.room_id.clone()));
    m
}

impl ContestTracker {
    /// A tracker with no contests.
    pub fn new() -> Self {
        Self::default()
    }

    /// `telemetry.contest.armed`.
    pub fn armed(&mut self, a: Armed) -> Record {
        let window = match (a.created_at, a.expires_at) {
            (Some(c), Some(e)) => Some(clamp(e - c)),
            _ => None,
        };
        let mut f = base(&a.contest);
        f.insert("contestKey".into(), opt(a.contest.contest_key.clone()));
        f.insert(
            "participantCount".into(),
            json!(a.participant_count.unwrap_or(1)),
        );
        f.insert("participantCapacity".into(), opt(a.participant_capacity));
        f.insert("windowMs".into(), opt(window));
        f.insert("label".into(), opt(a.label.clone()));
        f.insert("move".into(), opt(a.move_.clone()));
        f.insert("type".into(), opt(a.type_.clone()));
        self.pending.insert(
            a.contest.pending_key(),
            Carried {
                contest: a.contest,
                created_at: a.created_at,
                expires_at: a.expires_at,
                participant_count: a.participant_count,
                participant_capacity: a.participant_capacity,
                label: a.label,
                move_: a.move_,
                type_: a.type_,
                ..Carried::default()
            },
        );
        Record {
            level: Level::Info,
            message: "telemetry.contest.armed",
            fields: f,
        }
    }

    /// `telemetry.contest.launched`; `None` without a contest id (not emitted, as before).
    pub fn launched(
        &mut self,
        contest: ContestRef,
        contest_id: Option<&str>,
        participant_count: Option<u32>,
        started_at: f64,
    ) -> Option<Record> {
        let id = contest_id?;
        let mut c = self
            .pending
            .remove(&contest.pending_key())
            .unwrap_or(Carried {
                contest: contest.clone(),
                ..Carried::default()
            });
        c.started_at = Some(started_at);
        if participant_count.is_some() {
            c.participant_count = participant_count;
        }
        c.arming_ms = c.created_at.map(|created| clamp(started_at - created));
        let mut f = base(&c.contest);
        f.insert("contestId".into(), json!(id));
        f.insert("contestKey".into(), opt(c.contest.contest_key.clone()));
        f.insert("participantCount".into(), opt(c.participant_count));
        f.insert("participantCapacity".into(), opt(c.participant_capacity));
        f.insert("armingDurationMs".into(), opt(c.arming_ms));
        f.insert("label".into(), opt(c.label.clone()));
        f.insert("move".into(), opt(c.move_.clone()));
        f.insert("type".into(), opt(c.type_.clone()));
        self.active.insert(id.to_string(), c);
        Some(Record {
            level: Level::Info,
            message: "telemetry.contest.launched",
            fields: f,
        })
    }

    fn known(&self, contest_id: &str) -> ContestRef {
        self.active
            .get(contest_id)
            .map(|c| c.contest.clone())
            .unwrap_or_default()
    }

    fn with_id(&self, contest_id: &str) -> Map<String, Value> {
        let contest = self.known(contest_id);
        let mut f = base(&contest);
        f.insert("contestId".into(), json!(contest_id));
        f.insert("contestKey".into(), opt(contest.contest_key));
        f
    }

    /// `telemetry.contest.workflowStarted`.
    pub fn workflow_started(
        &mut self,
        contest_id: &str,
        workflow_id: &str,
        run_id: &str,
    ) -> Record {
        let mut f = self.with_id(contest_id);
        f.insert("workflowId".into(), json!(workflow_id));
        f.insert("runId".into(), json!(run_id));
        Record {
            level: Level::Info,
            message: "telemetry.contest.workflowStarted",
            fields: f,
        }
    }

    /// `telemetry.contest.workflowFailed` (error defaults to `workflow_failed`).
    pub fn workflow_failed(&mut self, contest_id: &str, error: Option<&str>) -> Record {
        let mut f = self.with_id(contest_id);
        f.insert("error".into(), json!(error.unwrap_or("workflow_failed")));
        self.active.remove(contest_id);
        Record {
            level: Level::Error,
            message: "telemetry.contest.workflowFailed",
            fields: f,
        }
    }

    /// `telemetry.contest.resolved`.
    pub fn resolved(
        &mut self,
        contest_id: &str,
        outcome_tier: Option<&str>,
        shared_complication_count: Option<u32>,
        resolved_at: f64,
    ) -> Record {
        let mut f = self.with_id(contest_id);
        let c = self.active.remove(contest_id).unwrap_or_default();
        f.insert("participantCount".into(), opt(c.participant_count));
        f.insert("participantCapacity".into(), opt(c.participant_capacity));
        f.insert("outcomeTier".into(), opt(outcome_tier));
        f.insert(
            "sharedComplicationCount".into(),
            json!(shared_complication_count.unwrap_or(0)),
        );
        f.insert("armingDurationMs".into(), opt(c.arming_ms));
        f.insert(
            "resolutionDurationMs".into(),
            opt(c.started_at.map(|s| clamp(resolved_at - s))),
        );
        Record {
            level: Level::Info,
            message: "telemetry.contest.resolved",
            fields: f,
        }
    }

    /// `telemetry.contest.expired`: arming counts to the expiry, not to the window end.
    pub fn expired(&mut self, contest: ContestRef, expired_at: f64) -> Record {
        let c = self
            .pending
            .remove(&contest.pending_key())
            .unwrap_or(Carried {
                contest,
                ..Carried::default()
            });
        let window = match (c.created_at, c.expires_at) {
            (Some(created), Some(expires)) => Some(clamp(expires - created)),
            _ => None,
        };
        let mut f = base(&c.contest);
        f.insert("contestKey".into(), opt(c.contest.contest_key.clone()));
        f.insert("participantCount".into(), opt(c.participant_count));
        f.insert("participantCapacity".into(), opt(c.participant_capacity));
        f.insert("label".into(), opt(c.label.clone()));
        f.insert("move".into(), opt(c.move_.clone()));
        f.insert("type".into(), opt(c.type_.clone()));
        f.insert("expiredAt".into(), json!(expired_at));
        f.insert("windowMs".into(), opt(window));
        f.insert(
            "armingDurationMs".into(),
            opt(c.created_at.map(|created| clamp(expired_at - created))),
        );
        Record {
            level: Level::Info,
            message: "telemetry.contest.expired",
            fields: f,
        }
    }

    /// `telemetry.contest.rematchCooling`.
    #[allow(clippy::too_many_arguments)]
    pub fn rematch_cooling(
        &mut self,
        contest: &ContestRef,
        cooldown_ms: f64,
        available_at: f64,
        expired_at: Option<f64>,
        participant_count: Option<u32>,
        severity: Option<&str>,
        missing_participants: Option<u32>,
    ) -> Record {
        let mut f = base(contest);
        f.insert("contestKey".into(), opt(contest.contest_key.clone()));
        f.insert("cooldownMs".into(), json!(cooldown_ms));
        f.insert("availableAt".into(), json!(available_at));
        f.insert("expiredAt".into(), opt(expired_at));
        f.insert("participantCount".into(), opt(participant_count));
        f.insert("severity".into(), opt(severity));
        f.insert("missingParticipants".into(), opt(missing_participants));
        Record {
            level: Level::Info,
            message: "telemetry.contest.rematchCooling",
            fields: f,
        }
    }

    /// `telemetry.contest.rematchBlocked` (remainingMs defaults to 0).
    pub fn rematch_blocked(
        &mut self,
        contest: &ContestRef,
        actor_id: &str,
        remaining_ms: Option<f64>,
        cooldown_ms: Option<f64>,
    ) -> Record {
        let mut f = base(contest);
        f.insert("contestKey".into(), opt(contest.contest_key.clone()));
        f.insert("actorId".into(), json!(actor_id));
        f.insert("remainingMs".into(), json!(remaining_ms.unwrap_or(0.0)));
        f.insert("cooldownMs".into(), opt(cooldown_ms));
        Record {
            level: Level::Info,
            message: "telemetry.contest.rematchBlocked",
            fields: f,
        }
    }

    /// `telemetry.contest.sentiment`.
    #[allow(clippy::too_many_arguments)]
    pub fn sentiment(
        &mut self,
        contest: &ContestRef,
        actor_id: &str,
        sentiment: &str,
        tone: Option<&str>,
        phase: &str,
        message_length: Option<u32>,
        remaining_cooldown_ms: Option<f64>,
        cooldown_ms: Option<f64>,
        issued_at: f64,
    ) -> Record {
        let mut f = base(contest);
        f.insert("contestKey".into(), opt(contest.contest_key.clone()));
        f.insert("actorId".into(), json!(actor_id));
        f.insert("sentiment".into(), json!(sentiment));
        f.insert("tone".into(), opt(tone));
        f.insert("phase".into(), json!(phase));
        f.insert("messageLength".into(), opt(message_length));
        f.insert("remainingCooldownMs".into(), opt(remaining_cooldown_ms));
        f.insert("cooldownMs".into(), opt(cooldown_ms));
        f.insert("issuedAt".into(), json!(issued_at));
        Record {
            level: Level::Info,
            message: "telemetry.contest.sentiment",
            fields: f,
        }
    }

    /// `telemetry.contest.timingFallback` (warn): timings could not be measured directly.
    pub fn timing_fallback(&mut self, contest_id: &str, timings: Value) -> Record {
        let contest = self.known(contest_id);
        let mut f = base(&contest);
        f.insert("contestId".into(), json!(contest_id));
        f.insert("timings".into(), timings);
        Record {
            level: Level::Warn,
            message: "telemetry.contest.timingFallback",
            fields: f,
        }
    }

    /// Contests armed and not launched or expired yet.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// Contests launched and not closed yet.
    pub fn active(&self) -> usize {
        self.active.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn armed(created: f64, expires: f64, capacity: u32) -> Armed {
        Armed {
            contest: ContestRef::new("hub-a", "room-1", "verb.duel:alpha::beta"),
            participant_capacity: Some(capacity),
            created_at: Some(created),
            expires_at: Some(expires),
            label: Some("Duel".into()),
            move_: Some("duel".into()),
            type_: Some("pvp".into()),
            ..Armed::default()
        }
    }

    #[test]
    fn spec_case_armed_launched_resolved() {
        let mut t = ContestTracker::new();
        let r = t.armed(armed(100.0, 900.0, 4));
        assert_eq!(
            r.to_json(),
            json!({"level": "info", "message": "telemetry.contest.armed", "hubId": "hub-a",
                   "roomId": "room-1", "contestKey": "verb.duel:alpha::beta",
                   "participantCount": 1, "participantCapacity": 4, "windowMs": 800.0,
                   "label": "Duel", "move": "duel", "type": "pvp"})
        );
        let contest = ContestRef::new("hub-a", "room-1", "verb.duel:alpha::beta");
        assert!(
            t.launched(contest.clone(), None, Some(3), 340.0).is_none(),
            "no id, no record"
        );
        let r = t.launched(contest, Some("c-1"), Some(3), 340.0).unwrap();
        assert_eq!(r.fields["armingDurationMs"], json!(240.0));
        assert_eq!(r.fields["participantCount"], 3);
        assert_eq!(r.fields["participantCapacity"], 4, "carried from arming");
        assert_eq!(r.fields["label"], "Duel");
        let r = t.resolved("c-1", Some("success"), None, 920.0);
        assert_eq!(
            r.to_json(),
            json!({"level": "info", "message": "telemetry.contest.resolved", "hubId": "hub-a",
                   "roomId": "room-1", "contestId": "c-1", "contestKey": "verb.duel:alpha::beta",
                   "participantCount": 3, "participantCapacity": 4, "outcomeTier": "success",
                   "sharedComplicationCount": 0, "armingDurationMs": 240.0,
                   "resolutionDurationMs": 580.0})
        );
        assert_eq!((t.pending(), t.active()), (0, 0));
    }

    #[test]
    fn spec_case_expiry_counts_to_the_expiry_not_the_window_end() {
        let mut t = ContestTracker::new();
        t.armed(armed(100.0, 700.0, 2));
        let r = t.expired(
            ContestRef::new("hub-a", "room-1", "verb.duel:alpha::beta"),
            900.0,
        );
        assert_eq!(r.fields["armingDurationMs"], json!(800.0));
        assert_eq!(r.fields["windowMs"], json!(600.0));
        assert_eq!(r.fields["expiredAt"], json!(900.0));
    }

    #[test]
    fn unknown_parts_key_pending_contests_and_failures_default() {
        let mut t = ContestTracker::new();
        let partial = ContestRef {
            hub_id: None,
            room_id: Some("r".into()),
            contest_key: Some("k".into()),
        };
        t.armed(Armed {
            contest: partial.clone(),
            created_at: Some(0.0),
            ..Armed::default()
        });
        let r = t.launched(partial, Some("c"), None, 50.0).unwrap();
        assert_eq!(r.fields["armingDurationMs"], json!(50.0));
        assert_eq!(r.fields["participantCount"], Value::Null);
        let r = t.workflow_failed("c", None);
        assert_eq!(
            (r.level, r.fields["error"].clone()),
            (Level::Error, json!("workflow_failed"))
        );
        assert_eq!(
            t.rematch_blocked(&ContestRef::default(), "a", None, None)
                .fields["remainingMs"],
            json!(0.0)
        );
        assert_eq!(t.timing_fallback("c", json!({"t": 1})).level, Level::Warn);
    }

    #[test]
    fn records_are_what_the_monitor_reads() {
        use playtrace_core::contest::{Correlator, CorrelatorOptions};
        use playtrace_core::scan::ObservationBatch;
        let mut t = ContestTracker::new();
        let contest = ContestRef::new("hub-a", "room-1", "verb.duel:alpha::beta");
        let lines = [
            t.armed(armed(100.0, 900.0, 4)),
            t.launched(contest, Some("c-1"), Some(3), 340.0).unwrap(),
            t.resolved("c-1", Some("success"), Some(1), 920.0),
        ]
        .iter()
        .map(|r| r.to_json().to_string())
        .collect::<Vec<_>>()
        .join("\n");
        let mut c = Correlator::new(CorrelatorOptions::default());
        let mut b = ObservationBatch::default();
        b.push_lines(lines.as_bytes(), c.batch_options());
        assert!(b.rejects.is_empty(), "{:?}", b.rejects);
        c.apply(&b);
        let s = c.finish(&Default::default(), Default::default());
        assert_eq!(s.durations.arming.p50.map(|n| n.0), Some(240.0));
        assert_eq!(s.durations.resolution.p50.map(|n| n.0), Some(580.0));
    }
}
