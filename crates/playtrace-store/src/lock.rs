//! One process per data directory: an exclusive advisory lock on `playtrace.lock`, holding the
//! owner's PID. Two collectors on one store would both accept events while each streams and
//! correlates only its own, so the second one must refuse to start and say who holds it. The
//! operating system drops the lock when the holder exits, even after `kill -9`, so a stale file
//! never blocks a restart.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// File name of the lock inside the data directory.
pub const LOCK_FILE: &str = "playtrace.lock";

/// Why a directory could not be locked. Callers turn it into their own error, which says what
/// the directory is for and which flag chooses another.
#[derive(Debug)]
pub enum LockError {
    /// Another process holds the lock; its PID when it wrote one.
    Held(Option<u32>),
    /// The lock file could not be created, locked or written.
    Io(PathBuf, std::io::Error),
}

/// An exclusive lock on a directory (the collector's data directory, export's state directory),
/// released when dropped or when the process ends.
#[derive(Debug)]
pub struct DirLock {
    _file: File,
}

impl DirLock {
    /// Takes the lock file `name` inside `dir` without waiting and writes this process's PID
    /// into it (fsynced, so the holder can be named after a crash), or says who holds it.
    pub fn acquire(dir: &Path, name: &str) -> Result<DirLock, LockError> {
        let path = dir.join(name);
        let mut file = match OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
        {
            Ok(file) => file,
            Err(e) => return Err(LockError::Io(path, e)),
        };
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut text = String::new();
                let _ = file.read_to_string(&mut text);
                return Err(LockError::Held(text.trim().parse::<u32>().ok()));
            }
            Err(TryLockError::Error(e)) => return Err(LockError::Io(path, e)),
        }
        let written = file
            .set_len(0)
            .and_then(|()| file.seek(SeekFrom::Start(0)))
            .and_then(|_| writeln!(file, "{}", std::process::id()))
            .and_then(|()| file.sync_data());
        match written {
            Ok(()) => Ok(DirLock { _file: file }),
            Err(e) => Err(LockError::Io(path, e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_names_the_holder() {
        let dir = tempfile::tempdir().unwrap();
        let held = DirLock::acquire(dir.path(), LOCK_FILE).unwrap();
        match DirLock::acquire(dir.path(), LOCK_FILE) {
            Err(LockError::Held(pid)) => assert_eq!(pid, Some(std::process::id())),
            other => panic!("expected Held, got {other:?}"),
        }
        drop(held);
        DirLock::acquire(dir.path(), LOCK_FILE).unwrap();
    }
}
