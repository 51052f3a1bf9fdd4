//! One share of a run's contests: the part of correlation that can run on several threads.
//!
//! A contest's events only ever touch its own record, so the records are split by a hash of the
//! contest id into shards, and each shard folds *its* contests' events of every batch in input
//! order. Whichever thread folds a shard, and however many shards there are, each contest sees
//! exactly the events it would see in one in-order fold, in the same order: "a later event wins"
//! is decided by position in the input, and results do not depend on the thread count.
//!
//! What links contests to one another or needs the whole run's order (armed contests waiting
//! for their launch, expiries, sentiment, interned group values and the dimensions' cardinality
//! guard) stays in the in-order part, [`super::Correlator`]'s [`super::Ordered`], which hands
//! each batch's links to the shards as a [`Prepared`].

use super::lifecycle::{fill_missing, Ends, EndsSlot, Lifecycle, Pending, NONE};
use super::table::{BuildKeyHasher, ChunkedVec, ContestIndex};
use crate::dims::{Group, GROUP_SLOTS};
use crate::event::EventKind;
use crate::scan::{Key, Observation, ObservationBatch};
use std::collections::{HashMap, HashSet};

/// One contest, 88 bytes: identity, lifecycle (explicit durations, launch time, participants),
/// group. Derived durations are computed when the run finishes from the lifecycle and the
/// contest's [`Ends`], which only contests lacking an explicit duration have.
pub(super) struct ContestRecord {
    pub(super) key: [u64; 2],
    pub(super) life: Lifecycle,
    /// Interned hub, room, move, type (only those the options need).
    pub(super) group: Group,
}

/// A contest's [`Ends`] in the shard's side table, created on first use.
struct SideEnds<'a> {
    table: &'a mut HashMap<u32, Ends, BuildKeyHasher>,
    idx: u32,
}

impl EndsSlot for SideEnds<'_> {
    const KEEP_ALL: bool = false;

    fn ends(&mut self) -> &mut Ends {
        self.table.entry(self.idx).or_default()
    }
}

/// Strings kept for `raw`, and where the contest was first seen (raw lists contests in input
/// order, whichever shard holds them).
pub(super) struct RawInfo {
    pub(super) first: u64,
    pub(super) contest_id: String,
    pub(super) outcomes: Vec<String>,
}

/// What the in-order part worked out for one batch that the shards need: the batch's position
/// in the input, the armed contest each launch completes, and the group of each contest event.
#[derive(Debug, Default)]
pub struct Prepared {
    /// The batch's number in input order.
    pub(super) seq: u64,
    /// `(observation index, the pending contest its launch completes)`, in observation order.
    pub(super) pendings: Vec<(u32, Pending)>,
    /// `(observation index, group)` of every contest event, when groups are kept.
    pub(super) groups: Vec<(u32, Group)>,
    /// Per shard, the indexes of the observations it folds (so that no shard walks the
    /// others' observations).
    pub(super) by_shard: Vec<Vec<u32>>,
}

impl Prepared {
    /// Empties it for reuse.
    pub fn clear(&mut self) {
        self.seq = 0;
        self.pendings.clear();
        self.groups.clear();
        for list in &mut self.by_shard {
            list.clear();
        }
    }

    /// Observation `i` goes to shard `shard`.
    pub(super) fn add(&mut self, shard: usize, i: u32) {
        if let Some(list) = self.by_shard.get_mut(shard) {
            list.push(i);
        }
    }

    /// Makes room for `count` shards' lists.
    pub(super) fn shards(&mut self, count: usize) {
        self.by_shard.resize_with(count, Vec::new);
    }
}

/// The shard of a contest key among `count`: the key's high half, which the index's hash tables
/// do not use, scaled onto `0..count`.
pub(super) fn shard_of(key: Key, count: usize) -> usize {
    (((key >> 64) as u64 as u128 * count as u128) >> 64) as usize
}

/// One share of the contests (see the module documentation).
pub struct ContestShard {
    pub(super) number: usize,
    include_raw: bool,
    index: ContestIndex,
    pub(super) records: ChunkedVec<ContestRecord>,
    pub(super) raw: Vec<RawInfo>,
    pub(super) timings: HashMap<u32, Ends, BuildKeyHasher>,
    failed_before_seen: HashSet<Key, BuildKeyHasher>,
}

/// A cursor over a [`Prepared`] list, which is in observation order like the walk over it.
fn take<'a, T>(list: &'a [(u32, T)], at: &mut usize, obs: u32) -> Option<&'a T> {
    while list.get(*at).is_some_and(|(i, _)| *i < obs) {
        *at += 1;
    }
    list.get(*at).filter(|(i, _)| *i == obs).map(|(_, v)| v)
}

