//! The durable search-sync retry queue, a table of `qa.db`: every sync job with its attempts,
//! status and next retry. A failed attempt is queued with `retryAt = now + 5 min ×
//! 2^(attempt−1)`; after the last attempt (3) the job is `searchOutOfSync`, dead-lettered with
//! its error. Outcomes of a round are recorded in one transaction.

use crate::index::IndexName;
use crate::state::State;
use crate::{iso, QaError};
use rusqlite::{params, OptionalExtension, Row};
use serde_json::{json, Value};

/// Attempts before a job is dead-lettered.
pub const MAX_ATTEMPTS: u32 = 3;
/// The first retry's delay; each later one doubles it.
pub const BASE_DELAY_MS: f64 = 5.0 * 60_000.0;

/// A simulated fault of a job (`--simulate-search-drift`), kept with the job so a later drain
/// reproduces it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Drift {
    /// No fault.
    None,
    /// The first attempt's write fails.
    FirstFail,
    /// The first attempt writes a stale version.
    FirstStale,
    /// Every attempt's write fails (to reach the dead letter).
    AlwaysFail,
    /// Every attempt writes a stale version.
    AlwaysStale,
}

impl Drift {
    fn as_str(self) -> &'static str {
        match self {
            Drift::None => "none",
            Drift::FirstFail => "first-fail",
            Drift::FirstStale => "first-stale",
            Drift::AlwaysFail => "always-fail",
            Drift::AlwaysStale => "always-stale",
        }
    }

    fn parse(text: &str) -> Drift {
        match text {
            "first-fail" => Drift::FirstFail,
            "first-stale" => Drift::FirstStale,
            "always-fail" => Drift::AlwaysFail,
            "always-stale" => Drift::AlwaysStale,
            _ => Drift::None,
        }
    }
}

/// Where a job stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobStatus {
    /// Failed, waiting for its `retryAt`.
    Pending,
    /// The index holds the expected version.
    Done,
    /// Out of attempts: dead-lettered.
    OutOfSync,
}

impl JobStatus {
    /// `pending`, `done`, `searchOutOfSync`.
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Pending => "pending",
            JobStatus::Done => "done",
            JobStatus::OutOfSync => "searchOutOfSync",
        }
    }
}

/// One sync job and where it stands.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    /// `index-lore-<bundle>` or `index-news-<card>`.
    pub job_id: String,
    /// Its session.
    pub session_id: String,
    /// Which table.
    pub index: IndexName,
    /// The document.
    pub doc_id: String,
    /// The version the index must hold afterwards.
    pub expected_version: i64,
    /// The document's title.
    pub title: String,
    /// The document's text.
    pub body: String,
    /// Simulated fault.
    pub drift: Drift,
    /// Attempts made.
    pub attempts: u32,
    /// Status.
    pub status: JobStatus,
    /// Next retry, epoch ms (pending jobs).
    pub retry_at_ms: Option<f64>,
    /// The last attempt's error.
    pub last_error: Option<String>,
}

impl Job {
    /// The job's JSON in reports (`retrySummary.jobs[]`, `drainedJobs[]`).
    pub fn to_json(&self) -> Value {
        json!({
            "jobId": self.job_id,
            "index": self.index.as_str(),
            "documentId": self.doc_id,
            "expectedVersion": self.expected_version,
            "attempts": self.attempts,
            "status": self.status.as_str(),
            "retryAt": self.retry_at_ms.map(iso),
            "lastError": self.last_error,
        })
    }
}

const COLUMNS: &str = "job_id, session_id, index_name, doc_id, expected_version, title, body, drift, attempts, status, retry_at_ms, last_error";

fn from_row(r: &Row<'_>) -> rusqlite::Result<Job> {
    let index: String = r.get(2)?;
    let status: String = r.get(9)?;
    let drift: String = r.get(7)?;
    Ok(Job {
        job_id: r.get(0)?,
        session_id: r.get(1)?,
        index: IndexName::parse(&index).unwrap_or(IndexName::LoreBundles),
        doc_id: r.get(3)?,
        expected_version: r.get(4)?,
        title: r.get(5)?,
        body: r.get(6)?,
        drift: Drift::parse(&drift),
        attempts: r.get::<_, i64>(8)? as u32,
        status: match status.as_str() {
            "done" => JobStatus::Done,
            "searchOutOfSync" => JobStatus::OutOfSync,
            _ => JobStatus::Pending,
        },
        retry_at_ms: r.get::<_, Option<i64>>(10)?.map(|v| v as f64),
        last_error: r.get(11)?,
    })
}

/// The delay before retry number `attempt` (1-based attempt that failed).
pub fn backoff_ms(attempt: u32) -> f64 {
    BASE_DELAY_MS * 2f64.powi(attempt.saturating_sub(1) as i32)
}

impl State {
    /// A job as recorded.
    pub fn job(&self, job_id: &str) -> Result<Option<Job>, QaError> {
        self.conn
            .query_row(
                &format!("SELECT {COLUMNS} FROM search_jobs WHERE job_id = ?1"),
                [job_id],
                from_row,
            )
            .optional()
            .map_err(|e| self.err(e))
    }

