//! Operations: `/healthz` (the process answers), `/readyz` (the live state is rebuilt and the
//! store can write) and `/metrics` (Prometheus text, scope read).

use crate::app::AppState;
use crate::http::auth::{Caller, Read};
use crate::http::error::ApiResult;
use crate::metrics::{header, sample};
use axum::extract::State;
use axum::http::{header as h, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use playtrace_core::contest::BudgetQuery;
use serde_json::{json, Value};
use std::sync::atomic::Ordering;
use std::sync::Arc;

pub(crate) async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// 200 only when events sent now would be stored: not while the live state is rebuilt at
/// start (`rebuilding`), nor while the store cannot write (`store_unwritable`: read-only, disk
/// full), nor while stopping. A store that holds less than it acknowledged is ready (waiting
/// cannot fix it) but says so under `store.highWaterMark`.
pub(crate) async fn readyz(State(app): State<Arc<AppState>>) -> Response {
    let problem = app.health.write_problem();
    let status = if app.is_rebuilding() {
        "rebuilding"
    } else if !(app.ready.load(Ordering::Acquire) && app.writer_alive()) {
        "stopping"
    } else if problem.is_some() {
        "store_unwritable"
    } else {
        "ready"
    };
    let ready = status == "ready";
    let mut store = json!({"journalMode": app.store_settings.journal_mode,
                           "synchronous": app.store_settings.synchronous,
                           "writable": problem.is_none()});
    if let Some(problem) = problem {
        store["problem"] = json!(problem);
    }
    if let Some(loss) = app.health.loss() {
        store["highWaterMark"] = json!({
            "acknowledged": loss.acknowledged,
            "stored": loss.stored,
            "missing": loss.missing(),
            "warning": "the store held less than it had acknowledged when it started (a damaged \
                        WAL or an older database): events may be lost; see docs/OPERATIONS.md",
        });
    }
    let body = json!({"status": status, "store": store});
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body)).into_response()
}

pub(crate) async fn metrics(
    State(app): State<Arc<AppState>>,
    _caller: Caller<Read>,
) -> ApiResult<Response> {
    let mut out = String::with_capacity(8 << 10);
    app.metrics.render(&mut out);
    let reader = app.reader.clone();
    if let Ok(Ok(stats)) = tokio::task::spawn_blocking(move || reader.stats()).await {
        header(
            &mut out,
            "playtrace_store_bytes",
            "gauge",
            "Store size: `used` is data pages, `file` the database files on disk.",
        );
        sample(
            &mut out,
            "playtrace_store_bytes",
            &[("kind", "used")],
            stats.used_bytes as f64,
        );
        sample(
            &mut out,
            "playtrace_store_bytes",
            &[("kind", "file")],
            stats.file_bytes as f64,
        );
    }
    header(
        &mut out,
        "playtrace_store_writable",
        "gauge",
        "1 while the store can write; 0 when commits, checkpoints or the high-water mark fail.",
    );
    let writable = app.health.write_problem().is_none();
    sample(
        &mut out,
        "playtrace_store_writable",
        &[],
        if writable { 1.0 } else { 0.0 },
    );
    header(
        &mut out,
        "playtrace_store_missing_acknowledged",
        "gauge",
        "Sequence numbers acknowledged before the last start but missing from the store then \
         (a damaged WAL); 0 when the store held everything.",
    );
    sample(
        &mut out,
        "playtrace_store_missing_acknowledged",
        &[],
        app.health.loss().map_or(0, |l| l.missing()) as f64,
    );
    let m = &app.hub.metrics;
    for (name, help, kind, v) in [
        (
            "playtrace_stream_subscribers",
            "Connected stream subscribers.",
            "gauge",
            &m.subscribers,
        ),
        (
            "playtrace_stream_messages_total",
            "Messages sent to stream subscribers.",
            "counter",
            &m.sent,
        ),
        (
            "playtrace_stream_lag_disconnects_total",
            "Subscribers disconnected for falling a whole buffer behind.",
            "counter",
            &m.lag_disconnects,
        ),
        (
            "playtrace_stream_resets_total",
            "reset messages sent (retention removed part of a gap, or Last-Event-ID was beyond the newest).",
            "counter",
            &m.resets,
        ),
        (
            "playtrace_stream_overflow_disconnects_total",
            "Subscribers disconnected for holding more than stream.max_pending bytes.",
            "counter",
            &m.overflow_disconnects,
        ),
        (
            "playtrace_http_connections",
            "Open HTTP connections.",
            "gauge",
            &app.connections.open,
        ),
        (
            "playtrace_http_connections_evicted_total",
            "Idle or half-sent connections closed to make room at the connection cap.",
            "counter",
            &app.connections.evicted,
        ),
        (
            "playtrace_http_connections_refused_total",
            "Connections answered 503 at the cap (every connection busy).",
            "counter",
            &app.connections.refused,
        ),
        (
            "playtrace_http_timeouts_total",
            "Connections closed by http.header_timeout or http.body_idle_timeout.",
            "counter",
            &app.connections.timeouts,
        ),
        (
            "playtrace_http_accept_errors_total",
            "Failed accepts (out of file descriptors and the like).",
            "counter",
            &app.connections.accept_errors,
        ),
        (
            "playtrace_send_timeouts_total",
            "Connections closed because the client stopped reading (stream.send_timeout).",
            "counter",
            &*m.send_timeouts,
        ),
    ] {
        header(&mut out, name, kind, help);
        sample(&mut out, name, &[], v.load(Ordering::Relaxed) as f64);
    }
    let now = playtrace_store::now_ms() as f64;
    let counts = app.with_live(|l| l.state_counts(now));
    header(
        &mut out,
        "playtrace_contests",
        "gauge",
        "Live contests by state.",
    );
    for (state, n) in counts {
        sample(
            &mut out,
            "playtrace_contests",
            &[("state", state.as_str())],
            n as f64,
        );
    }
    let reports = app.live_budgets(&BudgetQuery::default(), now);
    header(
        &mut out,
        "playtrace_budget_value_ms",
        "gauge",
        "Each budget's measured percentile over each rolling window (NaN without samples).",
    );
    for r in &reports {
        for b in &r.budgets {
            let pct = playtrace_core::num::human(b.percentile.0);
            sample(
                &mut out,
                "playtrace_budget_value_ms",
                &[
                    ("window", &r.window),
                    ("metric", b.metric.as_str()),
                    ("percentile", &pct),
                ],
                b.value.map_or(f64::NAN, |v| v.0),
            );
        }
    }
    header(
        &mut out,
        "playtrace_budget_breached",
        "gauge",
        "1 when the budget is breached over the window.",
    );
    for r in &reports {
        for b in &r.budgets {
            let pct = playtrace_core::num::human(b.percentile.0);
            sample(
                &mut out,
                "playtrace_budget_breached",
                &[
                    ("window", &r.window),
                    ("metric", b.metric.as_str()),
                    ("percentile", &pct),
                ],
                if b.breached { 1.0 } else { 0.0 },
            );
        }
    }
    Ok((
        [(h::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        out,
    )
        .into_response())
}
