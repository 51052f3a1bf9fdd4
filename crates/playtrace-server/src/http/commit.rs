//! The one path every write of the API takes to the store.

use crate::app::AppState;
use crate::http::error::{ApiError, ApiResult};
use crate::pipeline::{Ingested, Work};
use axum::http::StatusCode;
use playtrace_core::scan::ObservationBatch;
use playtrace_store::{CommitOutcome, Job, RejectRow, StoreError, StoredEvent, SubmitError};
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::sync::oneshot;

/// Hands rows to the store's writer and waits until they are durable: the one path every
/// write of the API takes, so every one answers overload (503), a full store (507) and
/// commit failures (500) the same way — and never a 2xx for something not stored.
pub(crate) async fn commit(
    app: &AppState,
    events: Vec<StoredEvent>,
    rejects: Vec<RejectRow>,
    work: Work,
) -> ApiResult<CommitOutcome> {
    queue(app, events, rejects, work, 0, Duration::ZERO)
        .await?
        .outcome()
        .await
}

/// A write on the store writer's queue (or, in cluster mode, already applied).
pub(crate) enum Queued<'a> {
    /// Committed through the cluster's log.
    Done(CommitOutcome),
    /// Waiting for the writer.
    Waiting {
        app: &'a AppState,
        rx: oneshot::Receiver<Result<CommitOutcome, StoreError>>,
        _queued: crate::metrics::Queued<'a>,
    },
}

impl Queued<'_> {
    /// Waits until the write is durable (or failed).
    pub(crate) async fn outcome(self) -> ApiResult<CommitOutcome> {
        let (app, rx) = match self {
            Queued::Done(outcome) => return Ok(outcome),
            Queued::Waiting { app, rx, _queued } => (app, rx),
        };
        match rx.await {
            Ok(Ok(outcome)) => Ok(outcome),
            Ok(Err(StoreError::Full(cause))) => Err({
                app.metrics.store_full.fetch_add(1, Ordering::Relaxed);
                ApiError::new(
                    StatusCode::INSUFFICIENT_STORAGE,
                    "insufficient_storage",
                    format!(
                        "nothing was stored: the store is full ({cause}); free disk space, lower \
                     retention.max_age or raise retention.max_bytes"
                    ),
                )
            }),
            Ok(Err(e)) => Err(ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "store_error",
                format!("nothing was stored: {e}; retry"),
            )),
            Err(_) => Err(overloaded(app, "the store writer stopped; retry")),
        }
    }
}

fn overloaded(app: &AppState, message: &str) -> ApiError {
    app.metrics.overloaded.fetch_add(1, Ordering::Relaxed);
    let mut e = ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "overloaded", message);
    e.retry_after = Some(1);
    e
}

/// Puts rows on the store writer's queue without waiting for the commit, so a caller with
/// several writes (a replay's pages) keeps more than one in the writer's group commit. Jobs are
/// committed in the order they were queued, except that a replay's pages yield to any other job
/// waiting (`CommitHook::background`, docs/REJECTS.md). A full queue is tried again `retries` times, `pause`
/// apart (a request answers 503 at once instead: its client retries).
pub(crate) async fn queue<'a>(
    app: &'a AppState,
    events: Vec<StoredEvent>,
    rejects: Vec<RejectRow>,
    work: Work,
    retries: u32,
    pause: Duration,
) -> ApiResult<Queued<'a>> {
    if let Some(node) = app.cluster.get() {
        return crate::cluster::commit(node, work).await.map(Queued::Done);
    }
    let (tx, rx) = oneshot::channel();
    let queued = app.metrics.queue();
    let mut job = Box::new(Job {
        events,
        rejects,
        extra: work,
        done: Box::new(move |result| {
            let _ = tx.send(result);
        }),
    });
    let mut tries = 0;
    loop {
        match app.submit(*job) {
            Ok(()) => {
                return Ok(Queued::Waiting {
                    app,
                    rx,
                    _queued: queued,
                })
            }
            Err(SubmitError::Full(back)) => {
                let e = overloaded(
                    app,
                    "the store is not keeping up and its queue is full; retry after the \
                     Retry-After delay (limits.queue_requests / limits.queue_bytes bound the \
                     queue)",
                );
                if tries >= retries {
                    return Err(e);
                }
                tries += 1;
                job = back;
                tokio::time::sleep(pause).await;
            }
            Err(SubmitError::Closed(_)) if app.is_rebuilding() => {
                return Err(overloaded(
                    app,
                    "the collector is starting: it rebuilds its live state from the store and \
                     takes events once /readyz answers 200; nothing was stored, retry after the \
                     Retry-After delay",
                ))
            }
            Err(SubmitError::Closed(_)) => {
                return Err(overloaded(app, "the collector is shutting down; retry"))
            }
        }
    }
}

/// [`commit`] for ingested events: the alert rules in force are evaluated here, on the
/// request's thread, so the store's writer only raises what they found; and the answer waits
/// until the events are folded into the live budgets (on the fold thread, `pipeline/fold.rs`),
/// so a client that reads `/v1/budgets` after its ingest sees them.
pub(crate) async fn commit_ingest(
    app: &AppState,
    events: Vec<StoredEvent>,
    rejects: Vec<RejectRow>,
    observations: ObservationBatch,
) -> ApiResult<CommitOutcome> {
    if let Some(node) = app.cluster.get() {
        return crate::cluster::ingest(app, node, events, rejects).await;
    }
    let rules = app.rules.read().unwrap_or_else(|p| p.into_inner()).clone();
    let mut ingested = Ingested::new(&rules, &events, observations);
    let folded = ingested.fold_signal();
    let outcome = commit(app, events, rejects, Work::Ingest(ingested)).await?;
    // An error only says nothing was there to fold (or the fold thread stopped).
    let _ = folded.await;
    Ok(outcome)
}
