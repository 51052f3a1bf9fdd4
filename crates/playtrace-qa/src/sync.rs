//! One round of search-sync attempts: write every job's document (one index transaction),
//! read each version back and compare it with the expected one; then record the outcomes in
//! the durable queue (one state transaction). A crash between the two leaves the jobs queued
//! as they were: the next attempt writes the same document again.

use crate::index::{Document, SearchIndex};
use crate::queue::{Drift, Job};
use crate::state::State;
use crate::QaError;

/// Attempts each job once and records the outcomes; the jobs as they now stand.
pub(crate) fn attempt(
    state: &mut State,
    index: &mut SearchIndex,
    jobs: Vec<Job>,
    now_ms: f64,
) -> Result<Vec<Job>, QaError> {
    if jobs.is_empty() {
        return Ok(jobs);
    }
    // The simulated fault of this attempt, per job.
    let faults: Vec<Drift> = jobs
        .iter()
        .map(|j| match (j.drift, j.attempts) {
            (Drift::FirstFail, 0) | (Drift::AlwaysFail, _) => Drift::FirstFail,
            (Drift::FirstStale, 0) | (Drift::AlwaysStale, _) => Drift::FirstStale,
            _ => Drift::None,
        })
        .collect();
    let docs: Vec<Document<'_>> = jobs
        .iter()
        .zip(&faults)
        .filter(|(_, f)| **f != Drift::FirstFail)
        .map(|(j, f)| Document {
            index: j.index,
            doc_id: &j.doc_id,
            version: if *f == Drift::FirstStale {
                j.expected_version - 1
            } else {
                j.expected_version
            },
            session_id: &j.session_id,
            title: &j.title,
            body: &j.body,
        })
        .collect();
    let written = index.write(&docs);
    let mut outcomes = Vec::with_capacity(jobs.len());
    for (job, fault) in jobs.into_iter().zip(faults) {
        let attempt = job.attempts + 1;
        let result = if fault == Drift::FirstFail {
            Err(format!(
                "simulated search drift: the index refused the write (attempt {attempt})"
            ))
        } else if let Err(e) = &written {
            Err(format!("the index write failed: {e}"))
        } else {
            match index.version(job.index, &job.doc_id) {
                Ok(Some(v)) if v == job.expected_version => Ok(()),
                Ok(Some(v)) => Err(format!(
                    "version drift: expected v{}, the index holds v{v}",
                    job.expected_version
                )),
                Ok(None) => Err("the document is missing from the index after its write".into()),
                Err(e) => Err(format!("reading the version back failed: {e}")),
            }
        };
        outcomes.push((job, result));
    }
    state.record_attempts(outcomes, now_ms)
}
