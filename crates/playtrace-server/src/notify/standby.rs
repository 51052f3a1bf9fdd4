//! A collector of a cluster that does not hold the lease sends nothing. Every collector
//! applies the same log, so each one's outbox gets the same alert changes and its flusher
//! queues the same notifications; only the lease holder's delivery tasks send them. A
//! collector standing by marks its own copies as delivered by the holder once they are older
//! than `grace_ms` (about two lease ttls: longer than a takeover takes), so its queue does not
//! grow, and a collector that takes the lease over sends what is younger than that.
//!
//! So delivery is at least once: at a takeover the new holder may send again what the old one
//! queued in its last moments (each such notification at most twice in all, with the same
//! alert fingerprints and group key, which Alertmanager and idempotent webhooks deduplicate).
//! What it does not send again is a notification the old holder was still retrying (its
//! receiver failing) for longer than `grace_ms` when it died.

use super::Notifier;
use playtrace_store::{now_ms, Attempt, AttemptResult};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// Whether this collector sends now, and how long it leaves its copies to the lease holder.
pub(crate) struct SendGate {
    /// `true` while this collector holds the lease.
    pub(crate) sending: watch::Receiver<bool>,
    /// A standing-by collector's copy older than this is taken as delivered by the holder.
    pub(crate) grace_ms: i64,
}

impl SendGate {
    pub(super) fn sending(&self) -> bool {
        *self.sending.borrow()
    }
}

/// One round of standing by for `receiver`: marks the copies the holder has had time to send,
/// then waits until this collector takes the lease or a second passes.
pub(super) async fn settle(n: &Arc<Notifier>, receiver: &str, gate: &SendGate) {
    let now = now_ms();
    let (outbox, who) = (n.outbox.clone(), receiver.to_string());
    let before = now - gate.grace_ms;
    let marked = tokio::task::spawn_blocking(move || {
        let due = outbox.due(&who, before, 512)?;
        let attempts: Vec<Attempt> = due
            .into_iter()
            .map(|note| Attempt {
                id: note.id,
                attempts: note.attempts,
                at_ms: now,
                result: AttemptResult::Sent,
                error: Some(
                    "not sent by this collector: the cluster's lease holder sends notifications"
                        .into(),
                ),
            })
            .collect();
        outbox.record(&attempts).map(|()| attempts.len())
    })
    .await;
    if let Ok(Err(e)) = marked {
        tracing::warn!("notifications: standing by: {e}");
    }
    let mut sending = gate.sending.clone();
    let _ = tokio::time::timeout(Duration::from_secs(1), sending.wait_for(|s| *s)).await;
}
