//! The monitor summary: the old monitor's JSON shape, key for key, plus PlayTrace's additions.
//!
//! Kept keys and meanings (never renamed): `totals`, `sentiment`, `durations`, `participants`
//! and, with `--include-raw`, `raw`. Added: `durations.*.p99`, `totals.unresolvedContests`,
//! `rejects`, `budgets` and, with `--group-by`, `groups`.

use crate::budget::{BudgetResult, BudgetStatus};
use crate::num::Num;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt;

/// Everything `playtrace monitor` reports.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    /// How many contests were seen, and how their lifecycles ended.
    pub totals: Totals,
    /// Player sentiment around contests.
    pub sentiment: SentimentSummary,
    /// Duration distributions with the legacy p95 budget check.
    pub durations: Durations,
    /// Contest sizes, from `participantCount` and `participantCapacity`.
    pub participants: Participants,
    /// Unreadable lines by kind.
    pub rejects: RejectsSummary,
    /// Every budget checked over all contests.
    pub budgets: Vec<BudgetResult>,
    /// Budgets per group (`--group-by`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub groups: Option<Groups>,
    /// Per-contest records (`--include-raw`); enough to re-read the summary later.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub raw: Option<Raw>,
}

impl Summary {
    /// Whether any budget, overall or in any group, is breached (exit code 1).
    pub fn breached(&self) -> bool {
        let breach = |b: &BudgetResult| b.status == BudgetStatus::Breach;
        self.budgets.iter().any(breach)
            || self
                .groups
                .as_ref()
                .is_some_and(|g| g.entries.iter().any(|e| e.budgets.iter().any(breach)))
    }
}

/// The `totals` section: contests counted by distinct contest id, by how their lifecycle ended.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Totals {
    /// Distinct contest ids seen on lifecycle events.
    pub contests_observed: u64,
    /// Contests with a resolved event.
    pub resolved_contests: u64,
    /// `workflowFailed` events.
    pub workflow_failures: u64,
    /// `expired` events (arming timeouts).
    pub expired_contests: u64,
    /// Contests observed that neither resolved nor failed.
    pub unresolved_contests: u64,
}

/// Sentiment counts by label.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct SentimentTotals {
    /// `positive` samples.
    pub positive: u64,
    /// `neutral` samples.
    pub neutral: u64,
    /// `negative` samples.
    pub negative: u64,
    /// Any other label.
    pub other: u64,
    /// The sum of the four counts above.
    pub total: u64,
}

/// The `sentiment` section, built from `sentiment` events only (SPEC §3).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SentimentSummary {
    /// Sentiment events read.
    pub samples: u64,
    /// Counts by label.
    pub totals: SentimentTotals,
    /// Counts by phase (lower-cased), samples without a phase not counted.
    pub phase_counts: BTreeMap<String, u64>,
    /// Frustration during rematch cooldowns.
    pub cooldown: CooldownSummary,
    /// The ten hub/room pairs with the most negative (then most) samples.
    pub hotspots: Vec<Hotspot>,
    /// The 25 newest samples by `issuedAt` (else event time).
    pub latest: Vec<SentimentSample>,
}

/// Sentiment during cooldowns.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CooldownSummary {
    /// Samples with cooldown remaining.
    pub active_samples: u64,
    /// Of those, negative ones.
    pub negative_during_cooldown: u64,
    /// Longest cooldown remaining seen.
    pub max_remaining_cooldown_ms: Option<Num>,
}

/// Sentiment of one hub/room.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Hotspot {
    /// The samples' `hubId`; samples without one share the `null` hotspot.
    pub hub_id: Option<String>,
    /// The samples' `roomId`; samples without one share the `null` hotspot.
    pub room_id: Option<String>,
    /// Counts by label.
    pub totals: SentimentTotals,
}

