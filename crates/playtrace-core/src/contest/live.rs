//! Live contest correlation for the collector: contests tracked as their events arrive, and
//! budgets over rolling windows of receive time.
//!
//! The rules are the monitor's ([`super::rules`]): the same observations, the same "which
//! timestamp wins" and the same derivations, so once every event of a contest has arrived its
//! durations equal what `playtrace monitor` reports for it. Unlike the whole-run
//! [`super::Correlator`], a contest's durations are recomputed after each of its events, and each
//! known duration is one sample in a time-ordered window, updated in place if a later event
//! changes it. Memory is bounded by time, not by traffic history: samples older than the longest
//! window and contests closed before it (or open and silent for `forget_after`) are dropped by
//! [`LiveContests::evict`].

use super::interner::Interner;
pub use super::lifecycle::ContestState;
use super::lifecycle::{fill_missing, pending_name, value, Ends, Lifecycle, Pending, NONE};
use crate::budget::{evaluate, BudgetSet, BudgetStatus, Metric};
use crate::event::EventKind;
use crate::num::Num;
use crate::quantile::{nearest_rank, sort_samples};
use crate::scan::{Key, Observation, ObservationBatch, Span};
use crate::summary::GroupDim;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap, VecDeque};

/// How long things are kept and when an open contest counts as unresolved.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveOptions {
    /// A launched contest neither resolved nor failed this long after launch is `unresolved`.
    pub unresolved_after_ms: f64,
    /// Rolling budget windows, by receive time (default 5m and 1h).
    pub windows_ms: Vec<f64>,
    /// An open contest with no event for this long is dropped from memory (its events stay in
    /// the store).
    pub forget_after_ms: f64,
}

impl Default for LiveOptions {
    fn default() -> Self {
        LiveOptions {
            unresolved_after_ms: 5.0 * 60_000.0,
            windows_ms: vec![5.0 * 60_000.0, 60.0 * 60_000.0],
            forget_after_ms: 60.0 * 60_000.0,
        }
    }
}

impl LiveOptions {
    /// How far back the collector must replay its store after a restart to rebuild this state.
    pub fn horizon_ms(&self) -> f64 {
        self.windows_ms
            .iter()
            .copied()
            .fold(self.forget_after_ms, f64::max)
    }

    fn longest_window(&self) -> f64 {
        self.windows_ms.iter().copied().fold(0.0, f64::max)
    }
}

/// The scope and receive time of one event, given by the collector per event index.
#[derive(Debug, Clone, Copy)]
pub struct EventMeta<'a> {
    /// Game (native `game`).
    pub game: Option<&'a str>,
    /// Environment.
    pub env: Option<&'a str>,
    /// When the collector received it, epoch ms.
    pub recv_ms: f64,
}

/// No sample.
const NO_SAMPLE: u64 = u64::MAX;

/// Arming-phase entries are keyed by their arming key with this bit pattern mixed in, so they
/// never collide with a contest id's key in the one map.
const ARMING_TAG: Key = 0x5a5a_5a5a_5a5a_5a5a_a5a5_a5a5_a5a5_a5a5;

/// One contest (or one armed contest not launched yet, keyed by its arming key).
#[derive(Debug, Clone)]
struct Contest {
    /// `contestId`, or `hubId:roomId:contestKey` before launch.
    id: Box<str>,
    scope: [u32; 2],
    group: [u32; 4],
    life: Lifecycle,
    /// Kept inline: the contest view shows every time.
    ends: Ends,
    outcomes: Vec<Box<str>>,
    first_recv: f64,
    launched_recv: f64,
    closed_recv: f64,
    updated_recv: f64,
    events: u32,
    /// Window samples (absolute indices): arming (or expired arming), resolution.
    samples: [u64; 2],
}

impl Contest {
    fn new(id: &str, scope: [u32; 2], recv: f64) -> Self {
        Contest {
            id: id.into(),
            scope,
            group: [NONE; 4],
            life: Lifecycle::default(),
            ends: Ends::default(),
            outcomes: Vec::new(),
            first_recv: recv,
            launched_recv: f64::NAN,
            closed_recv: f64::NAN,
            updated_recv: recv,
            events: 0,
            samples: [NO_SAMPLE; 2],
        }
    }

