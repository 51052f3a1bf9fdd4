//! HTTP routes (documented in `docs/API.md`): ingest, queries, health and metrics.

use crate::auth::{Denied, Scope};
use crate::ingest::{parse_body, BodyFormat};
use crate::metrics::{header, sample};
use crate::state::AppState;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header as h, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use playtrace_core::contest::{BudgetQuery, ContestState};
use playtrace_core::duration::parse_duration_ms;
use playtrace_core::event::Event;
use playtrace_core::summary::GroupDim;
use playtrace_core::time::format_rfc3339_ms;
use playtrace_store::{EventFilter, Job, StoreError, SubmitError};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::io::Read;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

/// The collector's routes.
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/v1/events", post(ingest).get(list_events))
        .route("/v1/rejects", get(list_rejects))
        .route("/v1/budgets", get(budgets))
        .route("/v1/contests", get(list_contests))
        .route("/v1/contests/{id}", get(get_contest))
        .route("/v1/stream", get(crate::stream::stream))
        .route(
            "/v1/alerts",
            get(crate::alert_api::list).post(crate::alert_api::post),
        )
        .route("/v1/alerts/latest", get(crate::alert_api::latest))
        .route("/v1/alerts/{id}/resolve", post(crate::alert_api::resolve))
        .route("/v1/alerts/{id}/silence", post(crate::alert_api::silence))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .fallback(not_found)
        .with_state(state)
}

/// An error answer: a status and `{"error": {"code", "message"}}`.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    pub(crate) retry_after: Option<u32>,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({"error": {"code": self.code, "message": self.message}});
        let mut response = (self.status, Json(body)).into_response();
        if let Some(secs) = self.retry_after {
            response
                .headers_mut()
                .insert(h::RETRY_AFTER, HeaderValue::from(secs));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                h::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"playtrace\""),
            );
        }
        response
    }
}

pub(crate) type ApiResult<T> = Result<T, ApiError>;

#[derive(Debug, Default, Deserialize)]
pub(crate) struct TokenParam {
    pub(crate) token: Option<String>,
}

pub(crate) fn authorize(
    app: &AppState,
    headers: &HeaderMap,
    token_param: Option<&str>,
    scope: Scope,
) -> ApiResult<()> {
    let bearer = headers
        .get(h::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim);
    match app.tokens.check(bearer.or(token_param), scope) {
        Ok(()) => Ok(()),
        Err(Denied::Unauthenticated(why)) => {
            app.metrics.requests_refused.fetch_add(1, Ordering::Relaxed);
            Err(ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", why))
        }
        Err(Denied::Forbidden { token, needs }) => {
            app.metrics.requests_refused.fetch_add(1, Ordering::Relaxed);
            Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                format!(
                    "token `{token}` lacks the `{}` scope this needs; use a token with it",
                    needs.as_str()
                ),
            ))
        }
    }
}

/// Checks a read-scope token (for the stream's handler).
pub(crate) fn authorize_read(
    app: &AppState,
    headers: &HeaderMap,
    token_param: Option<&str>,
) -> ApiResult<()> {
    authorize(app, headers, token_param, Scope::Read)
}

fn body_format(headers: &HeaderMap) -> ApiResult<BodyFormat> {
    let unsupported = |got: &str| {
        ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            format!(
                "Content-Type `{got}` is not supported; send application/x-ndjson (one event per \
                 line) or application/json (an array of events)"
            ),
        )
    };
    let Some(value) = headers.get(h::CONTENT_TYPE) else {
        return Err(unsupported("(none)"));
    };
    let text = value.to_str().unwrap_or("(not text)");
    let mime = text
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match mime.as_str() {
        "application/x-ndjson" | "application/ndjson" | "application/jsonl" => {
            Ok(BodyFormat::Ndjson)
        }
        "application/json" => Ok(BodyFormat::Json),
        _ => Err(unsupported(text)),
    }
}

fn is_gzip(headers: &HeaderMap) -> ApiResult<bool> {
    match headers.get(h::CONTENT_ENCODING).map(|v| v.to_str()) {
        None => Ok(false),
        Some(Ok(v)) if v.trim().eq_ignore_ascii_case("gzip") => Ok(true),
        Some(Ok(v)) if v.trim().eq_ignore_ascii_case("identity") => Ok(false),
        Some(v) => Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            format!(
                "Content-Encoding `{}` is not supported; send gzip or no encoding",
                v.unwrap_or("(not text)")
            ),
        )),
    }
}

fn too_large(limit: u64) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        format!(
            "request body is over the {limit}-byte limit (limits.max_body, after decompression); \
             send smaller batches or raise limits.max_body"
        ),
    )
}

