use super::*;
use crate::schema::{self, DB_FILE};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

/// A store's files with the writer's connection (no automatic checkpoints, as the store's) and
/// the checkpoint thread's.
struct Store {
    _dir: tempfile::TempDir,
    path: PathBuf,
    wal: PathBuf,
    writer: Connection,
    checkpointer: Connection,
    db: DbFile,
}

fn store() -> Store {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(DB_FILE);
    let wal = dir.path().join(format!("{DB_FILE}-wal"));
    let writer = schema::open(&path).unwrap();
    schema::disable_auto_checkpoint(&writer).unwrap();
    let checkpointer = schema::connect(&path).unwrap();
    let db = DbFile::open(&path).unwrap();
    Store {
        _dir: dir,
        path,
        wal,
        writer,
        checkpointer,
        db,
    }
}

impl Store {
    fn round(&self, truncate_bytes: u64, turn: &WriteTurn, wait: Duration) -> Round {
        round(
            &self.checkpointer,
            &self.db,
            &self.wal,
            truncate_bytes,
            turn,
            wait,
        )
        .unwrap()
    }

    fn wal_len(&self) -> u64 {
        std::fs::metadata(&self.wal).map_or(0, |m| m.len())
    }

    /// Runs rounds until `stop`; the largest WAL file seen.
    fn rounds_until(&self, stop: &AtomicBool, turn: &WriteTurn) -> u64 {
        let mut largest = 0;
        while !stop.load(Ordering::SeqCst) {
            self.round(1 << 40, turn, READER_WAIT);
            largest = largest.max(self.wal_len());
        }
        largest
    }
}

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

/// 160 MiB in commits of 1 MiB, back to back, each in the writer's turn as the store's writer
/// takes it; with `trim`, rows two commits old are deleted after each (as retention would), so
/// readers' scans stay short. Sets `stop` when done.
fn busy_writer(
    writer: Connection,
    turn: Arc<WriteTurn>,
    stop: Arc<AtomicBool>,
    trim: bool,
) -> JoinHandle<()> {
    std::thread::spawn(move || {
        let body = "y".repeat(4096);
        for commit in 0..160 {
            let _turn = take_turn(&turn);
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
            if trim && commit >= 2 {
                writer
                    .execute(
                        "DELETE FROM events WHERE id LIKE ?1",
                        [format!("{}-%", commit - 2)],
                    )
                    .unwrap();
            }
        }
        stop.store(true, Ordering::SeqCst);
    })
}

/// Under steady ingest the WAL must start over instead of growing until the truncating
/// safety net stalls the writer: after a round past RESTART_BYTES, the next commit writes
/// from the start of the WAL, so the file stops growing.
#[test]
fn a_long_wal_starts_over_at_the_next_commit() {
    let s = store();
    // ~20 MiB of WAL, past RESTART_BYTES.
    fill(&s.writer, 0, 45_000);
    let before = s.wal_len();
    assert!(before > RESTART_BYTES, "WAL {before} bytes");
    let round = s.round(256 << 20, &WriteTurn::default(), READER_WAIT);
    assert_eq!(round.left, 0);
    assert!(round.restarted);
    // The next commits reuse the WAL from its start: the file does not grow.
    fill(&s.writer, 45_000, 1_000);
    fill(&s.writer, 46_000, 1_000);
    assert_eq!(s.wal_len(), before);
    let (log, _) = pass(&s.checkpointer, "PASSIVE").unwrap();
    let page: i64 = s
        .checkpointer
        .query_row("PRAGMA page_size", [], |r| r.get(0))
        .unwrap();
    assert!(
        (log as u64) * (page as u64) < RESTART_BYTES / 4,
        "{log} frames after the restart"
    );
    let n: i64 = s
        .writer
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
    let mut s = store();
    let writer = std::mem::replace(&mut s.writer, schema::connect(&s.path).unwrap());
    let turn = Arc::new(WriteTurn::default());
    let stop = Arc::new(AtomicBool::new(false));
    let busy = busy_writer(writer, turn.clone(), stop.clone(), false);
    let largest = s.rounds_until(&stop, &turn);
    busy.join().unwrap();
    assert!(largest < 80 << 20, "the WAL grew to {largest} bytes");
}

/// The defect under queries: readers polling back to back (as `/v1/events` clients or a
/// rejects replay's page reader do) always held a snapshot in the WAL when the writer's
/// commit came to start it over, so it grew to the truncating safety net. The last pass now
/// waits for them to leave the old frames.
#[test]
fn a_busy_writer_keeps_a_short_wal_while_readers_poll() {
    let mut s = store();
    let writer = std::mem::replace(&mut s.writer, schema::connect(&s.path).unwrap());
    let turn = Arc::new(WriteTurn::default());
    let stop = Arc::new(AtomicBool::new(false));
    // Two readers, each a read transaction after another, so one is nearly always open.
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let (path, stop) = (s.path.clone(), stop.clone());
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
    let busy = busy_writer(writer, turn.clone(), stop.clone(), true);
    let largest = s.rounds_until(&stop, &turn);
    busy.join().unwrap();
    let reads: u64 = readers.into_iter().map(|r| r.join().unwrap()).sum();
    assert!(reads > 100, "the readers read {reads} times");
    assert!(largest < 80 << 20, "the WAL grew to {largest} bytes");
}

/// A reader that keeps its snapshot past the wait leaves the WAL as it is (nothing lost, no
/// restart) and is reported, so the next rounds do not make the writer wait for it again.
#[test]
fn a_reader_that_outlasts_the_wait_is_reported_and_the_restart_comes_after_it() {
    let s = store();
    let turn = WriteTurn::default();
    fill(&s.writer, 0, 45_000);
    let reader = schema::connect(&s.path).unwrap();
    let snapshot = reader.unchecked_transaction().unwrap();
    let seen: i64 = snapshot
        .query_row("SELECT count(*) FROM events", [], |r| r.get(0))
        .unwrap();
    assert_eq!(seen, 45_000);
    let held = s.round(256 << 20, &turn, Duration::ZERO);
    assert!(held.readers_held && !held.restarted, "{held:?}");
    assert_eq!(held.left, 0, "every frame is copied all the same");
    snapshot.commit().unwrap();
    let after = s.round(256 << 20, &turn, READER_WAIT);
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
    let s = store();
    fill(&s.writer, 0, 100);
    let round = s.round(256 << 20, &WriteTurn::default(), READER_WAIT);
    assert_eq!(round.left, 0);
    assert!(!round.restarted);
}
