//! Artifact export (SPEC §6): an [`Artifact`] is `{name, mediaType, bytes, kind, context}`; a
//! [`Writer`] takes artifacts somewhere; [`fan_out`] gives every artifact to every writer, writers
//! in parallel with bounded concurrency each, keeping per-writer metrics, so one failing writer
//! never delays or fails another.
//!
//! Writers say whether a failure is worth retrying ([`WriteError::Transient`]: connection
//! refused, timeouts, 5xx, 429) or not ([`WriteError::Permanent`]: 403, a missing bucket, a bad
//! name); the durable retry queue and the dead-letter queue are built on that distinction.
//! Library users add their own writer by implementing [`Writer`].

pub mod artifacts;
pub mod atomic;
pub mod aws_profile;
pub mod bundle;
pub mod deliver;
pub mod fs;
pub mod queue;
pub mod s3;
pub mod state;
pub mod stdout;

use serde::Serialize;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;
use thiserror::Error;

/// One artifact: what it is and its bytes.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Artifact {
    /// File or object name, relative (`budget-report.json`, `transcripts/s-1.csv`).
    pub name: String,
    /// `application/json`, `text/csv`, `text/markdown`, ...
    pub media_type: String,
    /// The content; not in the JSON (the manifest gives its size and sha256 instead).
    #[serde(skip)]
    pub bytes: Arc<Vec<u8>>,
    /// `report`, `transcript`, `rejects`.
    pub kind: String,
    /// Free-form context (run id, session, ...).
    pub context: serde_json::Value,
}

/// Why a write failed.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum WriteError {
    /// Worth retrying later.
    #[error("{0} (will retry)")]
    Transient(String),
    /// Retrying will not help; the artifact goes to the dead-letter queue.
    #[error("{0}")]
    Permanent(String),
}

/// A boxed future, so writers can be used as trait objects.
pub type WriteFuture<'a> = Pin<Box<dyn Future<Output = Result<String, WriteError>> + Send + 'a>>;

/// Takes artifacts somewhere. Returns where the artifact now is (a path, a URL).
pub trait Writer: Send + Sync {
    /// A short name for metrics and the manifest (`fs:artifacts`, `s3://bucket/prefix`).
    fn id(&self) -> String;
    /// Everything needed to reach the same place again from another process and another
    /// working directory (`export retry`), stored with each queued artifact: for S3 the
    /// endpoint, bucket, prefix, region and addressing style (never a secret), for the
    /// filesystem the absolute directory. Defaults to [`Writer::id`].
    fn destination(&self) -> String {
        self.id()
    }
    /// Writes one artifact.
    fn write<'a>(&'a self, artifact: &'a Artifact) -> WriteFuture<'a>;
    /// Writes in flight at most (per writer).
    fn concurrency(&self) -> usize {
        4
    }
}

/// Per-writer counters (the names of the old adapter's `writerSummaries`, extended).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WriterMetrics {
    /// The writer's [`Writer::id`].
    pub id: String,
    /// Artifacts given to the writer.
    pub attempted: u64,
    /// Artifacts written, on the first try or a retry.
    pub successes: u64,
    /// Failed attempts (transient or permanent, first tries and retries).
    pub failures: u64,
    /// Retry attempts made (after a first attempt failed).
    pub retried: u64,
    /// Left waiting in the retry queue at the end of the run.
    pub queued: u64,
    /// Sent to the dead-letter queue.
    pub dead_lettered: u64,
    /// Artifact bytes written (the sum of the written artifacts' sizes).
    pub bytes: u64,
    /// Wall time of this writer's part, ms.
    pub duration_ms: u64,
}

