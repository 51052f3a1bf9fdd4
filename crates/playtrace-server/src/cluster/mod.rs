//! Cluster mode (`[cluster]`, docs/CLUSTER.md): several collectors over one NATS JetStream
//! stream, the replicated log that is the single source of truth.
//!
//! A request is parsed as on a single node, then published (`publish.rs`); every node applies
//! the stream, in stream order, to its own SQLite store through the same writer and commit hook
//! (`materialise.rs`), with the message's JetStream timestamp as receive time, so every store
//! holds the same rows under the same sequence numbers. The node that published a request
//! answers it from its own application of the message. `status.rs` serves `GET /v1/cluster`.

mod actions;
pub(crate) mod clock;
mod lease;
mod lease_view;
mod materialise;
mod message;
pub(crate) mod node;
mod publish;
pub(crate) mod replicated;
pub(crate) mod status;
mod version;

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
/// writer runs), and competing for the lease; the notifier sends only while this node holds
/// it.
pub(crate) fn start(app: &Arc<AppState>) -> Vec<tokio::task::JoinHandle<()>> {
    let Some(node) = app.cluster.get().cloned() else {
        return Vec::new();
    };
    if let Some(notifier) = app.notify.get() {
        notifier.send_only_while(crate::notify::SendGate {
            sending: node.lease.subscribe(),
            // A takeover comes at most about 1⅓ ttl after the old holder's last renewal.
            grace_ms: 2 * node.config.lease_ttl.as_ms_i64(),
        });
    }
    vec![
        tokio::spawn(materialise::run(app.clone(), node.clone())),
        tokio::spawn(lease::run(node)),
    ]
}

/// Hands the lease back, if this node holds it (at shutdown, once the tasks of [`start`] and
/// the time-driven tasks stopped).
pub(crate) async fn stop(app: &AppState) {
    if let Some(node) = app.cluster.get() {
        lease::release(node).await;
    }
}

/// Whether this node writes plan-drift alerts: always on a single node; in a cluster each
/// node's drift tracker sees only its own requests, so they would disagree (see
/// docs/CLUSTER.md).
pub(crate) fn runs_clock(app: &AppState) -> bool {
    app.cluster.get().is_none()
}

/// `playtrace_cluster_leader`: 1 while this node holds the lease (nothing on a single node).
pub(crate) fn render_metrics(app: &AppState, out: &mut String) {
    let Some(node) = app.cluster.get() else {
        return;
    };
    crate::metrics::header(
        out,
        "playtrace_cluster_leader",
        "gauge",
        "1 while this collector holds the cluster's lease (runs time-driven work, sends notifications).",
    );
    crate::metrics::sample(
        out,
        "playtrace_cluster_leader",
        &[],
        if node.lease.is_leading() { 1.0 } else { 0.0 },
    );
}
