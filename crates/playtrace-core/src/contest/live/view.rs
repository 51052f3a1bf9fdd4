//! Contests as `GET /v1/contests` shows them: one contest, a filtered list, counts per state.

use crate::contest::lifecycle::{value, ContestState};
use crate::contest::live::state::{Contest, LiveContests};
use crate::num::Num;
use crate::scan::Key;
use serde::Serialize;
use std::collections::BTreeMap;

/// A contest as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ContestView {
    /// `contestId`, or `hubId:roomId:contestKey` for a contest not launched.
    pub id: String,
    /// Lifecycle state now.
    pub state: ContestState,
    /// The game the collector scoped the contest's events to ([`super::EventMeta::game`]).
    pub game: Option<String>,
    /// The environment its events were scoped to (`null` when none).
    pub env: Option<String>,
    /// `hubId` from whichever of the contest's events named it first.
    pub hub_id: Option<String>,
    /// `roomId`, kept like `hubId`.
    pub room_id: Option<String>,
    /// `move`, kept like `hubId`.
    #[serde(rename = "move")]
    pub move_: Option<String>,
    /// `type`, kept like `hubId`.
    #[serde(rename = "type")]
    pub type_: Option<String>,
    /// Armed → launched, ms (armed → expired for an expired contest).
    pub arming_duration_ms: Option<Num>,
    /// Launched → resolved, ms.
    pub resolution_duration_ms: Option<Num>,
    /// `participantCount`: the latest non-null value, else the armed event's.
    pub participant_count: Option<u32>,
    /// Capacity asked for.
    pub participant_capacity: Option<u32>,
    /// Outcome tiers of resolutions.
    pub outcomes: Vec<String>,
    /// `createdAt` of any of the contest's records, else the armed event's time (epoch ms;
    /// a record's field always outranks an event's time).
    pub created_at: Option<Num>,
    /// `startedAt`, else the launched event's time.
    pub started_at: Option<Num>,
    /// `resolvedAt`, else the resolved event's time.
    pub resolved_at: Option<Num>,
    /// `expiredAt`, else the expired event's time.
    pub expired_at: Option<Num>,
    /// Receive times (epoch ms) at the collector.
    pub first_received_ms: Num,
    /// When the launch arrived.
    pub launched_received_ms: Option<Num>,
    /// When the contest closed (resolved, failed or expired).
    pub closed_received_ms: Option<Num>,
    /// Events seen for this contest.
    pub events: u32,
}

fn key_of(text: &str) -> Key {
    crate::scan::contest_key(text)
}

impl LiveContests {
    /// Contests per state now.
    pub fn state_counts(&self, now_ms: f64) -> BTreeMap<ContestState, u64> {
        let mut counts: BTreeMap<ContestState, u64> =
            ContestState::ALL.iter().map(|&s| (s, 0)).collect();
        for c in self.contests.values() {
            *counts
                .entry(c.state(now_ms, self.options.unresolved_after_ms))
                .or_default() += 1;
        }
        // Closed contests whose full record has left memory still count until they are evicted.
        for (state, n) in self.closed.per_state() {
            *counts.entry(state).or_default() += n;
        }
        counts
    }

    fn view(&self, c: &Contest, now_ms: f64) -> ContestView {
        let text = |id: u32| self.strings.get(id).map(str::to_owned);
        let (arming, resolution) = c.durations();
        let (resolved_at, expired_at) = c.life.end_times(&c.ends);
        ContestView {
            id: c.id.to_string(),
            state: c.state(now_ms, self.options.unresolved_after_ms),
            game: text(c.scope[0]),
            env: text(c.scope[1]),
            hub_id: text(c.group[0]),
            room_id: text(c.group[1]),
            move_: text(c.group[2]),
            type_: text(c.group[3]),
            arming_duration_ms: arming.map(Num),
            resolution_duration_ms: resolution.map(Num),
            participant_count: c.life.participants(),
            participant_capacity: c.life.capacity(),
            outcomes: c.outcomes.iter().map(|o| o.to_string()).collect(),
            created_at: c.ends.created_at().map(Num),
            started_at: c.life.started_at().map(Num),
            resolved_at: resolved_at.map(Num),
            expired_at: expired_at.map(Num),
            first_received_ms: Num(c.first_recv),
            launched_received_ms: value(c.launched_recv).map(Num),
            closed_received_ms: value(c.closed_recv).map(Num),
            events: c.events,
        }
    }

    /// The contests with this id (one per game that used it), newest first.
    pub fn contest(&self, id: &str, game: Option<&str>, now_ms: f64) -> Vec<ContestView> {
        let key = key_of(id);
        let mut found: Vec<&Contest> = self
            .contests
            .iter()
            .filter(|((_, k), c)| *k == key && &*c.id == id)
            .map(|(_, c)| c)
            .filter(|c| self.scope_matches(c.scope, game, None))
            .collect();
        if found.is_empty() {
            // Not launched (named `hubId:roomId:contestKey`, keyed by a hash of the parts):
            // rare enough for a walk.
            found = self
                .contests
                .values()
                .filter(|c| &*c.id == id && self.scope_matches(c.scope, game, None))
                .collect();
        }
        found.sort_by(|a, b| b.updated_recv.total_cmp(&a.updated_recv));
        found.into_iter().map(|c| self.view(c, now_ms)).collect()
    }

    /// Contests in `state` (any state when `None`), newest update first, at most `limit`.
    pub fn list(
        &self,
        state: Option<ContestState>,
        game: Option<&str>,
        env: Option<&str>,
        limit: usize,
        now_ms: f64,
    ) -> Vec<ContestView> {
        let mut found: Vec<&Contest> = self
            .contests
            .values()
            .filter(|c| self.scope_matches(c.scope, game, env))
            .filter(|c| {
                state.is_none_or(|s| c.state(now_ms, self.options.unresolved_after_ms) == s)
            })
            .collect();
        found.sort_by(|a, b| {
            b.updated_recv
                .total_cmp(&a.updated_recv)
                .then_with(|| a.id.cmp(&b.id))
        });
        found.truncate(limit);
        found.into_iter().map(|c| self.view(c, now_ms)).collect()
    }
}
