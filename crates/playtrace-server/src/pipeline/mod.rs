//! What happens around each commit of the store's writer: alerts raised inside the transaction
//! (durable with the events that raised them), then, once durable, metrics, live correlation and
//! the fan-out. This runs on the writer's thread, which every request waits for, so it only
//! hands rows on: nothing when nobody listens, and the stream messages are shaped by the fan-out
//! task, whose consumers (the stream, notifications) run on their own tasks.

pub(crate) mod budgets;
pub(crate) mod fold;
pub(crate) mod history;
pub(crate) mod limits;
pub(crate) mod live;
pub(crate) mod maintain;

use crate::alerting::budget::BudgetChange;
use crate::alerting::lifecycle::{self, LifecycleOp};
use crate::alerting::{act, raise, AlertAction, AlertChange, Origin};
use crate::fanout::Publisher;
use crate::ingest::replay::ReplayMark;
use crate::metrics::Metrics;
use crate::pipeline::live::apply_commit;
use playtrace_core::alert::{alert_id, AlertCandidate, RuleSet};
use playtrace_core::contest::LiveContests;
use playtrace_core::event::Event;
use playtrace_core::scan::ObservationBatch;
use playtrace_store::{CommitHook, CommitOutcome, Job, Kind, StoreError, StoredEvent, Tx};
use serde_json::Value;
use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use tokio::sync::oneshot;

/// Where an action's result is left for the request that asked for it.
pub(crate) type ActionResult = Arc<Mutex<Option<Option<Value>>>>;

/// What a writer job carries besides its rows.
pub(crate) enum Work {
    /// Ingested events: their contest observations and the alerts they may raise.
    Ingest(Ingested),
    /// Budget status changes, and the budget alerts they fire or resolve.
    Budget(Vec<BudgetChange>),
    /// An admin action on an alert.
    Action {
        id: String,
        action: AlertAction,
        /// The alert afterwards (`Some(None)`: no such alert).
        result: ActionResult,
    },
    /// Plan drift alerts to raise or resolve (`alerting/drift.rs`).
    Plan(Vec<crate::alerting::drift::DriftChange>),
    /// An erasure (`POST /v1/erasures`): what it removed is left in `result`.
    Erase {
        erasure: playtrace_store::Erasure,
        result: Arc<Mutex<Option<playtrace_store::Erased>>>,
    },
    /// Alerts raised by the collector itself (a game over its limits), each with its game.
    Raise(Vec<(String, AlertCandidate)>),
    /// Budget history count changes (`history.rs`), and the sequence number they count up to.
    History {
        changes: Vec<playtrace_store::RollupChange>,
        mark: Option<playtrace_store::RollupMark>,
    },
    /// Silences made or ended, and what time changed.
    Lifecycle {
        op: LifecycleOp,
        /// The silence afterwards (`Some(None)`: no such silence).
        result: ActionResult,
    },
    /// A message of the cluster's log (`cluster/`), applied like the job it carries.
    Replicated(Box<crate::cluster::replicated::Replicated<Work>>),
}

/// What ingest hands the writer besides the rows, prepared on the request's thread so the one
/// writer thread every request waits for does no more than store them: the contest
/// observations, and the alert candidates the rules found (raised inside the transaction only
/// for events that were stored, not for duplicates).
#[derive(Default)]
pub(crate) struct Ingested {
    /// Shared with the fold thread, which folds them after the commit.
    observations: Arc<ObservationBatch>,
    /// `(index of the event in the job, candidate)`, in event order.
    alerts: Vec<(usize, AlertCandidate)>,
    /// Set for a replay of stored rejects: each is marked replayed inside the commit.
    replayed: Vec<ReplayMark>,
    /// Told once the job's events are in the live state ([`Ingested::fold_signal`]); taken by
    /// the hook, which only sees the job by reference.
    folded: Mutex<Option<oneshot::Sender<()>>>,
}

impl Ingested {
    /// Evaluates `rules` over `events` (a cheap substring test first; only events a rule may
    /// match are read again as JSON).
    pub(crate) fn new(
        rules: &RuleSet,
        events: &[StoredEvent],
        observations: ObservationBatch,
    ) -> Ingested {
        let mut alerts = Vec::new();
        for (i, e) in events.iter().enumerate() {
            if !rules.may_match(&e.name, &e.body) {
                continue;
            }
            let Some(event) = serde_json::from_str(&e.body)
                .ok()
                .and_then(|o| Event::from_object(o).ok())
            else {
                continue;
            };
            alerts.extend(rules.evaluate(&event).into_iter().map(|c| (i, c)));
        }
        Ingested {
            observations: Arc::new(observations),
            alerts,
            replayed: Vec::new(),
            folded: Mutex::new(None),
        }
    }

