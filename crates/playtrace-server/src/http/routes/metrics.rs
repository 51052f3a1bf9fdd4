//! `GET /metrics` (scope read): Prometheus text (format 0.0.4) that `promtool check metrics`
//! passes — base units (seconds, bytes), `_total` counters, bounded labels. The families are
//! listed in docs/API.md.

use crate::app::AppState;
use crate::http::auth::{Caller, Read};
use crate::http::error::ApiResult;
use crate::metrics::budgets::{self, Grouped};
use crate::metrics::{header, process, sample};
use axum::extract::State;
use axum::http::header as h;
use axum::response::{IntoResponse, Response};
use playtrace_core::alert::Severity;
use playtrace_core::contest::BudgetQuery;
use std::sync::atomic::Ordering;
use std::sync::Arc;

pub(crate) async fn metrics(
    State(app): State<Arc<AppState>>,
    _caller: Caller<Read>,
) -> ApiResult<Response> {
    let mut out = String::with_capacity(16 << 10);
    header(
        &mut out,
        "playtrace_build_info",
        "gauge",
        "Always 1; the version of the running collector is the label.",
    );
    sample(
        &mut out,
        "playtrace_build_info",
        &[("version", env!("CARGO_PKG_VERSION"))],
        1.0,
    );
    app.metrics.render(&mut out);
    if let Some(plan) = app.plan() {
        plan.render(&mut out);
    }
    app.guard.render(&mut out);
    crate::cluster::render_metrics(&app, &mut out);
    let folded = app.with_live(|l| l.dimension_folded().to_vec());
    crate::metrics::dimensions::render(&mut out, &app.config.dimensions, &folded);
    let reader = app.reader.clone();
    let store = tokio::task::spawn_blocking(move || (reader.stats(), reader.alert_counts())).await;
    if let Ok((stats, alerts)) = store {
        if let Ok(stats) = stats {
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
        if let Ok(alerts) = alerts {
            header(
                &mut out,
                "playtrace_alerts",
                "gauge",
                "Alerts by state, category and severity (seeded and probe alerts left out).",
            );
            for a in &alerts {
                let severity =
                    Severity::from_rank(u8::try_from(a.severity.clamp(0, 4)).unwrap_or(0));
                sample(
                    &mut out,
                    "playtrace_alerts",
                    &[
                        ("state", &a.state),
                        ("category", &a.category),
                        ("severity", severity.as_str()),
                    ],
                    a.count as f64,
                );
            }
        }
    }
    header(
        &mut out,
        "playtrace_store_max_bytes",
        "gauge",
        "The size the store is kept under (retention.max_bytes).",
    );
    sample(
        &mut out,
        "playtrace_store_max_bytes",
        &[],
        app.config.retention.max_bytes.as_u64() as f64,
    );
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
    // Their ratio is the write amplification: 1.5–2 normally; many times that when the
    // duplicate check's index is rewritten a page per event (random ids: docs/OPERATIONS.md).
    for (name, help, v) in [
        (
            "playtrace_store_wal_bytes_total",
            "Bytes the store's commits wrote to the WAL (whole pages).",
            app.health.wal_bytes(),
        ),
        (
            "playtrace_store_event_bytes_total",
            "Bytes of the event lines the store's commits stored.",
            app.health.event_bytes(),
        ),
    ] {
        header(&mut out, name, "counter", help);
        sample(&mut out, name, &[], v as f64);
    }
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
    let overall = app.live_budgets(&BudgetQuery::default(), now);
    let grouped: Vec<Grouped> = app
        .config
        .metrics
        .budget_group_by
        .iter()
        .map(|&dimension| Grouped {
            dimension,
            reports: app.live_budgets(
                &BudgetQuery {
                    group_by: vec![dimension],
                    ..BudgetQuery::default()
                },
                now,
            ),
        })
        .collect();
    budgets::render(
        &mut out,
        &overall,
        &grouped,
        app.config.metrics.max_group_values,
    );
    crate::notify::render_metrics(app.notify.get(), &mut out).await;
    process::render(&mut out);
    Ok((
        [(h::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        out,
    )
        .into_response())
}