/// One sentiment sample as reported (`sentiment.latest[]`).
///
/// Each field is the `sentiment` event's field of the same name (camelCase in JSON; the fields
/// are listed in SPEC §3), `null` when the event did not carry it. `sentiment` and `phase` are
/// lower-cased; `issuedAt` is epoch milliseconds and `issuedAtIso` the same instant in RFC 3339.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)] // the event's own fields, described once above and in SPEC §3
pub struct SentimentSample {
    pub hub_id: Option<String>,
    pub room_id: Option<String>,
    pub contest_id: Option<String>,
    pub contest_key: Option<String>,
    pub actor_id: Option<String>,
    pub sentiment: Option<String>,
    pub tone: Option<String>,
    pub phase: Option<String>,
    pub remaining_cooldown_ms: Option<Num>,
    pub cooldown_ms: Option<Num>,
    pub message_length: Option<Num>,
    pub issued_at: Option<Num>,
    pub issued_at_iso: Option<String>,
}

/// The three duration distributions.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Durations {
    /// Armed → launched.
    pub arming: DurationStats,
    /// Launched → resolved.
    pub resolution: DurationStats,
    /// Armed → expired.
    pub expired_arming: DurationStats,
}

/// One distribution and its legacy p95 check.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DurationStats {
    /// Contests (or timeouts) whose duration is known: the count the percentiles are taken over.
    pub samples: u64,
    /// Contests (or timeouts) whose duration could not be determined.
    pub missing: u64,
    /// Nearest-rank 50th percentile of the samples, ms; `null` without samples.
    pub p50: Option<Num>,
    /// Nearest-rank 95th percentile, ms (the value `budget` is checked against); `null` without
    /// samples.
    pub p95: Option<Num>,
    /// Nearest-rank 99th percentile, ms; `null` without samples.
    pub p99: Option<Num>,
    /// Longest sample, ms; `null` without samples.
    pub max: Option<Num>,
    /// p95 limit, ms.
    pub budget: Num,
    /// p95 strictly above `budget`.
    pub breached: bool,
}

/// The `participants` section: contest sizes from `participantCount` and `participantCapacity`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Participants {
    /// Contests with a participant count.
    pub samples: u64,
    /// Mean `participantCount` over the samples; `null` without samples.
    pub average: Option<Num>,
    /// Largest `participantCount`; `null` without samples.
    pub max: Option<Num>,
    /// Contests with more than two participants.
    pub multi_actor_contests: u64,
    /// Contests that asked for more than two.
    pub capacity_over_two: u64,
    /// The same for contests that timed out.
    pub timeouts: Timeouts,
}

/// Participants of contests that timed out while arming.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Timeouts {
    /// Timeouts with a participant count.
    pub samples: u64,
    /// Mean `participantCount` over the samples; `null` without samples.
    pub average: Option<Num>,
    /// Largest `participantCount`; `null` without samples.
    pub max: Option<Num>,
    /// Timeouts with more than two participants.
    pub multi_actor_contests: u64,
}

/// The `rejects` section: lines that were not events (docs/monitor.md, "Rejects").
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RejectsSummary {
    /// The sum of `byKind`.
    pub total: u64,
    /// By kind: `parse`, `schema`, `size`, `encoding` (always all four).
    pub by_kind: BTreeMap<&'static str, u64>,
}

/// A dimension contests can be grouped by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum GroupDim {
    /// `hubId`.
    Hub,
    /// `roomId`.
    Room,
    /// `move`.
    Move,
    /// `type`.
    Type,
    /// A configured attribute dimension (`[[dimensions]]`, `monitor --dimension`).
    Attr(AttrDim),
}

/// A configured attribute dimension: its slot among the configured ones, and its name
/// (`Dimensions::parse` of the `dims` module makes them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AttrDim {
    /// Its position among the configured dimensions.
    pub index: u8,
    /// Its name.
    pub name: &'static str,
}