    /// Every job of a session, by id.
    pub fn session_jobs(&self, session: &str) -> Result<Vec<Job>, QaError> {
        self.select("WHERE session_id = ?1 ORDER BY job_id", params![session])
    }

    /// Pending jobs whose `retryAt` has come (all pending ones with `force`), oldest first.
    pub fn due_jobs(&self, now_ms: f64, force: bool) -> Result<Vec<Job>, QaError> {
        if force {
            self.select(
                "WHERE status = 'pending' ORDER BY retry_at_ms, job_id",
                params![],
            )
        } else {
            self.select(
                "WHERE status = 'pending' AND retry_at_ms <= ?1 ORDER BY retry_at_ms, job_id",
                params![now_ms as i64],
            )
        }
    }

    /// Every pending and dead-lettered job.
    pub fn open_jobs(&self) -> Result<Vec<Job>, QaError> {
        self.select(
            "WHERE status != 'done' ORDER BY session_id, job_id",
            params![],
        )
    }

    fn select(&self, filter: &str, args: &[&dyn rusqlite::ToSql]) -> Result<Vec<Job>, QaError> {
        let mut stmt = self
            .conn
            .prepare(&format!("SELECT {COLUMNS} FROM search_jobs {filter}"))
            .map_err(|e| self.err(e))?;
        let rows = stmt.query_map(args, from_row).map_err(|e| self.err(e))?;
        rows.collect::<Result<Vec<_>, _>>().map_err(|e| self.err(e))
    }

    /// Records the outcome of one attempt of each job (one transaction) and returns the jobs as
    /// they now stand.
    pub fn record_attempts(
        &mut self,
        outcomes: Vec<(Job, Result<(), String>)>,
        now_ms: f64,
    ) -> Result<Vec<Job>, QaError> {
        let path = self.dir().join(crate::state::STATE_DB);
        let db = |error| QaError::Db {
            what: "the qa state database",
            path: path.clone(),
            error,
        };
        let tx = self.conn.transaction().map_err(db)?;
        let mut out = Vec::with_capacity(outcomes.len());
        let mut failed = None;
        for (mut job, result) in outcomes {
            job.attempts += 1;
            match result {
                Ok(()) => {
                    job.status = JobStatus::Done;
                    job.retry_at_ms = None;
                    job.last_error = None;
                }
                Err(e) if job.attempts >= MAX_ATTEMPTS => {
                    job.status = JobStatus::OutOfSync;
                    job.retry_at_ms = None;
                    job.last_error = Some(e);
                }
                Err(e) => {
                    job.status = JobStatus::Pending;
                    job.retry_at_ms = Some(now_ms + backoff_ms(job.attempts));
                    job.last_error = Some(e);
                }
            }
            let written = tx.execute(
                &format!(
                    "INSERT OR REPLACE INTO search_jobs ({COLUMNS}, updated_at_ms)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)"
                ),
                params![
                    job.job_id,
                    job.session_id,
                    job.index.as_str(),
                    job.doc_id,
                    job.expected_version,
                    job.title,
                    job.body,
                    job.drift.as_str(),
                    job.attempts as i64,
                    job.status.as_str(),
                    job.retry_at_ms.map(|v| v as i64),
                    job.last_error,
                    now_ms as i64,
                ],
            );
            if let Err(e) = written {
                failed = Some(e);
                break;
            }
            out.push(job);
        }
        match failed {
            Some(e) => Err(db(e)),
            None => {
                tx.commit().map_err(db)?;
                Ok(out)
            }
        }
    }
}

/// The fixture's `retrySummary` / `beforeDrain` / `afterDrain` shape over some jobs: pending
/// and dead-lettered ones are listed, done ones only counted out.
pub fn summary(jobs: &[Job]) -> Value {
    let pending: Vec<&Job> = jobs
        .iter()
        .filter(|j| j.status == JobStatus::Pending)
        .collect();
    let dead: Vec<&Job> = jobs
        .iter()
        .filter(|j| j.status == JobStatus::OutOfSync)
        .collect();
    let next = pending
        .iter()
        .filter_map(|j| j.retry_at_ms)
        .fold(None, |m: Option<f64>, t| Some(m.map_or(t, |m| m.min(t))));
    let status = if !dead.is_empty() {
        "searchOutOfSync"
    } else if !pending.is_empty() {
        "pending"
    } else {
        "clear"
    };
    json!({
        "pendingCount": pending.len(),
        "deadLetterCount": dead.len(),
        "status": status,
        "nextRetryAt": next.map(iso),
        "jobs": pending.iter().chain(dead.iter()).map(|j| j.to_json()).collect::<Vec<_>>(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_backoff_doubles_from_five_minutes() {
        assert_eq!(backoff_ms(1), 300_000.0);
        assert_eq!(backoff_ms(2), 600_000.0);
        assert_eq!(backoff_ms(3), 1_200_000.0);
    }
}
