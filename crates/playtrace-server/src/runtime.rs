//! Starting and stopping the collector, as named steps: open the store (refusing one that
//! cannot write), bind and serve (`/readyz` says `rebuilding`), rebuild the live state, start the
//! pipeline on the store's writer and open ingest, run the background tasks, and on shutdown
//! drain in the reverse order.

use crate::alerting::budget::Evaluator;
use crate::app::AppState;
use crate::config::{ConfigError, ServeConfig};
use crate::fanout::{self, Hub};
use crate::http::conns::{connection_cap, Conns};
use crate::http::cors::{self, Cors};
use crate::http::server::Timeouts;
use crate::metrics::Metrics;
use crate::pipeline::live::rebuild;
use crate::pipeline::{budgets, ServerHook, Work};
use playtrace_core::contest::LiveContests;
use playtrace_store::{RetentionPolicy, Store, StoreError, StoreOptions, Writer, WriterOptions};
use std::future::Future;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use thiserror::Error;
use tokio::task::JoinHandle;

/// Why the collector could not start (exit code 2).
#[derive(Debug, Error)]
pub enum ServeError {
    /// Bad configuration.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The data directory or store could not be opened (or is held by another process).
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

/// Step 1: the data directory, locked and migrated, with the config's limits.
fn open_store(config: &ServeConfig) -> Result<Store, ServeError> {
    let dir = &config.data_dir;
    Store::open(
        dir,
        StoreOptions {
            retention: RetentionPolicy {
                max_age_ms: config.retention.max_age.as_ms_f64(),
                max_bytes: config.retention.max_bytes.as_u64(),
                interval: config.retention.interval.to_duration(),
            },
            writer: WriterOptions {
                queue_requests: config.limits.queue_requests,
                queue_bytes: config.limits.queue_bytes.as_u64(),
                ..WriterOptions::default()
            },
            dedup: config.store.dedup,
        },
    )
    .map_err(|e| match e {
        // The message names the directory already.
        StoreError::Locked { .. } => ServeError::Runtime(e.to_string()),
        other => store_error(dir, other),
    })
}

/// Step 2 (after binding, so `/healthz` answers and `/readyz` says `rebuilding`): open contests
/// and windows rebuilt from the store, then the pipeline starts on the store's writer and ingest
/// opens. Events sent meanwhile get 503 with Retry-After: nothing is taken before the live state
/// can see it.
async fn rebuild_and_open(
    store: Store,
    app: Arc<AppState>,
    hub: Arc<Hub>,
) -> Result<playtrace_store::Running, ServeError> {
    let reader = store.reader();
    let options = app.config.live.clone();
    let dimensions = app.config.dimensions.clone();
    let dir = store.dir().to_path_buf();
    let (rebuilt, events) =
        tokio::task::spawn_blocking(move || rebuild(&reader, options, &dimensions))
            .await
            .map_err(|e| ServeError::Runtime(e.to_string()))?
            .map_err(|e| store_error(&dir, e))?;
    tracing::info!(events, "live state rebuilt from the store");
    *app.live.lock().unwrap_or_else(|p| p.into_inner()) = rebuilt;
    // Step 3: the pipeline runs around every commit of the store's writer.
    let hook = ServerHook::new(
        app.live.clone(),
        app.metrics.clone(),
        fanout::start(hub, app.config.stream.buffer),
    )
    .with_notify(app.notify.get().is_some());
    let (writer, threads): (Writer<Work>, _) = store
        .start(Box::new(hook))
        .map_err(|e| store_error(&dir, e))?;
    app.open_log(Box::new(writer));
    app.ready.store(true, Ordering::Release);
    Ok(threads)
}

/// Step 4: the budget alert evaluator, knowing which budget alerts already fire.
async fn start_budget_alerts(app: &Arc<AppState>) -> Result<Option<JoinHandle<()>>, ServeError> {
    if !app.config.budget_alerting.enabled {
        return Ok(None);
    }
    let reader = app.reader.clone();
    let firing = tokio::task::spawn_blocking(move || reader.firing_alerts("budget"))
        .await
        .map_err(|e| ServeError::Runtime(e.to_string()))?
        .map_err(|e| store_error(&app.config.data_dir, e))?;
    let evaluator = Evaluator::new(app.config.budget_alerting.clone(), firing);
    Ok(Some(tokio::spawn(budgets::run(
        app.clone(),
        evaluator,
        app.config.budgets.evaluate_every.to_duration(),
    ))))
}

/// Step 4: eviction of old samples and contests, once a second.
fn start_evictor(live: Arc<Mutex<LiveContests>>) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tick.tick().await;
            let now = playtrace_store::now_ms() as f64;
            live.lock().unwrap_or_else(|p| p.into_inner()).evict(now);
        }
    })
}

