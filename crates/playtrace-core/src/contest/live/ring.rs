//! The rolling windows' samples as counts per distinct value: receive time is cut into slices
//! (10 s for the default windows), each slice counts its durations per series (scope, group,
//! metric) and distinct value, and every configured window keeps the running sum of the slices it
//! covers. Adding, replacing or forgetting a sample costs O(log distinct values), whatever the
//! number of samples; a window read walks its distinct values, never its samples.
//!
//! A window of length `W` at time `now` covers the slices from the one holding `now − W` to the
//! one holding `now`: its start moves in whole slices, so it may count up to one slice more than
//! `W` (never less).

use crate::contest::live::slice::SliceCounts;
use crate::dims::Group;
use std::collections::{BTreeMap, VecDeque};

/// The live state's hash maps: hashbrown's default hasher (foldhash, seeded per map) mixes a
/// whole integer per step. `table::KeyHasher`, which these used, mixes byte by byte, and order
/// keys of whole-millisecond durations differ only in their top bytes, so finding a slice's
/// count was a tenth of the fold (bench/recovery/README.md, round 10).
pub(super) type HashMap<K, V> = hashbrown::HashMap<K, V>;

/// Index of a series in [`Ring::series`].
pub(super) type SeriesId = u32;

/// Marks a duration with no sample (also: a closed record's slot without one).
pub(super) const NO_SERIES: SeriesId = u32::MAX;

/// What a sample is counted under: the events' scope, the contest's group and the metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) struct SeriesKey {
    /// Interned game and env.
    pub(super) scope: [u32; 2],
    /// Interned hub, room, move, type and attribute dimensions.
    pub(super) group: Group,
    /// [`crate::budget::Metric::index`].
    pub(super) metric: u8,
}

/// Slices are numbered from the epoch: `floor(recv_ms / slice_ms)`, clamped to `u32`.
pub(super) type Slice = u32;

pub(super) use crate::quantile::{from_order_key, order_key};

/// Ordered counts per distinct value.
pub(super) type Counts = BTreeMap<u64, u64>;

/// A configured window's running sum over the slices `first..` (to the newest held).
#[derive(Debug)]
struct Aggregate {
    window_ms: f64,
    first: Slice,
    counts: HashMap<SeriesId, Counts>,
}

/// The slices of the longest window and the running sums of the configured windows.
#[derive(Debug)]
pub(super) struct Ring {
    slice_ms: f64,
    longest_ms: f64,
    /// Counts of slice `base + i` at `slices[i]`.
    slices: VecDeque<SliceCounts>,
    base: Slice,
    aggregates: Vec<Aggregate>,
    series: Vec<SeriesKey>,
    series_ids: HashMap<SeriesKey, SeriesId>,
    held: u64,
    /// Bumped on every change of any count: a read with the same version and the same slice
    /// range gives the same figures.
    version: u64,
    /// Count changes per (minute number, series, order key) since the history last took them,
    /// while `journaling` (the budget history's source, `journal.rs`).
    pub(super) journal: HashMap<(u32, SeriesId, u64), i64>,
    pub(super) journaling: bool,
    /// The highest sequence number (and its receive time) folded so far, as the collector notes
    /// it: what the journal counts up to.
    pub(super) journal_mark: Option<(i64, i64)>,
}

/// What a window read is made of: the running sum of a configured window (or nothing), plus
/// and minus whole slices to reach the window asked for.
pub(super) struct WindowParts<'a> {
    pub(super) base: Option<&'a HashMap<SeriesId, Counts>>,
    pub(super) plus: Vec<&'a SliceCounts>,
    pub(super) minus: Vec<&'a SliceCounts>,
}

