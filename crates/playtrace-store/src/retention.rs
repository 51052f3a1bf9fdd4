//! Retention: the oldest events and rejects go first, by age and by store size, in small
//! transactions so that ingest (the one writer it competes with) waits milliseconds at most.

use crate::query::{first_seq_at_or_after, used_bytes};
use crate::{now_ms, StoreError};
use rusqlite::{params, Connection, OptionalExtension};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Rows deleted per transaction.
const CHUNK: i64 = 5_000;

/// What to keep.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetentionPolicy {
    /// Events and rejects received longer ago than this are removed (ms).
    pub max_age_ms: f64,
    /// The store's data is kept under this many bytes.
    pub max_bytes: u64,
    /// How often retention runs.
    pub interval: Duration,
}

/// What one retention pass removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Removed {
    /// Events removed because of their age.
    pub by_age: u64,
    /// Events removed to bring the store under its size.
    pub by_size: u64,
    /// Rejects removed.
    pub rejects: u64,
}

/// The retention worker's own connection.
pub(crate) struct Retention {
    conn: Connection,
    policy: RetentionPolicy,
}

impl Retention {
    /// Opens a connection for retention on the database at `path`.
    pub(crate) fn open(path: &Path, policy: RetentionPolicy) -> Result<Retention, StoreError> {
        Ok(Retention {
            conn: crate::schema::connect(path)?,
            policy,
        })
    }

    /// One pass: age first, then size.
    pub(crate) fn run_once(&mut self) -> Result<Removed, StoreError> {
        let mut removed = Removed::default();
        let cutoff = now_ms() - self.policy.max_age_ms as i64;
        if let Some(end) = match first_seq_at_or_after(&self.conn, cutoff)? {
            Some(seq) => Some(seq),
            // No event at or after the cut-off: every event is older, or there were none.
            // Read again, in one statement, whether the newest row is older than the cut-off:
            // rows committed since that search (the table was empty) are new and must stay.
            None => self
                .conn
                .query_row(
                    "SELECT seq + 1 FROM events WHERE recv_ms < ?1 ORDER BY seq DESC LIMIT 1",
                    [cutoff],
                    |r| r.get(0),
                )
                .optional()?,
        } {
            removed.by_age = self.delete_events_before(end)?;
        }
        removed.rejects += self.delete_rejects_older(cutoff)?;
        // The budget history is kept as long as the events it counts.
        crate::rollups::delete_older(&self.conn, cutoff)?;
        loop {
            let used = used_bytes(&self.conn)?;
            if used <= self.policy.max_bytes {
                break;
            }
            let (oldest, rows): (Option<i64>, i64) = self.conn.query_row(
                "SELECT min(seq), coalesce(max(seq) - min(seq) + 1, 0) FROM events",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?;
            let Some(oldest) = oldest else { break };
            // Remove about the share of rows that is over the limit, a chunk at most.
            let excess = (used - self.policy.max_bytes) as f64 / used as f64;
            let take = ((rows as f64 * excess).ceil() as i64).clamp(16, CHUNK);
            let n = self.delete_events_before(oldest + take)?;
            // Rejects go with the events of their time.
            let until: Option<i64> =
                self.conn
                    .query_row("SELECT min(recv_ms) FROM events", [], |r| r.get(0))?;
            removed.rejects += self.delete_rejects_older(until.unwrap_or(i64::MAX))?;
            if n == 0 {
                break;
            }
            removed.by_size += n;
        }
        Ok(removed)
    }

    fn delete_events_before(&mut self, end: i64) -> Result<u64, StoreError> {
        let mut total = 0;
        loop {
            let n = self.conn.execute(
                "DELETE FROM events WHERE seq < ?1 AND seq < (SELECT min(seq) FROM events) + ?2",
                params![end, CHUNK],
            )?;
            // Their subject keys go with them, a chunk at a time like the rows.
            crate::erase::prune_index(&self.conn)?;
            total += n as u64;
            if n == 0 {
                return Ok(total);
            }
        }
    }

    fn delete_rejects_older(&mut self, cutoff: i64) -> Result<u64, StoreError> {
        let mut total = 0;
        loop {
            let n = self.conn.execute(
                "DELETE FROM rejects WHERE recv_ms < ?1
                 AND seq < (SELECT min(seq) FROM rejects) + ?2",
                params![cutoff, CHUNK],
            )?;
            total += n as u64;
            if n == 0 {
                return Ok(total);
            }
        }
    }

    /// Runs passes every `interval` until `stop` is set.
    pub(crate) fn run(mut self, stop: Arc<AtomicBool>, mut report: impl FnMut(&Removed)) {
        while !stop.load(Ordering::Relaxed) {
            match self.run_once() {
                Ok(removed) => report(&removed),
                Err(e) => tracing::warn!("retention pass failed: {e}"),
            }
            let mut waited = Duration::ZERO;
            while waited < self.policy.interval && !stop.load(Ordering::Relaxed) {
                let step = Duration::from_millis(100).min(self.policy.interval);
                std::thread::sleep(step);
                waited += step;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::StoredEvent;
    use crate::writer::{Job, Writer, WriterOptions};

    #[test]
    fn size_retention_removes_the_oldest_first() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(crate::DB_FILE);
        let (writer, handle) = Writer::<()>::start(
            std::sync::Arc::new(std::sync::Mutex::new(crate::open(&path).unwrap())),
            None,
            false,
            WriterOptions::default(),
            Box::new(crate::writer::AfterCommit(
                |_: &[StoredEvent], _: &(), _: &crate::CommitOutcome| {},
            )),
            Arc::default(),
            Arc::default(),
        )
        .unwrap();
        for batch in 0..20 {
            let (tx, rx) = std::sync::mpsc::channel();
            let events = (0..500)
                .map(|i| StoredEvent {
                    id: Some(format!("{batch}-{i}").into()),
                    name: "n".into(),
                    body: "x".repeat(200),
                    subjects: vec![i % 7],
                    ..StoredEvent::default()
                })
                .collect();
            let job = Job {
                events,
                rejects: vec![],
                extra: (),
                done: Box::new(move |r| tx.send(r.is_ok()).unwrap()),
            };
            assert!(writer.try_submit(job).is_ok());
            assert!(rx.recv().unwrap());
        }
        drop(writer);
        handle.join().unwrap();
        let mut r = Retention::open(
            &path,
            RetentionPolicy {
                max_age_ms: 7.0 * 86_400_000.0,
                max_bytes: 1 << 20,
                interval: Duration::from_secs(1),
            },
        )
        .unwrap();
        let removed = r.run_once().unwrap();
        assert!(removed.by_size > 0);
        assert_eq!(removed.by_age, 0);
        assert!(used_bytes(&r.conn).unwrap() <= 1 << 20);
        let oldest: String = r
            .conn
            .query_row("SELECT id FROM events ORDER BY seq LIMIT 1", [], |r| {
                r.get(0)
            })
            .unwrap();
        let newest: String = r
            .conn
            .query_row("SELECT id FROM events ORDER BY seq DESC LIMIT 1", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_ne!(oldest, "0-0", "the oldest went first");
        assert_eq!(newest, "19-499", "the newest stays");
        let count = |sql: &str| -> i64 { r.conn.query_row(sql, [], |r| r.get(0)).unwrap() };
        let index = crate::subjects::all(&r.conn).unwrap();
        assert_eq!(
            index.keys().next().copied(),
            Some(count("SELECT min(seq) FROM events")),
            "subject keys go with their events"
        );
        assert_eq!(
            index.values().map(Vec::len).sum::<usize>() as i64,
            count("SELECT count(*) FROM events")
        );
    }
}
