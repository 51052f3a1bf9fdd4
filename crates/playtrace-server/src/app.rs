//! Shared state of a running collector: config, tokens, the store's log and reader, the live
//! contests, the fan-out hub, metrics.

use crate::auth::Tokens;
use crate::config::{Privacy, ServeConfig};
use crate::fanout::Hub;
use crate::http::conns::ConnMetrics;
use crate::metrics::Metrics;
use crate::pipeline::{Work, WorkJob};
use playtrace_core::alert::RuleSet;
use playtrace_core::contest::{BudgetQuery, LiveContests, WindowReport};
use playtrace_store::{Health, Log, Reader, StoreSettings, SubmitError};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};

/// Everything handlers share.
pub(crate) struct AppState {
    /// The configuration in force.
    pub(crate) config: ServeConfig,
    /// Tokens in force (replaced by a configuration reload).
    pub(crate) tokens: RwLock<Arc<Tokens>>,
    /// Alert rules in force, shared with the commit hook (replaced by a reload).
    pub(crate) rules: Arc<RwLock<Arc<RuleSet>>>,
    /// Counters.
    pub(crate) metrics: Arc<Metrics>,
    /// Read connection.
    pub(crate) reader: Arc<Reader>,
    /// Live contests and windows (also updated by the writer thread after each commit).
    pub(crate) live: Arc<Mutex<LiveContests>>,
    /// Set once the live state is rebuilt from the store.
    pub(crate) ready: AtomicBool,
    /// The store's durability settings, as SQLite reports them.
    pub(crate) store_settings: StoreSettings,
    /// The fan-out of committed batches.
    pub(crate) hub: Arc<Hub>,
    /// Connection counters of the accept loop.
    pub(crate) connections: Arc<ConnMetrics>,
    /// Whether the store can write, and what it found missing at start.
    pub(crate) health: Arc<Health>,
    /// Where jobs are ordered and made durable (`None` while the live state is rebuilt at
    /// start, and once ingest is closed).
    log: RwLock<Option<Box<dyn Log<Work>>>>,
    /// Set until the log opens: the live state is being rebuilt from the store.
    pub(crate) rebuilding: AtomicBool,
    /// The tracking plan checked at ingest (`[plan]`), with its counters (replaced by a
    /// reload).
    pub(crate) plan: RwLock<Option<Arc<crate::ingest::plan::Gate>>>,
    /// Alert notifications, when receivers are configured.
    pub(crate) notify: std::sync::OnceLock<Arc<crate::notify::Notifier>>,
    /// Redaction rules and subjects in force (replaced by a reload).
    pub(crate) privacy: RwLock<Arc<Privacy>>,
    /// Per-game limits and sampling (`[[games]]`, `[[sampling]]`).
    pub(crate) guard: crate::ingest::guard::Guard,
    /// `[cluster]`: this node of a JetStream cluster (unset on a single node).
    pub(crate) cluster: std::sync::OnceLock<Arc<crate::cluster::node::Node>>,
}

impl AppState {
    /// Shared state before the log opens ([`AppState::open_log`]): requests are served, ingest
    /// answers 503 until then.
    pub(crate) fn new(
        config: ServeConfig,
        metrics: Arc<Metrics>,
        reader: Arc<Reader>,
        live: Arc<Mutex<LiveContests>>,
        store_settings: StoreSettings,
        hub: Arc<Hub>,
        health: Arc<Health>,
    ) -> Self {
        AppState {
            plan: RwLock::new(crate::ingest::plan::Gate::from_config(&config.plan)),
            tokens: RwLock::new(Arc::new(config.tokens.clone())),
            rules: Arc::new(RwLock::new(Arc::new(config.rules.clone()))),
            privacy: RwLock::new(Arc::new(config.privacy.clone())),
            guard: crate::ingest::guard::Guard::new(config.games.clone()),
            config,
            metrics,
            reader,
            live,
            ready: AtomicBool::new(false),
            store_settings,
            hub,
            connections: Arc::default(),
            health,
            log: RwLock::new(None),
            rebuilding: AtomicBool::new(true),
            notify: std::sync::OnceLock::new(),
            cluster: std::sync::OnceLock::new(),
        }
    }

    /// Opens ingest once the live state is rebuilt.
    pub(crate) fn open_log(&self, log: Box<dyn Log<Work>>) {
        *self.log.write().unwrap_or_else(|p| p.into_inner()) = Some(log);
        self.rebuilding.store(false, Ordering::Release);
    }

    /// Whether the live state is still being rebuilt from the store.
    pub(crate) fn is_rebuilding(&self) -> bool {
        self.rebuilding.load(Ordering::Acquire)
    }

    /// The tokens in force now.
    pub(crate) fn tokens(&self) -> Arc<Tokens> {
        self.tokens
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The tracking plan in force now (a request keeps the one it started with).
    pub(crate) fn plan(&self) -> Option<Arc<crate::ingest::plan::Gate>> {
        self.plan.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The redaction rules and subjects in force now.
    pub(crate) fn privacy(&self) -> Arc<Privacy> {
        self.privacy
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Queues a job for the log.
    pub(crate) fn submit(&self, job: WorkJob) -> Result<(), SubmitError<Work>> {
        let guard = self.log.read().unwrap_or_else(|p| p.into_inner());
        match guard.as_ref() {
            Some(log) => log.try_submit(job),
            None => Err(SubmitError::Closed(Box::new(job))),
        }
    }

    /// Whether ingest is still open.
    pub(crate) fn writer_alive(&self) -> bool {
        self.log.read().unwrap_or_else(|p| p.into_inner()).is_some()
    }

    /// Closes ingest: the writer finishes what is queued and stops.
    pub(crate) fn close_writer(&self) {
        self.log.write().unwrap_or_else(|p| p.into_inner()).take();
    }

    /// Runs `f` on the live contests.
    pub(crate) fn with_live<R>(&self, f: impl FnOnce(&LiveContests) -> R) -> R {
        let live = self.live.lock().unwrap_or_else(|p| p.into_inner());
        f(&live)
    }

    /// Budgets over the rolling windows.
    pub(crate) fn live_budgets(&self, query: &BudgetQuery, now_ms: f64) -> Vec<WindowReport> {
        self.with_live(|l| l.budgets(query, &self.config.budgets.set, now_ms))
    }
}
