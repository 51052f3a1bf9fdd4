//! The budget history's rows: per series (a metric of a scope and group, keyed by its text) and
//! minute, the counts per distinct duration as one blob (core's `rollup` format), and the same
//! per hour, so a week reads 168 rows per series instead of 10,080. Changes arrive from the live
//! windows' journal and are added in the writer's transaction together with the sequence number
//! they cover (`rollup_mark`), so a restart knows which events the rows already count.
//! Retention removes rows with the events of their age.

use crate::query::Reader;
use crate::writer::Tx;
use crate::StoreError;
use playtrace_core::rollup::{add, decode, encode, HOUR_MS, MINUTE_MS};
use rusqlite::{params, Connection, OptionalExtension};

/// Count changes of one series (its metric index and key text), per minute.
#[derive(Debug, Clone, PartialEq)]
pub struct RollupChange {
    /// The metric's index.
    pub metric: u8,
    /// The series' scope and group as text (the server's JSON object).
    pub key: String,
    /// `(minute start, [(order key, change)])`, order keys ascending.
    pub minutes: Vec<(i64, Vec<(u64, i64)>)>,
}

/// Which events the rows count: every event up to this sequence number (received at `recv_ms`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RollupMark {
    /// Highest sequence number counted.
    pub seq: i64,
    /// Its receive time, epoch ms.
    pub recv_ms: i64,
}

/// One stored series.
#[derive(Debug, Clone, PartialEq)]
pub struct RollupSeries {
    /// Row id (what [`RollupRow::series`] names).
    pub id: i64,
    /// The metric's index.
    pub metric: u8,
    /// The key text as written.
    pub key: String,
}

/// One row: a series' counts over one minute or hour.
#[derive(Debug, Clone, PartialEq)]
pub struct RollupRow {
    /// Start of the minute or hour, epoch ms.
    pub at_ms: i64,
    /// [`RollupSeries::id`].
    pub series: i64,
    /// Counts in core's `rollup` format.
    pub counts: Vec<u8>,
}

impl Tx<'_> {
    /// Adds count changes to the minute and hour rows, and records that the rows now count every
    /// event up to `mark`.
    pub fn add_rollups(
        &self,
        changes: &[RollupChange],
        mark: Option<RollupMark>,
    ) -> Result<(), StoreError> {
        let conn = self.conn();
        for change in changes {
            let series = series_id(conn, change.metric, &change.key)?;
            for (minute, deltas) in &change.minutes {
                bump(conn, "rollup_minutes", *minute, series, deltas)?;
                let hour = minute.div_euclid(HOUR_MS) * HOUR_MS;
                bump(conn, "rollup_hours", hour, series, deltas)?;
            }
        }
        if let Some(m) = mark {
            conn.prepare_cached(
                "INSERT INTO rollup_mark (id, seq, recv_ms) VALUES (1, ?1, ?2)
                 ON CONFLICT (id) DO UPDATE SET seq = max(seq, excluded.seq),
                     recv_ms = max(recv_ms, excluded.recv_ms)",
            )?
            .execute(params![m.seq, m.recv_ms])?;
        }
        Ok(())
    }
}

fn series_id(conn: &Connection, metric: u8, key: &str) -> Result<i64, StoreError> {
    let found: Option<i64> = conn
        .prepare_cached("SELECT id FROM rollup_series WHERE metric = ?1 AND key = ?2")?
        .query_row(params![metric, key], |r| r.get(0))
        .optional()?;
    if let Some(id) = found {
        return Ok(id);
    }
    conn.prepare_cached("INSERT INTO rollup_series (metric, key) VALUES (?1, ?2)")?
        .execute(params![metric, key])?;
    Ok(conn.last_insert_rowid())
}

