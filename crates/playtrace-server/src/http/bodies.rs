//! Body wrappers of the accept loop: a request body that goes silent is cut off
//! (`http.body_idle_timeout`), and a response body keeps its connection marked busy until it
//! is written, so the connection cap never closes a connection mid-answer.

use crate::http::conns::{Busy, ConnMetrics};
use axum::body::{Body, Bytes};
use http_body::{Body as HttpBody, Frame, SizeHint};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::time::{Instant, Sleep};

/// The error a silent request body ends with; `read_body` answers 408 for it.
pub(crate) const BODY_IDLE: &str = "the request body sent nothing for http.body_idle_timeout";

#[derive(Debug)]
struct BodyIdle;

impl std::fmt::Display for BodyIdle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(BODY_IDLE)
    }
}

impl std::error::Error for BodyIdle {}

/// A request body that fails once no frame has come for `idle`.
pub(crate) struct IdleBody<B> {
    inner: B,
    idle: Duration,
    sleep: Pin<Box<Sleep>>,
    metrics: Arc<ConnMetrics>,
}

impl<B> IdleBody<B> {
    pub(crate) fn new(inner: B, idle: Duration, metrics: Arc<ConnMetrics>) -> Self {
        IdleBody {
            inner,
            idle,
            sleep: Box::pin(tokio::time::sleep(idle)),
            metrics,
        }
    }
}

impl<B> HttpBody for IdleBody<B>
where
    B: HttpBody<Data = Bytes> + Unpin,
    B::Error: Into<axum::BoxError>,
{
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(frame) => {
                let idle = this.idle;
                this.sleep.as_mut().reset(Instant::now() + idle);
                Poll::Ready(frame.map(|f| f.map_err(Into::into)))
            }
            Poll::Pending => match this.sleep.as_mut().poll(cx) {
                Poll::Ready(()) => {
                    this.metrics.timeouts.fetch_add(1, Ordering::Relaxed);
                    Poll::Ready(Some(Err(Box::new(BodyIdle))))
                }
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// A response body that keeps its connection busy until it is written (or dropped).
pub(crate) struct HoldBody {
    inner: Body,
    _busy: Busy,
}

impl HoldBody {
    pub(crate) fn new(inner: Body, busy: Busy) -> Self {
        HoldBody { inner, _busy: busy }
    }
}

impl HttpBody for HoldBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
