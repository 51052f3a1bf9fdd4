//! Browsing stored rejects (filters, grouping) and marking them replayed.
//!
//! A reject keeps only the raw line, so its game, environment and event name are read from the
//! line when it is a JSON object (`json_valid` first: `json_extract` fails on a line that is not
//! JSON, and those are exactly what a reject often holds). The event name is `event`, else the
//! structured log line's `message`.
//!
//! Marks live in `reject_replays` (one small row per replayed reject, `schema.rs`), not in the
//! reject's row: listings join them in, filters ask whether one exists.

use crate::query::Reader;
use crate::record::{RejectRecord, RejectRow};
use crate::StoreError;
use rusqlite::types::ToSql;
use rusqlite::{Connection, OptionalExtension};
use std::sync::LazyLock;

/// Which rejects a listing, a grouping or a replay takes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RejectFilter {
    /// `parse`, `schema`, `size` or `encoding`.
    pub kind: Option<String>,
    /// The event name the line carries (when it could be read).
    pub name: Option<String>,
    /// The game the line names.
    pub game: Option<String>,
    /// The environment the line names.
    pub env: Option<String>,
    /// Received at or after, epoch ms.
    pub since_ms: Option<i64>,
    /// Received before, epoch ms.
    pub until_ms: Option<i64>,
    /// Text the message contains (case-insensitive).
    pub text: Option<String>,
    /// `Some(false)`: only rejects not replayed yet; `Some(true)`: only replayed ones.
    pub replayed: Option<bool>,
}

/// A stored reject and whether it was replayed.
#[derive(Debug, Clone, PartialEq)]
pub struct RejectEntry {
    /// The reject as stored.
    pub record: RejectRecord,
    /// When it was replayed, epoch ms.
    pub replayed_ms: Option<i64>,
    /// The sequence of the (first) event it became.
    pub replayed_seq: Option<i64>,
}

/// Rejects sharing the grouped dimensions.
#[derive(Debug, Clone, PartialEq)]
pub struct RejectGroup {
    /// The values of the grouped dimensions, in the order asked (`None`: the line has none).
    pub key: Vec<Option<String>>,
    /// Rejects in the group.
    pub count: u64,
    /// First and last receive time, epoch ms.
    pub first_ms: i64,
    /// Last receive time, epoch ms.
    pub last_ms: i64,
    /// The group's oldest reject, as an example.
    pub example: RejectEntry,
}

/// A field of the raw line, NULL when the line is not JSON.
fn raw_field(path: &str) -> String {
    format!("(CASE WHEN json_valid(raw) THEN CAST(json_extract(raw, '{path}') AS TEXT) END)")
}

/// What rejects can be grouped by (`GET /v1/rejects?group_by=`).
pub const REJECT_GROUP_DIMS: &[&str] = &["kind", "message", "name", "game", "env"];

/// The SQL of a grouping dimension (one of [`REJECT_GROUP_DIMS`]).
fn group_expr(dim: &str) -> Option<String> {
    Some(match dim {
        "kind" => "kind".to_string(),
        "message" => "message".to_string(),
        "name" => format!(
            "coalesce({}, {})",
            raw_field("$.event"),
            raw_field("$.message")
        ),
        "game" => raw_field("$.game"),
        "env" => raw_field("$.env"),
        _ => return None,
    })
}

/// A reject with its mark, if any (the mark table's columns are named apart from the rejects',
/// so the filters' bare names stay unambiguous).
const FROM: &str = "rejects LEFT JOIN reject_replays ON reject_seq = seq";
const COLUMNS: &str = "seq, recv_ms, line, kind, message, raw, at_ms, event_seq";
/// [`COLUMNS`] without `kind` and `message`, which a replay does not use, nor the mark (a replay
/// takes only rejects not marked).
const REPLAY_COLUMNS: &str = "seq, recv_ms, line, '', '', raw, NULL, NULL";
/// Whether a reject (of the table `rejects`) has a mark.
const MARKED: &str = "EXISTS (SELECT 1 FROM reject_replays WHERE reject_seq = rejects.seq)";

