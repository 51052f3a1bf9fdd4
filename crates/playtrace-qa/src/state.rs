//! The state directory (`--state`, default `./playtrace-qa`): locked by one process at a time,
//! holding `qa.db` — the search-sync retry queue ([`crate::queue`]), publish versions and
//! pointers ([`crate::publish`]). SQLite in WAL mode with `synchronous=FULL`: a job recorded
//! as failed is still queued after a SIGKILL or a power cut.

use crate::QaError;
use playtrace_store::{DirLock, LockError};
use rusqlite::Connection;
use std::path::{Path, PathBuf};

/// The state database's file name inside the directory.
pub const STATE_DB: &str = "qa.db";
/// The default search index's file name inside the directory.
pub const INDEX_DB: &str = "search.db";

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS search_jobs (
    job_id TEXT PRIMARY KEY,
    session_id TEXT NOT NULL,
    index_name TEXT NOT NULL,
    doc_id TEXT NOT NULL,
    expected_version INTEGER NOT NULL,
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    drift TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    status TEXT NOT NULL,
    retry_at_ms INTEGER,
    last_error TEXT,
    updated_at_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS search_jobs_due ON search_jobs (status, retry_at_ms);
CREATE INDEX IF NOT EXISTS search_jobs_session ON search_jobs (session_id);
CREATE TABLE IF NOT EXISTS publish_versions (
    session_id TEXT NOT NULL,
    version INTEGER NOT NULL,
    status TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    objects INTEGER NOT NULL,
    names TEXT NOT NULL,
    error TEXT,
    created_at_ms INTEGER NOT NULL,
    PRIMARY KEY (session_id, version)
);
CREATE TABLE IF NOT EXISTS version_documents (
    session_id TEXT NOT NULL,
    version INTEGER NOT NULL,
    job_id TEXT NOT NULL,
    index_name TEXT NOT NULL,
    doc_id TEXT NOT NULL,
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (session_id, version, job_id)
);
CREATE TABLE IF NOT EXISTS pointers (
    session_id TEXT PRIMARY KEY,
    version INTEGER NOT NULL,
    target TEXT,
    updated_at_ms INTEGER NOT NULL
);
";

/// The locked state directory and its database.
pub struct State {
    pub(crate) conn: Connection,
    dir: PathBuf,
    _lock: DirLock,
}

impl State {
    /// Creates `dir` when needed, locks it and opens (or creates) `qa.db`.
    pub fn open(dir: &Path) -> Result<State, QaError> {
        let state_err = |message: String| QaError::State {
            dir: dir.to_path_buf(),
            message,
        };
        std::fs::create_dir_all(dir).map_err(|e| {
            state_err(format!(
                "cannot create it: {e} (pass a writable --state DIR)"
            ))
        })?;
        let lock = DirLock::acquire(dir, "lock").map_err(|e| match e {
            LockError::Held(pid) => state_err(format!(
                "in use by another playtrace qa{}; wait for it to finish or pass another --state DIR",
                pid.map_or(String::new(), |p| format!(" (pid {p})"))
            )),
            LockError::Io(_, e) => state_err(format!("cannot lock it: {e}")),
        })?;
        let path = dir.join(STATE_DB);
        let conn = open_db(&path, "the qa state database")?;
        conn.execute_batch(SCHEMA).map_err(|error| QaError::Db {
            what: "the qa state database",
            path: path.clone(),
            error,
        })?;
        Ok(State {
            conn,
            dir: dir.to_path_buf(),
            _lock: lock,
        })
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// A database error of this state.
    pub(crate) fn err(&self, error: rusqlite::Error) -> QaError {
        QaError::Db {
            what: "the qa state database",
            path: self.dir.join(STATE_DB),
            error,
        }
    }
}

/// Opens an SQLite file durable the SPEC §7 way (WAL, `synchronous=FULL`).
pub(crate) fn open_db(path: &Path, what: &'static str) -> Result<Connection, QaError> {
    let err = |error| QaError::Db {
        what,
        path: path.to_path_buf(),
        error,
    };
    let conn = Connection::open(path).map_err(err)?;
    conn.busy_timeout(std::time::Duration::from_secs(5))
        .map_err(err)?;
    conn.pragma_update(None, "journal_mode", "WAL")
        .map_err(err)?;
    conn.pragma_update(None, "synchronous", "FULL")
        .map_err(err)?;
    Ok(conn)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_state_is_durable_and_locked() {
        let dir = tempfile::tempdir().unwrap();
        let state = State::open(dir.path()).unwrap();
        let mode: String = state
            .conn
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap();
        let sync: i64 = state
            .conn
            .query_row("PRAGMA synchronous", [], |r| r.get(0))
            .unwrap();
        assert_eq!((mode.as_str(), sync), ("wal", 2));
        let second = State::open(dir.path());
        assert!(matches!(second, Err(QaError::State { .. })));
    }
}
