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
}

/// Inside the writer's transaction of a [`Replicated`] job: moves the store's bookmark, after
/// checking the message is the next one.
pub(crate) fn advance<W>(tx: &Tx<'_>, job: &Replicated<W>) -> Result<(), StoreError> {
    let at = tx.cluster_position()?;
    if at.stream_seq != job.prev {
        return Err(StoreError::Commit(format!(
            "stream message {} follows {} but the store is at {}: applying it again from the \
             store's position",
            job.position.stream_seq, job.prev, at.stream_seq
        )));
    }
    tx.set_cluster_position(job.position)
}
