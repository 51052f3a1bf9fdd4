//! Fan-out: one typed stream of committed batches. After each commit the writer hands the
//! committed rows (events, alert changes, budget changes), in sequence order, to the
//! [`Publisher`] — only when someone listens, so an idle collector does no extra work. The
//! fan-out task shapes them into [`Message`]s off the writer's thread and broadcasts them on the
//! [`Hub`], which queues them per subscriber. Every consumer subscribes on its own task (the SSE stream today; a console,
//! notifications or a cluster publisher next), and a consumer that falls a whole buffer (`stream.buffer` commits or `stream.max_pending`
//! bytes) behind is dropped (it replays from the store), never slowing ingest or the others.

use crate::view::event_json;
use playtrace_core::alert::Severity;
use playtrace_store::{Kind, StoredEvent};
use serde_json::Value;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::{mpsc, Notify};

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

/// The messages of one commit job, in sequence order (queued as one unit, so a subscriber's
/// buffer counts commits, not events, and one large batch never overflows a healthy one).
pub(crate) type Batch = Vec<Message>;

/// What a queued batch costs a subscriber, in bytes: the message text and the stored row.
fn batch_bytes(batch: &Batch) -> u64 {
    batch
        .iter()
        .map(|m| (m.data.len() + m.record.body.len() + 128) as u64)
        .sum()
}

/// Stream counters for `/metrics`.
#[derive(Default)]
pub(crate) struct StreamMetrics {
    /// Connected subscribers.
    pub(crate) subscribers: AtomicU64,
    /// Messages sent to subscribers.
    pub(crate) sent: AtomicU64,
    /// Subscribers disconnected for falling behind.
    pub(crate) lag_disconnects: AtomicU64,
    /// Subscribers disconnected for holding more than `stream.max_pending` bytes.
    pub(crate) overflow_disconnects: AtomicU64,
    /// `reset` messages sent.
    pub(crate) resets: AtomicU64,
    /// Connections closed because the client stopped reading (`stream.send_timeout`).
    pub(crate) send_timeouts: Arc<AtomicU64>,
}

/// Why a subscription ended before the collector stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ended {
    /// It fell `stream.buffer` commits behind.
    Lagged,
    /// Its waiting batches passed `stream.max_pending` bytes.
    Overflow,
}

/// One subscriber's waiting batches. The hub owns them, so a subscriber that stops reading is
/// cut off — and its batches freed — by the publisher, not by a task that may never run again.
#[derive(Default)]
struct Queue {
    batches: VecDeque<(Arc<Batch>, u64)>,
    bytes: u64,
    ended: Option<Ended>,
}

struct Slot {
    queue: Mutex<Queue>,
    wake: Notify,
    events: bool,
}

