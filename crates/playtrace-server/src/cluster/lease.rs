//! The lease: which collector of the cluster runs the time-driven work (budget ticks, the alert
//! clock, cardinality alerts) and sends the notifications. It is a key of a NATS JetStream
//! key-value bucket, never an election of our own: the bucket is replicated like the stream,
//! and its `max_age` (`cluster.lease_ttl`) removes the key when its holder stops renewing it.
//!
//! - A collector that does not hold it tries to `create` the key (which succeeds only when it
//!   does not exist) every third of the ttl, once it has applied the log as far as it went.
//! - The holder renews it every third of the ttl with `update` on the revision it last wrote
//!   (a compare-and-set: it fails if anyone else wrote the key).
//! - A new holder first announces itself in the log (`Body::Lease`) and leads once its own store
//!   applied that: from that place in the log on, every node applies time-driven messages from
//!   this holder only (`replicated.rs`), so a late message of a former holder — one its NATS
//!   client buffered while cut off — is skipped everywhere alike.
//! - A holder whose renewal was refused stops leading at once; one that cannot reach NATS stops
//!   half a ttl after the last renewal it sent that succeeded. The key outlives that renewal by
//!   a whole ttl (measured from when NATS stored it, which is after it was sent), so another
//!   collector can take it only after the old holder stopped: two holders never overlap, as
//!   long as the NATS servers' clocks agree within half a ttl.

use super::node::Node;
use async_nats::jetstream::kv::{self, CreateErrorKind, UpdateErrorKind};
use async_nats::jetstream::stream::{self, DiscardPolicy, StorageType};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// The key every collector competes for.
const KEY: &str = "leader";

/// What the key holds: the node name, then this process's nonce (a restarted node is another
/// holder).
fn value(node: &Node) -> String {
    format!("{} {}", node.config.node, node.prefix)
}

/// The bucket, created when missing. Its backing stream is made here rather than by
/// `create_key_value`, which reads account fields nats-server 2.9 does not send; the stream is
/// what a key-value bucket of history 1 is.
async fn bucket(node: &Node) -> Result<kv::Store, String> {
    let c = &node.config;
    let config = stream::Config {
        name: format!("KV_{}", c.lease_bucket),
        description: Some("PlayTrace: which collector runs time-driven work".into()),
        subjects: vec![format!("$KV.{}.>", c.lease_bucket)],
        max_messages_per_subject: 1,
        max_age: c.lease_ttl.to_duration(),
        storage: StorageType::File,
        num_replicas: c.replicas,
        allow_rollup: true,
        deny_delete: true,
        allow_direct: true,
        discard: DiscardPolicy::New,
        ..Default::default()
    };
    let error = |e: &dyn std::fmt::Display| {
        format!("cannot open the lease bucket `{}`: {e}", c.lease_bucket)
    };
    let made = node
        .js
        .get_or_create_stream(config.clone())
        .await
        .map_err(|e| error(&e))?;
    if made.cached_info().config.max_age != config.max_age {
        // cluster.lease_ttl changed since the bucket was made.
        node.js
            .update_stream(&config)
            .await
            .map_err(|e| error(&e))?;
    }
    node.js
        .get_key_value(c.lease_bucket.clone())
        .await
        .map_err(|e| error(&e))
}

/// Whether this node applied the log as far as it went a moment ago: a node that is behind
/// would run the clocks on an old state, so it does not take the lease.
async fn caught_up(node: &Node, wait: Duration) -> bool {
    let Ok(stream) = super::materialise::ensure_stream(node).await else {
        return false;
    };
    let last = stream.cached_info().state.last_sequence;
    let mut applied = node.applied.subscribe();
    tokio::time::timeout(wait, applied.wait_for(|at| *at >= last))
        .await
        .is_ok_and(|r| r.is_ok())
}