/// Adds `deltas` to one row (created when missing, removed when it counts nothing any more).
fn bump(
    conn: &Connection,
    table: &str,
    at_ms: i64,
    series: i64,
    deltas: &[(u64, i64)],
) -> Result<(), StoreError> {
    let blob: Option<Vec<u8>> = conn
        .prepare_cached(&format!(
            "SELECT counts FROM {table} WHERE at_ms = ?1 AND series = ?2"
        ))?
        .query_row(params![at_ms, series], |r| r.get(0))
        .optional()?;
    // A damaged row is started over rather than failing every later commit.
    let counts = blob.as_deref().and_then(decode).unwrap_or_default();
    let sum = add(&counts, deltas);
    if sum.is_empty() {
        conn.prepare_cached(&format!(
            "DELETE FROM {table} WHERE at_ms = ?1 AND series = ?2"
        ))?
        .execute(params![at_ms, series])?;
    } else {
        conn.prepare_cached(&format!(
            "INSERT OR REPLACE INTO {table} (at_ms, series, counts) VALUES (?1, ?2, ?3)"
        ))?
        .execute(params![at_ms, series, encode(&sum)])?;
    }
    Ok(())
}

impl Reader {
    /// Which events the rows count (`None`: no history written yet).
    pub fn rollup_mark(&self) -> Result<Option<RollupMark>, StoreError> {
        self.with(|conn| {
            conn.query_row(
                "SELECT seq, recv_ms FROM rollup_mark WHERE id = 1",
                [],
                |r| {
                    Ok(RollupMark {
                        seq: r.get(0)?,
                        recv_ms: r.get(1)?,
                    })
                },
            )
            .optional()
        })
    }

    /// Every stored series.
    pub fn rollup_series(&self) -> Result<Vec<RollupSeries>, StoreError> {
        self.with(|conn| {
            let mut stmt = conn.prepare_cached("SELECT id, metric, key FROM rollup_series")?;
            let rows = stmt.query_map([], |r| {
                Ok(RollupSeries {
                    id: r.get(0)?,
                    metric: r.get(1)?,
                    key: r.get(2)?,
                })
            })?;
            rows.collect()
        })
    }

    /// The rows starting in `[from_ms, to_ms)` for which `keep(at_ms, series)` holds: hour rows
    /// when `hours`, else minute rows. A row not kept is passed over before its counts are
    /// copied out (an ungrouped history skips every group's row this way).
    pub fn rollup_rows(
        &self,
        from_ms: i64,
        to_ms: i64,
        hours: bool,
        keep: impl Fn(i64, i64) -> bool,
    ) -> Result<Vec<RollupRow>, StoreError> {
        self.with(|conn| {
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT at_ms, series, counts FROM {} WHERE at_ms >= ?1 AND at_ms < ?2",
                table(hours)
            ))?;
            let mut rows = stmt.query(params![from_ms, to_ms])?;
            let mut out = Vec::new();
            while let Some(r) = rows.next()? {
                let (at_ms, series) = (r.get(0)?, r.get(1)?);
                if keep(at_ms, series) {
                    out.push(RollupRow {
                        at_ms,
                        series,
                        counts: r.get(2)?,
                    });
                }
            }
            Ok(out)
        })
    }

    /// The rows of `series` starting in `[from_ms, to_ms)` (hour rows when `hours`), each
    /// looked up by its key: for a few series out of many (an ungrouped history reads its
    /// scopes' all-groups rows only), this reads a page per row instead of every row of the
    /// range. `from_ms` is the start of a minute (or hour).
    pub fn rollup_rows_of(
        &self,
        from_ms: i64,
        to_ms: i64,
        hours: bool,
        series: &[i64],
    ) -> Result<Vec<RollupRow>, StoreError> {
        let unit = if hours { HOUR_MS } else { MINUTE_MS };
        self.with(|conn| {
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT counts FROM {} WHERE at_ms = ?1 AND series = ?2",
                table(hours)
            ))?;
            let mut out = Vec::new();
            let mut at_ms = from_ms.div_euclid(unit) * unit;
            while at_ms < to_ms {
                for &id in series {
                    let counts: Option<Vec<u8>> = stmt
                        .query_row(params![at_ms, id], |r| r.get(0))
                        .optional()?;
                    if let Some(counts) = counts {
                        out.push(RollupRow {
                            at_ms,
                            series: id,
                            counts,
                        });
                    }
                }
                at_ms += unit;
            }
            Ok(out)
        })
    }

    /// The start of the first row of any series in `series` (hour rows when `hours`), if any:
    /// where a kind of series began to be written.
    pub fn rollup_first(
        &self,
        hours: bool,
        series: &std::collections::HashSet<i64>,
    ) -> Result<Option<i64>, StoreError> {
        if series.is_empty() {
            return Ok(None);
        }
        self.with(|conn| {
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT at_ms, series FROM {} ORDER BY at_ms",
                table(hours)
            ))?;
            let mut rows = stmt.query([])?;
            while let Some(r) = rows.next()? {
                if series.contains(&r.get::<_, i64>(1)?) {
                    return Ok(Some(r.get(0)?));
                }
            }
            Ok(None)
        })
    }
}

