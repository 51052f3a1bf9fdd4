//! The durable retry queue and dead-letter queue (SQLite, WAL, `synchronous=FULL`).
//!
//! An artifact a writer could not take is stored with its bytes — nothing is dropped. Transient
//! failures wait in the retry queue with exponential backoff and jitter, up to `max_attempts`;
//! permanent failures and exhausted retries go to the dead-letter queue with the error, the
//! attempts and the artifact itself. Entries are unique per (writer, name, sha256), so queueing
//! the same artifact twice (a re-run) does not duplicate it.
//!
//! The policy (backoff, when to give up) is in `queue/retry.rs`; the tables and how a row reads
//! back in `queue/format.rs`; this module runs the operations on them.

mod format;
mod retry;

use crate::{Artifact, WriteError};
use format::{add_destination_column, row_entry, COLUMNS, SCHEMA};
use rusqlite::{params, Connection, OptionalExtension};
use sha2::{Digest, Sha256};
use std::path::Path;
use std::time::Duration;

pub use format::Entry;
pub use retry::{Fate, RetryPolicy};

/// A queue could not be used.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// The database refused an operation.
    #[error("export queue {path}: {source}")]
    Sqlite {
        /// The queue database's path, as given to [`Queue::open`].
        path: String,
        /// SQLite's own error (shown after the path).
        source: rusqlite::Error,
    },
    /// A task recording outcomes stopped (a bug: it panicked).
    #[error("export queue: {0}")]
    Task(String),
}

/// Hex sha256 of bytes (manifests and deduplication).
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `WHERE id IN (...)` for the given ids, or nothing (every row) when there are none.
fn id_filter(ids: &[i64]) -> String {
    if ids.is_empty() {
        return String::new();
    }
    let list: Vec<String> = ids.iter().map(i64::to_string).collect();
    format!(" WHERE id IN ({})", list.join(","))
}

/// The retry queue and the dead-letter queue of one state directory, in one SQLite database.
pub struct Queue {
    conn: Connection,
    path: String,
    policy: RetryPolicy,
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

impl Queue {
    /// Opens (creating) the queues in the SQLite file at `path`.
    pub fn open(path: &Path, policy: RetryPolicy) -> Result<Queue, QueueError> {
        let name = path.display().to_string();
        let wrap = |source| QueueError::Sqlite {
            path: name.clone(),
            source,
        };
        let conn = Connection::open(path).map_err(wrap)?;
        conn.busy_timeout(Duration::from_secs(10)).map_err(wrap)?;
        conn.query_row("PRAGMA journal_mode=WAL", [], |_| Ok(()))
            .map_err(wrap)?;
        conn.execute_batch("PRAGMA synchronous=FULL;")
            .map_err(wrap)?;
        conn.execute_batch(SCHEMA).map_err(wrap)?;
        add_destination_column(&conn).map_err(wrap)?;
        Ok(Queue {
            conn,
            path: name,
            policy,
        })
    }

    fn err(&self, source: rusqlite::Error) -> QueueError {
        QueueError::Sqlite {
            path: self.path.clone(),
            source,
        }
    }

    /// Records a failed write: transient → the retry queue (until attempts run out),
    /// permanent → the dead-letter queue. Returns whether it was dead-lettered.
    pub fn failed(
        &mut self,
        writer: &str,
        artifact: &Artifact,
        error: &WriteError,
        attempts: u32,
    ) -> Result<bool, QueueError> {
        let fates = self.record(writer, writer, &[], &[(artifact, error, attempts)])?;
        Ok(fates.first() == Some(&Fate::DeadLettered))
    }

    /// Records what one writer did with a batch, in one transaction: `delivered` artifacts
    /// leave the retry queue; each of `failed` (artifact, error, attempts so far) is queued for
    /// retry or dead-lettered, with the writer's full `destination`. Returns the fate of each
    /// failure, in order.
    pub fn record(
        &mut self,
        writer: &str,
        destination: &str,
        delivered: &[&Artifact],
        failed: &[(&Artifact, &WriteError, u32)],
    ) -> Result<Vec<Fate>, QueueError> {
        let path = self.path.clone();
        let err = |source| QueueError::Sqlite {
            path: path.clone(),
            source,
        };
        let policy = self.policy;
        let tx = self.conn.transaction().map_err(&err)?;
        let mut fates = Vec::with_capacity(failed.len());
        {
            let mut forget = tx
                .prepare_cached(
                    "DELETE FROM retry_queue WHERE writer = ?1 AND name = ?2 AND sha256 = ?3",
                )
                .map_err(&err)?;
            let mut dead_letter = tx
                .prepare_cached(
                    "INSERT OR REPLACE INTO dead_letters
                     (writer, name, media_type, kind, context, bytes, sha256, attempts, error, failed_ms, destination)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                )
                .map_err(&err)?;
            let mut enqueue = tx
                .prepare_cached(
                    "INSERT INTO retry_queue
                     (writer, name, media_type, kind, context, bytes, sha256, attempts, error, next_attempt_ms, destination)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                )
                .map_err(&err)?;
            for artifact in delivered {
                let sha = sha256_hex(&artifact.bytes);
                forget
                    .execute(params![writer, artifact.name, sha])
                    .map_err(&err)?;
            }
            for &(artifact, error, attempts) in failed {
                let sha = sha256_hex(&artifact.bytes);
                let context = artifact.context.to_string();
                let (transient, message) = match error {
                    WriteError::Transient(m) => (true, m.as_str()),
                    WriteError::Permanent(m) => (false, m.as_str()),
                };
                forget
                    .execute(params![writer, artifact.name, sha])
                    .map_err(&err)?;
                let now = now_ms();
                // Both tables take the same columns; the last is when it failed for good, or
                // when it is due again.
                let fate = policy.fate(transient, attempts, &sha, now);
                let (statement, at) = match fate {
                    Fate::DeadLettered => (&mut dead_letter, now),
                    Fate::Queued { retry_in } => (&mut enqueue, now + retry_in.as_millis() as i64),
                };
                statement
                    .execute(params![
                        writer,
                        artifact.name,
                        artifact.media_type,
                        artifact.kind,
                        context,
                        artifact.bytes.as_slice(),
                        sha,
                        attempts,
                        message,
                        at,
                        destination
                    ])
                    .map_err(&err)?;
                fates.push(fate);
            }
        }
        tx.commit().map_err(&err)?;
        Ok(fates)
    }

