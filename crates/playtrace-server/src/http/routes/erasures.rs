//! `POST /v1/erasures` (admin) erases a player's or a session's data; `GET /v1/erasures` (admin)
//! lists the erasure log (docs/PRIVACY.md). The erasure is one writer job, so it is ordered
//! with ingest like every write; then the notifier drops its copies in memory (read again from
//! the scrubbed store), and the WAL is checkpointed and truncated so the erased bytes leave the
//! files.

use crate::app::AppState;
use crate::http::auth::{Admin, Caller};
use crate::http::commit::commit;
use crate::http::error::{blocking, ApiError, ApiResult};
use crate::http::routes::params::Params;
use crate::pipeline::Work;
use axum::extract::State;
use axum::Json;
use playtrace_store::{Erased, ErasureRecord, SubjectKind, DB_FILE};
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};

/// Body of `POST /v1/erasures`: exactly one of the two.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Subject {
    player: Option<String>,
    session: Option<String>,
}

const SHAPE: &str =
    "the body must be {\"player\": \"ID\"} or {\"session\": \"ID\"} (the id as the \
                     game sent it; a hashed id is found by hashing it)";

fn record_json(r: &ErasureRecord) -> Value {
    json!({
        "id": r.id,
        "at": playtrace_core::time::format_rfc3339_ms(r.at_ms as f64),
        "who": r.who,
        "subject": r.subject,
        "subjectHash": r.subject_hash,
        "removed": r.removed,
    })
}

/// `POST /v1/erasures {"player": "…"} | {"session": "…"}` (admin).
pub(crate) async fn erase(
    State(app): State<Arc<AppState>>,
    caller: Caller<Admin>,
    body: axum::body::Bytes,
) -> ApiResult<Json<Value>> {
    let subject: Subject = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("{SHAPE}: {e}")))?;
    let (kind, raw) = match (subject.player, subject.session) {
        (Some(p), None) => (SubjectKind::Player, p),
        (None, Some(s)) => (SubjectKind::Session, s),
        _ => return Err(ApiError::bad_request(SHAPE)),
    };
    if raw.is_empty() {
        return Err(ApiError::bad_request(format!(
            "{}: the id is empty",
            kind.as_str()
        )));
    }
    let privacy = app.privacy();
    if !privacy.index_subjects {
        return Err(ApiError::new(
            axum::http::StatusCode::CONFLICT,
            "erasure_not_configured",
            "erasure needs a [privacy] section in the config: with it, ingest indexes each \
             event's players and sessions so an erasure finds them; add `[privacy]` (see \
             docs/PRIVACY.md) and restart. Events stored before that were not indexed and would not \
             be found",
        ));
    }
    let who = caller.name.unwrap_or_else(|| "admin".into());
    let erasure = privacy.erasure(kind, &raw, &who);
    let subject_hash = erasure.subject_hash.clone();
    let result: Arc<Mutex<Option<Erased>>> = Arc::default();
    commit(
        &app,
        vec![],
        vec![],
        Work::Erase {
            erasure,
            result: result.clone(),
        },
    )
    .await?;
    let removed = result
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .take()
        .unwrap_or_default();
    // The notifier's copies in memory predate the erasure: dropped, and read again from the
    // scrubbed store.
    if let Some(notifier) = app.notify.get().cloned() {
        blocking(move || {
            notifier.erased();
            Ok(())
        })
        .await?;
    }
    let db = app.config.data_dir.join(DB_FILE);
    let truncated = blocking(move || playtrace_store::truncate_wal(&db)).await?;
    if !truncated {
        tracing::warn!("erasure committed, but readers kept the WAL busy: it was not truncated");
    }
    tracing::info!(subject = kind.as_str(), hash = %subject_hash, events = removed.events, "erasure");
    Ok(Json(json!({
        "subject": kind.as_str(),
        "subjectHash": subject_hash,
        "removed": removed,
        "walTruncated": truncated,
    })))
}

/// Query of `GET /v1/erasures`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ListParams {
    limit: Option<usize>,
}

/// `GET /v1/erasures` (admin): the erasure log, newest first.
pub(crate) async fn list(
    State(app): State<Arc<AppState>>,
    _caller: Caller<Admin>,
    Params(p): Params<ListParams>,
) -> ApiResult<Json<Value>> {
    let limit = p.limit.unwrap_or(100).clamp(1, 1000);
    let reader = app.reader.clone();
    let rows = blocking(move || reader.erasures(limit)).await?;
    Ok(Json(
        json!({"erasures": rows.iter().map(record_json).collect::<Vec<_>>()}),
    ))
}
