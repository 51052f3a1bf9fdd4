//! One slice's counts per (series, distinct value). While a slice is the newest, samples arrive
//! in any order and go into a hash map; once a newer slice exists it only changes when a later
//! event moves one of its samples, so it is packed into one sorted array of 16-byte entries
//! (the map took about 28 bytes a distinct value, with its spare capacity). The few changes made
//! to a packed slice that need a new entry go into a small map beside it.

/// A series' index (the ring's `SeriesId`).
type SeriesId = u32;
/// As the ring's maps: foldhash, seeded per map.
type HashMap<K, V> = hashbrown::HashMap<K, V>;

/// One packed count.
#[derive(Debug, Clone, Copy)]
struct Entry {
    key: u64,
    series: SeriesId,
    count: u32,
}

/// Counts of one slice.
#[derive(Debug, Default)]
pub(super) struct SliceCounts {
    /// Sorted by (series, key); a count may be 0 after a sample moved away.
    packed: Vec<Entry>,
    /// Counts not in `packed`.
    open: HashMap<(SeriesId, u64), u64>,
}

impl SliceCounts {
    fn find(&self, series: SeriesId, key: u64) -> Option<usize> {
        self.packed
            .binary_search_by(|e| (e.series, e.key).cmp(&(series, key)))
            .ok()
    }

    /// Adds one sample (`delta` 1) or removes one (`delta` −1); removing what is not counted
    /// changes nothing and returns false.
    pub(super) fn bump(&mut self, series: SeriesId, key: u64, delta: i8) -> bool {
        if let Some(i) = self.find(series, key) {
            let e = &mut self.packed[i];
            if delta > 0 {
                e.count += 1;
                return true;
            }
            if e.count > 0 {
                e.count -= 1;
                return true;
            }
        }
        if delta > 0 {
            *self.open.entry((series, key)).or_default() += 1;
            return true;
        }
        match self.open.get_mut(&(series, key)) {
            Some(n) if *n > 1 => *n -= 1,
            Some(_) => {
                self.open.remove(&(series, key));
            }
            None => return false,
        }
        true
    }

    /// Every count above zero: (series, order key, count).
    pub(super) fn iter(&self) -> impl Iterator<Item = (SeriesId, u64, u64)> + '_ {
        self.packed
            .iter()
            .filter(|e| e.count > 0)
            .map(|e| (e.series, e.key, u64::from(e.count)))
            .chain(self.open.iter().map(|(&(s, k), &n)| (s, k, n)))
    }

    /// Samples counted.
    pub(super) fn total(&self) -> u64 {
        self.iter().map(|(_, _, n)| n).sum()
    }

    pub(super) fn is_empty(&self) -> bool {
        self.open.is_empty() && self.packed.iter().all(|e| e.count == 0)
    }

    /// A slice whose map reuses `open`'s allocation (emptied): the newest slice's map grows to
    /// the same size every slice, and growing and freeing it anew each time would leave the
    /// allocator holding freed pieces between the packed arrays that stay.
    pub(super) fn reusing(mut open: HashMap<(SeriesId, u64), u64>) -> Self {
        open.clear();
        SliceCounts {
            packed: Vec::new(),
            open,
        }
    }

    /// Moves the map's counts into the sorted array (dropping zeros), allocated once at its
    /// size; returns the emptied map for the next slice.
    pub(super) fn pack(&mut self) -> HashMap<(SeriesId, u64), u64> {
        let mut open = std::mem::take(&mut self.open);
        if open.is_empty() {
            return open;
        }
        let kept = self.packed.iter().filter(|e| e.count > 0).count();
        let mut all: Vec<Entry> = Vec::with_capacity(kept + open.len());
        all.extend(self.packed.iter().filter(|e| e.count > 0));
        for ((series, key), n) in open.drain() {
            // A slice of 10 s never holds 4 billion samples of one value; saturate regardless.
            let count = u32::try_from(n).unwrap_or(u32::MAX);
            all.push(Entry { key, series, count });
        }
        all.sort_unstable_by_key(|e| (e.series, e.key));
        // A value both packed and open (a sample moved into a packed slice) is merged.
        all.dedup_by(|later, kept| {
            if (later.series, later.key) == (kept.series, kept.key) {
                kept.count = kept.count.saturating_add(later.count);
                true
            } else {
                false
            }
        });
        self.packed = all;
        open
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packed_and_open_counts_agree() {
        let mut s = SliceCounts::default();
        for (series, key) in [(1, 10), (0, 5), (1, 10), (0, 7)] {
            assert!(s.bump(series, key, 1));
        }
        let before: Vec<_> = {
            let mut v: Vec<_> = s.iter().collect();
            v.sort_unstable();
            v
        };
        s.pack();
        let mut after: Vec<_> = s.iter().collect();
        after.sort_unstable();
        assert_eq!(before, after);
        assert_eq!(s.total(), 4);
        // A packed count moves away and back; a new value goes beside; a missing one is refused.
        assert!(s.bump(1, 10, -1));
        assert!(s.bump(0, 6, 1));
        assert!(!s.bump(2, 1, -1));
        assert!(s.bump(0, 5, -1));
        assert!(!s.bump(0, 5, -1), "nothing left to remove");
        s.pack();
        let mut v: Vec<_> = s.iter().collect();
        v.sort_unstable();
        assert_eq!(v, vec![(0, 6, 1), (0, 7, 1), (1, 10, 1)]);
        assert!(!s.is_empty());
    }
}
