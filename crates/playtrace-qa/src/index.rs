//! The search index: an embedded SQLite FTS5 database (rusqlite's bundled SQLite is built with
//! FTS5), one full-text table per index — `lore_bundles` and `news_cards` — each document
//! carrying the version it was published as. A `documents` table maps a document id to its
//! FTS row so replacing a document never scans the index.

use crate::state::open_db;
use crate::QaError;
use rusqlite::{params, Connection, OptionalExtension};
use std::path::{Path, PathBuf};

/// One of the index's tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IndexName {
    /// `lore_bundles`: one document per published lore bundle.
    LoreBundles,
    /// `news_cards`: one document per published news card.
    NewsCards,
}

impl IndexName {
    /// The table's name.
    pub fn as_str(self) -> &'static str {
        match self {
            IndexName::LoreBundles => "lore_bundles",
            IndexName::NewsCards => "news_cards",
        }
    }

    /// Reads a table name.
    pub fn parse(text: &str) -> Option<IndexName> {
        match text {
            "lore_bundles" => Some(IndexName::LoreBundles),
            "news_cards" => Some(IndexName::NewsCards),
            _ => None,
        }
    }
}

const SCHEMA: &str = "
CREATE VIRTUAL TABLE IF NOT EXISTS lore_bundles USING fts5(doc_id UNINDEXED, version UNINDEXED, session_id UNINDEXED, title, body);
CREATE VIRTUAL TABLE IF NOT EXISTS news_cards USING fts5(doc_id UNINDEXED, version UNINDEXED, session_id UNINDEXED, title, body);
CREATE TABLE IF NOT EXISTS documents (
    index_name TEXT NOT NULL,
    doc_id TEXT NOT NULL,
    fts_rowid INTEGER NOT NULL,
    PRIMARY KEY (index_name, doc_id)
);
";

/// A document to write.
#[derive(Debug, Clone, PartialEq)]
pub struct Document<'a> {
    /// Which table.
    pub index: IndexName,
    /// Its id (the bundle or card id).
    pub doc_id: &'a str,
    /// The version it is written as.
    pub version: i64,
    /// Its session.
    pub session_id: &'a str,
    /// Searchable title.
    pub title: &'a str,
    /// Searchable text.
    pub body: &'a str,
}

/// The FTS5 index.
pub struct SearchIndex {
    conn: Connection,
    path: PathBuf,
}

