//! [`Client`]: sends events to `playtrace serve` without ever stalling the game loop.
//!
//! `emit` only appends to an in-memory queue (bounded in bytes) and returns. A background thread
//! batches by count, bytes and time, gzips, and posts; each event gets an id when it is
//! serialized, so a retried batch is stored once (the collector deduplicates on `(game, id)`).
//! When the collector is unreachable or overloaded (connection errors, 5xx, 429, 503 with
//! `Retry-After`), batches go to the on-disk spool (fsynced) and are sent oldest first, with
//! backoff, once it answers again; new batches queue behind the spool so order is kept.
//! `flush(timeout)` returns once everything emitted before it is acknowledged or spooled: after
//! that, not even a SIGKILL loses it.

use crate::event::Event;
use crate::spool::{self, Spool};
use std::collections::VecDeque;
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use thiserror::Error;

/// How the client sends.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Collector URL (`http://127.0.0.1:7070`).
    pub url: String,
    /// Token with the ingest scope.
    pub token: Option<String>,
    /// Game (scopes everything downstream; part of the idempotency key).
    pub game: Option<String>,
    /// Environment (prod, staging, ...).
    pub env: Option<String>,
    /// Events per request at most.
    pub batch_events: usize,
    /// Bytes per request at most (before compression).
    pub batch_bytes: usize,
    /// How long a partial batch may wait for more events.
    pub linger: Duration,
    /// Memory the queue may use; past it events are spooled by the sender or, if that cannot
    /// keep up, dropped (counted, logged).
    pub memory_bound: usize,
    /// Where to spool when the collector cannot take events (none: retry in memory).
    pub spool_dir: Option<PathBuf>,
    /// Spool size limit.
    pub spool_max_bytes: u64,
    /// Gzip request bodies.
    pub gzip: bool,
    /// Longest wait between retries.
    pub max_backoff: Duration,
    /// Per-request timeout.
    pub request_timeout: Duration,
}

impl ClientConfig {
    /// Defaults for `url`: up to 5,000-event / 4 MiB batches (a request waits for its durable
    /// acknowledgement, so bigger batches under load are what keeps throughput up), 100 ms
    /// linger, 16 MiB of memory, gzip.
    pub fn new(url: impl Into<String>) -> ClientConfig {
        ClientConfig {
            url: url.into(),
            token: None,
            game: None,
            env: None,
            batch_events: 5000,
            batch_bytes: 4 << 20,
            linger: Duration::from_millis(100),
            memory_bound: 16 << 20,
            spool_dir: None,
            spool_max_bytes: 1 << 30,
            gzip: true,
            max_backoff: Duration::from_secs(30),
            request_timeout: Duration::from_secs(10),
        }
    }
}

/// Counters, readable at any time.
#[derive(Debug, Default)]
pub struct ClientMetrics {
    /// Events acknowledged by the collector (stored or duplicates of stored ones).
    pub sent: AtomicU64,
    /// Failed requests that will be retried (each one backs off first).
    pub retried: AtomicU64,
    /// Events written to the spool.
    pub spooled: AtomicU64,
    /// Events dropped because the memory bound was reached and the spool could not take them.
    pub dropped_memory: AtomicU64,
    /// Events dropped because the spool was full.
    pub dropped_spool_full: AtomicU64,
    /// Events the collector refused for good (400, 401, 403, 413, 415).
    pub dropped_rejected: AtomicU64,
}

/// `flush` ran out of time.
#[derive(Debug, Error, PartialEq, Eq)]
#[error("flush timed out with {pending} events neither acknowledged nor spooled")]
pub struct FlushTimeout {
    /// Events still pending.
    pub pending: u64,
}

struct State {
    queue: VecDeque<Event>,
    queued_bytes: usize,
    /// Events accepted by `emit` (or dropped by it), in order.
    emitted: u64,
    /// Of those, how many are durable (acknowledged or spooled) or dropped.
    settled: u64,
    flush_waiters: usize,
    stop: bool,
}

struct Shared {
    state: Mutex<State>,
    wake: Condvar,
    progress: Condvar,
    metrics: ClientMetrics,
    config: ClientConfig,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn settle(&self, n: u64) {
        self.lock().settled += n;
        self.progress.notify_all();
    }
}

