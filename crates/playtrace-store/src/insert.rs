//! Inserting a job's events, many rows per statement.
//!
//! One `INSERT` per event cost the writer, per event, a statement's setup and teardown plus
//! `AUTOINCREMENT`'s read and rewrite of `sqlite_sequence` — about as much as storing the row.
//! Runs of events go in multi-row `INSERT OR IGNORE … VALUES (…), (…)` statements of up to
//! [`ROWS`] rows instead. Duplicates are decided one of two ways (`[store] dedup`):
//!
//! - `index` (the default): the unique index on `(id, game)` ignores them. A statement that
//!   stored every row gave them consecutive sequence numbers ending at `last_insert_rowid()`
//!   (`AUTOINCREMENT` numbers each new row one past the largest ever). When it stored fewer,
//!   each row's `(game, id)` is looked up: it was stored by this statement when its row's
//!   sequence is past the head before the statement and no earlier row of the statement had the
//!   same key — SQLite inserts the rows of `VALUES` in order, so the first one wins.
//! - `memory`: the writer's key table (`dedup/`) decides before the insert, so every row of a
//!   statement is stored; there is no index over the ids to update.

use crate::dedup::{Check, Dedup, Probe};
use crate::envelope::{self, Pack};
use crate::record::{Kind, StoredEvent};
use rusqlite::{params, CachedStatement, Connection};
use std::sync::OnceLock;

/// Rows per statement at most; a run is cut into statements of these sizes (largest first), so
/// only four statements are ever prepared.
const ROWS: [usize; 4] = [64, 16, 4, 1];

/// Columns bound per row (`recv_ms` is bound once per statement, as `?1`).
const COLUMNS: usize = 8;

/// Per event of a job: whether it was stored, and its sequence number (0 for a duplicate).
pub(crate) struct Inserted {
    pub(crate) inserted: Vec<bool>,
    pub(crate) seqs: Vec<i64>,
}

/// What the submitting thread worked out for a job's events, so the writer does not: their
/// duplicate checks ([`crate::dedup::prepare`], with the key table) and how their bodies are
/// stored ([`envelope::pack`]). Either may be missing (the writer works it out).
#[derive(Clone, Copy, Default)]
pub(crate) struct Prepared<'a> {
    pub(crate) checks: Option<&'a [Check]>,
    pub(crate) packs: Option<&'a [Pack]>,
}

/// Inserts `events` (stamping `seq`, `recv_ms` and `kind` on each) that are not duplicates of
/// a stored event or of an earlier one of `events`: by the unique index, or (`dedup`) by the
/// writer's key table, which learns their keys. `head` is at least the largest sequence number
/// of any event already stored, and is advanced past what this stores.
pub(crate) fn insert_events(
    conn: &Connection,
    dedup: Option<&mut Dedup>,
    events: &mut [StoredEvent],
    prepared: Prepared<'_>,
    recv_ms: i64,
    head: &mut i64,
) -> rusqlite::Result<Inserted> {
    let computed;
    let packs = match prepared.packs.filter(|p| p.len() == events.len()) {
        Some(packs) => packs,
        None => {
            computed = envelope::pack_all(events);
            &computed
        }
    };
    let rows = Rows {
        events,
        packs,
        recv_ms,
    };
    let out = match dedup {
        Some(dedup) => insert_checked(conn, dedup, rows, prepared.checks, head)?,
        None => insert_indexed(conn, rows, head)?,
    };
    for (e, &seq) in events.iter_mut().zip(&out.seqs) {
        e.seq = seq;
        e.recv_ms = recv_ms;
        e.kind = Kind::Event;
    }
    Ok(out)
}

/// A job's events to insert, with how their bodies are stored and their receive time.
#[derive(Clone, Copy)]
struct Rows<'a> {
    events: &'a [StoredEvent],
    packs: &'a [Pack],
    recv_ms: i64,
}

