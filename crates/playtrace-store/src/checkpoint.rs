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
//! over. The WAL file stays a few tens of MiB, overwritten in place.
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
mod tests {
    use super::*;
    use crate::schema::{self, DB_FILE};

    fn fill(conn: &Connection, from: usize, rows: usize) {
        let body = "x".repeat(400);
        let tx = conn.unchecked_transaction().unwrap();
        for i in from..from + rows {
            tx.execute(
                "INSERT INTO events (recv_ms, game, id, name, body) VALUES (1, 'g', ?1, 'n', ?2)",
                rusqlite::params![format!("id-{i}"), body],
            )
            .unwrap();
        }
        tx.commit().unwrap();
    }

    /// Under steady ingest the WAL must start over instead of growing until the truncating
    /// safety net stalls the writer: after a round past RESTART_BYTES, the next commit writes
    /// from the start of the WAL, so the file stops growing.
    #[test]
    fn a_long_wal_starts_over_at_the_next_commit() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(DB_FILE);
        let wal = dir.path().join(format!("{DB_FILE}-wal"));
        let writer = schema::open(&path).unwrap();
        schema::disable_auto_checkpoint(&writer).unwrap();
        let checkpointer = schema::connect(&path).unwrap();
        let db = DbFile::open(&path).unwrap();
        let turn = WriteTurn::default();
        // ~20 MiB of WAL, past RESTART_BYTES.
        fill(&writer, 0, 45_000);
        let before = std::fs::metadata(&wal).unwrap().len();
        assert!(before > RESTART_BYTES, "WAL {before} bytes");
        let round = round(&checkpointer, &db, &wal, 256 << 20, &turn, READER_WAIT).unwrap();
        assert_eq!(round.left, 0);
        assert!(round.restarted);
        // The next commits reuse the WAL from its start: the file does not grow.
        fill(&writer, 45_000, 1_000);
        fill(&writer, 46_000, 1_000);
        assert_eq!(std::fs::metadata(&wal).unwrap().len(), before);
        let (log, _) = pass(&checkpointer, "PASSIVE").unwrap();
        let page: i64 = checkpointer
            .query_row("PRAGMA page_size", [], |r| r.get(0))
            .unwrap();
        assert!(
            (log as u64) * (page as u64) < RESTART_BYTES / 4,
            "{log} frames after the restart"
        );
        let n: i64 = writer
            .query_row("SELECT count(*) FROM events", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 47_000, "nothing lost across the restart");
    }

    /// The defect: with a writer committing back to back, passive checkpoints never found every
    /// frame copied, so the WAL grew to the truncating safety net. Rounds beside a busy writer
    /// (which takes the turn per commit, as the store's does) now keep it far below what was
    /// written.
    #[test]
    fn a_busy_writer_keeps_a_short_wal() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(DB_FILE);
        let wal = dir.path().join(format!("{DB_FILE}-wal"));
        let writer = schema::open(&path).unwrap();
        schema::disable_auto_checkpoint(&writer).unwrap();
        let checkpointer = schema::connect(&path).unwrap();
        let db = DbFile::open(&path).unwrap();
        let turn = std::sync::Arc::new(WriteTurn::default());
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (writer_turn, writer_stop) = (turn.clone(), stop.clone());
        // 160 MiB in commits of 1 MiB, back to back.
        let busy = std::thread::spawn(move || {
            let body = "y".repeat(4096);
            for commit in 0..160 {
                let _turn = take_turn(&writer_turn);
                let tx = writer.unchecked_transaction().unwrap();
                for i in 0..256 {
                    tx.execute(
                        "INSERT INTO events (recv_ms, game, id, name, body)
                         VALUES (1, 'g', ?1, 'n', ?2)",
                        rusqlite::params![format!("{commit}-{i}"), body],
                    )
                    .unwrap();
                }
                tx.commit().unwrap();
            }
            writer_stop.store(true, std::sync::atomic::Ordering::SeqCst);
        });
        let mut largest = 0;
        while !stop.load(std::sync::atomic::Ordering::SeqCst) {
            round(&checkpointer, &db, &wal, 1 << 40, &turn, READER_WAIT).unwrap();
            largest = largest.max(std::fs::metadata(&wal).map_or(0, |m| m.len()));
        }
        busy.join().unwrap();
        assert!(largest < 80 << 20, "the WAL grew to {largest} bytes");
    }

    /// The defect under queries: readers polling back to back (as `/v1/events` clients or a
    /// rejects replay's page reader do) always held a snapshot in the WAL when the writer's
    /// commit came to start it over, so it grew to the truncating safety net. The last pass now
    /// waits for them to leave the old frames.
    #[test]
    fn a_busy_writer_keeps_a_short_wal_while_readers_poll() {
        use std::sync::atomic::{AtomicBool, Ordering};
        use std::sync::Arc;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(DB_FILE);
        let wal = dir.path().join(format!("{DB_FILE}-wal"));
        let writer = schema::open(&path).unwrap();
        schema::disable_auto_checkpoint(&writer).unwrap();
        let checkpointer = schema::connect(&path).unwrap();
        let db = DbFile::open(&path).unwrap();
        let turn = Arc::new(WriteTurn::default());
        let stop = Arc::new(AtomicBool::new(false));
        // Two readers, each a read transaction after another, so one is nearly always open.
        let readers: Vec<_> = (0..2)
            .map(|_| {
                let (path, stop) = (path.clone(), stop.clone());
                std::thread::spawn(move || {
                    let conn = schema::connect(&path).unwrap();
                    let mut reads = 0u64;
                    while !stop.load(Ordering::SeqCst) {
                        let tx = conn.unchecked_transaction().unwrap();
                        let _: i64 = tx
                            .query_row("SELECT count(*) FROM events WHERE seq % 7 = 1", [], |r| {
                                r.get(0)
                            })
                            .unwrap();
                        tx.commit().unwrap();
                        reads += 1;
                    }
                    reads
                })
            })
            .collect();
        let (writer_turn, writer_stop) = (turn.clone(), stop.clone());
        // 160 MiB in commits of 1 MiB, back to back.
        let busy = std::thread::spawn(move || {
            let body = "y".repeat(4096);
            for commit in 0..160 {
                let _turn = take_turn(&writer_turn);
                let tx = writer.unchecked_transaction().unwrap();
                for i in 0..256 {
                    tx.execute(
                        "INSERT INTO events (recv_ms, game, id, name, body)
                         VALUES (1, 'g', ?1, 'n', ?2)",
                        rusqlite::params![format!("{commit}-{i}"), body],
                    )
                    .unwrap();
                }
                tx.commit().unwrap();
                // Old rows go, as retention would, so the readers' scans stay short.
                tx_trim(&writer, commit);
            }
            writer_stop.store(true, Ordering::SeqCst);
        });
        let mut largest = 0;
        while !stop.load(Ordering::SeqCst) {
            round(&checkpointer, &db, &wal, 1 << 40, &turn, READER_WAIT).unwrap();
            largest = largest.max(std::fs::metadata(&wal).map_or(0, |m| m.len()));
        }
        busy.join().unwrap();
        let reads: u64 = readers.into_iter().map(|r| r.join().unwrap()).sum();
        assert!(reads > 100, "the readers read {reads} times");
        assert!(largest < 80 << 20, "the WAL grew to {largest} bytes");
    }

    fn tx_trim(conn: &Connection, commit: i32) {
        if commit >= 2 {
            conn.execute(
                "DELETE FROM events WHERE id LIKE ?1",
                [format!("{}-%", commit - 2)],
            )
            .unwrap();
        }
    }

    /// A reader that keeps its snapshot past the wait leaves the WAL as it is (nothing lost, no
    /// restart) and is reported, so the next rounds do not make the writer wait for it again.
    #[test]
    fn a_reader_that_outlasts_the_wait_is_reported_and_the_restart_comes_after_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(DB_FILE);
        let wal = dir.path().join(format!("{DB_FILE}-wal"));
        let writer = schema::open(&path).unwrap();
        schema::disable_auto_checkpoint(&writer).unwrap();
        let checkpointer = schema::connect(&path).unwrap();
        let db = DbFile::open(&path).unwrap();
        let turn = WriteTurn::default();
        fill(&writer, 0, 45_000);
        let reader = schema::connect(&path).unwrap();
        let snapshot = reader.unchecked_transaction().unwrap();
        let seen: i64 = snapshot
            .query_row("SELECT count(*) FROM events", [], |r| r.get(0))
            .unwrap();
        assert_eq!(seen, 45_000);
        let held = round(&checkpointer, &db, &wal, 256 << 20, &turn, Duration::ZERO).unwrap();
        assert!(held.readers_held && !held.restarted, "{held:?}");
        assert_eq!(held.left, 0, "every frame is copied all the same");
        snapshot.commit().unwrap();
        let after = round(&checkpointer, &db, &wal, 256 << 20, &turn, READER_WAIT).unwrap();
        assert!(after.restarted && !after.readers_held, "{after:?}");
    }

    #[test]
    fn the_last_pass_stops_waiting_for_a_while_after_readers_outlasted_a_wait() {
        let t0 = Instant::now();
        let mut wait = ReaderWait::default();
        assert_eq!(wait.next(t0), READER_WAIT);
        let held = Round {
            left: 0,
            restarted: false,
            readers_held: true,
        };
        // Readers that held on through a zero wait say nothing about a real one.
        wait.record(&held, Duration::ZERO, t0);
        assert_eq!(wait.next(t0), READER_WAIT);
        wait.record(&held, READER_WAIT, t0);
        assert_eq!(wait.next(t0 + Duration::from_millis(100)), Duration::ZERO);
        assert_eq!(wait.next(t0 + BACK_OFF), READER_WAIT);
        let restarted = Round {
            left: 0,
            restarted: true,
            readers_held: false,
        };
        wait.record(&held, READER_WAIT, t0);
        wait.record(&restarted, Duration::ZERO, t0 + Duration::from_millis(200));
        assert_eq!(wait.next(t0 + Duration::from_millis(300)), READER_WAIT);
    }

    /// A short WAL is only copied, never waited for.
    #[test]
    fn a_short_wal_is_copied_without_the_turn() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(DB_FILE);
        let wal = dir.path().join(format!("{DB_FILE}-wal"));
        let writer = schema::open(&path).unwrap();
        schema::disable_auto_checkpoint(&writer).unwrap();
        let checkpointer = schema::connect(&path).unwrap();
        let db = DbFile::open(&path).unwrap();
        fill(&writer, 0, 100);
        let round = round(
            &checkpointer,
            &db,
            &wal,
            256 << 20,
            &WriteTurn::default(),
            READER_WAIT,
        )
        .unwrap();
        assert_eq!(round.left, 0);
        assert!(!round.restarted);
    }
}
