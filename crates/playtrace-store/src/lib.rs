//! PlayTrace's durable event store: the data directory and the one SQLite database in it.
//!
//! - [`Store`] owns the directory: it locks it (one process per directory), opens the database
//!   with the settings SPEC §7 requires (`journal_mode=WAL`, `synchronous=FULL`), migrates its
//!   schema, caps its size, and runs the writer, retention and checkpoints.
//! - [`Writer`] is the only writer: one thread that takes every queued request, inserts them in
//!   one transaction and commits once (group commit), so concurrent clients share each fsync.
//!   Completion callbacks run only after the commit is durable. A [`CommitHook`] sees each job
//!   inside the transaction ([`Tx`]: alert and budget rows durable with their events) and after.
//! - [`Reader`] reads events, rejects and alerts back for the API, the stream's replay and the
//!   rebuild of live state.
//! - Retention removes the oldest events in small transactions, by age and by size.
//!
//! Duplicates are keyed on `(game, id)` by a unique index, so a retried batch is stored once.

mod alerts;
mod check;
mod checkpoint;
mod cluster;
mod dedup;
mod envelope;
mod erase;
mod health;
mod insert;
mod lock;
mod mark;
mod outbox;
mod query;
mod record;
mod rejects;
mod retention;
mod rollups;
mod schema;
mod scrub;
mod silences;
mod store;
mod subjects;
mod writer;

pub use alerts::{AlertCount, AlertQuery, AlertRow};
pub use check::{backup, verify, Verification};
pub use cluster::ClusterPosition;
pub use dedup::DedupMode;
pub use erase::{
    erase_dir, subject_key, truncate_wal, Erased, Erasure, ErasureRecord, SubjectKind,
};
pub use health::{Health, Loss};
pub use lock::{DirLock, LockError, LOCK_FILE};
pub use mark::{read_mark, MARK_FILE};
pub use outbox::{
    Attempt, AttemptResult, Change, Depth, Flush, Group, GroupSpec, Member, NewNotification,
    Notification, Outbox, Router,
};
/// Alert states are core's; the store keeps them by name.
pub use playtrace_core::alert::AlertState;
pub use query::{EventFilter, EventPage, Reader, StoreStats};
pub use record::{CompactString, Kind, RejectRecord, RejectRow, StoredEvent};
pub use rejects::{RejectEntry, RejectFilter, RejectGroup, REJECT_GROUP_DIMS};
pub use retention::{Removed, RetentionPolicy};
pub use rollups::{RollupChange, RollupMark, RollupRow, RollupSeries};
pub use schema::{DB_FILE, SCHEMA_VERSION};
pub use silences::SilenceRow;
pub use store::{Running, Store, StoreOptions, StoreSettings};
pub use writer::{
    AfterCommit, CommitHook, CommitOutcome, Completion, Job, Log, SubmitError, Tx, Writer,
    WriterOptions,
};

#[cfg(test)]
pub(crate) use schema::open;

use thiserror::Error;

/// A store operation failed.
#[derive(Debug, Error)]
pub enum StoreError {
    /// The disk (or the configured size limit) is full.
    #[error("the store is full ({0}): free disk space or raise retention.max_bytes")]
    Full(String),
    /// The database could not be opened or created.
    #[error("cannot open the store at {path}: {source}")]
    Open {
        /// Database path.
        path: std::path::PathBuf,
        /// Cause.
        source: rusqlite::Error,
    },
    /// Another process holds the data directory.
    #[error(
        "data directory {} is in use by another playtrace process{}; stop it, or give this one \
         its own --data-dir",
        dir.display(),
        pid.map_or_else(String::new, |p| format!(" (PID {p})"))
    )]
    Locked {
        /// The directory.
        dir: std::path::PathBuf,
        /// The holder's process id, as it wrote it into the lock file.
        pid: Option<u32>,
    },
    /// The database file (or its directory) cannot be written: no retry can fix that.
    #[error(
        "the store {} cannot be written ({cause}): give the user running playtrace write access \
         to it and to its directory (chown/chmod, or remount the file system read-write), or \
         point --data-dir at a writable directory",
        path.display()
    )]
    ReadOnly {
        /// Database path.
        path: std::path::PathBuf,
        /// What SQLite said.
        cause: String,
    },
    /// The database was written by a newer release.
    #[error(
        "the store at {path} has schema version {found}, newer than this release reads \
         ({supported}); run the playtrace release that wrote it, or a newer one"
    )]
    NewerSchema {
        /// Database path.
        path: std::path::PathBuf,
        /// Version in the file.
        found: i64,
        /// Newest version this release knows.
        supported: i64,
    },
    /// A file or directory of the store could not be used.
    #[error("{}: {source}", path.display())]
    Io {
        /// The path.
        path: std::path::PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// Any other SQLite failure.
    #[error("store error: {0}")]
    Sqlite(rusqlite::Error),
    /// A commit failed; every request of it gets this (the message of the first error).
    #[error("commit failed: {0}")]
    Commit(String),
    /// The writer thread has stopped.
    #[error("the store writer has stopped")]
    Closed,
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        match e.sqlite_error_code() {
            Some(rusqlite::ErrorCode::DiskFull) => StoreError::Full(e.to_string()),
            _ => StoreError::Sqlite(e),
        }
    }
}

impl StoreError {
    /// This error as [`StoreError::ReadOnly`] when SQLite says the database cannot be written.
    pub(crate) fn read_only(self, path: &std::path::Path) -> StoreError {
        let code = match &self {
            StoreError::Sqlite(e) | StoreError::Open { source: e, .. } => e.sqlite_error_code(),
            _ => None,
        };
        match code {
            Some(rusqlite::ErrorCode::ReadOnly | rusqlite::ErrorCode::CannotOpen) => {
                StoreError::ReadOnly {
                    path: path.to_path_buf(),
                    cause: self.to_string(),
                }
            }
            _ => self,
        }
    }
}

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
