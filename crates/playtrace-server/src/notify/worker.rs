//! The notifier's tasks, all off the store's writer thread: a waker (the fan-out tells it an
//! alert changed), the flusher (due groups → notifications in the outbox, by Alertmanager's
//! timers), and one delivery task per receiver (its own concurrency, circuit breaker and rate
//! limit, so a slow or dead receiver never delays the others).
//!
//! A delivery task takes due notifications from its queue in memory (`queue.rs`): the flusher
//! hands it what it queued, the recorder hands back failed attempts once recorded (in batches),
//! and the task reads the outbox only when its queue says the store may hold more. A finished
//! send costs no query, only its share of one batched record.

use crate::fanout::Hub;
use crate::notify::payload::{decide_with, Shapes};
use crate::notify::policy::{backoff, noise, Breaker, Bucket};
use crate::notify::send::{post_to, Outcome};
use crate::notify::Notifier;
use playtrace_store::{now_ms, Attempt, AttemptResult, Kind, Notification, StoreError};
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, Semaphore};
use tokio::task::JoinHandle;

/// Groups flushed per transaction at most.
const FLUSH_BATCH: usize = 256;
/// Sent notifications are kept this long for `GET /v1/notifications?state=sent`.
const KEEP_SENT_MS: i64 = 24 * 3600 * 1000;
/// How long the flusher lets alert changes gather after being woken.
const COALESCE: Duration = Duration::from_millis(10);
/// The least time between two flush transactions. Every write transaction of the notifier's
/// pauses the store's writer for its turn (and, when the outbox still wrote on connections of
/// its own, cost the writer its page cache): at 100 alerts/s, flushing once per alert commit
/// took a tenth of ingest's throughput. A burst's first alert still goes out at once; the rest
/// of it waits at most this long, together.
const FLUSH_EVERY: Duration = Duration::from_millis(50);
/// How long the recorder lets finished sends gather into one transaction (for the same
/// reason): a sent notification shows `sent` this much later, a failed one is retried no
/// sooner, and a crash in between sends it again (same Idempotency-Key).
const RECORD_GATHER: Duration = Duration::from_millis(100);
/// Nothing waits longer than this for a `Retry-After`.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

/// Runs `f` on a blocking thread; a store error is logged and becomes `None`.
async fn blocking<R: Send + 'static>(
    what: &'static str,
    f: impl FnOnce() -> Result<R, StoreError> + Send + 'static,
) -> Option<R> {
    match tokio::task::spawn_blocking(f).await {
        Ok(Ok(r)) => Some(r),
        Ok(Err(e)) => {
            tracing::warn!("notifications: {what}: {e}");
            None
        }
        Err(e) => {
            tracing::error!("notifications: {what}: {e}");
            None
        }
    }
}

async fn sleep_or_wake(wake: &tokio::sync::Notify, until_ms: i64) {
    let wait = Duration::from_millis((until_ms - now_ms()).clamp(0, 60_000) as u64);
    tokio::select! {
        () = wake.notified() => {}
        () = tokio::time::sleep(wait) => {}
    }
}

/// Starts every task; they run until aborted.
pub(crate) fn start(n: &Arc<Notifier>, hub: &Arc<Hub>) -> Vec<JoinHandle<()>> {
    let mut tasks = vec![
        tokio::spawn(waker(n.clone(), hub.clone())),
        tokio::spawn(flusher(n.clone())),
    ];
    let taken = n.record_rx.lock().unwrap_or_else(|p| p.into_inner()).take();
    if let Some(rx) = taken {
        tasks.push(tokio::spawn(recorder(n.clone(), rx)));
    }
    for i in 0..n.receivers.len() {
        tasks.push(tokio::spawn(deliver(n.clone(), i)));
    }
    tasks
}

/// Wakes the flusher whenever a committed batch carries an alert change.
async fn waker(n: Arc<Notifier>, hub: Arc<Hub>) {
    loop {
        let sub = hub.subscribe(false);
        // Anything committed before this subscription is in the store already.
        n.flush_wake.notify_one();
        while let Ok(batch) = sub.recv().await {
            if batch.iter().any(|m| m.record.kind == Kind::Alert) {
                n.flush_wake.notify_one();
            }
        }
        // Cut off for lagging: the outbox lost nothing; subscribe again.
    }
}

