//! The durable retry queue and dead-letter queue (SQLite, WAL, `synchronous=FULL`).
//!
//! An artifact a writer could not take is stored with its bytes — nothing is dropped. Transient
//! failures wait in the retry queue with exponential backoff and jitter, up to `max_attempts`;
//! permanent failures and exhausted retries go to the dead-letter queue with the error, the
//! attempts and the artifact itself. Entries are unique per (writer, name, sha256), so queueing
//! the same artifact twice (a re-run) does not duplicate it.

use crate::{Artifact, WriteError};
use rusqlite::{params, Connection, OptionalExtension};
use sha2::{Digest, Sha256};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

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

/// How retries back off.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    /// Attempts before an artifact is dead-lettered.
    pub max_attempts: u32,
    /// The wait after the first failure; each later failure doubles it (before jitter).
    pub base: Duration,
    /// The cap on the doubled wait (jitter may add up to 25% on top).
    pub max: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 8,
            base: Duration::from_secs(1),
            max: Duration::from_secs(300),
        }
    }
}

impl RetryPolicy {
    /// The wait after `attempts` failed attempts: exponential, capped, with up to 25% jitter.
    pub fn backoff(&self, attempts: u32, jitter_seed: u64) -> Duration {
        let exp = self
            .base
            .saturating_mul(1u32 << attempts.saturating_sub(1).min(20))
            .min(self.max);
        let jitter = (jitter_seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40) % 250;
        exp + exp.mul_f64(jitter as f64 / 1000.0)
    }
}

/// What became of a failed write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    /// Waiting in the retry queue; due again after this wait.
    Queued {
        /// The backoff chosen (exponential, with jitter).
        retry_in: Duration,
    },
    /// In the dead-letter queue (a permanent failure, or attempts exhausted).
    DeadLettered,
}

/// Different artifacts failing at the same moment get different jitter, so their retries
/// spread out instead of arriving together.
fn jitter_seed(sha_hex: &str, now_ms: i64) -> u64 {
    let prefix = sha_hex.get(..16).unwrap_or(sha_hex);
    u64::from_str_radix(prefix, 16).unwrap_or(0) ^ now_ms as u64
}

/// One queued (or dead-lettered) artifact.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// Its row id in its queue; for a dead letter, the id `playtrace export dlq list` prints
    /// and `dlq retry` / `dlq purge` take.
    pub id: i64,
    /// The writer it is for ([`crate::Writer::id`]).
    pub writer: String,
    /// Where exactly ([`crate::Writer::destination`]): what `export retry` writes to. Empty
    /// for entries queued before destinations were stored.
    pub destination: String,
    /// The artifact, bytes included, as it was first given to the writer.
    pub artifact: Artifact,
    /// Its sha256, hex.
    pub sha256: String,
    /// Attempts so far.
    pub attempts: u32,
    /// The last error.
    pub error: String,
}

/// Hex sha256 of bytes (manifests and deduplication).
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS retry_queue (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    writer TEXT NOT NULL, name TEXT NOT NULL, media_type TEXT NOT NULL, kind TEXT NOT NULL,
    context TEXT NOT NULL, bytes BLOB NOT NULL, sha256 TEXT NOT NULL,
    attempts INTEGER NOT NULL, next_attempt_ms INTEGER NOT NULL, error TEXT NOT NULL,
    destination TEXT NOT NULL DEFAULT '',
    UNIQUE (writer, name, sha256)
);
CREATE TABLE IF NOT EXISTS dead_letters (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    writer TEXT NOT NULL, name TEXT NOT NULL, media_type TEXT NOT NULL, kind TEXT NOT NULL,
    context TEXT NOT NULL, bytes BLOB NOT NULL, sha256 TEXT NOT NULL,
    attempts INTEGER NOT NULL, error TEXT NOT NULL, failed_ms INTEGER NOT NULL,
    destination TEXT NOT NULL DEFAULT '',
    UNIQUE (writer, name, sha256)
);
";

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

fn row_entry(r: &rusqlite::Row<'_>) -> rusqlite::Result<Entry> {
    let context: String = r.get(5)?;
    Ok(Entry {
        id: r.get(0)?,
        writer: r.get(1)?,
        artifact: Artifact {
            name: r.get(2)?,
            media_type: r.get(3)?,
            kind: r.get(4)?,
            context: serde_json::from_str(&context).unwrap_or(serde_json::Value::Null),
            bytes: Arc::new(r.get(6)?),
        },
        sha256: r.get(7)?,
        attempts: r.get(8)?,
        error: r.get(9)?,
        destination: r.get(10)?,
    })
}

const COLUMNS: &str =
    "id, writer, name, media_type, kind, context, bytes, sha256, attempts, error, destination";

