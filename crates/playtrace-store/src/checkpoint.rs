//! Checkpoints that keep the WAL short without making the writer wait long.
//!
//! The writer never checkpoints itself (`wal_autocheckpoint=0`): the checkpoint thread copies
//! committed WAL pages into the database with `PASSIVE` checkpoints, beside the commits. But
//! SQLite starts writing the WAL from its beginning again only when a write transaction begins
//! with *every* frame copied, and under steady ingest the writer has always appended a few more
//! frames by the time a passive pass ends. So the WAL used to grow until the 256 MiB `TRUNCATE`
//! safety net, which holds the write lock while it copies and fsyncs hundreds of megabytes
//! (p99 acknowledgements of 170–300 ms, every few seconds a stall), and every WAL fsync in
//! between appended to the file (a file-system journal commit each, entangled with the
//! checkpoint's fsync of the database file).
//!
//! Now, once the WAL holds [`RESTART_BYTES`], passive passes catch up to within
//! [`FINISH_BYTES`] and a last pass runs while the writer waits for its turn ([`WriteTurn`]): it
//! copies only those last frames (milliseconds), and the writer's next commit starts the WAL
//! over. The WAL file stays a few tens of MiB, overwritten in place. That pass also waits
//! briefly for readers still on the old frames ([`restart_pass`]): with queries arriving back
//! to back, one of them always held a snapshot when the writer came to start the WAL over.
//!
//! A passive pass that leaves frames behind writes pages into the database file without syncing
//! it; only a pass that copies every frame syncs. So the last pass's fsync used to flush all the
//! megabytes the catch-up passes had copied (10–16 ms on the development VM, with the writer
//! waiting: the largest share of a live request's p99 during a rejects replay). The checkpoint
//! thread now syncs the database file's data itself before it asks for the turn, and the last
//! pass's fsync finds only its own few pages to write.

use crate::writer::{take_turn, WriteTurn};
use crate::StoreError;
use rusqlite::Connection;
use std::fs::File;
use std::path::Path;
use std::time::{Duration, Instant};

/// WAL content past which the checkpoint thread makes the writer start the WAL over.
pub(crate) const RESTART_BYTES: u64 = 16 << 20;

/// Frames still to copy that are few enough to copy while the writer waits.
const FINISH_BYTES: u64 = 2 << 20;

/// WAL content past which the last pass runs in the writer's turn even if the passes could not
/// catch up to [`FINISH_BYTES`]: a writer appending faster than passive passes copy (a fast
/// disk, big commits) waits once for a longer copy rather than growing the WAL to the
/// truncating safety net.
const FORCE_BYTES: u64 = 3 * RESTART_BYTES;

/// Passive passes at most before the last one (each copies what arrived during the one before).
const CATCH_UP_PASSES: usize = 4;

/// How long the last pass waits, with the writer waiting too, for readers of the old frames to
/// finish before it gives up the WAL's restart until the next round.
const READER_WAIT: Duration = Duration::from_millis(10);

/// How long the last pass does not wait for readers after they outlasted a wait: a reader that
/// holds its snapshot for seconds then costs the writer 10 ms every ~quarter second (~3%), and
/// a poller's one slow query lets the WAL grow for a quarter second only.
const BACK_OFF: Duration = Duration::from_millis(250);

/// What one checkpoint round did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Round {
    /// WAL frames not yet copied into the database afterwards.
    pub(crate) left: i64,
    /// Whether the last pass ran while the writer waited (the WAL starts over next commit).
    pub(crate) restarted: bool,
    /// Whether readers still held snapshots in the WAL when the last pass gave up waiting.
    pub(crate) readers_held: bool,
}

/// How long the next last pass may wait for readers: [`READER_WAIT`], but not at all for
/// [`BACK_OFF`] after a wait the readers outlasted. A reader that keeps its snapshot for long
/// (a large export, a long page of events) would otherwise cost the writer that wait at every
/// round (10 times a second) for as long as it reads.
#[derive(Debug, Default)]
pub(crate) struct ReaderWait {
    outlasted_at: Option<Instant>,
}

impl ReaderWait {
    pub(crate) fn next(&self, now: Instant) -> Duration {
        match self.outlasted_at {
            Some(at) if now.saturating_duration_since(at) < BACK_OFF => Duration::ZERO,
            _ => READER_WAIT,
        }
    }

    pub(crate) fn record(&mut self, round: &Round, waited: Duration, now: Instant) {
        if round.readers_held && !waited.is_zero() {
            self.outlasted_at = Some(now);
        } else if round.restarted {
            self.outlasted_at = None;
        }
    }
}

