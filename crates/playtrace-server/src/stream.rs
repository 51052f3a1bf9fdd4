//! `GET /v1/stream`: Server-Sent Events over the store's one sequence (SPEC §5).
//!
//! After each commit the writer publishes the committed rows (events, alert changes) to a
//! broadcast [`Hub`] — only when someone listens, so an idle collector does no extra work. A
//! subscriber first replays from the store what it missed (`Last-Event-ID`), having subscribed to
//! the hub before reading, so nothing committed in between is lost; then it follows the hub,
//! skipping what it already sent. A subscriber that falls a whole buffer behind is disconnected
//! (it never slows ingest or the others) and replays from the store when it reconnects; it gets
//! `reset {lastEventId, missed}` only when retention already removed part of its gap.

use crate::api::{authorize_read, ApiError};
use crate::state::AppState;
use axum::extract::{Query, State};
use axum::http::{header as h, HeaderMap};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::stream;
use playtrace_core::alert::Severity;
use playtrace_store::{EventFilter, EventRecord, KIND_ALERT, KIND_BUDGET, KIND_EVENT};
use serde::Deserialize;
use serde_json::Value;
use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast;

/// One message on the stream.
#[derive(Debug)]
pub struct Message {
    /// Sequence number (the SSE `id`).
    pub seq: i64,
    /// [`KIND_EVENT`], [`KIND_ALERT`] or [`KIND_BUDGET`].
    pub kind: u8,
    /// Event name (for events), `alert.<category>` or `budget`.
    pub name: String,
    /// Game.
    pub game: Option<String>,
    /// Environment.
    pub env: Option<String>,
    /// Alert severity.
    pub severity: Option<Severity>,
    /// The JSON object sent as `data`.
    pub data: String,
}

impl Message {
    /// A message from a stored row (replay).
    pub fn from_record(r: &EventRecord) -> Message {
        let (data, severity) = if r.kind == KIND_EVENT {
            (crate::api::event_json(&r.into()).to_string(), None)
        } else {
            let severity = serde_json::from_str::<Value>(&r.body)
                .ok()
                .and_then(|v| v["severity"].as_str().and_then(Severity::parse));
            (r.body.clone(), severity)
        };
        Message {
            seq: r.seq,
            kind: r.kind,
            name: r.name.clone(),
            game: (!r.game.is_empty()).then(|| r.game.clone()),
            env: r.env.clone(),
            severity,
            data,
        }
    }

    fn sse(&self) -> Event {
        let kind = match self.kind {
            KIND_ALERT => "alert",
            KIND_BUDGET => "budget",
            _ => "event",
        };
        Event::default()
            .id(self.seq.to_string())
            .event(kind)
            .data(&self.data)
    }
}

/// Stream counters for `/metrics`.
#[derive(Default)]
pub struct StreamMetrics {
    /// Connected subscribers.
    pub subscribers: AtomicU64,
    /// Messages sent to subscribers.
    pub sent: AtomicU64,
    /// Subscribers disconnected for falling behind.
    pub lag_disconnects: AtomicU64,
    /// `reset` messages sent.
    pub resets: AtomicU64,
    /// Connections closed because the client stopped reading (`stream.send_timeout`).
    pub send_timeouts: Arc<AtomicU64>,
}

/// The messages of one commit job, in sequence order (broadcast as one unit, so a subscriber's
/// buffer counts commits, not events, and one large batch never overflows a healthy one).
pub type Batch = Vec<Message>;

/// The broadcast side.
pub struct Hub {
    tx: broadcast::Sender<Arc<Batch>>,
    /// Subscribers that want events (the rest want only alerts/budgets: event messages are not
    /// even built for them, and commits without alerts do not wake them).
    event_subscribers: std::sync::atomic::AtomicUsize,
    /// Set when the collector stops: streams never end by themselves, so graceful shutdown
    /// (which waits for every response) would wait forever without it.
    closing: tokio::sync::watch::Sender<bool>,
    /// Counters.
    pub metrics: StreamMetrics,
}

impl Hub {
    /// A hub whose subscribers may fall `buffer` commits behind before being disconnected.
    pub fn new(buffer: usize) -> Hub {
        let (tx, _) = broadcast::channel(buffer.max(16));
        Hub {
            tx,
            closing: tokio::sync::watch::Sender::new(false),
            event_subscribers: std::sync::atomic::AtomicUsize::new(0),
            metrics: StreamMetrics::default(),
        }
    }