    /// Arming and resolution durations, exactly as the monitor derives them.
    fn durations(&self) -> (Option<f64>, Option<f64>) {
        self.life.durations(Some(&self.ends))
    }

    fn state(&self, now_ms: f64, unresolved_after_ms: f64) -> ContestState {
        let since = value(self.launched_recv).unwrap_or(self.first_recv);
        self.life.state(since, now_ms, unresolved_after_ms)
    }

    /// What this armed contest carries into its launch or expiry.
    fn pending(&self) -> Pending {
        self.life.pending(&self.ends, self.group)
    }
}

/// One duration in a rolling window.
#[derive(Debug, Clone, Copy)]
struct Sample {
    recv_ms: f64,
    value: f64,
    metric: Metric,
    scope: [u32; 2],
    group: [u32; 4],
}

/// Live contests and the samples of the rolling windows.
pub struct LiveContests {
    options: LiveOptions,
    contests: HashMap<(u32, Key), Contest>,
    samples: VecDeque<Sample>,
    /// Absolute index of `samples[0]`.
    base: u64,
    strings: Interner,
    /// Latest receive time seen (the clock of replays).
    latest_recv: f64,
}

/// What `GET /v1/budgets` asks for.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BudgetQuery {
    /// Only events of this game.
    pub game: Option<String>,
    /// Only events of this environment.
    pub env: Option<String>,
    /// Also report per group of these dimensions.
    pub group_by: Vec<GroupDim>,
    /// Only these windows (ms); all configured windows when empty.
    pub windows_ms: Vec<f64>,
}

/// One budget over one window: the monitor's duration fields plus the budget's status.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BudgetLine {
    /// What is measured.
    pub metric: Metric,
    /// Percentile checked.
    pub percentile: Num,
    /// The limit, ms.
    pub budget: Num,
    /// The measured percentile, ms.
    pub value: Option<Num>,
    /// Number of samples.
    pub samples: u64,
    /// Median.
    pub p50: Option<Num>,
    /// 95th percentile.
    pub p95: Option<Num>,
    /// 99th percentile.
    pub p99: Option<Num>,
    /// Largest sample.
    pub max: Option<Num>,
    /// Whether the percentile is above the limit.
    pub breached: bool,
    /// `pass`, `breach` or `insufficient_data`.
    pub status: BudgetStatus,
}

/// Budgets of one group within a window.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupLine {
    /// The group's values per dimension (`null` when the events did not say).
    pub key: BTreeMap<GroupDim, Option<String>>,
    /// One line per budget.
    pub budgets: Vec<BudgetLine>,
}

/// Budgets over one rolling window.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WindowReport {
    /// The window as configured (`5m`).
    pub window: String,
    /// Its length, ms.
    pub window_ms: Num,
    /// Start of the window, epoch ms (receive time).
    pub from_ms: Num,
    /// End of the window (now), epoch ms.
    pub to_ms: Num,
    /// One line per budget, over every matching sample.
    pub budgets: Vec<BudgetLine>,
    /// Per group, when asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub groups: Option<Vec<GroupLine>>,
}

