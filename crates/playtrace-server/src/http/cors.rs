//! Cross-origin access for browser dashboards (`EventSource`, `fetch`), only for the origins the
//! config lists: with open access on loopback, answering every origin would let any web page
//! the operator visits read the collector.

use axum::extract::{Request, State};
use axum::http::{header as h, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

/// Allowed origins (`*` allows any).
#[derive(Debug, Clone, Default)]
pub(crate) struct Cors {
    /// Exact origins (`https://ops.example.com`) or `*`.
    pub(crate) origins: Vec<String>,
}

impl Cors {
    fn allows(&self, origin: &str) -> bool {
        self.origins.iter().any(|o| o == "*" || o == origin)
    }
}

/// Adds CORS headers for allowed origins and answers preflight requests.
pub(crate) async fn layer(State(cors): State<Arc<Cors>>, request: Request, next: Next) -> Response {
    let origin = request
        .headers()
        .get(h::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let allowed = origin
        .as_deref()
        .filter(|o| cors.allows(o))
        .map(str::to_string);
    if request.method() == Method::OPTIONS && allowed.is_some() {
        let mut response = StatusCode::NO_CONTENT.into_response();
        let headers = response.headers_mut();
        headers.insert(
            h::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static("GET, POST, OPTIONS"),
        );
        headers.insert(
            h::ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static(
                "authorization, content-type, content-encoding, last-event-id",
            ),
        );
        headers.insert(h::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("600"));
        allow(&mut response, allowed.as_deref());
        return response;
    }
    let mut response = next.run(request).await;
    allow(&mut response, allowed.as_deref());
    response
}

fn allow(response: &mut Response, origin: Option<&str>) {
    if let Some(v) = origin.and_then(|o| HeaderValue::from_str(o).ok()) {
        let headers = response.headers_mut();
        headers.insert(h::ACCESS_CONTROL_ALLOW_ORIGIN, v);
        headers.insert(h::VARY, HeaderValue::from_static("origin"));
    }
}
