//! Delivery with memory: a fan-out whose failures are kept in the durable queues, and the drain
//! of the retry queue (`playtrace export retry`).

use crate::queue::{Queue, QueueError};
use crate::{fan_out_counted, Artifact, FanOut, WriteError, Writer};
use std::collections::HashMap;
use std::sync::Arc;

/// Fans out, then queues every transient failure for retry and dead-letters every permanent
/// one, counting `retried` and `deadLettered` per writer.
pub async fn deliver(
    artifacts: &[Artifact],
    writers: &[Arc<dyn Writer>],
    queue: &mut Queue,
    done: Arc<std::sync::atomic::AtomicU64>,
) -> Result<FanOut, QueueError> {
    let mut result = fan_out_counted(artifacts, writers, done).await;
    let by_name: HashMap<&str, &Artifact> =
        artifacts.iter().map(|a| (a.name.as_str(), a)).collect();
    for outcome in &result.outcomes {
        let (Some(error), Some(artifact)) =
            (&outcome.error, by_name.get(outcome.artifact.as_str()))
        else {
            continue;
        };
        let error = if outcome.transient {
            WriteError::Transient(error.clone())
        } else {
            WriteError::Permanent(error.clone())
        };
        let dead = queue.failed(&outcome.writer, artifact, &error, 1)?;
        if let Some(m) = result.writers.iter_mut().find(|m| m.id == outcome.writer) {
            if dead {
                m.dead_lettered += 1;
            } else {
                m.retried += 1;
            }
        }
    }
    Ok(result)
}

/// What a drain of the retry queue did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Drained {
    /// Delivered now.
    pub delivered: u64,
    /// Still waiting (failed again, or their writer is not configured here).
    pub waiting: u64,
    /// Moved to the dead-letter queue.
    pub dead_lettered: u64,
}

/// Tries every queued artifact (due ones, or all with `all`) on its writer again.
pub async fn drain(
    queue: &mut Queue,
    writers: &[Arc<dyn Writer>],
    all: bool,
) -> Result<Drained, QueueError> {
    let by_id: HashMap<String, &Arc<dyn Writer>> = writers.iter().map(|w| (w.id(), w)).collect();
    let mut drained = Drained::default();
    for entry in queue.due(all)? {
        let Some(writer) = by_id.get(&entry.writer) else {
            drained.waiting += 1;
            continue;
        };
        match writer.write(&entry.artifact).await {
            Ok(_) => {
                queue.delivered(entry.id)?;
                drained.delivered += 1;
            }
            Err(e) => {
                if queue.failed(&entry.writer, &entry.artifact, &e, entry.attempts + 1)? {
                    drained.dead_lettered += 1;
                } else {
                    drained.waiting += 1;
                }
            }
        }
    }
    Ok(drained)
}
