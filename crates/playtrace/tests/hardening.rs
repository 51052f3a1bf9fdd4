//! `playtrace serve` against hostile and unlucky clients on real sockets: idle and half-sent
//! connections, SIGTERM while they are open, a low file-descriptor limit, the connection cap, a
//! subscriber that stops reading, `Last-Event-ID` edges, and every refusal in the JSON error
//! shape (issue 13).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod server;

use serde_json::{json, Value};
use server::{event, start, start_limited, subscribe, Server, TOKENS};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(10);

fn connect(s: &Server) -> TcpStream {
    let socket = TcpStream::connect(s.addr()).unwrap();
    socket.set_read_timeout(Some(WAIT)).unwrap();
    socket
}

/// Reads a chunked response until its last chunk (or the close).
fn read_until_stream_end(mut socket: TcpStream) -> String {
    let mut got = Vec::new();
    let mut buf = [0u8; 64 << 10];
    while !got.ends_with(b"\r\n0\r\n\r\n") {
        match socket.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(e) => panic!("the stream did not end ({e}) within {WAIT:?}"),
        }
    }
    String::from_utf8_lossy(&got).into_owned()
}

/// Reads until the server closes the socket: what it sent, and how long that took. Panics if it
/// is still open after [`WAIT`].
fn read_until_closed(mut socket: TcpStream) -> (String, Duration) {
    let started = Instant::now();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match socket.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            // A reset is a close too.
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(e) => panic!("the server kept the connection open ({e}) after {WAIT:?}"),
        }
    }
    (
        String::from_utf8_lossy(&got).into_owned(),
        started.elapsed(),
    )
}

fn error_code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or_else(|| {
        panic!("not the JSON error shape: {body}");
    })
}

fn raw_json(s: &Server, request: &str) -> (u16, Value) {
    let (status, body) = s.raw(request);
    let value = serde_json::from_str(&body)
        .unwrap_or_else(|e| panic!("not JSON ({e}) with status {status}: {body:?}"));
    (status, value)
}

#[test]
fn idle_and_half_sent_connections_are_closed_after_the_timeouts() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(
        &dir.path().join("data"),
        "[http]\nheader_timeout = \"300ms\"\nbody_idle_timeout = \"300ms\"\n",
    );
    // Connected, sends nothing.
    let idle = connect(&s);
    // Half a request head.
    let mut half_head = connect(&s);
    half_head
        .write_all(b"POST /v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        .unwrap();
    // A whole head, and a body shorter than its Content-Length.
    let mut short_body = connect(&s);
    short_body
        .write_all(
            b"POST /v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-ndjson\r\n\
              Content-Length: 1000\r\n\r\n{\"event\":\"x\"",
        )
        .unwrap();
    for socket in [idle, half_head] {
        let (_, took) = read_until_closed(socket);
        assert!(took < Duration::from_secs(5), "closed after {took:?}");
    }
    let (answer, took) = read_until_closed(short_body);
    assert!(took < Duration::from_secs(5), "closed after {took:?}");
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("\"request_timeout\""), "{answer}");
    // Nothing of the short body was stored, and honest clients are unaffected.
    assert_eq!(s.ingest(&event("ok", "ok-1", "{}"), None).0, 200);
    let (_, _, page) = s.get("/v1/events", None);
    assert_eq!(page["events"].as_array().unwrap().len(), 1);
    assert!(s.metric("playtrace_http_timeouts_total") >= 3.0);
}

