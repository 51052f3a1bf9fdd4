//! `GET /v1/stream`: Server-Sent Events over the store's one sequence (SPEC §5), one subscriber
//! of the [`crate::fanout`] hub per connection.
//!
//! A subscriber first replays from the store what it missed (`Last-Event-ID`), having subscribed to
//! the hub before reading, so nothing committed in between is lost; then it follows the hub,
//! skipping what it already sent. A subscriber that falls a whole buffer behind is disconnected
//! (it never slows ingest or the others) and replays from the store when it reconnects; it gets
//! `reset {lastEventId, missed}` only when retention already removed part of its gap, and
//! `reset {lastEventId, newest, ahead: true}` when its id is beyond the newest stored (a restored
//! or replaced store): it then goes on live from the newest.

use crate::app::AppState;
use crate::fanout::{Ended, Message, Subscription};
use crate::http::auth::{Caller, Read};
use crate::http::error::ApiError;
use axum::extract::{Query, State};
use axum::http::{header as h, HeaderMap};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::stream;
use playtrace_core::alert::Severity;
use playtrace_store::{EventFilter, Kind};
use serde::Deserialize;
use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

fn sse(m: &Message) -> Event {
    Event::default()
        .id(m.record.seq.to_string())
        .event(m.record.kind.as_str())
        .data(&m.data)
}

/// Which messages a subscriber wants.
#[derive(Debug, Clone)]
struct Filter {
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
        let r = &m.record;
        let topic = match r.kind {
            Kind::Event => self.events,
            Kind::Alert => self.alerts,
            Kind::Budget => self.budgets,
        };
        topic
            && (r.kind != Kind::Event || self.name.as_deref().is_none_or(|p| r.name.starts_with(p)))
            && (r.kind != Kind::Alert
                || self
                    .min_severity
                    .is_none_or(|min| m.severity.is_some_and(|s| s >= min)))
            && self.game.as_deref().is_none_or(|g| r.game() == Some(g))
            && self
                .env
                .as_deref()
                .is_none_or(|e| r.env.as_deref() == Some(e))
    }
}

/// Query parameters of `GET /v1/stream`.
#[derive(Debug, Deserialize)]
pub(crate) struct StreamParams {
    topics: Option<String>,
    name: Option<String>,
    min_severity: Option<String>,
    game: Option<String>,
    env: Option<String>,
    last_event_id: Option<String>,
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
/// On an alerts/budgets stream (no events) during a burst (a message within this long of the
/// last write), live messages are gathered for up to this long and written together. Each
/// write costs a browser about 1 ms of CPU whatever it holds (bench/console: 100 alerts/s cost
/// the open console 0.07 CPU written one by one, 0.025 in ten writes a second); a message after
/// a quiet spell goes out at once. Event tails keep one write per commit (their commits are
/// large already, and their delivery latency is what they are for).
const LINGER: Duration = Duration::from_millis(100);

/// Until when a subscriber gathers live messages before writing, given when it last wrote
/// everything it had: `None` (write now) unless that was less than [`LINGER`] ago.
fn linger_until(
    last_write: Option<tokio::time::Instant>,
    now: tokio::time::Instant,
) -> Option<tokio::time::Instant> {
    let deadline = last_write? + LINGER;
    (deadline > now).then_some(deadline)
}

struct Subscriber {
    app: Arc<AppState>,
    sub: Subscription,
    /// Becomes `true` when the collector stops.
    closing: tokio::sync::watch::Receiver<bool>,
    filter: Filter,
    /// Highest sequence number handled (sent or filtered out).
    last: i64,
    /// Replaying from the store (until a page comes back short).
    replaying: bool,
    queue: VecDeque<Event>,
    done: bool,
    /// When the queue last ran empty (everything written), for [`linger_until`].
    last_write: Option<tokio::time::Instant>,
}

impl Subscriber {
    async fn next(mut self) -> Option<(Result<Event, Infallible>, Subscriber)> {
        loop {
            if let Some(event) = self.queue.pop_front() {
                self.app.hub.metrics.sent.fetch_add(1, Ordering::Relaxed);
                if self.queue.is_empty() {
                    self.last_write = Some(tokio::time::Instant::now());
                }
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
                r = self.sub.recv() => r,
                _ = self.closing.changed() => {
                    self.done = true;
                    continue;
                }
            };
            self.take(received);
            if self.queue.is_empty() {
                continue;
            }
            // A burst: gather what else commits before the deadline, then write it all at once
            // (the events queued back to back leave in one write).
            let linger = (!self.filter.events)
                .then(|| linger_until(self.last_write, tokio::time::Instant::now()))
                .flatten();
            if let Some(deadline) = linger {
                while !self.done && self.queue.len() < REPLAY_PAGE {
                    let received = tokio::select! {
                        r = self.sub.recv() => r,
                        _ = tokio::time::sleep_until(deadline) => break,
                        _ = self.closing.changed() => break,
                    };
                    self.take(received);
                }
            }
        }
    }