async fn flusher(n: Arc<Notifier>) {
    let names: Vec<String> = n.receivers.iter().map(|r| r.name.clone()).collect();
    let outbox = n.outbox.clone();
    if let Some(dead) = blocking("forgetting removed receivers", move || {
        outbox.forget_receivers_except(&names, now_ms())
    })
    .await
    {
        if dead > 0 {
            tracing::warn!(
                dead,
                "notifications for receivers no longer configured moved to the dead list"
            );
        }
    }
    let mut pruned_at = 0;
    let mut flushed_at: Option<tokio::time::Instant> = None;
    loop {
        if let Some(at) = flushed_at {
            tokio::time::sleep_until(at + FLUSH_EVERY).await;
        }
        let now = now_ms();
        let m = n.clone();
        let started = tokio::time::Instant::now();
        let flushed = blocking("flushing groups", move || {
            // The outbox reads the journal's new alert changes and the due groups without the
            // writer's turn, and `decide` shapes payloads before the flush's transaction takes
            // it (ingest waits for that turn): the transaction only writes. With nothing due,
            // nothing is written (the changes wait in the journal and in memory) unless enough
            // groups wait (`Outbox::backlog`).
            let mut shapes = Shapes::default();
            let _handoff = m.handoff.lock().unwrap_or_else(|p| p.into_inner());
            let commits = m.outbox.commits();
            let queued = m.outbox.flush_due_some(now, FLUSH_BATCH, |g| {
                Some(decide_with(
                    g,
                    m.receiver(&g.receiver),
                    &m.external_url,
                    now,
                    &mut shapes,
                ))
            })?;
            // (A recorder's commit meanwhile counts too: the next flush then only waits
            // FLUSH_EVERY.)
            if m.outbox.commits() == commits {
                return Ok((None, m.outbox.next_flush_ms()?));
            }
            let mut hit = HashSet::new();
            for note in queued {
                if let Some(i) = m.index(&note.receiver) {
                    hit.insert(i);
                    m.queue(i).add(note);
                }
            }
            Ok((Some(hit), m.outbox.next_flush_ms()?))
        })
        .await;
        let mut until = now + 1_000;
        if let Some((hit, next)) = flushed {
            if let Some(hit) = hit {
                flushed_at = Some(started);
                for i in hit {
                    n.wakes[i].notify_one();
                }
            }
            match next {
                Some(t) if t <= now => continue,
                Some(t) => until = until.min(t),
                None => until = now + 60_000,
            }
        }
        if now - pruned_at > 600_000 {
            pruned_at = now;
            let outbox = n.outbox.clone();
            blocking("pruning sent notifications", move || {
                outbox.prune_sent(now - KEEP_SENT_MS)
            })
            .await;
        }
        sleep_or_wake(&n.flush_wake, until).await;
        // Commits come in bursts: flush a burst's groups in one transaction.
        tokio::time::sleep(COALESCE).await;
    }
}

fn lock(g: &Mutex<Gate>) -> std::sync::MutexGuard<'_, Gate> {
    g.lock().unwrap_or_else(|p| p.into_inner())
}

/// What the delivery task and its sends share.
pub(crate) struct Gate {
    breaker: Breaker,
    bucket: Bucket,
}

/// Reads `i`'s pending notifications that its queue does not hold (at start, after a retry
/// request or a failed record, or when more wait than memory holds).
async fn read_store(n: &Arc<Notifier>, i: usize, now: i64) {
    let m = n.clone();
    let read = blocking("reading pending notifications", move || {
        let _handoff = m.handoff.lock().unwrap_or_else(|p| p.into_inner());
        let (skip, want) = m.queue(i).begin_read();
        let read = m
            .outbox
            .pending(&m.receivers[i].name, want, |id| skip.contains(id));
        let mut q = m.queue(i);
        match read {
            Ok((notes, unread_from)) => {
                q.end_read(notes, unread_from);
                Ok(())
            }
            Err(e) => {
                q.read_failed(now + 1_000);
                Err(e)
            }
        }
    })
    .await;
    if read.is_none() {
        // The blocking task itself failed: the queue may still think a read runs.
        n.queue(i).read_failed(now + 1_000);
    }
}

async fn deliver(n: Arc<Notifier>, i: usize) {
    let slots = Arc::new(Semaphore::new(n.receivers[i].concurrency));
    let gate = Arc::new(Mutex::new(Gate {
        breaker: Breaker::default(),
        bucket: Bucket::new(
            n.receivers[i].rate_limit,
            n.receivers[i].rate_burst,
            now_ms(),
        ),
    }));
    loop {
        if let Some(gate) = n.gate.get().filter(|g| !g.sending()) {
            super::standby::settle(&n, &n.receivers[i].name, gate).await;
            // Standing by marked copies sent in the store: on taking the lease, this loop
            // starts from the store, not from what its queue held meanwhile.
            n.queue(i).reload();
            continue;
        }
        let now = now_ms();
        let mut until = now + 60_000;
        if n.queue(i).must_read(now) {
            read_store(&n, i, now).await;
        }
        while slots.available_permits() > 0 && n.queue(i).has_due(now) {
            let mut g = lock(&gate);
            if let Err(at) = g.bucket.peek(now) {
                n.metrics[i]
                    .rate_limited
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                until = until.min(at);
                break;
            }
            if let Err(at) = g.breaker.allow(now) {
                n.metrics[i]
                    .circuit_open
                    .store(true, std::sync::atomic::Ordering::Relaxed);
                until = until.min(at);
                break;
            }
            let Ok(permit) = slots.clone().try_acquire_owned() else {
                break;
            };
            let Some(note) = n.queue(i).take_due(now) else {
                break;
            };
            let _ = g.bucket.take(now);
            drop(g);
            let (n2, gate2) = (n.clone(), gate.clone());
            tokio::spawn(async move {
                send_one(&n2, i, note, gate2).await;
                drop(permit);
                // A slot is free: the loop takes the next due one from memory.
                n2.wakes[i].notify_one();
            });
        }
        if let Some(t) = n.queue(i).next_ms() {
            if t > now {
                until = until.min(t);
            }
        }
        sleep_or_wake(&n.wakes[i], until).await;
    }
}