/// Runs the collector until `shutdown` completes, then stops accepting, lets in-flight requests
/// (up to `http.shutdown_deadline`) and commits finish, and returns. `on_listening` is called once the socket is bound.
pub async fn serve(
    config: ServeConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
    on_listening: impl FnOnce(&Running),
) -> Result<(), ServeError> {
    config.check_exposure()?;
    let hangup = crate::reload::catch_sighup();
    let store = open_store(&config)?;

    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|source| ServeError::Bind {
            addr: config.listen,
            source,
        })?;
    let addr = listener
        .local_addr()
        .map_err(|e| ServeError::Runtime(e.to_string()))?;
    let metrics = Arc::new(Metrics::default());
    let hub = Arc::new(Hub::new(
        config.stream.buffer,
        config.stream.max_pending.as_u64(),
    ));
    let timeouts = Timeouts {
        header: config.http.header_timeout.to_duration(),
        body_idle: config.http.body_idle_timeout.to_duration(),
        send: config.stream.send_timeout.to_duration(),
        shutdown: config.http.shutdown_deadline.to_duration(),
    };
    let cap = connection_cap(config.http.max_connections);
    let send_timeouts = hub.metrics.send_timeouts.clone();
    let live = Arc::new(Mutex::new(LiveContests::new(config.live.clone())));
    let state = Arc::new(AppState::new(
        config,
        metrics,
        store.reader(),
        live.clone(),
        store.settings().clone(),
        hub.clone(),
        store.health(),
    ));

    if let Some(n) = crate::notify::open(&state.config.notify, &store, addr)
        .map_err(|e| store_error(&state.config.data_dir, e))?
    {
        let _ = state.notify.set(n);
    }
    crate::cluster::join(&state)
        .await
        .map_err(ServeError::Runtime)?;
    let reloader = tokio::spawn(crate::reload::on_sighup(state.clone(), hangup));
    on_listening(&Running { addr });
    tracing::info!(%addr, "collector listening");
    let cors = Arc::new(Cors {
        origins: state.config.http.cors_origins.clone(),
    });
    let open = state.tokens().is_empty();
    let app = crate::http::router(state.clone())
        .layer(axum::middleware::from_fn_with_state(
            open,
            crate::http::host::check,
        ))
        .layer(axum::middleware::from_fn_with_state(cors, cors::layer));
    let closing = state.hub.clone();
    let conns = Arc::new(Conns::new(cap, state.connections.clone()));
    tracing::debug!(cap, "connection cap");
    let server = tokio::spawn(crate::http::server::run(
        listener,
        app,
        conns,
        timeouts,
        send_timeouts,
        shutdown,
        move || {
            // Open streams end so the in-flight requests shutdown waits for finish.
            closing.close()
        },
    ));
    let store_threads = match rebuild_and_open(store, state.clone(), hub).await {
        Ok(threads) => threads,
        Err(e) => {
            server.abort();
            reloader.abort();
            return Err(e);
        }
    };

    let cluster_tasks = crate::cluster::start(&state);
    let notify_tasks = crate::notify::start(state.notify.get(), &state.hub);
    let evictor = start_evictor(live);
    let budget_task = start_budget_alerts(&state).await?;
    let alert_clock = tokio::spawn(crate::pipeline::maintain::run(
        state.clone(),
        Duration::from_secs(1),
    ));
    let limit_alerts = tokio::spawn(crate::pipeline::limits::run(
        state.clone(),
        Duration::from_secs(1),
    ));
    let history = tokio::spawn(crate::pipeline::history::run(state.clone()));
    let served = server.await;

    tracing::info!("stopping: finishing queued commits");
    evictor.abort();
    cluster_tasks.iter().for_each(JoinHandle::abort);
    alert_clock.abort();
    notify_tasks.iter().for_each(JoinHandle::abort);
    limit_alerts.abort();
    reloader.abort();
    if let Some(task) = budget_task {
        task.abort();
    }
    history.abort();
    crate::cluster::stop(&state).await;
    // The budget history counted so far is written with the last commits.
    crate::pipeline::history::flush(&state).await;
    state.close_writer();
    drop(state);
    let joined = tokio::task::spawn_blocking(move || store_threads.stop())
        .await
        .unwrap_or(false);
    if !joined {
        return Err(ServeError::Runtime(
            "a store thread panicked while stopping".into(),
        ));
    }
    served.map_err(|e| ServeError::Runtime(e.to_string()))
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
