//! `playtrace qa drain`: re-executes the queued search-sync jobs whose `retryAt` has come (all
//! pending ones with `force`), each once, in rounds of [`ROUND`] jobs — each round one index
//! transaction and one state transaction, so a SIGKILL loses at most the round in flight, whose
//! jobs stay queued as they were.

use crate::index::SearchIndex;
use crate::queue::{summary, Job, JobStatus};
use crate::state::{State, INDEX_DB};
use crate::telemetry::Telemetry;
use crate::{iso, QaError};
use serde_json::{json, Value};
use std::path::PathBuf;

/// Jobs attempted per transaction.
pub const ROUND: usize = 64;

/// What to drain.
#[derive(Debug, Clone)]
pub struct DrainOptions {
    /// The state directory.
    pub state_dir: PathBuf,
    /// The search index (default `<state>/search.db`).
    pub index: Option<PathBuf>,
    /// "Now", epoch ms.
    pub now_ms: f64,
    /// Ignore `retryAt`.
    pub force: bool,
}

/// What a drain did.
#[derive(Debug, Clone)]
pub struct DrainResult {
    /// The queue before (`retrySummary` shape).
    pub before: Value,
    /// The queue after.
    pub after: Value,
    /// The jobs re-executed, as they now stand.
    pub drained: Vec<Job>,
    /// Jobs still pending.
    pub pending: usize,
    /// Jobs dead-lettered (`searchOutOfSync`).
    pub dead_lettered: usize,
}

impl DrainResult {
    /// The JSON on stdout.
    pub fn to_json(&self) -> Value {
        json!({
            "beforeDrain": self.before,
            "afterDrain": self.after,
            "drainedJobs": self.drained.iter().map(Job::to_json).collect::<Vec<_>>(),
            "pendingCount": self.pending,
            "deadLetterCount": self.dead_lettered,
        })
    }
}

/// Opens the state and index and drains.
pub fn drain(options: &DrainOptions, telemetry: &Telemetry) -> Result<DrainResult, QaError> {
    let mut state = State::open(&options.state_dir)?;
    let index_path = options
        .index
        .clone()
        .unwrap_or_else(|| options.state_dir.join(INDEX_DB));
    let mut index = SearchIndex::open(&index_path)?;
    let before = state.open_jobs()?;
    let drained = drain_open(
        &mut state,
        &mut index,
        options.now_ms,
        options.force,
        telemetry,
    )?;
    let after = state.open_jobs()?;
    Ok(DrainResult {
        before: summary(&before),
        pending: after
            .iter()
            .filter(|j| j.status == JobStatus::Pending)
            .count(),
        dead_lettered: after
            .iter()
            .filter(|j| j.status == JobStatus::OutOfSync)
            .count(),
        after: summary(&after),
        drained,
    })
}

/// Drains with an open state and index; the re-executed jobs as they now stand.
pub(crate) fn drain_open(
    state: &mut State,
    index: &mut SearchIndex,
    now_ms: f64,
    force: bool,
    telemetry: &Telemetry,
) -> Result<Vec<Job>, QaError> {
    let due = state.due_jobs(now_ms, force)?;
    let mut out = Vec::with_capacity(due.len());
    let mut rest = due.into_iter().peekable();
    while rest.peek().is_some() {
        let round: Vec<Job> = rest.by_ref().take(ROUND).collect();
        let done = crate::sync::attempt(state, index, round, now_ms)?;
        for job in &done {
            report_drift(telemetry, job);
        }
        out.extend(done);
    }
    Ok(out)
}

/// Sends `telemetry.search.drift` for a failed attempt (and `offline.sessionClosure.failed` for a
/// dead letter).
pub(crate) fn report_drift(telemetry: &Telemetry, job: &Job) {
    if job.status == JobStatus::Done {
        return;
    }
    telemetry.emit(
        "telemetry.search.drift",
        &job.session_id,
        vec![
            ("jobId", job.job_id.clone().into()),
            ("index", job.index.as_str().into()),
            ("documentId", job.doc_id.clone().into()),
            ("expectedVersion", job.expected_version.into()),
            ("attempt", job.attempts.into()),
            ("error", job.last_error.clone().unwrap_or_default().into()),
            ("retryAt", job.retry_at_ms.map(iso).into()),
            ("status", job.status.as_str().into()),
        ],
    );
    if job.status == JobStatus::OutOfSync {
        telemetry.emit(
            "offline.sessionClosure.failed",
            &job.session_id,
            vec![
                ("jobId", job.job_id.clone().into()),
                (
                    "error",
                    format!(
                        "searchOutOfSync: {}",
                        job.last_error.clone().unwrap_or_default()
                    )
                    .into(),
                ),
                ("attempts", job.attempts.into()),
            ],
        );
    }
}