impl Serialize for GroupDim {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl GroupDim {
    /// Name as in JSON and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            GroupDim::Hub => "hub",
            GroupDim::Room => "room",
            GroupDim::Move => "move",
            GroupDim::Type => "type",
            GroupDim::Attr(a) => a.name,
        }
    }

    /// Parses `hub|room|move|type` (configured dimensions: `Dimensions::parse` of the `dims` module).
    pub fn parse(text: &str) -> Option<GroupDim> {
        match text.trim() {
            "hub" => Some(GroupDim::Hub),
            "room" => Some(GroupDim::Room),
            "move" => Some(GroupDim::Move),
            "type" => Some(GroupDim::Type),
            _ => None,
        }
    }

    /// The dimension's slot in the `[hub, room, move, type, attributes…]` arrays contests keep.
    pub(crate) fn index(self) -> usize {
        match self {
            GroupDim::Hub => 0,
            GroupDim::Room => 1,
            GroupDim::Move => 2,
            GroupDim::Type => 3,
            GroupDim::Attr(a) => 4 + usize::from(a.index),
        }
    }
}

impl fmt::Display for GroupDim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Budgets per group.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Groups {
    /// The dimensions, in the order given.
    pub by: Vec<GroupDim>,
    /// One entry per distinct combination, sorted by key.
    pub entries: Vec<GroupEntry>,
    /// Per attribute dimension, the contest events whose value was past the dimension's
    /// `max_values` and is grouped as `other` (absent when none was).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub folded: BTreeMap<String, u64>,
}

/// One group's budgets.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupEntry {
    /// The group's value per dimension (`null` when contests did not say).
    pub key: BTreeMap<GroupDim, Option<String>>,
    /// Contests in the group.
    pub contests: u64,
    /// Timeouts in the group.
    pub expired: u64,
    /// Every budget, computed over the group's samples only.
    pub budgets: Vec<BudgetResult>,
}

/// Per-contest records.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Raw {
    /// Contests in order of first appearance.
    pub contests: Vec<RawContest>,
    /// Workflow failures in input order.
    pub workflow_failures: Vec<RawFailure>,
    /// Timeout samples (each list ascending), `null` when there were none.
    pub expired: Option<RawExpired>,
}

/// One contest (`raw.contests[]`); re-read as events when a summary is given as input.
///
/// `contestId`, `hubId`, `roomId`, `participantCount` and `participantCapacity` are the
/// lifecycle events' fields of those names (SPEC §3), `null` when no event of the contest
/// carried them.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)] // the undocumented fields are the events' own, named above
pub struct RawContest {
    pub contest_id: String,
    pub hub_id: Option<String>,
    pub room_id: Option<String>,
    /// Arming duration (explicit or derived).
    pub arming_duration_ms: Option<Num>,
    /// Resolution duration (explicit or derived).
    pub resolution_duration_ms: Option<Num>,
    pub participant_count: Option<u32>,
    pub participant_capacity: Option<u32>,
    /// Outcome tiers of its resolved events.
    pub outcomes: Vec<String>,
    /// Whether it resolved.
    pub resolved: bool,
}

/// One workflow failure (`raw.workflowFailures[]`).
///
/// `hubId`, `roomId`, `contestId` and `contestKey` are the `workflowFailed` event's fields of
/// those names (SPEC §3), `null` when it did not carry them.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)] // the undocumented fields are the event's own, named above
pub struct RawFailure {
    /// Always `telemetry.contest.workflowFailed`.
    pub message: &'static str,
    pub hub_id: Option<String>,
    pub room_id: Option<String>,
    pub contest_id: Option<String>,
    pub contest_key: Option<String>,
    /// Error (`workflow_failed` when the event had none).
    pub error: String,
}

/// The `raw.expired` section: what `expired` events said, sorted so that the output does not
/// depend on input order.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RawExpired {
    /// Arming durations of timed-out contests, ascending.
    pub arming_durations: Vec<Num>,
    /// Their participant counts, ascending.
    pub participant_counts: Vec<Num>,
}
