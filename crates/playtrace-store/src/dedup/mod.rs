//! The duplicate check of `[store] dedup = "memory"` (SPEC §2: a client `id` makes ingest
//! idempotent, keyed on `(game, id)`) without a B-tree index over the ids.
//!
//! The default mode's unique index on `(id, game)` costs a B-tree insert per event at a place
//! its id decides. Ids made in order (`client-counter`, as the SDKs make them) land on the
//! index's last pages, but random ones (UUIDv4, as many games send) land on a different leaf
//! page each: every commit of 1,000 such events rewrote ~1,000 16 KiB pages into the WAL, and
//! ingest fell from ~420,000 to ~18,000 events/s by the 4th million stored events, falling
//! further as the store grew (`bench/ingest/README.md` "Random ids").
//!
//! In this mode the writer keeps every stored id's 64-bit key with the event's sequence number
//! in memory (`table.rs`), so the check is a hash lookup whatever the ids look like. A key only
//! names candidates: a match is confirmed by reading that event's `(game, id)` by its sequence,
//! so two ids with one key are never taken for one another, and an entry left behind by a
//! deleted (expired, erased) or rolled-back event simply confirms nothing. Keys are logged
//! durably in `event_keys`, one row per [`FLUSH_AT`] entries, appended in the writer's
//! transaction; a start reads the log, then the few events stored after its last row. Memory:
//! 10–15 bytes per stored event with an id (docs/OPERATIONS.md "Memory"), which is why the
//! default (`auto`) keeps the index until it costs a page per event (`Dedup::switch`).

use rusqlite::{params, Connection, OptionalExtension};
use std::collections::{HashMap, HashSet};
pub(crate) use table::Probe;
use table::Table;

mod table;

/// Entries per `event_keys` row (1 MiB): one sequential row per this many events with ids.
#[cfg(not(test))]
pub(crate) const FLUSH_AT: usize = 65_536;
/// Small in unit tests, so a few hundred events make several rows.
#[cfg(test)]
pub(crate) const FLUSH_AT: usize = 64;

/// Bytes per logged entry: the key and the sequence number, little-endian.
const ENTRY: usize = 16;

/// The duplicate-check key of `(game, id)`: the id hashed with the game's hash as the seed, so
/// no game and id pair can be spelled as another.
pub(crate) fn key(game: &str, id: &str) -> u64 {
    let seed = xxhash_rust::xxh3::xxh3_64(game.as_bytes());
    xxhash_rust::xxh3::xxh3_64_with_seed(id.as_bytes(), seed)
}

/// How the store refuses duplicates (`[store] dedup`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DedupMode {
    /// The index while the ids sort; the key table from the first time the index makes the
    /// writer's commits rewrite a page per event (`writer/amplify.rs`), for good: the store
    /// remembers by having no index.
    #[default]
    Auto,
    /// A unique index on `(id, game)`: no memory per event, but a random id (UUIDv4) costs a
    /// B-tree page write per event once the index outgrows a commit (`bench/ingest/ids`).
    Index,
    /// A table in the writer's memory of every stored id's key (10–15 bytes an event with an
    /// id): ingest of random ids as fast as of ids made in order, at any store size.
    Memory,
}

impl DedupMode {
    /// The mode named `name` (`auto`, `index`, `memory`).
    pub fn parse(name: &str) -> Option<DedupMode> {
        match name {
            "auto" => Some(DedupMode::Auto),
            "index" => Some(DedupMode::Index),
            "memory" => Some(DedupMode::Memory),
            _ => None,
        }
    }
}

/// What the duplicate check needs of an event, worked out by the thread that submits the job
/// (ingest's request threads, in parallel) instead of by the writer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Check {
    /// No id: always stored.
    Always,
    /// The job's first event with this `(game, id)`, under this key.
    First(u64),
    /// An earlier event of the job has the same `(game, id)`: a duplicate.
    Repeat,
}