async fn read_body(app: &AppState, headers: &HeaderMap, body: Body) -> ApiResult<Vec<u8>> {
    let limit = app.config.max_body;
    let gzip = is_gzip(headers)?;
    let declared = headers
        .get(h::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(too_large(limit));
    }
    let bytes = axum::body::to_bytes(body, limit as usize)
        .await
        .map_err(|e| {
            let text = e.to_string();
            if text.contains("length limit") {
                too_large(limit)
            } else {
                ApiError::bad_request(format!("could not read the request body: {text}"))
            }
        })?;
    if !gzip {
        return Ok(bytes.to_vec());
    }
    let mut out = Vec::with_capacity(bytes.len() * 4);
    flate2::read::MultiGzDecoder::new(&bytes[..])
        .take(limit + 1)
        .read_to_end(&mut out)
        .map_err(|e| {
            ApiError::bad_request(format!(
                "the body is not valid gzip ({e}); send it compressed whole, or drop \
                 Content-Encoding: gzip"
            ))
        })?;
    if out.len() as u64 > limit {
        return Err(too_large(limit));
    }
    Ok(out)
}

/// Bodies up to this size are read on the async worker (cheaper than a thread hand-off).
const PARSE_INLINE_BYTES: usize = 64 << 10;

#[derive(Debug, Serialize)]
struct RejectAnswer {
    line: u32,
    kind: String,
    message: String,
}

#[derive(Debug, Serialize)]
struct IngestAnswer {
    accepted: u64,
    duplicates: u64,
    rejected: Vec<RejectAnswer>,
}

async fn ingest(
    State(app): State<Arc<AppState>>,
    Query(q): Query<TokenParam>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<IngestAnswer>> {
    let started = Instant::now();
    authorize(&app, &headers, q.token.as_deref(), Scope::Ingest)?;
    let format = body_format(&headers)?;
    let bytes = read_body(&app, &headers, body).await?;
    let max_line = app.config.max_line;
    // Reading a large body takes milliseconds: off the async workers, so other connections
    // (health checks, queries) keep being served meanwhile.
    let parsed = if bytes.len() > PARSE_INLINE_BYTES {
        tokio::task::spawn_blocking(move || parse_body(&bytes, format, max_line))
            .await
            .map_err(|e| {
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string())
            })?
    } else {
        parse_body(&bytes, format, max_line)
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
    let outcome = commit(
        &app,
        parsed.events,
        parsed.rejects,
        crate::hook::Work::Ingest(parsed.observations),
    )
    .await?;
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

/// Hands rows to the store's writer and waits until they are durable: the one path every
/// write of the API takes, so every one answers overload (503), a full store (507) and
/// commit failures (500) the same way — and never a 2xx for something not stored.
pub(crate) async fn commit(
    app: &AppState,
    events: Vec<playtrace_store::EventRow>,
    rejects: Vec<playtrace_store::RejectRow>,
    work: crate::hook::Work,
) -> ApiResult<playtrace_store::CommitOutcome> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let job = Job {
        events,
        rejects,
        extra: work,
        done: Box::new(move |result| {
            let _ = tx.send(result);
        }),
    };
    let overloaded = |message: &str| {
        app.metrics.overloaded.fetch_add(1, Ordering::Relaxed);
        let mut e = ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "overloaded", message);
        e.retry_after = Some(1);
        e
    };
    match app.submit(job) {
        Ok(()) => {}
        Err(SubmitError::Full(_)) => {
            return Err(overloaded(
                "the store is not keeping up and its queue is full; retry after the Retry-After \
                 delay (limits.queue_requests / limits.queue_bytes bound the queue)",
            ))
        }
        Err(SubmitError::Closed(_)) => {
            return Err(overloaded("the collector is shutting down; retry"))
        }
    }
    match rx.await {
        Ok(Ok(outcome)) => Ok(outcome),
        Ok(Err(StoreError::Full(cause))) => Err(ApiError::new(
            StatusCode::INSUFFICIENT_STORAGE,
            "insufficient_storage",
            format!(
                "nothing was stored: the store is full ({cause}); free disk space, lower \
                 retention.max_age or raise retention.max_bytes"
            ),
        )),
        Ok(Err(e)) => Err(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "store_error",
            format!("nothing was stored: {e}; retry"),
        )),
        Err(_) => Err(overloaded("the store writer stopped; retry")),
    }
}

#[derive(Debug, Deserialize)]
struct EventsQuery {
    name: Option<String>,
    after: Option<i64>,
    limit: Option<usize>,
    game: Option<String>,
    env: Option<String>,
    token: Option<String>,
}

