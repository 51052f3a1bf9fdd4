//! Checking and copying a store from outside the collector (`playtrace store verify` and
//! `backup`), while `serve` runs or not: both read through their own read-only connection, so
//! neither takes the directory's lock nor blocks the writer (WAL readers never do).

use crate::mark::{read_mark, stored_head};
use crate::schema::DB_FILE;
use crate::StoreError;
use rusqlite::{Connection, OpenFlags};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// What [`verify`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verification {
    /// The database checked.
    pub path: PathBuf,
    /// `PRAGMA integrity_check`'s complaints (empty: the database is sound).
    pub integrity: Vec<String>,
    /// The high-water mark: the highest sequence number acknowledged (`None` without a mark).
    pub acknowledged: Option<i64>,
    /// The highest sequence number the database holds.
    pub stored: i64,
}

impl Verification {
    /// Sequence numbers acknowledged but not in the database.
    pub fn missing(&self) -> i64 {
        self.acknowledged.map_or(0, |a| (a - self.stored).max(0))
    }

    /// Sound and holding everything acknowledged.
    pub fn ok(&self) -> bool {
        self.integrity.is_empty() && self.missing() == 0
    }
}

fn open_read_only(dir: &Path) -> Result<(PathBuf, Connection), StoreError> {
    let path = dir.join(DB_FILE);
    if !path.is_file() {
        return Err(StoreError::Io {
            path,
            source: std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "no store here; give the --data-dir `playtrace serve` uses",
            ),
        });
    }
    let conn =
        Connection::open_with_flags(&path, OpenFlags::SQLITE_OPEN_READ_ONLY).map_err(|source| {
            StoreError::Open {
                path: path.clone(),
                source,
            }
        })?;
    conn.busy_timeout(Duration::from_secs(10))?;
    Ok((path, conn))
}

/// SQLite's `integrity_check` over the whole database, and the high-water mark compared with
/// what it holds.
pub fn verify(dir: &Path) -> Result<Verification, StoreError> {
    let (path, conn) = open_read_only(dir)?;
    let mut stmt = conn.prepare("PRAGMA integrity_check")?;
    let integrity: Vec<String> = stmt
        .query_map([], |r| r.get::<_, String>(0))?
        .collect::<Result<_, _>>()?;
    let integrity = integrity.into_iter().filter(|m| m != "ok").collect();
    let stored = stored_head(&conn)?;
    Ok(Verification {
        path,
        integrity,
        acknowledged: read_mark(dir)?,
        stored,
    })
}

/// A consistent copy of the database as of one moment, written to `to` (which must not exist):
/// `VACUUM INTO` reads it in one read transaction, so `serve` keeps committing meanwhile and the
/// copy holds exactly the commits before that moment (compacted). Returns the copy's size.
pub fn backup(dir: &Path, to: &Path) -> Result<u64, StoreError> {
    if to.exists() {
        return Err(StoreError::Io {
            path: to.to_path_buf(),
            source: std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                "exists already; give a new file name (a backup never overwrites)",
            ),
        });
    }
    let (_, conn) = open_read_only(dir)?;
    let target = to.to_str().ok_or_else(|| StoreError::Io {
        path: to.to_path_buf(),
        source: std::io::Error::new(std::io::ErrorKind::InvalidInput, "the path is not UTF-8"),
    })?;
    conn.execute("VACUUM INTO ?1", [target])?;
    std::fs::metadata(to)
        .map(|m| m.len())
        .map_err(|source| StoreError::Io {
            path: to.to_path_buf(),
            source,
        })
}
