//! Alert routes: `POST /v1/alerts` (ingest), `GET /v1/alerts`, `GET /v1/alerts/latest`,
//! `GET /v1/alerts/{id}` (read), `POST /v1/alerts/{id}/ack|resolve|silence` (admin).

use crate::alerting::budget::breaching;
use crate::alerting::AlertAction;
use crate::app::AppState;
use crate::http::auth::{Admin, Caller, Ingest, Read};
use crate::http::commit::{commit, commit_ingest};
use crate::http::error::{blocking, ApiError, ApiResult};
use crate::http::routes::ingest::{game_scope, IngestParams};
use crate::http::routes::params::Params;
use crate::pipeline::{ActionResult, Work};
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::http::StatusCode;
use axum::Json;
use playtrace_core::alert::{admin_alert, alert_id, Category, Severity, ADMIN_ALERT};
use playtrace_core::contest::BudgetQuery;
use playtrace_core::scan::ObservationBatch;
use playtrace_core::units::Millis;
use playtrace_store::{AlertQuery, AlertState, StoredEvent};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::sync::{Arc, Mutex};

/// `POST /v1/alerts`: an `admin.alert` envelope `{id, sessionId, severity, reason, data,
/// createdAt}` (plus optional `game`, `env`). Stored as an `admin.alert` event, which raises
/// (or updates) the alert in the same transaction.
pub(crate) async fn post(
    State(app): State<Arc<AppState>>,
    caller: Caller<Ingest>,
    Query(q): Query<IngestParams>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> ApiResult<Json<Value>> {
    let games = game_scope(caller.game, q.game, &headers)?;
    let Value::Object(mut envelope) = body else {
        return Err(ApiError::bad_request(
            "the body must be one admin.alert object: {id, sessionId, severity, reason, data, createdAt}",
        ));
    };
    let take = |o: &mut Map<String, Value>, k: &str| match o.remove(k) {
        Some(Value::String(s)) if !s.is_empty() => Some(s),
        _ => None,
    };
    let game = games
        .resolve(take(&mut envelope, "game").as_deref())
        .map_err(|e| ApiError::bad_request(e.message))?;
    let game = (!game.is_empty()).then_some(game);
    let env = take(&mut envelope, "env");
    let candidate = admin_alert(&envelope).map_err(ApiError::bad_request)?;
    let id = envelope.get("id").and_then(|v| match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    });
    let mut event = Map::new();
    event.insert("event".into(), json!(ADMIN_ALERT));
    if let Some(id) = &id {
        event.insert("id".into(), json!(id));
    }
    if let Some(g) = &game {
        event.insert("game".into(), json!(g));
    }
    if let Some(e) = &env {
        event.insert("env".into(), json!(e));
    }
    if let Some(s) = &candidate.session_id {
        event.insert("session".into(), json!(s));
    }
    event.insert("attrs".into(), Value::Object(envelope));
    // Redacted and indexed like an ingested event (docs/PRIVACY.md).
    let privacy = app.privacy();
    let body = privacy.redact_body(Value::Object(event).to_string());
    let subjects = privacy.subjects(&body, candidate.session_id.as_deref());
    let row = StoredEvent {
        game: game.unwrap_or_default(),
        id: id.map(Into::into),
        name: ADMIN_ALERT.into(),
        env: env.map(Into::into),
        session: candidate.session_id.as_deref().map(Into::into),
        body,
        subjects,
        ..StoredEvent::default()
    };
    let outcome = commit_ingest(&app, vec![row], vec![], ObservationBatch::default()).await?;
    Ok(Json(json!({
        "accepted": outcome.accepted,
        "duplicates": outcome.duplicates,
        "alertId": alert_id(&candidate.fingerprint),
    })))
}

/// Query of `GET /v1/alerts`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ListParams {
    state: Option<String>,
    min_severity: Option<String>,
    category: Option<String>,
    since: Option<String>,
    game: Option<String>,
    env: Option<String>,
    include_probes: Option<bool>,
    include_seeded: Option<bool>,
    limit: Option<usize>,
    /// `updated` (default: newest change first) or `created` (newest occurrence first, the
    /// order `latest` and the freshness check use).
    sort: Option<String>,
}

