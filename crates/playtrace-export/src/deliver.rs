//! Delivery with memory: a fan-out whose failures are recorded in the durable queues and
//! retried from there with exponential backoff and jitter while the run lasts
//! ([`DeliverOptions::retry_for`]); and the drain of the retry queue (`playtrace export retry`).
//!
//! Every failure is written to the queue (one transaction per writer and round) before it is
//! retried, so a crash at any moment leaves each artifact either written or queued. Each writer
//! retries on its own timer: a writer that keeps failing never delays another.

use crate::queue::{Fate, Queue, QueueError};
use crate::{write_each, Artifact, FanOut, Outcome, Status, WriteError, Writer, WriterMetrics};
use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The queues, shared by the writers' tasks (each records its own outcomes).
pub type SharedQueue = Arc<Mutex<Queue>>;

/// How long a delivery keeps retrying.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeliverOptions {
    /// Retry transient failures (after their backoff) until this long after the first
    /// attempts; what still fails then stays in the retry queue. Zero: queue at once.
    pub retry_for: Duration,
}

impl Default for DeliverOptions {
    fn default() -> Self {
        DeliverOptions {
            retry_for: Duration::from_secs(10),
        }
    }
}

/// Fans out every artifact to every writer; transient failures go to the retry queue and are
/// retried from it, permanent ones (and exhausted retries) to the dead-letter queue.
pub async fn deliver(
    artifacts: &[Artifact],
    writers: &[Arc<dyn Writer>],
    queue: &SharedQueue,
    options: DeliverOptions,
    done: Arc<AtomicU64>,
) -> Result<FanOut, QueueError> {
    let artifacts = Arc::new(artifacts.to_vec());
    let work = writers
        .iter()
        .map(|w| {
            (
                w.clone(),
                artifacts.clone(),
                vec![(0, false); artifacts.len()],
            )
        })
        .collect();
    run(work, queue, options, Some(done)).await
}

/// What a drain of the retry queue did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Drained {
    /// Per writer and artifact, as [`deliver`] reports them.
    pub result: FanOut,
    /// Entries left alone because their writer is not configured here.
    pub unconfigured: u64,
}

/// Tries every queued artifact (due ones, or all with `all`) on its writer again, retrying
/// as [`deliver`] does.
pub async fn drain(
    queue: &SharedQueue,
    writers: &[Arc<dyn Writer>],
    all: bool,
    options: DeliverOptions,
) -> Result<Drained, QueueError> {
    let entries = lock(queue).due(all)?;
    let mut by_writer: HashMap<String, Vec<(Artifact, u32)>> = HashMap::new();
    let mut unconfigured = 0;
    for e in entries {
        // An entry goes to the writer of exactly its destination (older entries without one:
        // the writer of its id).
        let key = if e.destination.is_empty() {
            e.writer
        } else {
            e.destination
        };
        if writers
            .iter()
            .any(|w| w.destination() == key || w.id() == key)
        {
            by_writer
                .entry(key)
                .or_default()
                .push((e.artifact, e.attempts));
        } else {
            unconfigured += 1;
        }
    }
    let work = writers
        .iter()
        .filter_map(|w| {
            let entries = by_writer
                .remove(&w.destination())
                .or_else(|| by_writer.remove(&w.id()))?;
            let attempts = entries.iter().map(|(_, n)| (*n, true)).collect();
            let artifacts = entries.into_iter().map(|(a, _)| a).collect();
            Some((w.clone(), Arc::new(artifacts), attempts))
        })
        .collect();
    let result = run(work, queue, options, None).await?;
    Ok(Drained {
        result,
        unconfigured,
    })
}

/// A writer, its artifacts, and per artifact (attempts so far, already in the retry queue).
type Work = (Arc<dyn Writer>, Arc<Vec<Artifact>>, Vec<(u32, bool)>);

async fn run(
    work: Vec<Work>,
    queue: &SharedQueue,
    options: DeliverOptions,
    done: Option<Arc<AtomicU64>>,
) -> Result<FanOut, QueueError> {
    let deadline = Instant::now() + options.retry_for;
    let tasks: Vec<_> = work
        .into_iter()
        .map(|(writer, artifacts, attempts)| {
            let (queue, done) = (queue.clone(), done.clone());
            tokio::spawn(async move {
                deliver_to(writer, artifacts, attempts, queue, deadline, done).await
            })
        })
        .collect();
    let mut result = FanOut::default();
    for task in tasks {
        let (metrics, outcomes) = task
            .await
            .map_err(|e| QueueError::Task(format!("a writer's task failed: {e}")))??;
        result.writers.push(metrics);
        result.outcomes.extend(outcomes);
    }
    Ok(result)
}

/// The queue, even after a panic elsewhere: that panic rolled its transaction back, so the
/// queue itself is consistent.
pub fn lock(queue: &SharedQueue) -> std::sync::MutexGuard<'_, Queue> {
    queue.lock().unwrap_or_else(|p| p.into_inner())
}

