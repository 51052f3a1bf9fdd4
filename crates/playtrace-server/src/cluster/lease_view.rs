//! This collector's view of the cluster's lease (who holds it, whether this collector leads),
//! apart from the NATS work that takes and renews it (`lease.rs`), so the node can hold the view
//! without importing that work.

use async_nats::jetstream::kv;
use std::sync::Mutex;
use tokio::sync::watch;

/// This collector's view of the lease.
pub(crate) struct Lease {
    /// Whether this collector holds it now.
    pub(super) leading: watch::Sender<bool>,
    /// How many times this collector took it (a holder's state read at one take is stale at
    /// the next).
    terms: std::sync::atomic::AtomicU64,
    /// The node name of the holder, as last seen (`None`: nobody, or not known yet).
    holder: Mutex<Option<String>>,
    /// The bucket and the revision this node last wrote, while it holds the key (to hand it
    /// back when the collector stops).
    pub(super) key: Mutex<Option<(kv::Store, u64)>>,
}

impl Default for Lease {
    fn default() -> Self {
        Lease {
            leading: watch::channel(false).0,
            terms: std::sync::atomic::AtomicU64::new(0),
            holder: Mutex::new(None),
            key: Mutex::new(None),
        }
    }
}

impl Lease {
    /// Whether this collector holds the lease now.
    pub(crate) fn is_leading(&self) -> bool {
        *self.leading.borrow()
    }

    /// Which of this collector's terms as holder this is (changes with every take).
    pub(crate) fn term(&self) -> u64 {
        self.terms.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Follows whether this collector holds the lease.
    pub(crate) fn subscribe(&self) -> watch::Receiver<bool> {
        self.leading.subscribe()
    }

    /// The holder's node name, as last seen.
    pub(crate) fn holder(&self) -> Option<String> {
        self.holder
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub(super) fn set_holder(&self, holder: Option<String>) {
        *self.holder.lock().unwrap_or_else(|p| p.into_inner()) = holder;
    }

    pub(super) fn keep(&self, key: Option<(kv::Store, u64)>) {
        *self.key.lock().unwrap_or_else(|p| p.into_inner()) = key;
    }

    pub(super) fn lead(&self, node: &str, leading: bool) {
        if leading {
            self.terms.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        }
        let was = self.leading.send_replace(leading);
        if leading {
            self.set_holder(Some(node.to_string()));
        }
        match (was, leading) {
            (false, true) => tracing::info!(node, "took the cluster's lease: this collector runs the time-driven work and sends the notifications"),
            (true, false) => tracing::warn!(node, "lost the cluster's lease: time-driven work and notifications stop here"),
            _ => {}
        }
    }
}
