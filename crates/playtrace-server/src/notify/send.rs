//! One HTTP attempt to a receiver and what its answer means: 2xx delivered; 429, 408, 5xx and
//! connection errors are transient (with the wait the receiver asked for: `Retry-After` in
//! seconds or as an HTTP date, or Slack's `retry_after` in a JSON body); any other 4xx is
//! permanent. Every request carries `Idempotency-Key` = the notification id.

use crate::config::{Receiver, ReceiverKind};
use crate::notify::plain::{self, PlainClient, PlainTarget};
use std::time::{Duration, SystemTime};

/// What an attempt came to.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Outcome {
    /// Delivered.
    Sent,
    /// Try again (after `retry_after` when the receiver said).
    Transient {
        error: String,
        retry_after: Option<Duration>,
    },
    /// Never going to work as it is.
    Permanent { error: String },
}

/// The receiver's answer, for `playtrace notify test`.
#[derive(Debug, Clone)]
pub(crate) struct Answer {
    pub(crate) status: Option<u16>,
    pub(crate) body: String,
    pub(crate) outcome: Outcome,
}

impl Answer {
    /// What the receiver answered, classified.
    fn replied(status: u16, retry_after: Option<&str>, body: String) -> Answer {
        let outcome = classify(status, retry_after, &body);
        Answer {
            status: Some(status),
            body,
            outcome,
        }
    }

    /// No answer (the request could not be built or sent): try again.
    fn unanswered(error: String) -> Answer {
        Answer {
            status: None,
            body: String::new(),
            outcome: Outcome::Transient {
                error,
                retry_after: None,
            },
        }
    }
}

/// The URL a notification is posted to.
pub(crate) fn target_url(r: &Receiver) -> String {
    match r.kind {
        ReceiverKind::Webhook => r.url.clone(),
        ReceiverKind::Alertmanager => format!("{}/api/v2/alerts", r.url),
    }
}

/// A client for every receiver (connections are pooled per host).
pub(crate) fn client() -> Result<reqwest::Client, String> {
    // TLS goes through rustls with ring (see the workspace Cargo.toml); reqwest needs the
    // process-wide provider chosen before it builds a client. An error only means another caller
    // installed one first, which serves as well.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .user_agent(plain::USER_AGENT)
        .build()
        .map_err(|e| format!("cannot build the HTTP client: {e}"))
}

/// `Retry-After`: seconds, or an HTTP date (a date in the past means now).
pub(crate) fn retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<f64>() {
        return (secs.is_finite() && secs >= 0.0)
            .then(|| Duration::from_secs_f64(secs.min(86_400.0)));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// Slack-style `{"retry_after": 30}` (seconds) in a JSON answer.
fn body_retry_after(body: &str) -> Option<Duration> {
    let v: serde_json::Value = serde_json::from_str(body).ok()?;
    let secs = v.get("retry_after")?.as_f64()?;
    (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs.min(86_400.0)))
}

/// What an answer with `status` means.
pub(crate) fn classify(status: u16, retry_header: Option<&str>, body: &str) -> Outcome {
    if (200..300).contains(&status) {
        return Outcome::Sent;
    }
    let snippet: String = body.trim().chars().take(200).collect();
    let reason = reqwest::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("");
    let error = if snippet.is_empty() {
        format!("HTTP {status} {reason}")
    } else {
        format!("HTTP {status} {reason}: {snippet}")
    };
    if status == 429 || status == 408 || status >= 500 {
        let retry_after = retry_header
            .and_then(|v| retry_after(v, SystemTime::now()))
            .or_else(|| body_retry_after(body));
        Outcome::Transient { error, retry_after }
    } else {
        Outcome::Permanent { error }
    }
}

/// A receiver's URL and request headers, parsed once when the notifier starts rather than for
/// every request (a profile of `bench/notify` put URL parsing and header building at a sixth of
/// a send's CPU), or what does not parse, which every attempt then reports (and retries, as a
/// request that could not be built always was).
pub(crate) struct Target(Result<Parsed, String>);

/// A receiver's request, ready for reqwest, and for hyper when the URL is `http://`.
struct Parsed {
    url: reqwest::Url,
    headers: reqwest::header::HeaderMap,
    plain: Option<PlainTarget>,
}

/// The HTTP clients every receiver shares: reqwest (TLS, redirects) and hyper's plain one.
pub(crate) struct Clients {
    pub(crate) reqwest: reqwest::Client,
    pub(crate) plain: PlainClient,
}

