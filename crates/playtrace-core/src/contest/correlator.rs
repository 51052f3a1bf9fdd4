//! Folding observations into contests, and contests into a summary.

use super::cardinality::Cardinality;
use super::interner::Interner;
use super::lifecycle::{fill_missing, value, Lifecycle, Pending, NONE};
use super::sentiment::SentimentStats;
use super::shard::{shard_of, ContestShard, Prepared};
use super::table::BuildKeyHasher;
use crate::budget::{
    evaluate, BudgetResult, BudgetSet, Metric, DEFAULT_ARMING_P95_MS, DEFAULT_RESOLUTION_P95_MS,
};
use crate::dims::{Dimensions, Group, GROUP_SLOTS};
use crate::event::EventKind;
use crate::num::Num;
use crate::quantile::{sort_samples, Distribution};
use crate::reject::{RejectCounts, RejectKind};
use crate::scan::{BatchOptions, Key, Observation, ObservationBatch, Span};
use crate::summary::{
    DurationStats, Durations, GroupDim, GroupEntry, Groups, Participants, Raw, RawContest,
    RawExpired, RawFailure, RejectsSummary, Summary, Timeouts, Totals,
};
use std::collections::{BTreeMap, HashMap};

/// What the summary should contain beyond the defaults.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CorrelatorOptions {
    /// Keep per-contest records for `raw` (costs memory per contest id).
    pub include_raw: bool,
    /// Report budgets per group of these dimensions.
    pub group_by: Vec<GroupDim>,
}

struct ExpiredSample {
    arming_ms: f64,
    participants: u32,
    group: Group,
}

/// Correlates contest lifecycle events into per-contest records: an in-order part
/// ([`Ordered`]) and the contests in [`ContestShard`]s, which several threads may fold at once
/// ([`Correlator::split`]); [`Correlator::apply`] does both on one thread.
pub struct Correlator {
    ordered: Ordered,
    shards: Vec<ContestShard>,
    /// Contests [`Correlator::reserve`] asked room for, not made yet.
    reserved: usize,
    prepared: Prepared,
}

/// The part of correlation that must see batches in input order: armed contests waiting for
/// their launch (by `hubId:roomId:contestKey`, so across contest ids), expiries, workflow
/// failures, sentiment, interned group values and the dimensions' cardinality guard. It is cheap
/// next to the contests' own records, which [`ContestShard`]s fold.
pub struct Ordered {
    options: CorrelatorOptions,
    /// Whether any hub/room/move/type string is kept (grouping or raw output).
    keeps_strings: bool,
    pending: HashMap<Key, Pending, BuildKeyHasher>,
    /// Batches prepared so far: the next one's number.
    batches: u64,
    /// How many shards the contests are split into.
    shards: usize,
    workflow_failures: u64,
    raw_failures: Vec<RawFailure>,
    expired: Vec<ExpiredSample>,
    sentiment: SentimentStats,
    strings: Interner,
    events: u64,
    /// The attribute dimensions' cardinality guard.
    card: Cardinality,
    dim_attrs: Vec<String>,
}

impl Correlator {
    /// A correlator producing what `options` ask for.
    pub fn new(options: CorrelatorOptions) -> Self {
        let include_raw = options.include_raw;
        let ordered = Ordered {
            keeps_strings: options.include_raw || !options.group_by.is_empty(),
            options,
            pending: HashMap::default(),
            batches: 0,
            shards: 1,
            workflow_failures: 0,
            raw_failures: Vec::new(),
            expired: Vec::new(),
            sentiment: SentimentStats::default(),
            strings: Interner::default(),
            events: 0,
            card: Cardinality::default(),
            dim_attrs: Vec::new(),
        };
        Correlator {
            ordered,
            shards: vec![ContestShard::new(0, include_raw)],
            reserved: 0,
            prepared: Prepared::default(),
        }
    }