    /// Completes once the committed events are folded into the live state (an error: there was
    /// nothing to fold, or the job was not committed). A request awaits it before answering, so
    /// what it stored is in `/v1/budgets` when the client reads them.
    pub(crate) fn fold_signal(&mut self) -> oneshot::Receiver<()> {
        let (tx, rx) = oneshot::channel();
        *self.folded.get_mut().unwrap_or_else(|p| p.into_inner()) = Some(tx);
        rx
    }

    /// Makes this a replay of stored rejects: the rejects are marked replayed in the commit,
    /// and the alerts their events raise say `replayed: true` (a moderator sees old events).
    pub(crate) fn replaying(mut self, marks: Vec<ReplayMark>) -> Ingested {
        for (_, candidate) in &mut self.alerts {
            candidate.data.insert("replayed".into(), Value::Bool(true));
        }
        self.replayed = marks;
        self
    }
}

/// A job for the store's writer.
pub(crate) type WorkJob = Job<Work>;

/// Stream rows a job wrote inside the transaction, in sequence order.
type Pending = Vec<StoredEvent>;

/// The collector's commit hook.
pub(crate) struct ServerHook {
    live: Arc<Mutex<LiveContests>>,
    /// The fold thread (`fold.rs`); `None` if it could not start (folded here then).
    fold: Option<std::sync::mpsc::Sender<fold::FoldJob>>,
    metrics: Arc<Metrics>,
    fanout: Publisher,
    /// Rows (alert and budget changes) the jobs of the current transaction wrote, in job order.
    pending: VecDeque<Pending>,
    /// Receivers are configured: alert changes are journaled for the notifier in the same
    /// transaction.
    notify: bool,
}

impl ServerHook {
    /// A hook over the collector's shared parts.
    pub(crate) fn new(
        live: Arc<Mutex<LiveContests>>,
        metrics: Arc<Metrics>,
        fanout: Publisher,
    ) -> Self {
        let fold = match fold::start(live.clone()) {
            Ok(tx) => Some(tx),
            Err(e) => {
                tracing::warn!("cannot start the fold thread ({e}); the writer folds instead");
                None
            }
        };
        ServerHook {
            live,
            fold,
            metrics,
            fanout,
            pending: VecDeque::new(),
            notify: false,
        }
    }

    /// Alert changes are also journaled for the notifier (`enabled`: receivers are
    /// configured), durably with the change.
    pub(crate) fn with_notify(mut self, enabled: bool) -> Self {
        self.notify = enabled;
        self
    }

    /// Raises the prepared candidates of the events that were stored (a duplicate raised its
    /// alert when it was first stored).
    fn raise_for_events(
        tx: &Tx<'_>,
        events: &[StoredEvent],
        ingested: &Ingested,
        changes: &mut Vec<AlertChange>,
    ) -> Result<(), StoreError> {
        for (i, candidate) in &ingested.alerts {
            let Some(e) = events.get(*i).filter(|e| e.seq != 0) else {
                continue;
            };
            let origin = Origin {
                game: e.game(),
                env: e.env.as_deref(),
                event_seq: Some(e.seq),
            };
            let change = raise(tx, candidate, &origin)?;
            // The alert's row names the event's subjects: an erasure finds it too.
            tx.index_subjects(change.record.seq, &e.subjects)?;
            changes.push(change);
        }
        Ok(())
    }
}

fn record_budgets(
    tx: &Tx<'_>,
    budget_changes: &[BudgetChange],
    rows: &mut Pending,
) -> Result<(), StoreError> {
    let origin = Origin {
        game: None,
        env: None,
        event_seq: None,
    };
    for b in budget_changes {
        if let Some(status) = &b.status {
            rows.push(tx.append(Kind::Budget, "budget", None, None, status.to_string())?);
        }
        if let Some(candidate) = &b.fire {
            rows.push(raise(tx, candidate, &origin)?.record);
        }
        if let Some(fp) = &b.resolve {
            rows.extend(act(tx, &alert_id(fp), &AlertAction::Resolve)?.map(|c| c.record));
        }
    }
    Ok(())
}