/// The client. Cloning is not needed: share it behind an `Arc` or pass `&Client`.
pub struct Client {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl Client {
    /// Starts the client's sender thread (and opens the spool, if configured).
    pub fn new(config: ClientConfig) -> std::io::Result<Client> {
        let spool = match &config.spool_dir {
            Some(dir) => Some(Spool::open(dir, config.spool_max_bytes)?),
            None => None,
        };
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                queue: VecDeque::new(),
                queued_bytes: 0,
                emitted: 0,
                settled: 0,
                flush_waiters: 0,
                stop: false,
            }),
            wake: Condvar::new(),
            progress: Condvar::new(),
            metrics: ClientMetrics::default(),
            config,
        });
        let sender = Sender::new(shared.clone(), spool);
        let thread = std::thread::Builder::new()
            .name("playtrace-client".into())
            .spawn(move || sender.run())?;
        Ok(Client {
            shared,
            thread: Some(thread),
        })
    }

    /// Queues an event; never blocks on I/O. `false` when it was dropped (memory bound).
    pub fn emit(&self, event: Event) -> bool {
        let mut s = self.shared.lock();
        s.emitted += 1;
        if s.queued_bytes + event.size > self.shared.config.memory_bound {
            s.settled += 1;
            drop(s);
            let n = self
                .shared
                .metrics
                .dropped_memory
                .fetch_add(1, Ordering::Relaxed);
            if n.is_power_of_two() {
                tracing::error!(
                    dropped = n + 1,
                    "playtrace client: memory bound reached and the sender cannot keep up; \
                     events are being dropped (raise memory_bound or configure a spool)"
                );
            }
            return false;
        }
        s.queued_bytes += event.size;
        s.queue.push_back(event);
        let full = s.queue.len() >= self.shared.config.batch_events;
        drop(s);
        if full {
            self.shared.wake.notify_one();
        }
        true
    }

    /// Waits until every event emitted before this call is acknowledged by the collector or
    /// durably spooled (or dropped and counted), at most `timeout`.
    pub fn flush(&self, timeout: Duration) -> Result<(), FlushTimeout> {
        let deadline = Instant::now() + timeout;
        let mut s = self.shared.lock();
        let target = s.emitted;
        s.flush_waiters += 1;
        self.shared.wake.notify_one();
        while s.settled < target {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                s.flush_waiters -= 1;
                return Err(FlushTimeout {
                    pending: target - s.settled,
                });
            }
            s = self
                .shared
                .progress
                .wait_timeout(s, left)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        s.flush_waiters -= 1;
        Ok(())
    }

    /// Counters.
    pub fn metrics(&self) -> &ClientMetrics {
        &self.shared.metrics
    }

    /// Events waiting in memory.
    pub fn queued(&self) -> usize {
        self.shared.lock().queue.len()
    }
}

