//! The HTTP side (routes documented in `docs/API.md`): the router, the JSON error, the
//! extractor that checks tokens, and the connection guards.

pub(crate) mod auth;
pub(crate) mod bodies;
pub(crate) mod body;
pub(crate) mod commit;
pub(crate) mod conn;
pub(crate) mod conns;
pub(crate) mod cors;
pub(crate) mod error;
pub(crate) mod host;
pub(crate) mod routes;
pub(crate) mod server;

use crate::app::AppState;
use crate::http::error::ApiError;
use crate::http::routes::{
    admin, alerts, history, ingest, metrics, notifications, ops, otlp, query, rejects, silences,
    stream,
};
use axum::routing::{get, post};
use axum::Router;
use std::sync::Arc;

/// The collector's routes.
pub(crate) fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/v1/events", post(ingest::ingest).get(query::list_events))
        .route("/v1/logs", post(otlp::logs))
        .route("/v1/rejects", get(rejects::list))
        .route("/v1/rejects/replay", post(rejects::replay))
        .route("/v1/rejects/{seq}", get(rejects::get_one))
        .route("/v1/budgets", get(query::budgets))
        .route("/v1/budgets/history", get(history::budget_history))
        .route("/v1/contests", get(query::list_contests))
        .route("/v1/contests/{id}", get(query::get_contest))
        .route("/v1/stream", get(stream::stream))
        .route("/v1/alerts", get(alerts::list).post(alerts::post))
        .route("/v1/alerts/latest", get(alerts::latest))
        .route("/v1/alerts/{id}/resolve", post(alerts::resolve))
        .route("/v1/alerts/{id}/silence", post(alerts::silence))
        .route("/v1/alerts/{id}", get(alerts::get_one))
        .route("/v1/alerts/{id}/ack", post(alerts::ack))
        .route("/v1/silences", get(silences::list).post(silences::create))
        .route("/v1/silences/{id}", axum::routing::delete(silences::remove))
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/v1/cluster", get(crate::cluster::status::get))
        .route("/metrics", get(metrics::metrics))
        .route("/v1/plan/coverage", get(routes::plan::coverage))
        .route("/v1/admin/reload", post(admin::reload))
        .route("/v1/notifications", get(notifications::list))
        .route(
            "/v1/notifications/{id}",
            get(notifications::get_one).delete(notifications::remove),
        )
        .route("/v1/notifications/{id}/retry", post(notifications::retry))
        .route(
            "/v1/erasures",
            post(routes::erasures::erase).get(routes::erasures::list),
        )
        .merge(crate::console::routes())
        .fallback(not_found)
        .layer(axum::middleware::from_fn(error::json_errors))
        .with_state(state)
}

async fn not_found() -> ApiError {
    ApiError::not_found("no such route; see docs/API.md")
}