impl<'a> Rows<'a> {
    /// Rows `at..at + n`.
    fn slice(&self, at: usize, n: usize) -> Rows<'a> {
        Rows {
            events: &self.events[at..at + n],
            packs: &self.packs[at..at + n],
            recv_ms: self.recv_ms,
        }
    }
}

/// `[store] dedup = "memory"`: the key table decides; every row inserted is stored.
fn insert_checked(
    conn: &Connection,
    dedup: &mut Dedup,
    rows_in: Rows<'_>,
    checks: Option<&[Check]>,
    head: &mut i64,
) -> rusqlite::Result<Inserted> {
    let events = rows_in.events;
    let prepared;
    let checks = match checks.filter(|c| c.len() == events.len()) {
        Some(checks) => checks,
        None => {
            prepared = crate::dedup::prepare(events);
            &prepared
        }
    };
    let (keys, stored) = duplicates(conn, dedup, events, checks)?;
    let mut seqs = vec![0i64; events.len()];
    let mut start = 0;
    while start < events.len() {
        if !stored[start] {
            start += 1;
            continue;
        }
        let run = stored[start..].iter().take_while(|&&s| s).count();
        let rows = ROWS.iter().copied().find(|&n| n <= run).unwrap_or(1);
        let stored = insert_rows(conn, rows_in.slice(start, rows))?;
        if stored != rows {
            // Nothing else refuses a row (no unique index in this mode): a store out of shape.
            return Err(rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CONSTRAINT),
                Some(format!(
                    "{stored} of {rows} rows stored without a unique index: \
                     is the events table as this release made it?"
                )),
            ));
        }
        let last = conn.last_insert_rowid();
        for k in 0..rows {
            let seq = last - (rows - 1 - k) as i64;
            seqs[start + k] = seq;
            if let Some((key, probe)) = keys[start + k] {
                dedup.add(key, seq, Some(probe));
            }
        }
        *head = (*head).max(last);
        start += rows;
    }
    Ok(Inserted {
        inserted: stored,
        seqs,
    })
}

/// `[store] dedup = "index"`: inserts `events` with `INSERT OR IGNORE`, the unique index on
/// `(id, game)` refusing duplicates; a statement that stored fewer rows than it had settles
/// which by key (see the module's doc).
fn insert_indexed(
    conn: &Connection,
    rows_in: Rows<'_>,
    head: &mut i64,
) -> rusqlite::Result<Inserted> {
    let events = rows_in.events;
    let mut out = Inserted {
        inserted: Vec::with_capacity(events.len()),
        seqs: Vec::with_capacity(events.len()),
    };
    let mut start = 0;
    while start < events.len() {
        if events[start].id.is_none() {
            insert_rows(conn, rows_in.slice(start, 1))?;
            let seq = conn.last_insert_rowid();
            *head = (*head).max(seq);
            out.inserted.push(true);
            out.seqs.push(seq);
            start += 1;
            continue;
        }
        let run = events[start..]
            .iter()
            .take_while(|e| e.id.is_some())
            .count();
        let rows = ROWS.iter().copied().find(|&n| n <= run).unwrap_or(1);
        let chunk = &events[start..start + rows];
        let stored = insert_rows(conn, rows_in.slice(start, rows))?;
        if stored == rows {
            let last = conn.last_insert_rowid();
            for k in 0..rows as i64 {
                out.inserted.push(true);
                out.seqs.push(last - rows as i64 + 1 + k);
            }
        } else {
            settle(conn, chunk, *head, &mut out)?;
        }
        if stored > 0 {
            *head = (*head).max(conn.last_insert_rowid());
        }
        start += rows;
    }
    Ok(out)
}

