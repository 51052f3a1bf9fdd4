//! Operations: `/healthz` (the process answers) and `/readyz` (the live state is rebuilt and the
//! store can write); `/metrics` is [`super::metrics`].

use crate::app::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
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
