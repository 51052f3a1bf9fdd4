//! The live contests themselves: folding committed batches into contests (through the shared
//! [`crate::contest::lifecycle`]) and each known duration into the rolling windows' counts, and
//! forgetting what no window or query needs any more.
//!
//! Memory: open contests keep a full record (bounded by `forget_after`, as they can go silent);
//! of the closed ones only the most recent [`DEFAULT_RECENT_CLOSED`] keep theirs (what
//! `GET /v1/contests` shows), the others are reduced to 80 bytes in [`super::closed`] until their
//! samples leave the longest window. Samples themselves are counts per distinct value
//! ([`super::ring`]).

use crate::budget::Metric;
use crate::contest::cardinality::Cardinality;
use crate::contest::interner::Interner;
use crate::contest::lifecycle::{
    fill_missing, pending_name, value, ContestState, Ends, Lifecycle, Pending, NONE,
};
use crate::contest::live::cache::ReportCache;
use crate::contest::live::closed::{identity, Closed, ClosedStore, SampleRef};
use crate::contest::live::ring::{HashMap, Ring, SeriesKey, Slice, NO_SERIES};
use crate::dims::{Group, GROUP_SLOTS};
use crate::event::EventKind;
use crate::scan::{Key, Observation, ObservationBatch, Span};
use std::collections::VecDeque;

/// How many closed contests keep their full record (for `GET /v1/contests`) by default; older
/// ones keep only what can still change a window.
pub const DEFAULT_RECENT_CLOSED: usize = 10_000;

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

    pub(super) fn longest_window(&self) -> f64 {
        self.windows_ms.iter().copied().fold(0.0, f64::max)
    }
}

/// The scope and receive time of one event, given by the collector per event index.
#[derive(Debug, Clone, Copy)]
pub struct EventMeta<'a> {
    /// Game (native `game`).
    pub game: Option<&'a str>,
    /// Environment (native `env`); budgets and lists filter by it.
    pub env: Option<&'a str>,
    /// When the collector received it, epoch ms.
    pub recv_ms: f64,
}

/// Arming-phase entries are keyed by their arming key with this bit pattern mixed in, so they
/// never collide with a contest id's key in the one map.
const ARMING_TAG: Key = 0x5a5a_5a5a_5a5a_5a5a_a5a5_a5a5_a5a5_a5a5;

/// One contest (or one armed contest not launched yet, keyed by its arming key).
#[derive(Debug, Clone)]
pub(super) struct Contest {
    /// `contestId`, or `hubId:roomId:contestKey` before launch.
    pub(super) id: Box<str>,
    pub(super) scope: [u32; 2],
    pub(super) group: Group,
    pub(super) life: Lifecycle,
    /// Kept inline: the contest view shows every time.
    pub(super) ends: Ends,
    pub(super) outcomes: Vec<Box<str>>,
    pub(super) first_recv: f64,
    pub(super) launched_recv: f64,
    pub(super) closed_recv: f64,
    pub(super) updated_recv: f64,
    pub(super) events: u32,
    /// Window samples: arming (or expired arming), resolution.
    pub(super) samples: [Sample; 2],
}

/// Where one of a contest's durations is counted, and the value counted.
#[derive(Debug, Clone, Copy)]
pub(super) struct Sample {
    slice: Slice,
    /// [`NO_SERIES`] until the duration is known.
    series: u32,
    value: f64,
}

const NO_SAMPLE: Sample = Sample {
    slice: 0,
    series: NO_SERIES,
    value: f64::NAN,
};

