//! Silences by matchers: `POST /v1/silences` (admin) makes one, `GET /v1/silences` (read) lists
//! active and expired ones, `DELETE /v1/silences/{id}` (admin) ends one now (unsilence).

use crate::alerting::lifecycle::LifecycleOp;
use crate::alerting::silence::{parse_matchers, silence_json};
use crate::app::AppState;
use crate::http::auth::{Admin, Caller, Read};
use crate::http::commit::commit;
use crate::http::error::{blocking, ApiError, ApiResult};
use crate::http::routes::params::Params;
use crate::pipeline::{ActionResult, Work};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use playtrace_core::units::Millis;
use playtrace_store::SilenceRow;
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Body of `POST /v1/silences`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewSilence {
    matchers: Value,
    /// How long from `startsAt` (`2h`); or give `endsAt`.
    #[serde(rename = "for")]
    for_: Option<String>,
    #[serde(rename = "startsAt")]
    starts_at: Option<String>,
    #[serde(rename = "endsAt")]
    ends_at: Option<String>,
    author: Option<String>,
    #[serde(default)]
    comment: String,
}

fn time(key: &str, text: &str) -> ApiResult<i64> {
    playtrace_core::time::parse_rfc3339_ms(text)
        .map(|m| m as i64)
        .ok_or_else(|| {
            ApiError::bad_request(format!(
                "{key}: `{text}` is not an RFC 3339 time such as 2026-01-01T00:00:00Z"
            ))
        })
}

/// A new silence id: time and a counter, so two made in one millisecond differ.
fn new_id(now_ms: i64) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!(
        "si_{now_ms:x}{:04x}{:04x}",
        std::process::id() & 0xffff,
        n & 0xffff
    )
}

async fn run(app: &AppState, op: LifecycleOp) -> ApiResult<Option<Value>> {
    let result: ActionResult = Arc::new(Mutex::new(None));
    commit(
        app,
        vec![],
        vec![],
        Work::Lifecycle {
            op,
            result: result.clone(),
        },
    )
    .await?;
    let answer = result.lock().unwrap_or_else(|p| p.into_inner()).take();
    Ok(answer.flatten())
}

/// `POST /v1/silences {"matchers": {"room": "pier"}, "for": "2h", "comment": "…"}` (admin).
pub(crate) async fn create(
    State(app): State<Arc<AppState>>,
    caller: Caller<Admin>,
    body: axum::body::Bytes,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let body: NewSilence = serde_json::from_slice(&body).map_err(|e| {
        ApiError::bad_request(format!(
            "the body must be {{\"matchers\": {{\"room\": \"pier\"}}, \"for\": \"2h\", \
             \"comment\": TEXT}} (or endsAt instead of for): {e}"
        ))
    })?;
    let matchers = parse_matchers(&body.matchers).map_err(ApiError::bad_request)?;
    let now = playtrace_store::now_ms();
    let starts_ms = match &body.starts_at {
        Some(t) => time("startsAt", t)?,
        None => now,
    };
    let ends_ms = match (&body.for_, &body.ends_at) {
        (Some(d), None) => {
            let ms = d
                .parse::<Millis>()
                .map_err(|e| ApiError::bad_request(format!("for: {e}")))?;
            starts_ms.saturating_add(ms.as_ms_f64() as i64)
        }
        (None, Some(t)) => time("endsAt", t)?,
        _ => {
            return Err(ApiError::bad_request(
                "give either `for` (a duration such as 2h) or `endsAt` (RFC 3339)",
            ))
        }
    };
    if ends_ms <= starts_ms.max(now) {
        return Err(ApiError::bad_request(
            "the silence would end before it starts or in the past; give a later endsAt or a \
             longer `for`",
        ));
    }
    let author = body
        .author
        .filter(|a| !a.trim().is_empty())
        .or(caller.name)
        .unwrap_or_else(|| "admin".into());
    let row = SilenceRow {
        id: new_id(now),
        matchers: serde_json::to_string(&matchers).unwrap_or_else(|_| "{}".into()),
        author,
        comment: body.comment,
        starts_ms,
        ends_ms,
        created_ms: now,
    };
    let answer = run(&app, LifecycleOp::AddSilence(row)).await?;
    Ok((StatusCode::CREATED, Json(answer.unwrap_or(Value::Null))))
}

/// Query of `GET /v1/silences`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ListParams {
    /// `active` (with pending), `expired`, or all when absent.
    state: Option<String>,
    limit: Option<usize>,
}

/// `GET /v1/silences?state=active|expired` (read): newest first.
pub(crate) async fn list(
    State(app): State<Arc<AppState>>,
    _caller: Caller<Read>,
    Params(p): Params<ListParams>,
) -> ApiResult<Json<Value>> {
    let want = p.state.filter(|s| !s.is_empty());
    if let Some(s) = want.as_deref() {
        if s != "active" && s != "expired" {
            return Err(ApiError::bad_request(format!(
                "state: `{s}` is not active or expired"
            )));
        }
    }
    let limit = p.limit.unwrap_or(100).clamp(1, 1000);
    let reader = app.reader.clone();
    let rows = blocking(move || reader.silences(limit)).await?;
    let now = playtrace_store::now_ms();
    let silences: Vec<Value> = rows
        .iter()
        .map(|r| silence_json(r, now))
        .filter(|s| match want.as_deref() {
            Some("expired") => s["state"] == "expired",
            Some(_) => s["state"] != "expired",
            None => true,
        })
        .collect();
    Ok(Json(json!({"silences": silences})))
}

/// `DELETE /v1/silences/{id}` (admin): ends the silence now; the alerts it held fire again
/// unless another silence covers them.
pub(crate) async fn remove(
    State(app): State<Arc<AppState>>,
    Path(id): Path<String>,
    _caller: Caller<Admin>,
) -> ApiResult<Json<Value>> {
    match run(&app, LifecycleOp::Unsilence(id.clone())).await? {
        Some(s) => Ok(Json(s)),
        None => Err(ApiError::not_found(format!(
            "no silence `{id}`; ids are listed by GET /v1/silences"
        ))),
    }
}
