//! How many connections the collector holds, and which one gives way at the cap.
//!
//! Every open connection takes a file descriptor; once the process runs out, `accept` fails and
//! nobody — not `/healthz`, not an honest client — gets in. So the number of connections is
//! capped below the descriptor limit, and at the cap the oldest connection that is not serving a
//! request (idle keep-alive, or one still sending its request head) is closed to make room.
//! Only when every connection is busy is a newcomer answered 503.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::Notify;

/// Descriptors kept for the store, the listener, logs and the runtime.
const RESERVED_FDS: u64 = 64;

/// Connection counters for `/metrics`.
#[derive(Default)]
pub(crate) struct ConnMetrics {
    /// Open connections.
    pub(crate) open: AtomicU64,
    /// Idle or half-sent connections closed to make room at the cap.
    pub(crate) evicted: AtomicU64,
    /// Connections answered 503 at the cap (every connection was busy).
    pub(crate) refused: AtomicU64,
    /// Connections closed by `http.header_timeout` or `http.body_idle_timeout`.
    pub(crate) timeouts: AtomicU64,
    /// `accept` failures (out of file descriptors and the like).
    pub(crate) accept_errors: AtomicU64,
}

/// One connection as the registry sees it.
pub(crate) struct Conn {
    /// Requests being served on it (a response not yet fully written counts).
    busy: AtomicUsize,
    /// Chosen to give way; set once.
    evicting: AtomicBool,
    /// Wakes the connection's task to close it.
    pub(crate) evict: Notify,
}

impl Conn {
    /// Whether it serves no request now.
    pub(crate) fn is_idle(&self) -> bool {
        self.busy.load(Ordering::Acquire) == 0
    }
}

/// Marks its connection busy while it lives (held by the response body until it is written).
pub(crate) struct Busy(Arc<Conn>);

impl Busy {
    pub(crate) fn new(conn: Arc<Conn>) -> Busy {
        conn.busy.fetch_add(1, Ordering::AcqRel);
        Busy(conn)
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.busy.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The open connections, oldest first.
pub(crate) struct Conns {
    slots: Mutex<BTreeMap<u64, Arc<Conn>>>,
    next: AtomicU64,
    /// Connections at most before the oldest idle one gives way.
    pub(crate) cap: usize,
    /// Counters.
    pub(crate) metrics: Arc<ConnMetrics>,
}

impl Conns {
    pub(crate) fn new(cap: usize, metrics: Arc<ConnMetrics>) -> Conns {
        Conns {
            slots: Mutex::new(BTreeMap::new()),
            next: AtomicU64::new(0),
            cap: cap.max(1),
            metrics,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, Arc<Conn>>> {
        self.slots.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Open connections.
    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }

    /// Registers a new connection.
    pub(crate) fn open(&self) -> (u64, Arc<Conn>) {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let conn = Arc::new(Conn {
            busy: AtomicUsize::new(0),
            evicting: AtomicBool::new(false),
            evict: Notify::new(),
        });
        self.lock().insert(id, conn.clone());
        self.metrics.open.fetch_add(1, Ordering::Relaxed);
        (id, conn)
    }

    /// Forgets a closed connection.
    pub(crate) fn close(&self, id: u64) {
        if self.lock().remove(&id).is_some() {
            self.metrics.open.fetch_sub(1, Ordering::Relaxed);
        }
    }

    /// Asks the oldest idle connection to close; false when every connection is busy.
    pub(crate) fn evict_idle(&self) -> bool {
        let slots = self.lock();
        let victim = slots
            .values()
            .find(|c| c.is_idle() && !c.evicting.load(Ordering::Acquire));
        match victim {
            Some(c) => {
                c.evicting.store(true, Ordering::Release);
                c.evict.notify_one();
                self.metrics.evicted.fetch_add(1, Ordering::Relaxed);
                true
            }
            None => false,
        }
    }
}

/// The process's soft limit on open files (Linux: `/proc/self/limits`).
fn fd_limit() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = text.lines().find(|l| l.starts_with("Max open files"))?;
    let soft = line
        .trim_start_matches("Max open files")
        .split_whitespace()
        .next()?;
    if soft == "unlimited" {
        return Some(u64::from(u32::MAX));
    }
    soft.parse().ok()
}

/// `http.max_connections`, or when it is 0 the descriptor limit less what the rest of the
/// process needs (1,024 where the limit cannot be read).
pub(crate) fn connection_cap(configured: usize) -> usize {
    if configured > 0 {
        return configured;
    }
    match fd_limit() {
        Some(n) => usize::try_from(n.saturating_sub(RESERVED_FDS).max(16)).unwrap_or(usize::MAX),
        None => 1024,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_oldest_idle_connection_gives_way() {
        let conns = Conns::new(2, Arc::default());
        let (_, first) = conns.open();
        let (_, second) = conns.open();
        let busy = Busy::new(first.clone());
        assert!(conns.evict_idle());
        assert!(second.evicting.load(Ordering::Acquire));
        // The busy one is never chosen, and nobody is chosen twice.
        assert!(!conns.evict_idle());
        drop(busy);
        assert!(conns.evict_idle());
        assert_eq!(conns.metrics.evicted.load(Ordering::Relaxed), 2);
    }

    #[test]
    fn the_cap_follows_the_descriptor_limit() {
        assert_eq!(connection_cap(10), 10);
        if let Some(limit) = fd_limit() {
            assert_eq!(connection_cap(0) as u64, limit.saturating_sub(64).max(16));
        }
    }
}