    /// The retry policy this queue applies.
    pub fn policy(&self) -> RetryPolicy {
        self.policy
    }

    /// Removes a delivered artifact from the retry queue.
    pub fn delivered(&mut self, id: i64) -> Result<(), QueueError> {
        self.conn
            .execute("DELETE FROM retry_queue WHERE id = ?1", [id])
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Retry-queue entries due now (all of them with `all`), oldest first.
    pub fn due(&self, all: bool) -> Result<Vec<Entry>, QueueError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM retry_queue WHERE ?1 OR next_attempt_ms <= ?2 ORDER BY id"
        );
        let mut stmt = self.conn.prepare(&sql).map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map(params![all, now_ms()], row_entry)
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(e))
    }

    /// Every retry-queue entry with when it is due (ms since the epoch), oldest first.
    pub fn waiting(&self) -> Result<Vec<(Entry, i64)>, QueueError> {
        let sql = format!("SELECT {COLUMNS}, next_attempt_ms FROM retry_queue ORDER BY id");
        let mut stmt = self.conn.prepare(&sql).map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], |r| Ok((row_entry(r)?, r.get(11)?)))
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(e))
    }

    /// Every dead letter, oldest first.
    pub fn dead_letters(&self) -> Result<Vec<Entry>, QueueError> {
        let sql = format!("SELECT {COLUMNS} FROM dead_letters ORDER BY id");
        let mut stmt = self.conn.prepare(&sql).map_err(|e| self.err(e))?;
        let rows = stmt.query_map([], row_entry).map_err(|e| self.err(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(e))
    }

    /// Moves dead letters back to the retry queue (all when `ids` is empty), due now, with
    /// their attempts reset. Returns how many moved.
    pub fn revive(&mut self, ids: &[i64]) -> Result<usize, QueueError> {
        let path = self.path.clone();
        let err = |source| QueueError::Sqlite {
            path: path.clone(),
            source,
        };
        let tx = self.conn.transaction().map_err(&err)?;
        let filter = id_filter(ids);
        let moved = tx
            .execute(
                &format!(
                    "INSERT OR IGNORE INTO retry_queue
                     (writer, name, media_type, kind, context, bytes, sha256, attempts, next_attempt_ms, error, destination)
                     SELECT writer, name, media_type, kind, context, bytes, sha256, 0, 0, error, destination
                     FROM dead_letters{filter}"
                ),
                [],
            )
            .map_err(&err)?;
        tx.execute(&format!("DELETE FROM dead_letters{filter}"), [])
            .map_err(&err)?;
        tx.commit().map_err(&err)?;
        Ok(moved)
    }

    /// Deletes dead letters (all when `ids` is empty). Returns how many.
    pub fn purge(&mut self, ids: &[i64]) -> Result<usize, QueueError> {
        let filter = id_filter(ids);
        self.conn
            .execute(&format!("DELETE FROM dead_letters{filter}"), [])
            .map_err(|e| self.err(e))
    }

    /// Deletes queued and dead-lettered artifacts whose bytes or context contain any of
    /// `needles` (an erased player's or session's id, as sent or hashed), then zeroes what the
    /// delete freed and empties the WAL, so the bytes leave the files (docs/PRIVACY.md).
    /// Returns (queued, dead letters) removed.
    pub fn erase_containing(&mut self, needles: &[String]) -> Result<(usize, usize), QueueError> {
        let err = |e| QueueError::Sqlite {
            path: self.path.clone(),
            source: e,
        };
        self.conn
            .execute_batch("PRAGMA secure_delete=ON;")
            .map_err(err)?;
        let tx = self.conn.transaction().map_err(err)?;
        let (mut queued, mut dead) = (0, 0);
        for n in needles.iter().filter(|n| !n.is_empty()) {
            let needle = n.as_bytes();
            queued += tx
                .execute(
                    "DELETE FROM retry_queue WHERE instr(bytes, ?1) > 0 OR instr(context, ?2) > 0",
                    rusqlite::params![needle, n],
                )
                .map_err(err)?;
            dead += tx
                .execute(
                    "DELETE FROM dead_letters WHERE instr(bytes, ?1) > 0 OR instr(context, ?2) > 0",
                    rusqlite::params![needle, n],
                )
                .map_err(err)?;
        }
        tx.commit().map_err(err)?;
        self.conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
            .map_err(err)?;
        Ok((queued, dead))
    }

    /// Attempts recorded so far for this artifact at this writer (0 if not queued).
    pub fn attempts(&self, writer: &str, artifact: &Artifact) -> Result<u32, QueueError> {
        let sha = sha256_hex(&artifact.bytes);
        self.conn
            .query_row(
                "SELECT attempts FROM retry_queue WHERE writer = ?1 AND name = ?2 AND sha256 = ?3",
                params![writer, artifact.name, sha],
                |r| r.get(0),
            )
            .optional()
            .map(Option::unwrap_or_default)
            .map_err(|e| self.err(e))
    }
}

#[cfg(test)]
mod tests;
