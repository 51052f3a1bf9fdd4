//! The limit alarm: once a second, a game and limit hit `limits.alert_hits` times within a
//! minute becomes a `pipeline` alert (one writer job), naming the game, the limit and the top
//! offending sessions, players and builds; the same game and limit update the same alert. A
//! `[[dimensions]]` cap that folded values into `other` since the last look raises one too.
//! In a cluster each collector raises its own games' limit alerts (limits count per collector)
//! and the lease holder the dimension alerts (the folds are the same everywhere), as messages
//! of the log (`cluster/clock.rs`).

use crate::app::AppState;
use crate::pipeline::Work;
use playtrace_core::alert::{AlertCandidate, Category, Severity};
use playtrace_core::dims::Dimensions;
use playtrace_store::Job;
use serde_json::{json, Map};
use std::sync::Arc;
use std::time::Duration;

/// Looks every `interval` until the task is aborted.
pub(crate) async fn run(app: Arc<AppState>, interval: Duration) {
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut folded_before: Vec<u64> = Vec::new();
    loop {
        tick.tick().await;
        let mut due = app.guard.due_alerts(playtrace_store::now_ms() as f64);
        let folded = app.with_live(|l| l.dimension_folded().to_vec());
        let mut folds = if crate::cluster::clock::leads(&app) {
            folded_alerts(&app.config.dimensions, &folded_before, &folded)
        } else {
            Vec::new()
        };
        folded_before = folded;
        let cluster = app.cluster.get();
        if cluster.is_none() {
            due.append(&mut folds);
        }
        if due.is_empty() && folds.is_empty() {
            continue;
        }
        for (game, alert) in &due {
            tracing::warn!(game, reason = %alert.reason, data = %serde_json::Value::Object(alert.data.clone()), "game over its limit");
        }
        if let Some(node) = cluster {
            // A game's limits count on this node; the folds are the same on every node.
            if !due.is_empty() {
                crate::cluster::clock::publish(node, Work::Raise(due), false).await;
            }
            if !folds.is_empty() {
                crate::cluster::clock::publish(node, Work::Raise(folds), true).await;
            }
            continue;
        }
        let (tx, rx) = tokio::sync::oneshot::channel();
        let job = Job {
            events: vec![],
            rejects: vec![],
            extra: Work::Raise(due),
            done: Box::new(move |r| {
                let _ = tx.send(r.is_ok());
            }),
        };
        if app.submit(job).is_ok() {
            let _ = rx.await;
        }
    }
}

/// One alert per dimension whose cap folded values since the last look (no game: dimensions are
/// the collector's).
fn folded_alerts(
    dimensions: &Dimensions,
    before: &[u64],
    now: &[u64],
) -> Vec<(String, AlertCandidate)> {
    let mut out = Vec::new();
    for (i, d) in dimensions.list().iter().enumerate() {
        let n = now.get(i).copied().unwrap_or(0);
        let was = before.get(i).copied().unwrap_or(0);
        if n <= was {
            continue;
        }
        let mut data = Map::new();
        data.insert("dimension".into(), json!(d.name));
        data.insert("attr".into(), json!(d.attr));
        data.insert("maxValues".into(), json!(d.max_values));
        data.insert("folded".into(), json!(n));
        data.insert("foldedSinceLast".into(), json!(n - was));
        out.push((
            String::new(),
            AlertCandidate {
                rule: "cardinality".into(),
                category: Category::Pipeline,
                severity: Severity::Medium,
                reason: "cardinality.folded".into(),
                fingerprint: format!("cardinality:{}", d.name),
                session_id: None,
                data,
                seeded: false,
                probe: false,
                created_ms: None,
            },
        ));
    }
    out
}