/// After a statement that stored fewer rows than it had: which ones it stored, by key.
fn settle(
    conn: &Connection,
    chunk: &[StoredEvent],
    head: i64,
    out: &mut Inserted,
) -> rusqlite::Result<()> {
    let mut lookup = conn
        .prepare_cached("SELECT seq FROM events WHERE game = ?1 AND id = ?2 AND id IS NOT NULL")?;
    let first = out.seqs.len();
    for e in chunk {
        let seq: Option<i64> = lookup
            .query_row(params![e.game.as_str(), e.id.as_deref()], |r| r.get(0))
            .map(Some)
            .or_else(|e| match e {
                rusqlite::Error::QueryReturnedNoRows => Ok(None),
                e => Err(e),
            })?;
        // Stored now: past the head, and the first row of the statement with this key.
        let new = seq.filter(|&s| s > head && !out.seqs[first..].contains(&s));
        out.inserted.push(new.is_some());
        out.seqs.push(new.unwrap_or(0));
    }
    Ok(())
}

/// Each event's key and table probe (`None`: no lookup) and whether it is to be stored: not a
/// duplicate of a stored event, nor of an earlier event of the job (the first one wins).
#[allow(clippy::type_complexity)]
fn duplicates(
    conn: &Connection,
    dedup: &Dedup,
    events: &[StoredEvent],
    checks: &[Check],
) -> rusqlite::Result<(Vec<Option<(u64, Probe)>>, Vec<bool>)> {
    dedup.touch(checks);
    let mut probes = Vec::with_capacity(events.len());
    let mut stored = Vec::with_capacity(events.len());
    for (e, check) in events.iter().zip(checks) {
        let (probe, store) = match (check, e.id.as_deref()) {
            (Check::First(key), Some(id)) => {
                let (found, probe) = dedup.probe(conn, *key, &e.game, id)?;
                (Some((*key, probe)), found.is_none())
            }
            (Check::Repeat, _) => (None, false),
            _ => (None, true),
        };
        probes.push(probe);
        stored.push(store);
    }
    Ok((probes, stored))
}

/// The multi-row statement for `rows` rows (one of [`ROWS`]), built once: the writer asks for
/// one per statement it runs.
fn statement(rows: usize) -> &'static str {
    static SQL: OnceLock<[String; ROWS.len()]> = OnceLock::new();
    let all = SQL.get_or_init(|| ROWS.map(build_statement));
    ROWS.iter()
        .position(|&n| n == rows)
        .map_or("", |i| all[i].as_str())
}

fn build_statement(rows: usize) -> String {
    let mut sql = String::from(
        "INSERT OR IGNORE INTO events (recv_ms, game, id, name, env, session, ts_ms, body, envelope) VALUES ",
    );
    for row in 0..rows {
        if row > 0 {
            sql.push(',');
        }
        sql.push_str("(?1");
        for column in 0..COLUMNS {
            sql.push_str(&format!(",?{}", 2 + row * COLUMNS + column));
        }
        sql.push(')');
    }
    sql
}