impl Slot {
    fn lock(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The broadcast side.
pub(crate) struct Hub {
    slots: Mutex<Vec<Arc<Slot>>>,
    /// Commits one subscriber may fall behind.
    buffer: usize,
    /// Bytes one subscriber may have waiting.
    max_pending: u64,
    /// Subscribers that want events (the rest want only alerts/budgets: event messages are not
    /// even built for them, and commits without alerts do not wake them).
    event_subscribers: AtomicUsize,
    /// Set when the collector stops: streams never end by themselves, so graceful shutdown
    /// (which waits for every response) would wait forever without it.
    closing: tokio::sync::watch::Sender<bool>,
    /// Counters.
    pub(crate) metrics: StreamMetrics,
}

/// A subscription; dropping it unsubscribes (and frees what waited for it).
pub(crate) struct Subscription {
    hub: Arc<Hub>,
    slot: Arc<Slot>,
    /// Becomes `true` when the collector stops.
    pub(crate) closing: tokio::sync::watch::Receiver<bool>,
}

impl Subscription {
    /// The next committed batch, or why this subscriber was cut off.
    pub(crate) async fn recv(&self) -> Result<Arc<Batch>, Ended> {
        loop {
            {
                let mut q = self.slot.lock();
                if let Some((batch, bytes)) = q.batches.pop_front() {
                    q.bytes -= bytes;
                    return Ok(batch);
                }
                if let Some(why) = q.ended {
                    return Err(why);
                }
            }
            self.slot.wake.notified().await;
        }
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        // A slot the hub cut off has already left the list (and the event count).
        let mut slots = self.hub.lock_slots();
        if let Some(at) = slots.iter().position(|s| Arc::ptr_eq(s, &self.slot)) {
            slots.swap_remove(at);
            if self.slot.events {
                self.hub.event_subscribers.fetch_sub(1, Ordering::Relaxed);
            }
        }
        drop(slots);
        self.hub.metrics.subscribers.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Hub {
    /// A hub whose subscribers may fall `buffer` commits or `max_pending` bytes behind before
    /// being disconnected.
    pub(crate) fn new(buffer: usize, max_pending: u64) -> Hub {
        Hub {
            slots: Mutex::new(Vec::new()),
            buffer: buffer.max(1),
            max_pending: max_pending.max(1),
            closing: tokio::sync::watch::Sender::new(false),
            event_subscribers: AtomicUsize::new(0),
            metrics: StreamMetrics::default(),
        }
    }

    fn lock_slots(&self) -> std::sync::MutexGuard<'_, Vec<Arc<Slot>>> {
        self.slots.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Subscribes to every batch committed from now on; `events`: whether telemetry events are
    /// wanted too (not only alerts and budgets).
    pub(crate) fn subscribe(self: &Arc<Self>, events: bool) -> Subscription {
        // Counted before subscribing, so no commit after the subscription skips its events.
        if events {
            self.event_subscribers.fetch_add(1, Ordering::Relaxed);
        }
        let slot = Arc::new(Slot {
            queue: Mutex::new(Queue::default()),
            wake: Notify::new(),
            events,
        });
        self.lock_slots().push(slot.clone());
        self.metrics.subscribers.fetch_add(1, Ordering::Relaxed);
        Subscription {
            hub: self.clone(),
            slot,
            closing: self.closing.subscribe(),
        }
    }

    /// Ends every stream (the collector is stopping); clients reconnect with Last-Event-ID.
    pub(crate) fn close(&self) {
        self.closing.send_replace(true);
    }

    /// Whether anyone listens (messages are built only then).
    pub(crate) fn has_subscribers(&self) -> bool {
        !self.lock_slots().is_empty()
    }

    /// Whether anyone listens to events (not only alerts and budgets).
    pub(crate) fn wants_events(&self) -> bool {
        self.event_subscribers.load(Ordering::Relaxed) > 0
    }

    /// Queues the committed messages of one job for every subscriber; one that would fall
    /// `buffer` commits or `max_pending` bytes behind is cut off and its queue freed.
    pub(crate) fn publish(&self, batch: Batch) {
        if batch.is_empty() {
            return;
        }
        let bytes = batch_bytes(&batch);
        let only_events = batch.iter().all(|m| m.record.kind == Kind::Event);
        let batch = Arc::new(batch);
        let mut slots = self.lock_slots();
        let mut cut = false;
        for slot in slots.iter() {
            if only_events && !slot.events {
                continue;
            }
            let mut q = slot.lock();
            if q.ended.is_some() {
                continue;
            }
            let ended = if q.batches.len() >= self.buffer {
                self.metrics.lag_disconnects.fetch_add(1, Ordering::Relaxed);
                Some(Ended::Lagged)
            } else if q.bytes + bytes > self.max_pending && !q.batches.is_empty() {
                self.metrics
                    .overflow_disconnects
                    .fetch_add(1, Ordering::Relaxed);
                Some(Ended::Overflow)
            } else {
                None
            };
            match ended {
                Some(why) => {
                    cut = true;
                    *q = Queue {
                        ended: Some(why),
                        ..Queue::default()
                    }
                }
                None => {
                    q.bytes += bytes;
                    q.batches.push_back((batch.clone(), bytes));
                }
            }
            drop(q);
            slot.wake.notify_one();
        }
        if cut {
            // A cut-off subscriber may take a while to hang up (its last bytes wait on a reader
            // that stopped reading): it leaves the list now, so commits no longer build messages
            // for it and a collector whose every subscriber was cut off stops fanning out.
            slots.retain(|slot| {
                let gone = slot.lock().ended.is_some();
                if gone && slot.events {
                    self.event_subscribers.fetch_sub(1, Ordering::Relaxed);
                }
                !gone
            });
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

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(seq: i64) -> Batch {
        vec![Message::of(StoredEvent {
            seq,
            recv_ms: 1_700_000_000_000,
            kind: Kind::Event,
            game: Default::default(),
            id: Some(format!("e{seq}").into()),
            name: "chat.message".into(),
            env: None,
            session: None,
            ts_ms: None,
            body: format!(r#"{{"event":"chat.message","id":"e{seq}"}}"#),
            subjects: Vec::new(),
        })]
    }

    /// A subscriber cut off for lagging leaves the fan-out at once, although its connection is
    /// still open: commits stop building messages for it, and the counts stay right when its
    /// connection finally ends.
    #[test]
    fn a_cut_off_subscriber_stops_costing_commits_before_it_hangs_up() {
        let hub = Arc::new(Hub::new(2, u64::MAX));
        let stalled = hub.subscribe(true);
        let alerts_only = hub.subscribe(false);
        assert!(hub.wants_events());
        for seq in 1..=3 {
            hub.publish(batch(seq));
        }
        assert_eq!(hub.metrics.lag_disconnects.load(Ordering::Relaxed), 1);
        assert!(!hub.wants_events(), "no one left wants events");
        assert!(hub.has_subscribers(), "the alerts-only subscriber stays");
        drop(alerts_only);
        assert!(
            !hub.has_subscribers(),
            "nobody listens any more: commits hand nothing on"
        );
        let ended = futures_util::FutureExt::now_or_never(stalled.recv());
        assert!(matches!(ended, Some(Err(Ended::Lagged))));
        drop(stalled);
        assert!(!hub.wants_events(), "the count did not go below zero");
        assert_eq!(hub.metrics.subscribers.load(Ordering::Relaxed), 0);
        let healthy = hub.subscribe(true);
        assert!(hub.wants_events());
        hub.publish(batch(4));
        let got = futures_util::FutureExt::now_or_never(healthy.recv());
        assert!(matches!(got, Some(Ok(b)) if b[0].record.seq == 4));
    }
}