impl ContestShard {
    pub(super) fn new(number: usize, include_raw: bool) -> ContestShard {
        ContestShard {
            number,
            include_raw,
            index: ContestIndex::default(),
            records: ChunkedVec::default(),
            raw: Vec::new(),
            timings: HashMap::default(),
            failed_before_seen: HashSet::default(),
        }
    }

    /// Contests held.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Whether it holds no contest yet.
    pub fn is_empty(&self) -> bool {
        self.records.len() == 0
    }

    pub(super) fn reserve(&mut self, contests: usize) {
        let records = &self.records;
        self.index
            .reserve(contests, |i| records.get(i as usize).key);
    }

    /// Folds this shard's contest events of `batch`, which the in-order part has prepared;
    /// batches must come in input order.
    pub fn apply(&mut self, batch: &ObservationBatch, prepared: &Prepared) {
        let (mut at_pending, mut at_group) = (0, 0);
        let Some(mine) = prepared.by_shard.get(self.number) else {
            return;
        };
        for &i in mine {
            let Some(obs) = batch.observations.get(i as usize) else {
                continue;
            };
            let Some(key) = obs.contest() else { continue };
            match obs.kind {
                EventKind::Launched
                | EventKind::Resolved
                | EventKind::WorkflowStarted
                | EventKind::TimingFallback
                | EventKind::OtherContest => {
                    let group = take(&prepared.groups, &mut at_group, i)
                        .copied()
                        .unwrap_or([NONE; GROUP_SLOTS]);
                    let pending = take(&prepared.pendings, &mut at_pending, i);
                    let first = prepared.seq << 32 | u64::from(i);
                    self.on_contest(batch, obs, key, group, pending, first);
                }
                EventKind::WorkflowFailed => self.failed(obs, key),
                _ => {}
            }
        }
    }

    /// Finds or creates the record of contest `key`, filling group fields it still lacks.
    fn record(
        &mut self,
        batch: &ObservationBatch,
        obs: &Observation,
        key: Key,
        group: Group,
        first: u64,
    ) -> usize {
        let wanted = split(key);
        let records = &self.records;
        if let Some(idx) = self.index.find(wanted, |i| records.get(i as usize).key) {
            let rec = self.records.get_mut(idx as usize);
            fill_missing(&mut rec.group, group);
            return idx as usize;
        }
        let mut life = Lifecycle::default();
        if self.failed_before_seen.remove(&key) {
            life.fail();
        }
        let idx = self.records.push(ContestRecord {
            key: wanted,
            life,
            group,
        });
        let records = &self.records;
        self.index
            .insert(wanted, idx as u32, |i| records.get(i as usize).key);
        if self.include_raw {
            let contest_id = batch.text(obs.contest_id).unwrap_or_default().to_string();
            self.raw.push(RawInfo {
                first,
                contest_id,
                outcomes: Vec::new(),
            });
        }
        idx
    }

    /// Any event naming a `contestId` other than a workflow failure: a launch completes the
    /// pending contest the in-order part found for it.
    fn on_contest(
        &mut self,
        batch: &ObservationBatch,
        obs: &Observation,
        key: Key,
        group: Group,
        pending: Option<&Pending>,
        first: u64,
    ) {
        let idx = self.record(batch, obs, key, group, first);
        let rec = self.records.get_mut(idx);
        if let Some(p) = pending {
            fill_missing(&mut rec.group, p.group);
        }
        let ends = SideEnds {
            table: &mut self.timings,
            idx: idx as u32,
        };
        rec.life.on_event(obs, pending, ends);
        if obs.kind == EventKind::Resolved {
            self.index.close(split(key));
            if self.include_raw {
                if let (Some(outcome), Some(raw)) = (batch.text(obs.outcome), self.raw.get_mut(idx))
                {
                    raw.outcomes.push(outcome.to_string());
                }
            }
        }
    }

    /// A workflow failure of contest `key`: marks it failed, or remembers it for when the
    /// contest is first seen.
    fn failed(&mut self, obs: &Observation, key: Key) {
        let records = &self.records;
        let wanted = split(key);
        match self.index.find(wanted, |i| records.get(i as usize).key) {
            Some(idx) => {
                let ends = SideEnds {
                    table: &mut self.timings,
                    idx,
                };
                self.records
                    .get_mut(idx as usize)
                    .life
                    .on_event(obs, None, ends);
                self.index.close(wanted);
            }
            None => {
                self.failed_before_seen.insert(key);
            }
        }
    }
}

fn split(key: Key) -> [u64; 2] {
    [key as u64, (key >> 64) as u64]
}
