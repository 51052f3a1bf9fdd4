//! Closed contests reduced to what can still change a window: once a closed contest's full record
//! leaves memory (only the most recent closed contests keep one), it stays here as a 40-byte
//! record plus the times its durations still depend on (for most contests two explicit
//! durations, 4 bytes each when `f32` holds them exactly, else 8) — its identity, what its
//! durations are derived from, and where its samples were counted — until its
//! samples have left the longest window. A later event for it (SPEC §3: a later event wins)
//! brings it back as a full record and replaces its samples instead of adding second ones, so the
//! collector keeps equalling `playtrace monitor` on the same lines.
//!
//! Records sit in a queue in the order they were closed (which is the order their samples age),
//! their times in a second queue in the same order; a hash table indexes records by identity.

use crate::contest::lifecycle::packed::Packed;
use crate::contest::lifecycle::{ContestState, Lifecycle};
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

/// One closed contest, reduced (40 bytes; its times sit in [`ClosedStore::times`]).
#[derive(Debug, Clone, Copy)]
struct Record {
    /// The contest's identity (game and key, mixed); `[0, 0]` marks a record taken back.
    key: [u64; 2],
    /// Arming (or expired arming), resolution.
    samples: [SampleRef; 2],
    /// Absolute index (wrapping) of its first time in [`ClosedStore::times`].
    times_at: u32,
    /// Which of [`Packed`]'s five times are known (one bit each, in slot order).
    mask: u8,
    /// Which known times take two words (an `f64` that `f32` does not hold exactly).
    wide: u8,
    flags: u8,
    sources: u8,
}

impl Record {
    fn until(&self) -> Slice {
        self.samples[0].slice.max(self.samples[1].slice)
    }

    fn is_taken(&self) -> bool {
        self.key == [0, 0]
    }

    /// Words its times take in [`ClosedStore::times`].
    fn words(&self) -> usize {
        (self.mask.count_ones() + self.wide.count_ones()) as usize
    }

    fn state(&self) -> ContestState {
        let packed = Packed::from_parts(0, &[], self.flags, self.sources);
        Lifecycle::unpack(&packed).0.state(0.0, 0.0, f64::INFINITY)
    }
}

/// A closed contest taken back: what its durations are derived from and where its samples were
/// counted.
#[derive(Debug, Clone, Copy)]
pub(super) struct Closed {
    pub(super) packed: Packed,
    /// Arming (or expired arming), resolution.
    pub(super) samples: [SampleRef; 2],
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
    records: VecDeque<Record>,
    /// Absolute number of `records[0]` (indices wrap at `u32`).
    base: u32,
    /// The records' known times, in record order: one word for a time `f32` holds exactly, two
    /// (high, low) for any other.
    times: VecDeque<u32>,
    /// Absolute number of `times[0]` (wrapping).
    times_base: u32,
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
        let (mask, known, flags, sources) = packed.needed().parts();
        let times_at = self.times_base.wrapping_add(self.times.len() as u32);
        let mut wide = 0u8;
        for (i, &t) in known[..mask.count_ones() as usize].iter().enumerate() {
            let narrow = t as f32;
            if f64::from(narrow).to_bits() == t.to_bits() {
                self.times.push_back(narrow.to_bits());
            } else {
                wide |= 1 << i;
                let bits = t.to_bits();
                self.times.push_back((bits >> 32) as u32);
                self.times.push_back(bits as u32);
            }
        }
        let record = Record {
            key: identity,
            samples,
            times_at,
            mask,
            wide,
            flags,
            sources,
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
        let mut at = record.times_at.wrapping_sub(self.times_base) as usize;
        let mut known = [f64::NAN; 5];
        for (i, slot) in known
            .iter_mut()
            .take(record.mask.count_ones() as usize)
            .enumerate()
        {
            let word = |n: usize| self.times.get(n).copied().unwrap_or(0);
            if record.wide & (1 << i) != 0 {
                *slot = f64::from_bits(u64::from(word(at)) << 32 | u64::from(word(at + 1)));
                at += 2;
            } else {
                *slot = f64::from(f32::from_bits(word(at)));
                at += 1;
            }
        }
        Some(Closed {
            packed: Packed::from_parts(record.mask, &known, record.flags, record.sources),
            samples: record.samples,
        })
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
            let words = front.words();
            self.times.drain(..words.min(self.times.len()));
            self.times_base = self.times_base.wrapping_add(words as u32);
            self.records.pop_front();
            self.base = self.base.wrapping_add(1);
        }
        if self.records.capacity() > 1024 && self.records.len() < self.records.capacity() / 4 {
            self.records.shrink_to(self.records.len() * 2);
        }
        if self.times.capacity() > 1024 && self.times.len() < self.times.capacity() / 4 {
            self.times.shrink_to(self.times.len() * 2);
        }
        if self.index.capacity() > 1024 && self.index.len() < self.index.capacity() / 4 {
            let (records, base) = (&self.records, self.base);
            self.index.shrink_to(self.index.len() * 2, |&i| {
                hash(&records[i.wrapping_sub(base) as usize].key)
            });
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

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(slice: Slice) -> [SampleRef; 2] {
        [
            SampleRef { slice, series: 0 },
            SampleRef { slice, series: 1 },
        ]
    }

    /// Times come back bit for bit whether they fit `f32` (integers, halves) or not (epoch
    /// milliseconds, 0.1), and expiring the oldest records keeps the others' times in place.
    #[test]
    fn reduced_records_keep_their_times_exactly() {
        let mut store = ClosedStore::default();
        let cases = [
            [1_500.0, 250.5, f64::NAN, f64::NAN, f64::NAN],
            [
                f64::NAN,
                f64::NAN,
                1.795e12 + 0.25,
                1.795e12 - 100.0,
                1.795e12 + 900.1,
            ],
            [0.1, f64::NAN, 1.795e12, f64::NAN, 1.795e12 + 3.0],
        ];
        for (i, times) in cases.iter().enumerate() {
            let packed = Packed::from_parts(
                times
                    .iter()
                    .enumerate()
                    .filter(|(_, t)| !t.is_nan())
                    .fold(0, |m, (b, _)| m | 1 << b),
                &times
                    .iter()
                    .copied()
                    .filter(|t| !t.is_nan())
                    .collect::<Vec<_>>(),
                1,
                0,
            );
            store.insert(identity(1, i as u128 + 1), packed, sample(i as Slice));
        }
        store.expire(1);
        assert_eq!(store.len(), 2);
        assert!(store.take(identity(1, 1)).is_none(), "expired");
        for i in [2usize, 1] {
            let back = store.take(identity(1, i as u128 + 1)).unwrap();
            let want = Packed::from_parts(0, &[], 1, 0);
            let (mask, known, ..) = back.packed.parts();
            let expect: Vec<u64> = cases[i]
                .iter()
                .filter(|t| !t.is_nan())
                .map(|t| t.to_bits())
                .collect();
            let got: Vec<u64> = known[..mask.count_ones() as usize]
                .iter()
                .map(|t| t.to_bits())
                .collect();
            assert_eq!(got, expect, "case {i}");
            assert_eq!(back.samples, sample(i as Slice));
            assert_eq!(back.packed.parts().2, want.parts().2);
        }
    }
}
