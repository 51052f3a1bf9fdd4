//! Per-receiver counters for `/metrics`: sent, failed attempts, retries, dead, rate-limited
//! waits, the circuit's state, send latency; queue depths come from the outbox at scrape time.

use crate::metrics::{header, sample};
use playtrace_store::Depth;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

const BOUNDS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// One receiver's counters.
pub(crate) struct ReceiverMetrics {
    pub(crate) name: String,
    pub(crate) sent: AtomicU64,
    pub(crate) failed: AtomicU64,
    pub(crate) retried: AtomicU64,
    pub(crate) dead: AtomicU64,
    pub(crate) rate_limited: AtomicU64,
    pub(crate) circuit_open: AtomicBool,
    buckets: Vec<AtomicU64>,
    count: AtomicU64,
    sum_micro: AtomicU64,
}

impl ReceiverMetrics {
    pub(crate) fn new(name: &str) -> ReceiverMetrics {
        ReceiverMetrics {
            name: name.to_string(),
            sent: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            retried: AtomicU64::new(0),
            dead: AtomicU64::new(0),
            rate_limited: AtomicU64::new(0),
            circuit_open: AtomicBool::new(false),
            buckets: BOUNDS.iter().map(|_| AtomicU64::new(0)).collect(),
            count: AtomicU64::new(0),
            sum_micro: AtomicU64::new(0),
        }
    }

    /// One attempt's duration, whatever its answer.
    pub(crate) fn latency(&self, seconds: f64) {
        if let Some(i) = BOUNDS.iter().position(|&b| seconds <= b) {
            self.buckets[i].fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_micro
            .fetch_add((seconds * 1e6).max(0.0) as u64, Ordering::Relaxed);
    }
}

fn counter(
    out: &mut String,
    all: &[std::sync::Arc<ReceiverMetrics>],
    name: &str,
    help: &str,
    f: impl Fn(&ReceiverMetrics) -> u64,
) {
    header(out, name, "counter", help);
    for m in all {
        sample(out, name, &[("receiver", &m.name)], f(m) as f64);
    }
}

/// Appends the notification families.
pub(crate) fn render(
    out: &mut String,
    all: &[std::sync::Arc<ReceiverMetrics>],
    depths: &[Depth],
    outbox_reads: u64,
    outbox_commits: u64,
) {
    let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
    counter(
        out,
        all,
        "playtrace_notify_sent_total",
        "Notifications delivered (2xx).",
        |m| load(&m.sent),
    );
    counter(
        out,
        all,
        "playtrace_notify_failed_total",
        "Delivery attempts that failed (any error).",
        |m| load(&m.failed),
    );
    counter(
        out,
        all,
        "playtrace_notify_retried_total",
        "Failed attempts scheduled to be tried again.",
        |m| load(&m.retried),
    );
    counter(
        out,
        all,
        "playtrace_notify_dead_total",
        "Notifications moved to the dead-letter list.",
        |m| load(&m.dead),
    );
    counter(
        out,
        all,
        "playtrace_notify_rate_limited_total",
        "Times a due notification waited for the receiver's rate limit.",
        |m| load(&m.rate_limited),
    );
    header(
        out,
        "playtrace_notify_circuit_open",
        "gauge",
        "1 while the receiver's circuit breaker holds notifications back.",
    );
    for m in all {
        let open = if m.circuit_open.load(Ordering::Relaxed) {
            1.0
        } else {
            0.0
        };
        sample(
            out,
            "playtrace_notify_circuit_open",
            &[("receiver", &m.name)],
            open,
        );
    }
    header(
        out,
        "playtrace_notify_queue",
        "gauge",
        "Notifications in the outbox by receiver and state (pending, sent, dead).",
    );
    for m in all {
        for state in ["pending", "sent", "dead"] {
            let n = depths
                .iter()
                .find(|d| d.receiver == m.name && d.state == state)
                .map_or(0, |d| d.count);
            sample(
                out,
                "playtrace_notify_queue",
                &[("receiver", &m.name), ("state", state)],
                n as f64,
            );
        }
    }
    let name = "playtrace_notify_send_seconds";
    header(
        out,
        name,
        "histogram",
        "Duration of each delivery attempt, in seconds.",
    );
    for m in all {
        let mut cumulative = 0;
        for (bound, bucket) in BOUNDS.iter().zip(&m.buckets) {
            cumulative += load(bucket);
            let le = bound.to_string();
            sample(
                out,
                &format!("{name}_bucket"),
                &[("receiver", &m.name), ("le", &le)],
                cumulative as f64,
            );
        }
        let count = load(&m.count);
        sample(
            out,
            &format!("{name}_bucket"),
            &[("receiver", &m.name), ("le", "+Inf")],
            count as f64,
        );
        sample(
            out,
            &format!("{name}_sum"),
            &[("receiver", &m.name)],
            load(&m.sum_micro) as f64 / 1e6,
        );
        sample(
            out,
            &format!("{name}_count"),
            &[("receiver", &m.name)],
            count as f64,
        );
    }
    let name = "playtrace_notify_outbox_reads_total";
    header(
        out,
        name,
        "counter",
        "Reads of pending notifications from the outbox by the delivery loops: at start, after \
         a retry request or a failed record, and when more wait than memory holds; never per send.",
    );
    sample(out, name, &[], outbox_reads as f64);
    let name = "playtrace_notify_outbox_commits_total";
    header(
        out,
        name,
        "counter",
        "Write transactions of the notifier's own store connections (flushes of due groups, \
         batches of delivery results, retry and delete requests); each one pauses the store's writer.",
    );
    sample(out, name, &[], outbox_commits as f64);
}