    /// Makes room for about `contests` contests up front (avoids rehashing a large index while
    /// reading; a guess from the input size is fine). The room is made when the first batch is
    /// folded, split among the shards there are then: a table reserved for one shard and freed
    /// for two would cost memory that is never given back.
    pub fn reserve(&mut self, contests: usize) {
        self.reserved = contests;
    }

    /// Makes the room [`Correlator::reserve`] asked for, once.
    fn make_room(&mut self) {
        let contests = std::mem::take(&mut self.reserved);
        if contests > 0 {
            let count = self.shards.len();
            for shard in &mut self.shards {
                shard.reserve(contests / count + 1);
            }
        }
    }

    /// Splits the contests into `count` shards for [`Correlator::split`] (one thread per shard
    /// at most folds at a time). Only before the first contest is seen; later the shards stay as
    /// they are. Results never depend on the count.
    pub fn set_shards(&mut self, count: usize) {
        let count = count.max(1);
        if count == self.shards.len() || self.shards.iter().any(|s| !s.is_empty()) {
            return;
        }
        let include_raw = self.ordered.options.include_raw;
        self.ordered.shards = count;
        self.shards = (0..count)
            .map(|n| ContestShard::new(n, include_raw))
            .collect();
    }

    /// The in-order part and the shards, to fold on several threads: every batch goes through
    /// [`Ordered::prepare`] in input order, then through every shard's [`ContestShard::apply`],
    /// each shard also in input order (different shards may be at different batches).
    pub fn split(&mut self) -> (&mut Ordered, &mut [ContestShard]) {
        self.make_room();
        (&mut self.ordered, &mut self.shards)
    }

    /// The batch options that keep exactly the strings this correlator needs.
    pub fn batch_options(&self) -> BatchOptions {
        let by = |d| self.ordered.options.group_by.contains(&d);
        BatchOptions {
            keep_raw: self.ordered.options.include_raw,
            keep_hub_room: by(GroupDim::Hub) || by(GroupDim::Room),
            keep_move_type: by(GroupDim::Move) || by(GroupDim::Type),
        }
    }

    /// Events read so far (contest or not).
    pub fn events(&self) -> u64 {
        self.ordered.events
    }

    /// Folds one batch; batches must come in input order ("a later event wins").
    pub fn apply(&mut self, batch: &ObservationBatch) {
        self.make_room();
        self.ordered.prepare(batch, &mut self.prepared);
        for shard in &mut self.shards {
            shard.apply(batch, &self.prepared);
        }
    }

    /// Reads the attribute dimensions `dims` (`--dimension`, `[[dimensions]]`) so
    /// `group_by` may name them; each keeps its first `max_values` values over the run, later
    /// ones are grouped as `other` and counted in `groups.folded`.
    pub fn with_dimensions(mut self, dims: &Dimensions) -> Self {
        self.ordered.card = Cardinality::new(dims.caps());
        self.ordered.dim_attrs = dims.attrs();
        self
    }

    /// The attributes batches must read for this correlator
    /// ([`ObservationBatch::set_dim_attrs`]).
    pub fn dim_attrs(&self) -> &[String] {
        &self.ordered.dim_attrs
    }
}

impl Ordered {
    /// The in-order part of folding one batch: what links events across contests, and what
    /// the shards need from it, into `prepared`. Batches must come in input order.
    pub fn prepare(&mut self, batch: &ObservationBatch, prepared: &mut Prepared) {
        prepared.shards(self.shards);
        prepared.clear();
        prepared.seq = self.batches;
        self.batches += 1;
        self.events += batch.events;
        for (i, obs) in batch.observations.iter().enumerate() {
            match obs.kind {
                EventKind::Armed => self.armed(batch, obs),
                EventKind::Launched
                | EventKind::Resolved
                | EventKind::WorkflowStarted
                | EventKind::TimingFallback
                | EventKind::OtherContest => {
                    if let Some(key) = obs.contest() {
                        prepared.add(shard_of(key, self.shards), i as u32);
                        if self.keeps_strings {
                            let group = self.group_of(batch, obs);
                            prepared.groups.push((i as u32, group));
                        }
                        if obs.kind == EventKind::Launched {
                            if let Some(p) = obs.arming_key().and_then(|k| self.pending.remove(&k))
                            {
                                prepared.pendings.push((i as u32, p));
                            }
                        }
                    }
                }
                EventKind::WorkflowFailed => {
                    if let Some(key) = obs.contest() {
                        prepared.add(shard_of(key, self.shards), i as u32);
                    }
                    self.failed(batch, obs);
                }
                EventKind::Expired => self.expired(batch, obs),
                EventKind::Sentiment => {
                    if let Some(sample) = obs
                        .sentiment()
                        .and_then(|i| batch.sentiments.get(i as usize))
                    {
                        self.sentiment.add(batch, sample);
                    }
                }
                EventKind::RematchCooling | EventKind::RematchBlocked | EventKind::Other => {}
            }
        }
    }

