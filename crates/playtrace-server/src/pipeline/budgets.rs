//! The budget tick: every `budgets.evaluate_every` the live budgets are compared with the last
//! tick ([`Evaluator`]) and the changes (status messages, budget alerts) are written as one job
//! on the store's writer, so they take their place in the one sequence. In a cluster the lease
//! holder ticks and the changes are a message of the log (`cluster/clock.rs`); a collector that
//! takes the lease over starts from the budget alerts its store says are firing.

use crate::alerting::budget::Evaluator;
use crate::app::AppState;
use crate::pipeline::Work;
use playtrace_core::contest::BudgetQuery;
use playtrace_store::Job;
use std::sync::Arc;
use std::time::Duration;

/// Runs the evaluator every `interval` until the task is aborted.
pub(crate) async fn run(app: Arc<AppState>, mut evaluator: Evaluator, interval: Duration) {
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // A cluster node's memory is read again each time it takes the lease (another node may have
    // fired or resolved budget alerts meanwhile); a single node's is always current.
    let mut current = app.cluster.get().is_none().then_some(0);
    loop {
        tick.tick().await;
        if !crate::cluster::clock::leads(&app) {
            continue;
        }
        let term = crate::cluster::clock::term(&app);
        if current != Some(term) {
            match firing(&app).await {
                Some(firing) => evaluator = Evaluator::new(evaluator.settings.clone(), firing),
                None => continue,
            }
            current = Some(term);
        }
        let now = playtrace_store::now_ms() as f64;
        let query = BudgetQuery {
            group_by: evaluator.settings.group_by.clone(),
            ..BudgetQuery::default()
        };
        let reports = app.live_budgets(&query, now);
        let before = evaluator.memory();
        let changes = evaluator.tick(&reports, now);
        if changes.is_empty() {
            continue;
        }
        if let Some(node) = app.cluster.get() {
            if !crate::cluster::clock::publish(node, Work::Budget(changes), true).await {
                evaluator.undo(before);
            }
            continue;
        }
        let (tx, rx) = tokio::sync::oneshot::channel();
        let job = Job {
            events: vec![],
            rejects: vec![],
            extra: Work::Budget(changes),
            done: Box::new(move |r| {
                let _ = tx.send(r.is_ok());
            }),
        };
        let stored = app.submit(job).is_ok() && rx.await.unwrap_or(false);
        if !stored {
            // Not recorded: look again next tick.
            evaluator.undo(before);
        }
    }
}

/// The budget alerts the store says are firing.
async fn firing(app: &AppState) -> Option<Vec<String>> {
    let reader = app.reader.clone();
    tokio::task::spawn_blocking(move || reader.firing_alerts("budget"))
        .await
        .ok()?
        .ok()
}
