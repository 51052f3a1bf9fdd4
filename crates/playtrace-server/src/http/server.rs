//! The accept loop: every connection is registered (so the cap can close an idle one), gets a
//! header read timeout and a body idle timeout, and shutdown has a deadline — after it, requests
//! still in flight are abandoned: their events are committed or were never acknowledged, since
//! an answer is only sent after the commit.

use crate::http::bodies::{HoldBody, IdleBody};
use crate::http::conn::Guarded;
use crate::http::conns::{Busy, Conn, Conns};
use axum::body::Body;
use axum::Router;
use hyper::body::Incoming;
use hyper::Request;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::convert::Infallible;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tower::ServiceExt;

/// How long connections may take, from `[http]` and `[stream]`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Timeouts {
    /// A request head must arrive within this (`http.header_timeout`).
    pub(crate) header: Duration,
    /// A request body may be silent this long (`http.body_idle_timeout`).
    pub(crate) body_idle: Duration,
    /// A write may wait this long (`stream.send_timeout`).
    pub(crate) send: Duration,
    /// After shutdown begins, in-flight requests get this long (`http.shutdown_deadline`).
    pub(crate) shutdown: Duration,
}

/// Accept errors are logged at most this often (out of descriptors, they come in bursts).
const ACCEPT_LOG_EVERY: Duration = Duration::from_secs(10);

/// Logs accept errors at most once per [`ACCEPT_LOG_EVERY`], saying how many it left out.
#[derive(Default)]
struct AcceptLog {
    last: Option<Instant>,
    left_out: u64,
}

impl AcceptLog {
    fn failed(&mut self, e: &std::io::Error) {
        if self.last.is_some_and(|t| t.elapsed() < ACCEPT_LOG_EVERY) {
            self.left_out += 1;
            return;
        }
        tracing::warn!(
            left_out = self.left_out,
            "accept failed: {e} (out of file descriptors? raise `ulimit -n` or lower \
             http.max_connections; this message repeats at most every 10 s)"
        );
        self.last = Some(Instant::now());
        self.left_out = 0;
    }
}

/// Serves `router` on `listener` until `shutdown` completes; then stops accepting, calls
/// `stopping` (which ends open streams), and waits for in-flight requests up to the deadline.
pub(crate) async fn run(
    listener: TcpListener,
    router: Router,
    conns: Arc<Conns>,
    timeouts: Timeouts,
    send_timeouts: Arc<AtomicU64>,
    shutdown: impl Future<Output = ()>,
    stopping: impl FnOnce(),
) {
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut tasks = JoinSet::new();
    let mut accept_log = AcceptLog::default();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
            accepted = listener.accept() => match accepted {
                Ok((io, _)) => {
                    if conns.len() >= conns.cap && !conns.evict_idle() {
                        conns.metrics.refused.fetch_add(1, Ordering::Relaxed);
                        tasks.spawn(refuse(io));
                        continue;
                    }
                    let io = Guarded::new(io, timeouts.send, send_timeouts.clone());
                    tasks.spawn(serve_connection(
                        io,
                        router.clone(),
                        conns.clone(),
                        timeouts,
                        stop_rx.clone(),
                    ));
                }
                Err(e) => {
                    conns.metrics.accept_errors.fetch_add(1, Ordering::Relaxed);
                    accept_log.failed(&e);
                    // Out of descriptors: free one, and do not spin on the listener.
                    conns.evict_idle();
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            },
        }
    }
    drop(listener);
    stopping();
    let _ = stop_tx.send(true);
    let drained = tokio::time::timeout(timeouts.shutdown, async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            connections = tasks.len(),
            "shutdown deadline (http.shutdown_deadline) passed: abandoning requests still in \
             flight (their events are committed or were never acknowledged)"
        );
        tasks.abort_all();
        while tasks.join_next().await.is_some() {}
    }
}

/// At the cap with every connection busy: 503 in the JSON error shape, then close.
async fn refuse(io: TcpStream) {
    let body = r#"{"error":{"code":"overloaded","message":"the collector is at its connection limit (http.max_connections) and every connection is busy; retry shortly"}}"#;
    let answer = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nretry-after: 1\r\n\
         connection: close\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    // Small enough for one write into an empty socket buffer; then the drop closes it.
    let written = tokio::time::timeout(Duration::from_secs(1), io.writable()).await;
    if matches!(written, Ok(Ok(()))) {
        let _ = io.try_write(answer.as_bytes());
    }
}

async fn serve_connection(
    io: Guarded,
    router: Router,
    conns: Arc<Conns>,
    timeouts: Timeouts,
    mut stop: watch::Receiver<bool>,
) {
    let (id, conn) = conns.open();
    let metrics = conns.metrics.clone();
    let service = {
        let conn = conn.clone();
        let metrics = metrics.clone();
        hyper::service::service_fn(move |request: Request<Incoming>| {
            handle(
                request,
                router.clone(),
                conn.clone(),
                timeouts.body_idle,
                metrics.clone(),
            )
        })
    };
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(timeouts.header);
    let connection = builder.serve_connection(TokioIo::new(io), service);
    tokio::pin!(connection);
    let mut stopping = *stop.borrow();
    if stopping {
        connection.as_mut().graceful_shutdown();
    }
    loop {
        tokio::select! {
            served = connection.as_mut() => {
                if let Err(e) = served {
                    if e.is_timeout() {
                        metrics.timeouts.fetch_add(1, Ordering::Relaxed);
                    }
                    tracing::debug!("connection ended: {e}");
                }
                break;
            }
            () = conn.evict.notified() => {
                // Dropping the connection closes it; never mid-answer.
                if conn.is_idle() {
                    break;
                }
            }
            _ = stop.changed(), if !stopping => {
                stopping = true;
                connection.as_mut().graceful_shutdown();
            }
        }
    }
    conns.close(id);
}

async fn handle(
    request: Request<Incoming>,
    router: Router,
    conn: Arc<Conn>,
    body_idle: Duration,
    metrics: Arc<crate::http::conns::ConnMetrics>,
) -> Result<axum::response::Response, Infallible> {
    let busy = Busy::new(conn);
    let request = request.map(|b| Body::new(IdleBody::new(b, body_idle, metrics)));
    let response = router.oneshot(request).await?;
    Ok(response.map(|b| Body::new(HoldBody::new(b, busy))))
}