#[test]
fn sigterm_ends_the_process_within_the_deadline_while_a_request_hangs() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(
        &dir.path().join("data"),
        "[http]\nheader_timeout = \"60s\"\nbody_idle_timeout = \"60s\"\nshutdown_deadline = \"500ms\"\n",
    );
    let idle = connect(&s);
    let mut hanging = connect(&s);
    // `Expect: 100-continue` makes the server say when the handler starts reading the body.
    hanging
        .write_all(
            b"POST /v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-ndjson\r\n\
              Content-Length: 1000\r\nExpect: 100-continue\r\n\r\n",
        )
        .unwrap();
    let mut buf = [0u8; 64];
    let n = hanging.read(&mut buf).unwrap();
    assert!(
        String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 100"),
        "{:?}",
        String::from_utf8_lossy(&buf[..n])
    );
    hanging.write_all(b"{\"event\":\"half\"").unwrap();
    let mut s = s;
    let started = Instant::now();
    let status = std::process::Command::new("kill")
        .args(["-TERM", &s.pid().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let code = loop {
        if let Some(status) = s.child.try_wait().unwrap() {
            break status.code();
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "SIGTERM did not end the process while a request hung"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let took = started.elapsed();
    assert_eq!(code, Some(0), "{}", s.stderr.lock().unwrap());
    assert!(took < Duration::from_secs(5), "stopped after {took:?}");
    // Both sockets are closed, and the half-sent request was never acknowledged.
    let (answer, _) = read_until_closed(hanging);
    assert!(!answer.contains("accepted"), "{answer}");
    read_until_closed(idle);
}

#[test]
fn with_a_low_descriptor_limit_and_many_idle_sockets_healthz_still_answers() {
    let dir = tempfile::tempdir().unwrap();
    let s = start_limited(
        &dir.path().join("data"),
        "[http]\nheader_timeout = \"60s\"\n",
        256,
    );
    let idle: Vec<TcpStream> = (0..300).map(|_| connect(&s)).collect();
    let started = Instant::now();
    let (status, body) =
        s.raw("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    assert_eq!(status, 200, "{body}");
    assert!(started.elapsed() < Duration::from_secs(5));
    // Honest clients get in too, and the idle ones gave way.
    assert_eq!(s.ingest(&event("ok", "ok-1", "{}"), None).0, 200);
    assert!(s.metric("playtrace_http_connections_evicted_total") >= 40.0);
    assert!(s.metric("playtrace_http_connections") <= 256.0);
    let log = s.stderr.lock().unwrap().clone();
    assert!(
        log.matches("accept failed").count() <= 1,
        "accept errors are not rate-limited:\n{log}"
    );
    drop(idle);
}

#[test]
fn at_the_cap_with_every_connection_busy_a_newcomer_gets_503() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(&dir.path().join("data"), "[http]\nmax_connections = 2\n");
    // Two open streams keep both connections busy.
    let a = subscribe(&s.url, "/v1/stream", &[]);
    let b = subscribe(&s.url, "/v1/stream", &[]);
    assert_eq!((a.status, b.status), (200, 200));
    // A connection left over from start-up may still be idle: it gives way first.
    let healthz = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    let (mut status, mut body) = raw_json(&s, healthz);
    for _ in 0..3 {
        if status == 503 {
            break;
        }
        (status, body) = raw_json(&s, healthz);
    }
    assert_eq!(status, 503);
    assert_eq!(error_code(&body), "overloaded");
    drop((a, b));
}

#[test]
fn a_subscriber_that_stops_reading_is_cut_off_by_bytes_and_replays_on_reconnect() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(
        &dir.path().join("data"),
        "[stream]\nmax_pending = \"256KiB\"\nsend_timeout = \"60s\"\n",
    );
    let mut slow = connect(&s);
    slow.write_all(b"GET /v1/stream HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .unwrap();
    let mut head = [0u8; 12];
    slow.read_exact(&mut head).unwrap();
    assert_eq!(&head, b"HTTP/1.1 200");
    // Ingest until the server gives up on it (the kernel's socket buffers fill first).
    let pad = "x".repeat(900);
    let mut posts = 0;
    while s.metric("playtrace_stream_overflow_disconnects_total") < 1.0 {
        let body: String = (0..300)
            .map(|i| {
                event(
                    "big",
                    &format!("b-{posts}-{i}"),
                    &format!(r#"{{"pad":"{pad}"}}"#),
                ) + "\n"
            })
            .collect();
        assert_eq!(s.ingest(&body, None).0, 200);
        posts += 1;
        assert!(posts < 400, "never disconnected after {posts} posts");
    }
    // The lag rule (1,024 commits) did not do it.
    assert_eq!(s.metric("playtrace_stream_lag_disconnects_total"), 0.0);
    // Reading what was already on its way, the client reaches the end of the stream.
    let text = read_until_stream_end(slow);
    let last_id: i64 = text
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("id:").and_then(|v| v.trim().parse().ok()))
        .unwrap_or(0);
    assert_eq!(s.metric("playtrace_stream_subscribers"), 0.0);
    let stored = (posts * 300) as i64;
    assert!(
        last_id < stored,
        "it got everything ({last_id}) before the cut-off"
    );
    // Reconnecting with Last-Event-ID replays the rest from the store.
    let again = subscribe(
        &s.url,
        "/v1/stream?topics=events",
        &[("Last-Event-ID", &last_id.to_string())],
    );
    let rest = again.take((stored - last_id) as usize, WAIT);
    assert_eq!(
        rest.last().unwrap().id.as_deref(),
        Some(stored.to_string().as_str())
    );
}

#[test]
fn last_event_id_edges() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(&dir.path().join("data"), "");
    let body: String = (1..=3)
        .map(|i| event("e", &format!("e-{i}"), "{}") + "\n")
        .collect();
    assert_eq!(s.ingest(&body, None).0, 200);
    // Negative, not a number, huge: 400 in the JSON shape, never echoing the value.
    let huge = "9".repeat(10_000);
    for bad in ["-100", "abc", "1.5", huge.as_str()] {
        let request = format!(
            "GET /v1/stream HTTP/1.1\r\nHost: 127.0.0.1\r\nLast-Event-ID: {bad}\r\nConnection: close\r\n\r\n"
        );
        let (status, answer) = raw_json(&s, &request);
        assert_eq!(status, 400, "{bad}");
        assert_eq!(error_code(&answer), "bad_request");
        let message = answer["error"]["message"].as_str().unwrap();
        assert!(!message.contains(bad), "{message}");
        assert!(message.contains("Last-Event-ID"), "{message}");
    }
    let (status, _) = raw_json(
        &s,
        "GET /v1/stream?last_event_id=-1 HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(status, 400);
    // Beyond the newest (a restored store), up to i64::MAX: a reset that says so, then live.
    for (ahead, newest) in [("1000", 3), ("9223372036854775807", 4)] {
        let sub = subscribe(&s.url, "/v1/stream", &[("Last-Event-ID", ahead)]);
        assert_eq!(sub.status, 200);
        let reset = sub.next(WAIT).unwrap();
        assert_eq!(reset.event, "reset");
        let after: i64 = ahead.parse().unwrap();
        assert_eq!(
            reset.data,
            json!({"lastEventId": after, "missed": 0, "newest": newest, "ahead": true})
        );
        assert_eq!(reset.id, Some(newest.to_string()));
        let n = s.metric("playtrace_stream_resets_total");
        assert!(n >= 1.0);
        let id = format!("live-{ahead}");
        assert_eq!(s.ingest(&event("e", &id, "{}"), None).0, 200);
        let live = sub.next(WAIT).expect("live events follow the reset");
        assert_eq!(live.data["id"], id.as_str());
    }
}

#[test]
fn framework_refusals_use_the_json_error_shape() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(&dir.path().join("data"), "");
    let close = "Host: 127.0.0.1\r\nConnection: close";
    let post = |path: &str, content_type: Option<&str>, body: &str| {
        let content_type = content_type
            .map(|t| format!("Content-Type: {t}\r\n"))
            .unwrap_or_default();
        format!(
            "POST {path} HTTP/1.1\r\n{close}\r\n{content_type}Content-Length: {}\r\n\r\n{body}",
            body.len()
        )
    };
    let json = Some("application/json");
    let cases = [
        // Malformed JSON body.
        (post("/v1/alerts", json, "{nope"), 400),
        // Missing Content-Type.
        (post("/v1/alerts", None, "{}"), 415),
        // Wrong method.
        (
            format!("DELETE /v1/events HTTP/1.1\r\n{close}\r\n\r\n"),
            405,
        ),
        // A query string that does not parse.
        (
            format!("GET /v1/events?limit=abc HTTP/1.1\r\n{close}\r\n\r\n"),
            400,
        ),
        (
            format!("GET /v1/events?after=x HTTP/1.1\r\n{close}\r\n\r\n"),
            400,
        ),
        // A body of the wrong shape (was 422).
        (post("/v1/alerts/x/silence", json, "[]"), 400),
        // An out-of-range duration.
        (
            post(
                "/v1/alerts/x/silence",
                json,
                r#"{"for":"999999999999999d"}"#,
            ),
            400,
        ),
        (
            format!("GET /v1/budgets?window=999999999999999d HTTP/1.1\r\n{close}\r\n\r\n"),
            400,
        ),
        (format!("GET /nowhere HTTP/1.1\r\n{close}\r\n\r\n"), 404),
    ];
    for (request, want) in cases {
        let (status, body) = raw_json(&s, &request);
        assert_eq!(status, want, "{request}: {body}");
        error_code(&body);
        assert!(!body["error"]["message"].as_str().unwrap().is_empty());
    }
    let (status, body) = s.raw(&format!("DELETE /v1/events HTTP/1.1\r\n{close}\r\n\r\n"));
    assert_eq!(status, 405);
    assert!(
        body.contains("DELETE") && body.contains("/v1/events"),
        "{body}"
    );
}

#[test]
fn limit_zero_and_over_1000_are_400_on_every_listing() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(&dir.path().join("data"), "");
    for route in ["/v1/events", "/v1/rejects", "/v1/contests", "/v1/alerts"] {
        for limit in ["0", "1001"] {
            let (status, _, body) = s.get(&format!("{route}?limit={limit}"), None);
            assert_eq!(status, 400, "{route}?limit={limit}");
            assert!(body["error"]["message"].as_str().unwrap().contains("limit"));
        }
        assert_eq!(s.get(&format!("{route}?limit=1"), None).0, 200, "{route}");
    }
}

#[test]
fn the_token_query_parameter_works_only_on_the_stream() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(&dir.path().join("data"), TOKENS);
    let (status, _, body) = s.get("/v1/events?token=read-secret-1", None);
    assert_eq!(status, 401);
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("/v1/stream"));
    assert_eq!(s.get("/metrics?token=read-secret-1", None).0, 401);
    let sub = subscribe(&s.url, "/v1/stream?token=read-secret-1", &[]);
    assert_eq!(sub.status, 200);
}