fn entry(r: &rusqlite::Row<'_>) -> rusqlite::Result<RejectEntry> {
    Ok(RejectEntry {
        record: RejectRecord {
            seq: r.get(0)?,
            recv_ms: r.get(1)?,
            row: RejectRow {
                line: r.get(2)?,
                kind: r.get(3)?,
                message: r.get(4)?,
                raw: r.get(5)?,
            },
        },
        replayed_ms: r.get(6)?,
        replayed_seq: r.get(7)?,
    })
}

/// `WHERE …` of `filter` (always starting `WHERE 1`) and its bound values.
fn where_clause(filter: &RejectFilter) -> (String, Vec<Box<dyn ToSql>>) {
    let mut sql = String::from(" WHERE 1");
    let mut binds: Vec<Box<dyn ToSql>> = Vec::new();
    let mut eq = |sql: &mut String, expr: String, value: &Option<String>| {
        if let Some(v) = value {
            sql.push_str(&format!(" AND {expr} = ?"));
            binds.push(Box::new(v.clone()));
        }
    };
    eq(&mut sql, "kind".into(), &filter.kind);
    eq(
        &mut sql,
        group_expr("name").unwrap_or_default(),
        &filter.name,
    );
    eq(&mut sql, raw_field("$.game"), &filter.game);
    eq(&mut sql, raw_field("$.env"), &filter.env);
    if let Some(since) = filter.since_ms {
        sql.push_str(" AND recv_ms >= ?");
        binds.push(Box::new(since));
    }
    if let Some(until) = filter.until_ms {
        sql.push_str(" AND recv_ms < ?");
        binds.push(Box::new(until));
    }
    if let Some(text) = &filter.text {
        sql.push_str(" AND instr(lower(message), lower(?)) > 0");
        binds.push(Box::new(text.clone()));
    }
    match filter.replayed {
        Some(true) => sql.push_str(&format!(" AND {MARKED}")),
        Some(false) => sql.push_str(&format!(" AND NOT {MARKED}")),
        None => {}
    }
    (sql, binds)
}

impl Reader {
    /// Rejects matching `filter` with a sequence above `after`, oldest first.
    pub fn rejects_matching(
        &self,
        filter: &RejectFilter,
        after: i64,
        limit: usize,
    ) -> Result<Vec<RejectEntry>, StoreError> {
        self.rejects_page(COLUMNS, FROM, filter, after, limit)
    }

    /// [`Reader::rejects_matching`] for a replay, which reads only each reject's sequence,
    /// receive time, line and raw text: `kind` and `message` come back empty (copying them out
    /// of every row was a sixth of a replay's page reads).
    pub fn rejects_to_replay(
        &self,
        filter: &RejectFilter,
        after: i64,
        limit: usize,
    ) -> Result<Vec<RejectEntry>, StoreError> {
        self.rejects_page(REPLAY_COLUMNS, "rejects", filter, after, limit)
    }

    /// One page of `columns` (in [`entry`]'s order) of the rejects matching `filter`, read
    /// `from` the rejects alone or with their marks.
    fn rejects_page(
        &self,
        columns: &str,
        from: &str,
        filter: &RejectFilter,
        after: i64,
        limit: usize,
    ) -> Result<Vec<RejectEntry>, StoreError> {
        let (mut sql, mut binds) = where_clause(filter);
        sql = format!("SELECT {columns} FROM {from}{sql} AND seq > ? ORDER BY seq LIMIT ?");
        binds.push(Box::new(after));
        binds.push(Box::new(limit as i64));
        self.with(|conn| {
            let mut stmt = conn.prepare_cached(&sql)?;
            let rows = stmt.query_map(rusqlite::params_from_iter(binds.iter()), entry)?;
            rows.collect()
        })
    }

    /// The reject with this sequence number.
    pub fn reject(&self, seq: i64) -> Result<Option<RejectEntry>, StoreError> {
        self.with(|conn| {
            conn.query_row(
                &format!("SELECT {COLUMNS} FROM {FROM} WHERE seq = ?1"),
                [seq],
                entry,
            )
            .optional()
        })
    }