fn table(hours: bool) -> &'static str {
    if hours {
        "rollup_hours"
    } else {
        "rollup_minutes"
    }
}

/// Removes the rows of minutes before `cutoff_ms` (and of hours that ended before it); returns
/// how many went. Series are kept: they are few.
pub(crate) fn delete_older(conn: &Connection, cutoff_ms: i64) -> Result<u64, StoreError> {
    let minutes = conn.execute(
        "DELETE FROM rollup_minutes WHERE at_ms < ?1",
        params![cutoff_ms.div_euclid(MINUTE_MS) * MINUTE_MS],
    )?;
    let hours = conn.execute(
        "DELETE FROM rollup_hours WHERE at_ms + ?2 <= ?1",
        params![cutoff_ms, HOUR_MS],
    )?;
    Ok((minutes + hours) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use playtrace_core::quantile::order_key;

    fn counts(conn: &Connection, table: &str, at: i64) -> Vec<(u64, u64)> {
        let blob: Vec<u8> = conn
            .query_row(
                &format!("SELECT counts FROM {table} WHERE at_ms = ?1"),
                [at],
                |r| r.get(0),
            )
            .unwrap();
        decode(&blob).unwrap()
    }

    /// Changes add up in the minute and its hour, a row counting nothing goes, the mark only
    /// moves forward, and retention removes what is older than the events it keeps.
    #[test]
    fn changes_add_up_and_retention_removes_old_rows() {
        let dir = tempfile::tempdir().unwrap();
        let conn = crate::schema::open(&dir.path().join("db")).unwrap();
        let tx = Tx {
            conn: &conn,
            recv_ms: 0,
            dedup: None,
        };
        let (k1, k2) = (order_key(100.0), order_key(250.5));
        let hour = 10 * HOUR_MS;
        let change = |minutes: Vec<(i64, Vec<(u64, i64)>)>| RollupChange {
            metric: 1,
            key: r#"{"room":"r"}"#.into(),
            minutes,
        };
        tx.add_rollups(
            &[change(vec![
                (hour, vec![(k1, 2), (k2, 1)]),
                (hour + MINUTE_MS, vec![(k1, 1)]),
            ])],
            Some(RollupMark {
                seq: 9,
                recv_ms: hour,
            }),
        )
        .unwrap();
        // A later event moved one sample of the first minute from 100 to 250.5.
        tx.add_rollups(
            &[change(vec![(hour, vec![(k1, -1), (k2, 1)])])],
            Some(RollupMark { seq: 5, recv_ms: 0 }),
        )
        .unwrap();
        assert_eq!(
            counts(&conn, "rollup_minutes", hour),
            vec![(k1, 1), (k2, 2)]
        );
        assert_eq!(counts(&conn, "rollup_hours", hour), vec![(k1, 2), (k2, 2)]);
        let (seq, series): (i64, i64) = conn
            .query_row(
                "SELECT (SELECT seq FROM rollup_mark), (SELECT count(*) FROM rollup_series)",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert_eq!(
            (seq, series),
            (9, 1),
            "the mark never goes back; one series"
        );
        tx.add_rollups(&[change(vec![(hour + MINUTE_MS, vec![(k1, -1)])])], None)
            .unwrap();
        let rows: i64 = conn
            .query_row("SELECT count(*) FROM rollup_minutes", [], |r| r.get(0))
            .unwrap();
        assert_eq!(rows, 1, "a minute counting nothing is removed");

        // Retention at 10:30 keeps the 10:00 hour (it ends after) but not its 10:00 minute.
        assert_eq!(delete_older(&conn, hour + 30 * MINUTE_MS).unwrap(), 1);
        assert_eq!(counts(&conn, "rollup_hours", hour).len(), 2);
        assert_eq!(delete_older(&conn, hour + HOUR_MS).unwrap(), 1);
        let left: i64 = conn
            .query_row(
                "SELECT (SELECT count(*) FROM rollup_minutes) + (SELECT count(*) FROM rollup_hours)",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(left, 0);
    }

    /// A reader finds where a kind of series began and passes over the rows it is not asked
    /// for (an ungrouped history reads its groups' rows only from before the first sum).
    #[test]
    fn rows_not_asked_for_are_passed_over_and_the_first_row_of_a_kind_is_found() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        let conn = crate::schema::open(&path).unwrap();
        let tx = Tx {
            conn: &conn,
            recv_ms: 0,
            dedup: None,
        };
        let k = order_key(100.0);
        let change = |key: &str, hours: &[i64]| RollupChange {
            metric: 0,
            key: key.into(),
            minutes: hours.iter().map(|&h| (h * HOUR_MS, vec![(k, 1)])).collect(),
        };
        tx.add_rollups(&[change(r#"{"room":"r"}"#, &[1, 2, 3])], None)
            .unwrap();
        tx.add_rollups(&[change(r#"{"*":"all"}"#, &[2, 3])], None)
            .unwrap();
        let reader = crate::query::Reader::open(&path).unwrap();
        let ids: std::collections::HashMap<String, i64> = reader
            .rollup_series()
            .unwrap()
            .into_iter()
            .map(|s| (s.key, s.id))
            .collect();
        let (room, all) = (ids[r#"{"room":"r"}"#], ids[r#"{"*":"all"}"#]);
        let sums = std::collections::HashSet::from([all]);
        let first = reader.rollup_first(true, &sums).unwrap();
        assert_eq!(first, Some(2 * HOUR_MS));
        assert_eq!(
            reader.rollup_first(true, &Default::default()).unwrap(),
            None
        );
        let rows = reader
            .rollup_rows(0, 10 * HOUR_MS, true, |at, id| {
                id == all || (id == room && first.is_none_or(|f| at < f))
            })
            .unwrap();
        let got: Vec<(i64, i64)> = rows.iter().map(|r| (r.at_ms / HOUR_MS, r.series)).collect();
        assert_eq!(got, vec![(1, room), (2, all), (3, all)]);
        assert_eq!(decode(&rows[1].counts).unwrap(), vec![(k, 1)]);
        // Looked up by key: the same rows of the series asked for, hour by hour.
        let of = reader
            .rollup_rows_of(HOUR_MS, 10 * HOUR_MS, true, &[all])
            .unwrap();
        assert_eq!(of, rows[1..].to_vec());
        let of = reader
            .rollup_rows_of(0, 2 * HOUR_MS, true, &[room, all])
            .unwrap();
        let got: Vec<(i64, i64)> = of.iter().map(|r| (r.at_ms / HOUR_MS, r.series)).collect();
        assert_eq!(got, vec![(1, room)]);
    }
}