    /// Queues the wanted messages of a live batch (or ends the stream of a lagging subscriber).
    fn take(&mut self, received: Result<Arc<crate::fanout::Batch>, Ended>) {
        match received {
            Ok(batch) => {
                for m in batch.iter() {
                    if m.record.seq <= self.last {
                        continue;
                    }
                    self.last = m.record.seq;
                    if self.filter.wants(m) {
                        self.queue.push_back(sse(m));
                    }
                }
            }
            // Too slow (counted by the hub): disconnect; the client reconnects with
            // Last-Event-ID and replays from the store.
            Err(Ended::Lagged | Ended::Overflow) => self.done = true,
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
                for r in rows {
                    self.last = self.last.max(r.seq);
                    let m = Message::of(r);
                    if self.filter.wants(&m) {
                        self.queue.push_back(sse(&m));
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

/// The client's position: `Last-Event-ID` (or `?last_event_id=`), a sequence number ≥ 0. The
/// value is never echoed: it may be anything up to the header limit.
fn last_event_id(headers: &HeaderMap, param: Option<&str>) -> Result<Option<i64>, ApiError> {
    let text = match headers.get("last-event-id") {
        Some(v) => Some(v.to_str().map_err(|_| bad_last_event_id())?),
        None => param,
    };
    match text.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s) => match s.parse::<i64>() {
            Ok(n) if n >= 0 => Ok(Some(n)),
            _ => Err(bad_last_event_id()),
        },
    }
}

fn bad_last_event_id() -> ApiError {
    ApiError::bad_request(
        "Last-Event-ID is not a stream id: send the number of the last `id:` received (0 or \
         more), or leave it out to start live",
    )
}

/// A `reset` message; its id is where the stream goes on from.
fn reset(resume: i64, data: serde_json::Value) -> Event {
    Event::default()
        .event("reset")
        .id(resume.to_string())
        .data(data.to_string())
}

/// Where a client resuming after `after` goes on, with the `reset` it gets first when its gap
/// was removed by retention or its id is beyond the newest stored; and whether to replay.
async fn resume_point(app: &Arc<AppState>, after: i64, queue: &mut VecDeque<Event>) -> (i64, bool) {
    let reader = app.reader.clone();
    let bounds = tokio::task::spawn_blocking(move || {
        let first = reader.first_seq()?;
        // Sequence numbers an erasure removed are a gap nobody lost (docs/PRIVACY.md).
        let erased = match first {
            Some(f) if f.saturating_sub(after) > 1 => reader.erased_between(after, f)?,
            _ => 0,
        };
        let last = reader.last_seq()?.max(reader.last_erased()?);
        Ok::<_, playtrace_store::StoreError>((first, last, erased))
    })
    .await
    .ok()
    .and_then(Result::ok);
    let Some((first, last, erased)) = bounds else {
        return (after, true);
    };
    if after > last.unwrap_or(0) {
        // Beyond the head: waiting for the sequence to catch up would keep it silent.
        let newest = last.unwrap_or(0);
        app.hub.metrics.resets.fetch_add(1, Ordering::Relaxed);
        queue.push_back(reset(
            newest,
            serde_json::json!({"lastEventId": after, "missed": 0, "newest": newest, "ahead": true}),
        ));
        return (newest, false);
    }
    match first {
        // Retention removed part of the gap: say how much, then go on from what is left.
        Some(first) if first.saturating_sub(after) - 1 > erased => {
            let missed = first - after - 1 - erased;
            app.hub.metrics.resets.fetch_add(1, Ordering::Relaxed);
            queue.push_back(reset(
                first - 1,
                serde_json::json!({"lastEventId": after, "missed": missed}),
            ));
            (first - 1, true)
        }
        _ => (after, true),
    }
}

/// `GET /v1/stream` (scope read).
pub(crate) async fn stream(
    State(app): State<Arc<AppState>>,
    _caller: Caller<Read>,
    Query(p): Query<StreamParams>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let filter = filter_of(&p)?;
    let last = last_event_id(&headers, p.last_event_id.as_deref())?;
    // Subscribe before reading the store: whatever commits meanwhile is in one or the other.
    let sub = app.hub.subscribe(filter.events);
    let mut queue = VecDeque::new();
    queue.push_back(Event::default().retry(RETRY));
    let (start, replaying) = match last {
        // Live only: everything published after subscribing is newer than 0.
        None => (0, false),
        Some(after) => resume_point(&app, after, &mut queue).await,
    };
    let sub = Subscriber {
        app: app.clone(),
        closing: sub.closing.clone(),
        sub,
        filter,
        last: start,
        replaying,
        queue,
        done: false,
        last_write: None,
    };
    let events = stream::unfold(sub, Subscriber::next);
    let keep_alive = app.config.stream.keep_alive.to_duration();
    let mut response = Sse::new(events)
        .keep_alive(KeepAlive::new().interval(keep_alive))
        .into_response();
    // Proxies must not buffer the stream.
    response
        .headers_mut()
        .insert("x-accel-buffering", h::HeaderValue::from_static("no"));
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_burst_lingers_and_never_past_the_linger() {
        let now = tokio::time::Instant::now();
        // A quiet subscriber (nothing written yet, or long ago) writes at once.
        assert_eq!(linger_until(None, now), None);
        assert_eq!(linger_until(Some(now - LINGER * 3), now), None);
        // A message soon after the last write waits until LINGER after that write, no longer.
        let last = now - LINGER / 4;
        assert_eq!(linger_until(Some(last), now), Some(last + LINGER));
        assert!(linger_until(Some(last), now).unwrap() - now < LINGER);
    }
}
