//! Shared state of a running collector: config, tokens, the store's writer and reader, the live
//! contests, metrics.

use crate::api::IngestJob;
use crate::auth::Tokens;
use crate::config::ServeConfig;
use crate::hook::Work;
use crate::metrics::Metrics;
use crate::stream::Hub;
use playtrace_core::contest::{BudgetQuery, EventMeta, LiveContests, WindowReport};
use playtrace_core::scan::ObservationBatch;
use playtrace_store::{CommitOutcome, EventRow, Reader, SubmitError, Writer};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, RwLock};

/// Everything handlers share.
pub struct AppState {
    /// The configuration in force.
    pub config: ServeConfig,
    /// Tokens.
    pub tokens: Tokens,
    /// Counters.
    pub metrics: Arc<Metrics>,
    /// Read connection.
    pub reader: Arc<Reader>,
    /// Live contests and windows (also updated by the writer thread after each commit).
    pub live: Arc<Mutex<LiveContests>>,
    /// Set once the live state is rebuilt from the store.
    pub ready: AtomicBool,
    /// `journal_mode` and `synchronous` of the writer's connection, as SQLite reports them.
    pub store_settings: (String, String),
    /// The stream's broadcast side.
    pub hub: Arc<Hub>,
    writer: RwLock<Option<Writer<Work>>>,
}

impl AppState {
    /// Shared state around a started writer.
    pub fn new(
        config: ServeConfig,
        metrics: Arc<Metrics>,
        reader: Arc<Reader>,
        live: Arc<Mutex<LiveContests>>,
        writer: Writer<Work>,
        store_settings: (String, String),
        hub: Arc<Hub>,
    ) -> Self {
        AppState {
            tokens: config.tokens.clone(),
            config,
            metrics,
            reader,
            live,
            ready: AtomicBool::new(false),
            store_settings,
            hub,
            writer: RwLock::new(Some(writer)),
        }
    }

    /// Queues a job for the writer.
    pub fn submit(&self, job: IngestJob) -> Result<(), SubmitError<Work>> {
        let guard = self.writer.read().unwrap_or_else(|p| p.into_inner());
        match guard.as_ref() {
            Some(w) => w.try_submit(job),
            None => Err(SubmitError::Closed(Box::new(job))),
        }
    }

    /// Whether ingest is still open.
    pub fn writer_alive(&self) -> bool {
        self.writer
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .is_some()
    }

    /// Closes ingest: the writer finishes what is queued and stops.
    pub fn close_writer(&self) {
        self.writer
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .take();
    }

    /// Runs `f` on the live contests.
    pub fn with_live<R>(&self, f: impl FnOnce(&LiveContests) -> R) -> R {
        let live = self.live.lock().unwrap_or_else(|p| p.into_inner());
        f(&live)
    }

    /// Budgets over the rolling windows.
    pub fn live_budgets(&self, query: &BudgetQuery, now_ms: f64) -> Vec<WindowReport> {
        self.with_live(|l| l.budgets(query, &self.config.budgets, now_ms))
    }
}

/// Folds one committed job into the live state (the writer's `on_commit` hook): duplicates are
/// skipped so a retried batch is counted once.
pub fn apply_commit(
    live: &Mutex<LiveContests>,
    events: &[EventRow],
    observations: &ObservationBatch,
    outcome: &CommitOutcome,
) {
    if observations.observations.is_empty() {
        return;
    }
    let mut live = live.lock().unwrap_or_else(|p| p.into_inner());
    let recv_ms = outcome.recv_ms as f64;
    live.apply(observations, |i| {
        let i = i as usize;
        if !outcome.inserted.get(i).copied().unwrap_or(false) {
            return None;
        }
        let e = events.get(i)?;
        Some(EventMeta {
            game: (!e.game.is_empty()).then_some(e.game.as_str()),
            env: e.env.as_deref(),
            recv_ms,
        })
    });
}
