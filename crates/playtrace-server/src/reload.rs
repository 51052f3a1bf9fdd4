//! Reloading the configuration without a restart (SIGHUP, `POST /v1/admin/reload`): the file is
//! read again and checked whole; an invalid one is refused with the reason and the configuration
//! in force stays. What a reload replaces: `[[tokens]]` (rotation: a removed token is refused
//! from the next request on), the `[alerts]` rules, `[privacy]` and `[plan]` (its directory is
//! compiled again, so edited schemas take effect; a broken one refuses the whole reload). Every
//! other key is read at start only; a reload that changes one says so and it takes effect at
//! the next restart.

use crate::app::AppState;
use crate::config::{ConfigError, ServeConfig};
use crate::ingest::plan::Gate;
use crate::pipeline::Work;
use playtrace_store::Job;
use serde_json::{json, Value};
use std::sync::Arc;
use thiserror::Error;

/// Why a reload was refused; the configuration in force is unchanged.
#[derive(Debug, Error)]
pub(crate) enum Refused {
    /// Started without `--config`: there is no file to read again.
    #[error(
        "the collector was started without --config: there is no configuration file to reload"
    )]
    NoFile,
    /// The new file is invalid.
    #[error("the new configuration was refused, the one in force stays: {0}")]
    Invalid(#[from] ConfigError),
}

/// Reads and checks the file `current` came from, as it would be at start.
pub(crate) fn read(current: &ServeConfig) -> Result<ServeConfig, Refused> {
    let path = current.source.as_ref().ok_or(Refused::NoFile)?;
    let mut new = ServeConfig::from_file(path)?;
    // The command line's --listen and --data-dir still hold.
    new.listen = current.listen;
    new.data_dir = current.data_dir.clone();
    new.check_exposure()?;
    Ok(new)
}

/// Puts the reloadable parts of `new` in force; returns what changed.
pub(crate) fn apply(app: &AppState, new: ServeConfig) -> Value {
    let tokens = new.tokens.clone();
    *app.tokens.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(tokens);
    *app.rules.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(new.rules.clone());
    *app.privacy.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(new.privacy.clone());
    replace_plan(app, &new);
    let old = &app.config;
    let mut restart = Vec::new();
    if new.limits != old.limits {
        restart.push("limits");
    }
    if new.dimensions != old.dimensions {
        restart.push("dimensions");
    }
    if new.games != old.games {
        restart.push("games / sampling");
    }
    if new.retention != old.retention {
        restart.push("retention");
    }
    if new.store != old.store {
        restart.push("store");
    }
    if new.live.windows_ms != old.live.windows_ms
        || new.live.unresolved_after_ms != old.live.unresolved_after_ms
        || new.live.forget_after_ms != old.live.forget_after_ms
    {
        restart.push("contests / budgets.windows");
    }
    if new.budgets != old.budgets {
        restart.push("budgets / budget");
    }
    if new.budget_alerting != old.budget_alerting {
        restart.push("alerts (budget alerting)");
    }
    if new.stream != old.stream {
        restart.push("stream");
    }
    if new.http != old.http {
        restart.push("http");
    }
    if new.notify != old.notify {
        restart.push("notify");
    }
    tracing::info!(
        tokens = new.tokens.len(),
        needs_restart = ?restart,
        "configuration reloaded: tokens, alert rules, privacy rules and the plan are in force"
    );
    json!({
        "reloaded": ["tokens", "alerts.rules", "privacy", "plan"],
        "tokens": new.tokens.len(),
        "needsRestart": restart,
    })
}

/// Puts the reloaded plan in force (counters and drift carry over); when the new file has no
/// plan, the drift alerts still firing are resolved.
fn replace_plan(app: &AppState, new: &ServeConfig) {
    let old = app.plan();
    let gate = match &old {
        Some(gate) => gate.reloaded(&new.plan),
        None => Gate::from_config(&new.plan),
    };
    if let (Some(old), None) = (&old, &gate) {
        let changes = old.resolve_drift();
        if !changes.is_empty() {
            let job = Job {
                events: vec![],
                rejects: vec![],
                extra: Work::Plan(changes),
                done: Box::new(|r| {
                    if let Err(e) = r {
                        tracing::warn!("reload: the plan's drift alerts were not resolved: {e}");
                    }
                }),
            };
            if app.submit(job).is_err() {
                tracing::warn!("reload: the plan's drift alerts were not resolved (ingest closed)");
            }
        }
    }
    *app.plan.write().unwrap_or_else(|p| p.into_inner()) = gate;
}

/// SIGHUP, caught from now on (its default action would end the process).
#[cfg(unix)]
pub(crate) type Hangup = Option<tokio::signal::unix::Signal>;
/// No SIGHUP off Unix.
#[cfg(not(unix))]
pub(crate) type Hangup = Option<()>;

/// Starts catching SIGHUP.
pub(crate) fn catch_sighup() -> Hangup {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::hangup()) {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::warn!("cannot catch SIGHUP ({e}); reload with POST /v1/admin/reload");
                None
            }
        }
    }
    #[cfg(not(unix))]
    None
}

/// Reloads on every SIGHUP until the task is aborted.
pub(crate) async fn on_sighup(app: Arc<AppState>, hangup: Hangup) {
    #[cfg(unix)]
    if let Some(mut hup) = hangup {
        while hup.recv().await.is_some() {
            let config = app.config.clone();
            match tokio::task::spawn_blocking(move || read(&config)).await {
                Ok(Ok(new)) => {
                    apply(&app, new);
                }
                Ok(Err(refused)) => tracing::error!("SIGHUP: {refused}"),
                Err(e) => tracing::error!("SIGHUP: reload failed: {e}"),
            }
        }
    }
    #[cfg(not(unix))]
    let _ = (app, hangup);
    std::future::pending::<()>().await;
}
