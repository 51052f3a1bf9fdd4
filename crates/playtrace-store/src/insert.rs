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
use crate::record::{Kind, StoredEvent};
use rusqlite::{params, CachedStatement, Connection};
use std::sync::OnceLock;

/// Rows per statement at most; a run is cut into statements of these sizes (largest first), so
/// only four statements are ever prepared.
const ROWS: [usize; 4] = [64, 16, 4, 1];

/// Columns bound per row (`recv_ms` is bound once per statement, as `?1`).
const COLUMNS: usize = 7;

/// Per event of a job: whether it was stored, and its sequence number (0 for a duplicate).
pub(crate) struct Inserted {
    pub(crate) inserted: Vec<bool>,
    pub(crate) seqs: Vec<i64>,
}

/// Inserts `events` (stamping `seq`, `recv_ms` and `kind` on each) that are not duplicates of
/// a stored event or of an earlier one of `events`: by the unique index, or (`dedup`) by the
/// writer's key table, which learns their keys; `checks`: theirs, if the submitter prepared
/// them ([`crate::dedup::prepare`]). `head` is at least the largest sequence number of any
/// event already stored, and is advanced past what this stores.
pub(crate) fn insert_events(
    conn: &Connection,
    dedup: Option<&mut Dedup>,
    events: &mut [StoredEvent],
    checks: Option<&[Check]>,
    recv_ms: i64,
    head: &mut i64,
) -> rusqlite::Result<Inserted> {
    let out = match dedup {
        Some(dedup) => insert_checked(conn, dedup, events, checks, recv_ms, head)?,
        None => insert_indexed(conn, events, recv_ms, head)?,
    };
    for (e, &seq) in events.iter_mut().zip(&out.seqs) {
        e.seq = seq;
        e.recv_ms = recv_ms;
        e.kind = Kind::Event;
    }
    Ok(out)
}

/// `[store] dedup = "memory"`: the key table decides; every row inserted is stored.
fn insert_checked(
    conn: &Connection,
    dedup: &mut Dedup,
    events: &[StoredEvent],
    checks: Option<&[Check]>,
    recv_ms: i64,
    head: &mut i64,
) -> rusqlite::Result<Inserted> {
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
        let stored = insert_rows(conn, &events[start..start + rows], recv_ms)?;
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
    events: &[StoredEvent],
    recv_ms: i64,
    head: &mut i64,
) -> rusqlite::Result<Inserted> {
    let mut out = Inserted {
        inserted: Vec::with_capacity(events.len()),
        seqs: Vec::with_capacity(events.len()),
    };
    let mut start = 0;
    while start < events.len() {
        if events[start].id.is_none() {
            let e = &events[start];
            conn.prepare_cached(statement(1))?.execute(params![
                recv_ms,
                e.game.as_str(),
                e.id.as_deref(),
                e.name.as_str(),
                e.env.as_deref(),
                e.session.as_deref(),
                e.ts_ms,
                e.body
            ])?;
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
        let stored = insert_rows(conn, chunk, recv_ms)?;
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
        "INSERT OR IGNORE INTO events (recv_ms, game, id, name, env, session, ts_ms, body) VALUES ",
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

/// Runs the statement for `chunk`; returns how many rows it stored.
fn insert_rows(conn: &Connection, chunk: &[StoredEvent], recv_ms: i64) -> rusqlite::Result<usize> {
    let mut stmt: CachedStatement<'_> = conn.prepare_cached(statement(chunk.len()))?;
    stmt.raw_bind_parameter(1, recv_ms)?;
    for (row, e) in chunk.iter().enumerate() {
        let at = 2 + row * COLUMNS;
        stmt.raw_bind_parameter(at, e.game.as_str())?;
        stmt.raw_bind_parameter(at + 1, e.id.as_deref())?;
        stmt.raw_bind_parameter(at + 2, e.name.as_str())?;
        stmt.raw_bind_parameter(at + 3, e.env.as_deref())?;
        stmt.raw_bind_parameter(at + 4, e.session.as_deref())?;
        stmt.raw_bind_parameter(at + 5, e.ts_ms)?;
        stmt.raw_bind_parameter(at + 6, &e.body)?;
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
            let out = insert_events(&conn, dedup.as_mut(), &mut events, None, 5, &mut h).unwrap();
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
        insert_events(&conn, dedup.as_mut(), &mut first, None, 1, &mut h).unwrap();
        let mut events = vec![
            event("g", Some("b"), "b1"),
            event("g", Some("a"), "a2"), // stored before
            event("g", None, "no id"),
            event("g", Some("b"), "b2"), // same statement as b1
            event("g", Some("B"), "B"),  // a different id
            event("g", Some("c"), "c"),
            event("h", Some("b"), "hb"), // another game
        ];
        let out = insert_events(&conn, dedup.as_mut(), &mut events, None, 2, &mut h).unwrap();
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
        let out = insert_events(&conn, dedup.as_mut(), &mut again, None, 3, &mut h).unwrap();
        assert_eq!(out.inserted, vec![false, false, false]);
        assert_eq!(out.seqs, vec![0, 0, 0]);
        assert_eq!(h, before);
        assert_eq!(stored(&conn).len(), 7);
    }
}