/// The [`Check`] of each of `events`.
pub(crate) fn prepare(events: &[crate::record::StoredEvent]) -> Vec<Check> {
    let mut seen = HashSet::with_capacity(events.len());
    events
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let Some(id) = e.id.as_deref() else {
                return Check::Always;
            };
            let key = key(&e.game, id);
            // The key seen before: the same id again, or (rarely) another with its key.
            let repeat = !seen.insert(key)
                && events[..i]
                    .iter()
                    .any(|earlier| earlier.id.as_deref() == Some(id) && earlier.game == e.game);
            if repeat {
                Check::Repeat
            } else {
                Check::First(key)
            }
        })
        .collect()
}

/// Every stored id's key and sequence number; owned by the writer.
#[derive(Default)]
pub(crate) struct Dedup {
    /// Every entry whose sequence number the table's offsets reach (all of them, in practice).
    table: Table,
    /// The others: a sequence number 2^32 past the table's first (`Table::insert`).
    far: HashMap<u64, Vec<i64>>,
    /// Entries not yet in `event_keys`, in sequence order.
    pending: Vec<(u64, i64)>,
    /// Entries of `pending` written by the open transaction (dropped once it commits).
    staged: usize,
    /// `pending`'s length when the open transaction began: a rollback drops what came after
    /// (those events were not stored, and their sequence numbers will be given again).
    began: usize,
    /// The logged rows, `(last_seq, entries)`, oldest first.
    rows: Vec<(i64, usize)>,
    /// Rows in `staged` (appended to `rows` once the transaction commits).
    staged_rows: Vec<(i64, usize)>,
    /// Entries of rows pruned since the map was last trimmed.
    pruned: usize,
    /// The oldest stored event's sequence number as the last committed prune saw it.
    floor: i64,
    /// The one the open transaction's prune read (`None`: it logged nothing).
    staged_floor: Option<i64>,
}

impl Dedup {
    /// Reads the key log, then the events stored after it (all of them in a store written by a
    /// release without the log: logged before the writer starts).
    #[cfg(test)]
    pub(crate) fn load(conn: &Connection) -> rusqlite::Result<Dedup> {
        let mut dedup = Dedup::default();
        let mut after = dedup.read_log(conn)?;
        dedup.read_events(conn, &mut after, i64::MAX)?;
        Ok(dedup)
    }

    /// Reads the key log; returns the largest sequence number it covers.
    fn read_log(&mut self, conn: &Connection) -> rusqlite::Result<i64> {
        let mut logged = 0i64;
        let mut stmt = conn.prepare("SELECT last_seq, entries FROM event_keys ORDER BY id")?;
        let mut rows = stmt.query([])?;
        while let Some(row) = rows.next()? {
            let last_seq: i64 = row.get(0)?;
            let blob = row.get_ref(1)?.as_blob()?;
            let mut entries = 0;
            for entry in blob.chunks_exact(ENTRY) {
                let (key, seq) = entry.split_at(8);
                let key = u64::from_le_bytes(key.try_into().unwrap_or_default());
                let seq = i64::from_le_bytes(seq.try_into().unwrap_or_default());
                self.remember(key, seq, None);
                entries += 1;
            }
            self.rows.push((last_seq, entries));
            logged = logged.max(last_seq);
        }
        Ok(logged)
    }

    /// Adds up to `limit` stored events with ids after sequence number `after` (advanced past
    /// them); returns how many.
    fn read_events(
        &mut self,
        conn: &Connection,
        after: &mut i64,
        limit: i64,
    ) -> rusqlite::Result<i64> {
        let mut stmt = conn.prepare_cached(
            "SELECT seq, game, id FROM events WHERE seq > ?1 AND id IS NOT NULL ORDER BY seq LIMIT ?2",
        )?;
        let mut rows = stmt.query(params![*after, limit])?;
        let mut read = 0;
        while let Some(row) = rows.next()? {
            let seq: i64 = row.get(0)?;
            let key = key(row.get_ref(1)?.as_str()?, row.get_ref(2)?.as_str()?);
            self.add(key, seq, None);
            *after = seq;
            read += 1;
        }
        Ok(read)
    }

