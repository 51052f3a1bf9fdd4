//! DNS-rebinding protection for open (no-token) mode: a web page the operator visits can make
//! the browser resolve its own name to 127.0.0.1 and read the collector, but the browser still
//! sends that name as `Host`. Without tokens only loopback host names are answered.

use crate::http::error::ApiError;
use axum::extract::{Request, State};
use axum::http::{header as h, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// Whether `Host` names the loopback interface: `localhost`, `127.0.0.1` or `[::1]`, with any
/// port.
pub(crate) fn is_loopback_host(host: &str) -> bool {
    let (name, port) = if let Some(rest) = host.strip_prefix('[') {
        match rest.split_once(']') {
            Some((inside, after)) => (&host[..inside.len() + 2], after.strip_prefix(':')),
            None => return false,
        }
    } else {
        match host.split_once(':') {
            Some((name, port)) => (name, Some(port)),
            None => (host, None),
        }
    };
    let port_ok = port.is_none_or(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    port_ok && (name.eq_ignore_ascii_case("localhost") || name == "127.0.0.1" || name == "[::1]")
}

/// Refuses (421) requests whose `Host` is not loopback, when `open` (no tokens configured).
pub(crate) async fn check(State(open): State<bool>, request: Request, next: Next) -> Response {
    if open {
        let host = request.headers().get(h::HOST).map(|v| v.to_str());
        if let Some(host) = host {
            if !host.is_ok_and(is_loopback_host) {
                return ApiError::new(
                    StatusCode::MISDIRECTED_REQUEST,
                    "misdirected_host",
                    "without tokens the collector answers only requests for localhost, \
                     127.0.0.1 or [::1] (protection against DNS rebinding); configure [[tokens]] \
                     to serve other host names (see docs/OPERATIONS.md)",
                )
                .into_response();
            }
        }
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::is_loopback_host;

    #[test]
    fn only_loopback_names_pass() {
        for ok in [
            "localhost",
            "LOCALHOST:7070",
            "127.0.0.1",
            "127.0.0.1:80",
            "[::1]",
            "[::1]:7070",
        ] {
            assert!(is_loopback_host(ok), "{ok}");
        }
        for bad in [
            "evil.example",
            "evil.example:7070",
            "127.0.0.1.evil.example",
            "localhost.evil:1",
            "127.0.0.1:",
            "127.0.0.1:x",
            "[::1",
            "[::2]:1",
            "10.0.0.1",
        ] {
            assert!(!is_loopback_host(bad), "{bad}");
        }
    }
}
