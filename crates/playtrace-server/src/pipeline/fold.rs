//! The live contest fold, off the store's writer thread: after each durable commit the writer
//! hands the job's contest observations here (with only what the fold needs of each event) and
//! goes on to the next commit, while this thread folds them into the live state, in commit
//! order, so "a later event for the same contest wins" (SPEC §3) holds as before. The request
//! that sent the events waits for its fold ([`Ingested::folded`]) before it answers, so an
//! answered ingest or replay is already in `/v1/budgets`, as it was when the writer folded.
//!
//! [`Ingested::folded`]: super::Ingested

use crate::ingest::replay::{receive_times, ReplayMark};
use playtrace_core::contest::{EventMeta, LiveContests};
use playtrace_core::scan::ObservationBatch;
use playtrace_store::{CommitOutcome, StoredEvent};
use std::sync::mpsc::{channel, Sender};
use std::sync::{Arc, Mutex};
use tokio::sync::oneshot;

/// Marks an event the store found to be a duplicate (folded when it was first stored).
const DUPLICATE: u32 = u32::MAX;

/// One committed job's fold.
pub(crate) struct FoldJob {
    observations: Arc<ObservationBatch>,
    /// The distinct `(game, env)` of the job's events, in first-seen order.
    scopes: Vec<(Option<String>, Option<String>)>,
    /// Per event: its index in `scopes`, or [`DUPLICATE`].
    scope_of: Vec<u32>,
    /// Replayed rejects: their events keep the reject's receive time.
    replayed: Vec<ReplayMark>,
    /// The commit's receive time, epoch ms.
    recv_ms: i64,
    /// The largest sequence number of the job.
    last_seq: Option<i64>,
    /// Told once the fold is done (dropped unsent when nobody waits).
    done: Option<oneshot::Sender<()>>,
}

impl FoldJob {
    /// What the fold needs of a committed job: a few strings per distinct scope, one number per
    /// event (cheap enough for the writer's thread, unlike the fold itself).
    pub(crate) fn new(
        events: &[StoredEvent],
        observations: Arc<ObservationBatch>,
        replayed: &[ReplayMark],
        outcome: &CommitOutcome,
        done: Option<oneshot::Sender<()>>,
    ) -> FoldJob {
        let mut scopes: Vec<(Option<String>, Option<String>)> = Vec::new();
        let mut scope_of = Vec::with_capacity(events.len());
        let mut last = None::<(u32, &StoredEvent)>;
        for e in events {
            if e.seq == 0 {
                scope_of.push(DUPLICATE);
                continue;
            }
            let index = match last {
                Some((i, prev)) if prev.game == e.game && prev.env == e.env => i,
                _ => {
                    let found = scopes.iter().position(|(g, v)| {
                        g.as_deref() == e.game() && v.as_deref() == e.env.as_deref()
                    });
                    let i = found.unwrap_or_else(|| {
                        scopes.push((
                            e.game().map(str::to_owned),
                            e.env.as_deref().map(str::to_owned),
                        ));
                        scopes.len() - 1
                    }) as u32;
                    last = Some((i, e));
                    i
                }
            };
            scope_of.push(index);
        }
        FoldJob {
            observations,
            scopes,
            scope_of,
            replayed: replayed.to_vec(),
            recv_ms: outcome.recv_ms,
            last_seq: events.iter().map(|e| e.seq).max().filter(|&s| s > 0),
            done,
        }
    }

    /// Folds the job into `live` (duplicates skipped, so a retried batch is counted once).
    pub(crate) fn apply(self, live: &Mutex<LiveContests>) {
        let recv = receive_times(&self.replayed, self.scope_of.len());
        let commit_ms = self.recv_ms as f64;
        {
            let mut live = live.lock().unwrap_or_else(|p| p.into_inner());
            live.apply(&self.observations, |i| {
                let (game, env) = self.scopes.get(*self.scope_of.get(i as usize)? as usize)?;
                Some(EventMeta {
                    game: game.as_deref(),
                    env: env.as_deref(),
                    recv_ms: recv
                        .get(i as usize)
                        .copied()
                        .flatten()
                        .map_or(commit_ms, |ms| ms as f64),
                })
            });
            if let Some(last) = self.last_seq {
                live.note_applied(last, self.recv_ms);
            }
        }
        if let Some(done) = self.done {
            let _ = done.send(());
        }
    }
}

