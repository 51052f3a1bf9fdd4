//! Posts to `http://` receivers straight through hyper's pooled client. reqwest wraps every
//! request in its redirect layer, which parses the URL again for each request and answer: a
//! profile of `bench/notify` put reqwest at two thirds of a send's CPU, the redirect layer alone
//! at a third. A receiver that answers with a redirect is posted to again through reqwest,
//! which follows it, so what reaches a receiver is the same either way; `https://` receivers
//! always go through reqwest (TLS).

use crate::config::Receiver;
use axum::http::{header, HeaderMap, HeaderValue, Method, Request, StatusCode, Uri};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;

/// What every notification request says it comes from, through either client.
pub(crate) const USER_AGENT: &str = concat!("PlayTrace/", env!("CARGO_PKG_VERSION"));

/// The pooled plain-HTTP client (one for every `http://` receiver; connections pooled per host).
pub(crate) type PlainClient = Client<HttpConnector, Full<Bytes>>;

pub(crate) fn client() -> PlainClient {
    Client::builder(TokioExecutor::new()).build_http()
}

/// An `http://` receiver's URI and headers, in hyper's types, built once at start.
pub(crate) struct PlainTarget {
    uri: Uri,
    headers: HeaderMap,
}

impl PlainTarget {
    /// `None` unless `url` is `http://` and hyper reads it as reqwest did.
    pub(crate) fn new(url: &reqwest::Url, headers: &reqwest::header::HeaderMap) -> Option<Self> {
        if url.scheme() != "http" {
            return None;
        }
        let uri: Uri = url.as_str().parse().ok()?;
        // What reqwest sent besides the receiver's own headers.
        let mut all = HeaderMap::with_capacity(headers.len() + 2);
        all.insert(header::USER_AGENT, HeaderValue::from_static(USER_AGENT));
        all.insert(header::ACCEPT, HeaderValue::from_static("*/*"));
        for (k, v) in headers {
            all.append(k.clone(), v.clone());
        }
        Some(PlainTarget { uri, headers: all })
    }
}

/// What a receiver answered: status, `Retry-After`, body.
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) retry_after: Option<String>,
    pub(crate) body: String,
}

/// Posts `body` once: the reply, or what went wrong (worded as the reqwest path words it);
/// `None` when the receiver answered with a redirect (the caller posts through reqwest, which
/// follows it).
pub(crate) async fn post(
    client: &PlainClient,
    target: &PlainTarget,
    r: &Receiver,
    id: &str,
    body: &str,
) -> Option<Result<Reply, String>> {
    let mut request = Request::new(Full::new(Bytes::copy_from_slice(body.as_bytes())));
    *request.method_mut() = Method::POST;
    *request.uri_mut() = target.uri.clone();
    *request.headers_mut() = target.headers.clone();
    if let Ok(key) = HeaderValue::from_str(id) {
        request.headers_mut().insert("idempotency-key", key);
    }
    let exchange = async {
        let response = client.request(request).await.map_err(|e| {
            let what = if e.is_connect() {
                "cannot connect"
            } else {
                "request failed"
            };
            chain(what, &e)
        })?;
        let status = response.status();
        let retry = response
            .headers()
            .get(header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let bytes = response
            .into_body()
            .collect()
            .await
            .map_err(|e| chain("request failed", &e))?
            .to_bytes();
        Ok::<_, String>((status, retry, bytes))
    };
    let timeout = r.timeout.to_duration();
    let (status, retry_after, bytes) = match tokio::time::timeout(timeout, exchange).await {
        Ok(Ok(answer)) => answer,
        Ok(Err(error)) => return Some(Err(error)),
        Err(_) => {
            return Some(Err(format!(
                "no answer within {}: operation timed out",
                r.timeout
            )))
        }
    };
    if status.is_redirection() && status != StatusCode::NOT_MODIFIED {
        return None;
    }
    Some(Ok(Reply {
        status: status.as_u16(),
        retry_after,
        body: String::from_utf8_lossy(&bytes).into_owned(),
    }))
}

/// `what: error: its source: …`: how both clients word an attempt that got no answer.
pub(crate) fn chain(what: &str, e: &(dyn std::error::Error + 'static)) -> String {
    let mut error = format!("{what}: {e}");
    let mut source = e.source();
    while let Some(s) = source {
        error.push_str(&format!(": {s}"));
        source = s.source();
    }
    error
}
