//! One commit: the jobs' rows and the hook's writes in one transaction, with a background
//! commit fed the next job between rows so a live job waits for at most one replay page.

use super::{CommitHook, CommitOutcome, Queued, Tx};
use crate::dedup::Dedup;
use crate::insert::{insert_events, Inserted, Prepared};
use crate::StoreError;
use rusqlite::{params, Connection};
use std::collections::VecDeque;
use std::sync::mpsc::Receiver;
/// Feeds a background commit in progress: between one job's rows and the next, a live job
/// that arrived meanwhile joins this commit and ends the run of background jobs, so it waits
/// for at most the one background job being written (a replay page) and the commit itself,
/// not for every page set aside; while nothing else arrives, the next background job joins.
pub(super) struct Feed<'a, T: 'static> {
    pub(super) rx: &'a Receiver<Queued<T>>,
    pub(super) deferred: &'a mut VecDeque<Queued<T>>,
    /// Events in the commit so far.
    pub(super) events: usize,
    pub(super) max_events: usize,
    /// Whether a live job joined (no more background jobs then).
    pub(super) joined: bool,
}

impl<T: 'static> Feed<'_, T> {
    /// The next job for the commit, if any.
    fn next(&mut self, hook: &dyn CommitHook<T>) -> Option<Queued<T>> {
        if self.events >= self.max_events {
            return None;
        }
        let job = loop {
            match self.rx.try_recv() {
                Ok(q) if hook.background(&q.job.extra) => self.deferred.push_back(q),
                Ok(job) => {
                    self.joined = true;
                    break job;
                }
                Err(_) if self.joined => return None,
                Err(_) => break self.deferred.pop_front()?,
            }
        };
        self.events += job.job.events.len();
        Some(job)
    }
}

pub(super) fn commit<T: 'static>(
    conn: &mut Connection,
    mut dedup: Option<&mut Dedup>,
    jobs: &mut Vec<Queued<T>>,
    recv_ms: i64,
    hook: &mut dyn CommitHook<T>,
    mut feed: Option<&mut Feed<'_, T>>,
) -> Result<Vec<CommitOutcome>, StoreError> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    if let Some(dedup) = dedup.as_deref_mut() {
        dedup.begin();
    }
    let mut outcomes = Vec::with_capacity(jobs.len());
    // At least the largest sequence any stored event has (new rows are numbered past it).
    let mut head = crate::mark::stored_head(&tx)?;
    // The commit's subject keys, indexed as one batch (`subjects.rs`).
    let mut postings = Vec::new();
    {
        let mut reject = tx.prepare_cached(
            "INSERT INTO rejects (recv_ms, line, kind, message, raw) VALUES (?1, ?2, ?3, ?4, ?5)",
        )?;
        let mut next = 0;
        while next < jobs.len() {
            let Queued {
                job,
                subjects,
                checks,
                packs,
            } = &mut jobs[next];
            next += 1;
            // In cluster mode a replicated message carries its own receive time.
            let recv_ms = hook.recv_ms(&job.extra).unwrap_or(recv_ms);
            let Inserted { inserted, seqs } = insert_events(
                &tx,
                dedup.as_deref_mut(),
                &mut job.events,
                Prepared {
                    checks: Some(checks),
                    packs: Some(packs),
                },
                recv_ms,
                &mut head,
            )?;
            let hook_tx = Tx {
                conn: &tx,
                recv_ms,
                dedup: dedup.as_deref(),
            };
            // A job numbered without gaps stores the batch its submitter built; otherwise (a
            // duplicate left a gap) its entries join the commit's batch.
            let first_seq = job.events.first().map_or(0, |e| e.seq);
            match subjects {
                Some(prepared)
                    if first_seq != 0
                        && (job.events.iter())
                            .zip(first_seq..)
                            .all(|(e, seq)| e.seq == seq) =>
                {
                    crate::subjects::insert_prepared(&tx, first_seq, prepared)?;
                }
                _ => {
                    for e in job.events.iter().filter(|e| e.seq != 0) {
                        postings.extend(e.subjects.iter().map(|&key| (key, e.seq)));
                    }
                }
            }
            let accepted = inserted.iter().filter(|&&stored| stored).count() as u64;
            let duplicates = inserted.len() as u64 - accepted;
            for r in &job.rejects {
                reject.execute(params![recv_ms, r.line, r.kind, r.message, r.raw])?;
            }
            let outcome = CommitOutcome {
                recv_ms,
                inserted,
                accepted,
                duplicates,
                // Set below, once the feed has added what it will.
                commit_events: 0,
                first_in_commit: outcomes.is_empty(),
                seqs,
            };
            hook.in_transaction(&hook_tx, &job.events, &job.extra, &outcome)?;
            outcomes.push(outcome);
            if next == jobs.len() {
                if let Some(job) = feed.as_mut().and_then(|f| f.next(&*hook)) {
                    jobs.push(job);
                }
            }
        }
    }
    let commit_events: u64 = jobs.iter().map(|q| q.job.events.len() as u64).sum();
    for outcome in &mut outcomes {
        outcome.commit_events = commit_events;
    }
    crate::subjects::append(&tx, postings)?;
    if let Some(dedup) = dedup.as_deref_mut() {
        dedup.log(&tx)?;
    }
    tx.commit()?;
    if let Some(dedup) = dedup {
        dedup.committed();
    }
    Ok(outcomes)
}
