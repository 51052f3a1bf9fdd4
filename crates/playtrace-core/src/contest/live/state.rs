//! The live contests themselves: folding committed batches into contests (through the shared
//! [`crate::contest::lifecycle`]) and each known duration into the rolling windows' samples, and
//! forgetting what no window or query needs any more.

use crate::budget::Metric;
use crate::contest::interner::Interner;
use crate::contest::lifecycle::{
    fill_missing, pending_name, value, ContestState, Ends, Lifecycle, Pending, NONE,
};
use crate::event::EventKind;
use crate::scan::{Key, Observation, ObservationBatch, Span};
use std::collections::{HashMap, VecDeque};

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

/// Marks a duration that has no window sample yet.
pub(super) const NO_SAMPLE: u64 = u64::MAX;

/// Arming-phase entries are keyed by their arming key with this bit pattern mixed in, so they
/// never collide with a contest id's key in the one map.
const ARMING_TAG: Key = 0x5a5a_5a5a_5a5a_5a5a_a5a5_a5a5_a5a5_a5a5;

/// One contest (or one armed contest not launched yet, keyed by its arming key).
#[derive(Debug, Clone)]
pub(super) struct Contest {
    /// `contestId`, or `hubId:roomId:contestKey` before launch.
    pub(super) id: Box<str>,
    pub(super) scope: [u32; 2],
    pub(super) group: [u32; 4],
    pub(super) life: Lifecycle,
    /// Kept inline: the contest view shows every time.
    pub(super) ends: Ends,
    pub(super) outcomes: Vec<Box<str>>,
    pub(super) first_recv: f64,
    pub(super) launched_recv: f64,
    pub(super) closed_recv: f64,
    pub(super) updated_recv: f64,
    pub(super) events: u32,
    /// Window samples (absolute indices): arming (or expired arming), resolution.
    pub(super) samples: [u64; 2],
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

/// One duration in a rolling window.
#[derive(Debug, Clone, Copy)]
pub(super) struct Sample {
    pub(super) recv_ms: f64,
    pub(super) value: f64,
    pub(super) metric: Metric,
    pub(super) scope: [u32; 2],
    pub(super) group: [u32; 4],
}

/// Live contests and the samples of the rolling windows.
pub struct LiveContests {
    pub(super) options: LiveOptions,
    pub(super) contests: HashMap<(u32, Key), Contest>,
    pub(super) samples: VecDeque<Sample>,
    /// Absolute index of `samples[0]`.
    pub(super) base: u64,
    pub(super) strings: Interner,
    /// Latest receive time seen (the clock of replays).
    pub(super) latest_recv: f64,
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
