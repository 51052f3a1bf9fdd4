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

/// The UTC day (days since the epoch) of `now_ms`.
pub(super) fn day_of(now_ms: f64) -> i64 {
    (now_ms / DAY_MS).floor() as i64
}

impl Daily {
    /// Counts one event of `key` on the day of `now_ms`. An event over the cap is not counted:
    /// the count is what the key may still store, so giving back a counted event (a
    /// duplicate, [`Daily::uncount`]) always frees exactly one place.
    pub(super) fn count(&mut self, key: u64, cap: u64, now_ms: f64) -> Count {
        let day = day_of(now_ms);
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
        if *n >= cap {
            return Count::Over;
        }
        *n += 1;
        Count::Within
    }

    /// Gives back one event of `key` counted on `day` (nothing once that day is over).
    pub(super) fn uncount(&mut self, key: u64, day: i64) {
        if day != self.day {
            return;
        }
        if let Some(n) = self.counts.get_mut(&key) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.counts.remove(&key);
            }
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

    #[test]
    fn an_event_given_back_frees_one_place_and_over_cap_events_take_none() {
        let mut d = Daily::default();
        for _ in 0..5 {
            d.count(7, 3, 1000.0);
        }
        d.uncount(7, day_of(1000.0));
        assert_eq!(d.count(7, 3, 1000.0), Count::Within);
        assert_eq!(d.count(7, 3, 1000.0), Count::Over);
        // A give-back from yesterday does not touch today's count.
        d.count(7, 3, DAY_MS + 1.0);
        d.uncount(7, day_of(1000.0));
        d.count(7, 3, DAY_MS + 1.0);
        d.count(7, 3, DAY_MS + 1.0);
        assert_eq!(d.count(7, 3, DAY_MS + 1.0), Count::Over);
    }
}