impl Ring {
    /// Slices of a thirtieth of the shortest window, between 1 s and 10 s.
    pub(super) fn new(windows_ms: &[f64]) -> Self {
        let shortest = windows_ms.iter().copied().fold(f64::INFINITY, f64::min);
        let slice_ms = (shortest / 30.0 / 1_000.0).floor().clamp(1.0, 10.0) * 1_000.0;
        Ring {
            slice_ms,
            longest_ms: windows_ms.iter().copied().fold(0.0, f64::max),
            slices: VecDeque::new(),
            base: 0,
            aggregates: windows_ms
                .iter()
                .map(|&w| Aggregate {
                    window_ms: w,
                    first: 0,
                    counts: HashMap::default(),
                })
                .collect(),
            series: Vec::new(),
            series_ids: HashMap::default(),
            held: 0,
            version: 0,
            journal: HashMap::default(),
            journaling: false,
            journal_mark: None,
        }
    }

    pub(super) fn slice_of(&self, recv_ms: f64) -> Slice {
        (recv_ms / self.slice_ms)
            .floor()
            .clamp(0.0, f64::from(u32::MAX)) as Slice
    }

    /// The first slice of a window of `window_ms` ending at `now_ms`.
    fn first_of(&self, window_ms: f64, now_ms: f64) -> Slice {
        self.slice_of(now_ms - window_ms)
    }

    pub(super) fn series_id(&mut self, key: SeriesKey) -> SeriesId {
        if let Some(&id) = self.series_ids.get(&key) {
            return id;
        }
        let id = self.series.len() as SeriesId;
        self.series.push(key);
        self.series_ids.insert(key, id);
        id
    }

    pub(super) fn series(&self, id: SeriesId) -> Option<&SeriesKey> {
        self.series.get(id as usize)
    }

    /// Number of samples counted in the held slices.
    pub(super) fn held(&self) -> u64 {
        self.held
    }

    pub(super) fn version(&self) -> u64 {
        self.version
    }

    /// Counts one sample in `slice`; a slice older than the longest window (a replay of old
    /// events) is not held, and the sample is not counted.
    pub(super) fn add(&mut self, slice: Slice, series: SeriesId, value: f64) {
        if !self.make_room(slice) {
            return;
        }
        self.count(slice, series, order_key(value), 1);
    }

    /// Moves a counted sample to another series or value; a sample whose slice has left every
    /// window stays where it was counted.
    pub(super) fn replace(&mut self, slice: Slice, from: (SeriesId, f64), to: (SeriesId, f64)) {
        if self.count(slice, from.0, order_key(from.1), -1) {
            self.count(slice, to.0, order_key(to.1), 1);
        }
    }

    /// Adds `delta` (±1) to one count of a held slice and of every window covering it. A removal
    /// of something not counted changes nothing and says so.
    fn count(&mut self, slice: Slice, series: SeriesId, key: u64, delta: i8) -> bool {
        let Some(at) = slice.checked_sub(self.base) else {
            return false;
        };
        let Some(counts) = self.slices.get_mut(at as usize) else {
            return false;
        };
        if !counts.bump(series, key, delta) {
            return false;
        }
        if delta > 0 {
            self.held += 1;
        } else {
            self.held -= 1;
        }
        if self.journaling {
            let minute = (f64::from(slice) * self.slice_ms / 60_000.0) as u32;
            let n = self.journal.entry((minute, series, key)).or_default();
            *n += i64::from(delta);
            if *n == 0 {
                self.journal.remove(&(minute, series, key));
            }
        }
        for agg in self.aggregates.iter_mut().filter(|a| slice >= a.first) {
            let c = agg.counts.entry(series).or_default();
            bump(c, key, i64::from(delta));
            if c.is_empty() {
                agg.counts.remove(&series);
            }
        }
        self.version += 1;
        true
    }

