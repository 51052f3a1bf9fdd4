//! `GET /v1/cluster` (scope read): this node's place in the cluster — how far it applied the
//! log, how far the log goes, who holds the lease — so an operator (or a test) sees a node
//! catch up and a takeover happen.

use crate::app::AppState;
use crate::http::auth::{Caller, Read};
use crate::http::error::{ApiError, ApiResult};
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};
use std::sync::Arc;

pub(crate) async fn get(
    State(app): State<Arc<AppState>>,
    _: Caller<Read>,
) -> ApiResult<Json<Value>> {
    let Some(node) = app.cluster.get() else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "this collector runs alone: add a [cluster] section to its config (docs/CLUSTER.md)",
        ));
    };
    let stream = match super::materialise::ensure_stream(node).await {
        Ok(s) => s.cached_info().state.last_sequence,
        Err(e) => {
            let mut e = ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "cluster_unavailable", e);
            e.retry_after = Some(1);
            return Err(e);
        }
    };
    let version = node.client.server_info().version;
    Ok(Json(json!({
        "node": node.config.node,
        "stream": node.config.stream,
        "applied": node.applied_seq(),
        "streamLast": stream,
        "connected": matches!(node.client.connection_state(), async_nats::connection::State::Connected),
        "leader": node.lease.holder(),
        "role": if node.lease.is_leading() { "leader" } else { "follower" },
        "natsVersion": version,
        "warnings": super::version::warnings(&version),
    })))
}
