//! What the writer's commits cost in WAL bytes against the bytes of the events they store, and
//! the judgement that the duplicate check's index made that ratio blow up.
//!
//! With the unique index over `(id, game)` (`[store] dedup = "index"`), ids that do not sort
//! in the order they arrive (random UUIDs, or many clients each counting from its own prefix)
//! put each event's index entry on its own leaf page. Once the index has more leaf pages than
//! a commit has events, every commit rewrites a 16 KiB page per event into the WAL, and ingest
//! falls from hundreds of thousands of events a second to a few tens of thousands as the store
//! grows (`bench/ingest/README.md`, "Random ids"). Nothing failed, so nothing said so: the
//! operator only saw ingest slow down. The ratio of WAL bytes to event bytes shows it early
//! (1.5–2 with ids that sort; with random ids 61 over a 4-million-event `bench/ingest/ids`
//! run), so the collector exports both counters, and the writer moves the duplicate check to
//! memory (`[store] dedup = "auto"`, the default) or logs what to do (`"index"`).

use crate::health::{Health, Throttle};
use rusqlite::Connection;
use std::sync::Arc;
use std::time::Duration;

/// Counts the pages each commit of `conn` appends to the WAL into `health` (SQLite's WAL hook
/// reports the WAL's length in pages after each commit; a checkpoint that restarts the WAL
/// makes the next commit start again from its beginning). Replaces the hook that
/// `wal_autocheckpoint` installs, so call it after that pragma; it never checkpoints.
pub(crate) fn count_wal_bytes(conn: &mut Connection, health: Arc<Health>) -> rusqlite::Result<()> {
    let page: i64 = conn.query_row("PRAGMA page_size", [], |r| r.get(0))?;
    let page = page.max(512) as u64;
    let mut last = 0u64;
    conn.wal_hook(Some(move |_: &mut rusqlite::hooks::Wal, pages: i32| {
        let pages = pages.max(0) as u64;
        let added = if pages >= last { pages - last } else { pages };
        last = pages;
        health.wal_written(added * page);
        Ok(())
    }))
}

/// Commits smaller than this say nothing about the index: a commit of a few events writes a
/// few whole pages, many times its events' bytes, whatever the ids.
const MIN_COMMIT_EVENTS: usize = 256;

/// Each event counts as at least this many bytes: a row of a tiny event (a 50-byte ping) costs
/// several times its line in columns and index entry, ids sorted or not, while a random id's
/// page (16 KiB) is many times this.
const MIN_EVENT_BYTES: u64 = 512;

/// Event bytes per judgement (32,768 events of up to 512 bytes).
#[cfg(not(test))]
const WINDOW_BYTES: u64 = 16 << 20;
#[cfg(test)]
const WINDOW_BYTES: u64 = 1 << 20;

/// WAL bytes per event byte above which the writer acts. Ids that sort stay near 2 (a row's
/// bytes plus its share of the table's and the index's pages, and each commit's last pages
/// written whole); random ids pass 6 within the first ~150,000 stored events (`bench/ingest/ids`,
/// ~250-byte events counted as 512: at 135,000) and keep rising with the index.
const WARN_RATIO: f64 = 6.0;

/// The writer's running judgement over its large commits, while the index checks duplicates
/// (`index`, and `auto` until it moves to the key table).
pub(crate) struct Amplification {
    wal: u64,
    events: u64,
    log: Throttle,
}

impl Amplification {
    pub(crate) fn new() -> Amplification {
        Amplification {
            wal: 0,
            events: 0,
            // Once an hour: the state changes only as the store's ids do.
            log: Throttle::new(Duration::from_secs(3600)),
        }
    }

    /// One committed transaction: `wal` bytes appended to the WAL for `count` events of
    /// `events` bytes (at least [`MIN_EVENT_BYTES`] each). At the end of each window, the ratio
    /// if it is past [`WARN_RATIO`].
    pub(crate) fn observe(&mut self, wal: u64, events: u64, count: usize) -> Option<f64> {
        if count < MIN_COMMIT_EVENTS || events == 0 {
            return None;
        }
        self.wal += wal;
        self.events += events.max(count as u64 * MIN_EVENT_BYTES);
        if self.events < WINDOW_BYTES {
            return None;
        }
        let ratio = self.wal as f64 / self.events as f64;
        (self.wal, self.events) = (0, 0);
        (ratio > WARN_RATIO).then_some(ratio)
    }

    /// Logs the warning (at most once an hour).
    pub(crate) fn warn(&mut self, ratio: f64) {
        if self.log.allow().is_some() {
            tracing::warn!(
                wal_bytes_per_event_byte = format!("{ratio:.1}"),
                "ingest is slowed by the duplicate check's index: the last commits wrote \
                 {ratio:.0}× their events' bytes to the WAL (2 or less is normal). Event ids that \
                 do not sort in the order they are sent (random UUIDs, or many clients each \
                 counting under its own prefix) put events on index pages of their own; with \
                 random ids it gets worse as the store grows. Set `[store] dedup = \"auto\"` (the \
                 default) or `\"memory\"` (docs/OPERATIONS.md, \"Memory\"), or send ids that \
                 sort by time (UUIDv7, the SDKs' ids)"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_commits_are_left_out_and_each_window_is_judged_on_its_own() {
        let mut a = Amplification::new();
        // A thousand single-event commits of 40 KiB of WAL each: not a sign of anything.
        for _ in 0..1000 {
            assert_eq!(a.observe(40 << 10, 300, 1), None);
        }
        // Large commits at 1.2: no warning at the end of the window.
        let per_commit = 600_000;
        let mut judged = None;
        for _ in 0..=WINDOW_BYTES / per_commit {
            judged = judged.or(a.observe(per_commit * 12 / 10, per_commit, 1000));
        }
        assert_eq!(judged, None);
        // The next window at 8×: a warning with its ratio.
        let mut ratio = None;
        for _ in 0..=WINDOW_BYTES / per_commit {
            ratio = ratio.or(a.observe(per_commit * 8, per_commit, 1000));
        }
        let ratio = ratio.expect("a window at 8× is reported");
        assert!((ratio - 8.0).abs() < 0.01, "{ratio}");
        // Tiny events count as 512 bytes each: 16 KiB of WAL per 50-byte event is 32×.
        let mut ratio = None;
        for _ in 0..=WINDOW_BYTES / 512_000 {
            ratio = ratio.or(a.observe(16_384_000, 50_000, 1000));
        }
        assert_eq!(ratio.map(|r| r.round()), Some(32.0));
    }
}
