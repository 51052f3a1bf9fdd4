//! The notification outbox (admin scope): `GET /v1/notifications?state=&receiver=`,
//! `GET /v1/notifications/{id}` (with its payload), `POST /v1/notifications/{id}/retry` (a dead
//! or waiting one goes out now) and `DELETE /v1/notifications/{id}` (dead ones only).

use crate::app::AppState;
use crate::http::auth::{Admin, Caller};
use crate::http::error::{blocking, ApiError, ApiResult};
use crate::http::routes::params::Params;
use crate::notify::Notifier;
use crate::view::ms_text;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use playtrace_store::Notification;
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;

fn notification_json(n: &Notification, with_payload: bool) -> Value {
    let mut v = json!({
        "id": n.id,
        "receiver": n.receiver,
        "groupKey": n.group_key,
        "status": n.status,
        "alerts": n.alerts,
        "state": n.state,
        "attempts": n.attempts,
        "createdAt": ms_text(Some(n.created_ms)),
        "updatedAt": ms_text(Some(n.updated_ms)),
        "nextAttemptAt": if n.state == "pending" { ms_text(Some(n.next_ms)) } else { Value::Null },
        "lastError": n.last_error,
    });
    if with_payload {
        v["payload"] = serde_json::from_str(&n.body).unwrap_or(Value::Null);
    }
    v
}

fn notifier(app: &AppState) -> ApiResult<Arc<Notifier>> {
    app.notify.get().cloned().ok_or_else(|| {
        ApiError::not_found(
            "notifications are not configured; add [[notify.receivers]] to the config \
             (docs/CONFIG.md)",
        )
    })
}

/// Query of `GET /v1/notifications`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ListParams {
    state: Option<String>,
    receiver: Option<String>,
    limit: Option<usize>,
}

/// `GET /v1/notifications?state=pending|sent|dead&receiver=NAME&limit=N`: newest first.
pub(crate) async fn list(
    State(app): State<Arc<AppState>>,
    _caller: Caller<Admin>,
    Params(p): Params<ListParams>,
) -> ApiResult<Json<Value>> {
    let state = p.state.filter(|s| !s.is_empty());
    if let Some(s) = &state {
        if !["pending", "sent", "dead"].contains(&s.as_str()) {
            return Err(ApiError::bad_request(format!(
                "state: `{s}` is not pending, sent or dead"
            )));
        }
    }
    let limit = crate::http::routes::query::page_limit(p.limit)?;
    let Some(n) = app.notify.get().cloned() else {
        return Ok(Json(json!({"notifications": []})));
    };
    let receiver = p.receiver.filter(|r| !r.is_empty());
    let outbox = n.outbox.clone();
    let rows = blocking(move || outbox.list(state.as_deref(), receiver.as_deref(), limit)).await?;
    let list: Vec<Value> = rows.iter().map(|r| notification_json(r, false)).collect();
    Ok(Json(json!({"notifications": list})))
}

fn no_such(id: &str) -> ApiError {
    ApiError::not_found(format!(
        "no notification `{id}`; ids are listed by GET /v1/notifications"
    ))
}

/// `GET /v1/notifications/{id}`: one notification and the body it sends.
pub(crate) async fn get_one(
    State(app): State<Arc<AppState>>,
    Path(id): Path<String>,
    _caller: Caller<Admin>,
) -> ApiResult<Json<Value>> {
    let n = notifier(&app)?;
    let outbox = n.outbox.clone();
    let key = id.clone();
    match blocking(move || outbox.get(&key)).await? {
        Some(row) => Ok(Json(notification_json(&row, true))),
        None => Err(no_such(&id)),
    }
}

/// `POST /v1/notifications/{id}/retry`: a dead (or waiting) notification is tried again now,
/// with its attempts counted from zero.
pub(crate) async fn retry(
    State(app): State<Arc<AppState>>,
    Path(id): Path<String>,
    _caller: Caller<Admin>,
) -> ApiResult<Json<Value>> {
    let n = notifier(&app)?;
    let outbox = n.outbox.clone();
    let key = id.clone();
    let (requeued, row) = blocking(move || {
        let requeued = outbox.requeue(&key, playtrace_store::now_ms())?;
        Ok((requeued, outbox.get(&key)?))
    })
    .await?;
    match (requeued, row) {
        (true, Some(row)) => {
            n.wake(&row.receiver);
            Ok(Json(notification_json(&row, false)))
        }
        (false, Some(_)) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "conflict",
            format!("notification `{id}` was delivered already; nothing to retry"),
        )),
        (_, None) => Err(no_such(&id)),
    }
}

/// `DELETE /v1/notifications/{id}`: forgets a dead notification.
pub(crate) async fn remove(
    State(app): State<Arc<AppState>>,
    Path(id): Path<String>,
    _caller: Caller<Admin>,
) -> ApiResult<Json<Value>> {
    let n = notifier(&app)?;
    let outbox = n.outbox.clone();
    let key = id.clone();
    let (deleted, row) = blocking(move || {
        let deleted = outbox.delete_dead(&key)?;
        Ok((deleted, outbox.get(&key)?))
    })
    .await?;
    match (deleted, row) {
        (true, _) => Ok(Json(json!({"deleted": id}))),
        (false, Some(row)) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "conflict",
            format!(
                "notification `{id}` is {}, not dead; only dead notifications are deleted",
                row.state
            ),
        )),
        (false, None) => Err(no_such(&id)),
    }
}
