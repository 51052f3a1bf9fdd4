//! Ingest in cluster mode: the parsed rows go to the stream, and the request is answered once
//! JetStream acknowledged them (they are on a majority of its replicas) and this node applied
//! them to its store, so `accepted`/`duplicates` come from the store as on a single node, and a
//! client reads its own writes. Anything unavailable or too slow answers 503 + Retry-After:
//! the client's retry is safe (same `Nats-Msg-Id`, same `(game, id)`s).

use super::message::{ingest_messages, Outgoing};
use super::node::Node;
use crate::app::AppState;
use crate::http::error::{ApiError, ApiResult};
use async_nats::HeaderMap;
use axum::http::StatusCode;
use playtrace_store::{CommitOutcome, RejectRow, StoredEvent};
use std::sync::atomic::Ordering;
use std::time::Duration;

fn unavailable(message: String) -> ApiError {
    let mut e = ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "cluster_unavailable",
        message,
    );
    e.retry_after = Some(1);
    e
}

/// Publishes a request's rows and waits until this node applied them.
pub(crate) async fn ingest(
    app: &AppState,
    node: &Node,
    events: Vec<StoredEvent>,
    rejects: Vec<RejectRow>,
) -> ApiResult<CommitOutcome> {
    let messages = ingest_messages(
        &events,
        &rejects,
        node.config.max_message.as_u64() as usize,
        || node.token(),
    )
    .map_err(ApiError::internal)?;
    let mut total = CommitOutcome {
        recv_ms: 0,
        inserted: Vec::with_capacity(events.len()),
        accepted: 0,
        duplicates: 0,
        commit_events: events.len() as u64,
        first_in_commit: true,
        seqs: Vec::with_capacity(events.len()),
    };
    for (token, message) in messages {
        let outcome = publish_one(node, &token, message).await;
        if outcome.is_err() {
            app.metrics.overloaded.fetch_add(1, Ordering::Relaxed);
        }
        let (outcome, _) = outcome?;
        total.recv_ms = total.recv_ms.max(outcome.recv_ms);
        total.accepted += outcome.accepted;
        total.duplicates += outcome.duplicates;
        total.inserted.extend(outcome.inserted);
        total.seqs.extend(outcome.seqs);
    }
    Ok(total)
}

/// Publishes one message and waits until this node applied it: its outcome, and an action's
/// answer.
pub(crate) async fn publish_one(
    node: &Node,
    token: &str,
    message: Outgoing,
) -> ApiResult<(CommitOutcome, Option<Option<serde_json::Value>>)> {
    let applied = node.wait_for(token);
    let result = publish_acked(node, &message).await;
    let ack = match result {
        Ok(ack) => ack,
        Err(e) => {
            node.forget(token);
            return Err(e);
        }
    };
    let apply_timeout = node.config.apply_timeout.to_duration();
    if ack.duplicate {
        // A retry JetStream dropped: the first copy holds these events. Answer once this node
        // applied it, so the client still reads its writes here.
        node.forget(token);
        wait_applied(node, ack.sequence, apply_timeout).await?;
        let outcome = CommitOutcome {
            recv_ms: 0,
            inserted: vec![false; message.events],
            accepted: 0,
            duplicates: message.events as u64,
            commit_events: 0,
            first_in_commit: false,
            seqs: vec![0; message.events],
        };
        return Ok((outcome, None));
    }
    match tokio::time::timeout(apply_timeout, applied).await {
        Ok(Ok(Ok(applied))) => Ok(applied),
        Ok(Ok(Err(store))) => Err(unavailable(format!(
            "the events are in the cluster's log (stream sequence {}) but this collector could \
             not apply them yet ({store}); retry: the retry is recognised as a duplicate",
            ack.sequence
        ))),
        Ok(Err(_)) | Err(_) => {
            node.forget(token);
            Err(unavailable(format!(
                "the events are in the cluster's log (stream sequence {}) but this collector \
                 has not applied them within cluster.apply_timeout; retry: the retry is \
                 recognised as a duplicate",
                ack.sequence
            )))
        }
    }
}

async fn publish_acked(
    node: &Node,
    message: &Outgoing,
) -> ApiResult<async_nats::jetstream::publish::PublishAck> {
    let mut headers = HeaderMap::new();
    if let Some(id) = &message.msg_id {
        headers.insert("Nats-Msg-Id", id.as_str());
    }
    let subject = node.config.subject.clone();
    let timeout = node.config.ack_timeout.to_duration();
    let payload = bytes::Bytes::from(message.payload.clone());
    let attempt = async {
        let future = node
            .js
            .publish_with_headers(subject, headers, payload)
            .await
            .map_err(|e| e.to_string())?;
        future.await.map_err(|e| e.to_string())
    };
    match tokio::time::timeout(timeout, attempt).await {
        Ok(Ok(ack)) => Ok(ack),
        Ok(Err(e)) => Err(unavailable(format!(
            "the cluster's log (NATS JetStream stream `{}`) did not take the events ({e}); \
             nothing is acknowledged, retry after the Retry-After delay",
            node.config.stream
        ))),
        Err(_) => Err(unavailable(format!(
            "the cluster's log (NATS JetStream stream `{}`) did not acknowledge within \
             cluster.ack_timeout; retry after the Retry-After delay (a retry is recognised as a \
             duplicate if the first attempt got through)",
            node.config.stream
        ))),
    }
}

/// Waits until this node applied the stream up to `seq`.
pub(crate) async fn wait_applied(node: &Node, seq: u64, timeout: Duration) -> ApiResult<()> {
    let mut rx = node.applied.subscribe();
    let reached = tokio::time::timeout(timeout, rx.wait_for(|at| *at >= seq))
        .await
        .is_ok_and(|r| r.is_ok());
    if reached {
        return Ok(());
    }
    Err(unavailable(format!(
        "the cluster's log holds this at stream sequence {seq}, which this collector has not \
         applied within cluster.apply_timeout; retry"
    )))
}
