//! The silences table: matchers (what alerts a silence covers, as the collector's JSON), who
//! made it and why, and when it starts and ends. Ending a silence early (unsilence) sets its end
//! to now, so the list keeps it as expired.

use rusqlite::{params, OptionalExtension, Row};

/// One stored silence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SilenceRow {
    /// Stable id (`si_…`).
    pub id: String,
    /// The matchers as a JSON object (`{"room": "pier"}`); every one must equal the alert's.
    pub matchers: String,
    /// Who made it.
    pub author: String,
    /// Why.
    pub comment: String,
    /// Covers alerts from then, epoch ms.
    pub starts_ms: i64,
    /// Until then, epoch ms (earlier than planned when unsilenced).
    pub ends_ms: i64,
    /// When it was made, epoch ms.
    pub created_ms: i64,
}

const COLUMNS: &str = "id, matchers, author, comment, starts_ms, ends_ms, created_ms";

fn row(r: &Row<'_>) -> rusqlite::Result<SilenceRow> {
    Ok(SilenceRow {
        id: r.get(0)?,
        matchers: r.get(1)?,
        author: r.get(2)?,
        comment: r.get(3)?,
        starts_ms: r.get(4)?,
        ends_ms: r.get(5)?,
        created_ms: r.get(6)?,
    })
}

/// Inserts or replaces the silence with its id.
pub(crate) fn put(conn: &rusqlite::Connection, s: &SilenceRow) -> rusqlite::Result<()> {
    conn.prepare_cached(&format!(
        "INSERT OR REPLACE INTO silences ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"
    ))?
    .execute(params![
        s.id,
        s.matchers,
        s.author,
        s.comment,
        s.starts_ms,
        s.ends_ms,
        s.created_ms
    ])?;
    Ok(())
}

pub(crate) fn by_id(conn: &rusqlite::Connection, id: &str) -> rusqlite::Result<Option<SilenceRow>> {
    conn.prepare_cached(&format!("SELECT {COLUMNS} FROM silences WHERE id = ?1"))?
        .query_row([id], row)
        .optional()
}

/// Silences in force at `now_ms`.
pub(crate) fn active(
    conn: &rusqlite::Connection,
    now_ms: i64,
) -> rusqlite::Result<Vec<SilenceRow>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM silences WHERE starts_ms <= ?1 AND ends_ms > ?1 ORDER BY ends_ms"
    ))?;
    let rows = stmt.query_map([now_ms], row)?;
    rows.collect()
}

/// Every silence, newest first (active and expired), at most `limit`.
pub(crate) fn list(conn: &rusqlite::Connection, limit: usize) -> rusqlite::Result<Vec<SilenceRow>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM silences ORDER BY created_ms DESC, id LIMIT ?1"
    ))?;
    let rows = stmt.query_map([limit as i64], row)?;
    rows.collect()
}
