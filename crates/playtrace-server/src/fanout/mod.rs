//! Fan-out: one typed stream of committed batches. After each commit the writer hands the
//! committed rows (events, alert changes, budget changes), in sequence order, to the
//! [`Publisher`] — only when someone listens, so an idle collector does no extra work. The
//! fan-out task shapes them into [`Message`]s off the writer's thread and broadcasts them on the
//! [`Hub`]. Every consumer subscribes on its own task (the SSE stream today; a console,
//! notifications or a cluster publisher next), and a consumer that falls a whole buffer behind is
//! dropped (it replays from the store), never slowing ingest or the others.

use crate::view::event_json;
use playtrace_core::alert::Severity;
use playtrace_store::{Kind, StoredEvent};
use serde_json::Value;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use tokio::sync::{broadcast, mpsc};

/// One committed row, ready to send.
#[derive(Debug)]
pub(crate) struct Message {
    /// The row as stored (`seq` is the SSE `id`).
    pub(crate) record: StoredEvent,
    /// Alert severity (alerts only), for `min_severity` filters.
    pub(crate) severity: Option<Severity>,
    /// The JSON object sent as `data`.
    pub(crate) data: String,
}

impl Message {
    /// The message for a stored row: the same whether it was just committed or is replayed.
    pub(crate) fn of(record: StoredEvent) -> Message {
        let (data, severity) = match record.kind {
            Kind::Event => (event_json(&record).to_string(), None),
            Kind::Alert | Kind::Budget => {
                let severity = serde_json::from_str::<Value>(&record.body)
                    .ok()
                    .and_then(|v| v["severity"].as_str().and_then(Severity::parse));
                (record.body.clone(), severity)
            }
        };
        Message {
            record,
            severity,
            data,
        }
    }
}

/// The messages of one commit job, in sequence order (broadcast as one unit, so a subscriber's
/// buffer counts commits, not events, and one large batch never overflows a healthy one).
pub(crate) type Batch = Vec<Message>;

/// Stream counters for `/metrics`.
#[derive(Default)]
pub(crate) struct StreamMetrics {
    /// Connected subscribers.
    pub(crate) subscribers: AtomicU64,
    /// Messages sent to subscribers.
    pub(crate) sent: AtomicU64,
    /// Subscribers disconnected for falling behind.
    pub(crate) lag_disconnects: AtomicU64,
    /// `reset` messages sent.
    pub(crate) resets: AtomicU64,
    /// Connections closed because the client stopped reading (`stream.send_timeout`).
    pub(crate) send_timeouts: Arc<AtomicU64>,
}

/// The broadcast side.
pub(crate) struct Hub {
    tx: broadcast::Sender<Arc<Batch>>,
    /// Subscribers that want events (the rest want only alerts/budgets: event messages are not
    /// even built for them, and commits without alerts do not wake them).
    event_subscribers: AtomicUsize,
    /// Set when the collector stops: streams never end by themselves, so graceful shutdown
    /// (which waits for every response) would wait forever without it.
    closing: tokio::sync::watch::Sender<bool>,
    /// Counters.
    pub(crate) metrics: StreamMetrics,
}

/// A subscription; dropping it unsubscribes.
pub(crate) struct Subscription {
    hub: Arc<Hub>,
    events: bool,
    /// Committed batches.
    pub(crate) rx: broadcast::Receiver<Arc<Batch>>,
    /// Becomes `true` when the collector stops.
    pub(crate) closing: tokio::sync::watch::Receiver<bool>,
}

impl Drop for Subscription {
    fn drop(&mut self) {
        if self.events {
            self.hub.event_subscribers.fetch_sub(1, Ordering::Relaxed);
        }
        self.hub.metrics.subscribers.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Hub {
    /// A hub whose subscribers may fall `buffer` commits behind before being disconnected.
    pub(crate) fn new(buffer: usize) -> Hub {
        let (tx, _) = broadcast::channel(buffer.max(16));
        Hub {
            tx,
            closing: tokio::sync::watch::Sender::new(false),
            event_subscribers: AtomicUsize::new(0),
            metrics: StreamMetrics::default(),
        }
    }

    /// Subscribes to every batch committed from now on; `events`: whether telemetry events are
    /// wanted too (not only alerts and budgets).
    pub(crate) fn subscribe(self: &Arc<Self>, events: bool) -> Subscription {
        // Counted before subscribing, so no commit after the subscription skips its events.
        if events {
            self.event_subscribers.fetch_add(1, Ordering::Relaxed);
        }
        let rx = self.tx.subscribe();
        self.metrics.subscribers.fetch_add(1, Ordering::Relaxed);
        Subscription {
            hub: self.clone(),
            events,
            rx,
            closing: self.closing.subscribe(),
        }
    }

    /// Ends every stream (the collector is stopping); clients reconnect with Last-Event-ID.
    pub(crate) fn close(&self) {
        self.closing.send_replace(true);
    }

    /// Whether anyone listens (messages are built only then).
    pub(crate) fn has_subscribers(&self) -> bool {
        self.tx.receiver_count() > 0
    }

    /// Whether anyone listens to events (not only alerts and budgets).
    pub(crate) fn wants_events(&self) -> bool {
        self.event_subscribers.load(Ordering::Relaxed) > 0
    }

    /// Publishes the committed messages of one job.
    pub(crate) fn publish(&self, batch: Batch) {
        if !batch.is_empty() {
            let _ = self.tx.send(Arc::new(batch));
        }
    }
}

/// The writer's side of the fan-out: committed rows go to the fan-out task through a bounded
/// queue (so a fan-out that falls far behind slows commits instead of growing memory, and never
/// loses a row).
pub(crate) struct Publisher {
    tx: mpsc::Sender<Vec<StoredEvent>>,
    hub: Arc<Hub>,
}

impl Publisher {
    /// Whether anyone listens (rows are handed on only then).
    pub(crate) fn has_subscribers(&self) -> bool {
        self.hub.has_subscribers()
    }

    /// Whether anyone listens to telemetry events (not only alerts and budgets).
    pub(crate) fn wants_events(&self) -> bool {
        self.hub.wants_events()
    }

    /// Hands one job's committed rows, in sequence order, to the fan-out task. Called from the
    /// store's writer thread (not an async task).
    pub(crate) fn publish(&self, rows: Vec<StoredEvent>) {
        if !rows.is_empty() && self.tx.blocking_send(rows).is_err() {
            tracing::debug!("the fan-out task has stopped; committed rows not streamed");
        }
    }
}

/// Starts the fan-out task on the current runtime; it ends when the [`Publisher`] is dropped.
pub(crate) fn start(hub: Arc<Hub>, queue: usize) -> Publisher {
    let (tx, mut rx) = mpsc::channel::<Vec<StoredEvent>>(queue.max(16));
    let broadcast_hub = hub.clone();
    tokio::spawn(async move {
        while let Some(rows) = rx.recv().await {
            broadcast_hub.publish(rows.into_iter().map(Message::of).collect());
        }
    });
    Publisher { tx, hub }
}