impl CommitHook<Work> for ServerHook {
    fn in_transaction(
        &mut self,
        tx: &Tx<'_>,
        events: &[StoredEvent],
        work: &Work,
        _outcome: &CommitOutcome,
    ) -> Result<(), StoreError> {
        let mut rows = Vec::new();
        match work {
            Work::Replicated(job) => {
                if crate::cluster::replicated::advance(tx, job)? {
                    return self.in_transaction(tx, events, &job.work, _outcome);
                }
                // Fenced off: nothing but the bookmark (the rows of `committed` stay empty).
                self.pending.push_back(rows);
                return Ok(());
            }
            Work::Ingest(ingested) => {
                let mut changes = Vec::new();
                Self::raise_for_events(tx, events, ingested, &mut changes)?;
                crate::ingest::replay::mark_in_commit(tx, events, &ingested.replayed)?;
                rows.extend(changes.into_iter().map(|c| c.record));
            }
            Work::Budget(budget_changes) => record_budgets(tx, budget_changes, &mut rows)?,
            Work::Plan(changes) => crate::alerting::drift::record(tx, changes, &mut rows)?,
            Work::Raise(alerts) => {
                for (game, candidate) in alerts {
                    let origin = Origin {
                        game: (!game.is_empty()).then_some(game.as_str()),
                        env: None,
                        event_seq: None,
                    };
                    rows.push(raise(tx, candidate, &origin)?.record);
                }
            }
            Work::Action { id, action, result } => {
                let change = act(tx, id, action)?;
                let mut slot = result.lock().unwrap_or_else(|p| p.into_inner());
                *slot = Some(change.as_ref().map(|c| c.alert.clone()));
                rows.extend(change.map(|c| c.record));
            }
            Work::Erase { erasure, result } => {
                let erased = tx.erase(erasure)?;
                *result.lock().unwrap_or_else(|p| p.into_inner()) = Some(erased);
            }
            Work::History { changes, mark } => tx.add_rollups(changes, *mark)?,
            Work::Lifecycle { op, result } => {
                let (answer, changes) = lifecycle::run(tx, op)?;
                let mut slot = result.lock().unwrap_or_else(|p| p.into_inner());
                *slot = Some(answer);
                rows.extend(changes.into_iter().map(|c| c.record));
            }
        }
        if self.notify {
            crate::notify::record(tx, &rows)?;
        }
        self.pending.push_back(rows);
        Ok(())
    }

    fn committed(&mut self, events: &[StoredEvent], work: &Work, outcome: &CommitOutcome) {
        self.committed_job(events, work, outcome, false);
    }

    fn rolled_back(&mut self) {
        self.pending.clear();
    }

    fn recv_ms(&self, work: &Work) -> Option<i64> {
        match work {
            Work::Replicated(job) => Some(job.position.recv_ms),
            _ => None,
        }
    }

    /// A replay's pages yield to live ingest and every other write (docs/REJECTS.md).
    fn background(&self, work: &Work) -> bool {
        matches!(work, Work::Ingest(ingested) if !ingested.replayed.is_empty())
    }
}

impl ServerHook {
    /// After a durable commit. `replicated`: a job of the cluster's log, folded here (its
    /// answer does not wait for the fold thread); other ingest is folded on the fold thread.
    fn committed_job(
        &mut self,
        events: &[StoredEvent],
        work: &Work,
        outcome: &CommitOutcome,
        replicated: bool,
    ) {
        if let Work::Replicated(job) = work {
            return self.committed_job(events, &job.work, outcome, true);
        }
        let rows = self.pending.pop_front().unwrap_or_default();
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
        if let Work::Ingest(ingested) = work {
            self.fold(events, ingested, outcome, replicated);
        }
        if !self.fanout.has_subscribers() {
            return;
        }
        let mut batch = Vec::with_capacity(outcome.accepted as usize + rows.len());
        if self.fanout.wants_events() {
            batch.extend(events.iter().filter(|e| e.seq != 0).cloned());
        }
        batch.extend(rows);
        self.fanout.publish(batch);
    }

    /// Folds a committed ingest job into the live state: handed to the fold thread, so the
    /// writer goes on to the next commit (~a quarter of its time was this fold).
    fn fold(
        &mut self,
        events: &[StoredEvent],
        ingested: &Ingested,
        outcome: &CommitOutcome,
        replicated: bool,
    ) {
        let done = ingested
            .folded
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if ingested.observations.observations.is_empty() {
            return;
        }
        if !replicated {
            if let Some(thread) = &self.fold {
                let job = fold::FoldJob::new(
                    events,
                    ingested.observations.clone(),
                    &ingested.replayed,
                    outcome,
                    done,
                );
                match thread.send(job) {
                    Ok(()) => return,
                    // The thread stopped (a panic): folded here from now on.
                    Err(back) => {
                        self.fold = None;
                        back.0.apply(&self.live);
                        return;
                    }
                }
            }
        }
        let recv = crate::ingest::replay::receive_times(&ingested.replayed, events.len());
        apply_commit(&self.live, events, &ingested.observations, outcome, recv);
        if let Some(done) = done {
            let _ = done.send(());
        }
    }
}
