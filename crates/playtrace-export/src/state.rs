//! Export's own durable state directory (`--state DIR`, default `./playtrace-export`): the
//! retry queue and dead-letter queue (`export.db`), owned by one process at a time.
//!
//! The directory is locked exclusively (an OS file lock on `DIR/lock`, released when the
//! process ends, even by SIGKILL) and the holder's PID is written into the lock file, so a
//! second export on the same directory stops at once and says who holds it instead of
//! interleaving retries with the first.

use crate::queue::{Queue, QueueError, RetryPolicy};
use playtrace_store::{DirLock, LockError};
use std::path::{Path, PathBuf};
use thiserror::Error;

/// The default state directory, beside (never inside) the collector's `./playtrace-data`.
pub const DEFAULT_STATE_DIR: &str = "./playtrace-export";

/// Why the state directory cannot be used.
#[derive(Debug, Error)]
pub enum StateError {
    /// Another process holds the lock.
    #[error("the export state directory `{}` is in use by another playtrace process{}; wait for it to finish or pass another --state DIR", dir.display(), pid.map_or(String::new(), |p| format!(" (pid {p})")))]
    Busy {
        /// The directory.
        dir: PathBuf,
        /// The holder's PID, when it wrote one.
        pid: Option<u32>,
    },
    /// The directory or its lock file cannot be created or locked.
    #[error("cannot use the export state directory `{}`: {error} (check that it is a writable directory, or pass another --state DIR)", dir.display())]
    Io {
        /// The directory.
        dir: PathBuf,
        /// The operating system's error.
        error: std::io::Error,
    },
    /// The queue database failed.
    #[error(transparent)]
    Queue(#[from] QueueError),
}

/// The locked state directory; the lock is held until this is dropped.
#[derive(Debug)]
pub struct StateDir {
    dir: PathBuf,
    _lock: DirLock,
}

impl StateDir {
    /// Creates `dir` if needed and locks it, recording this process's PID.
    pub fn open(dir: &Path) -> Result<StateDir, StateError> {
        let io = |error| StateError::Io {
            dir: dir.to_path_buf(),
            error,
        };
        std::fs::create_dir_all(dir).map_err(io)?;
        let lock = DirLock::acquire(dir, "lock").map_err(|e| match e {
            LockError::Held(pid) => StateError::Busy {
                dir: dir.to_path_buf(),
                pid,
            },
            LockError::Io(_, error) => io(error),
        })?;
        Ok(StateDir {
            dir: dir.to_path_buf(),
            _lock: lock,
        })
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// Opens the retry and dead-letter queue kept in this directory.
    pub fn queue(&self, policy: RetryPolicy) -> Result<Queue, StateError> {
        Ok(Queue::open(&self.dir.join("export.db"), policy)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_is_refused_naming_the_first_and_gets_in_after_it() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state");
        let first = StateDir::open(&state).unwrap();
        match StateDir::open(&state) {
            Err(StateError::Busy { pid, .. }) => assert_eq!(pid, Some(std::process::id())),
            other => panic!("expected Busy, got {other:?}"),
        }
        drop(first);
        StateDir::open(&state).unwrap();
    }
}
