//! Cluster mode (`[cluster]`, docs/CLUSTER.md): several collectors over one NATS JetStream
//! stream, the replicated log that is the single source of truth.
//!
//! A request is parsed as on a single node, then published (`publish.rs`); every node applies
//! the stream, in stream order, to its own SQLite store through the same writer and commit hook
//! (`materialise.rs`), with the message's JetStream timestamp as receive time, so every store
//! holds the same rows under the same sequence numbers. The node that published a request
//! answers it from its own application of the message. `status.rs` serves `GET /v1/cluster`.

mod actions;
mod materialise;
mod message;
pub(crate) mod node;
mod publish;
pub(crate) mod replicated;
pub(crate) mod status;

use crate::app::AppState;
use std::sync::Arc;

pub(crate) use actions::commit;
use node::open;
pub(crate) use publish::ingest;

/// Joins the cluster when `[cluster]` is configured (before ingest opens, so no request is
/// committed locally).
pub(crate) async fn join(app: &AppState) -> Result<(), String> {
    if let Some(config) = &app.config.cluster {
        let _ = app.cluster.set(open(config).await?);
    }
    Ok(())
}

/// Starts applying the stream to this node's store (after the live state is rebuilt and the
/// writer runs).
pub(crate) fn start(app: &Arc<AppState>) -> Option<tokio::task::JoinHandle<()>> {
    let node = app.cluster.get()?.clone();
    Some(tokio::spawn(materialise::run(app.clone(), node)))
}

/// Whether this node runs the time-driven jobs that append to the log (budget ticks, alert
/// clocks, limit alerts): always on a single node; in a cluster they would give each store
/// rows the others lack, so they are not run there (see docs/CLUSTER.md).
pub(crate) fn runs_clock(app: &AppState) -> bool {
    app.cluster.get().is_none()
}