    /// Makes `slice` held (empty slices fill any gap); false when it is older than the held ones
    /// and outside the longest window.
    fn make_room(&mut self, slice: Slice) -> bool {
        if self.slices.is_empty() {
            self.base = slice;
            self.slices.push_back(SliceCounts::default());
            return true;
        }
        if slice < self.base {
            let newest = self.base + self.slices.len() as Slice - 1;
            let floor = newest.saturating_sub(self.longest_slices());
            if slice < floor {
                return false;
            }
            while self.base > slice {
                self.slices.push_front(SliceCounts::default());
                self.base -= 1;
            }
            return true;
        }
        let ahead = (slice - self.base) as usize;
        if ahead > self.slices.len() + self.longest_slices() as usize {
            // A jump past everything held: start over rather than fill the gap slice by slice.
            self.advance(f64::from(slice) * self.slice_ms);
            if self.slices.is_empty() {
                self.base = slice;
            }
        }
        while (slice - self.base) as usize >= self.slices.len() {
            // The newest slice so far gets no new samples any more: packed, and its map's
            // allocation goes on to the new newest slice.
            let spare = self
                .slices
                .back_mut()
                .map(SliceCounts::pack)
                .unwrap_or_default();
            self.slices.push_back(SliceCounts::reusing(spare));
        }
        true
    }

    fn longest_slices(&self) -> Slice {
        (self.longest_ms / self.slice_ms).ceil() as Slice + 1
    }

    /// Moves every configured window's start to `now_ms` and drops the slices no window covers
    /// any more. Returns the oldest slice still held (a closed record whose samples are all older
    /// can no longer change any window).
    pub(super) fn advance(&mut self, now_ms: f64) -> Slice {
        let starts: Vec<Slice> = self
            .aggregates
            .iter()
            .map(|a| self.first_of(a.window_ms, now_ms))
            .collect();
        for (agg, want) in self.aggregates.iter_mut().zip(starts) {
            if agg.first >= want {
                continue;
            }
            let from = agg.first.max(self.base);
            let to = want.min(self.base + self.slices.len() as Slice);
            for s in from..to {
                for (series, key, n) in self.slices[(s - self.base) as usize].iter() {
                    let c = agg.counts.entry(series).or_default();
                    bump(c, key, -(n as i64));
                    if c.is_empty() {
                        agg.counts.remove(&series);
                    }
                    self.version += 1;
                }
            }
            agg.first = want;
        }
        let floor = self.first_of(self.longest_ms, now_ms);
        while self.base < floor && !self.slices.is_empty() {
            if let Some(gone) = self.slices.pop_front() {
                self.held -= gone.total();
                if !gone.is_empty() {
                    self.version += 1;
                }
            }
            self.base += 1;
        }
        if self.slices.is_empty() {
            self.base = self.base.max(floor);
        }
        floor
    }

    /// The slice range a window of `window_ms` ending at `now_ms` covers.
    pub(super) fn range(&self, window_ms: f64, now_ms: f64) -> (Slice, Slice) {
        (self.first_of(window_ms, now_ms), self.slice_of(now_ms))
    }

    /// The parts that add up to the counts of the window `window_ms` ending at `now_ms`.
    pub(super) fn window(&self, window_ms: f64, now_ms: f64) -> WindowParts<'_> {
        let (first, last) = self.range(window_ms, now_ms);
        let held_end = self.base + self.slices.len() as Slice; // one past the newest
        let slice = |s: Slice| &self.slices[(s - self.base) as usize];
        let held = |from: Slice, to: Slice| (from.max(self.base)..to.min(held_end)).map(slice);
        let agg = self.aggregates.iter().find(|a| a.window_ms == window_ms);
        match agg {
            Some(a) => {
                // The sum covers a.first..held_end; bring it to first..=last.
                let mut plus: Vec<_> = held(first, a.first.min(last.saturating_add(1))).collect();
                let mut minus: Vec<_> = held(a.first, first).collect();
                minus.extend(held(last.saturating_add(1).max(a.first), held_end));
                plus.retain(|s| !s.is_empty());
                minus.retain(|s| !s.is_empty());
                WindowParts {
                    base: Some(&a.counts),
                    plus,
                    minus,
                }
            }
            None => WindowParts {
                base: None,
                plus: held(first, last.saturating_add(1))
                    .filter(|s| !s.is_empty())
                    .collect(),
                minus: Vec::new(),
            },
        }
    }
}

fn bump(counts: &mut Counts, key: u64, delta: i64) {
    let n = counts.entry(key).or_default();
    *n = n.saturating_add_signed(delta);
    if *n == 0 {
        counts.remove(&key);
    }
}