    /// The duplicate check `mode` asks for, on the writer's connection at start: the unique
    /// index (built if a store kept in `memory` mode comes back: it reads every event once; the
    /// key log is emptied, as it would go stale), or the key table without the index. `auto`
    /// keeps whichever the store has: the index (a new store's), or the table once a switch
    /// ([`Dedup::switch`]) dropped the index.
    pub(crate) fn start(conn: &mut Connection, mode: DedupMode) -> rusqlite::Result<Option<Dedup>> {
        let mode = match mode {
            DedupMode::Auto if has_index(conn)? => DedupMode::Index,
            DedupMode::Auto => DedupMode::Memory,
            other => other,
        };
        match mode {
            DedupMode::Memory => {
                conn.execute_batch("DROP INDEX IF EXISTS events_id_game")?;
                Dedup::open(conn).map(Some)
            }
            _ => {
                conn.execute_batch(crate::schema::ID_INDEX)?;
                conn.execute_batch("DELETE FROM event_keys")?;
                Ok(None)
            }
        }
    }

    /// `auto`'s switch from the index to the table, in the writer between commits: the
    /// stored events' keys are read and logged first, then the index is dropped. A failure
    /// before the drop leaves the index refusing duplicates (and a log the next start empties);
    /// a crash after it leaves a store that `start` opens with the table.
    pub(crate) fn switch(conn: &mut Connection) -> rusqlite::Result<Dedup> {
        let dedup = Dedup::open(conn)?;
        conn.execute_batch("DROP INDEX IF EXISTS events_id_game")?;
        Ok(dedup)
    }

    /// Reads the key log, then the events stored after it. A store written before the log (or
    /// one whose log fell behind by more than a row) has its events' keys logged here, a row at
    /// a time as they are read, so the next start reads keys instead of events.
    pub(crate) fn open(conn: &mut Connection) -> rusqlite::Result<Dedup> {
        let mut dedup = Dedup::default();
        let mut after = dedup.read_log(conn)?;
        let mut logged = 0;
        loop {
            let read = dedup.read_events(conn, &mut after, FLUSH_AT as i64)?;
            if dedup.pending.len() >= FLUSH_AT {
                let tx = conn.transaction()?;
                dedup.begin();
                dedup.log(&tx)?;
                tx.commit()?;
                logged += dedup.staged;
                dedup.committed();
            }
            if read < FLUSH_AT as i64 {
                break;
            }
        }
        if logged > 0 {
            tracing::info!(
                logged,
                keys = dedup.len(),
                "logged the stored events' duplicate-check keys"
            );
        }
        Ok(dedup)
    }

    /// The stored event `(game, id)` (`key`: its [`key`]), if any.
    pub(crate) fn find(
        &self,
        conn: &Connection,
        key: u64,
        game: &str,
        id: &str,
    ) -> rusqlite::Result<Option<i64>> {
        Ok(self.probe(conn, key, game, id)?.0)
    }

    /// [`Dedup::find`], and where [`Dedup::add`] would put `key` if it is new.
    pub(crate) fn probe(
        &self,
        conn: &Connection,
        key: u64,
        game: &str,
        id: &str,
    ) -> rusqlite::Result<(Option<i64>, Probe)> {
        let (found, probe) = self.table.find(key, |seq| is_event(conn, seq, game, id))?;
        if found.is_some() || self.far.is_empty() {
            return Ok((found, probe));
        }
        for &seq in self.far.get(&key).into_iter().flatten() {
            if is_event(conn, seq, game, id)? {
                return Ok((Some(seq), probe));
            }
        }
        Ok((None, probe))
    }

    /// Loads the table's slots for `checks` ahead of their lookups: one loop of independent
    /// loads, so the cache misses overlap instead of coming one per event.
    pub(crate) fn touch(&self, checks: &[Check]) {
        self.table.touch(checks.iter().filter_map(|c| match c {
            Check::First(key) => Some(*key),
            _ => None,
        }));
    }

    /// The writer's transaction begins.
    pub(crate) fn begin(&mut self) {
        self.began = self.pending.len();
        self.staged = 0;
        self.staged_rows.clear();
        self.staged_floor = None;
    }

    /// The writer's transaction rolled back: its entries are not logged (those left in the
    /// map confirm nothing: [`Dedup::find`] reads the event).
    pub(crate) fn rolled_back(&mut self) {
        self.pending.truncate(self.began);
        self.staged = 0;
        self.staged_rows.clear();
        self.staged_floor = None;
    }

