//! Who is calling: one extractor checks the bearer token (or `?token=` on the stream only, for
//! browsers' `EventSource`, which cannot set headers) against the scope a route needs, so no handler can
//! forget to.

use crate::app::AppState;
use crate::auth::{Denied, Scope};
use crate::http::error::ApiError;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header as h, StatusCode};
use std::marker::PhantomData;
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// The one route that takes `?token=`.
const STREAM_PATH: &str = "/v1/stream";

/// The scope a route needs, as a type.
pub(crate) trait Needs: Send + Sync + 'static {
    const SCOPE: Scope;
}

/// Sends events and admin alerts.
pub(crate) struct Ingest;
/// Reads events, contests, budgets, alerts, metrics and streams.
pub(crate) struct Read;
/// Resolves and silences alerts.
pub(crate) struct Admin;

impl Needs for Ingest {
    const SCOPE: Scope = Scope::Ingest;
}
impl Needs for Read {
    const SCOPE: Scope = Scope::Read;
}
impl Needs for Admin {
    const SCOPE: Scope = Scope::Admin;
}

/// A caller allowed `S`; carries the game its token is bound to, if any.
pub(crate) struct Caller<S: Needs> {
    /// The token's game (`[[tokens]] game`).
    pub(crate) game: Option<String>,
    /// The token's name (who acknowledged or silenced), `None` without tokens.
    pub(crate) name: Option<String>,
    _scope: PhantomData<S>,
}

fn bearer(parts: &Parts) -> Option<&str> {
    parts
        .headers
        .get(h::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
}

#[derive(serde::Deserialize)]
struct TokenParam {
    token: Option<String>,
}

/// `?token=` from the query string.
fn token_param(parts: &Parts) -> Option<String> {
    axum::extract::Query::<TokenParam>::try_from_uri(&parts.uri)
        .ok()
        .and_then(|q| q.0.token)
}

impl<S: Needs> FromRequestParts<Arc<AppState>> for Caller<S> {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        app: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        // Only the stream takes `?token=` (browsers' EventSource cannot set headers); anywhere
        // else a token in the URL would end up in proxy and access logs.
        let on_stream = parts.uri.path() == STREAM_PATH;
        let param = token_param(parts);
        if !on_stream && param.is_some() && bearer(parts).is_none() && !app.tokens().is_empty() {
            app.metrics.requests_refused.fetch_add(1, Ordering::Relaxed);
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                format!(
                    "?token= is accepted only on {STREAM_PATH}; send the token as \
                     `Authorization: Bearer <token>`"
                ),
            ));
        }
        let param = param.filter(|_| on_stream);
        let presented = bearer(parts).or(param.as_deref());
        let tokens = app.tokens();
        match tokens.check(presented, S::SCOPE) {
            Ok(token) => Ok(Caller {
                game: token.and_then(|t| t.game.clone()),
                name: token.map(|t| t.name.clone()),
                _scope: PhantomData,
            }),
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
}
