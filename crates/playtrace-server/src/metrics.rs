//! Counters and histograms for `/metrics` (Prometheus text format 0.0.4), kept with atomics so
//! that counting never takes a lock on the ingest path.

pub(crate) mod budgets;
pub(crate) mod dimensions;
pub(crate) mod process;
mod text;

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
pub(crate) use text::{header, sample};

/// A fixed-bucket histogram.
pub struct Histogram {
    bounds: &'static [f64],
    buckets: Vec<AtomicU64>,
    count: AtomicU64,
    /// Sum in millionths, so it can be an atomic integer.
    sum_micro: AtomicU64,
}

impl Histogram {
    /// A histogram with these upper bounds (ascending).
    pub fn new(bounds: &'static [f64]) -> Self {
        Histogram {
            bounds,
            buckets: bounds.iter().map(|_| AtomicU64::new(0)).collect(),
            count: AtomicU64::new(0),
            sum_micro: AtomicU64::new(0),
        }
    }

    /// Values observed so far.
    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    /// Records one value.
    pub fn observe(&self, v: f64) {
        if let Some(i) = self.bounds.iter().position(|&b| v <= b) {
            self.buckets[i].fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_micro
            .fetch_add((v * 1e6).max(0.0) as u64, Ordering::Relaxed);
    }

    fn render(&self, out: &mut String, name: &str, help: &str) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        let mut cumulative = 0;
        for (bound, bucket) in self.bounds.iter().zip(&self.buckets) {
            cumulative += bucket.load(Ordering::Relaxed);
            let _ = writeln!(out, "{name}_bucket{{le=\"{bound}\"}} {cumulative}");
        }
        let count = self.count.load(Ordering::Relaxed);
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {count}");
        let sum = self.sum_micro.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(out, "{name}_sum {sum}\n{name}_count {count}");
    }
}

/// Everything the collector counts.
pub struct Metrics {
    /// Events stored.
    pub accepted: AtomicU64,
    /// Events that were duplicates of stored ones.
    pub duplicates: AtomicU64,
    /// Rejected lines by kind (parse, schema, size, encoding).
    pub rejected: [AtomicU64; 4],
    /// Requests refused for their token (401/403).
    pub requests_refused: AtomicU64,
    /// Requests refused because the store queue was full (503).
    pub overloaded: AtomicU64,
    /// Writes refused because the store was full (507).
    pub store_full: AtomicU64,
    /// Seconds from request start to acknowledgement.
    pub ingest_seconds: Histogram,
    /// Events per group commit.
    pub commit_events: Histogram,
    /// Write requests handed to the store's writer and not yet answered (queued or being
    /// committed).
    pub queued: AtomicU64,
}

/// Counts one write request in [`Metrics::queued`] while it lives.
pub(crate) struct Queued<'a>(&'a AtomicU64);

impl Drop for Queued<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

const LATENCY: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
const BATCH: &[f64] = &[
    1.0, 10.0, 100.0, 1_000.0, 5_000.0, 10_000.0, 50_000.0, 100_000.0,
];

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            accepted: AtomicU64::new(0),
            duplicates: AtomicU64::new(0),
            rejected: Default::default(),
            requests_refused: AtomicU64::new(0),
            overloaded: AtomicU64::new(0),
            store_full: AtomicU64::new(0),
            ingest_seconds: Histogram::new(LATENCY),
            commit_events: Histogram::new(BATCH),
            queued: AtomicU64::new(0),
        }
    }
}

/// Reject kinds in the order of [`Metrics::rejected`].
pub const REJECT_KINDS: [&str; 4] = ["parse", "schema", "size", "encoding"];

impl Metrics {
    /// Counts one reject kind.
    pub fn reject(&self, kind: &str) {
        if let Some(i) = REJECT_KINDS.iter().position(|k| *k == kind) {
            self.rejected[i].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Counts a write request as queued until the guard is dropped.
    pub(crate) fn queue(&self) -> Queued<'_> {
        self.queued.fetch_add(1, Ordering::Relaxed);
        Queued(&self.queued)
    }

    /// The ingest counters and histograms.
    pub fn render(&self, out: &mut String) {
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed) as f64;
        header(
            out,
            "playtrace_events_total",
            "counter",
            "Events received, by outcome (accepted, duplicate, rejected) and reject kind.",
        );
        sample(
            out,
            "playtrace_events_total",
            &[("outcome", "accepted")],
            get(&self.accepted),
        );
        sample(
            out,
            "playtrace_events_total",
            &[("outcome", "duplicate")],
            get(&self.duplicates),
        );
        for (kind, n) in REJECT_KINDS.iter().zip(&self.rejected) {
            sample(
                out,
                "playtrace_events_total",
                &[("outcome", "rejected"), ("kind", kind)],
                get(n),
            );
        }
        header(
            out,
            "playtrace_ingest_overloaded_total",
            "counter",
            "Ingest requests answered 503 because the store queue was full.",
        );
        sample(
            out,
            "playtrace_ingest_overloaded_total",
            &[],
            get(&self.overloaded),
        );
        header(
            out,
            "playtrace_store_full_total",
            "counter",
            "Writes answered 507 because the disk or the store's size cap was full.",
        );
        sample(
            out,
            "playtrace_store_full_total",
            &[],
            get(&self.store_full),
        );
        header(
            out,
            "playtrace_store_queue_requests",
            "gauge",
            "Write requests queued for the store's writer or being committed (limits.queue_requests bounds the queue).",
        );
        sample(
            out,
            "playtrace_store_queue_requests",
            &[],
            get(&self.queued),
        );
        header(
            out,
            "playtrace_requests_refused_total",
            "counter",
            "Requests refused for a missing, unknown or under-scoped token (401/403).",
        );
        sample(
            out,
            "playtrace_requests_refused_total",
            &[],
            get(&self.requests_refused),
        );
        self.ingest_seconds.render(
            out,
            "playtrace_ingest_duration_seconds",
            "Time from receiving an ingest request to acknowledging it (durable).",
        );
        self.commit_events.render(
            out,
            "playtrace_commit_batch_events",
            "Events per group commit (several requests share one fsync).",
        );
    }
}