/// One writer's delivery: attempt everything, record, retry what is due, until nothing is
/// waiting or the next retry would come after `deadline`.
async fn deliver_to(
    writer: Arc<dyn Writer>,
    artifacts: Arc<Vec<Artifact>>,
    start: Vec<(u32, bool)>,
    queue: SharedQueue,
    deadline: Instant,
    done: Option<Arc<AtomicU64>>,
) -> Result<(WriterMetrics, Vec<Outcome>), QueueError> {
    let started = Instant::now();
    let id = writer.id();
    let destination = writer.destination();
    let mut metrics = WriterMetrics {
        id: id.clone(),
        attempted: artifacts.len() as u64,
        ..WriterMetrics::default()
    };
    let mut outcomes: Vec<Outcome> = artifacts
        .iter()
        .map(|a| Outcome {
            artifact: a.name.clone(),
            writer: id.clone(),
            status: Status::Queued,
            location: None,
            attempts: 0,
            error: None,
            transient: true,
        })
        .collect();
    let mut queued: Vec<bool> = start.iter().map(|&(_, q)| q).collect();
    let mut total: Vec<u32> = start.iter().map(|&(n, _)| n).collect();
    let mut due_at: Vec<Instant> = vec![started; artifacts.len()];
    let mut waiting: Vec<usize> = (0..artifacts.len()).collect();
    let mut first_round = true;
    while !waiting.is_empty() {
        let now = Instant::now();
        let (due, later): (Vec<usize>, Vec<usize>) =
            waiting.iter().partition(|&&i| due_at[i] <= now);
        if due.is_empty() {
            let next = later.iter().map(|&i| due_at[i]).min().unwrap_or(now);
            if next > deadline {
                break;
            }
            tokio::time::sleep_until(next.into()).await;
            continue;
        }
        // A retry never runs past --retry-for (the first attempt gets the writer's own
        // timeouts): at least a second, so a retry due just before the deadline can answer.
        let cap = (!first_round).then(|| {
            deadline
                .saturating_duration_since(Instant::now())
                .max(std::time::Duration::from_secs(1))
        });
        let results = write_each(
            &writer,
            &artifacts,
            &due,
            if first_round { done.as_ref() } else { None },
            cap,
        )
        .await;
        if !first_round {
            metrics.retried += due.len() as u64;
        }
        first_round = false;
        let mut delivered = Vec::new();
        let mut failed = Vec::new();
        for (&i, result) in due.iter().zip(results) {
            outcomes[i].attempts += 1;
            total[i] += 1;
            match result {
                Ok(location) => {
                    metrics.successes += 1;
                    metrics.bytes += artifacts[i].bytes.len() as u64;
                    let o = &mut outcomes[i];
                    (o.status, o.location, o.error, o.transient) =
                        (Status::Written, Some(location), None, false);
                    if queued[i] {
                        delivered.push(i);
                    }
                }
                Err(e) => {
                    metrics.failures += 1;
                    failed.push((i, e));
                }
            }
        }
        let fates = record(
            &queue,
            (&id, &destination),
            &artifacts,
            &delivered,
            &failed,
            &total,
        )
        .await?;
        waiting = later;
        for ((i, error), fate) in failed.into_iter().zip(fates) {
            let o = &mut outcomes[i];
            o.transient = matches!(error, WriteError::Transient(_));
            o.error = Some(match error {
                WriteError::Transient(m) | WriteError::Permanent(m) => m,
            });
            queued[i] = true;
            match fate {
                Fate::DeadLettered => {
                    o.status = Status::DeadLettered;
                    queued[i] = false;
                    metrics.dead_lettered += 1;
                }
                Fate::Queued { retry_in } => {
                    o.status = Status::Queued;
                    due_at[i] = Instant::now() + retry_in;
                    waiting.push(i);
                }
            }
        }
    }
    metrics.queued = outcomes
        .iter()
        .filter(|o| o.status == Status::Queued)
        .count() as u64;
    metrics.duration_ms = started.elapsed().as_millis() as u64;
    Ok((metrics, outcomes))
}

/// Records one round in the queue (a blocking SQLite transaction, off the async workers).
async fn record(
    queue: &SharedQueue,
    (writer, destination): (&str, &str),
    artifacts: &Arc<Vec<Artifact>>,
    delivered: &[usize],
    failed: &[(usize, WriteError)],
    attempts: &[u32],
) -> Result<Vec<Fate>, QueueError> {
    if delivered.is_empty() && failed.is_empty() {
        return Ok(Vec::new());
    }
    let (queue, writer, artifacts) = (queue.clone(), writer.to_string(), artifacts.clone());
    let destination = destination.to_string();
    let delivered = delivered.to_vec();
    let failed: Vec<(usize, WriteError, u32)> = failed
        .iter()
        .map(|(i, e)| (*i, e.clone(), attempts[*i]))
        .collect();
    tokio::task::spawn_blocking(move || {
        let delivered: Vec<&Artifact> = delivered.iter().map(|&i| &artifacts[i]).collect();
        let failed: Vec<(&Artifact, &WriteError, u32)> = failed
            .iter()
            .map(|(i, e, n)| (&artifacts[*i], e, *n))
            .collect();
        lock(&queue).record(&writer, &destination, &delivered, &failed)
    })
    .await
    .map_err(|e| QueueError::Task(format!("recording outcomes failed: {e}")))?
}
