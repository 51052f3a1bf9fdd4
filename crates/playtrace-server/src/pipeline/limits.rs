//! The limit alarm: once a second, a game and limit hit `limits.alert_hits` times within a
//! minute becomes a `pipeline` alert (one writer job), naming the game, the limit and the top
//! offending sessions, players and builds; the same game and limit update the same alert.

use crate::app::AppState;
use crate::pipeline::Work;
use playtrace_store::Job;
use std::sync::Arc;
use std::time::Duration;

/// Looks every `interval` until the task is aborted.
pub(crate) async fn run(app: Arc<AppState>, interval: Duration) {
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let due = app.guard.due_alerts(playtrace_store::now_ms() as f64);
        if due.is_empty() {
            continue;
        }
        for (game, alert) in &due {
            tracing::warn!(game, reason = %alert.reason, data = %serde_json::Value::Object(alert.data.clone()), "game over its limit");
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
