//! Keeping the search index with the published version: the documents of every published
//! version are recorded in the state (`version_documents`), so `qa rollback` can put the
//! earlier version's documents back into the index — and take out those the later version
//! added — instead of leaving the index on content readers no longer see.

use crate::bundles::Bundle;
use crate::index::{IndexName, SearchIndex};
use crate::queue::{Drift, Job, JobStatus};
use crate::state::{State, INDEX_DB};
use crate::QaError;
use rusqlite::params;
use std::path::Path;

/// Records the documents of published versions (one transaction).
pub(crate) fn record_documents(
    state: &State,
    published: &[(&str, i64, &[Bundle])],
) -> Result<(), QaError> {
    if published.is_empty() {
        return Ok(());
    }
    let tx = state
        .conn
        .unchecked_transaction()
        .map_err(|e| state.err(e))?;
    for (session, version, bundles) in published {
        for b in *bundles {
            tx.execute(
                "INSERT OR REPLACE INTO version_documents
                 (session_id, version, job_id, index_name, doc_id, title, body)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    session,
                    version,
                    b.job_id(),
                    b.index.as_str(),
                    b.id,
                    b.title,
                    b.body
                ],
            )
            .map_err(|e| state.err(e))?;
        }
    }
    tx.commit().map_err(|e| state.err(e))
}

fn documents(state: &State, session: &str, version: i64) -> Result<Vec<Job>, QaError> {
    let mut stmt = state
        .conn
        .prepare(
            "SELECT job_id, index_name, doc_id, title, body FROM version_documents
             WHERE session_id = ?1 AND version = ?2 ORDER BY job_id",
        )
        .map_err(|e| state.err(e))?;
    let rows = stmt
        .query_map(params![session, version], |r| {
            let index: String = r.get(1)?;
            Ok(Job {
                job_id: r.get(0)?,
                session_id: session.to_string(),
                index: IndexName::parse(&index).unwrap_or(IndexName::LoreBundles),
                doc_id: r.get(2)?,
                expected_version: version,
                title: r.get(3)?,
                body: r.get(4)?,
                drift: Drift::None,
                attempts: 0,
                status: JobStatus::Pending,
                retry_at_ms: None,
                last_error: None,
            })
        })
        .map_err(|e| state.err(e))?;
    rows.collect::<Result<Vec<_>, _>>()
        .map_err(|e| state.err(e))
}

/// What re-indexing after a rollback did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Reindexed {
    /// Documents of the restored version written back and verified.
    pub synced: usize,
    /// Of those, jobs that failed and wait in the retry queue.
    pub queued: usize,
    /// Documents only the later version had, removed from the index.
    pub removed: usize,
}

/// Puts version `to`'s documents back into the index (as sync jobs of version `to`, through
/// the retry queue like any other) and removes those only `from` had.
pub(crate) fn resync(
    state: &mut State,
    index_path: Option<&Path>,
    session: &str,
    from: i64,
    to: i64,
    now: f64,
) -> Result<Reindexed, QaError> {
    let restored = documents(state, session, to)?;
    let later = documents(state, session, from)?;
    if restored.is_empty() && later.is_empty() {
        return Ok(Reindexed::default());
    }
    let default_path = state.dir().join(INDEX_DB);
    let mut index = SearchIndex::open(index_path.unwrap_or(&default_path))?;
    let mut removed = 0;
    for job in later
        .iter()
        .filter(|l| !restored.iter().any(|r| r.job_id == l.job_id))
    {
        index.remove(job.index, &job.doc_id)?;
        state
            .conn
            .execute("DELETE FROM search_jobs WHERE job_id = ?1", [&job.job_id])
            .map_err(|e| state.err(e))?;
        removed += 1;
    }
    let synced = restored.len();
    let jobs = crate::sync::attempt(state, &mut index, restored, now)?;
    Ok(Reindexed {
        synced,
        queued: jobs.iter().filter(|j| j.status != JobStatus::Done).count(),
        removed,
    })
}