    /// An event stored under `key` as `seq` (after [`Dedup::probe`] found none: `probe`).
    pub(crate) fn add(&mut self, key: u64, seq: i64, probe: Option<Probe>) {
        self.remember(key, seq, probe);
        self.pending.push((key, seq));
    }

    fn remember(&mut self, key: u64, seq: i64, probe: Option<Probe>) {
        if !self.table.insert(key, seq, probe) {
            self.far.entry(key).or_default().push(seq);
        }
    }

    /// Inside the writer's transaction: logs the pending entries in full rows of
    /// [`FLUSH_AT`] (the rest waits for more), and drops the rows of events retention has
    /// removed since.
    pub(crate) fn log(&mut self, conn: &Connection) -> rusqlite::Result<()> {
        if self.pending.len() < FLUSH_AT {
            return Ok(());
        }
        let mut insert =
            conn.prepare_cached("INSERT INTO event_keys (last_seq, entries) VALUES (?1, ?2)")?;
        let mut blob = Vec::with_capacity(FLUSH_AT * ENTRY);
        for chunk in self.pending.chunks_exact(FLUSH_AT) {
            blob.clear();
            let mut last = 0;
            for &(key, seq) in chunk {
                blob.extend_from_slice(&key.to_le_bytes());
                blob.extend_from_slice(&seq.to_le_bytes());
                last = last.max(seq);
            }
            insert.execute(params![last, blob])?;
            self.staged += chunk.len();
            self.staged_rows.push((last, chunk.len()));
        }
        self.prune(conn)
    }

    /// Drops the log's rows whose events all precede the oldest stored one.
    fn prune(&mut self, conn: &Connection) -> rusqlite::Result<()> {
        let floor: Option<i64> = conn
            .query_row("SELECT min(seq) FROM events", [], |r| r.get(0))
            .optional()?
            .flatten();
        let Some(floor) = floor.filter(|&f| f > self.floor) else {
            return Ok(());
        };
        conn.prepare_cached("DELETE FROM event_keys WHERE last_seq < ?1")?
            .execute([floor])?;
        self.staged_floor = Some(floor);
        Ok(())
    }

    /// The transaction of the last [`Dedup::log`] committed: its entries are logged, and the
    /// rows its prune dropped leave memory too.
    pub(crate) fn committed(&mut self) {
        self.pending.drain(..self.staged);
        self.staged = 0;
        self.rows.append(&mut self.staged_rows);
        let Some(floor) = self.staged_floor.take() else {
            return;
        };
        self.floor = floor;
        let gone = self
            .rows
            .iter()
            .take_while(|(last, _)| *last < floor)
            .count();
        self.pruned += self.rows.drain(..gone).map(|(_, n)| n).sum::<usize>();
        // Entries of removed events cost memory only: trimmed once they are a quarter of all.
        if self.pruned * 4 > self.table.len() {
            self.table.retain_from(floor);
            self.far.retain(|_, seqs| {
                seqs.retain(|seq| *seq >= floor);
                !seqs.is_empty()
            });
            self.pruned = 0;
        }
    }

    /// Entries held.
    pub(crate) fn len(&self) -> usize {
        self.table.len() + self.far.values().map(Vec::len).sum::<usize>()
    }
}

/// Whether the store has the unique index over the ids.
pub(crate) fn has_index(conn: &Connection) -> rusqlite::Result<bool> {
    conn.query_row(
        "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name = 'events_id_game'",
        [],
        |r| r.get::<_, i64>(0),
    )
    .map(|n| n > 0)
}

/// Whether the event stored as `seq` is `(game, id)`.
fn is_event(conn: &Connection, seq: i64, game: &str, id: &str) -> rusqlite::Result<bool> {
    let mut stmt = conn.prepare_cached("SELECT game, id FROM events WHERE seq = ?1")?;
    let mut rows = stmt.query([seq])?;
    Ok(match rows.next()? {
        Some(row) => {
            row.get_ref(0)?.as_str()? == game && row.get_ref(1)?.as_str_or_null()? == Some(id)
        }
        None => false,
    })
}

#[cfg(test)]
mod tests;