    /// Rejects matching `filter` counted by `dims` (see [`group_expr`]; unknown names are the
    /// caller's to refuse), largest group first, each with its oldest reject as an example.
    pub fn reject_groups(
        &self,
        filter: &RejectFilter,
        dims: &[&str],
    ) -> Result<Vec<RejectGroup>, StoreError> {
        let exprs: Vec<String> = dims.iter().filter_map(|d| group_expr(d)).collect();
        let keys: Vec<String> = exprs
            .iter()
            .enumerate()
            .map(|(i, e)| format!("{e} AS k{i}"))
            .collect();
        let group: Vec<String> = (0..exprs.len()).map(|i| format!("k{i}")).collect();
        let (where_sql, binds) = where_clause(filter);
        let select_keys = if keys.is_empty() {
            String::new()
        } else {
            format!(", {}", keys.join(", "))
        };
        let group_sql = if group.is_empty() {
            String::new()
        } else {
            format!(" GROUP BY {}", group.join(", "))
        };
        let sql = format!(
            "SELECT count(*), min(recv_ms), max(recv_ms), min(seq){select_keys} FROM rejects\
             {where_sql}{group_sql} ORDER BY count(*) DESC, min(seq)"
        );
        let n = exprs.len();
        self.with(|conn| {
            let mut stmt = conn.prepare(&sql)?;
            let rows = stmt.query_map(rusqlite::params_from_iter(binds.iter()), |r| {
                let key = (0..n)
                    .map(|i| r.get::<_, Option<String>>(4 + i))
                    .collect::<rusqlite::Result<Vec<_>>>()?;
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, Option<i64>>(1)?,
                    r.get::<_, Option<i64>>(2)?,
                    r.get::<_, Option<i64>>(3)?,
                    key,
                ))
            })?;
            let mut groups = Vec::new();
            for row in rows {
                let (count, first, last, example_seq, key) = row?;
                let Some(example_seq) = example_seq.filter(|_| count > 0) else {
                    continue;
                };
                let example = conn.query_row(
                    &format!("SELECT {COLUMNS} FROM {FROM} WHERE seq = ?1"),
                    [example_seq],
                    entry,
                )?;
                groups.push(RejectGroup {
                    key,
                    count: count as u64,
                    first_ms: first.unwrap_or_default(),
                    last_ms: last.unwrap_or_default(),
                    example,
                });
            }
            Ok(groups)
        })
    }
}

/// Rows per statement of [`mark_replayed_many`], as the event inserts do (`insert.rs`): only
/// these four statements are ever prepared.
const MARK_ROWS: [usize; 4] = [64, 16, 4, 1];

/// Appends the marks of rejects that have none yet (a reject already marked keeps its first
/// mark). Whether the reject still exists is not checked: that seek into `rejects` read its
/// pages back from disk into the writer's cache and was half of marking; a reject deleted
/// between a replay's read and its commit leaves a mark no listing shows (sequence numbers are
/// never reused), and one deleted later takes its mark along (the trigger, `schema.rs`).
fn mark_statement(rows: usize) -> String {
    let values: Vec<String> = (0..rows)
        .map(|i| format!("(?{}, ?{}, ?1)", 2 + 2 * i, 3 + 2 * i))
        .collect();
    format!(
        "INSERT OR IGNORE INTO reject_replays (reject_seq, event_seq, at_ms) VALUES {}",
        values.join(", ")
    )
}

/// [`mark_statement`] for each of [`MARK_ROWS`], built once (formatting one per statement was a
/// sixth of marking).
static MARK_STATEMENTS: LazyLock<[String; 4]> = LazyLock::new(|| MARK_ROWS.map(mark_statement));