/// Both clients.
pub(crate) fn clients() -> Result<Clients, String> {
    Ok(Clients {
        reqwest: client()?,
        plain: plain::client(),
    })
}

impl Target {
    pub(crate) fn new(r: &Receiver) -> Target {
        use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
        let parsed = || -> Result<Parsed, String> {
            let url = target_url(r);
            let url = reqwest::Url::parse(&url)
                .map_err(|e| format!("receiver `{}`: url `{url}`: {e}", r.name))?;
            let mut headers = HeaderMap::new();
            headers.insert(
                reqwest::header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            for (k, v) in &r.headers {
                let bad = |what: &str| {
                    format!(
                        "receiver `{}`: header `{k}` {what}; fix its [[notify.receivers]] headers",
                        r.name
                    )
                };
                let name = HeaderName::from_bytes(k.as_bytes())
                    .map_err(|_| bad("is not a valid HTTP header name"))?;
                let value =
                    HeaderValue::from_str(v).map_err(|_| bad("has a value HTTP cannot carry"))?;
                headers.append(name, value);
            }
            let plain = PlainTarget::new(&url, &headers);
            Ok(Parsed {
                url,
                headers,
                plain,
            })
        };
        Target(parsed())
    }
}

/// Posts `body` to the receiver once.
pub(crate) async fn post(clients: &Clients, r: &Receiver, id: &str, body: &str) -> Answer {
    post_to(clients, &Target::new(r), r, id, body).await
}

/// [`post`] with the receiver's URL and headers parsed beforehand: `http://` through hyper
/// (`plain.rs`) unless the receiver redirects, everything else through reqwest.
pub(crate) async fn post_to(
    clients: &Clients,
    target: &Target,
    r: &Receiver,
    id: &str,
    body: &str,
) -> Answer {
    if let Ok(Parsed {
        plain: Some(plain), ..
    }) = &target.0
    {
        match plain::post(&clients.plain, plain, r, id, body).await {
            Some(Ok(reply)) => {
                return Answer::replied(reply.status, reply.retry_after.as_deref(), reply.body)
            }
            Some(Err(error)) => return Answer::unanswered(error),
            None => {}
        }
    }
    let client = &clients.reqwest;
    let (url, headers) = match &target.0 {
        Ok(parsed) => (&parsed.url, &parsed.headers),
        Err(error) => return Answer::unanswered(format!("request failed: {error}")),
    };
    let request = client
        .post(url.clone())
        .timeout(r.timeout.to_duration())
        .headers(headers.clone())
        .header("Idempotency-Key", id);
    match request.body(body.to_string()).send().await {
        Ok(response) => {
            let status = response.status().as_u16();
            let retry = response
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            let text = response.text().await.unwrap_or_default();
            Answer::replied(status, retry.as_deref(), text)
        }
        Err(e) => {
            let what = if e.is_timeout() {
                format!("no answer within {}", r.timeout)
            } else if e.is_connect() {
                "cannot connect".to_string()
            } else {
                "request failed".to_string()
            };
            Answer::unanswered(plain::chain(&what, &e))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A header that HTTP cannot carry is named, with where to fix it, in every attempt's
    /// error instead of reqwest's bare "builder error".
    #[tokio::test]
    async fn a_header_that_does_not_parse_is_named_in_the_attempts_error() {
        let c = crate::config::ServeConfig::from_toml(
            "[[notify.receivers]]\nname = \"pager\"\nkind = \"webhook\"\nurl = \"http://127.0.0.1:9/hook\"",
            "test",
        )
        .unwrap();
        let mut r = c.notify.receivers[0].clone();
        r.headers = vec![("X Bad".into(), "v".into())];
        let answer = post(&clients().unwrap(), &r, "n1", "{}").await;
        match answer.outcome {
            Outcome::Transient { error, .. } => assert_eq!(
                error,
                "request failed: receiver `pager`: header `X Bad` is not a valid HTTP header \
                 name; fix its [[notify.receivers]] headers"
            ),
            other => panic!("{other:?}"),
        }
    }

    /// A loopback receiver: `/old` redirects to `/new` (307), `/new` keeps each request's
    /// idempotency key, user agent and body. Returns its address and what `/new` got.
    async fn redirecting_receiver() -> (
        std::net::SocketAddr,
        std::sync::Arc<std::sync::Mutex<Vec<(String, String, String)>>>,
    ) {
        use axum::http::{header, HeaderMap, StatusCode};
        let got = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = got.clone();
        let app = axum::Router::new()
            .route(
                "/old",
                axum::routing::post(|| async {
                    (StatusCode::TEMPORARY_REDIRECT, [(header::LOCATION, "/new")])
                }),
            )
            .route(
                "/new",
                axum::routing::post(move |headers: HeaderMap, body: String| async move {
                    let text = |k: &str| {
                        headers
                            .get(k)
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or("")
                            .to_string()
                    };
                    seen.lock()
                        .unwrap()
                        .push((text("idempotency-key"), text("user-agent"), body));
                    "ok"
                }),
            );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        (addr, got)
    }

    /// `http://` receivers are posted to through hyper; one that redirects is still delivered,
    /// once, at the redirect's target, as reqwest alone delivered it.
    #[tokio::test]
    async fn plain_http_posts_carry_the_key_and_follow_a_redirect_once() {
        let (addr, got) = redirecting_receiver().await;
        let config = |path: &str| {
            crate::config::ServeConfig::from_toml(
                &format!(
                    "[[notify.receivers]]\nname = \"hook\"\nkind = \"webhook\"\nurl = \"http://{addr}{path}\""
                ),
                "test",
            )
            .unwrap()
            .notify
            .receivers[0]
            .clone()
        };
        let clients = clients().unwrap();
        for (path, id) in [("/new", "n1"), ("/old", "n2")] {
            let r = config(path);
            let target = Target::new(&r);
            assert!(matches!(&target.0, Ok(Parsed { plain: Some(_), .. })));
            let answer = post_to(&clients, &target, &r, id, "{\"a\":1}").await;
            assert_eq!(answer.outcome, Outcome::Sent, "{path}");
            assert_eq!(answer.status, Some(200));
            assert_eq!(answer.body, "ok");
        }
        let agent = plain::USER_AGENT.to_string();
        let body = "{\"a\":1}".to_string();
        assert_eq!(
            *got.lock().unwrap(),
            vec![
                ("n1".to_string(), agent.clone(), body.clone()),
                ("n2".to_string(), agent, body)
            ]
        );
    }

    /// A receiver that is not listening is a transient "cannot connect", as through reqwest.
    #[tokio::test]
    async fn a_plain_http_receiver_that_is_down_is_transient() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let c = crate::config::ServeConfig::from_toml(
            &format!(
                "[[notify.receivers]]\nname = \"hook\"\nkind = \"webhook\"\nurl = \"http://{addr}/\""
            ),
            "test",
        )
        .unwrap();
        let answer = post(&clients().unwrap(), &c.notify.receivers[0], "n", "{}").await;
        match answer.outcome {
            Outcome::Transient { error, .. } => {
                assert!(error.starts_with("cannot connect: "), "{error}")
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn answers_are_classified_like_the_issue_says() {
        assert_eq!(classify(200, None, ""), Outcome::Sent);
        assert_eq!(classify(202, None, ""), Outcome::Sent);
        assert_eq!(
            classify(503, Some("2"), ""),
            Outcome::Transient {
                error: "HTTP 503 Service Unavailable".into(),
                retry_after: Some(Duration::from_secs(2))
            }
        );
        match classify(
            429,
            None,
            r#"{"ok":false,"error":"rate_limited","retry_after":30}"#,
        ) {
            Outcome::Transient { retry_after, .. } => {
                assert_eq!(retry_after, Some(Duration::from_secs(30)));
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(classify(500, None, ""), Outcome::Transient { .. }));
        match classify(400, None, "bad payload") {
            Outcome::Permanent { error } => assert_eq!(error, "HTTP 400 Bad Request: bad payload"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(classify(404, None, ""), Outcome::Permanent { .. }));
    }

    #[test]
    fn retry_after_reads_seconds_and_http_dates() {
        let now = httpdate::parse_http_date("Wed, 21 Oct 2015 07:28:00 GMT").unwrap();
        assert_eq!(retry_after("120", now), Some(Duration::from_secs(120)));
        assert_eq!(
            retry_after("Wed, 21 Oct 2015 07:28:30 GMT", now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            retry_after("Wed, 21 Oct 2015 07:00:00 GMT", now),
            Some(Duration::ZERO),
            "a date in the past: now"
        );
        assert_eq!(retry_after("soon", now), None);
        assert_eq!(retry_after("-1", now), None);
    }
}