/// Adds the `destination` column to a queue created before it existed (its entries keep an
/// empty destination: `export retry` falls back to their writer id and its own flags).
fn add_destination_column(conn: &Connection) -> rusqlite::Result<()> {
    for table in ["retry_queue", "dead_letters"] {
        let has: bool = conn.query_row(
            &format!(
                "SELECT COUNT(*) > 0 FROM pragma_table_info('{table}') WHERE name = 'destination'"
            ),
            [],
            |r| r.get(0),
        )?;
        if !has {
            conn.execute_batch(&format!(
                "ALTER TABLE {table} ADD COLUMN destination TEXT NOT NULL DEFAULT ''"
            ))?;
        }
    }
    Ok(())
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
                let (statement, at, fate) = if !transient || attempts >= policy.max_attempts {
                    (&mut dead_letter, now, Fate::DeadLettered)
                } else {
                    let wait = policy.backoff(attempts, jitter_seed(&sha, now));
                    let at = now + wait.as_millis() as i64;
                    (&mut enqueue, at, Fate::Queued { retry_in: wait })
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
mod tests {
    use super::*;

    fn artifact(name: &str) -> Artifact {
        Artifact {
            name: name.into(),
            media_type: "application/json".into(),
            bytes: Arc::new(format!("{{\"name\":\"{name}\"}}").into_bytes()),
            kind: "report".into(),
            context: serde_json::json!({"runId": "r"}),
        }
    }

    #[test]
    fn transient_failures_queue_permanent_ones_dead_letter_and_nothing_is_lost() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("export.db");
        let policy = RetryPolicy {
            max_attempts: 3,
            base: Duration::from_millis(1),
            max: Duration::from_millis(5),
        };
        let mut q = Queue::open(&path, policy).unwrap();
        let t = WriteError::Transient("connection refused".into());
        assert!(!q.failed("s3://b", &artifact("a.json"), &t, 1).unwrap());
        // The same artifact again (a re-run): still one entry, attempts updated.
        assert!(!q.failed("s3://b", &artifact("a.json"), &t, 2).unwrap());
        assert!(q
            .failed(
                "s3://b",
                &artifact("b.json"),
                &WriteError::Permanent("403".into()),
                1
            )
            .unwrap());
        std::thread::sleep(Duration::from_millis(20));
        let due = q.due(false).unwrap();
        assert_eq!(due.len(), 1);
        assert_eq!(
            (due[0].artifact.name.as_str(), due[0].attempts),
            ("a.json", 2)
        );
        assert_eq!(*due[0].artifact.bytes, br#"{"name":"a.json"}"#.to_vec());
        assert_eq!(q.attempts("s3://b", &artifact("a.json")).unwrap(), 2);
        // Exhausted: dead-lettered with the artifact itself.
        assert!(q.failed("s3://b", &artifact("a.json"), &t, 3).unwrap());
        assert!(q.due(true).unwrap().is_empty());
        drop(q);
        // Reopened (a new process): the dead letters are there, bytes and all.
        let mut q = Queue::open(&path, policy).unwrap();
        let dead = q.dead_letters().unwrap();
        let names: Vec<&str> = dead.iter().map(|e| e.artifact.name.as_str()).collect();
        assert_eq!(names, ["b.json", "a.json"]);
        assert_eq!(dead[0].error, "403");
        assert_eq!(dead[1].attempts, 3);
        assert_eq!(dead[1].artifact.context["runId"], "r");
        assert_eq!(q.revive(&[dead[0].id]).unwrap(), 1);
        assert_eq!(
            q.due(false).unwrap().len(),
            1,
            "revived entries are due at once"
        );
        assert_eq!(q.purge(&[]).unwrap(), 1);
        assert!(q.dead_letters().unwrap().is_empty());
        let id = q.due(true).unwrap()[0].id;
        q.delivered(id).unwrap();
        assert!(q.due(true).unwrap().is_empty());
    }

    #[test]
    fn a_queue_from_before_destinations_opens_and_keeps_its_entries() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("export.db");
        let old = Connection::open(&path).unwrap();
        old.execute_batch(&SCHEMA.replace("destination TEXT NOT NULL DEFAULT '',", ""))
            .unwrap();
        old.execute(
            "INSERT INTO retry_queue (writer, name, media_type, kind, context, bytes, sha256, attempts, next_attempt_ms, error)
             VALUES ('s3://b/p', 'a.json', 'application/json', 'report', 'null', x'7b7d', 'x', 1, 0, 'refused')",
            [],
        )
        .unwrap();
        drop(old);
        let mut q = Queue::open(&path, RetryPolicy::default()).unwrap();
        let due = q.due(true).unwrap();
        assert_eq!(
            (due[0].writer.as_str(), due[0].destination.as_str()),
            ("s3://b/p", "")
        );
        let t = WriteError::Transient("refused".into());
        q.record(
            "s3://b/q",
            "{\"url\":\"s3://b/q\"}",
            &[],
            &[(&artifact("b.json"), &t, 1)],
        )
        .unwrap();
        assert_eq!(
            q.due(true).unwrap()[1].destination,
            "{\"url\":\"s3://b/q\"}"
        );
    }

    #[test]
    fn backoff_grows_exponentially_with_bounded_jitter() {
        let p = RetryPolicy::default();
        let w1 = p.backoff(1, 7);
        let w3 = p.backoff(3, 7);
        assert!(w1 >= Duration::from_secs(1) && w1 < Duration::from_millis(1250));
        assert!(w3 >= Duration::from_secs(4) && w3 < Duration::from_secs(5));
        assert!(
            p.backoff(30, 7) <= Duration::from_secs(375),
            "capped (plus jitter)"
        );
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
