//! The alert clock: once a second, when an alert is due to change by time alone (a silence ran
//! out, a moderation alert was quiet for `alerts.resolve_after`), one job on the writer applies
//! it, so the change takes its place in the one sequence like any other. In a cluster the lease
//! holder runs it and the change is a message of the log (`cluster/clock.rs`).

use crate::alerting::lifecycle::LifecycleOp;
use crate::app::AppState;
use crate::pipeline::Work;
use playtrace_store::Job;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Looks every `interval` until the task is aborted.
pub(crate) async fn run(app: Arc<AppState>, interval: Duration) {
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let quiet_ms = app.config.alerts_resolve_after.as_ms_f64() as i64;
    loop {
        tick.tick().await;
        if !crate::cluster::clock::leads(&app) {
            continue;
        }
        let now = playtrace_store::now_ms();
        let reader = app.reader.clone();
        let due = tokio::task::spawn_blocking(move || reader.due_alerts(now, now - quiet_ms))
            .await
            .ok()
            .and_then(Result::ok)
            .is_some_and(|d| !d.is_empty());
        if !due {
            continue;
        }
        if let Some(node) = app.cluster.get() {
            let op = LifecycleOp::Maintain {
                quiet_before_ms: now - quiet_ms,
            };
            let result = Arc::new(Mutex::new(None));
            crate::cluster::clock::publish(node, Work::Lifecycle { op, result }, true).await;
            continue;
        }
        let (tx, rx) = tokio::sync::oneshot::channel();
        let job = Job {
            events: vec![],
            rejects: vec![],
            extra: Work::Lifecycle {
                // The writer's clock decides: quiet since then.
                op: LifecycleOp::Maintain {
                    quiet_before_ms: now - quiet_ms,
                },
                result: Arc::new(Mutex::new(None)),
            },
            done: Box::new(move |r| {
                let _ = tx.send(r.is_ok());
            }),
        };
        if app.submit(job).is_ok() {
            let _ = rx.await;
        }
    }
}
