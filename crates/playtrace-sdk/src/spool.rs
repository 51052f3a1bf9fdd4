//! The on-disk spool: batches the collector could not take yet, as NDJSON segment files written
//! atomically (temporary file, fsync, rename, directory fsync), sent oldest first when the
//! collector is back. A segment is the exact body that will be posted, ids included, so a batch
//! sent twice is stored once.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// A directory of spooled batches.
pub struct Spool {
    dir: PathBuf,
    max_bytes: u64,
    next: u64,
}

const SUFFIX: &str = ".ndjson";

impl Spool {
    /// Opens (creating) the spool in `dir`, holding at most `max_bytes`.
    pub fn open(dir: &Path, max_bytes: u64) -> io::Result<Spool> {
        fs::create_dir_all(dir)?;
        let mut spool = Spool {
            dir: dir.to_path_buf(),
            max_bytes,
            next: 0,
        };
        spool.next = spool
            .segments()?
            .last()
            .and_then(|p| segment_number(p))
            .map_or(0, |n| n + 1);
        Ok(spool)
    }

    /// Segment files, oldest first.
    pub fn segments(&self) -> io::Result<Vec<PathBuf>> {
        let mut found: Vec<(u64, PathBuf)> = fs::read_dir(&self.dir)?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter_map(|p| segment_number(&p).map(|n| (n, p)))
            .collect();
        found.sort();
        Ok(found.into_iter().map(|(_, p)| p).collect())
    }

    /// Bytes spooled.
    pub fn bytes(&self) -> u64 {
        self.segments()
            .unwrap_or_default()
            .iter()
            .filter_map(|p| fs::metadata(p).ok())
            .map(|m| m.len())
            .sum()
    }

    /// Whether nothing is spooled.
    pub fn is_empty(&self) -> bool {
        self.segments().map_or(true, |s| s.is_empty())
    }

    /// Durably appends one batch body; `Ok(false)` when the spool is full.
    pub fn push(&mut self, body: &[u8]) -> io::Result<bool> {
        if self.bytes() + body.len() as u64 > self.max_bytes {
            return Ok(false);
        }
        let name = format!("{:020}{SUFFIX}", self.next);
        self.next += 1;
        let path = self.dir.join(&name);
        let tmp = self.dir.join(format!(".{name}.tmp"));
        let mut f = fs::File::create(&tmp)?;
        f.write_all(body)?;
        f.sync_all()?;
        drop(f);
        fs::rename(&tmp, &path)?;
        fs::File::open(&self.dir)?.sync_all()?;
        Ok(true)
    }
}

fn segment_number(path: &Path) -> Option<u64> {
    let name = path.file_name()?.to_str()?;
    name.strip_suffix(SUFFIX)?.parse().ok()
}

/// Removes a segment once the collector acknowledged it.
pub fn remove(path: &Path) -> io::Result<()> {
    fs::remove_file(path)?;
    if let Some(dir) = path.parent() {
        fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}
