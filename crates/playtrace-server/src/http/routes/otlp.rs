//! `POST /v1/logs` (scope ingest): OTLP/HTTP logs, protobuf or JSON, answered in the request's
//! encoding with an `ExportLogsServiceResponse`. Errors keep the collector's JSON error shape;
//! overload is 503 with `Retry-After`, which OTLP exporters retry after.

use crate::app::AppState;
use crate::http::auth::{Caller, Ingest};
use crate::http::body::read_body;
use crate::http::commit::commit_ingest;
use crate::http::error::{ApiError, ApiResult};
use crate::http::routes::ingest::{admit, game_scope, IngestParams};
use crate::ingest::otlp::{parse_logs, response, MapOptions, OtlpFormat};
use crate::ingest::Parsed;
use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{header as h, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use std::sync::Arc;
use std::time::Instant;

/// Bodies up to this size are decoded on the async worker (cheaper than a thread hand-off).
const PARSE_INLINE_BYTES: usize = 64 << 10;

fn format(headers: &HeaderMap) -> ApiResult<OtlpFormat> {
    let got = headers
        .get(h::CONTENT_TYPE)
        .map(|v| v.to_str().unwrap_or("(not text)"))
        .unwrap_or("(none)");
    OtlpFormat::from_mime(got).ok_or_else(|| {
        ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            format!(
                "Content-Type `{got}` is not an OTLP/HTTP encoding; send application/x-protobuf \
                 or application/json (OTLP/JSON)"
            ),
        )
    })
}

pub(crate) async fn logs(
    State(app): State<Arc<AppState>>,
    caller: Caller<Ingest>,
    Query(q): Query<IngestParams>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    let started = Instant::now();
    let games = game_scope(caller.game, q.game, &headers)?;
    let format = format(&headers)?;
    let bytes = read_body(app.config.limits.max_body.as_u64(), &headers, body).await?;
    let mut parsed = Parsed::new(games).with_privacy(app.privacy());
    parsed.plan = app.plan();
    if !app.config.dimensions.is_empty() {
        parsed
            .observations
            .set_dim_attrs(app.config.dimensions.attrs());
    }
    let large = bytes.len() > PARSE_INLINE_BYTES;
    let decode = {
        let app = app.clone();
        move || {
            let opts = MapOptions {
                game_attribute: &app.config.otlp.game_attribute,
            };
            parse_logs(parsed, &bytes, format, opts)
        }
    };
    let parsed = if large {
        tokio::task::spawn_blocking(decode)
            .await
            .map_err(ApiError::internal)?
    } else {
        decode()
    }
    .map_err(|e| ApiError::bad_request(e.to_string()))?;
    // Per-game limits and sampling, as for /v1/events (what they drop is counted in /metrics).
    let mut parsed = parsed;
    let admitted = admit(&app, &mut parsed, None)?;
    let rejected = parsed.rejects.len();
    let first = parsed.rejects.first().map(|r| r.message.clone());
    let kinds: Vec<String> = parsed.rejects.iter().map(|r| r.kind.clone()).collect();
    let outcome = commit_ingest(&app, parsed.events, parsed.rejects, parsed.observations)
        .await
        .inspect_err(|_| app.guard.refund(&admitted.charges, None))?;
    app.guard.refund(&admitted.charges, Some(&outcome.inserted));
    for kind in &kinds {
        app.metrics.reject(kind);
    }
    app.metrics
        .ingest_seconds
        .observe(started.elapsed().as_secs_f64());
    Ok((
        [(h::CONTENT_TYPE, format.mime())],
        response(format, rejected, first.as_deref()),
    )
        .into_response())
}
