//! Reading what the collector holds (scope read): `GET /v1/events` (from the store), `/v1/budgets`, `/v1/contests`, `/v1/contests/{id}` (from the live state).

use crate::app::AppState;
use crate::http::auth::{Caller, Read};
use crate::http::error::{blocking, ApiError, ApiResult};
use crate::http::routes::params::Params;
use crate::view::event_json;
use axum::extract::{Path, State};
use axum::Json;
use playtrace_core::contest::{BudgetQuery, ContestState};
use playtrace_core::time::format_rfc3339_ms;
use playtrace_core::units::Millis;
use playtrace_store::EventFilter;
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;

/// `?limit=` of every listing: 1 to 1000, default 100; anything else is 400 on every route
/// (clamping would hide a client's mistake on some routes and not others).
pub(crate) fn page_limit(limit: Option<usize>) -> ApiResult<usize> {
    let limit = limit.unwrap_or(100);
    if limit == 0 || limit > 1000 {
        return Err(ApiError::bad_request(format!(
            "limit={limit} is out of range; use 1 to 1000 (default 100)"
        )));
    }
    Ok(limit)
}

/// Sequence numbers one page of `GET /v1/events` looks at, at most: a filter that matches little
/// (`?game=` of a quiet game) answers a short page with `scanLimited: true` and the cursor it
/// reached instead of scanning the whole store under a read connection.
const SCAN_BUDGET: u64 = 10_000;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct EventsQuery {
    name: Option<String>,
    after: Option<i64>,
    limit: Option<usize>,
    game: Option<String>,
    env: Option<String>,
    session: Option<String>,
    hub: Option<String>,
    room: Option<String>,
}

pub(crate) async fn list_events(
    State(app): State<Arc<AppState>>,
    _caller: Caller<Read>,
    Params(q): Params<EventsQuery>,
) -> ApiResult<Json<Value>> {
    let limit = page_limit(q.limit)?;
    let after = q.after.unwrap_or(0);
    let filter = EventFilter {
        name_prefix: q.name,
        game: q.game,
        env: q.env,
        after,
        limit,
        all_kinds: false,
        session: q.session,
        hub: q.hub,
        room: q.room,
        scan_budget: Some(SCAN_BUDGET),
    };
    let reader = app.reader.clone();
    let page = blocking(move || reader.events_page(&filter)).await?;
    let events: Vec<Value> = page.events.iter().map(event_json).collect();
    Ok(Json(
        json!({"events": events, "next": page.next, "scanLimited": page.scan_limited}),
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct BudgetsParams {
    game: Option<String>,
    env: Option<String>,
    group_by: Option<String>,
    window: Option<String>,
}

pub(crate) async fn budgets(
    State(app): State<Arc<AppState>>,
    _caller: Caller<Read>,
    Params(q): Params<BudgetsParams>,
) -> ApiResult<Json<Value>> {
    let mut query = BudgetQuery {
        game: q.game,
        env: q.env,
        ..BudgetQuery::default()
    };
    if let Some(dims) = q.group_by.as_deref().filter(|s| !s.is_empty()) {
        for d in dims.split(',') {
            let dim = app.config.dimensions.parse(d).ok_or_else(|| {
                ApiError::bad_request(format!(
                    "group_by: `{d}` is not a dimension; use {} (comma-separated; more are \
                     configured with [[dimensions]])",
                    app.config.dimensions.known()
                ))
            })?;
            if !query.group_by.contains(&dim) {
                query.group_by.push(dim);
            }
        }
    }
    if let Some(windows) = q.window.as_deref().filter(|s| !s.is_empty()) {
        for w in windows.split(',') {
            let ms = w
                .parse::<Millis>()
                .map_err(|e| ApiError::bad_request(format!("window: {e}")))?;
            if ms == Millis::ZERO {
                return Err(ApiError::bad_request("window: must be longer than 0"));
            }
            query.windows_ms.push(ms.as_ms_f64());
        }
    }
    let now = playtrace_store::now_ms() as f64;
    let reports = app.live_budgets(&query, now);
    Ok(Json(json!({
        "generatedAt": format_rfc3339_ms(now),
        "game": query.game,
        "env": query.env,
        "windows": reports,
    })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ContestsQuery {
    state: Option<String>,
    game: Option<String>,
    env: Option<String>,
    limit: Option<usize>,
}

pub(crate) async fn list_contests(
    State(app): State<Arc<AppState>>,
    _caller: Caller<Read>,
    Params(q): Params<ContestsQuery>,
) -> ApiResult<Json<Value>> {
    let state = match q.state.as_deref().filter(|s| !s.is_empty()) {
        None => None,
        Some(s) => Some(ContestState::parse(s).ok_or_else(|| {
            ApiError::bad_request(format!(
                "state: `{s}` is not a state; use arming, resolving, resolved, expired, failed or unresolved"
            ))
        })?),
    };
    let limit = page_limit(q.limit)?;
    let now = playtrace_store::now_ms() as f64;
    let contests =
        app.with_live(|l| l.list(state, q.game.as_deref(), q.env.as_deref(), limit, now));
    Ok(Json(json!({"contests": contests})))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ContestQuery {
    game: Option<String>,
}

pub(crate) async fn get_contest(
    State(app): State<Arc<AppState>>,
    _caller: Caller<Read>,
    Path(id): Path<String>,
    Params(q): Params<ContestQuery>,
) -> ApiResult<Json<Value>> {
    let now = playtrace_store::now_ms() as f64;
    let mut found = app.with_live(|l| l.contest(&id, q.game.as_deref(), now));
    if found.is_empty() {
        return Err(ApiError::not_found(format!(
            "no live contest `{id}`: contests closed longer ago than the longest budget window \
                 leave memory (their events stay queryable at /v1/events)"
        )));
    }
    let first = found.remove(0);
    let mut v = serde_json::to_value(first).unwrap_or(Value::Null);
    if !found.is_empty() {
        if let Some(o) = v.as_object_mut() {
            o.insert(
                "otherGames".into(),
                serde_json::to_value(found).unwrap_or(Value::Null),
            );
        }
    }
    Ok(Json(v))
}
