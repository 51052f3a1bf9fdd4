//! The queue's on-disk format: its two tables (`retry_queue`, `dead_letters`), the columns an
//! [`Entry`] is read back from, and the migration that brings a file from an older release up to
//! date. Kept apart from the queue's operations so the schema, and every file already written in
//! it, is described in one place.

use crate::Artifact;
use rusqlite::Connection;
use std::sync::Arc;

/// One queued (or dead-lettered) artifact.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// Its row id in its queue; for a dead letter, the id `playtrace export dlq list` prints
    /// and `dlq retry` / `dlq purge` take.
    pub id: i64,
    /// The writer it is for ([`crate::Writer::id`]).
    pub writer: String,
    /// Where exactly ([`crate::Writer::destination`]): what `export retry` writes to. Empty
    /// for entries queued before destinations were stored.
    pub destination: String,
    /// The artifact, bytes included, as it was first given to the writer.
    pub artifact: Artifact,
    /// Its sha256, hex.
    pub sha256: String,
    /// Attempts so far.
    pub attempts: u32,
    /// The last error.
    pub error: String,
}

/// Both tables, created if missing. They differ in one column: when an entry is due again
/// (`next_attempt_ms`, retry queue) or when it failed for good (`failed_ms`, dead letters).
pub(super) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS retry_queue (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    writer TEXT NOT NULL, name TEXT NOT NULL, media_type TEXT NOT NULL, kind TEXT NOT NULL,
    context TEXT NOT NULL, bytes BLOB NOT NULL, sha256 TEXT NOT NULL,
    attempts INTEGER NOT NULL, next_attempt_ms INTEGER NOT NULL, error TEXT NOT NULL,
    destination TEXT NOT NULL DEFAULT '',
    UNIQUE (writer, name, sha256)
);
CREATE TABLE IF NOT EXISTS dead_letters (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    writer TEXT NOT NULL, name TEXT NOT NULL, media_type TEXT NOT NULL, kind TEXT NOT NULL,
    context TEXT NOT NULL, bytes BLOB NOT NULL, sha256 TEXT NOT NULL,
    attempts INTEGER NOT NULL, error TEXT NOT NULL, failed_ms INTEGER NOT NULL,
    destination TEXT NOT NULL DEFAULT '',
    UNIQUE (writer, name, sha256)
);
";

/// The columns [`row_entry`] reads, in its order.
pub(super) const COLUMNS: &str =
    "id, writer, name, media_type, kind, context, bytes, sha256, attempts, error, destination";

/// Reads one row selected with [`COLUMNS`] back into an [`Entry`].
pub(super) fn row_entry(r: &rusqlite::Row<'_>) -> rusqlite::Result<Entry> {
    let context: String = r.get(5)?;
    Ok(Entry {
        id: r.get(0)?,
        writer: r.get(1)?,
        artifact: Artifact {
            name: r.get(2)?,
            media_type: r.get(3)?,
            kind: r.get(4)?,
            context: serde_json::from_str(&context).unwrap_or(serde_json::Value::Null),
            bytes: Arc::new(r.get(6)?),
        },
        sha256: r.get(7)?,
        attempts: r.get(8)?,
        error: r.get(9)?,
        destination: r.get(10)?,
    })
}

/// Adds the `destination` column to a queue created before it existed (its entries keep an
/// empty destination: `export retry` falls back to their writer id and its own flags).
pub(super) fn add_destination_column(conn: &Connection) -> rusqlite::Result<()> {
    for table in ["retry_queue", "dead_letters"] {
        let has: bool = conn.query_row(
            &format!(
                "SELECT COUNT(*) > 0 FROM pragma_table_info('{table}') WHERE name = 'destination'"
            ),
            [],
            |r| r.get(0),
        )?;
        if !has {
            conn.execute_batch(&format!(
                "ALTER TABLE {table} ADD COLUMN destination TEXT NOT NULL DEFAULT ''"
            ))?;
        }
    }
    Ok(())
}
