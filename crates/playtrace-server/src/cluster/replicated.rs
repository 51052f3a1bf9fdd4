//! The writer job that applies one message of the log, and the check inside its transaction
//! that keeps the store's bookmark honest.

use playtrace_store::{ClusterPosition, StoreError, Tx};

/// A job of the writer that applies one message of the log.
pub(crate) struct Replicated<W> {
    /// The message applied before it (the store's position must be that, or the job fails:
    /// messages are applied in stream order, never twice, never with a gap).
    pub(crate) prev: u64,
    /// The message and the receive time it gives its rows.
    pub(crate) position: ClusterPosition,
    /// What the message asks for, as a single node's job would.
    pub(crate) work: W,
    /// How the message stands to the lease.
    pub(crate) fence: Fence,
}

/// A message's relation to the lease (`lease.rs`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Fence {
    /// Anyone may write it.
    Open,
    /// It announces a new holder (the prefix of its messages' origins).
    Announce(String),
    /// Only the holder may write it; this is its origin.
    HolderOnly(Option<String>),
}

/// Inside the writer's transaction of a [`Replicated`] job: moves the store's bookmark, after
/// checking the message is the next one, and keeps the lease's fence. Whether the message's
/// work is to be applied: a time-driven message of a collector that no longer holds the lease
/// (one its NATS client sent late, after a takeover was announced) is skipped, in the same
/// place of the log on every node.
pub(crate) fn advance<W>(tx: &Tx<'_>, job: &Replicated<W>) -> Result<bool, StoreError> {
    let at = tx.cluster_position()?;
    if at.stream_seq != job.prev {
        return Err(StoreError::Commit(format!(
            "stream message {} follows {} but the store is at {}: applying it again from the \
             store's position",
            job.position.stream_seq, job.prev, at.stream_seq
        )));
    }
    tx.set_cluster_position(job.position)?;
    match &job.fence {
        Fence::Open => Ok(true),
        Fence::Announce(holder) => {
            tx.set_lease_holder(holder, job.position.stream_seq)?;
            Ok(true)
        }
        Fence::HolderOnly(origin) => {
            let holder = tx.lease_holder()?;
            let ok = admits(holder.as_deref(), origin.as_deref());
            if !ok {
                tracing::warn!(
                    stream_seq = job.position.stream_seq,
                    origin = origin.as_deref().unwrap_or("-"),
                    holder = holder.as_deref().unwrap_or("-"),
                    "skipped a time-driven message of a collector that does not hold the lease"
                );
            }
            Ok(ok)
        }
    }
}

/// Whether a holder-only message of `origin` comes from the announced `holder` (origins are the
/// holder's prefix and a counter; no holder announced yet admits nothing).
fn admits(holder: Option<&str>, origin: Option<&str>) -> bool {
    matches!((holder, origin), (Some(h), Some(o)) if o.starts_with(h))
}

#[cfg(test)]
mod tests {
    use super::admits;

    #[test]
    fn only_the_announced_process_passes_the_fence() {
        assert!(admits(Some("c1-a1/"), Some("c1-a1/17")));
        // The same node restarted is another process; another node, or no holder yet.
        assert!(!admits(Some("c1-a1/"), Some("c1-b2/3")));
        assert!(!admits(Some("c1-a1/"), Some("c2-a1/3")));
        assert!(!admits(None, Some("c1-a1/17")));
        assert!(!admits(Some("c1-a1/"), None));
    }
}