    fn intern(&mut self, batch: &ObservationBatch, span: Span) -> u32 {
        match batch.text(span) {
            Some(s) => self.strings.intern(s),
            None => NONE,
        }
    }

    fn group_of(&mut self, batch: &ObservationBatch, obs: &Observation) -> Group {
        let mut g = [NONE; GROUP_SLOTS];
        if !self.keeps_strings {
            return g;
        }
        g[0] = self.intern(batch, obs.hub);
        g[1] = self.intern(batch, obs.room);
        g[2] = self.intern(batch, obs.move_);
        g[3] = self.intern(batch, obs.type_);
        for (i, span) in obs.attrs.iter().enumerate() {
            // A whole run is one window: the first max_values values are kept.
            g[4 + i] = self
                .card
                .value(&mut self.strings, i, batch.text(*span), 0.0, f64::INFINITY);
        }
        g
    }

    fn armed(&mut self, batch: &ObservationBatch, obs: &Observation) {
        let Some(key) = obs.arming_key() else { return };
        let group = self.group_of(batch, obs);
        // A re-armed key replaces the earlier arming: the later event wins.
        self.pending.insert(key, Pending::armed(obs, group));
    }

    fn failed(&mut self, batch: &ObservationBatch, obs: &Observation) {
        self.workflow_failures += 1;
        if self.options.include_raw {
            let text = |span| batch.text(span).map(str::to_owned);
            self.raw_failures.push(RawFailure {
                message: "telemetry.contest.workflowFailed",
                hub_id: text(obs.hub),
                room_id: text(obs.room),
                contest_id: text(obs.contest_id),
                contest_key: text(obs.contest_key),
                error: text(obs.error).unwrap_or_else(|| "workflow_failed".to_string()),
            });
        }
    }

    fn expired(&mut self, batch: &ObservationBatch, obs: &Observation) {
        let pending = obs.arming_key().and_then(|k| self.pending.remove(&k));
        let (life, ends) = Lifecycle::expire(pending.as_ref(), obs);
        let mut group = self.group_of(batch, obs);
        if let Some(p) = &pending {
            fill_missing(&mut group, p.group);
        }
        self.expired.push(ExpiredSample {
            arming_ms: life.durations(Some(&ends)).0.unwrap_or(f64::NAN),
            participants: life.participants().unwrap_or(NONE),
            group,
        });
    }
}

impl Correlator {
    /// Produces the summary: distributions, budgets (overall and per group), participants,
    /// sentiment, and `raw` when asked for.
    pub fn finish(self, budgets: &BudgetSet, rejects: RejectCounts) -> Summary {
        let Correlator {
            ordered: this,
            shards,
            ..
        } = self;
        this.summarize(&shards, budgets, rejects)
    }
}