#[test]
fn deeply_nested_attrs_are_a_schema_reject_never_stored_half() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(&dir.path().join("data"), "");
    for depth in [100, 100_000] {
        let line = format!(
            r#"{{"event":"deep","id":"d-{depth}","attrs":{{"a":{}1{}}}}}"#,
            "[".repeat(depth),
            "]".repeat(depth)
        );
        let (status, _, answer) = s.ingest(&line, None);
        assert_eq!(status, 200);
        assert_eq!(answer["accepted"], 0, "depth {depth}");
        let reject = &answer["rejected"][0];
        assert_eq!(reject["kind"], "schema");
        assert!(reject["message"].as_str().unwrap().contains("nested"));
    }
    // Nesting an event really has is stored and shown whole.
    let line = r#"{"event":"ok","id":"ok-1","attrs":{"a":[[[{"b":[1]}]]]}}"#;
    assert_eq!(s.ingest(line, None).2["accepted"], 1);
    let (_, _, page) = s.get("/v1/events", None);
    let events = page["events"].as_array().unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["attrs"], json!({"a": [[[{"b": [1]}]]]}));
}

#[test]
fn without_tokens_only_loopback_host_names_are_answered() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(&dir.path().join("data"), "");
    for host in ["localhost", "localhost:7070", "127.0.0.1:1", "[::1]:7070"] {
        let (status, _) = s.raw(&format!(
            "GET /healthz HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
        ));
        assert_eq!(status, 200, "{host}");
    }
    for host in [
        "evil.example",
        "evil.example:7070",
        "127.0.0.1.evil.example",
        "10.0.0.1",
    ] {
        let (status, body) = raw_json(
            &s,
            &format!("GET /v1/events HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"),
        );
        assert_eq!(status, 421, "{host}");
        assert_eq!(error_code(&body), "misdirected_host");
    }
    // With tokens, the token is the protection: any host name.
    let dir = tempfile::tempdir().unwrap();
    let s = start(&dir.path().join("data"), TOKENS);
    let (status, _) = s.raw(
        "GET /v1/events HTTP/1.1\r\nHost: collector.example\r\nAuthorization: Bearer read-secret-1\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(status, 200);
}
