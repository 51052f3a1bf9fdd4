//! The duplicate check's in-memory table: a key's top 32 bits and its event's sequence number
//! (as an offset from a base) packed in one `u64` slot, open addressing with linear probing.
//!
//! A `HashMap<u64, i64>` took ~16 bytes a slot at 44–88% load and two probes an event (look up,
//! then insert), each a cache miss in a table of millions: the writer spent more on it than the
//! SQLite index it replaced saved on ids made in order. Here a slot is 8 bytes, the slot an
//! insert takes is the one the lookup ended on, and a batch's slots are touched ahead of their
//! lookups so the misses overlap. Only 32 bits of a key are kept: two keys alike in those are
//! both candidates, and the caller reads the event to tell them apart (`Dedup::find`).

/// The slot a key's fingerprint starts at, in a table of `len` slots (any `len`: the
/// fingerprint is scaled to it, so growing places every entry again from its slot alone).
fn home(fp: u32, len: usize) -> usize {
    ((u64::from(fp) * len as u64) >> 32) as usize
}

/// The slot after `at`, wrapping.
fn next(at: usize, len: usize) -> usize {
    if at + 1 == len {
        0
    } else {
        at + 1
    }
}

/// At most this share of the slots in use (8/10): a lookup of a new key then reads ~13 slots
/// (two cache lines) on average. Growing by half (not doubling) keeps the table between 53%
/// and 80% full: 10–15 bytes an entry.
const MAX_LOAD_TENTHS: usize = 8;

/// The least slots a table has.
const MIN_SLOTS: usize = 1024;

/// Fingerprint → sequence numbers, for sequence numbers within 2^32 − 1 of `base`.
#[derive(Default)]
pub(super) struct Table {
    slots: Vec<u64>,
    used: usize,
    /// Sequence numbers are stored as `seq - base` (never 0: an empty slot is 0).
    base: i64,
    /// Bumped whenever entries move (growth, trimming): older probes no longer apply.
    generation: u64,
}

/// Where a lookup ended: the first empty slot of the key's run (what an insert takes).
#[derive(Clone, Copy)]
pub(crate) struct Probe {
    end: usize,
    generation: u64,
}

impl Table {
    pub(super) fn len(&self) -> usize {
        self.used
    }

    /// The fingerprint kept of a key.
    pub(super) fn fingerprint(key: u64) -> u32 {
        (key >> 32) as u32
    }

    /// Loads the slots `keys` start at, so their lookups soon after find them in the cache.
    pub(super) fn touch(&self, keys: impl Iterator<Item = u64>) {
        if self.slots.is_empty() {
            return;
        }
        let len = self.slots.len();
        let folded = keys.fold(0u64, |acc, key| {
            acc ^ self.slots[home(Self::fingerprint(key), len)]
        });
        std::hint::black_box(folded);
    }

    /// Calls `each` with every sequence number stored under `key`'s fingerprint (newest
    /// last-inserted first is not promised) until it answers `true`; returns that one, and where
    /// an insert of `key` would go.
    pub(super) fn find(
        &self,
        key: u64,
        mut each: impl FnMut(i64) -> rusqlite::Result<bool>,
    ) -> rusqlite::Result<(Option<i64>, Probe)> {
        let len = self.slots.len();
        let probe = |end| Probe {
            end,
            generation: self.generation,
        };
        if len == 0 {
            return Ok((None, probe(0)));
        }
        let fp = Self::fingerprint(key);
        let mut at = home(fp, len);
        loop {
            let slot = self.slots[at];
            if slot == 0 {
                return Ok((None, probe(at)));
            }
            if (slot >> 32) as u32 == fp {
                let seq = self.base + (slot & 0xffff_ffff) as i64;
                if each(seq)? {
                    return Ok((Some(seq), probe(at)));
                }
            }
            at = next(at, len);
        }
    }

    /// Stores `key` → `seq`; `probe`: from a [`Table::find`] of `key` with no insert since.
    /// `false` where `seq` is out of this table's range (the caller keeps it elsewhere).
    pub(super) fn insert(&mut self, key: u64, seq: i64, probe: Option<Probe>) -> bool {
        if self.slots.is_empty() {
            self.base = seq - 1;
            self.grow();
        }
        let Some(offset) = seq
            .checked_sub(self.base)
            .filter(|&o| o > 0 && o <= i64::from(u32::MAX))
        else {
            return false;
        };
        let slot = (u64::from(Self::fingerprint(key)) << 32) | offset as u64;
        if (self.used + 1) * 10 > self.slots.len() * MAX_LOAD_TENTHS {
            self.grow();
            self.place(slot, None);
        } else {
            self.place(slot, probe);
        }
        self.used += 1;
        true
    }

