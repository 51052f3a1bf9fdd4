//! This collector as a member of the cluster: its NATS connection, and the requests of this
//! process waiting for their message to be applied here.

use crate::config::Cluster;
use async_nats::jetstream;
use playtrace_store::CommitOutcome;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::{oneshot, watch};

/// What a request waits for: its message applied by this node, with an action's answer (or the
/// store's error).
pub(super) type Applied = Result<(CommitOutcome, Option<Option<serde_json::Value>>), String>;

/// This collector as a member of the cluster.
pub(crate) struct Node {
    pub(crate) config: Cluster,
    pub(super) client: async_nats::Client,
    pub(super) js: jetstream::Context,
    /// Requests of this process waiting for their message to be applied, by origin token.
    pub(super) waiters: Mutex<HashMap<String, oneshot::Sender<Applied>>>,
    /// The last stream sequence this node applied.
    pub(super) applied: watch::Sender<u64>,
    /// Tokens are `node-nonce/counter`: the nonce tells this process's messages from those of
    /// an earlier run of the same node.
    pub(super) prefix: String,
    pub(super) counter: AtomicU64,
    /// Writer jobs submitted and not yet completed.
    pub(super) in_flight: AtomicUsize,
    /// Set when a job failed: the materialiser starts again from the store's position.
    pub(super) failed: AtomicBool,
    /// Whether this node holds the lease for time-driven work (`lease.rs`).
    pub(crate) lease: super::lease_view::Lease,
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
        lease: super::lease_view::Lease::default(),
    }))
}

impl Node {
    pub(super) fn token(&self) -> String {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        format!("{}{n}", self.prefix)
    }

    pub(super) fn wait_for(&self, token: &str) -> oneshot::Receiver<Applied> {
        let (tx, rx) = oneshot::channel();
        self.waiters
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(token.to_string(), tx);
        rx
    }

    pub(super) fn forget(&self, token: &str) {
        self.waiters
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(token);
    }

    /// Answers the request waiting for the message `origin`, if it is this process's.
    pub(super) fn applied_one(&self, origin: Option<&str>, result: Applied) {
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
