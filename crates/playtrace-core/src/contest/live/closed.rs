//! Closed contests reduced to what can still change a window: once a closed contest's full record
//! leaves memory (only the most recent closed contests keep one), it stays here as 80 bytes — its
//! identity, what its durations are derived from, and where its samples were counted — until its
//! samples have left the longest window. A later event for it (SPEC §3: a later event wins)
//! brings it back as a full record and replaces its samples instead of adding second ones, so the
//! collector keeps equalling `playtrace monitor` on the same lines.
//!
//! Records sit in a queue in the order they were closed (which is the order their samples age);
//! a hash table indexes them by identity.

use crate::contest::lifecycle::{ContestState, Lifecycle, Packed};
use crate::contest::live::ring::{SeriesId, Slice};
use hashbrown::HashTable;
use std::collections::VecDeque;

/// Where one duration of a contest was counted.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct SampleRef {
    /// The slice it was counted in (for a slot without a sample: when the record was closed).
    pub(super) slice: Slice,
    /// [`super::ring::NO_SERIES`] when the duration has no sample.
    pub(super) series: SeriesId,
}

/// One closed contest, reduced.
#[derive(Debug, Clone, Copy)]
pub(super) struct Closed {
    /// The contest's identity (game and key, mixed); `[0, 0]` marks a record taken back.
    key: [u64; 2],
    pub(super) packed: Packed,
    /// Arming (or expired arming), resolution.
    pub(super) samples: [SampleRef; 2],
}

impl Closed {
    fn until(&self) -> Slice {
        self.samples[0].slice.max(self.samples[1].slice)
    }

    fn is_taken(&self) -> bool {
        self.key == [0, 0]
    }

    pub(super) fn state(&self) -> ContestState {
        Lifecycle::unpack(&self.packed)
            .0
            .state(0.0, 0.0, f64::INFINITY)
    }
}

/// The identity of a contest as one 128-bit value (its game folded into its key).
pub(super) fn identity(game: u32, key: u128) -> [u64; 2] {
    let mixed = key ^ u128::from(game).wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c835);
    [(mixed >> 64) as u64, mixed as u64 | u64::from(mixed == 0)]
}

fn hash(key: &[u64; 2]) -> u64 {
    key[0] ^ key[1].rotate_left(29)
}

/// Reduced closed contests, oldest first.
#[derive(Debug, Default)]
pub(super) struct ClosedStore {
    records: VecDeque<Closed>,
    /// Absolute number of `records[0]` (indices wrap at `u32`).
    base: u32,
    index: HashTable<u32>,
    /// Records per closed state (resolved, failed, expired), for the state counts.
    per_state: [u64; 3],
}

fn state_slot(state: ContestState) -> usize {
    match state {
        ContestState::Failed => 1,
        ContestState::Expired => 2,
        _ => 0,
    }
}

impl ClosedStore {
    /// Keeps a closed contest reduced.
    pub(super) fn insert(&mut self, identity: [u64; 2], packed: Packed, samples: [SampleRef; 2]) {
        let record = Closed {
            key: identity,
            packed,
            samples,
        };
        self.per_state[state_slot(record.state())] += 1;
        let at = self.base.wrapping_add(self.records.len() as u32);
        self.records.push_back(record);
        let (records, base) = (&self.records, self.base);
        self.index.insert_unique(hash(&identity), at, |&i| {
            hash(&records[i.wrapping_sub(base) as usize].key)
        });
    }

    /// Takes a contest's reduced record back, if it has one.
    pub(super) fn take(&mut self, identity: [u64; 2]) -> Option<Closed> {
        let (records, base) = (&self.records, self.base);
        let entry = self
            .index
            .find_entry(hash(&identity), |&i| {
                records[i.wrapping_sub(base) as usize].key == identity
            })
            .ok()?;
        let (at, _) = entry.remove();
        let slot = &mut self.records[at.wrapping_sub(self.base) as usize];
        let record = *slot;
        slot.key = [0, 0];
        self.per_state[state_slot(record.state())] -= 1;
        Some(record)
    }

    /// Forgets the records whose samples are all older than `floor` (no window can change).
    pub(super) fn expire(&mut self, floor: Slice) {
        while let Some(front) = self.records.front() {
            if !front.is_taken() {
                if front.until() >= floor {
                    break;
                }
                let key = front.key;
                let base = self.base;
                if let Ok(entry) = self.index.find_entry(hash(&key), |&i| i == base) {
                    entry.remove();
                }
                self.per_state[state_slot(front.state())] -= 1;
            }
            self.records.pop_front();
            self.base = self.base.wrapping_add(1);
        }
        if self.records.capacity() > 1024 && self.records.len() < self.records.capacity() / 4 {
            self.records.shrink_to(self.records.len() * 2);
        }
    }

    /// Reduced records per closed state: resolved, failed, expired.
    pub(super) fn per_state(&self) -> [(ContestState, u64); 3] {
        [
            (ContestState::Resolved, self.per_state[0]),
            (ContestState::Failed, self.per_state[1]),
            (ContestState::Expired, self.per_state[2]),
        ]
    }

    /// Number of reduced records held.
    pub(super) fn len(&self) -> usize {
        self.index.len()
    }
}