    /// Ends every stream (the collector is stopping); clients reconnect with Last-Event-ID.
    pub fn close(&self) {
        self.closing.send_replace(true);
    }

    /// Whether anyone listens (messages are built only then).
    pub fn has_subscribers(&self) -> bool {
        self.tx.receiver_count() > 0
    }

    /// Whether anyone listens to events (not only alerts and budgets).
    pub fn wants_events(&self) -> bool {
        self.event_subscribers.load(Ordering::Relaxed) > 0
    }

    /// Publishes the committed messages of one job.
    pub fn publish(&self, batch: Batch) {
        if !batch.is_empty() {
            let _ = self.tx.send(Arc::new(batch));
        }
    }
}

/// Which messages a subscriber wants.
#[derive(Debug, Clone)]
pub struct Filter {
    events: bool,
    alerts: bool,
    budgets: bool,
    name: Option<String>,
    min_severity: Option<Severity>,
    game: Option<String>,
    env: Option<String>,
}

impl Filter {
    fn wants(&self, m: &Message) -> bool {
        let topic = match m.kind {
            KIND_EVENT => self.events,
            KIND_ALERT => self.alerts,
            KIND_BUDGET => self.budgets,
            _ => false,
        };
        topic
            && (m.kind != KIND_EVENT || self.name.as_deref().is_none_or(|p| m.name.starts_with(p)))
            && (m.kind != KIND_ALERT
                || self
                    .min_severity
                    .is_none_or(|min| m.severity.is_some_and(|s| s >= min)))
            && self
                .game
                .as_deref()
                .is_none_or(|g| m.game.as_deref() == Some(g))
            && self
                .env
                .as_deref()
                .is_none_or(|e| m.env.as_deref() == Some(e))
    }
}

/// Query parameters of `GET /v1/stream`.
#[derive(Debug, Deserialize)]
pub struct StreamParams {
    topics: Option<String>,
    name: Option<String>,
    min_severity: Option<String>,
    game: Option<String>,
    env: Option<String>,
    last_event_id: Option<String>,
    token: Option<String>,
}

fn filter_of(p: &StreamParams) -> Result<Filter, ApiError> {
    let mut f = Filter {
        events: true,
        alerts: true,
        budgets: true,
        name: p.name.clone().filter(|n| !n.is_empty()),
        min_severity: None,
        game: p.game.clone(),
        env: p.env.clone(),
    };
    if let Some(topics) = p.topics.as_deref().filter(|t| !t.is_empty()) {
        f.events = false;
        f.alerts = false;
        f.budgets = false;
        for t in topics.split(',') {
            match t.trim() {
                "events" => f.events = true,
                "alerts" => f.alerts = true,
                "budgets" => f.budgets = true,
                other => {
                    return Err(ApiError::bad_request(format!(
                        "topics: `{other}` is not a topic; use events, alerts, budgets (comma-separated)"
                    )))
                }
            }
        }
    }
    if let Some(s) = p.min_severity.as_deref().filter(|s| !s.is_empty()) {
        f.min_severity = Some(Severity::parse(s).ok_or_else(|| {
            ApiError::bad_request(format!(
                "min_severity: `{s}` is not one of info, low, medium, high, critical"
            ))
        })?);
    }
    Ok(f)
}

/// How long a client should wait before reconnecting (the `retry:` hint).
const RETRY: Duration = Duration::from_millis(1000);
/// Rows read from the store per replay page.
const REPLAY_PAGE: usize = 1000;

struct Subscriber {
    app: Arc<AppState>,
    rx: broadcast::Receiver<Arc<Batch>>,
    closing: tokio::sync::watch::Receiver<bool>,
    filter: Filter,
    /// Highest sequence number handled (sent or filtered out).
    last: i64,
    /// Replaying from the store (until a page comes back short).
    replaying: bool,
    queue: VecDeque<Event>,
    done: bool,
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        if self.filter.events {
            self.app
                .hub
                .event_subscribers
                .fetch_sub(1, Ordering::Relaxed);
        }
        self.app
            .hub
            .metrics
            .subscribers
            .fetch_sub(1, Ordering::Relaxed);
    }
}