/// Runs the statement for `rows`; returns how many it stored. Bodies are stored without the
/// envelope members their columns hold (`envelope.rs`), copied into one buffer for the
/// statement.
fn insert_rows(conn: &Connection, rows: Rows<'_>) -> rusqlite::Result<usize> {
    let mut stmt: CachedStatement<'_> = conn.prepare_cached(statement(rows.events.len()))?;
    let pairs = || rows.events.iter().zip(rows.packs);
    let size = pairs()
        .filter_map(|(e, p)| p.map(|(_, at)| e.body.len() + 1 - at))
        .sum();
    let mut packed = String::with_capacity(size);
    let mut ends = Vec::with_capacity(rows.events.len());
    for (e, p) in pairs() {
        if let Some((_, at)) = p {
            envelope::packed_body(e, *at, &mut packed);
        }
        ends.push(packed.len());
    }
    stmt.raw_bind_parameter(1, rows.recv_ms)?;
    let mut start = 0;
    for (row, (e, p)) in pairs().enumerate() {
        let at = 2 + row * COLUMNS;
        stmt.raw_bind_parameter(at, e.game.as_str())?;
        stmt.raw_bind_parameter(at + 1, e.id.as_deref())?;
        stmt.raw_bind_parameter(at + 2, e.name.as_str())?;
        stmt.raw_bind_parameter(at + 3, e.env.as_deref())?;
        stmt.raw_bind_parameter(at + 4, e.session.as_deref())?;
        stmt.raw_bind_parameter(at + 5, e.ts_ms)?;
        match p {
            Some((code, _)) => {
                stmt.raw_bind_parameter(at + 6, &packed[start..ends[row]])?;
                stmt.raw_bind_parameter(at + 7, code)?;
            }
            None => {
                stmt.raw_bind_parameter(at + 6, &e.body)?;
                stmt.raw_bind_parameter(at + 7, rusqlite::types::Null)?;
            }
        }
        start = ends[row];
    }
    stmt.raw_execute()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(game: &str, id: Option<&str>, body: &str) -> StoredEvent {
        StoredEvent {
            game: game.into(),
            id: id.map(Into::into),
            name: "n".into(),
            body: body.into(),
            ..StoredEvent::default()
        }
    }

    /// [`insert_events`] with nothing prepared by a submitter.
    fn insert(
        conn: &Connection,
        dedup: Option<&mut Dedup>,
        events: &mut [StoredEvent],
        recv_ms: i64,
        head: &mut i64,
    ) -> Inserted {
        insert_events(conn, dedup, events, Prepared::default(), recv_ms, head).unwrap()
    }

    fn head(conn: &Connection) -> i64 {
        crate::mark::stored_head(conn).unwrap()
    }

    fn stored(conn: &Connection) -> Vec<(i64, String, Option<String>, String)> {
        let mut stmt = conn
            .prepare("SELECT seq, game, id, body FROM events ORDER BY seq")
            .unwrap();
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    }

    /// A store for `memory` (`true`: no index, the key table) or the unique index's mode.
    fn store(memory: bool) -> (tempfile::TempDir, Connection, Option<Dedup>) {
        let dir = tempfile::tempdir().unwrap();
        let conn = crate::open(&dir.path().join(crate::DB_FILE)).unwrap();
        if memory {
            conn.execute_batch("DROP INDEX events_id_game").unwrap();
        }
        (dir, conn, memory.then(Dedup::default))
    }

    /// Every row of a job is stored in order with consecutive sequence numbers, across the
    /// statement sizes (64 + 16 + 4 + 4 + 1 for 89 rows), and each event knows its row; in
    /// both modes.
    #[test]
    fn a_job_is_stored_in_order_across_statement_sizes() {
        for memory in [false, true] {
            let (_dir, conn, mut dedup) = store(memory);
            let mut events: Vec<_> = (0..89)
                .map(|i| event("g", Some(&format!("e{i}")), &format!("{{\"i\":{i}}}")))
                .collect();
            let mut h = head(&conn);
            let out = insert(&conn, dedup.as_mut(), &mut events, 5, &mut h);
            assert!(out.inserted.iter().all(|&b| b));
            let rows = stored(&conn);
            assert_eq!(rows.len(), 89);
            for (e, row) in events.iter().zip(&rows) {
                assert_eq!((e.seq, &e.body), (row.0, &row.3));
                assert_eq!(e.recv_ms, 5);
            }
            assert_eq!(h, rows[88].0);
        }
    }

    /// Duplicates of stored events and repeats inside one statement are found by key: the first
    /// occurrence is stored, the others are duplicates with sequence 0; events without an id are
    /// always stored; and two different ids that look alike are both stored; in both modes.
    #[test]
    fn duplicates_inside_and_across_statements_are_told_apart() {
        for memory in [false, true] {
            duplicates_told_apart(memory);
        }
    }

    fn duplicates_told_apart(memory: bool) {
        let (_dir, conn, mut dedup) = store(memory);
        let mut first = vec![event("g", Some("a"), "a1"), event("h", Some("a"), "ha")];
        let mut h = head(&conn);
        insert(&conn, dedup.as_mut(), &mut first, 1, &mut h);
        let mut events = vec![
            event("g", Some("b"), "b1"),
            event("g", Some("a"), "a2"), // stored before
            event("g", None, "no id"),
            event("g", Some("b"), "b2"), // same statement as b1
            event("g", Some("B"), "B"),  // a different id
            event("g", Some("c"), "c"),
            event("h", Some("b"), "hb"), // another game
        ];
        let out = insert(&conn, dedup.as_mut(), &mut events, 2, &mut h);
        assert_eq!(
            out.inserted,
            vec![true, false, true, false, true, true, true]
        );
        let rows = stored(&conn);
        let bodies: Vec<&str> = rows.iter().map(|r| r.3.as_str()).collect();
        assert_eq!(bodies, ["a1", "ha", "b1", "no id", "B", "c", "hb"]);
        for (e, inserted) in events.iter().zip(&out.inserted) {
            if *inserted {
                let row = rows.iter().find(|r| r.0 == e.seq).unwrap();
                assert_eq!(row.3, e.body, "each stored event knows its row");
            } else {
                assert_eq!(e.seq, 0);
            }
        }
        assert_eq!(h, rows.last().unwrap().0);
        // A whole statement of duplicates stores nothing and moves nothing.
        let mut again: Vec<_> = ["b", "B", "c"]
            .iter()
            .map(|id| event("g", Some(id), "again"))
            .collect();
        let before = h;
        let out = insert(&conn, dedup.as_mut(), &mut again, 3, &mut h);
        assert_eq!(out.inserted, vec![false, false, false]);
        assert_eq!(out.seqs, vec![0, 0, 0]);
        assert_eq!(h, before);
        assert_eq!(stored(&conn).len(), 7);
    }

    /// Bodies are stored without the envelope members their columns hold and read back as
    /// sent, through pages and through the hub and room filters that `json_extract` the stored
    /// body; in both modes.
    #[test]
    fn bodies_are_stored_without_their_envelope_and_read_back_as_sent() {
        for memory in [false, true] {
            let (dir, conn, mut dedup) = store(memory);
            let lines = [
                r#"{"event":"room.join","id":"r-1","game":"g","env":"prod","session":"s-1","ts":1795700000000,"attrs":{"hubId":"h1","roomId":"r9"}}"#,
                r#"{"event":"room.join","id":"r-2","game":"g","ts":"2026-11-28T07:00:00Z","attrs":{"hubId":"h2"}}"#,
                r#"{"event":"n","id":"r-3"}"#,
            ];
            let mut events: Vec<StoredEvent> = lines
                .iter()
                .map(|l| crate::envelope::tests::event(l))
                .collect();
            let mut h = head(&conn);
            insert(&conn, dedup.as_mut(), &mut events, 1, &mut h);
            let raw: Vec<String> = stored(&conn).into_iter().map(|r| r.3).collect();
            assert_eq!(
                raw,
                [
                    r#"{"attrs":{"hubId":"h1","roomId":"r9"}}"#,
                    r#"{"ts":"2026-11-28T07:00:00Z","attrs":{"hubId":"h2"}}"#,
                    "{}",
                ]
            );
            let reader = crate::query::Reader::open(&dir.path().join(crate::DB_FILE)).unwrap();
            let page = |f: crate::EventFilter| -> Vec<String> {
                let f = crate::EventFilter { limit: 10, ..f };
                reader
                    .events(&f)
                    .unwrap()
                    .into_iter()
                    .map(|e| e.body)
                    .collect()
            };
            assert_eq!(page(crate::EventFilter::default()), lines);
            let hub = crate::EventFilter {
                hub: Some("h2".into()),
                ..Default::default()
            };
            assert_eq!(page(hub), [lines[1]]);
            let room = crate::EventFilter {
                room: Some("r9".into()),
                ..Default::default()
            };
            assert_eq!(page(room), [lines[0]]);
        }
    }
}
