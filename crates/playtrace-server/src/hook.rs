//! What happens around each commit of the store's writer: alerts raised inside the transaction
//! (durable with the events that raised them), then, once durable, metrics, live correlation and
//! the stream.

use crate::alerts::{act, raise, AlertAction, AlertChange, Origin};
use crate::api::{event_json, EventView};
use crate::metrics::Metrics;
use crate::state::apply_commit;
use crate::stream::{Hub, Message};
use playtrace_core::alert::{alert_id, RuleSet, Severity};
use playtrace_core::contest::LiveContests;
use playtrace_core::event::Event;
use playtrace_core::scan::ObservationBatch;
use playtrace_store::{
    insert_stream_row, CommitHook, CommitOutcome, EventRow, KIND_ALERT, KIND_BUDGET, KIND_EVENT,
};
use serde_json::Value;
use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

/// Where an action's result is left for the request that asked for it.
pub type ActionResult = Arc<Mutex<Option<Option<Value>>>>;

/// What a writer job carries besides its rows.
pub enum Work {
    /// Ingested events and their contest observations.
    Ingest(ObservationBatch),
    /// Budget status changes, and the budget alerts they fire or resolve.
    Budget(Vec<crate::budget_alerts::BudgetChange>),
    /// An admin action on an alert.
    Action {
        /// Alert id.
        id: String,
        /// What to do.
        action: AlertAction,
        /// The alert afterwards (`Some(None)`: no such alert).
        result: ActionResult,
    },
}

/// Stream rows a job wrote inside the transaction: budget messages `(seq, data)` and alert
/// changes.
type Pending = (Vec<(i64, String)>, Vec<AlertChange>);

/// The collector's commit hook.
pub struct ServerHook {
    /// Alert rules.
    pub rules: RuleSet,
    /// Live contests.
    pub live: Arc<Mutex<LiveContests>>,
    /// Counters.
    pub metrics: Arc<Metrics>,
    /// The stream.
    pub hub: Arc<Hub>,
    /// Budget messages and alert changes of the jobs in the current transaction, in job order.
    pending: VecDeque<Pending>,
}

impl ServerHook {
    /// A hook over the collector's shared parts.
    pub fn new(
        rules: RuleSet,
        live: Arc<Mutex<LiveContests>>,
        metrics: Arc<Metrics>,
        hub: Arc<Hub>,
    ) -> Self {
        ServerHook {
            rules,
            live,
            metrics,
            hub,
            pending: VecDeque::new(),
        }
    }
}

impl CommitHook<Work> for ServerHook {
    fn in_transaction(
        &mut self,
        tx: &rusqlite::Transaction<'_>,
        events: &[EventRow],
        work: &Work,
        outcome: &CommitOutcome,
    ) -> rusqlite::Result<()> {
        let mut changes = Vec::new();
        let mut budgets = Vec::new();
        match work {
            Work::Ingest(_) => {
                for (e, inserted) in events.iter().zip(&outcome.inserted) {
                    if !inserted || !self.rules.may_match(&e.name, &e.body) {
                        continue;
                    }
                    let Some(event) = serde_json::from_str(&e.body)
                        .ok()
                        .and_then(|o| Event::from_object(o).ok())
                    else {
                        continue;
                    };
                    let origin = Origin {
                        game: (!e.game.is_empty()).then_some(e.game.as_str()),
                        env: e.env.as_deref(),
                    };
                    for candidate in self.rules.evaluate(&event) {
                        changes.push(raise(tx, &candidate, &origin, outcome.recv_ms)?);
                    }
                }
            }
            Work::Budget(budget_changes) => {
                let origin = Origin {
                    game: None,
                    env: None,
                };
                for b in budget_changes {
                    if let Some(status) = &b.status {
                        let text = status.to_string();
                        let seq = insert_stream_row(
                            tx,
                            outcome.recv_ms,
                            KIND_BUDGET,
                            "budget",
                            None,
                            None,
                            &text,
                        )?;
                        budgets.push((seq, text));
                    }
                    if let Some(candidate) = &b.fire {
                        changes.push(raise(tx, candidate, &origin, outcome.recv_ms)?);
                    }
                    if let Some(fp) = &b.resolve {
                        changes.extend(act(
                            tx,
                            &alert_id(fp),
                            &AlertAction::Resolve,
                            outcome.recv_ms,
                        )?);
                    }
                }
            }
            Work::Action { id, action, result } => {
                let change = act(tx, id, action, outcome.recv_ms)?;
                let mut slot = result.lock().unwrap_or_else(|p| p.into_inner());
                *slot = Some(change.as_ref().map(|c| c.alert.clone()));
                changes.extend(change);
            }
        }
        self.pending.push_back((budgets, changes));
        Ok(())
    }

    fn committed(&mut self, events: &[EventRow], work: &Work, outcome: &CommitOutcome) {
        let (budgets, changes) = self.pending.pop_front().unwrap_or_default();
        if outcome.first_in_commit {
            self.metrics
                .commit_events
                .observe(outcome.commit_events as f64);
        }
        self.metrics
            .accepted
            .fetch_add(outcome.accepted, Ordering::Relaxed);
        self.metrics
            .duplicates
            .fetch_add(outcome.duplicates, Ordering::Relaxed);
        if let Work::Ingest(observations) = work {
            apply_commit(&self.live, events, observations, outcome);
        }
        if !self.hub.has_subscribers() {
            return;
        }
        let mut batch =
            Vec::with_capacity(outcome.accepted as usize + budgets.len() + changes.len());
        let with_events = self.hub.wants_events();
        for (e, &seq) in events.iter().zip(&outcome.seqs) {
            if seq == 0 || !with_events {
                continue;
            }
            let view = EventView {
                seq,
                recv_ms: outcome.recv_ms,
                name: &e.name,
                game: &e.game,
                id: e.id.as_deref(),
                env: e.env.as_deref(),
                session: e.session.as_deref(),
                ts_ms: e.ts_ms,
                body: &e.body,
            };
            batch.push(Message {
                seq,
                kind: KIND_EVENT,
                name: e.name.clone(),
                game: (!e.game.is_empty()).then(|| e.game.clone()),
                env: e.env.clone(),
                severity: None,
                data: event_json(&view).to_string(),
            });
        }
        // Budget rows were written before the alerts they caused, job by job: merge by sequence.
        let mut rest: Vec<Message> = budgets
            .into_iter()
            .map(|(seq, data)| Message {
                seq,
                kind: KIND_BUDGET,
                name: "budget".into(),
                game: None,
                env: None,
                severity: None,
                data,
            })
            .collect();
        for c in changes {
            rest.push(Message {
                seq: c.seq,
                kind: KIND_ALERT,
                name: format!("alert.{}", c.alert["category"].as_str().unwrap_or("")),
                game: c.alert["game"].as_str().map(str::to_string),
                env: c.alert["env"].as_str().map(str::to_string),
                severity: c.alert["severity"].as_str().and_then(Severity::parse),
                data: c.alert.to_string(),
            });
        }
        rest.sort_by_key(|m| m.seq);
        batch.extend(rest);
        self.hub.publish(batch);
    }

    fn rolled_back(&mut self) {
        self.pending.clear();
    }
}
