//! Opening the database with PlayTrace's durability settings, and its tables as numbered
//! migrations: the database records the schema version it holds (`PRAGMA user_version`), the
//! writer's connection applies every newer migration at start, and a store written by a newer
//! release is refused rather than misread.

use crate::StoreError;
use rusqlite::Connection;
use std::path::Path;
use std::time::Duration;

/// File name of the database inside the data directory.
pub const DB_FILE: &str = "playtrace.db";

/// Schema version 1, as the first release wrote it (without `user_version`, which reads 0).
/// `AUTOINCREMENT`: sequence numbers are stream ids and API cursors, so they must never be
/// reused, not even after retention emptied the table.
const V1: &str = "
CREATE TABLE IF NOT EXISTS events (
    seq     INTEGER PRIMARY KEY AUTOINCREMENT,
    recv_ms INTEGER NOT NULL,
    game    TEXT NOT NULL,
    id      TEXT,
    name    TEXT NOT NULL,
    env     TEXT,
    session TEXT,
    ts_ms   REAL,
    body    TEXT NOT NULL,
    kind    INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX IF NOT EXISTS events_game_id ON events (game, id) WHERE id IS NOT NULL;
CREATE TABLE IF NOT EXISTS alerts (
    id           TEXT PRIMARY KEY,
    fingerprint  TEXT NOT NULL UNIQUE,
    rule         TEXT NOT NULL,
    category     TEXT NOT NULL,
    severity     INTEGER NOT NULL,
    state        TEXT NOT NULL,
    created_ms   INTEGER NOT NULL,
    updated_ms   INTEGER NOT NULL,
    resolved_ms  INTEGER,
    silenced_until_ms INTEGER,
    seeded       INTEGER NOT NULL,
    probe        INTEGER NOT NULL,
    game         TEXT,
    env          TEXT,
    body         TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS alerts_updated ON alerts (updated_ms);
CREATE TABLE IF NOT EXISTS rejects (
    seq     INTEGER PRIMARY KEY AUTOINCREMENT,
    recv_ms INTEGER NOT NULL,
    line    INTEGER NOT NULL,
    kind    TEXT NOT NULL,
    message TEXT NOT NULL,
    raw     TEXT NOT NULL
);
";

/// Version 2: budget alerts still firing are looked up by category and state at every start.
const V2: &str = "CREATE INDEX IF NOT EXISTS alerts_category_state ON alerts (category, state);";

/// Version 3: silences by matchers (the console and `playtrace alerts silence`).
const V3_SILENCES: &str = "
CREATE TABLE IF NOT EXISTS silences (
    id         TEXT PRIMARY KEY,
    matchers   TEXT NOT NULL,
    author     TEXT NOT NULL,
    comment    TEXT NOT NULL,
    starts_ms  INTEGER NOT NULL,
    ends_ms    INTEGER NOT NULL,
    created_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS silences_ends ON silences (ends_ms);
";

/// Notifications (issue 16): alerts waiting in their route's group (`notify_members`), each
/// group's timers (`notify_groups`), and the outbox of notifications to send, sent or dead
/// (`notify_outbox`). Written in the same transaction as the alert change that caused them.
const V_NOTIFY: &str = "
CREATE TABLE IF NOT EXISTS notify_groups (
    receiver    TEXT NOT NULL,
    group_key   TEXT NOT NULL,
    labels      TEXT NOT NULL,
    interval_ms INTEGER NOT NULL,
    repeat_ms   INTEGER NOT NULL,
    created_ms  INTEGER NOT NULL,
    flush_ms    INTEGER,
    sent_ms     INTEGER,
    PRIMARY KEY (receiver, group_key)
);
CREATE INDEX IF NOT EXISTS notify_groups_flush ON notify_groups (flush_ms);
CREATE TABLE IF NOT EXISTS notify_members (
    receiver  TEXT NOT NULL,
    group_key TEXT NOT NULL,
    alert_id  TEXT NOT NULL,
    firing    INTEGER NOT NULL,
    alert     TEXT NOT NULL,
    notified  INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (receiver, group_key, alert_id)
);
CREATE INDEX IF NOT EXISTS notify_members_alert ON notify_members (alert_id);
CREATE TABLE IF NOT EXISTS notify_outbox (
    id          TEXT PRIMARY KEY,
    receiver    TEXT NOT NULL,
    group_key   TEXT NOT NULL,
    status      TEXT NOT NULL,
    alerts      INTEGER NOT NULL,
    body        TEXT NOT NULL,
    state       TEXT NOT NULL,
    attempts    INTEGER NOT NULL DEFAULT 0,
    created_ms  INTEGER NOT NULL,
    next_ms     INTEGER NOT NULL,
    updated_ms  INTEGER NOT NULL,
    last_error  TEXT
);
CREATE INDEX IF NOT EXISTS notify_outbox_due ON notify_outbox (state, receiver, next_ms);
";

/// Privacy (docs/PRIVACY.md): `subjects` indexes the players and sessions each row names
/// (64-bit keys, ordered by sequence: the writer appends, retention prunes a range, and an
/// erasure scans this compact table instead of the events — a secondary index on the key made
/// every event a random B-tree insert and cut ingest to a fifth), `erased_seqs` remembers the sequence numbers an
/// erasure removed (so a stream resuming across them is not told retention lost them), and
/// `erasures` is the log of erasures: who, when, the subject's hash and the counts, never data.
const V_PRIVACY: &str = "
CREATE TABLE IF NOT EXISTS subjects (
    seq INTEGER NOT NULL,
    key INTEGER NOT NULL,
    PRIMARY KEY (seq, key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS erased_seqs (seq INTEGER PRIMARY KEY);
CREATE TABLE IF NOT EXISTS erasures (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    at_ms        INTEGER NOT NULL,
    who          TEXT NOT NULL,
    subject      TEXT NOT NULL,
    subject_hash TEXT NOT NULL,
    events       INTEGER NOT NULL,
    rejects      INTEGER NOT NULL,
    alerts       INTEGER NOT NULL,
    stream_rows  INTEGER NOT NULL
);
";

/// Rejects replayed through ingest (issue 25): when, and the sequence of the event they became
/// (`replayed_seq` stays NULL until then; a reject is never deleted by a replay).
const V_REJECTS_REPLAYED: &str = "
ALTER TABLE rejects ADD COLUMN replayed_seq INTEGER;
ALTER TABLE rejects ADD COLUMN replayed_ms INTEGER;
CREATE INDEX IF NOT EXISTS rejects_recv ON rejects (recv_ms);
";

/// Cluster mode (issue 22): how far this store has applied the replicated log (the JetStream
/// stream sequence of the last message applied, and its receive time), written in the same
/// transaction as the message's rows, so a restart resumes exactly after it.
const V_CLUSTER: &str = "
CREATE TABLE IF NOT EXISTS cluster_position (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    stream_seq INTEGER NOT NULL,
    recv_ms    INTEGER NOT NULL
);
";

/// Cluster mode's lease holder as the log last announced it (`cluster.rs`): time-driven messages
/// of any other collector are skipped, the same way on every node.
const V_CLUSTER_LEASE: &str = "
CREATE TABLE IF NOT EXISTS cluster_lease (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    holder     TEXT NOT NULL,
    stream_seq INTEGER NOT NULL
);
";

/// The budget history (`rollups.rs`): series by key text, counts per minute and per hour, and
/// the sequence number the rows count up to.
const V_ROLLUPS: &str = "
CREATE TABLE IF NOT EXISTS rollup_series (
    id     INTEGER PRIMARY KEY,
    metric INTEGER NOT NULL,
    key    TEXT NOT NULL,
    UNIQUE (metric, key)
);
CREATE TABLE IF NOT EXISTS rollup_minutes (
    at_ms  INTEGER NOT NULL,
    series INTEGER NOT NULL,
    counts BLOB NOT NULL,
    PRIMARY KEY (at_ms, series)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS rollup_hours (
    at_ms  INTEGER NOT NULL,
    series INTEGER NOT NULL,
    counts BLOB NOT NULL,
    PRIMARY KEY (at_ms, series)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS rollup_mark (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    seq     INTEGER NOT NULL,
    recv_ms INTEGER NOT NULL
);
";

/// The subject index in one batch per commit (`subjects.rs`, docs/PRIVACY.md): a Bloom filter
/// of the batch's keys with the sequence numbers it covers, and its `(key, seq)` postings in a
/// blob of their own (an erasure reads every filter but only the postings it needs). Both grow
/// at their end, one row per commit, instead of one B-tree insert per key; the two small
/// indexes let retention find the batches it empties or trims. `subjects` stays for the rows
/// older stores hold.
const V_SUBJECT_BATCHES: &str = "
CREATE TABLE IF NOT EXISTS subject_filters (
    id        INTEGER PRIMARY KEY,
    first_seq INTEGER NOT NULL,
    last_seq  INTEGER NOT NULL,
    entries   INTEGER NOT NULL,
    filter    BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS subject_filters_first ON subject_filters (first_seq);
CREATE INDEX IF NOT EXISTS subject_filters_last ON subject_filters (last_seq);
CREATE TABLE IF NOT EXISTS subject_postings (
    id       INTEGER PRIMARY KEY,
    postings BLOB NOT NULL
);
";

/// Reject marks (issue 25) in a table of their own: marking a reject replayed used to rewrite
/// its whole row, raw line included (about 9% of a replay's CPU, and as many WAL pages again as
/// the replayed events' own); a mark is now a 3-column row appended in reject order. An
/// `INTEGER PRIMARY KEY` is the rowid itself, as compact as `WITHOUT ROWID` for one integer key.
/// An older store's marks move here; `rejects.replayed_seq`/`replayed_ms` are no longer read or
/// written (dropping them would rewrite every reject at start). A reject that retention or an
/// erasure deletes takes its mark with it (the trigger).
const V_REJECT_REPLAYS: &str = "
CREATE TABLE IF NOT EXISTS reject_replays (
    reject_seq INTEGER PRIMARY KEY,
    event_seq  INTEGER,
    at_ms      INTEGER NOT NULL
);
INSERT OR IGNORE INTO reject_replays (reject_seq, event_seq, at_ms)
    SELECT seq, replayed_seq, replayed_ms FROM rejects WHERE replayed_ms IS NOT NULL;
CREATE TRIGGER IF NOT EXISTS rejects_forget_replay AFTER DELETE ON rejects BEGIN
    DELETE FROM reject_replays WHERE reject_seq = old.seq;
END;
";

/// The notification journal (`outbox/journal.rs`): the writer appends each alert change here,
/// one row per change, durable with the change; the notifier's flush applies the rows to
/// `notify_groups`/`notify_members` and deletes them. A plain `INTEGER PRIMARY KEY` (not
/// `AUTOINCREMENT`, which writes `sqlite_sequence` at every insert): ids only order the rows
/// that are there. An older store's groups and pending notifications stay as they are.
const V_NOTIFY_JOURNAL: &str = "
CREATE TABLE IF NOT EXISTS notify_journal (
    id      INTEGER PRIMARY KEY,
    recv_ms INTEGER NOT NULL,
    alert   TEXT NOT NULL
);
";

/// The duplicate check's index with the id first (issue 14 §4). `(game, id)` put the same game
/// first in almost every key, so each comparison of the writer's index search went past equal
/// games to SQLite's slow record compare: ~10 comparisons and ~2,000 instructions an event.
/// With the id first nearly every comparison ends at the first column (−1,250 instructions an
/// event, `bench/ingest/README.md` "Index order and the allocator"). The same pairs are unique;
/// every lookup of it is by both columns. Rebuilding it on an existing store reads every event
/// once, at the first start of this release.
const V_DEDUP_ID_FIRST: &str = "
DROP INDEX IF EXISTS events_game_id;
CREATE UNIQUE INDEX IF NOT EXISTS events_id_game ON events (id, game) WHERE id IS NOT NULL;
";

/// The key log of `[store] dedup = "memory"` (`dedup/`, issue 14): that mode keeps the ids'
/// keys in memory instead of the unique index over the ids (random ids made every commit
/// rewrite a page of the index per event) and logs them here, a row per 65,536 with the largest
/// sequence number in it. The store drops or builds the index at start, as the mode asks.
const V_DEDUP_KEYS: &str = "
CREATE TABLE IF NOT EXISTS event_keys (
    id       INTEGER PRIMARY KEY,
    last_seq INTEGER NOT NULL,
    entries  BLOB NOT NULL
);
";

/// Bodies without the envelope members their columns hold (`envelope.rs`): which ones a row's
/// body leaves out, NULL when it is stored as sent (every row an older release wrote). An added
/// column rewrites nothing; an older release refuses the store by its version rather than
/// return bodies missing those members.
const V_ENVELOPE: &str = "ALTER TABLE events ADD COLUMN envelope INTEGER;";

/// The unique index of `[store] dedup = "index"`, as `V_DEDUP_ID_FIRST` made it (the start
/// builds it again when a store comes back from `memory` mode; the same SQL, so the same index).
pub(crate) const ID_INDEX: &str =
    "CREATE UNIQUE INDEX IF NOT EXISTS events_id_game ON events (id, game) WHERE id IS NOT NULL";

/// Migration `i` brings the schema from version `i` to `i + 1`; append, never edit.
const MIGRATIONS: &[&str] = &[
    V1,
    V2,
    V3_SILENCES,
    V_NOTIFY,
    V_PRIVACY,
    V_REJECTS_REPLAYED,
    V_CLUSTER,
    V_ROLLUPS,
    V_CLUSTER_LEASE,
    V_SUBJECT_BATCHES,
    V_REJECT_REPLAYS,
    V_NOTIFY_JOURNAL,
    V_DEDUP_ID_FIRST,
    V_DEDUP_KEYS,
    V_ENVELOPE,
];

/// The schema version this release writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// Brings the database to [`SCHEMA_VERSION`], one transaction per step; returns the version it
/// found. A database of a newer release is refused (reading it could lose data).
pub(crate) fn migrate(conn: &mut Connection, path: &Path) -> Result<i64, StoreError> {
    let found: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if found > SCHEMA_VERSION {
        return Err(StoreError::NewerSchema {
            path: path.to_path_buf(),
            found,
            supported: SCHEMA_VERSION,
        });
    }
    for (version, sql) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.execute_batch(&format!("PRAGMA user_version = {}", version + 1))?;
        tx.commit()?;
    }
    if found < SCHEMA_VERSION {
        tracing::info!(from = found, to = SCHEMA_VERSION, "store schema migrated");
    }
    Ok(found)
}

/// Opens (creating if needed) the database at `path` with `journal_mode=WAL`,
/// How long a connection waits for a lock another holds before SQLite answers busy.
pub(crate) const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// `synchronous=FULL` and a busy timeout, so a commit that returned is on disk and readers never
/// block the writer; `secure_delete` zeroes what a delete frees, so erased and expired rows do
/// not linger in free pages (docs/PRIVACY.md). Tables are not touched: [`migrate`] (on the writer's connection) does that.
pub(crate) fn connect(path: &Path) -> Result<Connection, StoreError> {
    let wrap = |source| StoreError::Open {
        path: path.to_path_buf(),
        source,
    };
    let conn = Connection::open(path).map_err(wrap)?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(wrap)?;
    // 16 KiB pages: fewer page splits and frame headers per ~300-byte event (a new database
    // only; an existing one keeps its page size).
    conn.execute_batch("PRAGMA page_size=16384").map_err(wrap)?;
    let mode: String = conn
        .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))
        .map_err(wrap)?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(wrap(rusqlite::Error::InvalidParameterName(format!(
            "journal_mode is {mode}, WAL is required (is the data directory on a network file system?)"
        ))));
    }
    conn.execute_batch(
        "PRAGMA synchronous=FULL;
         PRAGMA foreign_keys=OFF;
         PRAGMA journal_size_limit=67108864;
         PRAGMA cache_size=-32768;
         PRAGMA secure_delete=ON;",
    )
    .map_err(wrap)?;
    Ok(conn)
}

/// Refuses a database SQLite opened read-only (it does so silently when the file is not
/// writable) or cannot take the write lock on: it would answer every commit with an error no
/// retry fixes.
pub(crate) fn check_writable(conn: &Connection, path: &Path) -> Result<(), StoreError> {
    if conn.is_readonly(rusqlite::MAIN_DB)? {
        return Err(StoreError::ReadOnly {
            path: path.to_path_buf(),
            cause: "the file is not writable, so SQLite opened it read-only".into(),
        });
    }
    conn.execute_batch("BEGIN IMMEDIATE; ROLLBACK;")?;
    Ok(())
}

/// Makes the next event's sequence number come after `seq` (`AUTOINCREMENT`'s counter).
pub(crate) fn raise_sequence(conn: &Connection, seq: i64) -> Result<(), StoreError> {
    let changed = conn.execute(
        "UPDATE sqlite_sequence SET seq = max(seq, ?1) WHERE name = 'events'",
        [seq],
    )?;
    if changed == 0 {
        conn.execute(
            "INSERT INTO sqlite_sequence (name, seq) VALUES ('events', ?1)",
            [seq],
        )?;
    }
    Ok(())
}

/// [`connect`], then [`migrate`]: a connection on an up-to-date database (for tests).
#[cfg(test)]
pub(crate) fn open(path: &Path) -> Result<Connection, StoreError> {
    let mut conn = connect(path)?;
    migrate(&mut conn, path)?;
    Ok(conn)
}

/// Makes `conn` a writer that never checkpoints itself: copying WAL pages into the database
/// (and fsyncing it) would otherwise happen inside a commit, on the one thread every ingest
/// request waits for. The checkpoint thread (`checkpoint.rs`) does it from another connection instead.
pub(crate) fn disable_auto_checkpoint(conn: &Connection) -> Result<(), StoreError> {
    conn.query_row("PRAGMA wal_autocheckpoint=0", [], |_| Ok(()))?;
    Ok(())
}

/// The writer connection's page cache, KiB (readers keep [`connect`]'s 32 MiB). The writer
/// appends: events, subject batches and ids that sort touch the last pages of their B-trees,
/// and random ids no longer stay on the index (`[store] dedup = "auto"`). 32 MiB there held
/// pages nothing read again; at 8 MiB `bench/budgets` peaked at 275 MB instead of 320 (issue
/// 14 §1's < 300) with the same ingest rate (bench/ingest/README.md, round 17).
const WRITER_CACHE_KIB: u32 = 8 * 1024;

/// Gives the writer's connection its smaller page cache ([`WRITER_CACHE_KIB`]).
pub(crate) fn writer_cache(conn: &Connection) -> Result<(), StoreError> {
    conn.execute_batch(&format!("PRAGMA cache_size=-{WRITER_CACHE_KIB}"))?;
    Ok(())
}

/// Caps the database file at about `bytes` (`PRAGMA max_page_count`): past it a commit fails
/// with SQLITE_FULL, which the collector answers with 507, instead of filling the disk when
/// retention cannot keep up.
pub(crate) fn set_size_limit(conn: &Connection, bytes: u64) -> Result<(), StoreError> {
    let page: i64 = conn.query_row("PRAGMA page_size", [], |r| r.get(0))?;
    let pages = (bytes / page.max(512) as u64).max(64);
    conn.query_row(&format!("PRAGMA max_page_count = {pages}"), [], |_| Ok(()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_in_wal_mode_with_full_sync() {
        let dir = tempfile::tempdir().unwrap();
        let conn = open(&dir.path().join(DB_FILE)).unwrap();
        let mode: String = conn
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap();
        let sync: i64 = conn
            .query_row("PRAGMA synchronous", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
        assert_eq!(sync, 2, "2 is FULL");
    }

    /// The bundled SQLite carries the build settings `.cargo/config.toml` gives it (no global
    /// memory-statistics mutex, a lookaside that takes the writer's bound texts): a build that
    /// lost them (another `LIBSQLITE3_FLAGS`, a system SQLite) still passes every other test but
    /// ingests slower.
    #[test]
    fn sqlite_is_built_with_the_repositorys_settings() {
        let dir = tempfile::tempdir().unwrap();
        let conn = open(&dir.path().join(DB_FILE)).unwrap();
        let options: Vec<String> = conn
            .prepare("PRAGMA compile_options")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        for wanted in ["DEFAULT_MEMSTATUS=0", "DEFAULT_LOOKASIDE=1024,768"] {
            assert!(
                options.iter().any(|o| o == wanted),
                "{wanted} not in {options:?}"
            );
        }
    }
}