/// What happened to one artifact at one writer.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Outcome {
    /// The artifact's name.
    pub artifact: String,
    /// The writer's [`Writer::id`].
    pub writer: String,
    /// [`Status::Written`], [`Status::Failed`] or [`Status::Rejected`] after [`fan_out`];
    /// `Written`, `Queued` or `DeadLettered` after a delivery with the durable queues.
    pub status: Status,
    /// Where it was written.
    pub location: Option<String>,
    /// Attempts made in this run.
    pub attempts: u32,
    /// The error, when it failed.
    pub error: Option<String>,
    /// Whether retrying may help.
    #[serde(skip)]
    pub transient: bool,
}

/// What became of one artifact at one writer; the manifest's `status` (kebab-case in JSON).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// Written; `location` says where.
    Written,
    /// A transient failure in a plain [`fan_out`] (nothing retries it).
    Failed,
    /// A permanent failure in a plain [`fan_out`] (or the writer panicked).
    Rejected,
    /// Failed and waiting in the durable retry queue (`playtrace export retry`).
    Queued,
    /// Failed for good, or out of attempts: in the dead-letter queue.
    DeadLettered,
}

/// The result of a fan-out.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FanOut {
    /// One per artifact and writer.
    pub outcomes: Vec<Outcome>,
    /// One per writer, in the order given.
    pub writers: Vec<WriterMetrics>,
}

/// Gives every artifact to every writer: writers in parallel, each with at most its
/// [`Writer::concurrency`] writes in flight. A failing writer never delays or fails another.
pub async fn fan_out(artifacts: &[Artifact], writers: &[Arc<dyn Writer>]) -> FanOut {
    fan_out_counted(artifacts, writers, Arc::default()).await
}

/// [`fan_out`], adding one to `done` per finished write (for progress displays).
pub async fn fan_out_counted(
    artifacts: &[Artifact],
    writers: &[Arc<dyn Writer>],
    done: Arc<std::sync::atomic::AtomicU64>,
) -> FanOut {
    let artifacts: Arc<Vec<Artifact>> = Arc::new(artifacts.to_vec());
    let mut tasks = Vec::with_capacity(writers.len());
    for writer in writers {
        let writer = writer.clone();
        let artifacts = artifacts.clone();
        let done = done.clone();
        tasks.push(tokio::spawn(async move {
            run_writer(writer, artifacts, done).await
        }));
    }
    let mut result = FanOut::default();
    for (task, writer) in tasks.into_iter().zip(writers) {
        match task.await {
            Ok((metrics, outcomes)) => {
                result.writers.push(metrics);
                result.outcomes.extend(outcomes);
            }
            // A writer that panicked fails its own artifacts, nobody else's.
            Err(e) => {
                let id = writer.id();
                result.writers.push(WriterMetrics {
                    id: id.clone(),
                    attempted: artifacts.len() as u64,
                    failures: artifacts.len() as u64,
                    ..WriterMetrics::default()
                });
                result.outcomes.extend(artifacts.iter().map(|a| Outcome {
                    artifact: a.name.clone(),
                    writer: id.clone(),
                    status: Status::Rejected,
                    location: None,
                    attempts: 1,
                    error: Some(format!("the writer panicked: {e}")),
                    transient: false,
                }));
            }
        }
    }
    result
}

async fn run_writer(
    writer: Arc<dyn Writer>,
    artifacts: Arc<Vec<Artifact>>,
    done: Arc<std::sync::atomic::AtomicU64>,
) -> (WriterMetrics, Vec<Outcome>) {
    let started = Instant::now();
    let id = writer.id();
    let indices: Vec<usize> = (0..artifacts.len()).collect();
    let results = write_each(&writer, &artifacts, &indices, Some(&done), None).await;
    let mut metrics = WriterMetrics {
        id: id.clone(),
        ..WriterMetrics::default()
    };
    let mut outcomes = Vec::with_capacity(artifacts.len());
    for (result, artifact) in results.into_iter().zip(artifacts.iter()) {
        metrics.attempted += 1;
        let (status, location, error, transient) = match result {
            Ok(location) => {
                metrics.successes += 1;
                metrics.bytes += artifact.bytes.len() as u64;
                (Status::Written, Some(location), None, false)
            }
            Err(WriteError::Transient(e)) => {
                metrics.failures += 1;
                (Status::Failed, None, Some(e), true)
            }
            Err(WriteError::Permanent(e)) => {
                metrics.failures += 1;
                (Status::Rejected, None, Some(e), false)
            }
        };
        outcomes.push(Outcome {
            artifact: artifact.name.clone(),
            writer: id.clone(),
            status,
            location,
            attempts: 1,
            error,
            transient,
        });
    }
    metrics.duration_ms = started.elapsed().as_millis() as u64;
    (metrics, outcomes)
}

