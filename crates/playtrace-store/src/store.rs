//! The data directory as one object: [`Store::open`] takes the directory's lock, opens and
//! migrates the database with its durability settings and size cap, and [`Store::start`] runs
//! its writer, retention and checkpoints until [`Running::stop`].

use crate::health::{Health, Loss, Throttle};
use crate::lock::{DirLock, LockError, LOCK_FILE};
use crate::mark::{self, Mark};
use crate::query::Reader;
use crate::retention::{Retention, RetentionPolicy};
use crate::schema::{self, DB_FILE};
use crate::writer::{CommitHook, Writer, WriterOptions};
use crate::StoreError;
use rusqlite::Connection;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How the store runs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StoreOptions {
    /// What retention keeps; the database file is capped 10% above `max_bytes`, so a store that
    /// retention cannot keep under it answers "full" instead of filling the disk.
    pub retention: RetentionPolicy,
    /// The writer's queue bounds.
    pub writer: WriterOptions,
    /// How duplicates are refused (`[store] dedup`).
    pub dedup: crate::DedupMode,
}

/// `journal_mode` and `synchronous` as SQLite reports them on the writer's connection (shown by
/// `/readyz`, so an operator can see that acknowledged means durable).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreSettings {
    /// `wal`.
    pub journal_mode: String,
    /// `full`.
    pub synchronous: &'static str,
    /// The schema version found when opening (0: written by the first release).
    pub schema_found: i64,
}

/// An opened, locked data directory.
pub struct Store {
    dir: PathBuf,
    lock: DirLock,
    /// The writer's connection, shared with the outbox from the start (see [`Store::outbox`]).
    conn: crate::writer::SharedConn,
    reader: Arc<Reader>,
    settings: StoreSettings,
    options: StoreOptions,
    health: Arc<Health>,
    turn: Arc<crate::writer::WriteTurn>,
}

/// WAL larger than this gets a truncating checkpoint (which may wait for the writer).
const WAL_TRUNCATE_BYTES: u64 = 256 << 20;

