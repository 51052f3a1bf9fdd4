//! `POST /v1/events` (scope ingest): a body of events, stored durably before the answer.

use crate::app::AppState;
use crate::http::auth::{Caller, Ingest};
use crate::http::body::{body_format, read_body};
use crate::http::commit::commit_ingest;
use crate::http::error::{ApiError, ApiResult};
use crate::ingest::json::parse_body;
use crate::ingest::{GameScope, Parsed};
use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::Json;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Instant;

/// Bodies up to this size are read on the async worker (cheaper than a thread hand-off).
const PARSE_INLINE_BYTES: usize = 64 << 10;

/// The header naming the game of lines that name none (like `?game=`).
pub(crate) const GAME_HEADER: &str = "x-playtrace-game";

#[derive(Debug, Serialize)]
struct RejectAnswer {
    line: u32,
    kind: String,
    message: String,
}

#[derive(Debug, Serialize)]
pub(crate) struct IngestAnswer {
    accepted: u64,
    duplicates: u64,
    rejected: Vec<RejectAnswer>,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct IngestParams {
    pub(crate) game: Option<String>,
}

/// The request's game: the token's when it is bound to one (a different `?game=` is refused),
/// else `?game=` or the `X-PlayTrace-Game` header.
pub(crate) fn game_scope(
    token_game: Option<String>,
    param: Option<String>,
    headers: &HeaderMap,
) -> ApiResult<GameScope> {
    let header = headers
        .get(GAME_HEADER)
        .map(|v| {
            v.to_str().map(str::to_string).map_err(|_| {
                ApiError::bad_request("X-PlayTrace-Game is not text; send the game's name")
            })
        })
        .transpose()?;
    let asked = param.or(header).filter(|g| !g.trim().is_empty());
    match token_game {
        Some(only) => {
            if let Some(asked) = asked.filter(|a| *a != only) {
                return Err(ApiError::new(
                    axum::http::StatusCode::FORBIDDEN,
                    "forbidden",
                    format!(
                        "game `{asked}`: this token is scoped to game `{only}`; use that game's \
                         token, or leave out ?game= / X-PlayTrace-Game"
                    ),
                ));
            }
            Ok(GameScope {
                default: Some(only.clone()),
                only: Some(only),
            })
        }
        None => Ok(GameScope {
            default: asked,
            only: None,
        }),
    }
}

pub(crate) async fn ingest(
    State(app): State<Arc<AppState>>,
    caller: Caller<Ingest>,
    Query(q): Query<IngestParams>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<IngestAnswer>> {
    let started = Instant::now();
    let games = game_scope(caller.game, q.game, &headers)?;
    let format = body_format(&headers)?;
    let bytes = read_body(app.config.limits.max_body.as_u64(), &headers, body).await?;
    let max_line = app.config.limits.max_line.as_u64();
    let parsed = Parsed::new(games);
    // Reading a large body takes milliseconds: off the async workers, so other connections
    // (health checks, queries) keep being served meanwhile.
    let parsed = if bytes.len() > PARSE_INLINE_BYTES {
        tokio::task::spawn_blocking(move || parse_body(parsed, &bytes, format, max_line))
            .await
            .map_err(ApiError::internal)?
    } else {
        parse_body(parsed, &bytes, format, max_line)
    };
    let rejected: Vec<RejectAnswer> = parsed
        .rejects
        .iter()
        .map(|r| RejectAnswer {
            line: r.line,
            kind: r.kind.clone(),
            message: r.message.clone(),
        })
        .collect();
    let outcome = commit_ingest(&app, parsed.events, parsed.rejects, parsed.observations).await?;
    for r in &rejected {
        app.metrics.reject(&r.kind);
    }
    app.metrics
        .ingest_seconds
        .observe(started.elapsed().as_secs_f64());
    Ok(Json(IngestAnswer {
        accepted: outcome.accepted,
        duplicates: outcome.duplicates,
        rejected,
    }))
}