/// A contest as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ContestView {
    /// `contestId`, or `hubId:roomId:contestKey` for a contest not launched.
    pub id: String,
    /// Lifecycle state now.
    pub state: ContestState,
    /// Game.
    pub game: Option<String>,
    /// Environment.
    pub env: Option<String>,
    /// Hub.
    pub hub_id: Option<String>,
    /// Room.
    pub room_id: Option<String>,
    /// Move.
    #[serde(rename = "move")]
    pub move_: Option<String>,
    /// Contest type.
    #[serde(rename = "type")]
    pub type_: Option<String>,
    /// Armed → launched, ms (armed → expired for an expired contest).
    pub arming_duration_ms: Option<Num>,
    /// Launched → resolved, ms.
    pub resolution_duration_ms: Option<Num>,
    /// Participants.
    pub participant_count: Option<u32>,
    /// Capacity asked for.
    pub participant_capacity: Option<u32>,
    /// Outcome tiers of resolutions.
    pub outcomes: Vec<String>,
    /// Event times (epoch ms) as the events gave them.
    pub created_at: Option<Num>,
    /// Launch time.
    pub started_at: Option<Num>,
    /// Resolution time.
    pub resolved_at: Option<Num>,
    /// Expiry time.
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
    /// An empty live state.
    pub fn new(options: LiveOptions) -> Self {
        LiveContests {
            options,
            contests: HashMap::new(),
            samples: VecDeque::new(),
            base: 0,
            strings: Interner::default(),
            latest_recv: f64::NEG_INFINITY,
        }
    }

    /// The options in force.
    pub fn options(&self) -> &LiveOptions {
        &self.options
    }

    /// Folds one batch in commit order. `meta(i)` gives the scope and receive time of the event
    /// at index `i` (an observation's `line`), or `None` to skip it (a duplicate).
    pub fn apply<'m>(
        &mut self,
        batch: &ObservationBatch,
        mut meta: impl FnMut(u32) -> Option<EventMeta<'m>>,
    ) {
        for obs in &batch.observations {
            let Some(m) = meta(obs.line) else { continue };
            self.latest_recv = self.latest_recv.max(m.recv_ms);
            let scope = [self.intern_opt(m.game), self.intern_opt(m.env)];
            match obs.kind {
                EventKind::Armed => self.armed(batch, obs, scope, m.recv_ms),
                EventKind::Expired => self.expired(batch, obs, scope, m.recv_ms),
                EventKind::Launched
                | EventKind::Resolved
                | EventKind::WorkflowFailed
                | EventKind::WorkflowStarted
                | EventKind::TimingFallback
                | EventKind::OtherContest => self.on_contest(batch, obs, scope, m.recv_ms),
                EventKind::Sentiment
                | EventKind::RematchCooling
                | EventKind::RematchBlocked
                | EventKind::Other => {}
            }
        }
        self.evict_samples();
    }

    fn intern_opt(&mut self, s: Option<&str>) -> u32 {
        s.map_or(NONE, |s| self.strings.intern(s))
    }

    fn intern_span(&mut self, batch: &ObservationBatch, span: Span) -> u32 {
        batch.text(span).map_or(NONE, |s| self.strings.intern(s))
    }

    fn group_of(&mut self, batch: &ObservationBatch, obs: &Observation) -> [u32; 4] {
        [
            self.intern_span(batch, obs.hub),
            self.intern_span(batch, obs.room),
            self.intern_span(batch, obs.move_),
            self.intern_span(batch, obs.type_),
        ]
    }

    fn armed(&mut self, batch: &ObservationBatch, obs: &Observation, scope: [u32; 2], recv: f64) {
        let Some(key) = obs.arming_key() else { return };
        let mut c = Contest::new(&pending_name(batch, obs), scope, recv);
        c.group = self.group_of(batch, obs);
        (c.life, c.ends) = Lifecycle::arming(&Pending::armed(obs, c.group));
        c.events = 1;
        // A re-armed key replaces the earlier arming: the later event wins.
        self.contests.insert((scope[0], key ^ ARMING_TAG), c);
    }

    fn expired(&mut self, batch: &ObservationBatch, obs: &Observation, scope: [u32; 2], recv: f64) {
        let Some(key) = obs.arming_key() else { return };
        let slot = (scope[0], key ^ ARMING_TAG);
        let group = self.group_of(batch, obs);
        // An expiry without its armed event still counts (as the monitor's does), unnamed.
        let (mut c, pending) = match self.contests.remove(&slot) {
            Some(c) if c.life.is_arming() => {
                let p = c.pending();
                (c, Some(p))
            }
            _ => (Contest::new(&pending_name(batch, obs), scope, recv), None),
        };
        let mut g = group;
        fill_missing(&mut g, c.group);
        c.group = g;
        (c.life, c.ends) = Lifecycle::expire(pending.as_ref(), obs);
        c.closed_recv = recv;
        c.updated_recv = recv;
        c.events += 1;
        self.refresh_samples(&mut c, recv);
        self.contests.insert(slot, c);
    }

    fn on_contest(
        &mut self,
        batch: &ObservationBatch,
        obs: &Observation,
        scope: [u32; 2],
        recv: f64,
    ) {
        let Some(key) = obs.contest() else { return };
        let group = self.group_of(batch, obs);
        let slot = (scope[0], key);
        let mut c = match self.contests.remove(&slot) {
            Some(c) => c,
            None => {
                let id = batch.text(obs.contest_id).unwrap_or_default();
                Contest::new(id, scope, recv)
            }
        };
        fill_missing(&mut c.group, group);
        if c.scope[1] == NONE {
            c.scope[1] = scope[1];
        }
        c.updated_recv = recv;
        c.events += 1;
        let pending = match obs.kind {
            EventKind::Launched => obs.arming_key().and_then(|k| {
                let arming = (scope[0], k ^ ARMING_TAG);
                match self.contests.get(&arming) {
                    Some(p) if p.life.is_arming() => self.contests.remove(&arming),
                    _ => None,
                }
            }),
            _ => None,
        };
        if let Some(p) = &pending {
            fill_missing(&mut c.group, p.group);
            c.first_recv = c.first_recv.min(p.first_recv);
            c.events += p.events;
        }
        c.life
            .on_event(obs, pending.map(|p| p.pending()).as_ref(), &mut c.ends);
        if obs.kind == EventKind::Resolved {
            if let Some(outcome) = batch.text(obs.outcome) {
                c.outcomes.push(outcome.into());
            }
        }
        // Receive times of the first launch and the first close.
        match obs.kind {
            EventKind::Launched if c.launched_recv.is_nan() => c.launched_recv = recv,
            EventKind::Resolved | EventKind::WorkflowFailed if c.closed_recv.is_nan() => {
                c.closed_recv = recv
            }
            _ => {}
        }
        self.refresh_samples(&mut c, recv);
        self.contests.insert(slot, c);
    }

    /// Makes the contest's window samples match its durations now.
    fn refresh_samples(&mut self, c: &mut Contest, recv: f64) {
        let (arming, resolution) = c.durations();
        let arming_metric = if c.life.is_expired() {
            Metric::ExpiredArming
        } else {
            Metric::Arming
        };
        for (i, (duration, metric)) in [(arming, arming_metric), (resolution, Metric::Resolution)]
            .into_iter()
            .enumerate()
        {
            let Some(v) = duration else { continue };
            let idx = c.samples[i];
            if idx != NO_SAMPLE {
                // Already counted: a later event changed the value (or the group); an evicted
                // sample stays with the window it was counted in.
                if let Some(s) = idx
                    .checked_sub(self.base)
                    .and_then(|at| self.samples.get_mut(at as usize))
                {
                    s.value = v;
                    s.group = c.group;
                }
                continue;
            }
            self.samples.push_back(Sample {
                recv_ms: recv,
                value: v,
                metric,
                scope: c.scope,
                group: c.group,
            });
            c.samples[i] = self.base + self.samples.len() as u64 - 1;
        }
    }

    fn evict_samples(&mut self) {
        let cutoff = self.latest_recv - self.options.longest_window();
        while self.samples.front().is_some_and(|s| s.recv_ms < cutoff) {
            self.samples.pop_front();
            self.base += 1;
        }
    }

    /// Drops samples and contests that no window and no query needs any more: closed contests
    /// older than the longest window, open ones silent for `forget_after`. Call it periodically
    /// (it walks every contest).
    pub fn evict(&mut self, now_ms: f64) {
        self.latest_recv = self.latest_recv.max(now_ms);
        self.evict_samples();
        let closed_cutoff = now_ms - self.options.longest_window();
        let open_cutoff = now_ms - self.options.forget_after_ms;
        self.contests.retain(|_, c| {
            if c.life.is_closed() {
                c.closed_recv >= closed_cutoff
            } else {
                c.updated_recv >= open_cutoff
            }
        });
    }

    /// Number of contests held in memory.
    pub fn len(&self) -> usize {
        self.contests.len()
    }

    /// Whether no contest is held.
    pub fn is_empty(&self) -> bool {
        self.contests.is_empty()
    }

    /// Number of window samples held.
    pub fn samples(&self) -> usize {
        self.samples.len()
    }

    /// Contests per state now.
    pub fn state_counts(&self, now_ms: f64) -> BTreeMap<ContestState, u64> {
        let mut counts: BTreeMap<ContestState, u64> =
            ContestState::ALL.iter().map(|&s| (s, 0)).collect();
        for c in self.contests.values() {
            *counts
                .entry(c.state(now_ms, self.options.unresolved_after_ms))
                .or_default() += 1;
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

    fn scope_matches(&self, scope: [u32; 2], game: Option<&str>, env: Option<&str>) -> bool {
        let want = |id: u32, text: Option<&str>| match text {
            None => true,
            Some(t) => self.strings.find(t).is_some_and(|w| w == id),
        };
        want(scope[0], game) && want(scope[1], env)
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

    /// Budgets over each rolling window ending at `now_ms`.
    pub fn budgets(
        &self,
        query: &BudgetQuery,
        budgets: &BudgetSet,
        now_ms: f64,
    ) -> Vec<WindowReport> {
        let windows: Vec<f64> = if query.windows_ms.is_empty() {
            self.options.windows_ms.clone()
        } else {
            query.windows_ms.clone()
        };
        windows
            .into_iter()
            .map(|w| self.window(query, budgets, w, now_ms))
            .collect()
    }

    fn window(
        &self,
        query: &BudgetQuery,
        budgets: &BudgetSet,
        window_ms: f64,
        now_ms: f64,
    ) -> WindowReport {
        let from = now_ms - window_ms;
        let mut overall: [Vec<f64>; 3] = Default::default();
        let mut groups: HashMap<[u32; 4], [Vec<f64>; 3]> = HashMap::new();
        let grouping = !query.group_by.is_empty();
        let dims: Vec<usize> = query.group_by.iter().map(|d| dim_index(*d)).collect();
        for s in self.samples.iter().rev() {
            if s.recv_ms < from {
                break;
            }
            if s.recv_ms > now_ms
                || !self.scope_matches(s.scope, query.game.as_deref(), query.env.as_deref())
            {
                continue;
            }
            let m = metric_index(s.metric);
            overall[m].push(s.value);
            if grouping {
                let mut key = [NONE; 4];
                for &d in &dims {
                    key[d] = s.group[d];
                }
                groups.entry(key).or_default()[m].push(s.value);
            }
        }
        let groups = grouping.then(|| {
            let mut lines: Vec<GroupLine> = groups
                .into_iter()
                .map(|(key, mut samples)| GroupLine {
                    key: query
                        .group_by
                        .iter()
                        .map(|&d| (d, self.strings.get(key[dim_index(d)]).map(str::to_owned)))
                        .collect(),
                    budgets: lines_for(budgets, &mut samples),
                })
                .collect();
            lines.sort_by(|a, b| a.key.cmp(&b.key));
            lines
        });
        WindowReport {
            window: crate::units::format_duration_ms(window_ms),
            window_ms: Num(window_ms),
            from_ms: Num(from),
            to_ms: Num(now_ms),
            budgets: lines_for(budgets, &mut overall),
            groups,
        }
    }
}

fn lines_for(budgets: &BudgetSet, samples: &mut [Vec<f64>; 3]) -> Vec<BudgetLine> {
    for s in samples.iter_mut() {
        sort_samples(s);
    }
    budgets
        .budgets
        .iter()
        .map(|b| {
            let sorted = &samples[metric_index(b.metric)];
            let r = evaluate(b, sorted);
            BudgetLine {
                metric: b.metric,
                percentile: r.percentile,
                budget: r.budget,
                value: r.value,
                samples: r.samples,
                p50: nearest_rank(sorted, 50.0).map(Num),
                p95: nearest_rank(sorted, 95.0).map(Num),
                p99: nearest_rank(sorted, 99.0).map(Num),
                max: sorted.last().copied().map(Num),
                breached: r.status == BudgetStatus::Breach,
                status: r.status,
            }
        })
        .collect()
}

fn metric_index(m: Metric) -> usize {
    match m {
        Metric::Arming => 0,
        Metric::Resolution => 1,
        Metric::ExpiredArming => 2,
    }
}

fn dim_index(dim: GroupDim) -> usize {
    match dim {
        GroupDim::Hub => 0,
        GroupDim::Room => 1,
        GroupDim::Move => 2,
        GroupDim::Type => 3,
    }
}

#[cfg(test)]
mod tests;