impl Store {
    /// Creates `dir` if needed, locks it (a second process gets [`StoreError::Locked`]), opens
    /// the database and brings its schema up to date.
    pub fn open(dir: &Path, options: StoreOptions) -> Result<Store, StoreError> {
        std::fs::create_dir_all(dir).map_err(|source| StoreError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
        let lock = DirLock::acquire(dir, LOCK_FILE).map_err(|e| match e {
            LockError::Held(pid) => StoreError::Locked {
                dir: dir.to_path_buf(),
                pid,
            },
            LockError::Io(path, source) => StoreError::Io { path, source },
        })?;
        let path = dir.join(DB_FILE);
        let read_only = |e: StoreError| e.read_only(&path);
        let mut conn = schema::connect(&path).map_err(read_only)?;
        schema::check_writable(&conn, &path).map_err(read_only)?;
        let schema_found = schema::migrate(&mut conn, &path).map_err(read_only)?;
        let (stored, loss) = mark::check(&conn, dir)?;
        let head = match loss {
            Some(loss) => {
                report_loss(dir, loss);
                // Sequence numbers are stream ids and cursors: never hand out one that was
                // acknowledged for another event.
                schema::raise_sequence(&conn, loss.acknowledged)?;
                loss.acknowledged
            }
            None => stored,
        };
        let max = options.retention.max_bytes;
        schema::set_size_limit(&conn, max.saturating_add(max / 10))?;
        schema::disable_auto_checkpoint(&conn)?;
        schema::writer_cache(&conn)?;
        let health = Arc::new(Health::new(head, loss));
        crate::writer::count_wal_bytes(&mut conn, health.clone())?;
        let journal_mode: String = conn.query_row("PRAGMA journal_mode", [], |r| r.get(0))?;
        let sync: i64 = conn.query_row("PRAGMA synchronous", [], |r| r.get(0))?;
        let synchronous = match sync {
            0 => "off",
            1 => "normal",
            2 => "full",
            _ => "extra",
        };
        let reader = Arc::new(Reader::open(&path)?);
        Ok(Store {
            dir: dir.to_path_buf(),
            lock,
            conn: Arc::new(std::sync::Mutex::new(conn)),
            reader,
            settings: StoreSettings {
                journal_mode,
                synchronous,
                schema_found,
            },
            options,
            health,
            turn: Arc::default(),
        })
    }

    /// Whether the store can write, and what it found missing at open.
    pub fn health(&self) -> Arc<Health> {
        self.health.clone()
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The shared read connection.
    pub fn reader(&self) -> Arc<Reader> {
        self.reader.clone()
    }

    /// The collector's notifier's access to the outbox tables: it reads on connections of its
    /// own and writes through the writer's connection, in the writer's turn.
    pub fn outbox(&self) -> Result<crate::Outbox, StoreError> {
        crate::Outbox::open(
            &self.dir.join(DB_FILE),
            self.conn.clone(),
            self.turn.clone(),
        )
    }

    /// The durability settings in force.
    pub fn settings(&self) -> &StoreSettings {
        &self.settings
    }

    /// Starts the writer (calling `hook` around each commit), retention and checkpoints.
    pub fn start<T: Send + 'static>(
        self,
        hook: Box<dyn CommitHook<T>>,
    ) -> Result<(Writer<T>, Running), StoreError> {
        let path = self.dir.join(DB_FILE);
        let spawn_error = |source| StoreError::Io {
            path: self.dir.clone(),
            source,
        };
        let retention = Retention::open(&path, self.options.retention)?;
        let checkpoint_conn = schema::connect(&path)?;
        let db_file = crate::checkpoint::DbFile::open(&path)?;
        let mark = Mark::open(&self.dir, self.health.committed_seq())?;
        let dedup = crate::dedup::Dedup::start(
            &mut crate::writer::lock_conn(&self.conn),
            self.options.dedup,
        )?;
        let (writer, writer_thread) = Writer::start(
            self.conn,
            dedup,
            self.options.dedup == crate::DedupMode::Auto,
            self.options.writer,
            hook,
            self.health.clone(),
            self.turn.clone(),
        )
        .map_err(spawn_error)?;
        let stop = Arc::new(AtomicBool::new(false));
        let retention_stop = stop.clone();
        let retention_thread = std::thread::Builder::new()
            .name("playtrace-retention".into())
            .spawn(move || {
                retention.run(retention_stop, |removed| {
                    if removed.by_age + removed.by_size + removed.rejects > 0 {
                        tracing::info!(
                            by_age = removed.by_age,
                            by_size = removed.by_size,
                            rejects = removed.rejects,
                            "retention removed old events"
                        );
                    }
                })
            })
            .map_err(spawn_error)?;
        let checkpoint_stop = stop.clone();
        let wal_path = self.dir.join(format!("{DB_FILE}-wal"));
        let health = self.health.clone();
        let turn = self.turn.clone();
        let checkpoint_thread = std::thread::Builder::new()
            .name("playtrace-checkpoint".into())
            .spawn(move || {
                checkpoints(
                    &checkpoint_conn,
                    &db_file,
                    &wal_path,
                    mark,
                    &health,
                    &checkpoint_stop,
                    &turn,
                )
            })
            .map_err(spawn_error)?;
        Ok((
            writer,
            Running {
                stop,
                threads: vec![writer_thread, retention_thread, checkpoint_thread],
                _lock: self.lock,
            },
        ))
    }
}

/// The store's threads; the directory stays locked until [`Running::stop`] returns.
pub struct Running {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
    _lock: DirLock,
}

impl Running {
    /// Waits for the writer to finish what is queued (call it after every [`Writer`] handle is
    /// dropped), stops retention, checkpoints a last time and unlocks the directory. `false`
    /// when a thread panicked.
    pub fn stop(self) -> bool {
        let mut threads = self.threads.into_iter();
        // The writer first, so the last checkpoint comes after the last commit.
        let mut ok = threads.next().is_none_or(|w| w.join().is_ok());
        self.stop.store(true, Ordering::Relaxed);
        for t in threads {
            ok &= t.join().is_ok();
        }
        ok
    }
}

/// Logs, loudly, that the store holds less than it acknowledged.
fn report_loss(dir: &Path, loss: Loss) {
    tracing::error!(
        acknowledged = loss.acknowledged,
        stored = loss.stored,
        missing = loss.missing(),
        "the store in {} holds less than it acknowledged: sequence numbers up to {} were \
         acknowledged but it holds only up to {} (a damaged or truncated {DB_FILE}-wal, or an older \
         copy of the database). Events may be lost; check it with `playtrace store verify`, \
         restore a backup if you have one. New events continue after {}.",
        dir.display(),
        loss.acknowledged,
        loss.stored,
        loss.acknowledged
    );
}

/// Every 100 ms until `stop` (then once more, truncating): records the high-water mark of what
/// the writer committed, then checkpoints the WAL (`checkpoint.rs`: a long WAL starts over
/// instead of growing). Failures go to `health` (so `/readyz` tells) and to the log at most
/// every 10 s.
fn checkpoints(
    conn: &Connection,
    db: &crate::checkpoint::DbFile,
    wal: &Path,
    mut mark: Mark,
    health: &Health,
    stop: &AtomicBool,
    turn: &crate::writer::WriteTurn,
) {
    let mut checkpoint_log = Throttle::new(Duration::from_secs(10));
    let mut mark_log = Throttle::new(Duration::from_secs(10));
    let mut reader_wait = crate::checkpoint::ReaderWait::default();
    let mut round = |restart_bytes: u64| {
        match mark.write(health.committed_seq()) {
            Ok(()) => {
                health.mark(None);
                mark_log.reset();
            }
            Err(e) => {
                if let Some(held) = mark_log.allow() {
                    tracing::warn!(repeated = held, "cannot write the high-water mark: {e}");
                }
                health.mark(Some(e.to_string()));
            }
        }
        let wait = reader_wait.next(Instant::now());
        match crate::checkpoint::round(conn, db, wal, restart_bytes, turn, wait) {
            Ok(done) => {
                reader_wait.record(&done, wait, Instant::now());
                health.checkpoint(None);
                checkpoint_log.reset();
            }
            Err(e) => {
                if let Some(held) = checkpoint_log.allow() {
                    tracing::warn!(repeated = held, "checkpoint failed: {e}");
                }
                health.checkpoint(Some(e.to_string()));
            }
        }
    };
    while !stop.load(Ordering::Relaxed) {
        round(WAL_TRUNCATE_BYTES);
        std::thread::sleep(Duration::from_millis(100));
    }
    round(0);
}
