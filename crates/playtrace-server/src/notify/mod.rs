//! Alert notifications that reach people (SPEC §4): routes and groups with Alertmanager's
//! meanings, webhooks with Alertmanager's payload (version 4), a real Alertmanager as a target,
//! all from a durable outbox.
//!
//! - Inside the writer's transaction, [`record`] journals each alert change, durable with the
//!   change itself; nothing else of notifications runs on the writer's thread. The flusher
//!   routes journaled changes to their receivers' groups ([`route`]: probe, seeded and
//!   silenced alerts never get there) and applies them in its batched flush.
//! - Everything else runs on the notifier's own tasks (`worker.rs`), never on the writer's
//!   thread: due groups become notifications in the outbox (`payload.rs` decides and shapes),
//!   each receiver's task sends them (`send.rs`) with backoff, `Retry-After`, a circuit breaker
//!   and a rate limit (`policy.rs`), and records the result. A crash between send and record
//!   sends again with the same `Idempotency-Key`.
//!
//! The configuration is read at start (a reload does not change receivers or routes).

mod metrics;
mod payload;
mod plain;
mod policy;
mod queue;
pub(crate) mod routing;
mod send;
mod standby;
mod worker;

use crate::config::{Notify, Receiver, ServeConfig};
use crate::fanout::Hub;
use metrics::ReceiverMetrics;
use playtrace_store::{Change, GroupSpec, Kind, Outbox, Store, StoreError, StoredEvent, Tx};
use routing::{labels, Routing};
use serde_json::{json, Value};
use std::sync::Arc;
use tokio::task::JoinHandle;

pub(crate) use standby::SendGate;

/// The running notifier: its configuration, outbox connection and HTTP clients.
pub(crate) struct Notifier {
    config: Notify,
    receivers: Vec<Receiver>,
    external_url: String,
    pub(crate) outbox: Arc<Outbox>,
    clients: send::Clients,
    /// Each receiver's URL and headers, parsed once.
    targets: Vec<send::Target>,
    metrics: Vec<Arc<ReceiverMetrics>>,
    flush_wake: tokio::sync::Notify,
    wakes: Vec<tokio::sync::Notify>,
    /// Each receiver's pending notifications in memory (its loop reads the store rarely).
    queues: Vec<std::sync::Mutex<queue::Queue>>,
    /// Held by the flusher through a flush (its reads, its commit, until its notifications are
    /// in the queues), and by a read of the store until what it read is: so a read never
    /// brings back one that was queued, sent and recorded meanwhile.
    handoff: std::sync::Mutex<()>,
    /// Attempts to record (batched by the recorder task, which takes the receiving end).
    record_tx: tokio::sync::mpsc::UnboundedSender<worker::Recorded>,
    record_rx: std::sync::Mutex<Option<tokio::sync::mpsc::UnboundedReceiver<worker::Recorded>>>,
    /// In cluster mode: send only while this collector holds the lease (`standby.rs`).
    gate: std::sync::OnceLock<SendGate>,
}

impl Notifier {
    fn receiver(&self, name: &str) -> Option<&Receiver> {
        self.receivers.iter().find(|r| r.name == name)
    }

    fn index(&self, name: &str) -> Option<usize> {
        self.receivers.iter().position(|r| r.name == name)
    }

    /// Sends only while `gate` says so (cluster mode); set before the tasks start.
    pub(crate) fn send_only_while(&self, gate: SendGate) {
        let _ = self.gate.set(gate);
    }

    /// Makes a receiver read its queue from the store again, now (after
    /// `POST /v1/notifications/{id}/retry` changed a notification there).
    pub(crate) fn wake(&self, receiver: &str) {
        if let Some(i) = self.index(receiver) {
            self.queue(i).reload();
            self.wakes[i].notify_one();
        }
    }

