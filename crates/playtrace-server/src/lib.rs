//! `playtrace serve`: the collector games send telemetry to.
//!
//! Data flow: a request is authorised ([`auth`]), its body decoded and read into rows and
//! contest observations ([`ingest`], using `playtrace-core`'s readers), and queued for the
//! store's single writer ([`playtrace_store::Writer`]), which group-commits every waiting
//! request with one fsync. After the commit the writer folds the new (non-duplicate) events
//! into the live contests ([`state::apply_commit`]) and the request is acknowledged. Queries
//! ([`api`]) read the store through a separate WAL reader or the live state under a short lock.

pub mod alert_api;
pub mod alerts;
pub mod api;
pub mod auth;
pub mod budget_alerts;
pub mod config;
pub mod conn;
pub mod cors;
pub mod hook;
pub mod ingest;
pub mod metrics;
pub mod state;
pub mod stream;

use crate::config::ServeConfig;
use crate::ingest::Parsed;
use crate::metrics::Metrics;
use crate::state::AppState;
use playtrace_core::contest::{EventMeta, LiveContests, LiveOptions};
use playtrace_store::{Reader, Retention, RetentionPolicy, Writer, WriterOptions, DB_FILE};
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use thiserror::Error;

/// Why the collector could not start (exit code 2).
#[derive(Debug, Error)]
pub enum ServeError {
    /// Bad configuration.
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    /// The data directory or store could not be opened.
    #[error("data directory {dir}: {message}")]
    Store {
        /// The directory.
        dir: std::path::PathBuf,
        /// What failed.
        message: String,
    },
    /// The address could not be bound.
    #[error("cannot listen on {addr}: {source} (is another collector running? choose another port with --listen)")]
    Bind {
        /// The address.
        addr: std::net::SocketAddr,
        /// Cause.
        source: std::io::Error,
    },
    /// Anything else at runtime.
    #[error("{0}")]
    Runtime(String),
}

/// A collector that is listening; [`Running::local_addr`] tells where.
pub struct Running {
    addr: std::net::SocketAddr,
}

impl Running {
    /// The bound address (useful with port 0).
    pub fn local_addr(&self) -> std::net::SocketAddr {
        self.addr
    }
}

fn store_error(dir: &std::path::Path, e: impl std::fmt::Display) -> ServeError {
    ServeError::Store {
        dir: dir.to_path_buf(),
        message: e.to_string(),
    }
}

