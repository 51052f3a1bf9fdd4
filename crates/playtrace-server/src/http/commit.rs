//! The one path every write of the API takes to the store.

use crate::app::AppState;
use crate::http::error::{ApiError, ApiResult};
use crate::pipeline::{Ingested, Work};
use axum::http::StatusCode;
use playtrace_core::scan::ObservationBatch;
use playtrace_store::{CommitOutcome, Job, RejectRow, StoreError, StoredEvent, SubmitError};
use std::sync::atomic::Ordering;

/// Hands rows to the store's writer and waits until they are durable: the one path every
/// write of the API takes, so every one answers overload (503), a full store (507) and
/// commit failures (500) the same way — and never a 2xx for something not stored.
pub(crate) async fn commit(
    app: &AppState,
    events: Vec<StoredEvent>,
    rejects: Vec<RejectRow>,
    work: Work,
) -> ApiResult<CommitOutcome> {
    if let Some(node) = app.cluster.get() {
        return crate::cluster::commit(node, work).await;
    }
    let (tx, rx) = tokio::sync::oneshot::channel();
    let _queued = app.metrics.queue();
    let job = Job {
        events,
        rejects,
        extra: work,
        done: Box::new(move |result| {
            let _ = tx.send(result);
        }),
    };
    let overloaded = |message: &str| {
        app.metrics.overloaded.fetch_add(1, Ordering::Relaxed);
        let mut e = ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "overloaded", message);
        e.retry_after = Some(1);
        e
    };
    match app.submit(job) {
        Ok(()) => {}
        Err(SubmitError::Full(_)) => {
            return Err(overloaded(
                "the store is not keeping up and its queue is full; retry after the Retry-After \
                 delay (limits.queue_requests / limits.queue_bytes bound the queue)",
            ))
        }
        Err(SubmitError::Closed(_)) if app.is_rebuilding() => {
            return Err(overloaded(
                "the collector is starting: it rebuilds its live state from the store and \
                 takes events once /readyz answers 200; nothing was stored, retry after the \
                 Retry-After delay",
            ))
        }
        Err(SubmitError::Closed(_)) => {
            return Err(overloaded("the collector is shutting down; retry"))
        }
    }
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
        Err(_) => Err(overloaded("the store writer stopped; retry")),
    }
}

/// [`commit`] for ingested events: the alert rules in force are evaluated here, on the
/// request's thread, so the store's writer only raises what they found.
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
    let work = Work::Ingest(Ingested::new(&rules, &events, observations));
    commit(app, events, rejects, work).await
}