fn query_of(p: &ListParams) -> ApiResult<AlertQuery> {
    let mut q = AlertQuery {
        game: p.game.clone(),
        env: p.env.clone(),
        include_probes: p.include_probes.unwrap_or(false),
        include_seeded: p.include_seeded.unwrap_or(false),
        limit: crate::http::routes::query::page_limit(p.limit)?,
        ..AlertQuery::default()
    };
    match p.sort.as_deref() {
        None | Some("" | "updated") => {}
        Some("created") => q.by_created = true,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "sort: `{other}` is not updated or created"
            )))
        }
    }
    if let Some(s) = p.state.as_deref().filter(|s| !s.is_empty()) {
        q.state = Some(AlertState::parse(s).ok_or_else(|| {
            ApiError::bad_request(format!("state: `{s}` is not firing, resolved or silenced"))
        })?);
    }
    if let Some(s) = p.min_severity.as_deref().filter(|s| !s.is_empty()) {
        let severity = Severity::parse(s).ok_or_else(|| {
            ApiError::bad_request(format!(
                "min_severity: `{s}` is not one of info, low, medium, high, critical"
            ))
        })?;
        q.min_severity = Some(i64::from(severity.rank()));
    }
    if let Some(c) = p.category.as_deref().filter(|s| !s.is_empty()) {
        let category = Category::parse(c).ok_or_else(|| {
            ApiError::bad_request(format!(
                "category: `{c}` is not moderation, budget or pipeline"
            ))
        })?;
        q.category = Some(category.as_str().to_string());
    }
    if let Some(s) = p.since.as_deref().filter(|s| !s.is_empty()) {
        let ms = s
            .parse::<i64>()
            .ok()
            .or_else(|| playtrace_core::time::parse_rfc3339_ms(s).map(|m| m as i64))
            .ok_or_else(|| {
                ApiError::bad_request(format!(
                    "since: `{s}` is neither RFC 3339 (2026-01-01T00:00:00Z) nor epoch milliseconds"
                ))
            })?;
        q.since_ms = Some(ms);
    }
    Ok(q)
}

async fn read(app: &AppState, q: AlertQuery) -> ApiResult<Vec<Value>> {
    let reader = app.reader.clone();
    let bodies = blocking(move || reader.alerts(&q)).await?;
    Ok(bodies.iter().map(|text| shown(text)).collect())
}

/// An alert's stored JSON as the API shows it, with its display group.
fn shown(text: &str) -> Value {
    let mut alert: Value = serde_json::from_str(text).unwrap_or(Value::Null);
    let group = display_group(&alert);
    if let Some(o) = alert.as_object_mut() {
        o.insert("group".into(), Value::String(group));
    }
    alert
}

/// What the console shows alerts together under: a budget's group (`budget room=pier`: every
/// metric and window of one slow room), or the rule with the room or session it is about.
pub(crate) fn display_group(alert: &Value) -> String {
    use crate::alerting::silence::attribute;
    let rule = alert["rule"].as_str().unwrap_or("alert");
    if alert["category"] == "budget" {
        let label = match alert["data"]["group"].as_object() {
            Some(g) if !g.is_empty() => g
                .iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("-")))
                .collect::<Vec<_>>()
                .join(","),
            _ => "overall".into(),
        };
        return format!("budget {label}");
    }
    match (attribute(alert, "room"), attribute(alert, "session")) {
        (Some(room), _) => format!("{rule} room={room}"),
        (None, Some(session)) => format!("{rule} session={session}"),
        (None, None) => rule.to_string(),
    }
}

/// `GET /v1/alerts/{id}`.
pub(crate) async fn get_one(
    State(app): State<Arc<AppState>>,
    _caller: Caller<Read>,
    Path(id): Path<String>,
    Params(_none): Params<NoParams>,
) -> ApiResult<Json<Value>> {
    let reader = app.reader.clone();
    let key = id.clone();
    match blocking(move || reader.alert(&key)).await? {
        Some(row) => Ok(Json(shown(&row.body))),
        None => Err(ApiError::not_found(format!(
            "no alert `{id}`; ids are listed by GET /v1/alerts"
        ))),
    }
}

/// A route that takes no query parameters.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NoParams {}

/// `GET /v1/alerts`: newest update first; seeded and probe alerts only when asked for.
pub(crate) async fn list(
    State(app): State<Arc<AppState>>,
    _caller: Caller<Read>,
    Params(p): Params<ListParams>,
) -> ApiResult<Json<Value>> {
    let q = query_of(&p)?;
    Ok(Json(json!({"alerts": read(&app, q).await?})))
}

