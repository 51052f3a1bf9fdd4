//! Every node applies the stream to its own store: a pull consumer from the store's own
//! bookmark (`cluster_position`, written in the transaction of each message's rows), in stream
//! order, through the same writer and commit hook as a single node's ingest, so dedup on
//! `(game, id)`, alert rules, live contests and the fan-out behave the same, and every store
//! gets the same rows under the same sequence numbers.
//!
//! The bookmark lives in the store rather than in a durable consumer's acknowledgements: the
//! rows and the position cannot disagree after a crash, and a node restarted with an empty data
//! directory simply starts from the first message. The consumer is recreated from the bookmark
//! whenever anything looks wrong (a gap, a missed heartbeat, a lost server, a failed commit).

use super::message::{Body, Envelope};
use super::node::Node;
use super::replicated::{Fence, Replicated};
use crate::app::AppState;
use crate::ingest::Parsed;
use crate::pipeline::{Ingested, Work};
use async_nats::jetstream::consumer::{pull, AckPolicy, DeliverPolicy};
use async_nats::jetstream::stream::{self, RawMessageErrorKind, StorageType};
use futures_util::StreamExt;
use playtrace_core::scan::ObservationBatch;
use playtrace_store::{ClusterPosition, Job, StoredEvent, SubmitError};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

/// Jobs submitted to the writer and not yet completed, at most (the writer's own queue bounds
/// the rest).
const MAX_IN_FLIGHT: usize = 4096;

/// Follows the stream until the collector stops, starting again from the store's bookmark
/// after any failure.
pub(crate) async fn run(app: Arc<AppState>, node: Arc<Node>) {
    let mut backoff = Duration::from_millis(50);
    let mut warned = false;
    loop {
        match follow(&app, &node, &mut warned).await {
            Ok(()) => backoff = Duration::from_millis(50),
            Err(e) => {
                tracing::warn!(stream = %node.config.stream, "cluster log: {e}; following again from the store's position");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(2));
            }
        }
        if !app.writer_alive() {
            return;
        }
    }
}

/// Creates the stream when it is missing (every node may; the first one wins).
pub(crate) async fn ensure_stream(node: &Node) -> Result<stream::Stream, String> {
    let c = &node.config;
    node.js
        .get_or_create_stream(stream::Config {
            name: c.stream.clone(),
            subjects: vec![c.subject.clone()],
            num_replicas: c.replicas,
            storage: StorageType::File,
            duplicate_window: c.duplicate_window.to_duration(),
            ..Default::default()
        })
        .await
        .map_err(|e| format!("cannot open the stream `{}`: {e}", c.stream))
}

