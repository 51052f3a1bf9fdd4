//! The live-ops console: one page (`/`, and the same page at `/alerts/{id}`, `/budgets`, …, so
//! every view and every alert has a URL) with its script and stylesheet compiled into the
//! binary: no CDN, no build step, works offline. Every answer carries a strict
//! Content-Security-Policy: scripts, styles and connections from this origin only, no inline
//! script. The page talks to the same REST API and stream as any other client; the only route
//! of its own is `GET /console/session`, which says what the presented token may do.

use crate::app::AppState;
use crate::auth::{Denied, Scope};
use axum::extract::State;
use axum::http::{header as h, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;
use std::sync::Arc;

const INDEX: &str = include_str!("assets/index.html");
const SCRIPT: &str = include_str!("assets/app.js");
/// The budgets view's history chart (its own file: the view only calls it).
const HISTORY: &str = include_str!("assets/history.js");
const STYLE: &str = include_str!("assets/app.css");
const ICON: &str = include_str!("assets/icon.svg");
const REJECTS_SCRIPT: &str = include_str!("assets/rejects.js");
const REJECTS_STYLE: &str = include_str!("assets/rejects.css");

/// Same-origin only; nothing inline; no framing.
pub(crate) const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; \
     frame-ancestors 'none'";

fn asset(content_type: &'static str, body: &'static str) -> Response {
    let mut r = body.into_response();
    let headers = r.headers_mut();
    headers.insert(h::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(h::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    headers.insert(
        h::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(h::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    // Assets change with the binary: always revalidate.
    headers.insert(h::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    r
}

async fn page() -> Response {
    asset("text/html; charset=utf-8", INDEX)
}

async fn script() -> Response {
    asset("text/javascript; charset=utf-8", SCRIPT)
}

async fn history_script() -> Response {
    asset("text/javascript; charset=utf-8", HISTORY)
}

async fn style() -> Response {
    asset("text/css; charset=utf-8", STYLE)
}

async fn rejects_script() -> Response {
    asset("text/javascript; charset=utf-8", REJECTS_SCRIPT)
}

async fn rejects_style() -> Response {
    asset("text/css; charset=utf-8", REJECTS_STYLE)
}

async fn icon() -> Response {
    asset("image/svg+xml", ICON)
}

/// `GET /console/session`: whether tokens are configured, and the scopes of the presented one
/// (`Authorization: Bearer`), so the page asks for a token when it needs one and offers only
/// the actions the token may take. Answers 200 whatever the token, never the secret.
async fn session(State(app): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    let presented = headers
        .get(h::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    let mut scopes = Vec::new();
    let mut name = None;
    let mut valid = true;
    for scope in [Scope::Read, Scope::Admin, Scope::Ingest] {
        match app.tokens().check(presented, scope) {
            Ok(token) => {
                scopes.push(scope.as_str());
                name = token.map(|t| t.name.clone());
            }
            Err(Denied::Unauthenticated(_)) => valid = false,
            Err(Denied::Forbidden { token, .. }) => name = Some(token),
        }
    }
    let mut r = Json(json!({
        "tokensConfigured": !app.tokens().is_empty(),
        "tokenValid": valid,
        "token": name,
        "scopes": scopes,
    }))
    .into_response();
    r.headers_mut()
        .insert(h::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// The console's routes.
pub(crate) fn routes() -> Router<Arc<AppState>> {
    let mut router = Router::new()
        .route("/", get(page))
        .route("/alerts/{id}", get(page))
        .route("/contests/{id}", get(page))
        .route("/console/app.js", get(script))
        .route("/console/history.js", get(history_script))
        .route("/console/app.css", get(style))
        .route("/console/rejects.js", get(rejects_script))
        .route("/console/rejects.css", get(rejects_style))
        .route("/console/icon.svg", get(icon))
        .route("/favicon.ico", get(icon))
        .route("/console/session", get(session));
    for view in [
        "/alerts",
        "/budgets",
        "/contests",
        "/stream",
        "/health",
        "/silences",
        "/rejects",
    ] {
        router = router.route(view, get(page));
    }
    router
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assets_stay_small_and_load_nothing_from_elsewhere() {
        let total = INDEX.len()
            + SCRIPT.len()
            + HISTORY.len()
            + STYLE.len()
            + ICON.len()
            + REJECTS_SCRIPT.len()
            + REJECTS_STYLE.len();
        assert!(total < 200 * 1024, "console assets are {total} bytes");
        for (name, text) in [
            ("index.html", INDEX),
            ("app.js", SCRIPT),
            ("history.js", HISTORY),
            ("app.css", STYLE),
            ("rejects.js", REJECTS_SCRIPT),
            ("rejects.css", REJECTS_STYLE),
        ] {
            // The SVG namespace is a name, not a request.
            let text = text.replace("http://www.w3.org/2000/svg", "");
            for bad in [
                "http://",
                "https://",
                "//cdn",
                "<script>",
                " style=\"",
                "onclick=",
            ] {
                assert!(!text.contains(bad), "{name} contains `{bad}`");
            }
        }
        assert!(INDEX.contains("<script src=\"/console/app.js\" defer></script>"));
    }
}
