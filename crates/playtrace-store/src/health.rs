//! Whether the store can write right now, and whether it holds everything it acknowledged.
//!
//! The writer, the checkpoint thread and the high-water mark report here; the collector's
//! `/readyz` and `/metrics` read it. A store that cannot write (read-only file, full disk) is not
//! ready: no retry of a client can fix it, so a load balancer should send traffic elsewhere.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A failed commit keeps the store "not writable" this long unless a commit succeeds first;
/// without traffic (a load balancer that stopped sending it) the store gets a new chance.
const COMMIT_FAILURE_HOLD: Duration = Duration::from_secs(5);

/// The store held fewer events than it had acknowledged before (a damaged or truncated WAL, an
/// older copy of the database put in place).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Loss {
    /// The highest sequence number the high-water mark says was acknowledged.
    pub acknowledged: i64,
    /// The highest sequence number the database held when it was opened.
    pub stored: i64,
}

impl Loss {
    /// Sequence numbers acknowledged but not found (an upper bound of the events lost: alert
    /// rows share the sequence).
    pub fn missing(&self) -> i64 {
        (self.acknowledged - self.stored).max(0)
    }
}

#[derive(Debug, Default)]
struct Problems {
    commit: Option<(String, Instant)>,
    checkpoint: Option<String>,
    mark: Option<String>,
}

/// The store's health, shared by its threads and the collector.
#[derive(Debug, Default)]
pub struct Health {
    committed: AtomicI64,
    problems: Mutex<Problems>,
    loss: Option<Loss>,
    /// Bytes the writer's commits appended to the WAL (`writer/amplify.rs`).
    wal_bytes: AtomicU64,
    /// Bytes of the event lines those commits stored.
    event_bytes: AtomicU64,
}

impl Health {
    pub(crate) fn new(committed: i64, loss: Option<Loss>) -> Health {
        Health {
            committed: AtomicI64::new(committed),
            problems: Mutex::default(),
            loss,
            wal_bytes: AtomicU64::new(0),
            event_bytes: AtomicU64::new(0),
        }
    }

    fn problems(&self) -> std::sync::MutexGuard<'_, Problems> {
        self.problems.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The highest sequence number durably committed.
    pub fn committed_seq(&self) -> i64 {
        self.committed.load(Ordering::Acquire)
    }

    pub(crate) fn committed(&self, seq: i64) {
        self.committed.fetch_max(seq, Ordering::AcqRel);
        self.problems().commit = None;
    }

    pub(crate) fn commit_failed(&self, why: String) {
        self.problems().commit = Some((why, Instant::now()));
    }

    pub(crate) fn checkpoint(&self, result: Option<String>) {
        self.problems().checkpoint = result;
    }

    pub(crate) fn mark(&self, result: Option<String>) {
        self.problems().mark = result;
    }

    /// Why the store cannot write now, if it cannot: a commit failed (and none succeeded since,
    /// within the last 5 s), or checkpoints or the high-water mark fail.
    pub fn write_problem(&self) -> Option<String> {
        let p = self.problems();
        let commit = p
            .commit
            .as_ref()
            .filter(|(_, at)| at.elapsed() < COMMIT_FAILURE_HOLD)
            .map(|(why, _)| format!("commits fail: {why}"));
        commit
            .or_else(|| {
                p.checkpoint
                    .as_ref()
                    .map(|w| format!("checkpoints fail: {w}"))
            })
            .or_else(|| {
                p.mark
                    .as_ref()
                    .map(|w| format!("the high-water mark cannot be written: {w}"))
            })
    }

    pub(crate) fn wal_written(&self, bytes: u64) {
        self.wal_bytes.fetch_add(bytes, Ordering::Relaxed);
    }

    pub(crate) fn events_written(&self, bytes: u64) {
        self.event_bytes.fetch_add(bytes, Ordering::Relaxed);
    }

    /// Bytes the writer's commits appended to the WAL since the store started (whole pages).
    /// Against [`Health::event_bytes`] it is the write amplification: about 1.2 normally,
    /// many times that when the duplicate check's index is rewritten page by page (random ids).
    pub fn wal_bytes(&self) -> u64 {
        self.wal_bytes.load(Ordering::Relaxed)
    }

    /// Bytes of the event lines stored since the store started.
    pub fn event_bytes(&self) -> u64 {
        self.event_bytes.load(Ordering::Relaxed)
    }

    /// What was found missing at open, if anything.
    pub fn loss(&self) -> Option<Loss> {
        self.loss
    }
}

/// Lets a repeating log line through at most once per period, counting what it held back, so a
/// failure that repeats ten times a second does not flood the log.
#[derive(Debug)]
pub(crate) struct Throttle {
    every: Duration,
    last: Option<Instant>,
    held: u64,
}

impl Throttle {
    pub(crate) fn new(every: Duration) -> Throttle {
        Throttle {
            every,
            last: None,
            held: 0,
        }
    }

    /// `Some(n)`: log now, mentioning the `n` occurrences held back since the last line.
    pub(crate) fn allow(&mut self) -> Option<u64> {
        let now = Instant::now();
        if self
            .last
            .is_some_and(|l| now.duration_since(l) < self.every)
        {
            self.held += 1;
            return None;
        }
        self.last = Some(now);
        Some(std::mem::take(&mut self.held))
    }

    /// The failure is over: the next one is logged at once.
    pub(crate) fn reset(&mut self) {
        self.last = None;
        self.held = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repeating_failure_is_logged_once_per_period_with_a_count() {
        let mut t = Throttle::new(Duration::from_secs(3600));
        assert_eq!(t.allow(), Some(0));
        let held = (0..99).filter(|_| t.allow().is_some()).count();
        assert_eq!(held, 0, "99 more in the same period are held back");
        assert_eq!(t.held, 99);
        t.reset();
        assert_eq!(
            t.allow(),
            Some(0),
            "after a success the next failure shows at once"
        );
    }

    #[test]
    fn a_failed_commit_makes_the_store_unwritable_until_one_succeeds() {
        let h = Health::new(0, None);
        assert_eq!(h.write_problem(), None);
        h.commit_failed("disk full".into());
        assert!(h.write_problem().unwrap().contains("disk full"));
        h.committed(7);
        assert_eq!(h.write_problem(), None);
        assert_eq!(h.committed_seq(), 7);
        h.checkpoint(Some("readonly".into()));
        assert!(h.write_problem().unwrap().contains("readonly"));
    }
}