impl SearchIndex {
    /// Opens (or creates) the index at `path`.
    pub fn open(path: &Path) -> Result<SearchIndex, QaError> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| {
                QaError::Usage(format!(
                    "--index {}: cannot create its directory: {e}",
                    path.display()
                ))
            })?;
        }
        let conn = open_db(path, "the search index")?;
        let index = SearchIndex {
            conn,
            path: path.to_path_buf(),
        };
        index.conn.execute_batch(SCHEMA).map_err(|e| index.err(e))?;
        Ok(index)
    }

    fn err(&self, error: rusqlite::Error) -> QaError {
        QaError::Db {
            what: "the search index",
            path: self.path.clone(),
            error,
        }
    }

    /// Writes documents in one transaction, each replacing any earlier version of itself.
    pub fn write(&mut self, docs: &[Document<'_>]) -> Result<(), QaError> {
        let path = self.path.clone();
        let err = |error| QaError::Db {
            what: "the search index",
            path: path.clone(),
            error,
        };
        let tx = self.conn.transaction().map_err(err)?;
        for d in docs {
            let table = d.index.as_str();
            let old: Option<i64> = tx
                .query_row(
                    "SELECT fts_rowid FROM documents WHERE index_name = ?1 AND doc_id = ?2",
                    params![table, d.doc_id],
                    |r| r.get(0),
                )
                .optional()
                .map_err(err)?;
            if let Some(rowid) = old {
                tx.execute(&format!("DELETE FROM {table} WHERE rowid = ?1"), [rowid])
                    .map_err(err)?;
            }
            tx.execute(
                &format!(
                    "INSERT INTO {table} (doc_id, version, session_id, title, body) VALUES (?1, ?2, ?3, ?4, ?5)"
                ),
                params![d.doc_id, d.version, d.session_id, d.title, d.body],
            )
            .map_err(err)?;
            let rowid = tx.last_insert_rowid();
            tx.execute(
                "INSERT INTO documents (index_name, doc_id, fts_rowid) VALUES (?1, ?2, ?3)
                 ON CONFLICT (index_name, doc_id) DO UPDATE SET fts_rowid = excluded.fts_rowid",
                params![table, d.doc_id, rowid],
            )
            .map_err(err)?;
        }
        tx.commit().map_err(err)
    }

    /// Removes a document (a later version's, after a rollback).
    pub fn remove(&mut self, index: IndexName, doc_id: &str) -> Result<(), QaError> {
        let table = index.as_str();
        let path = self.path.clone();
        let err = |error| QaError::Db {
            what: "the search index",
            path: path.clone(),
            error,
        };
        let tx = self.conn.transaction().map_err(err)?;
        tx.execute(
            &format!(
                "DELETE FROM {table} WHERE rowid IN
                 (SELECT fts_rowid FROM documents WHERE index_name = ?1 AND doc_id = ?2)"
            ),
            params![table, doc_id],
        )
        .map_err(err)?;
        tx.execute(
            "DELETE FROM documents WHERE index_name = ?1 AND doc_id = ?2",
            params![table, doc_id],
        )
        .map_err(err)?;
        tx.commit().map_err(err)
    }

    /// The version of a document as the index holds it (read back from the FTS table).
    pub fn version(&self, index: IndexName, doc_id: &str) -> Result<Option<i64>, QaError> {
        let table = index.as_str();
        self.conn
            .query_row(
                &format!(
                    "SELECT t.version FROM documents d JOIN {table} t ON t.rowid = d.fts_rowid
                     WHERE d.index_name = ?1 AND d.doc_id = ?2"
                ),
                params![table, doc_id],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.err(e))
    }

    /// Full-text search: the ids and versions of the documents matching an FTS5 query.
    pub fn search(&self, index: IndexName, query: &str) -> Result<Vec<(String, i64)>, QaError> {
        let table = index.as_str();
        let mut stmt = self
            .conn
            .prepare(&format!(
                "SELECT doc_id, version FROM {table} WHERE {table} MATCH ?1 ORDER BY rank"
            ))
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([query], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<Vec<_>, _>>().map_err(|e| self.err(e))
    }

    /// Documents in a table.
    pub fn count(&self, index: IndexName) -> Result<u64, QaError> {
        self.conn
            .query_row(
                "SELECT count(*) FROM documents WHERE index_name = ?1",
                [index.as_str()],
                |r| r.get::<_, i64>(0),
            )
            .map(|n| n as u64)
            .map_err(|e| self.err(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_are_searchable_and_replaced_by_newer_versions() {
        let dir = tempfile::tempdir().unwrap();
        let mut index = SearchIndex::open(&dir.path().join("search.db")).unwrap();
        let doc = |version, body| Document {
            index: IndexName::LoreBundles,
            doc_id: "s-lore-faction.echo",
            version,
            session_id: "s",
            title: "Echo Ledger Conclave",
            body,
        };
        index.write(&[doc(1, "a conclave of archivists")]).unwrap();
        index
            .write(&[doc(2, "a conclave of cartographers")])
            .unwrap();
        assert_eq!(
            index
                .version(IndexName::LoreBundles, "s-lore-faction.echo")
                .unwrap(),
            Some(2)
        );
        assert_eq!(index.count(IndexName::LoreBundles).unwrap(), 1);
        assert!(index
            .search(IndexName::LoreBundles, "archivists")
            .unwrap()
            .is_empty());
        assert_eq!(
            index
                .search(IndexName::LoreBundles, "cartographers")
                .unwrap(),
            [("s-lore-faction.echo".to_string(), 2)]
        );
        assert_eq!(index.count(IndexName::NewsCards).unwrap(), 0);
    }
}