/// The parts of a stored event the API shows (from a stored record or a just-committed row).
pub struct EventView<'a> {
    /// Sequence number.
    pub seq: i64,
    /// Receive time.
    pub recv_ms: i64,
    /// Name.
    pub name: &'a str,
    /// Game (`""` when none).
    pub game: &'a str,
    /// Client id.
    pub id: Option<&'a str>,
    /// Environment.
    pub env: Option<&'a str>,
    /// Session.
    pub session: Option<&'a str>,
    /// Event time.
    pub ts_ms: Option<f64>,
    /// The JSON object as stored.
    pub body: &'a str,
}

impl<'a> From<&'a playtrace_store::EventRecord> for EventView<'a> {
    fn from(r: &'a playtrace_store::EventRecord) -> Self {
        EventView {
            seq: r.seq,
            recv_ms: r.recv_ms,
            name: &r.name,
            game: &r.game,
            id: r.id.as_deref(),
            env: r.env.as_deref(),
            session: r.session.as_deref(),
            ts_ms: r.ts_ms,
            body: &r.body,
        }
    }
}

/// The stored event as the API and the stream show it: the normalised envelope plus store
/// fields.
pub fn event_json(r: &EventView<'_>) -> Value {
    let normalised = serde_json::from_str::<serde_json::Map<String, Value>>(r.body)
        .ok()
        .and_then(|o| Event::from_object(o).ok());
    let mut v = json!({
        "seq": r.seq,
        "receivedMs": r.recv_ms,
        "receivedAt": format_rfc3339_ms(r.recv_ms as f64),
        "event": r.name,
        "ts": r.ts_ms.map(playtrace_core::num::Num),
        "id": r.id,
        "game": (!r.game.is_empty()).then_some(r.game),
        "env": r.env,
        "session": r.session,
    });
    if let (Some(e), Some(o)) = (normalised, v.as_object_mut()) {
        if let Some(level) = e.level {
            o.insert("level".into(), Value::String(level));
        }
        o.insert("attrs".into(), Value::Object(e.attrs));
    }
    v
}

async fn list_events(
    State(app): State<Arc<AppState>>,
    Query(q): Query<EventsQuery>,
    headers: HeaderMap,
) -> ApiResult<Json<Value>> {
    authorize(&app, &headers, q.token.as_deref(), Scope::Read)?;
    let limit = q.limit.unwrap_or(100);
    if limit == 0 || limit > 1000 {
        return Err(ApiError::bad_request(format!(
            "limit={limit} is out of range; use 1 to 1000 (default 100)"
        )));
    }
    let after = q.after.unwrap_or(0);
    let filter = EventFilter {
        name_prefix: q.name,
        game: q.game,
        env: q.env,
        after,
        limit,
        all_kinds: false,
    };
    let reader = app.reader.clone();
    let records = tokio::task::spawn_blocking(move || reader.events(&filter))
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()))?
        .map_err(store_error)?;
    let next = records.last().map_or(after, |r| r.seq);
    let events: Vec<Value> = records.iter().map(|r| event_json(&r.into())).collect();
    Ok(Json(json!({"events": events, "next": next})))
}

fn store_error(e: StoreError) -> ApiError {
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "store_error",
        e.to_string(),
    )
}

#[derive(Debug, Deserialize)]
struct RejectsQuery {
    after: Option<i64>,
    limit: Option<usize>,
    token: Option<String>,
}

async fn list_rejects(
    State(app): State<Arc<AppState>>,
    Query(q): Query<RejectsQuery>,
    headers: HeaderMap,
) -> ApiResult<Json<Value>> {
    authorize(&app, &headers, q.token.as_deref(), Scope::Read)?;
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let after = q.after.unwrap_or(0);
    let reader = app.reader.clone();
    let records = tokio::task::spawn_blocking(move || reader.rejects(after, limit))
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()))?
        .map_err(store_error)?;
    let next = records.last().map_or(after, |r| r.seq);
    let rejects: Vec<Value> = records
        .iter()
        .map(|r| {
            json!({"seq": r.seq, "receivedMs": r.recv_ms, "line": r.line, "kind": r.kind,
                   "message": r.message, "raw": r.raw})
        })
        .collect();
    Ok(Json(json!({"rejects": rejects, "next": next})))
}

#[derive(Debug, Deserialize)]
struct BudgetsParams {
    game: Option<String>,
    env: Option<String>,
    group_by: Option<String>,
    window: Option<String>,
    token: Option<String>,
}