/// After this many transient failures in a row with nothing written in between, the rest of a
/// round is not attempted: a host that swallows connections would otherwise cost a connect
/// timeout per artifact (minutes for a few thousand). The skipped writes fail as transient,
/// so they wait in the retry queue like the others.
pub const BREAKER_THRESHOLD: usize = 16;

/// The circuit breaker of one round of writes.
#[derive(Default)]
struct Breaker {
    streak: std::sync::atomic::AtomicUsize,
    open: std::sync::OnceLock<String>,
}

impl Breaker {
    fn observe(&self, result: &Result<String, WriteError>) {
        use std::sync::atomic::Ordering::Relaxed;
        match result {
            Ok(_) => self.streak.store(0, Relaxed),
            Err(WriteError::Transient(e)) => {
                if self.streak.fetch_add(1, Relaxed) + 1 >= BREAKER_THRESHOLD {
                    let _ = self.open.set(e.clone());
                }
            }
            // A permanent failure says something about the artifact, not the connection.
            Err(WriteError::Permanent(_)) => {}
        }
    }

    fn refusal(&self) -> Option<WriteError> {
        self.open.get().map(|last| {
            WriteError::Transient(format!(
                "not attempted: the writer's last {BREAKER_THRESHOLD} writes failed, the last with: {last}"
            ))
        })
    }
}

/// Writes `artifacts[i]` for each `i` in `indices` once, at most [`Writer::concurrency`] at a
/// time; the results in the order of `indices`. A panicking write fails only its artifact;
/// after [`BREAKER_THRESHOLD`] transient failures in a row the rest are not attempted.
pub(crate) async fn write_each(
    writer: &Arc<dyn Writer>,
    artifacts: &Arc<Vec<Artifact>>,
    indices: &[usize],
    done: Option<&Arc<std::sync::atomic::AtomicU64>>,
    cap: Option<std::time::Duration>,
) -> Vec<Result<String, WriteError>> {
    let limit = Arc::new(tokio::sync::Semaphore::new(writer.concurrency().max(1)));
    let breaker = Arc::new(Breaker::default());
    let mut tasks = Vec::with_capacity(indices.len());
    for &index in indices {
        let (writer, artifacts, limit) = (writer.clone(), artifacts.clone(), limit.clone());
        let (done, breaker) = (done.cloned(), breaker.clone());
        tasks.push(tokio::spawn(async move {
            let _permit = limit.acquire_owned().await;
            let result = match breaker.refusal() {
                Some(refused) => Err(refused),
                None => match cap {
                    None => writer.write(&artifacts[index]).await,
                    Some(cap) => tokio::time::timeout(cap, writer.write(&artifacts[index]))
                        .await
                        .unwrap_or_else(|_| {
                            Err(WriteError::Transient(format!(
                                "no answer within the {} ms left of --retry-for",
                                cap.as_millis()
                            )))
                        }),
                },
            };
            breaker.observe(&result);
            if let Some(done) = done {
                done.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            result
        }));
    }
    let mut results = Vec::with_capacity(tasks.len());
    for task in tasks {
        results
            .push(task.await.unwrap_or_else(|e| {
                Err(WriteError::Permanent(format!("the write panicked: {e}")))
            }));
    }
    results
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod retry_tests;