    /// After an erasure committed (`POST /v1/erasures`): drops every copy of alerts and
    /// notifications held in memory — the outbox's pending group changes and each receiver's
    /// queue — so nothing from before the erasure is sent or written back; all is read again
    /// from the scrubbed store. Waits for a flush or a read of the store that is running (it
    /// holds the handoff) to end first. Blocking. A notification being sent now may still go
    /// out (docs/PRIVACY.md).
    pub(crate) fn erased(&self) {
        let _handoff = self.handoff.lock().unwrap_or_else(|p| p.into_inner());
        self.outbox.forget_held();
        for (i, wake) in self.wakes.iter().enumerate() {
            self.queue(i).erased();
            wake.notify_one();
        }
        self.flush_wake.notify_one();
    }

    fn queue(&self, i: usize) -> std::sync::MutexGuard<'_, queue::Queue> {
        self.queues[i].lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The notifier, with its outbox open, when receivers are configured (`addr`: where the
/// collector listens, the default external URL).
pub(crate) fn open(
    config: &Notify,
    store: &Store,
    addr: std::net::SocketAddr,
) -> Result<Option<Arc<Notifier>>, String> {
    if config.receivers.is_empty() {
        return Ok(None);
    }
    let outbox = store.outbox().map_err(|e| e.to_string())?;
    let routing = Routing::new(config);
    outbox.route_with(Arc::new(move |body: &str| route(&routing, body)));
    let (record_tx, record_rx) = tokio::sync::mpsc::unbounded_channel();
    let notifier = Notifier {
        external_url: config
            .external_url
            .clone()
            .unwrap_or_else(|| format!("http://{addr}")),
        outbox: Arc::new(outbox),
        clients: send::clients()?,
        targets: config.receivers.iter().map(send::Target::new).collect(),
        metrics: config
            .receivers
            .iter()
            .map(|r| Arc::new(ReceiverMetrics::new(&r.name)))
            .collect(),
        flush_wake: tokio::sync::Notify::new(),
        wakes: config
            .receivers
            .iter()
            .map(|_| tokio::sync::Notify::new())
            .collect(),
        queues: config
            .receivers
            .iter()
            .map(|_| std::sync::Mutex::new(queue::Queue::new()))
            .collect(),
        handoff: std::sync::Mutex::new(()),
        receivers: config.receivers.clone(),
        config: config.clone(),
        record_tx,
        record_rx: std::sync::Mutex::new(Some(record_rx)),
        gate: std::sync::OnceLock::new(),
    };
    Ok(Some(Arc::new(notifier)))
}

/// Starts the notifier's tasks (none without receivers); abort them to stop.
pub(crate) fn start(notifier: Option<&Arc<Notifier>>, hub: &Arc<Hub>) -> Vec<JoinHandle<()>> {
    match notifier {
        Some(n) => worker::start(n, hub),
        None => Vec::new(),
    }
}

/// Inside the writer's transaction: each alert change among `rows` is journaled, durable with
/// the change, and nothing more: the flusher routes it ([`route`]) and applies it to its groups
/// on its own thread.
pub(crate) fn record(tx: &Tx<'_>, rows: &[StoredEvent]) -> Result<(), StoreError> {
    for row in rows.iter().filter(|r| r.kind == Kind::Alert) {
        tx.notify_journal(&row.body)?;
    }
    Ok(())
}

/// What a journaled alert change does to its groups (on the flusher's thread): a firing alert
/// joins the groups its routes give; a resolved one is marked in every group that holds it; a
/// silenced one leaves them without a word. Probe and seeded alerts never notify.
fn route(routing: &Routing, body: &str) -> Option<(String, Change)> {
    let alert = serde_json::from_str::<Value>(body).ok()?;
    if alert["probe"] == Value::Bool(true) || alert["seeded"] == Value::Bool(true) {
        return None;
    }
    let id = alert["id"].as_str()?.to_string();
    let change = match alert["state"].as_str()? {
        "firing" => {
            let groups: Vec<GroupSpec> = routing
                .targets(&id, &labels(&alert))
                .into_iter()
                .map(|t| GroupSpec {
                    receiver: t.receiver,
                    group_key: t.group_key,
                    labels: t.group_labels,
                    wait_ms: t.wait_ms,
                    interval_ms: t.interval_ms,
                    repeat_ms: t.repeat_ms,
                })
                .collect();
            if groups.is_empty() {
                return None;
            }
            Change::Firing(groups)
        }
        "resolved" => Change::Resolved,
        "silenced" => Change::Withdrawn,
        _ => return None,
    };
    Some((id, change))
}

/// Appends the notification metrics (nothing without receivers).
pub(crate) async fn render_metrics(notifier: Option<&Arc<Notifier>>, out: &mut String) {
    let Some(n) = notifier else {
        return;
    };
    let outbox = n.outbox.clone();
    let depths = tokio::task::spawn_blocking(move || outbox.depths())
        .await
        .ok()
        .and_then(Result::ok)
        .unwrap_or_default();
    metrics::render(
        out,
        &n.metrics,
        &depths,
        n.outbox.reads(),
        n.outbox.commits(),
    );
}

/// What a receiver answered to a test notification (`playtrace notify test`).
#[derive(Debug, Clone)]
pub struct TestAnswer {
    /// The URL posted to.
    pub url: String,
    /// The HTTP status, when there was an answer.
    pub status: Option<u16>,
    /// The answer's body.
    pub body: String,
    /// `None` when delivered; else what went wrong and whether a retry could help.
    pub error: Option<String>,
}

/// Sends one test notification to the receiver named `name` of `config`, once, with no retry,
/// and returns its answer. Errors name the receiver and the receivers there are.
pub async fn send_test(config: &ServeConfig, name: &str) -> Result<TestAnswer, String> {
    let Some(r) = config.notify.receivers.iter().find(|r| r.name == name) else {
        let names: Vec<&str> = config
            .notify
            .receivers
            .iter()
            .map(|r| r.name.as_str())
            .collect();
        return Err(if names.is_empty() {
            "the config has no [[notify.receivers]]; add one (see docs/CONFIG.md)".to_string()
        } else {
            format!(
                "no receiver is named `{name}`; the receivers are: {}",
                names.join(", ")
            )
        });
    };
    let now = playtrace_store::now_ms();
    let external = config
        .notify
        .external_url
        .clone()
        .unwrap_or_else(|| format!("http://{}", config.listen));
    let alert = json!({
        "id": "al_0000000000000000", "rule": "playtrace.test", "category": "pipeline",
        "severity": "info", "reason": "a test notification from playtrace notify test",
        "state": "firing", "game": Value::Null, "env": Value::Null, "sessionId": Value::Null,
        "createdAt": crate::view::ms_text(Some(now)), "data": {"test": true},
    });
    let body = match r.kind {
        crate::config::ReceiverKind::Webhook => payload::webhook_body(&payload::WebhookGroup {
            receiver: &r.name,
            group_key: "{}:{alertname=\"playtrace.test\"}",
            group_labels: json!({"alertname": "playtrace.test"}),
            external_url: &external,
            alerts: vec![(alert, true)],
            truncated: 0,
        }),
        // Ends by itself after five minutes in Alertmanager.
        crate::config::ReceiverKind::Alertmanager => {
            payload::alertmanager_body(&[(alert, true)], &external, now, 300_000)
        }
    };
    let clients = send::clients()?;
    let answer = send::post(&clients, r, &payload::new_id(now), &body.to_string()).await;
    let error = match answer.outcome {
        send::Outcome::Sent => None,
        send::Outcome::Transient { error, .. } => {
            Some(format!("{error} (transient: the outbox would retry)"))
        }
        send::Outcome::Permanent { error } => {
            Some(format!("{error} (permanent: the outbox would give up)"))
        }
    };
    Ok(TestAnswer {
        url: send::target_url(r),
        status: answer.status,
        body: answer.body,
        error,
    })
}