/// The thread that folds committed jobs into the live state, in the order they are handed in.
/// It stops when its sender (the writer's hook) is dropped, after folding what was queued.
pub(crate) fn start(live: Arc<Mutex<LiveContests>>) -> std::io::Result<Sender<FoldJob>> {
    let (tx, rx) = channel::<FoldJob>();
    std::thread::Builder::new()
        .name("playtrace-fold".into())
        .spawn(move || {
            while let Ok(job) = rx.recv() {
                job.apply(&live);
            }
        })?;
    Ok(tx)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::Parsed;
    use crate::pipeline::live::apply_commit;
    use playtrace_core::budget::BudgetSet;
    use playtrace_core::contest::{BudgetQuery, LiveOptions};

    fn resolved(game: &str, contest: &str, resolution_ms: u64) -> String {
        format!(
            r#"{{"event":"telemetry.contest.resolved","game":"{game}","attrs":{{"hubId":"h","roomId":"r","contestKey":"k{contest}","contestId":"{contest}","outcomeTier":"success","armingDurationMs":100,"resolutionDurationMs":{resolution_ms}}}}}"#
        )
    }

    /// A committed job: the lines read as ingest reads them, with the store's sequence numbers
    /// (0: a duplicate).
    fn job(lines: &[String], seqs: &[i64]) -> (Vec<StoredEvent>, ObservationBatch) {
        let mut parsed = Parsed::default();
        for (i, l) in lines.iter().enumerate() {
            parsed.push_text(i as u32 + 1, l);
        }
        assert_eq!(parsed.events.len(), lines.len(), "{:?}", parsed.rejects);
        for (e, s) in parsed.events.iter_mut().zip(seqs) {
            e.seq = *s;
        }
        (parsed.events, parsed.observations)
    }

    fn outcome(recv_ms: i64) -> CommitOutcome {
        CommitOutcome {
            recv_ms,
            inserted: Vec::new(),
            accepted: 0,
            duplicates: 0,
            commit_events: 0,
            first_in_commit: true,
            seqs: Vec::new(),
        }
    }

    fn report(live: &Mutex<LiveContests>, now_ms: f64) -> String {
        let live = live.lock().unwrap();
        let mut out = String::new();
        for game in [None, Some("a".to_string()), Some("b".to_string())] {
            let query = BudgetQuery {
                game,
                ..BudgetQuery::default()
            };
            out.push_str(&format!(
                "{:?}\n",
                live.budgets(&query, &BudgetSet::default(), now_ms)
            ));
        }
        out.push_str(&format!("{:?} {:?}", live.history_mark(), live.samples()));
        out
    }

    #[test]
    fn the_fold_thread_folds_as_the_writer_did_in_commit_order() {
        let now = playtrace_store::now_ms();
        // Job 1: two games, and a contest whose later event (job 2) replaces its duration.
        let first = job(
            &[resolved("a", "c1", 500), resolved("b", "c2", 700)],
            &[1, 2],
        );
        // Job 2: the later event for c1 wins; a duplicate (seq 0) that must not count; a
        // replayed reject keeping its original receive time (an hour back is still in the 1h
        // window, out of the 5m one).
        let second = job(
            &[
                resolved("a", "c1", 900),
                resolved("a", "c3", 5_000),
                resolved("b", "c4", 300),
            ],
            &[3, 0, 4],
        );
        let marks = [ReplayMark {
            reject_seq: 7,
            first: 2,
            recv_ms: now - 50 * 60_000,
        }];
        let inline = Mutex::new(LiveContests::new(LiveOptions::default()));
        let threaded = Arc::new(Mutex::new(LiveContests::new(LiveOptions::default())));
        let thread = start(threaded.clone()).unwrap();
        let mut signals = Vec::new();
        for ((events, observations), marks) in [(first, &[][..]), (second, &marks[..])] {
            let recv = receive_times(marks, events.len());
            apply_commit(&inline, &events, &observations, &outcome(now), recv);
            let (tx, rx) = oneshot::channel();
            let job = FoldJob::new(
                &events,
                Arc::new(observations),
                marks,
                &outcome(now),
                Some(tx),
            );
            thread.send(job).unwrap();
            signals.push(rx);
        }
        for rx in signals {
            rx.blocking_recv().unwrap();
        }
        let expected = report(&inline, now as f64);
        assert_eq!(report(&threaded, now as f64), expected);
        // Not vacuous: three contests counted, two samples each (the duplicate c3 left out),
        // c1 once at its later 900 ms, the replayed c4 only in the 1h window.
        assert!(expected.contains("Some((4,"), "{expected}");
        assert_eq!(threaded.lock().unwrap().samples(), 6, "{expected}");
        assert!(
            expected.contains("max: Some(Num(900.0)), breached: true"),
            "{expected}"
        );
        assert!(!expected.contains("5000"), "{expected}");
    }
}