/// `GET /v1/alerts/latest?category=moderation&include_seeded=`: the newest alert by creation.
pub(crate) async fn latest(
    State(app): State<Arc<AppState>>,
    _caller: Caller<Read>,
    Params(p): Params<ListParams>,
) -> ApiResult<Json<Value>> {
    let mut q = query_of(&p)?;
    q.limit = 1;
    q.by_created = true;
    match read(&app, q).await?.into_iter().next() {
        Some(alert) => Ok(Json(alert)),
        None => Err(ApiError::not_found(
            "no alert matches (seeded alerts count only with include_seeded=true, probes only \
             with include_probes=true)",
        )),
    }
}

async fn act(app: &AppState, id: String, action: AlertAction) -> ApiResult<Json<Value>> {
    let result: ActionResult = Arc::new(Mutex::new(None));
    commit(
        app,
        vec![],
        vec![],
        Work::Action {
            id: id.clone(),
            action,
            result: result.clone(),
        },
    )
    .await?;
    let outcome = result.lock().unwrap_or_else(|p| p.into_inner()).take();
    match outcome.flatten() {
        Some(alert) => Ok(Json(alert)),
        None => Err(ApiError::not_found(format!(
            "no alert `{id}`; ids are listed by GET /v1/alerts"
        ))),
    }
}

/// `POST /v1/alerts/{id}/resolve` (admin). A budget alert whose budget is still breached is
/// refused (409): resolved by hand it would stay resolved while `/v1/budgets` says breach.
pub(crate) async fn resolve(
    State(app): State<Arc<AppState>>,
    Path(id): Path<String>,
    _caller: Caller<Admin>,
) -> ApiResult<Json<Value>> {
    let reader = app.reader.clone();
    let key = id.clone();
    if let Some(row) = blocking(move || reader.alert(&key)).await? {
        if row.category == "budget" {
            let query = BudgetQuery {
                group_by: app.config.budget_alerting.group_by.clone(),
                ..BudgetQuery::default()
            };
            let reports = app.live_budgets(&query, playtrace_store::now_ms() as f64);
            if breaching(&reports, &row.fingerprint) {
                return Err(ApiError::new(
                    StatusCode::CONFLICT,
                    "budget_still_breached",
                    format!(
                        "alert `{id}` cannot be resolved: its budget is still breached \
                         (GET /v1/budgets); it resolves itself once the budget has held for \
                         alerts.budget_keep_firing_for, or silence it meanwhile"
                    ),
                ));
            }
        }
    }
    act(&app, id, AlertAction::Resolve).await
}

/// Body of an acknowledgement.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AckBody {
    /// Who (default: the token's name, or `admin` without tokens).
    by: Option<String>,
    #[serde(default)]
    comment: String,
}

/// `POST /v1/alerts/{id}/ack {"by", "comment"}` (admin): someone is on it; the state stays.
pub(crate) async fn ack(
    State(app): State<Arc<AppState>>,
    Path(id): Path<String>,
    caller: Caller<Admin>,
    body: axum::body::Bytes,
) -> ApiResult<Json<Value>> {
    let body: AckBody = if body.iter().all(u8::is_ascii_whitespace) {
        AckBody::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| {
            ApiError::bad_request(format!(
                "the body must be {{\"by\": NAME, \"comment\": TEXT}} (both optional): {e}"
            ))
        })?
    };
    let by = body
        .by
        .filter(|b| !b.trim().is_empty())
        .or(caller.name.clone())
        .unwrap_or_else(|| "admin".into());
    act(
        &app,
        id,
        AlertAction::Ack {
            by,
            comment: body.comment,
        },
    )
    .await
}

/// Body of a silence.
#[derive(Debug, Deserialize)]
pub(crate) struct SilenceBody {
    #[serde(rename = "for")]
    for_: String,
}

/// `POST /v1/alerts/{id}/silence {"for": "2h"}` (admin).
pub(crate) async fn silence(
    State(app): State<Arc<AppState>>,
    Path(id): Path<String>,
    _caller: Caller<Admin>,
    Json(body): Json<SilenceBody>,
) -> ApiResult<Json<Value>> {
    let for_ms = body
        .for_
        .parse::<Millis>()
        .map_err(|e| ApiError::bad_request(format!("for: {e}")))?
        .as_ms_f64();
    act(&app, id, AlertAction::Silence { for_ms }).await
}
