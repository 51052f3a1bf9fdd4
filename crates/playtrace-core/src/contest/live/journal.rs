//! The budget history's source: every change of the windows' counts (a sample counted, a sample
//! moved by a later event) is journaled per minute, series and distinct value until the collector
//! takes it ([`LiveContests::take_history`]) to add it to its stored per-minute rows
//! ([`crate::rollup`]). Journaling the changes, rather than copying slices as they leave the
//! windows, makes the stored minutes equal the live windows at every moment, and a restart that
//! replays events already written can switch journaling off for them, so nothing is counted twice.

use crate::budget::Metric;
use crate::contest::lifecycle::NONE;
use crate::contest::live::ring::{SeriesId, SeriesKey};
use crate::contest::live::state::LiveContests;
use crate::dims::{Group, GROUP_SLOTS};
use crate::rollup::{HistoryDeltas, HistoryKey, SeriesDeltas, MINUTE_MS};
use std::collections::BTreeMap;

impl LiveContests {
    /// Journals count changes for the budget history from now on.
    pub fn with_history(mut self) -> Self {
        self.ring.journaling = true;
        self
    }

    /// Pauses (`false`) or resumes journaling: a rebuild replays events whose counts the history
    /// already holds with journaling paused.
    pub fn set_journaling(&mut self, on: bool) {
        self.ring.journaling = on;
    }

    /// Whether count changes are journaled.
    pub fn journaling(&self) -> bool {
        self.ring.journaling
    }

    /// Notes that every event up to sequence number `seq` (received at `recv_ms`) has been
    /// folded: the journal taken next counts up to it.
    pub fn note_applied(&mut self, seq: i64, recv_ms: i64) {
        let mark = &mut self.ring.journal_mark;
        if mark.is_none_or(|(s, _)| seq > s) {
            *mark = Some((seq, recv_ms));
        }
    }

    /// The last [`LiveContests::note_applied`]: what a journal taken now counts up to.
    pub fn history_mark(&self) -> Option<(i64, i64)> {
        self.ring.journal_mark
    }

    /// The count changes journaled since the last call, per series and minute; the journal is
    /// empty afterwards.
    pub fn take_history(&mut self) -> HistoryDeltas {
        let mut per_series: BTreeMap<SeriesId, BTreeMap<u32, Vec<(u64, i64)>>> = BTreeMap::new();
        for ((minute, series, key), delta) in self.ring.journal.drain() {
            per_series
                .entry(series)
                .or_default()
                .entry(minute)
                .or_default()
                .push((key, delta));
        }
        let series = per_series
            .into_iter()
            .filter_map(|(id, minutes)| {
                let key = self.history_key(*self.ring.series(id)?);
                let minutes = minutes
                    .into_iter()
                    .map(|(minute, mut counts)| {
                        counts.sort_unstable_by_key(|&(k, _)| k);
                        (i64::from(minute) * MINUTE_MS, counts)
                    })
                    .collect();
                Some(SeriesDeltas { key, minutes })
            })
            .collect();
        HistoryDeltas { series }
    }

    /// Puts changes taken by [`LiveContests::take_history`] back (they could not be stored), to
    /// be taken again with the next ones.
    pub fn restore_history(&mut self, deltas: &HistoryDeltas) {
        for s in &deltas.series {
            let id = self.series_of(&s.key);
            for (minute_ms, counts) in &s.minutes {
                let minute = (minute_ms / MINUTE_MS) as u32;
                for &(key, delta) in counts {
                    let n = self.ring.journal.entry((minute, id, key)).or_default();
                    *n += delta;
                    if *n == 0 {
                        self.ring.journal.remove(&(minute, id, key));
                    }
                }
            }
        }
    }

    fn history_key(&self, key: SeriesKey) -> HistoryKey {
        let text = |id: u32| self.strings.get(id).map(str::to_owned);
        HistoryKey {
            metric: Metric::ALL
                .get(usize::from(key.metric))
                .copied()
                .unwrap_or(Metric::Arming),
            game: text(key.scope[0]),
            env: text(key.scope[1]),
            group: key.group.iter().map(|&g| text(g)).collect(),
        }
    }

    fn series_of(&mut self, key: &HistoryKey) -> SeriesId {
        let mut intern = |s: &Option<String>| s.as_deref().map_or(NONE, |s| self.strings.intern(s));
        let scope = [intern(&key.game), intern(&key.env)];
        let mut group: Group = [NONE; GROUP_SLOTS];
        for (slot, value) in group.iter_mut().zip(&key.group) {
            *slot = intern(value);
        }
        self.ring.series_id(SeriesKey {
            scope,
            group,
            metric: key.metric.index() as u8,
        })
    }
}
