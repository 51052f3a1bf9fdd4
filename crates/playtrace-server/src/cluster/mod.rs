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
mod publish;
pub(crate) mod status;

use crate::app::AppState;
use crate::config::Cluster;
use crate::pipeline::Work;
use async_nats::jetstream;
use playtrace_store::{ClusterPosition, CommitOutcome, StoreError, Tx};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::{oneshot, watch};

pub(crate) use actions::commit;
pub(crate) use publish::ingest;

/// A job of the writer that applies one message of the log.
pub(crate) struct Replicated {
    /// The message applied before it (the store's position must be that, or the job fails:
    /// messages are applied in stream order, never twice, never with a gap).
    pub(crate) prev: u64,
    /// The message and the receive time it gives its rows.
    pub(crate) position: ClusterPosition,
    /// What the message asks for, as a single node's job would.
    pub(crate) work: Work,
}

/// Inside the writer's transaction of a [`Replicated`] job: moves the store's bookmark, after
/// checking the message is the next one.
pub(crate) fn advance(tx: &Tx<'_>, job: &Replicated) -> Result<(), StoreError> {
    let at = tx.cluster_position()?;
    if at.stream_seq != job.prev {
        return Err(StoreError::Commit(format!(
            "stream message {} follows {} but the store is at {}: applying it again from the \
             store's position",
            job.position.stream_seq, job.prev, at.stream_seq
        )));
    }
    tx.set_cluster_position(job.position)
}

/// What a request waits for: its message applied by this node, with an action's answer (or the
/// store's error).
type Applied = Result<(CommitOutcome, Option<Option<serde_json::Value>>), String>;

/// This collector as a member of the cluster.
pub(crate) struct Node {
    pub(crate) config: Cluster,
    client: async_nats::Client,
    js: jetstream::Context,
    /// Requests of this process waiting for their message to be applied, by origin token.
    waiters: Mutex<HashMap<String, oneshot::Sender<Applied>>>,
    /// The last stream sequence this node applied.
    applied: watch::Sender<u64>,
    /// Tokens are `node-nonce/counter`: the nonce tells this process's messages from those of
    /// an earlier run of the same node.
    prefix: String,
    counter: AtomicU64,
    /// Writer jobs submitted and not yet completed.
    in_flight: AtomicUsize,
    /// Set when a job failed: the materialiser starts again from the store's position.
    failed: AtomicBool,
}

/// Connects to NATS (in the background: a cluster that is down makes ingest answer 503, it
/// does not stop the collector from starting) and sets up this node.
pub(crate) async fn open(config: &Cluster) -> Result<Arc<Node>, String> {
    let servers: Vec<async_nats::ServerAddr> = config
        .nats
        .iter()
        .map(|u| {
            u.parse()
                .map_err(|e| format!("config key `cluster.nats`: `{u}`: {e}"))
        })
        .collect::<Result<_, _>>()?;
    let client = async_nats::ConnectOptions::new()
        .name(format!("playtrace {}", config.node))
        .retry_on_initial_connect()
        .max_reconnects(None)
        .connect(servers)
        .await
        .map_err(|e| format!("cannot connect to NATS {:?}: {e}", config.nats))?;
    let mut js = jetstream::new(client.clone());
    js.set_timeout(config.ack_timeout.to_duration());
    let nonce = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
        ^ u64::from(std::process::id()).rotate_left(32);
    Ok(Arc::new(Node {
        prefix: format!("{}-{nonce:x}/", config.node),
        config: config.clone(),
        client,
        js,
        waiters: Mutex::new(HashMap::new()),
        applied: watch::channel(0).0,
        counter: AtomicU64::new(0),
        in_flight: AtomicUsize::new(0),
        failed: AtomicBool::new(false),
    }))
}

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

impl Node {
    fn token(&self) -> String {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        format!("{}{n}", self.prefix)
    }

    fn wait_for(&self, token: &str) -> oneshot::Receiver<Applied> {
        let (tx, rx) = oneshot::channel();
        self.waiters
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(token.to_string(), tx);
        rx
    }

    fn forget(&self, token: &str) {
        self.waiters
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(token);
    }

    /// Answers the request waiting for the message `origin`, if it is this process's.
    fn applied_one(&self, origin: Option<&str>, result: Applied) {
        let Some(token) = origin.filter(|o| o.starts_with(&self.prefix)) else {
            return;
        };
        let waiter = self
            .waiters
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(token);
        if let Some(w) = waiter {
            let _ = w.send(result);
        }
    }

    /// The last stream sequence applied here.
    pub(crate) fn applied_seq(&self) -> u64 {
        *self.applied.borrow()
    }
}