    fn place(&mut self, slot: u64, probe: Option<Probe>) {
        let len = self.slots.len();
        // Slots only fill up between rebuilds: the run's first empty slot then is still its
        // first empty slot, if nothing took it.
        let mut at = match probe {
            Some(p) if p.generation == self.generation && self.slots.get(p.end) == Some(&0) => {
                p.end
            }
            _ => home((slot >> 32) as u32, len),
        };
        while self.slots[at] != 0 {
            at = next(at, len);
        }
        self.slots[at] = slot;
    }

    /// Half as many slots again (at least [`MIN_SLOTS`]), every entry placed again.
    fn grow(&mut self) {
        let len = (self.slots.len() + self.slots.len() / 2).max(MIN_SLOTS);
        let old = std::mem::replace(&mut self.slots, vec![0; len]);
        self.generation += 1;
        for slot in old.into_iter().filter(|&s| s != 0) {
            self.place(slot, None);
        }
    }

    /// Keeps the entries whose sequence number is `floor` or more, in a table sized for them.
    pub(super) fn retain_from(&mut self, floor: i64) {
        let kept: Vec<u64> = (self.slots.iter().copied())
            .filter(|&s| s != 0 && self.base + (s & 0xffff_ffff) as i64 >= floor)
            .collect();
        // Room for a third more before the next growth.
        let len = (kept.len() * 10 / MAX_LOAD_TENTHS * 4 / 3).max(MIN_SLOTS);
        self.slots = vec![0; len];
        self.generation += 1;
        self.used = kept.len();
        for slot in kept {
            self.place(slot, None);
        }
    }

    /// Bytes held.
    #[cfg(test)]
    pub(super) fn bytes(&self) -> usize {
        self.slots.len() * 8
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(table: &Table, key: u64) -> Vec<i64> {
        let mut seen = Vec::new();
        table
            .find(key, |seq| {
                seen.push(seq);
                Ok(false)
            })
            .unwrap();
        seen.sort_unstable();
        seen
    }

    #[test]
    fn every_entry_is_found_through_growth_and_alike_fingerprints_are_all_candidates() {
        let mut table = Table::default();
        let key = |i: u64| xxhash_rust::xxh3::xxh3_64(&i.to_le_bytes());
        for i in 0..10_000u64 {
            let (found, probe) = table.find(key(i), |_| Ok(true)).unwrap();
            assert_eq!(found, None);
            assert!(table.insert(key(i), 100 + i as i64, Some(probe)));
        }
        assert_eq!(table.len(), 10_000);
        // Between 53% and 80% full.
        assert!(table.bytes() <= 10_000 * 8 * 10 / 5, "{}", table.bytes());
        for i in 0..10_000u64 {
            assert!(all(&table, key(i)).contains(&(100 + i as i64)), "{i}");
        }
        // Keys alike in their top 32 bits: both are candidates, told apart by the caller.
        let a = 0xdead_beef_0000_0001u64;
        let b = 0xdead_beef_ffff_0002u64;
        table.insert(a, 20_000, None);
        table.insert(b, 20_001, None);
        assert_eq!(all(&table, a), [20_000, 20_001]);
        let (found, _) = table.find(b, |seq| Ok(seq == 20_001)).unwrap();
        assert_eq!(found, Some(20_001));
    }

    #[test]
    fn retaining_drops_entries_below_the_floor_and_shrinks() {
        let mut table = Table::default();
        let key = |i: u64| xxhash_rust::xxh3::xxh3_64(&i.to_le_bytes());
        for i in 1..=20_000u64 {
            table.insert(key(i), i as i64, None);
        }
        let before = table.bytes();
        table.retain_from(15_001);
        assert_eq!(table.len(), 5_000);
        assert!(table.bytes() < before);
        assert_eq!(all(&table, key(15_000)), Vec::<i64>::new());
        assert_eq!(all(&table, key(15_001)), [15_001]);
        // Sequence numbers out of the offset's range are refused (kept elsewhere).
        assert!(!table.insert(key(1), table.base, None));
        assert!(!table.insert(key(2), table.base + (1 << 32), None));
    }
}