impl Subscriber {
    async fn next(mut self) -> Option<(Result<Event, Infallible>, Subscriber)> {
        loop {
            if let Some(event) = self.queue.pop_front() {
                self.app.hub.metrics.sent.fetch_add(1, Ordering::Relaxed);
                return Some((Ok(event), self));
            }
            if self.done {
                return None;
            }
            if self.replaying {
                self.replay_page().await;
                continue;
            }
            if *self.closing.borrow_and_update() {
                self.done = true;
                continue;
            }
            let received = tokio::select! {
                r = self.rx.recv() => r,
                _ = self.closing.changed() => {
                    self.done = true;
                    continue;
                }
            };
            match received {
                Ok(batch) => {
                    for m in batch.iter() {
                        if m.seq <= self.last {
                            continue;
                        }
                        self.last = m.seq;
                        if self.filter.wants(m) {
                            self.queue.push_back(m.sse());
                        }
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    // Too slow: disconnect; the client reconnects with Last-Event-ID and replays
                    // from the store.
                    self.app
                        .hub
                        .metrics
                        .lag_disconnects
                        .fetch_add(1, Ordering::Relaxed);
                    self.done = true;
                }
                Err(broadcast::error::RecvError::Closed) => self.done = true,
            }
        }
    }

    async fn replay_page(&mut self) {
        let reader = self.app.reader.clone();
        let after = self.last;
        let page = tokio::task::spawn_blocking(move || {
            reader.events(&EventFilter {
                after,
                limit: REPLAY_PAGE,
                all_kinds: true,
                ..EventFilter::default()
            })
        })
        .await;
        match page {
            Ok(Ok(rows)) => {
                if rows.len() < REPLAY_PAGE {
                    self.replaying = false;
                }
                for r in &rows {
                    self.last = self.last.max(r.seq);
                    let m = Message::from_record(r);
                    if self.filter.wants(&m) {
                        self.queue.push_back(m.sse());
                    }
                }
            }
            Ok(Err(e)) => {
                tracing::warn!("stream replay failed: {e}");
                self.done = true;
            }
            Err(e) => {
                tracing::warn!("stream replay task failed: {e}");
                self.done = true;
            }
        }
    }
}

/// `GET /v1/stream` (scope read).
pub async fn stream(
    State(app): State<Arc<AppState>>,
    Query(p): Query<StreamParams>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    authorize_read(&app, &headers, p.token.as_deref())?;
    let filter = filter_of(&p)?;
    let last_event_id = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .or(p.last_event_id.clone())
        .filter(|s| !s.trim().is_empty());
    let last = match &last_event_id {
        None => None,
        Some(s) => Some(s.trim().parse::<i64>().map_err(|_| {
            ApiError::bad_request(format!(
                "Last-Event-ID `{s}` is not a stream id (ids are the numbers sent as `id:`)"
            ))
        })?),
    };
    // Subscribe before reading the store: whatever commits meanwhile is in one or the other.
    // Counted before subscribing, so no commit after the subscription skips its events.
    if filter.events {
        app.hub.event_subscribers.fetch_add(1, Ordering::Relaxed);
    }
    let rx = app.hub.tx.subscribe();
    app.hub.metrics.subscribers.fetch_add(1, Ordering::Relaxed);
    let mut queue = VecDeque::new();
    queue.push_back(Event::default().retry(RETRY));
    let (start, replaying) = match last {
        // Live only: everything published after subscribing is newer than 0.
        None => (0, false),
        Some(after) => {
            let reader = app.reader.clone();
            let first = tokio::task::spawn_blocking(move || reader.first_seq())
                .await
                .ok()
                .and_then(Result::ok)
                .flatten();
            let after = match first {
                // Retention removed part of the gap: say how much, then go on from what is left.
                Some(first) if first > after + 1 => {
                    let missed = first - after - 1;
                    app.hub.metrics.resets.fetch_add(1, Ordering::Relaxed);
                    queue.push_back(
                        Event::default()
                            .event("reset")
                            .id((first - 1).to_string())
                            .data(
                                serde_json::json!({"lastEventId": after, "missed": missed})
                                    .to_string(),
                            ),
                    );
                    first - 1
                }
                _ => after,
            };
            (after, true)
        }
    };
    let sub = Subscriber {
        app: app.clone(),
        rx,
        closing: app.hub.closing.subscribe(),
        filter,
        last: start,
        replaying,
        queue,
        done: false,
    };
    let events = stream::unfold(sub, Subscriber::next);
    let keep_alive = Duration::from_millis(app.config.keep_alive_ms as u64);
    let mut response = Sse::new(events)
        .keep_alive(KeepAlive::new().interval(keep_alive))
        .into_response();
    // Proxies must not buffer the stream.
    response
        .headers_mut()
        .insert("x-accel-buffering", h::HeaderValue::from_static("no"));
    Ok(response)
}