/// Waits until every job of an earlier attempt completed, so the bookmark read next is final.
async fn drain(node: &Node) {
    while node.in_flight.load(Ordering::Acquire) > 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Logs once what the connected NATS server's version does not guarantee (`version.rs`).
fn warn_version(node: &Node) {
    let version = node.client.server_info().version;
    for warning in super::version::warnings(&version) {
        tracing::warn!(%version, "{warning}");
    }
}

async fn follow(app: &Arc<AppState>, node: &Arc<Node>, warned: &mut bool) -> Result<(), String> {
    drain(node).await;
    node.failed.store(false, Ordering::Release);
    let reader = app.reader.clone();
    let position = tokio::task::spawn_blocking(move || reader.cluster_position())
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
    node.applied.send_replace(position.stream_seq);
    let stream = ensure_stream(node).await?;
    if !*warned {
        *warned = true;
        warn_version(node);
    }
    let consumer = stream
        .create_consumer(pull::Config {
            deliver_policy: DeliverPolicy::ByStartSequence {
                start_sequence: position.stream_seq + 1,
            },
            // The bookmark is the store's; acknowledgements only keep the server from
            // redelivering (a redelivered message is skipped by its sequence).
            ack_policy: AckPolicy::All,
            ack_wait: Duration::from_secs(300),
            max_ack_pending: 100_000,
            inactive_threshold: Duration::from_secs(30),
            num_replicas: 1,
            memory_storage: true,
            ..Default::default()
        })
        .await
        .map_err(|e| format!("cannot create a consumer: {e}"))?;
    let mut messages = consumer
        .stream()
        .max_messages_per_batch(512)
        .heartbeat(Duration::from_secs(1))
        .expires(Duration::from_secs(5))
        .messages()
        .await
        .map_err(|e| format!("cannot pull: {e}"))?;
    let (mut prev, mut last_recv) = (position.stream_seq, position.recv_ms);
    while let Some(item) = messages.next().await {
        if node.failed.load(Ordering::Acquire) {
            return Err("a commit failed".into());
        }
        let msg = item.map_err(|e| format!("pull failed: {e}"))?;
        let info = msg.info().map_err(|e| e.to_string())?;
        let (seq, pending) = (info.stream_sequence, info.pending);
        let published_ms = (info.published.unix_timestamp_nanos() / 1_000_000) as i64;
        if seq <= prev {
            continue;
        }
        if seq != prev + 1 {
            // Only a stream that dropped old messages (its limits) explains a gap; anything
            // else is a lost delivery: start again from the bookmark.
            let first = stream
                .get_info()
                .await
                .map_err(|e| e.to_string())?
                .state
                .first_sequence;
            if seq > first {
                return Err(format!(
                    "message {seq} arrived after {prev}: a delivery was lost"
                ));
            }
            // Skipping loses those messages on this node for good, so the stream itself must
            // say it no longer holds the first of them: stream info read while a server is being
            // replaced is not evidence enough, and following again from the bookmark is always
            // safe.
            match stream.get_raw_message(prev + 1).await {
                Err(e) if e.kind() == RawMessageErrorKind::NoMessageFound => {}
                Ok(_) => {
                    return Err(format!(
                        "message {seq} arrived after {prev} while the stream still holds {}: a \
                         delivery was lost",
                        prev + 1
                    ))
                }
                Err(e) => {
                    return Err(format!(
                        "message {seq} arrived after {prev}, and the stream cannot say whether \
                         it still holds {} ({e})",
                        prev + 1
                    ))
                }
            }
            tracing::warn!(
                from = prev + 1,
                to = seq - 1,
                "the stream no longer holds these messages (its limits removed them): this \
                 store lacks them"
            );
        }
        // Receive times never go backwards with the sequence (retention relies on it); every
        // node computes the same from the same messages.
        let recv_ms = published_ms.max(last_recv);
        let job = job(
            app,
            node,
            &msg.payload,
            prev,
            ClusterPosition {
                stream_seq: seq,
                recv_ms,
            },
        );
        submit(app, node, job).await?;
        (prev, last_recv) = (seq, recv_ms);
        if pending == 0 || seq & 255 == 0 {
            msg.ack().await.map_err(|e| format!("ack failed: {e}"))?;
        }
    }
    Err("the consumer's message stream ended".into())
}

async fn submit(app: &AppState, node: &Node, mut job: Job<Work>) -> Result<(), String> {
    while node.in_flight.load(Ordering::Acquire) >= MAX_IN_FLIGHT {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    node.in_flight.fetch_add(1, Ordering::AcqRel);
    loop {
        match app.submit(job) {
            Ok(()) => return Ok(()),
            Err(SubmitError::Full(back)) => {
                job = *back;
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            Err(SubmitError::Closed(back)) => {
                if !app.is_rebuilding() {
                    // Completing the job releases its in-flight count.
                    (back.done)(Err(playtrace_store::StoreError::Commit(
                        "the collector is stopping".into(),
                    )));
                    return Err("the store's writer stopped".into());
                }
                job = *back;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
}

/// The writer job of one message: its rows and what a single node would derive from them.
fn job(
    app: &AppState,
    node: &Arc<Node>,
    payload: &[u8],
    prev: u64,
    position: ClusterPosition,
) -> Job<Work> {
    let mut answer = None;
    let mut fence = Fence::Open;
    let (origin, events, rejects, work) = match serde_json::from_slice::<Envelope>(payload) {
        Ok(Envelope {
            origin,
            body: Body::Ingest { events, rejects },
        }) => {
            let events: Vec<StoredEvent> = events.into_iter().map(|r| r.into_event()).collect();
            let work = ingested(app, &events);
            let rejects = rejects.into_iter().map(|r| r.into_row()).collect();
            (origin, events, rejects, work)
        }
        Ok(Envelope { origin, body }) => {
            if body.holder_only() {
                fence = Fence::HolderOnly(origin.clone());
            } else if let Body::Lease { holder } = &body {
                fence = Fence::Announce(holder.clone());
            }
            let (work, result) = super::actions::work(body)
                .unwrap_or_else(|| (Work::Ingest(Ingested::default()), Arc::default()));
            answer = Some(result);
            (origin, Vec::new(), Vec::new(), work)
        }
        Err(e) => {
            // Written by a newer release, or not by PlayTrace: skipped (the bookmark moves on)
            // so the rest of the log still applies.
            tracing::error!(
                stream_seq = position.stream_seq,
                "cluster log: message {} is not one this collector reads ({e}); skipped",
                position.stream_seq
            );
            (
                None,
                Vec::new(),
                Vec::new(),
                Work::Ingest(Ingested::default()),
            )
        }
    };
    let seq = position.stream_seq;
    let node = node.clone();
    Job {
        events,
        rejects,
        extra: Work::Replicated(Box::new(Replicated {
            prev,
            position,
            work,
            fence,
        })),
        done: Box::new(move |result| {
            match result {
                Ok(outcome) => {
                    node.applied.send_modify(|at| *at = (*at).max(seq));
                    let answer =
                        answer.and_then(|a| a.lock().unwrap_or_else(|p| p.into_inner()).take());
                    node.applied_one(origin.as_deref(), Ok((outcome, answer)));
                }
                Err(e) => {
                    node.failed.store(true, Ordering::Release);
                    node.applied_one(origin.as_deref(), Err(e.to_string()));
                }
            }
            node.in_flight.fetch_sub(1, Ordering::AcqRel);
        }),
    }
}

/// The contest observations and alert candidates of the rows, read from the stored bodies as
/// the start-up rebuild reads them (each body is one event).
fn ingested(app: &AppState, events: &[StoredEvent]) -> Work {
    let mut parsed = Parsed::default();
    if !app.config.dimensions.is_empty() {
        parsed
            .observations
            .set_dim_attrs(app.config.dimensions.attrs());
    }
    for (i, e) in events.iter().enumerate() {
        parsed.push_text(i as u32 + 1, &e.body);
    }
    let observations = if parsed.events.len() == events.len() {
        parsed.observations
    } else {
        ObservationBatch::default()
    };
    let rules = app.rules.read().unwrap_or_else(|p| p.into_inner()).clone();
    Work::Ingest(Ingested::new(&rules, events, observations))
}
