//! An erasure's share of the outbox (docs/PRIVACY.md): the notification tables keep copies of
//! alert JSON — journaled changes (`notify_journal.alert`), each group's members
//! (`notify_members.alert`), group labels (`notify_groups.labels`), the notifications built from
//! them (`notify_outbox.body`, `last_error`) — and a route's `group_by` puts label values (a
//! session id) into the group key. Inside the erasure's transaction each copy naming the subject
//! is scrubbed as the alerts are (`[erased]` in place of the value, JSON-aware), so nothing of
//! the subject stays in these tables.
//!
//! A group key is part of the primary keys of `notify_groups` and `notify_members`: a key naming
//! the subject becomes its scrubbed form plus a suffix unique to this erasure, the same new key
//! in every table, so two groups that differed only by the erased value stay apart and members
//! stay with their group.
//!
//! The notifier holds some of these rows in memory between two of its reads; a flush whose reads
//! predate an erasure would write them back unscrubbed, so it checks [`erasures_seen`] in its
//! transaction and starts over from the tables when an erasure committed since (`flush.rs`).

use crate::scrub::scrub;
use rusqlite::{params, Connection};
use std::collections::{BTreeMap, HashMap};

/// How many outbox rows an erasure scrubbed (logged; the erasure log keeps its own counts).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Scrubbed {
    /// Journaled alert changes.
    pub(crate) journal: usize,
    /// Groups (labels or key).
    pub(crate) groups: usize,
    /// Members (alert copy or group key).
    pub(crate) members: usize,
    /// Notifications (body, last error or group key).
    pub(crate) notifications: usize,
}

/// The id of the last erasure committed (0: none). A flush compares the value its reads saw
/// with the one its transaction sees.
pub(crate) fn erasures_seen(c: &Connection) -> rusqlite::Result<i64> {
    c.prepare_cached("SELECT coalesce(max(id), 0) FROM erasures")?
        .query_row([], |r| r.get(0))
}

/// Old group key → new, the same in every table.
struct Keys {
    values: Vec<String>,
    suffix: String,
    map: HashMap<String, String>,
}

impl Keys {
    fn new(c: &Connection, values: &[String]) -> rusqlite::Result<Keys> {
        // The id this erasure's log entry gets (`AUTOINCREMENT`: never one used before).
        let next: i64 = c.query_row(
            "SELECT coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'erasures'), 0) + 1",
            [],
            |r| r.get(0),
        )?;
        Ok(Keys {
            values: values.to_vec(),
            suffix: format!("|erasure-{next}"),
            map: HashMap::new(),
        })
    }

    /// The key a group keeps or gets.
    fn map(&mut self, key: &str) -> String {
        if let Some(new) = self.map.get(key) {
            return new.clone();
        }
        let scrubbed = scrub(key, &self.values);
        if scrubbed == key {
            return scrubbed;
        }
        let new = format!("{scrubbed}{}", self.suffix);
        self.map.insert(key.to_string(), new.clone());
        new
    }
}

/// Rows of `table` where one of `columns` holds one of `needles`: their rowid and every column
/// of `columns` (`None` for SQL NULL), by rowid.
fn find(
    c: &Connection,
    table: &str,
    columns: &[&str],
    needles: &[String],
) -> rusqlite::Result<BTreeMap<i64, Vec<Option<String>>>> {
    let cond = columns
        .iter()
        .map(|col| format!("instr({col}, ?1) > 0"))
        .collect::<Vec<_>>()
        .join(" OR ");
    let sql = format!(
        "SELECT rowid, {} FROM {table} WHERE {cond}",
        columns.join(", ")
    );
    let mut stmt = c.prepare_cached(&sql)?;
    let mut out = BTreeMap::new();
    for n in needles {
        let rows = stmt.query_map([n], |r| {
            let mut cols = Vec::with_capacity(columns.len());
            for i in 0..columns.len() {
                cols.push(r.get::<_, Option<String>>(i + 1)?);
            }
            Ok((r.get::<_, i64>(0)?, cols))
        })?;
        for row in rows {
            let (rowid, cols) = row?;
            out.insert(rowid, cols);
        }
    }
    Ok(out)
}

/// Scrubs every copy of the subject (`values`, found by `needles`) in the outbox tables, in the
/// caller's transaction.
pub(crate) fn run(
    c: &Connection,
    values: &[String],
    needles: &[String],
) -> rusqlite::Result<Scrubbed> {
    let mut out = Scrubbed::default();
    let text = |s: &Option<String>| s.as_deref().map(|s| scrub(s, values));
    for (rowid, cols) in find(c, "notify_journal", &["alert"], needles)? {
        c.prepare_cached("UPDATE notify_journal SET alert = ?2 WHERE rowid = ?1")?
            .execute(params![rowid, text(&cols[0])])?;
        out.journal += 1;
    }
    let mut keys = Keys::new(c, values)?;
    let mut key = |s: &Option<String>| s.as_deref().map(|s| keys.map(s));
    for (rowid, cols) in find(c, "notify_groups", &["group_key", "labels"], needles)? {
        c.prepare_cached("UPDATE notify_groups SET group_key = ?2, labels = ?3 WHERE rowid = ?1")?
            .execute(params![rowid, key(&cols[0]), text(&cols[1])])?;
        out.groups += 1;
    }
    for (rowid, cols) in find(c, "notify_members", &["group_key", "alert"], needles)? {
        c.prepare_cached("UPDATE notify_members SET group_key = ?2, alert = ?3 WHERE rowid = ?1")?
            .execute(params![rowid, key(&cols[0]), text(&cols[1])])?;
        out.members += 1;
    }
    for (rowid, cols) in find(
        c,
        "notify_outbox",
        &["group_key", "body", "last_error"],
        needles,
    )? {
        c.prepare_cached(
            "UPDATE notify_outbox SET group_key = ?2, body = ?3, last_error = ?4
             WHERE rowid = ?1",
        )?
        .execute(params![
            rowid,
            key(&cols[0]),
            text(&cols[1]),
            text(&cols[2])
        ])?;
        out.notifications += 1;
    }
    Ok(out)
}