impl Contest {
    fn new(id: &str, scope: [u32; 2], recv: f64) -> Self {
        Contest {
            id: id.into(),
            scope,
            group: [NONE; GROUP_SLOTS],
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
    pub(super) fn durations(&self) -> (Option<f64>, Option<f64>) {
        self.life.durations(Some(&self.ends))
    }

    pub(super) fn state(&self, now_ms: f64, unresolved_after_ms: f64) -> ContestState {
        let since = value(self.launched_recv).unwrap_or(self.first_recv);
        self.life.state(since, now_ms, unresolved_after_ms)
    }

    /// What this armed contest carries into its launch or expiry.
    fn pending(&self) -> Pending {
        self.life.pending(&self.ends, self.group)
    }
}

/// Live contests and the counts of the rolling windows.
pub struct LiveContests {
    pub(super) options: LiveOptions,
    /// Open contests and the most recently closed ones, in full (a foldhash map: SipHash was
    /// a tenth of the fold, four lookups per new contest).
    pub(super) contests: HashMap<(u32, Key), Contest>,
    /// Closed contests with a full record, in the order they closed (may hold keys that have
    /// left since: they are skipped).
    closed_order: VecDeque<(u32, Key)>,
    recent_closed: usize,
    /// Closed contests reduced to what can still change a window.
    pub(super) closed: ClosedStore,
    pub(super) ring: Ring,
    pub(super) strings: Interner,
    /// Latest receive time seen (the clock of replays).
    pub(super) latest_recv: f64,
    /// Budget reports already computed, valid while nothing they count changes.
    pub(super) cache: ReportCache,
    /// The attribute dimensions' cardinality guard.
    card: Cardinality,
}

impl LiveContests {
    /// An empty live state.
    pub fn new(options: LiveOptions) -> Self {
        LiveContests {
            ring: Ring::new(&options.windows_ms),
            options,
            contests: HashMap::default(),
            closed_order: VecDeque::new(),
            recent_closed: DEFAULT_RECENT_CLOSED,
            closed: ClosedStore::default(),
            strings: Interner::default(),
            latest_recv: f64::NEG_INFINITY,
            cache: ReportCache::default(),
            card: Cardinality::default(),
        }
    }

    /// Keeps the full record (what `GET /v1/contests` shows) of only the `n` most recently closed
    /// contests; older closed ones keep only what can still change a window.
    pub fn with_recent_closed(mut self, n: usize) -> Self {
        self.recent_closed = n;
        self
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
        self.reduce_closed();
        self.evict_samples();
    }

    /// Reduces the closed contests beyond the most recent `recent_closed` to their window
    /// records.
    fn reduce_closed(&mut self) {
        while self.closed_order.len() > self.recent_closed {
            let Some(slot) = self.closed_order.pop_front() else {
                break;
            };
            // One lookup: a contest reopened since it closed goes back.
            let Some(c) = self.contests.remove(&slot) else {
                continue;
            };
            if !c.life.is_closed() {
                self.contests.insert(slot, c);
                continue;
            }
            let closing = self.ring.slice_of(c.updated_recv);
            let samples = c.samples.map(|s| SampleRef {
                slice: if s.series == NO_SERIES {
                    closing
                } else {
                    s.slice
                },
                series: s.series,
            });
            self.closed
                .insert(identity(slot.0, slot.1), c.life.pack(&c.ends), samples);
        }
    }

    /// A reduced closed contest back as a full record (its outcomes, participants and first
    /// receive times are not known any more), its samples valued as they were counted.
    fn expand(&mut self, rec: Closed, id: &str, scope: [u32; 2], recv: f64) -> Contest {
        let mut c = Contest::new(id, scope, recv);
        (c.life, c.ends) = Lifecycle::unpack(&rec.packed);
        c.closed_recv = recv;
        let (arming, resolution) = c.durations();
        for (i, d) in [arming, resolution].into_iter().enumerate() {
            let r = rec.samples[i];
            if r.series == NO_SERIES {
                continue;
            }
            if let Some(k) = self.ring.series(r.series) {
                (c.scope, c.group) = (k.scope, k.group);
            }
            c.samples[i] = Sample {
                slice: r.slice,
                series: r.series,
                value: d.unwrap_or(f64::NAN),
            };
        }
        c
    }

    fn intern_opt(&mut self, s: Option<&str>) -> u32 {
        s.map_or(NONE, |s| self.strings.intern(s))
    }

    fn intern_span(&mut self, batch: &ObservationBatch, span: Span) -> u32 {
        batch.text(span).map_or(NONE, |s| self.strings.intern(s))
    }

    fn group_of(&mut self, batch: &ObservationBatch, obs: &Observation, recv: f64) -> Group {
        let mut g = [NONE; GROUP_SLOTS];
        g[0] = self.intern_span(batch, obs.hub);
        g[1] = self.intern_span(batch, obs.room);
        g[2] = self.intern_span(batch, obs.move_);
        g[3] = self.intern_span(batch, obs.type_);
        let horizon = self.options.longest_window();
        for (i, span) in obs.attrs.iter().enumerate() {
            g[4 + i] = self
                .card
                .value(&mut self.strings, i, batch.text(*span), recv, horizon);
        }
        g
    }

    /// Attribute values folded into `other` by each configured dimension's cap so far
    /// (observations, in dimension order).
    pub fn dimension_folded(&self) -> &[u64] {
        self.card.folded()
    }

    /// Caps the distinct values each attribute dimension keeps (`max_values`, in dimension order;
    /// values not seen for the longest window give their place up).
    pub fn with_dimension_caps(mut self, caps: Vec<usize>) -> Self {
        self.card = Cardinality::new(caps);
        self
    }

    fn armed(&mut self, batch: &ObservationBatch, obs: &Observation, scope: [u32; 2], recv: f64) {
        let Some(key) = obs.arming_key() else { return };
        let mut c = Contest::new(&pending_name(batch, obs), scope, recv);
        c.group = self.group_of(batch, obs, recv);
        (c.life, c.ends) = Lifecycle::arming(&Pending::armed(obs, c.group));
        c.events = 1;
        // A re-armed key replaces the earlier arming: the later event wins.
        self.contests.insert((scope[0], key ^ ARMING_TAG), c);
    }

    fn expired(&mut self, batch: &ObservationBatch, obs: &Observation, scope: [u32; 2], recv: f64) {
        let Some(key) = obs.arming_key() else { return };
        let slot = (scope[0], key ^ ARMING_TAG);
        let group = self.group_of(batch, obs, recv);
        // An expiry without its armed event still counts (as the monitor's does), unnamed.
        // A reduced earlier expiry is replaced, as a full one would be.
        self.closed.take(identity(slot.0, slot.1));
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
        self.closed_order.push_back(slot);
    }

    fn on_contest(
        &mut self,
        batch: &ObservationBatch,
        obs: &Observation,
        scope: [u32; 2],
        recv: f64,
    ) {
        let Some(key) = obs.contest() else { return };
        let group = self.group_of(batch, obs, recv);
        let slot = (scope[0], key);
        let mut reopened = false;
        let mut c = match self.contests.remove(&slot) {
            Some(c) => c,
            None => {
                let id = batch.text(obs.contest_id).unwrap_or_default();
                match self.closed.take(identity(slot.0, slot.1)) {
                    Some(rec) => {
                        reopened = true;
                        self.expand(rec, id, scope, recv)
                    }
                    None => Contest::new(id, scope, recv),
                }
            }
        };
        let was_closed = c.life.is_closed() && !reopened;
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
        if c.life.is_closed() && !was_closed {
            self.closed_order.push_back(slot);
        }
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
            let s = c.samples[i];
            if s.series != NO_SERIES {
                // Already counted: a later event changed the value (or the group); the sample
                // keeps its slice, scope and metric, and one that has left every window stays
                // with the window it was counted in.
                let Some(&was) = self.ring.series(s.series) else {
                    continue;
                };
                let series = self.ring.series_id(SeriesKey {
                    group: c.group,
                    ..was
                });
                if series != s.series || v.total_cmp(&s.value).is_ne() {
                    self.ring.replace(s.slice, (s.series, s.value), (series, v));
                    c.samples[i] = Sample {
                        series,
                        value: v,
                        ..s
                    };
                }
                continue;
            }
            let series = self.ring.series_id(SeriesKey {
                scope: c.scope,
                group: c.group,
                metric: metric.index() as u8,
            });
            let slice = self.ring.slice_of(recv);
            self.ring.add(slice, series, v);
            c.samples[i] = Sample {
                slice,
                series,
                value: v,
            };
        }
    }

    fn evict_samples(&mut self) {
        let floor = self.ring.advance(self.latest_recv);
        self.closed.expire(floor);
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

    /// Number of contests held in memory (in full or reduced).
    pub fn len(&self) -> usize {
        self.contests.len() + self.closed.len()
    }

    /// Whether no contest is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Distinct strings held (scopes and group values): values an attribute dimension folds into
    /// `other` are never held.
    pub fn strings_held(&self) -> usize {
        self.strings.len()
    }

    /// Number of window samples held.
    pub fn samples(&self) -> usize {
        self.ring.held() as usize
    }

    /// Number of contests held with their full record (open ones and the recent closed ones).
    pub fn full_records(&self) -> usize {
        self.contests.len()
    }

    pub(super) fn scope_matches(
        &self,
        scope: [u32; 2],
        game: Option<&str>,
        env: Option<&str>,
    ) -> bool {
        let want = |id: u32, text: Option<&str>| match text {
            None => true,
            Some(t) => self.strings.find(t).is_some_and(|w| w == id),
        };
        want(scope[0], game) && want(scope[1], env)
    }
}
