//! Events counted per session and per player for the current UTC day.

use std::collections::HashMap;

/// Keys (sessions or players) counted per day at most: past it new keys are not capped until
/// the next day (and each such event counts as a `daily_keys` hit), so a client inventing
/// session ids cannot grow the collector's memory (≈ 32 MB per million keys).
pub(super) const MAX_KEYS: usize = 1_000_000;

const DAY_MS: f64 = 86_400_000.0;

/// What counting one more event found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Count {
    /// Within the cap.
    Within,
    /// Over the cap.
    Over,
    /// Not counted: the day's table is full.
    Untracked,
}

/// Counts of one kind of key (hashes of game and session, or game and player).
#[derive(Debug, Default)]
pub(super) struct Daily {
    day: i64,
    counts: HashMap<u64, u64>,
}

impl Daily {
    /// Counts one event of `key` on the day of `now_ms`.
    pub(super) fn count(&mut self, key: u64, cap: u64, now_ms: f64) -> Count {
        let day = (now_ms / DAY_MS).floor() as i64;
        if day != self.day {
            self.day = day;
            self.counts.clear();
        }
        let full = self.counts.len() >= MAX_KEYS;
        let n = match self.counts.get_mut(&key) {
            Some(n) => n,
            None if full => return Count::Untracked,
            None => self.counts.entry(key).or_insert(0),
        };
        *n += 1;
        if *n > cap {
            Count::Over
        } else {
            Count::Within
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_capped_for_its_day_and_counted_afresh_the_next() {
        let mut d = Daily::default();
        let counts: Vec<Count> = (0..4).map(|_| d.count(7, 3, 1000.0)).collect();
        assert_eq!(
            counts,
            [Count::Within, Count::Within, Count::Within, Count::Over]
        );
        assert_eq!(d.count(8, 3, 1000.0), Count::Within);
        assert_eq!(d.count(7, 3, DAY_MS + 1.0), Count::Within);
    }
}
