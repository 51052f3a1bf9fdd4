//! The high-water mark: the highest acknowledged sequence number, kept in a small fsynced file
//! beside the database (`playtrace.hwm`), outside SQLite's WAL. A damaged or truncated WAL makes
//! SQLite silently forget the commits it held; the mark remembers them, so the store can say so.
//!
//! The guarantee: the mark never exceeds what is durably committed (it is written only after a
//! commit returned), and it trails the newest acknowledgement by at most one checkpoint period
//! (100 ms) plus one fsync of the file. So a loss is detected unless every lost commit was
//! acknowledged within that last moment before the crash. It is written by the checkpoint
//! thread, never by the writer, so ingest never waits for it.

use crate::health::Loss;
use crate::StoreError;
use rusqlite::{Connection, OptionalExtension};
use std::fs::{File, OpenOptions};
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// File name of the high-water mark inside the data directory.
pub const MARK_FILE: &str = "playtrace.hwm";

/// The highest sequence number the database holds (or ever held: `AUTOINCREMENT` remembers it
/// in `sqlite_sequence` after retention removed the rows).
pub(crate) fn stored_head(conn: &Connection) -> rusqlite::Result<i64> {
    // Cached: the writer asks after every commit.
    let head: Option<i64> = conn
        .prepare_cached("SELECT seq FROM sqlite_sequence WHERE name = 'events'")?
        .query_row([], |r| r.get(0))
        .optional()?;
    Ok(head.unwrap_or(0))
}

/// The mark in `dir`, if one was written. A damaged file is an error naming it.
pub fn read_mark(dir: &Path) -> Result<Option<i64>, StoreError> {
    let path = dir.join(MARK_FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(StoreError::Io { path, source }),
    };
    text.trim()
        .parse::<i64>()
        .map(Some)
        .map_err(|_| StoreError::Io {
            path,
            source: std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "not a sequence number; it holds the highest acknowledged sequence number \
                 (delete it only if the database was deliberately replaced)",
            ),
        })
}

/// Compares the mark with what the database holds.
pub(crate) fn check(conn: &Connection, dir: &Path) -> Result<(i64, Option<Loss>), StoreError> {
    let stored = stored_head(conn)?;
    let loss = read_mark(dir)?
        .filter(|&acknowledged| acknowledged > stored)
        .map(|acknowledged| Loss {
            acknowledged,
            stored,
        });
    Ok((stored, loss))
}

/// The open mark file; rewritten in place (a 21-byte write within one sector) and fsynced.
pub(crate) struct Mark {
    file: File,
    path: PathBuf,
    written: i64,
}

impl Mark {
    pub(crate) fn open(dir: &Path, written: i64) -> Result<Mark, StoreError> {
        let path = dir.join(MARK_FILE);
        let file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|source| StoreError::Io {
                path: path.clone(),
                source,
            })?;
        let mut mark = Mark {
            file,
            path,
            written: -1,
        };
        mark.write(written).map_err(|source| StoreError::Io {
            path: mark.path.clone(),
            source,
        })?;
        Ok(mark)
    }

    /// Records `seq` durably if it is higher than what the file holds.
    pub(crate) fn write(&mut self, seq: i64) -> std::io::Result<()> {
        if seq <= self.written {
            return Ok(());
        }
        self.file.seek(SeekFrom::Start(0))?;
        self.file.write_all(format!("{seq:020}\n").as_bytes())?;
        self.file.sync_data()?;
        self.written = seq;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mark_reads_back_and_only_grows() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read_mark(dir.path()).unwrap(), None);
        let mut m = Mark::open(dir.path(), 5).unwrap();
        m.write(12).unwrap();
        m.write(3).unwrap();
        assert_eq!(read_mark(dir.path()).unwrap(), Some(12));
        std::fs::write(dir.path().join(MARK_FILE), "garbage").unwrap();
        let err = read_mark(dir.path()).unwrap_err().to_string();
        assert!(err.contains(MARK_FILE), "{err}");
    }
}
