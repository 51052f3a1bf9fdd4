//! PlayTrace's durable event store: one SQLite database in the data directory.
//!
//! - [`schema`] opens it with the settings SPEC §7 requires (`journal_mode=WAL`,
//!   `synchronous=FULL`) and creates the tables.
//! - [`writer`] is the only writer of events: one thread that takes every queued request,
//!   inserts them in one transaction and commits once (group commit), so concurrent clients
//!   share each fsync. Completion callbacks run only after the commit is durable.
//! - [`query`] reads events and rejects back for the API and for rebuilding live state.
//! - [`retention`] removes the oldest events in small transactions, by age and by size.
//!
//! Duplicates are keyed on `(game, id)` by a unique index, so a retried batch is stored once.

pub mod query;
pub mod retention;
pub mod schema;
pub mod writer;

pub use query::{
    EventFilter, EventRecord, Reader, RejectRecord, StoreStats, KIND_ALERT, KIND_BUDGET, KIND_EVENT,
};
pub use retention::{Retention, RetentionPolicy};
pub use schema::{checkpoint, disable_auto_checkpoint, open, set_size_limit, DB_FILE};
pub use writer::{
    insert_stream_row, AfterCommit, CommitHook, CommitOutcome, EventRow, Job, RejectRow,
    SubmitError, Writer, WriterOptions,
};

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

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