/// Runs the collector until `shutdown` completes, then stops accepting, lets in-flight requests
/// and commits finish, and returns. `on_listening` is called once the socket is bound.
pub async fn serve(
    config: ServeConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
    on_listening: impl FnOnce(&Running),
) -> Result<(), ServeError> {
    config.check_exposure()?;
    let dir = config.data_dir.clone();
    std::fs::create_dir_all(&dir).map_err(|e| store_error(&dir, e))?;
    let path = dir.join(DB_FILE);

    let conn = playtrace_store::open(&path).map_err(|e| store_error(&dir, e))?;
    // The hard cap: 10% over the retention size, so a store retention cannot keep under it
    // answers 507 instead of filling the disk.
    let hard_limit = config
        .retention_max_bytes
        .saturating_add(config.retention_max_bytes / 10);
    playtrace_store::set_size_limit(&conn, hard_limit).map_err(|e| store_error(&dir, e))?;
    playtrace_store::disable_auto_checkpoint(&conn).map_err(|e| store_error(&dir, e))?;
    let settings = {
        let mode: String = conn
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .map_err(|e| store_error(&dir, e))?;
        let sync: i64 = conn
            .query_row("PRAGMA synchronous", [], |r| r.get(0))
            .map_err(|e| store_error(&dir, e))?;
        let sync = match sync {
            0 => "off",
            1 => "normal",
            2 => "full",
            _ => "extra",
        };
        (mode, sync.to_string())
    };
    let reader = Arc::new(Reader::open(&path).map_err(|e| store_error(&dir, e))?);
    let live = Arc::new(Mutex::new(LiveContests::new(LiveOptions {
        unresolved_after_ms: config.unresolved_after_ms,
        windows_ms: config.windows_ms.clone(),
        forget_after_ms: config.forget_after_ms,
    })));

    // Rebuild open contests and windows from the store before taking new events.
    let rebuilt = rebuild(&reader, &live).map_err(|e| store_error(&dir, e))?;
    tracing::info!(events = rebuilt, "live state rebuilt from the store");

    let metrics = Arc::new(Metrics::default());
    let hub = Arc::new(stream::Hub::new(config.stream_buffer));
    let hook = hook::ServerHook::new(
        config.rules.clone(),
        live.clone(),
        metrics.clone(),
        hub.clone(),
    );
    let (writer, writer_thread) = Writer::start(
        conn,
        WriterOptions {
            queue_requests: config.queue_requests,
            queue_bytes: config.queue_bytes,
            max_commit_events: 100_000,
        },
        Box::new(hook),
    )
    .map_err(|e| store_error(&dir, e))?;

    let stop = Arc::new(AtomicBool::new(false));
    let retention = Retention::open(
        &path,
        RetentionPolicy {
            max_age_ms: config.retention_max_age_ms,
            max_bytes: config.retention_max_bytes,
            interval: Duration::from_millis(config.retention_interval_ms as u64),
        },
    )
    .map_err(|e| store_error(&dir, e))?;
    let retention_stop = stop.clone();
    let retention_thread = std::thread::Builder::new()
        .name("playtrace-retention".into())
        .spawn(move || {
            retention.run(retention_stop, |removed| {
                if removed.by_age + removed.by_size + removed.rejects > 0 {
                    tracing::info!(
                        by_age = removed.by_age,
                        by_size = removed.by_size,
                        rejects = removed.rejects,
                        "retention removed old events"
                    );
                }
            })
        })
        .map_err(|e| store_error(&dir, e))?;

    let checkpoint_conn = playtrace_store::open(&path).map_err(|e| store_error(&dir, e))?;
    let checkpoint_stop = stop.clone();
    let wal_path = dir.join(format!("{DB_FILE}-wal"));
    let checkpoint_thread = std::thread::Builder::new()
        .name("playtrace-checkpoint".into())
        .spawn(move || checkpoints(&checkpoint_conn, &wal_path, &checkpoint_stop))
        .map_err(|e| store_error(&dir, e))?;

    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|source| ServeError::Bind {
            addr: config.listen,
            source,
        })?;
    let addr = listener
        .local_addr()
        .map_err(|e| ServeError::Runtime(e.to_string()))?;

    let send_timeout_ms = config.send_timeout_ms;
    let timeouts = hub.metrics.send_timeouts.clone();
    let state = Arc::new(AppState::new(
        config,
        metrics,
        reader,
        live.clone(),
        writer,
        settings,
        hub,
    ));
    state.ready.store(true, Ordering::Release);

    // Eviction of old samples and contests, once a second.
    let evict_live = live.clone();
    let evictor = tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tick.tick().await;
            let now = playtrace_store::now_ms() as f64;
            evict_live
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .evict(now);
        }
    });

    let budget_task = if state.config.budget_alerting.enabled {
        let reader = state.reader.clone();
        let firing = tokio::task::spawn_blocking(move || {
            reader.with_conn(|c| {
                let mut stmt = c.prepare(
                    "SELECT fingerprint FROM alerts WHERE category = 'budget' AND state = 'firing'",
                )?;
                let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
                rows.collect::<Result<Vec<_>, _>>()
            })
        })
        .await
        .map_err(|e| ServeError::Runtime(e.to_string()))?
        .map_err(|e| store_error(&dir, e))?;
        let evaluator = budget_alerts::Evaluator::new(state.config.budget_alerting.clone(), firing);
        Some(tokio::spawn(budget_alerts::run(
            state.clone(),
            evaluator,
            Duration::from_millis(state.config.budget_interval_ms as u64),
        )))
    } else {
        None
    };

    on_listening(&Running { addr });
    tracing::info!(%addr, "collector listening");
    let cors = Arc::new(cors::Cors {
        origins: state.config.cors_origins.clone(),
    });
    let app =
        api::router(state.clone()).layer(axum::middleware::from_fn_with_state(cors, cors::layer));
    let listener = conn::GuardedListener {
        inner: listener,
        send_timeout: Duration::from_millis(send_timeout_ms as u64),
        timeouts,
    };
    let hub = state.hub.clone();
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            shutdown.await;
            // Open streams end so the in-flight requests graceful shutdown waits for finish.
            hub.close();
        })
        .await;
    tracing::info!("stopping: finishing queued commits");
    evictor.abort();
    if let Some(task) = budget_task {
        task.abort();
    }
    state.close_writer();
    drop(state);
    stop.store(true, Ordering::Relaxed);
    let joined = tokio::task::spawn_blocking(move || {
        let w = writer_thread.join().is_ok();
        let r = retention_thread.join().is_ok();
        let c = checkpoint_thread.join().is_ok();
        w && r && c
    })
    .await
    .unwrap_or(false);
    if !joined {
        return Err(ServeError::Runtime(
            "a store thread panicked while stopping".into(),
        ));
    }
    served.map_err(|e| ServeError::Runtime(e.to_string()))
}

/// WAL larger than this gets a truncating checkpoint (which may wait for the writer).
const WAL_TRUNCATE_BYTES: u64 = 256 << 20;

/// Checkpoints the WAL every 100 ms until `stop`, then once more, truncating.
fn checkpoints(conn: &rusqlite::Connection, wal: &std::path::Path, stop: &AtomicBool) {
    while !stop.load(Ordering::Relaxed) {
        if let Err(e) = playtrace_store::checkpoint(conn, wal, WAL_TRUNCATE_BYTES) {
            tracing::warn!("checkpoint failed: {e}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    if let Err(e) = playtrace_store::checkpoint(conn, wal, 0) {
        tracing::warn!("final checkpoint failed: {e}");
    }
}

/// Replays the events that can still matter (within the longest window or `forget_after`)
/// through the live correlation.
fn rebuild(
    reader: &Reader,
    live: &Mutex<LiveContests>,
) -> Result<u64, playtrace_store::StoreError> {
    let mut live = live.lock().unwrap_or_else(|p| p.into_inner());
    let since = playtrace_store::now_ms() - live.options().horizon_ms() as i64;
    let total = reader.replay_since(since, |page| {
        let mut parsed = Parsed::default();
        // Each stored body is one event; map event index → record.
        let mut owner = Vec::with_capacity(page.len());
        for (i, record) in page.iter().enumerate() {
            parsed.push_text(i as u32 + 1, &record.body);
            owner.resize(parsed.events.len(), i);
        }
        live.apply(&parsed.observations, |index| {
            let record = page.get(*owner.get(index as usize)?)?;
            Some(EventMeta {
                game: (!record.game.is_empty()).then_some(record.game.as_str()),
                env: record.env.as_deref(),
                recv_ms: record.recv_ms as f64,
            })
        });
    })?;
    live.evict(playtrace_store::now_ms() as f64);
    Ok(total)
}

/// Completes on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}