impl Drop for Client {
    /// Stops the sender after it has sent or spooled what is queued (one attempt each).
    fn drop(&mut self) {
        self.shared.lock().stop = true;
        self.shared.wake.notify_one();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Why a request did not succeed.
enum SendError {
    /// Try again later (connection refused, timeout, 5xx, 429, 503); `Retry-After` if given.
    Transient(Option<Duration>),
    /// The collector refused it for good.
    Permanent(String),
}

struct Sender {
    shared: Arc<Shared>,
    spool: Option<Spool>,
    agent: ureq::Agent,
    client_id: String,
    next_id: u64,
    /// No request before this (backoff).
    not_before: Instant,
    failures: u32,
}

fn random_id() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let h = xxhash_rust::xxh3::xxh3_64(format!("{now}-{}", std::process::id()).as_bytes());
    format!("{h:016x}")
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl Sender {
    fn new(shared: Arc<Shared>, spool: Option<Spool>) -> Sender {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(shared.config.request_timeout))
            .build()
            .into();
        Sender {
            shared,
            spool,
            agent,
            client_id: random_id(),
            next_id: 0,
            not_before: Instant::now(),
            failures: 0,
        }
    }

    fn run(mut self) {
        loop {
            let (batch, stopping, flushing) = self.take();
            if !batch.is_empty() {
                let n = batch.len() as u64;
                let body = self.serialize(batch);
                self.deliver(body, n, stopping || flushing);
            }
            self.drain_spool(stopping);
            if stopping && self.shared.lock().queue.is_empty() {
                return;
            }
        }
    }

    /// Waits for a batch (full, lingered, flushed or stopping) and takes it.
    fn take(&mut self) -> (Vec<Event>, bool, bool) {
        let cfg = &self.shared.config;
        let mut s = self.shared.lock();
        let mut first_seen: Option<Instant> = None;
        loop {
            let ready = s.queue.len() >= cfg.batch_events
                || s.stop
                || (s.flush_waiters > 0 && !s.queue.is_empty())
                || first_seen.is_some_and(|t| t.elapsed() >= cfg.linger);
            if ready {
                break;
            }
            // Spooled batches to send: come back soon.
            let spool_waiting = self.spool.as_ref().is_some_and(|sp| !sp.is_empty());
            if s.queue.is_empty() {
                first_seen = None;
            } else if first_seen.is_none() {
                first_seen = Some(Instant::now());
            }
            let wait = if spool_waiting {
                self.not_before
                    .saturating_duration_since(Instant::now())
                    .max(Duration::from_millis(10))
            } else if first_seen.is_some() {
                cfg.linger
            } else {
                Duration::from_millis(500)
            };
            s = self
                .shared
                .wake
                .wait_timeout(s, wait)
                .unwrap_or_else(|p| p.into_inner())
                .0;
            if spool_waiting && Instant::now() >= self.not_before && s.queue.is_empty() {
                return (Vec::new(), s.stop, s.flush_waiters > 0);
            }
        }
        let mut batch = Vec::with_capacity(s.queue.len().min(cfg.batch_events));
        let mut bytes = 0;
        while let Some(e) = s.queue.front() {
            if batch.len() >= cfg.batch_events || (bytes > 0 && bytes + e.size > cfg.batch_bytes) {
                break;
            }
            bytes += e.size;
            if let Some(e) = s.queue.pop_front() {
                batch.push(e);
            }
        }
        s.queued_bytes -= bytes;
        (batch, s.stop, s.flush_waiters > 0)
    }

    fn serialize(&mut self, batch: Vec<Event>) -> Vec<u8> {
        let cfg = &self.shared.config;
        let mut out = Vec::with_capacity(batch.iter().map(|e| e.size).sum());
        let ts = now_ms();
        // The envelope is written by hand (no intermediate JSON tree per event); strings go
        // through serde_json for escaping.
        let text = |out: &mut Vec<u8>, s: &str| {
            let _ = serde_json::to_writer(&mut *out, s);
        };
        for e in batch {
            out.extend_from_slice(b"{\"event\":");
            text(&mut out, &e.name);
            let _ = write!(
                out,
                ",\"ts\":{ts},\"id\":\"{}-{}\"",
                self.client_id, self.next_id
            );
            self.next_id += 1;
            if let Some(g) = &cfg.game {
                out.extend_from_slice(b",\"game\":");
                text(&mut out, g);
            }
            if let Some(v) = &cfg.env {
                out.extend_from_slice(b",\"env\":");
                text(&mut out, v);
            }
            if let Some(s) = &e.session {
                out.extend_from_slice(b",\"session\":");
                text(&mut out, s);
            }
            out.extend_from_slice(b",\"attrs\":");
            let _ = serde_json::to_writer(&mut out, &e.attrs);
            out.extend_from_slice(b"}\n");
        }
        out
    }

    /// Sends or spools one serialized batch of `n` events; settles them when durable.
    fn deliver(&mut self, body: Vec<u8>, n: u64, urgent: bool) {
        // Older batches are spooled: queue behind them to keep order.
        if self.spool.as_ref().is_some_and(|s| !s.is_empty()) {
            self.spool_batch(&body, n);
            return;
        }
        loop {
            if Instant::now() >= self.not_before {
                match self.post(&body) {
                    Ok(()) => {
                        self.failures = 0;
                        self.shared.metrics.sent.fetch_add(n, Ordering::Relaxed);
                        self.shared.settle(n);
                        return;
                    }
                    Err(SendError::Permanent(why)) => {
                        tracing::error!(
                            "playtrace client: the collector refused {n} events: {why}"
                        );
                        self.shared
                            .metrics
                            .dropped_rejected
                            .fetch_add(n, Ordering::Relaxed);
                        self.shared.settle(n);
                        return;
                    }
                    Err(SendError::Transient(retry_after)) => self.back_off(retry_after),
                }
            }
            if self.spool.is_some() {
                self.spool_batch(&body, n);
                return;
            }
            if urgent && self.shared.lock().stop {
                // Stopping without a spool: one attempt was all there was time for.
                self.shared
                    .metrics
                    .dropped_rejected
                    .fetch_add(n, Ordering::Relaxed);
                self.shared.settle(n);
                return;
            }
            // No spool: wait and retry in memory (the memory bound protects the game).
            let wait = self.not_before.saturating_duration_since(Instant::now());
            std::thread::sleep(wait.min(Duration::from_millis(200)));
        }
    }

    fn spool_batch(&mut self, body: &[u8], n: u64) {
        let Some(spool) = &mut self.spool else { return };
        match spool.push(body) {
            Ok(true) => {
                self.shared.metrics.spooled.fetch_add(n, Ordering::Relaxed);
            }
            Ok(false) => {
                tracing::error!("playtrace client: the spool is full; {n} events dropped");
                self.shared
                    .metrics
                    .dropped_spool_full
                    .fetch_add(n, Ordering::Relaxed);
            }
            Err(e) => {
                tracing::error!("playtrace client: cannot spool {n} events: {e}");
                self.shared
                    .metrics
                    .dropped_spool_full
                    .fetch_add(n, Ordering::Relaxed);
            }
        }
        self.shared.settle(n);
    }

    /// Sends spooled segments, oldest first, while the collector takes them.
    fn drain_spool(&mut self, stopping: bool) {
        loop {
            if Instant::now() < self.not_before {
                return;
            }
            let Some(first) = self
                .spool
                .as_ref()
                .and_then(|s| s.segments().ok())
                .and_then(|s| s.into_iter().next())
            else {
                return;
            };
            let Ok(body) = std::fs::read(&first) else {
                let _ = spool::remove(&first);
                continue;
            };
            match self.post(&body) {
                Ok(()) => {
                    self.failures = 0;
                    let n = body.iter().filter(|&&b| b == b'\n').count() as u64;
                    self.shared.metrics.sent.fetch_add(n, Ordering::Relaxed);
                    if let Err(e) = spool::remove(&first) {
                        tracing::warn!("playtrace client: cannot remove a sent spool file: {e}");
                    }
                }
                Err(SendError::Permanent(why)) => {
                    tracing::error!(
                        "playtrace client: the collector refused a spooled batch: {why}"
                    );
                    let _ = spool::remove(&first);
                }
                Err(SendError::Transient(retry_after)) => {
                    self.back_off(retry_after);
                    return;
                }
            }
            if stopping {
                // One pass while stopping; the rest waits for the next start.
                continue;
            }
            // Let new events through between segments.
            if !self.shared.lock().queue.is_empty() {
                return;
            }
        }
    }

    fn back_off(&mut self, retry_after: Option<Duration>) {
        self.failures = self.failures.saturating_add(1);
        self.shared.metrics.retried.fetch_add(1, Ordering::Relaxed);
        let exp = Duration::from_millis(100)
            .saturating_mul(1 << self.failures.min(10))
            .min(self.shared.config.max_backoff);
        // Up to 25% jitter so many clients do not retry in step.
        let jitter = exp.mul_f64(
            (xxhash_rust::xxh3::xxh3_64(&self.next_id.to_le_bytes()) % 250) as f64 / 1000.0,
        );
        let wait = retry_after.map_or(exp + jitter, |r| r.max(Duration::from_millis(10)));
        self.not_before = Instant::now() + wait;
    }

    fn post(&self, body: &[u8]) -> Result<(), SendError> {
        let cfg = &self.shared.config;
        let mut req = self
            .agent
            .post(format!("{}/v1/events", cfg.url.trim_end_matches('/')))
            .header("Content-Type", "application/x-ndjson");
        if let Some(t) = &cfg.token {
            req = req.header("Authorization", format!("Bearer {t}"));
        }
        let result = if cfg.gzip {
            let mut enc = flate2::write::GzEncoder::new(
                Vec::with_capacity(body.len() / 4),
                flate2::Compression::fast(),
            );
            let _ = enc.write_all(body);
            let zipped = enc.finish().unwrap_or_default();
            req.header("Content-Encoding", "gzip").send(&zipped[..])
        } else {
            req.send(body)
        };
        let response = result.map_err(|_| SendError::Transient(None))?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<f64>().ok())
            .map(Duration::from_secs_f64);
        match status {
            200..=299 => Ok(()),
            429 | 503 => Err(SendError::Transient(
                retry_after.or(Some(Duration::from_secs(1))),
            )),
            500..=599 => Err(SendError::Transient(retry_after)),
            other => {
                let text = response.into_body().read_to_string().unwrap_or_default();
                Err(SendError::Permanent(format!("{other}: {text}")))
            }
        }
    }
}
