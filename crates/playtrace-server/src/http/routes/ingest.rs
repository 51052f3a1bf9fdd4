//! `POST /v1/events` (scope ingest): a body of events, stored durably before the answer.

use crate::app::AppState;
use crate::http::auth::{Caller, Ingest};
use crate::http::body::{body_format, read_body};
use crate::http::commit::commit_ingest;
use crate::http::error::{ApiError, ApiResult};
use crate::ingest::guard::{Admitted, Limit};
use crate::ingest::json::{
    auto_parse_threads, ndjson_part_count, ndjson_parts, parse_body, parse_ndjson_part, BodyFormat,
};
use crate::ingest::{GameScope, Parsed};
use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::Json;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

/// Bodies up to this size are read on the async worker (cheaper than a thread hand-off).
const PARSE_INLINE_BYTES: usize = 64 << 10;

/// The threads a large NDJSON body may be read on: `http.parse_threads`, or when that is 0,
/// sized from the cores this process may run on (read once).
fn parse_threads(configured: usize) -> usize {
    static AUTO: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    if configured > 0 {
        return configured;
    }
    *AUTO.get_or_init(|| {
        auto_parse_threads(std::thread::available_parallelism().map_or(1, |n| n.get()))
    })
}

/// An NDJSON body read in `parts` runs of whole lines, each on a thread of the blocking pool,
/// then put back together in order: the same parse as one thread's, sooner.
async fn parse_in_parts(
    parsed: Parsed,
    bytes: Vec<u8>,
    parts: usize,
    max_line: u64,
) -> ApiResult<Parsed> {
    let bytes = Arc::new(bytes);
    let runs: Vec<_> = ndjson_parts(&bytes, parts)
        .into_iter()
        .map(|(range, lines_before)| {
            let (part, bytes) = (parsed.sibling(), bytes.clone());
            tokio::task::spawn_blocking(move || {
                parse_ndjson_part(part, &bytes[range], lines_before, max_line)
            })
        })
        .collect();
    let mut whole = parsed;
    for run in runs {
        whole.append(run.await.map_err(ApiError::internal)?);
    }
    Ok(whole)
}

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
    /// Events not stored by a game's limits or sampling, by cause (absent when none).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    dropped: BTreeMap<&'static str, u64>,
    /// Events stored flagged over a daily cap, by cap (absent when none).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    flagged: BTreeMap<&'static str, u64>,
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
    let game = games.default.clone();
    let max_body = (app.guard).max_body(game.as_deref(), app.config.limits.max_body.as_u64());
    let bytes = read_body(max_body, &headers, body)
        .await
        .inspect_err(|e| count_refused_body(&app, game.as_deref(), e))?;
    let max_line = (app.guard).max_line(game.as_deref(), app.config.limits.max_line.as_u64());
    let mut parsed = Parsed::new(games).with_privacy(app.privacy());
    parsed.plan = app.plan();
    if !app.config.dimensions.is_empty() {
        parsed
            .observations
            .set_dim_attrs(app.config.dimensions.attrs());
    }
    // Reading a large body takes milliseconds: off the async workers, so other connections
    // (health checks, queries) keep being served meanwhile; on a machine with cores to spare,
    // in parts side by side.
    let parts = match format {
        BodyFormat::Ndjson => {
            ndjson_part_count(bytes.len(), parse_threads(app.config.http.parse_threads))
        }
        BodyFormat::Json => 1,
    };
    let parsed = if parts > 1 {
        parse_in_parts(parsed, bytes, parts, max_line).await?
    } else if bytes.len() > PARSE_INLINE_BYTES {
        tokio::task::spawn_blocking(move || parse_body(parsed, &bytes, format, max_line))
            .await
            .map_err(ApiError::internal)?
    } else {
        parse_body(parsed, &bytes, format, max_line)
    };
    let mut parsed = parsed;
    let admitted = admit(&app, &mut parsed, game.as_deref())?;
    let rejected: Vec<RejectAnswer> = parsed
        .rejects
        .iter()
        .map(|r| RejectAnswer {
            line: r.line,
            kind: r.kind.clone(),
            message: r.message.clone(),
        })
        .collect();
    let outcome = commit_ingest(&app, parsed.events, parsed.rejects, parsed.observations)
        .await
        .inspect_err(|_| app.guard.refund(&admitted.charges, None))?;
    // A retried batch already stored takes no place under the daily caps.
    app.guard.refund(&admitted.charges, Some(&outcome.inserted));
    for r in &rejected {
        app.metrics.reject(&r.kind);
    }
    super::plan::record_drift(&app).await;
    app.metrics
        .ingest_seconds
        .observe(started.elapsed().as_secs_f64());
    Ok(Json(IngestAnswer {
        accepted: outcome.accepted,
        duplicates: outcome.duplicates,
        rejected,
        dropped: admitted.dropped,
        flagged: admitted.flagged,
    }))
}

/// A body over the game's (or the collector's) size limit counts as that game's `max_body` hit.
fn count_refused_body(app: &AppState, game: Option<&str>, e: &ApiError) {
    if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
        app.guard.count_size(game, Limit::MaxBody, 1);
    }
}

/// The request's events through its games' limits and sampling (`ingest/guard`): a game over
/// its rate is 429 with `Retry-After`.
pub(crate) fn admit(
    app: &AppState,
    parsed: &mut Parsed,
    game: Option<&str>,
) -> ApiResult<Admitted> {
    let too_long = parsed.rejects.iter().filter(|r| r.kind == "size").count();
    app.guard.count_size(game, Limit::MaxLine, too_long as u64);
    let rules = app.rules.read().unwrap_or_else(|p| p.into_inner()).clone();
    let now = playtrace_store::now_ms() as f64;
    app.guard.admit(parsed, &rules, now).map_err(|l| {
        let mut e = ApiError::new(
            axum::http::StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            format!(
                "game `{}` is over its {} events per second ([[games]] events_per_second); \
                 these {} events were not stored: send them again after Retry-After seconds",
                l.game, l.rate, l.events
            ),
        );
        e.retry_after = Some(l.retry_after);
        e
    })
}