/// Marks many rejects replayed at once, `(reject, event)` pairs: one statement per up to 64 (a
/// replay marks a page of rejects per commit; one statement each cost the writer ~8% of a
/// replay's time).
pub(crate) fn mark_replayed_many(
    conn: &Connection,
    marks: &[(i64, Option<i64>)],
    now_ms: i64,
) -> rusqlite::Result<()> {
    let mut rest = marks;
    while !rest.is_empty() {
        // The largest statement that fits (the last, one row, always does).
        let i = MARK_ROWS
            .iter()
            .position(|&n| n <= rest.len())
            .unwrap_or(MARK_ROWS.len() - 1);
        let rows = MARK_ROWS[i];
        let (chunk, tail) = rest.split_at(rows);
        let mut binds: Vec<&dyn ToSql> = Vec::with_capacity(1 + 2 * rows);
        binds.push(&now_ms);
        for (reject, event) in chunk {
            binds.push(reject);
            binds.push(event);
        }
        conn.prepare_cached(&MARK_STATEMENTS[i])?
            .execute(binds.as_slice())?;
        rest = tail;
    }
    Ok(())
}

/// The sequence of the stored event `(game, id)`, by the unique index (a replayed line whose
/// event was already stored, e.g. by an earlier replay or a client's retry).
pub(crate) fn event_seq(conn: &Connection, game: &str, id: &str) -> rusqlite::Result<Option<i64>> {
    conn.prepare_cached("SELECT seq FROM events WHERE game = ?1 AND id = ?2")?
        .query_row(rusqlite::params![game, id], |r| r.get(0))
        .optional()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reader_with(raws: &[(&str, &str, &str)]) -> (tempfile::TempDir, Reader) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(crate::DB_FILE);
        let conn = crate::open(&path).unwrap();
        for (i, (kind, message, raw)) in raws.iter().enumerate() {
            conn.execute(
                "INSERT INTO rejects (recv_ms, line, kind, message, raw) VALUES (?1, 1, ?2, ?3, ?4)",
                rusqlite::params![1000 + i as i64, kind, message, raw],
            )
            .unwrap();
        }
        drop(conn);
        let reader = Reader::open(&path).unwrap();
        (dir, reader)
    }

    #[test]
    fn a_replay_page_is_the_listing_page_without_kind_and_message() {
        let (_dir, reader) = reader_with(&[
            ("schema", "m1", r#"{"msg":"a","game":"g"}"#),
            ("parse", "m2", "{not json"),
            ("schema", "m3", r#"{"msg":"b","game":"h"}"#),
            ("schema", "m4", r#"{"msg":"c","game":"g"}"#),
        ]);
        let filter = RejectFilter {
            kind: Some("schema".into()),
            replayed: Some(false),
            ..RejectFilter::default()
        };
        let lean = |e: &RejectEntry| {
            let r = &e.record;
            (r.seq, r.recv_ms, r.row.line, r.row.raw.clone())
        };
        let listed = reader.rejects_matching(&filter, 1, 2).unwrap();
        let page = reader.rejects_to_replay(&filter, 1, 2).unwrap();
        assert_eq!(listed.len(), 2);
        assert_eq!(
            page.iter().map(lean).collect::<Vec<_>>(),
            listed.iter().map(lean).collect::<Vec<_>>()
        );
        assert!(page
            .iter()
            .all(|e| e.record.row.kind.is_empty() && e.replayed_ms.is_none()));
    }

    #[test]
    fn filters_read_the_line_when_it_is_json_and_skip_it_otherwise() {
        let (_dir, reader) = reader_with(&[
            ("schema", "missing `event`", r#"{"evt":"a","game":"g1"}"#),
            ("parse", "invalid JSON", "{not json"),
            (
                "schema",
                "bad attrs",
                r#"{"event":"x","game":"g2","env":"prod"}"#,
            ),
        ]);
        let all = reader
            .rejects_matching(&RejectFilter::default(), 0, 10)
            .unwrap();
        assert_eq!(all.len(), 3);
        let by = |f: RejectFilter| -> Vec<i64> {
            reader
                .rejects_matching(&f, 0, 10)
                .unwrap()
                .iter()
                .map(|e| e.record.seq)
                .collect()
        };
        let game = |g: &str| RejectFilter {
            game: Some(g.into()),
            ..RejectFilter::default()
        };
        assert_eq!(by(game("g1")), [1]);
        assert_eq!(
            by(RejectFilter {
                name: Some("x".into()),
                env: Some("prod".into()),
                ..RejectFilter::default()
            }),
            [3]
        );
        assert_eq!(
            by(RejectFilter {
                text: Some("JSON".into()),
                ..RejectFilter::default()
            }),
            [2]
        );
        assert_eq!(
            by(RejectFilter {
                since_ms: Some(1001),
                kind: Some("schema".into()),
                ..RejectFilter::default()
            }),
            [3]
        );
        let groups = reader
            .reject_groups(&RejectFilter::default(), &["kind"])
            .unwrap();
        assert_eq!(groups.len(), 2);
        assert_eq!(groups[0].key, [Some("schema".to_string())]);
        assert_eq!((groups[0].count, groups[0].example.record.seq), (2, 1));
    }

    #[test]
    fn many_rejects_are_marked_at_once_and_a_marked_one_keeps_its_mark() {
        let raws: Vec<(&str, &str, &str)> = (0..70).map(|_| ("schema", "m", "{}")).collect();
        let (dir, reader) = reader_with(&raws);
        let conn = crate::open(&dir.path().join(crate::DB_FILE)).unwrap();
        mark_replayed_many(&conn, &[(5, Some(500))], 1).unwrap();
        // 70 rows: statements of 64, 4, 1 and 1; reject 5 again, with another event.
        let marks: Vec<(i64, Option<i64>)> = (1..=70)
            .map(|seq| (seq, (seq != 9).then_some(seq * 100)))
            .collect();
        mark_replayed_many(&conn, &marks, 2).unwrap();
        let all = reader
            .rejects_matching(&RejectFilter::default(), 0, 100)
            .unwrap();
        assert_eq!(all.len(), 70);
        for e in &all {
            let seq = e.record.seq;
            let expected = match seq {
                5 => (Some(1), Some(500)),
                9 => (Some(2), None),
                _ => (Some(2), Some(seq * 100)),
            };
            assert_eq!((e.replayed_ms, e.replayed_seq), expected, "reject {seq}");
        }
    }

    #[test]
    fn an_older_stores_marks_move_to_the_mark_table_and_leave_with_their_reject() {
        let (dir, reader) = reader_with(&[("schema", "m", "{}"); 3]);
        drop(reader);
        let path = dir.path().join(crate::DB_FILE);
        let mut conn = crate::schema::connect(&path).unwrap();
        // The store as the release before the mark table left it: marks in the reject rows.
        conn.execute_batch(&format!(
            "DROP TRIGGER rejects_forget_replay; DROP TABLE reject_replays;
             ALTER TABLE events DROP COLUMN envelope;
             UPDATE rejects SET replayed_ms = 7, replayed_seq = 70 WHERE seq = 2;
             PRAGMA user_version = {};",
            // The mark table came five migrations before the last (the notify journal's, the
            // id-first duplicate index, the key log, then the envelope column).
            crate::SCHEMA_VERSION - 5
        ))
        .unwrap();
        crate::schema::migrate(&mut conn, &path).unwrap();
        let reader = Reader::open(&path).unwrap();
        let marks = |f: RejectFilter| -> Vec<(i64, Option<i64>, Option<i64>)> {
            reader
                .rejects_matching(&f, 0, 10)
                .unwrap()
                .iter()
                .map(|e| (e.record.seq, e.replayed_ms, e.replayed_seq))
                .collect()
        };
        assert_eq!(
            marks(RejectFilter::default()),
            [(1, None, None), (2, Some(7), Some(70)), (3, None, None)]
        );
        let left = RejectFilter {
            replayed: Some(false),
            ..RejectFilter::default()
        };
        assert_eq!(marks(left.clone()), [(1, None, None), (3, None, None)]);
        assert_eq!(reader.reject(2).unwrap().unwrap().replayed_seq, Some(70));
        // A reject deleted (retention, an erasure) takes its mark along.
        conn.execute("DELETE FROM rejects WHERE seq = 2", [])
            .unwrap();
        mark_replayed_many(&conn, &[(3, Some(90))], 8).unwrap();
        let held: Vec<(i64, Option<i64>)> = conn
            .prepare("SELECT reject_seq, event_seq FROM reject_replays ORDER BY reject_seq")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        assert_eq!(held, [(3, Some(90))]);
        assert_eq!(marks(left), [(1, None, None)]);
    }
}