async fn budgets(
    State(app): State<Arc<AppState>>,
    Query(q): Query<BudgetsParams>,
    headers: HeaderMap,
) -> ApiResult<Json<Value>> {
    authorize(&app, &headers, q.token.as_deref(), Scope::Read)?;
    let mut query = BudgetQuery {
        game: q.game,
        env: q.env,
        ..BudgetQuery::default()
    };
    if let Some(dims) = q.group_by.as_deref().filter(|s| !s.is_empty()) {
        for d in dims.split(',') {
            let dim = GroupDim::parse(d).ok_or_else(|| {
                ApiError::bad_request(format!(
                    "group_by: `{d}` is not a dimension; use hub, room, move or type (comma-separated)"
                ))
            })?;
            if !query.group_by.contains(&dim) {
                query.group_by.push(dim);
            }
        }
    }
    if let Some(windows) = q.window.as_deref().filter(|s| !s.is_empty()) {
        for w in windows.split(',') {
            let ms =
                parse_duration_ms(w).map_err(|e| ApiError::bad_request(format!("window: {e}")))?;
            if ms <= 0.0 {
                return Err(ApiError::bad_request("window: must be longer than 0"));
            }
            query.windows_ms.push(ms);
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
struct ContestsQuery {
    state: Option<String>,
    game: Option<String>,
    env: Option<String>,
    limit: Option<usize>,
    token: Option<String>,
}

async fn list_contests(
    State(app): State<Arc<AppState>>,
    Query(q): Query<ContestsQuery>,
    headers: HeaderMap,
) -> ApiResult<Json<Value>> {
    authorize(&app, &headers, q.token.as_deref(), Scope::Read)?;
    let state = match q.state.as_deref().filter(|s| !s.is_empty()) {
        None => None,
        Some(s) => Some(ContestState::parse(s).ok_or_else(|| {
            ApiError::bad_request(format!(
                "state: `{s}` is not a state; use arming, resolving, resolved, expired, failed or unresolved"
            ))
        })?),
    };
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let now = playtrace_store::now_ms() as f64;
    let contests =
        app.with_live(|l| l.list(state, q.game.as_deref(), q.env.as_deref(), limit, now));
    Ok(Json(json!({"contests": contests})))
}

#[derive(Debug, Deserialize)]
struct ContestQuery {
    game: Option<String>,
    token: Option<String>,
}

async fn get_contest(
    State(app): State<Arc<AppState>>,
    Path(id): Path<String>,
    Query(q): Query<ContestQuery>,
    headers: HeaderMap,
) -> ApiResult<Json<Value>> {
    authorize(&app, &headers, q.token.as_deref(), Scope::Read)?;
    let now = playtrace_store::now_ms() as f64;
    let mut found = app.with_live(|l| l.contest(&id, q.game.as_deref(), now));
    if found.is_empty() {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!(
                "no live contest `{id}`: contests closed longer ago than the longest budget window \
                 leave memory (their events stay queryable at /v1/events)"
            ),
        ));
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

async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

async fn readyz(State(app): State<Arc<AppState>>) -> Response {
    let ready = app.ready.load(Ordering::Acquire) && app.writer_alive();
    let body = json!({
        "status": if ready { "ready" } else { "starting" },
        "store": {"journalMode": app.store_settings.0, "synchronous": app.store_settings.1},
    });
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body)).into_response()
}

async fn metrics(
    State(app): State<Arc<AppState>>,
    Query(q): Query<TokenParam>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    authorize(&app, &headers, q.token.as_deref(), Scope::Read)?;
    let mut out = String::with_capacity(8 << 10);
    app.metrics.render(&mut out);
    let reader = app.reader.clone();
    if let Ok(Ok(stats)) = tokio::task::spawn_blocking(move || reader.stats()).await {
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
            "reset messages sent (retention removed part of a gap).",
            "counter",
            &m.resets,
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
    let reports = app.live_budgets(&BudgetQuery::default(), now);
    header(
        &mut out,
        "playtrace_budget_value_ms",
        "gauge",
        "Each budget's measured percentile over each rolling window (NaN without samples).",
    );
    for r in &reports {
        for b in &r.budgets {
            let pct = playtrace_core::num::human(b.percentile.0);
            sample(
                &mut out,
                "playtrace_budget_value_ms",
                &[
                    ("window", &r.window),
                    ("metric", b.metric.as_str()),
                    ("percentile", &pct),
                ],
                b.value.map_or(f64::NAN, |v| v.0),
            );
        }
    }
    header(
        &mut out,
        "playtrace_budget_breached",
        "gauge",
        "1 when the budget is breached over the window.",
    );
    for r in &reports {
        for b in &r.budgets {
            let pct = playtrace_core::num::human(b.percentile.0);
            sample(
                &mut out,
                "playtrace_budget_breached",
                &[
                    ("window", &r.window),
                    ("metric", b.metric.as_str()),
                    ("percentile", &pct),
                ],
                if b.breached { 1.0 } else { 0.0 },
            );
        }
    }
    Ok((
        [(h::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        out,
    )
        .into_response())
}

async fn not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        "no such route; see docs/API.md",
    )
}

/// A job for the store's writer.
pub(crate) type IngestJob = Job<crate::hook::Work>;