/// Holds or waits for the lease until the task is aborted.
pub(crate) async fn run(node: Arc<Node>) {
    let ttl = node.config.lease_ttl.to_duration();
    let period = ttl / 3;
    let me = value(&node);
    let name = node.config.node.clone();
    let store = loop {
        match bucket(&node).await {
            Ok(s) => break s,
            Err(e) => {
                tracing::warn!("{e}; trying again");
                tokio::time::sleep(period).await;
            }
        }
    };
    // The revision this node last wrote, and when the write that made it was sent.
    let mut held: Option<(u64, Instant)> = None;
    loop {
        held = match held {
            None => {
                let taken = take(&node, &store, &me, period).await;
                if taken.is_none() {
                    tokio::time::sleep(period).await;
                }
                taken
            }
            Some((revision, since)) => {
                if !node.lease.is_leading() {
                    // Held but not yet announced in the log: announce (bounded by the next
                    // renewal), and lead once this node applied the announcement.
                    let announced =
                        tokio::time::timeout_at(since + period, super::clock::announce(&node));
                    if announced.await.unwrap_or(false) {
                        node.lease.lead(&name, true);
                    }
                }
                tokio::time::sleep_until(since + period).await;
                let renewed = renew(&store, &me, revision, since + ttl / 2).await;
                if renewed.is_none() {
                    node.lease.lead(&name, false);
                    node.lease.set_holder(None);
                }
                renewed
            }
        };
        node.lease
            .keep(held.map(|(revision, _)| (store.clone(), revision)));
    }
}

/// Hands the lease back when the collector stops (after its time-driven tasks and notifier
/// stopped), so another collector takes it at its next try instead of a ttl later.
pub(crate) async fn release(node: &Node) {
    let key = node
        .lease
        .key
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .take();
    // Stopping: nothing leads here any more (without the "lost" warning of a failed renewal).
    node.lease.leading.send_replace(false);
    let Some((store, revision)) = key else {
        return;
    };
    let deleted = store.delete_expect_revision(KEY, Some(revision));
    match tokio::time::timeout(Duration::from_secs(1), deleted).await {
        Ok(Ok(())) => tracing::info!("handed the cluster's lease back"),
        _ => tracing::warn!("could not hand the cluster's lease back: it expires by itself"),
    }
}

/// Takes the lease when nobody holds it (or this process still does, after it gave up on a
/// renewal that went through after all).
async fn take(
    node: &Node,
    store: &kv::Store,
    me: &str,
    period: Duration,
) -> Option<(u64, Instant)> {
    if !caught_up(node, period).await {
        return None;
    }
    let sent = Instant::now();
    match tokio::time::timeout(period, store.create(KEY, me.to_string().into())).await {
        Ok(Ok(revision)) => return Some((revision, sent)),
        Ok(Err(e)) if e.kind() == CreateErrorKind::AlreadyExists => {}
        Ok(Err(e)) => {
            tracing::debug!("lease: {e}");
            return None;
        }
        Err(_) => return None,
    }
    let entry = match tokio::time::timeout(period, store.entry(KEY)).await {
        Ok(Ok(Some(entry))) => entry,
        _ => return None,
    };
    let holder = String::from_utf8_lossy(&entry.value).to_string();
    node.lease
        .set_holder(holder.split(' ').next().map(str::to_string));
    if holder != me {
        return None;
    }
    // Still ours: renewing it on its revision is the same compare-and-set as a renewal.
    let sent = Instant::now();
    match tokio::time::timeout(
        period,
        store.update(KEY, me.to_string().into(), entry.revision),
    )
    .await
    {
        Ok(Ok(revision)) => Some((revision, sent)),
        _ => None,
    }
}

/// Renews the lease on `revision`, retrying a failed attempt until `deadline` (half a ttl after
/// the last renewal): `None` when it is lost.
async fn renew(
    store: &kv::Store,
    me: &str,
    revision: u64,
    deadline: Instant,
) -> Option<(u64, Instant)> {
    loop {
        let sent = Instant::now();
        if sent >= deadline {
            return None;
        }
        let attempt = store.update(KEY, me.to_string().into(), revision);
        match tokio::time::timeout_at(deadline, attempt).await {
            Ok(Ok(revision)) => return Some((revision, sent)),
            Ok(Err(e)) if e.kind() == UpdateErrorKind::WrongLastRevision => {
                tracing::warn!("lease: another collector holds it now ({e})");
                return None;
            }
            Ok(Err(e)) => {
                tracing::debug!("lease renewal failed, trying again: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(_) => return None,
        }
    }
}