/// One attempt's result on its way to the recorder.
pub(crate) struct Recorded {
    receiver: usize,
    attempt: Attempt,
    /// A failed attempt to try again: back into the queue once recorded.
    retry: Option<Notification>,
}

/// Records attempts in batches: what finished within [`RECORD_GATHER`] of the first goes in
/// one transaction (at most 512), then failed ones go back to their queues.
async fn recorder(n: Arc<Notifier>, mut rx: mpsc::UnboundedReceiver<Recorded>) {
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        let until = tokio::time::Instant::now() + RECORD_GATHER;
        while batch.len() < 512 {
            match tokio::time::timeout_at(until, rx.recv()).await {
                Ok(Some(r)) => batch.push(r),
                Ok(None) | Err(_) => break,
            }
        }
        let attempts: Vec<Attempt> = batch.iter().map(|r| r.attempt.clone()).collect();
        let outbox = n.outbox.clone();
        let stored = blocking("recording deliveries", move || outbox.record(&attempts))
            .await
            .is_some();
        let mut woken = HashSet::new();
        for r in batch {
            // A loop needs waking only for what it has not seen: a retry or a lost record.
            let wake = !stored || r.retry.is_some();
            let mut q = n.queue(r.receiver);
            if stored {
                q.recorded(&r.attempt.id, r.retry);
            } else {
                q.not_recorded(&r.attempt.id);
            }
            drop(q);
            if wake && woken.insert(r.receiver) {
                n.wakes[r.receiver].notify_one();
            }
        }
    }
}

/// Sends one notification and hands the result to the recorder.
async fn send_one(n: &Arc<Notifier>, i: usize, note: Notification, gate: Arc<Mutex<Gate>>) {
    let r = &n.receivers[i];
    let m = &n.metrics[i];
    let started = Instant::now();
    let answer = post_to(&n.clients, &n.targets[i], r, &note.id, &note.body).await;
    m.latency(started.elapsed().as_secs_f64());
    let attempts = note.attempts + 1;
    let now = now_ms();
    let bump = |c: &std::sync::atomic::AtomicU64| {
        c.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    };
    let open = {
        let mut g = lock(&gate);
        match &answer.outcome {
            Outcome::Transient { retry_after, .. } => g
                .breaker
                .failure(now, retry_after.map(|d| d.as_millis() as i64)),
            _ => g.breaker.success(),
        }
        g.breaker.is_open()
    };
    m.circuit_open
        .store(open, std::sync::atomic::Ordering::Relaxed);
    let (result, error) = match answer.outcome {
        Outcome::Sent => {
            bump(&m.sent);
            (AttemptResult::Sent, None)
        }
        Outcome::Permanent { error } => {
            bump(&m.failed);
            bump(&m.dead);
            tracing::warn!(receiver = %r.name, id = %note.id, "notification refused, moved to the dead list: {error}");
            (AttemptResult::Dead, Some(error))
        }
        Outcome::Transient { error, retry_after } => {
            bump(&m.failed);
            let age = now - note.created_ms;
            if attempts >= i64::from(n.config.max_attempts) || age >= n.config.max_age.as_ms_i64() {
                bump(&m.dead);
                let error = format!(
                    "gave up after {attempts} attempts over {}: {error}",
                    playtrace_core::units::format_duration_ms(age as f64)
                );
                tracing::warn!(receiver = %r.name, id = %note.id, "{error}");
                (AttemptResult::Dead, Some(error))
            } else {
                bump(&m.retried);
                let wait = match retry_after {
                    Some(d) => d.min(MAX_RETRY_AFTER),
                    None => backoff(
                        u32::try_from(attempts).unwrap_or(u32::MAX),
                        n.config.backoff.to_duration(),
                        n.config.max_backoff.to_duration(),
                        noise(),
                    ),
                };
                tracing::debug!(receiver = %r.name, id = %note.id, ?wait, "notification failed, retrying: {error}");
                let next_ms = now + wait.as_millis() as i64;
                (AttemptResult::Retry { next_ms }, Some(error))
            }
        }
    };
    let retry = match result {
        AttemptResult::Retry { next_ms } => Some(Notification {
            attempts,
            next_ms,
            updated_ms: now,
            last_error: error.clone(),
            ..note.clone()
        }),
        _ => None,
    };
    let recorded = Recorded {
        receiver: i,
        attempt: Attempt {
            id: note.id,
            attempts,
            at_ms: now,
            result,
            error,
        },
        retry,
    };
    if n.record_tx.send(recorded).is_err() {
        tracing::debug!("the notification recorder has stopped");
    }
}