impl Ordered {
    fn summarize(
        self,
        shards: &[ContestShard],
        budgets: &BudgetSet,
        rejects: RejectCounts,
    ) -> Summary {
        let mut arming = Vec::new();
        let mut resolution = Vec::new();
        let mut participants = Vec::new();
        let (mut missing_arming, mut missing_resolution) = (0, 0);
        let (mut resolved, mut unresolved, mut capacity_over_two) = (0, 0, 0);
        let grouping = !self.options.group_by.is_empty();
        let mut groups: HashMap<Group, GroupSamples> = HashMap::new();
        let mut raw_contests = Vec::new();

        let records = shards
            .iter()
            .flat_map(|s| s.records.iter().enumerate().map(move |(i, r)| (s, i, r)));
        for (shard, idx, rec) in records {
            let (a, r) = rec.life.durations(shard.timings.get(&(idx as u32)));
            match a {
                Some(v) => arming.push(v),
                None => missing_arming += 1,
            }
            let is_resolved = rec.life.is_resolved();
            match r {
                Some(v) => resolution.push(v),
                None if is_resolved => missing_resolution += 1,
                None => {}
            }
            if is_resolved {
                resolved += 1;
            } else if !rec.life.is_failed() {
                unresolved += 1;
            }
            if let Some(p) = rec.life.participants() {
                participants.push(f64::from(p));
            }
            if rec.life.capacity().is_some_and(|c| c > 2) {
                capacity_over_two += 1;
            }
            if grouping {
                let g = groups.entry(self.group_key(rec.group)).or_default();
                g.contests += 1;
                g.samples[0].extend(a);
                g.samples[1].extend(r);
            }
            if let Some(info) = shard.raw.get(idx).filter(|_| self.options.include_raw) {
                let text = |id: u32| self.strings.get(id).map(str::to_owned);
                raw_contests.push((
                    info.first,
                    RawContest {
                        contest_id: info.contest_id.clone(),
                        hub_id: text(rec.group[0]),
                        room_id: text(rec.group[1]),
                        arming_duration_ms: a.map(Num),
                        resolution_duration_ms: r.map(Num),
                        participant_count: rec.life.participants(),
                        participant_capacity: rec.life.capacity(),
                        outcomes: info.outcomes.clone(),
                        resolved: is_resolved,
                    },
                ));
            }
        }
        // Raw lists contests in the order they were first seen, whichever shard holds them.
        raw_contests.sort_by_key(|(first, _)| *first);
        let raw_contests: Vec<RawContest> = raw_contests.into_iter().map(|(_, c)| c).collect();

        let mut expired_arming = Vec::new();
        let mut expired_participants = Vec::new();
        let mut missing_expired = 0;
        for e in &self.expired {
            match value(e.arming_ms) {
                Some(v) => expired_arming.push(v),
                None => missing_expired += 1,
            }
            if e.participants != NONE {
                expired_participants.push(f64::from(e.participants));
            }
            if grouping {
                let g = groups.entry(self.group_key(e.group)).or_default();
                g.expired += 1;
                g.samples[2].extend(value(e.arming_ms));
            }
        }

        for samples in [
            &mut arming,
            &mut resolution,
            &mut participants,
            &mut expired_arming,
            &mut expired_participants,
        ] {
            sort_samples(samples);
        }
        let arming_limit = budgets
            .p95_limit(Metric::Arming)
            .unwrap_or(DEFAULT_ARMING_P95_MS);
        let legacy = |sorted: &[f64], missing: u64, budget: f64| {
            let d = Distribution::of_sorted(sorted);
            DurationStats {
                samples: d.samples,
                missing,
                p50: d.p50.map(Num),
                p95: d.p95.map(Num),
                p99: d.p99.map(Num),
                max: d.max.map(Num),
                budget: Num(budget),
                breached: d.p95.is_some_and(|p| p > budget),
            }
        };
        let durations = Durations {
            arming: legacy(&arming, missing_arming, arming_limit),
            resolution: legacy(
                &resolution,
                missing_resolution,
                budgets
                    .p95_limit(Metric::Resolution)
                    .unwrap_or(DEFAULT_RESOLUTION_P95_MS),
            ),
            expired_arming: legacy(
                &expired_arming,
                missing_expired,
                budgets
                    .p95_limit(Metric::ExpiredArming)
                    .unwrap_or(arming_limit),
            ),
        };
        let check = |samples: [&[f64]; 3]| -> Vec<BudgetResult> {
            budgets
                .budgets
                .iter()
                .map(|b| evaluate(b, samples[b.metric.index()]))
                .collect()
        };
        let overall = check([&arming, &resolution, &expired_arming]);

        let groups = grouping.then(|| {
            let mut entries: Vec<GroupEntry> = groups
                .into_iter()
                .map(|(key, mut g)| {
                    for s in &mut g.samples {
                        sort_samples(s);
                    }
                    GroupEntry {
                        key: self.group_label(key),
                        contests: g.contests,
                        expired: g.expired,
                        budgets: check([&g.samples[0], &g.samples[1], &g.samples[2]]),
                    }
                })
                .collect();
            entries.sort_by(|a, b| a.key.cmp(&b.key));
            // Observations whose value a dimension's cap folded into `other`, by dimension.
            let folded = self
                .options
                .group_by
                .iter()
                .filter_map(|d| match d {
                    GroupDim::Attr(a) => {
                        let n = self.card.folded().get(usize::from(a.index)).copied()?;
                        (n > 0).then(|| (a.name.to_string(), n))
                    }
                    _ => None,
                })
                .collect();
            Groups {
                by: self.options.group_by.clone(),
                entries,
                folded,
            }
        });

        let totals = Totals {
            contests_observed: shards.iter().map(ContestShard::len).sum::<usize>() as u64,
            resolved_contests: resolved,
            workflow_failures: self.workflow_failures,
            expired_contests: self.expired.len() as u64,
            unresolved_contests: unresolved,
        };
        let raw = self.options.include_raw.then(|| Raw {
            contests: raw_contests,
            workflow_failures: self.raw_failures,
            expired: (!expired_arming.is_empty() || !expired_participants.is_empty()).then(|| {
                RawExpired {
                    arming_durations: expired_arming.iter().copied().map(Num).collect(),
                    participant_counts: expired_participants.iter().copied().map(Num).collect(),
                }
            }),
        });
        let mut by_kind = BTreeMap::new();
        for kind in RejectKind::ALL {
            by_kind.insert(kind.as_str(), rejects.get(kind));
        }
        Summary {
            totals,
            sentiment: self.sentiment.finish(),
            durations,
            participants: Participants {
                samples: participants.len() as u64,
                average: mean(&participants),
                max: participants.last().copied().map(Num),
                multi_actor_contests: participants.iter().filter(|&&p| p > 2.0).count() as u64,
                capacity_over_two,
                timeouts: Timeouts {
                    samples: expired_participants.len() as u64,
                    average: mean(&expired_participants),
                    max: expired_participants.last().copied().map(Num),
                    multi_actor_contests: expired_participants.iter().filter(|&&p| p > 2.0).count()
                        as u64,
                },
            },
            rejects: RejectsSummary {
                total: rejects.total(),
                by_kind,
            },
            budgets: overall,
            groups,
            raw,
        }
    }

    /// The group a record falls in: its interned values for the chosen dimensions only.
    fn group_key(&self, group: Group) -> Group {
        let mut key = [NONE; GROUP_SLOTS];
        for dim in &self.options.group_by {
            let i = dim.index();
            key[i] = group[i];
        }
        key
    }

    fn group_label(&self, key: Group) -> BTreeMap<GroupDim, Option<String>> {
        self.options
            .group_by
            .iter()
            .map(|&dim| (dim, self.strings.get(key[dim.index()]).map(str::to_owned)))
            .collect()
    }
}

#[derive(Default)]
struct GroupSamples {
    contests: u64,
    expired: u64,
    /// Arming, resolution, expired arming.
    samples: [Vec<f64>; 3],
}

fn mean(values: &[f64]) -> Option<Num> {
    (!values.is_empty()).then(|| Num(values.iter().sum::<f64>() / values.len() as f64))
}

#[cfg(test)]
mod tests;