/// One round of the checkpoint thread. A WAL file larger than `truncate_bytes` (readers held it
/// so long that it could not start over) gets a `TRUNCATE` checkpoint, in the writer's turn.
/// `reader_wait`: how long the last pass may wait for readers of the old frames
/// ([`ReaderWait`]).
///
/// `db` is a handle on the database file kept open for as long as the store runs (closing any
/// handle on it would drop SQLite's POSIX locks on it); `round` only syncs it.
pub(crate) fn round(
    conn: &Connection,
    db: &DbFile,
    wal_path: &Path,
    truncate_bytes: u64,
    turn: &WriteTurn,
    reader_wait: Duration,
) -> Result<Round, StoreError> {
    if std::fs::metadata(wal_path).is_ok_and(|m| m.len() > truncate_bytes) {
        let _turn = take_turn(turn);
        let (log, done) = pass(conn, "TRUNCATE")?;
        return Ok(Round {
            left: (log - done).max(0),
            restarted: true,
            readers_held: false,
        });
    }
    let page: i64 = conn.query_row("PRAGMA page_size", [], |r| r.get(0))?;
    let bytes = |frames: i64| frames.max(0) as u64 * page.max(512) as u64;
    let (mut log, mut done) = pass(conn, "PASSIVE")?;
    if bytes(log) < RESTART_BYTES {
        return Ok(Round {
            left: (log - done).max(0),
            restarted: false,
            readers_held: false,
        });
    }
    for _ in 0..CATCH_UP_PASSES {
        if bytes(log - done) <= FINISH_BYTES {
            break;
        }
        (log, done) = pass(conn, "PASSIVE")?;
    }
    if bytes(log - done) > FINISH_BYTES && bytes(log) < FORCE_BYTES {
        // The writer appends faster than the passes copy: try again next round rather than make
        // it wait for a long copy (past FORCE_BYTES it waits).
        return Ok(Round {
            left: (log - done).max(0),
            restarted: false,
            readers_held: false,
        });
    }
    // What the catch-up passes copied reaches the disk now, outside the writer's turn.
    db.sync_data()?;
    let _turn = take_turn(turn);
    let (busy, log, done) = restart_pass(conn, reader_wait)?;
    Ok(Round {
        left: (log - done).max(0),
        restarted: !busy && log == done,
        readers_held: busy,
    })
}

/// The last pass, in the writer's turn: `RESTART` copies the last frames and then waits, at most
/// `wait`, for the readers still reading the old frames to finish, so the writer's next
/// commit starts the WAL over. A `PASSIVE` pass could not: the writer restarts the WAL only if
/// no reader holds a snapshot in it at that moment, and under a steady stream of queries (four
/// clients polling `/v1/events`, a rejects replay's page reader) one always did, so the WAL grew
/// to the truncating safety net while every commit extended the file. Readers that begin after
/// the copy read the database file and do not hold the restart up.
fn restart_pass(conn: &Connection, wait: Duration) -> Result<(bool, i64, i64), StoreError> {
    conn.busy_timeout(wait)?;
    let result = conn.query_row("PRAGMA wal_checkpoint(RESTART)", [], |r| {
        Ok((r.get::<_, i64>(0)? != 0, r.get(1)?, r.get(2)?))
    });
    conn.busy_timeout(crate::schema::BUSY_TIMEOUT)?;
    Ok(result?)
}

/// The database file, opened once beside SQLite's own handle so the checkpoint thread can sync
/// what passive passes wrote into it.
pub(crate) struct DbFile {
    path: std::path::PathBuf,
    file: File,
}

impl DbFile {
    pub(crate) fn open(path: &Path) -> Result<Self, StoreError> {
        let file = File::options()
            .read(true)
            .write(true)
            .open(path)
            .map_err(|source| StoreError::Io {
                path: path.to_path_buf(),
                source,
            })?;
        Ok(DbFile {
            path: path.to_path_buf(),
            file,
        })
    }

    fn sync_data(&self) -> Result<(), StoreError> {
        self.file.sync_data().map_err(|source| StoreError::Io {
            path: self.path.clone(),
            source,
        })
    }
}

/// `PRAGMA wal_checkpoint(mode)`: the WAL's frames and how many of them are in the database.
fn pass(conn: &Connection, mode: &str) -> Result<(i64, i64), StoreError> {
    let (_busy, log, done): (i64, i64, i64) =
        conn.query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })?;
    Ok((log, done))
}

#[cfg(test)]
mod tests;
