//! The single writer: group commit of queued requests, completion after durability.
//!
//! Requests are queued as [`Job`]s on a bounded queue (bounded in requests and in bytes, so a
//! store that cannot keep up answers "try later" instead of growing memory). The writer thread
//! takes every job waiting, inserts all of them in one transaction and commits once; with
//! `synchronous=FULL` the commit returns only when the WAL is on disk. Then, in commit order, it
//! calls the [`CommitHook`] (the collector's alerts, live correlation and streams) and each
//! job's completion. The hook may also write rows inside the transaction (alerts caused by the
//! job's events), so those are durable together with the events.

use crate::health::{Health, Throttle};
use crate::insert::{insert_events, Inserted};
use crate::record::{RejectRow, StoredEvent};
use crate::{now_ms, StoreError};
use rusqlite::{params, Connection};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{channel, sync_channel, Receiver, Sender, SyncSender, TrySendError};
use std::sync::Arc;
use std::thread::JoinHandle;

mod hook;
mod turn;

pub use hook::{AfterCommit, CommitHook, Tx};
pub(crate) use turn::{lock_conn, take_turn, SharedConn, WriteTurn};

/// What a commit did with one job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitOutcome {
    /// Receive time stamped on the job's events, epoch ms.
    pub recv_ms: i64,
    /// Per event of the job: stored (`true`) or a duplicate of a stored one (`false`).
    pub inserted: Vec<bool>,
    /// Number of events stored.
    pub accepted: u64,
    /// Number of duplicates.
    pub duplicates: u64,
    /// Events in the whole commit this job was part of.
    pub commit_events: u64,
    /// Whether this job was the first of its commit (count commits once).
    pub first_in_commit: bool,
    /// Per event: its sequence number in the store (`0` for a duplicate).
    pub seqs: Vec<i64>,
}

/// Called with the job's result once it is durable (or failed).
pub type Completion = Box<dyn FnOnce(Result<CommitOutcome, StoreError>) + Send>;

/// One request's worth of rows.
pub struct Job<T> {
    /// Events, in request order (`seq` and `recv_ms` are stamped at the commit).
    pub events: Vec<StoredEvent>,
    /// Rejected lines.
    pub rejects: Vec<RejectRow>,
    /// Caller data handed to the [`CommitHook`] (e.g. observations for live correlation).
    pub extra: T,
    /// Completion.
    pub done: Completion,
}

impl<T> Job<T> {
    fn bytes(&self) -> u64 {
        let events: usize = self.events.iter().map(|e| e.body.len() + 64).sum();
        let rejects: usize = self.rejects.iter().map(|r| r.raw.len() + 64).sum();
        (events + rejects) as u64
    }
}

/// Queue bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriterOptions {
    /// Requests waiting at most.
    pub queue_requests: usize,
    /// Bytes waiting at most (bodies of queued events and rejects).
    pub queue_bytes: u64,
    /// Events per transaction at most (a larger backlog is committed in several).
    pub max_commit_events: usize,
}

impl Default for WriterOptions {
    fn default() -> Self {
        WriterOptions {
            queue_requests: 1024,
            queue_bytes: 64 << 20,
            max_commit_events: 100_000,
        }
    }
}

/// Why a job was not queued.
pub enum SubmitError<T> {
    /// The queue is full: the store is not keeping up. The job is handed back.
    Full(Box<Job<T>>),
    /// The writer has stopped.
    Closed(Box<Job<T>>),
}

impl<T> std::fmt::Debug for SubmitError<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SubmitError::Full(_) => "the store queue is full",
            SubmitError::Closed(_) => "the store writer has stopped",
        })
    }
}

/// Handle to the writer thread. Dropping every handle (and calling [`Writer::join`]) lets the
/// writer finish what is queued and stop.
pub struct Writer<T: Send + 'static> {
    tx: SyncSender<Job<T>>,
    queued_bytes: Arc<AtomicU64>,
    options: WriterOptions,
}

impl<T: Send + 'static> Clone for Writer<T> {
    fn clone(&self) -> Self {
        Writer {
            tx: self.tx.clone(),
            queued_bytes: self.queued_bytes.clone(),
            options: self.options,
        }
    }
}

/// The one place that puts everything the collector records in order: events, alert changes
/// and budget changes get their sequence numbers (the stream ids) from whoever takes the jobs.
/// Today that is the SQLite [`Writer`]; a replicated log (e.g. NATS JetStream) can sit behind
/// the same ingest and fan-out by implementing this.
pub trait Log<T>: Send + Sync {
    /// Queues a job without waiting; a full queue hands it back.
    fn try_submit(&self, job: Job<T>) -> Result<(), SubmitError<T>>;
}

impl<T: Send + 'static> Log<T> for Writer<T> {
    fn try_submit(&self, job: Job<T>) -> Result<(), SubmitError<T>> {
        Writer::try_submit(self, job)
    }
}

impl<T: Send + 'static> Writer<T> {
    /// Starts the writer on `conn` (opened and migrated by the store); it takes `turn` for each
    /// transaction.
    pub(crate) fn start(
        conn: SharedConn,
        options: WriterOptions,
        hook: Box<dyn CommitHook<T>>,
        health: Arc<Health>,
        turn: Arc<WriteTurn>,
    ) -> std::io::Result<(Writer<T>, JoinHandle<()>)> {
        // The commit's statements (multi-row inserts, subjects, rejects, alerts, outbox) stay
        // prepared across commits.
        // The outbox's statements (`Outbox`, through the same connection) stay prepared too.
        lock_conn(&conn).set_prepared_statement_cache_capacity(96);
        let (tx, rx) = sync_channel(options.queue_requests.max(1));
        let queued_bytes = Arc::new(AtomicU64::new(0));
        let state = WriterThread {
            conn,
            rx,
            queued_bytes: queued_bytes.clone(),
            options,
            hook,
            last_recv: 0,
            health,
            failure_log: Throttle::new(std::time::Duration::from_secs(10)),
            spent: spawn_releaser(),
            turn,
        };
        let handle = std::thread::Builder::new()
            .name("playtrace-writer".into())
            .spawn(move || state.run())?;
        Ok((
            Writer {
                tx,
                queued_bytes,
                options,
            },
            handle,
        ))
    }

    /// Queues a job without waiting; a full queue hands it back.
    pub fn try_submit(&self, job: Job<T>) -> Result<(), SubmitError<T>> {
        let bytes = job.bytes();
        let before = self.queued_bytes.fetch_add(bytes, Ordering::SeqCst);
        // One request alone may exceed the byte bound (it fits the body limit): let it in when
        // nothing else is waiting.
        if before > 0 && before + bytes > self.options.queue_bytes {
            self.queued_bytes.fetch_sub(bytes, Ordering::SeqCst);
            return Err(SubmitError::Full(Box::new(job)));
        }
        match self.tx.try_send(job) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(job)) => {
                self.queued_bytes.fetch_sub(bytes, Ordering::SeqCst);
                Err(SubmitError::Full(Box::new(job)))
            }
            Err(TrySendError::Disconnected(job)) => {
                self.queued_bytes.fetch_sub(bytes, Ordering::SeqCst);
                Err(SubmitError::Closed(Box::new(job)))
            }
        }
    }

    /// Bytes waiting to be committed.
    pub fn queued_bytes(&self) -> u64 {
        self.queued_bytes.load(Ordering::Relaxed)
    }
}

struct WriterThread<T: 'static> {
    conn: SharedConn,
    rx: Receiver<Job<T>>,
    queued_bytes: Arc<AtomicU64>,
    options: WriterOptions,
    hook: Box<dyn CommitHook<T>>,
    last_recv: i64,
    health: Arc<Health>,
    failure_log: Throttle,
    /// Where committed jobs' rows go to be freed (`None`: freed here).
    spent: Option<Sender<Spent<T>>>,
    turn: Arc<WriteTurn>,
}

/// Commits a background job may wait through before one of them joins a commit anyway.
const STARVED: usize = 8;

/// A commit's rows after every job was answered.
type Spent<T> = Vec<(Vec<StoredEvent>, T)>;

/// Freeing a commit's rows (thousands of strings) costs the writer ~5% of its time, and every
/// ingest request waits for that one thread: a helper thread frees them instead. It never falls
/// behind (freeing is cheaper than what made the rows), so its queue needs no bound.
fn spawn_releaser<T: Send + 'static>() -> Option<Sender<Spent<T>>> {
    let (tx, rx) = channel::<Spent<T>>();
    std::thread::Builder::new()
        .name("playtrace-free".into())
        .spawn(move || while rx.recv().is_ok() {})
        .ok()?;
    Some(tx)
}

impl<T: Send + 'static> WriterThread<T> {
    /// The next commit's jobs: every job waiting (up to `max_commit_events`), except background
    /// jobs, which wait in `deferred` until a commit finds nothing else waiting; such a
    /// background commit starts with one of them and takes the rest through its [`Feed`]. Empty
    /// when the queue is closed and nothing is left.
    fn gather(
        &mut self,
        jobs: &mut Vec<Job<T>>,
        deferred: &mut VecDeque<Job<T>>,
        passed: &mut usize,
    ) {
        let mut events = 0;
        let mut open = true;
        if deferred.is_empty() {
            match self.rx.recv() {
                Ok(job) if self.hook.background(&job.extra) => deferred.push_back(job),
                Ok(job) => {
                    events += job.events.len();
                    jobs.push(job);
                }
                Err(_) => open = false,
            }
        }
        while open && events < self.options.max_commit_events {
            match self.rx.try_recv() {
                Ok(job) if self.hook.background(&job.extra) => deferred.push_back(job),
                Ok(job) => {
                    events += job.events.len();
                    jobs.push(job);
                }
                Err(_) => break,
            }
        }
        if !jobs.is_empty() {
            // Under a flood that never leaves the queue empty the background still moves: one
            // of its jobs joins every `STARVED`th commit it waited through.
            *passed += usize::from(!deferred.is_empty());
            if *passed >= STARVED {
                *passed = 0;
                jobs.extend(deferred.pop_front());
            }
            return;
        }
        *passed = 0;
        jobs.extend(deferred.pop_front());
    }

    fn run(mut self) {
        let mut jobs: Vec<Job<T>> = Vec::new();
        let mut deferred = VecDeque::new();
        let mut passed = 0;
        loop {
            self.gather(&mut jobs, &mut deferred, &mut passed);
            if jobs.is_empty() {
                break;
            }
            // Receive times never go backwards, so retention can find cut-offs by sequence.
            let recv_ms = now_ms().max(self.last_recv);
            self.last_recv = recv_ms;
            let background = jobs.iter().all(|j| self.hook.background(&j.extra));
            let (result, head) = {
                let _turn = take_turn(&self.turn);
                let mut conn = lock_conn(&self.conn);
                let mut feed = Feed {
                    rx: &self.rx,
                    deferred: &mut deferred,
                    events: jobs.iter().map(|j| j.events.len()).sum(),
                    max_events: self.options.max_commit_events,
                    joined: false,
                };
                let feed = background.then_some(&mut feed);
                let result = commit(&mut conn, &mut jobs, recv_ms, &mut *self.hook, feed);
                // For the high-water mark: durable now, acknowledged just below. Read in the
                // turn: after it, the notifier's outbox may hold the connection for its own
                // transaction, and the jobs' answers must not wait for that.
                let head = result.is_ok().then(|| crate::mark::stored_head(&conn));
                (result, head)
            };
            // Jobs that joined the commit through its feed are counted here too.
            let bytes: u64 = jobs.iter().map(Job::bytes).sum();
            self.queued_bytes.fetch_sub(bytes, Ordering::SeqCst);
            match result {
                Ok(outcomes) => {
                    match head {
                        Some(Ok(head)) => self.health.committed(head),
                        Some(Err(e)) => tracing::warn!("cannot read the sequence head: {e}"),
                        None => {}
                    }
                    self.failure_log.reset();
                    let mut spent = Vec::with_capacity(jobs.len());
                    for (job, outcome) in jobs.drain(..).zip(outcomes) {
                        self.hook.committed(&job.events, &job.extra, &outcome);
                        (job.done)(Ok(outcome));
                        spent.push((job.events, job.extra));
                    }
                    if let Some(releaser) = &self.spent {
                        // A stopped releaser hands the rows back in the error: freed here.
                        let _ = releaser.send(spent);
                    }
                }
                Err(e) => {
                    self.hook.rolled_back();
                    if let Some(held) = self.failure_log.allow() {
                        tracing::error!(repeated = held, "commit failed: {e}");
                    }
                    self.health.commit_failed(e.to_string());
                    // Every job of the commit gets the same error (the cause, not re-wrapped).
                    for job in jobs.drain(..) {
                        (job.done)(Err(match &e {
                            StoreError::Full(cause) => StoreError::Full(cause.clone()),
                            other => StoreError::Commit(other.to_string()),
                        }));
                    }
                }
            }
        }
    }
}

/// Feeds a background commit in progress: between one job's rows and the next, a live job
/// that arrived meanwhile joins this commit and ends the run of background jobs, so it waits
/// for at most the one background job being written (a replay page) and the commit itself,
/// not for every page set aside; while nothing else arrives, the next background job joins.
struct Feed<'a, T: 'static> {
    rx: &'a Receiver<Job<T>>,
    deferred: &'a mut VecDeque<Job<T>>,
    /// Events in the commit so far.
    events: usize,
    max_events: usize,
    /// Whether a live job joined (no more background jobs then).
    joined: bool,
}

impl<T: 'static> Feed<'_, T> {
    /// The next job for the commit, if any.
    fn next(&mut self, hook: &dyn CommitHook<T>) -> Option<Job<T>> {
        if self.events >= self.max_events {
            return None;
        }
        let job = loop {
            match self.rx.try_recv() {
                Ok(job) if hook.background(&job.extra) => self.deferred.push_back(job),
                Ok(job) => {
                    self.joined = true;
                    break job;
                }
                Err(_) if self.joined => return None,
                Err(_) => break self.deferred.pop_front()?,
            }
        };
        self.events += job.events.len();
        Some(job)
    }
}

fn commit<T: 'static>(
    conn: &mut Connection,
    jobs: &mut Vec<Job<T>>,
    recv_ms: i64,
    hook: &mut dyn CommitHook<T>,
    mut feed: Option<&mut Feed<'_, T>>,
) -> Result<Vec<CommitOutcome>, StoreError> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let mut outcomes = Vec::with_capacity(jobs.len());
    // At least the largest sequence any stored event has (new rows are numbered past it).
    let mut head = crate::mark::stored_head(&tx)?;
    // The commit's subject keys, indexed as one batch (`subjects.rs`).
    let mut postings = Vec::new();
    {
        let mut reject = tx.prepare_cached(
            "INSERT INTO rejects (recv_ms, line, kind, message, raw) VALUES (?1, ?2, ?3, ?4, ?5)",
        )?;
        let mut next = 0;
        while next < jobs.len() {
            let job = &mut jobs[next];
            next += 1;
            // In cluster mode a replicated message carries its own receive time.
            let recv_ms = hook.recv_ms(&job.extra).unwrap_or(recv_ms);
            let hook_tx = Tx { conn: &tx, recv_ms };
            let Inserted { inserted, seqs } =
                insert_events(&tx, &mut job.events, recv_ms, &mut head)?;
            for e in job.events.iter().filter(|e| e.seq != 0) {
                postings.extend(e.subjects.iter().map(|&key| (key, e.seq)));
            }
            let accepted = inserted.iter().filter(|&&stored| stored).count() as u64;
            let duplicates = inserted.len() as u64 - accepted;
            for r in &job.rejects {
                reject.execute(params![recv_ms, r.line, r.kind, r.message, r.raw])?;
            }
            let outcome = CommitOutcome {
                recv_ms,
                inserted,
                accepted,
                duplicates,
                // Set below, once the feed has added what it will.
                commit_events: 0,
                first_in_commit: outcomes.is_empty(),
                seqs,
            };
            hook.in_transaction(&hook_tx, &job.events, &job.extra, &outcome)?;
            outcomes.push(outcome);
            if next == jobs.len() {
                if let Some(job) = feed.as_mut().and_then(|f| f.next(&*hook)) {
                    jobs.push(job);
                }
            }
        }
    }
    let commit_events: u64 = jobs.iter().map(|j| j.events.len() as u64).sum();
    for outcome in &mut outcomes {
        outcome.commit_events = commit_events;
    }
    crate::subjects::append(&tx, postings)?;
    tx.commit()?;
    Ok(outcomes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{mpsc, Mutex};

    fn row(id: &str) -> StoredEvent {
        StoredEvent {
            game: "g".into(),
            id: Some(id.into()),
            name: "n".into(),
            body: format!(r#"{{"event":"n","id":"{id}"}}"#),
            ..StoredEvent::default()
        }
    }

    #[test]
    fn duplicates_are_stored_once_and_reported() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(crate::DB_FILE);
        let conn = crate::open(&path).unwrap();
        let (writer, handle) = Writer::<()>::start(
            Arc::new(Mutex::new(conn)),
            WriterOptions::default(),
            Box::new(AfterCommit(
                |_: &[StoredEvent], _: &(), _: &CommitOutcome| {},
            )),
            Arc::default(),
            Arc::default(),
        )
        .unwrap();
        let (tx, rx) = mpsc::channel();
        for ids in [vec!["a", "b", "a"], vec!["b", "c"]] {
            let tx = tx.clone();
            let job = Job {
                events: ids.into_iter().map(row).collect(),
                rejects: vec![],
                extra: (),
                done: Box::new(move |r| tx.send(r.unwrap()).unwrap()),
            };
            assert!(writer.try_submit(job).is_ok());
        }
        let first = rx.recv().unwrap();
        let second = rx.recv().unwrap();
        assert_eq!((first.accepted, first.duplicates), (2, 1));
        assert_eq!(first.inserted, vec![true, true, false]);
        assert_eq!((second.accepted, second.duplicates), (1, 1));
        drop(writer);
        handle.join().unwrap();
        let conn = crate::open(&path).unwrap();
        let n: i64 = conn
            .query_row("SELECT count(*) FROM events", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 3);
    }

    /// Jobs are `(name, background)`; the first job's transaction waits for `gate`, so the
    /// others are all queued while it commits.
    struct Ordered {
        gate: Option<mpsc::Receiver<()>>,
        order: mpsc::Sender<&'static str>,
        /// Told when the first job's transaction reaches the gate.
        entered: Option<mpsc::Sender<()>>,
    }

    impl CommitHook<(&'static str, bool)> for Ordered {
        fn in_transaction(
            &mut self,
            _: &Tx<'_>,
            _: &[StoredEvent],
            _: &(&'static str, bool),
            _: &CommitOutcome,
        ) -> Result<(), StoreError> {
            if let Some(gate) = self.gate.take() {
                if let Some(entered) = self.entered.take() {
                    entered.send(()).unwrap();
                }
                gate.recv().unwrap();
            }
            Ok(())
        }

        fn committed(&mut self, _: &[StoredEvent], job: &(&'static str, bool), _: &CommitOutcome) {
            self.order.send(job.0).unwrap();
        }

        fn background(&self, job: &(&'static str, bool)) -> bool {
            job.1
        }
    }

    /// A writer whose first transaction waits at `gate` (telling `entered` once it is there);
    /// each job's name goes to `order` in commit order and its outcome to `outcomes`.
    struct Gated {
        writer: Writer<(&'static str, bool)>,
        handle: JoinHandle<()>,
        gate: mpsc::Sender<()>,
        order: mpsc::Receiver<&'static str>,
        entered: mpsc::Receiver<()>,
        outcome_tx: mpsc::Sender<(&'static str, CommitOutcome)>,
        outcomes: mpsc::Receiver<(&'static str, CommitOutcome)>,
        _dir: tempfile::TempDir,
    }

    impl Gated {
        fn start() -> Gated {
            let dir = tempfile::tempdir().unwrap();
            let conn = crate::open(&dir.path().join(crate::DB_FILE)).unwrap();
            let (gate_tx, gate) = mpsc::channel();
            let (order_tx, order) = mpsc::channel();
            let (entered_tx, entered) = mpsc::channel();
            let hook = Ordered {
                gate: Some(gate),
                order: order_tx,
                entered: Some(entered_tx),
            };
            let (writer, handle) = Writer::start(
                Arc::new(Mutex::new(conn)),
                WriterOptions::default(),
                Box::new(hook),
                Arc::default(),
                Arc::default(),
            )
            .unwrap();
            let (outcome_tx, outcomes) = mpsc::channel();
            Gated {
                writer,
                handle,
                gate: gate_tx,
                order,
                entered,
                outcome_tx,
                outcomes,
                _dir: dir,
            }
        }

        fn submit(&self, name: &'static str, background: bool, id: &str) {
            let outcome_tx = self.outcome_tx.clone();
            let job = Job {
                events: vec![row(id)],
                rejects: vec![],
                extra: (name, background),
                done: Box::new(move |r| {
                    let _ = outcome_tx.send((name, r.unwrap()));
                }),
            };
            assert!(self.writer.try_submit(job).is_ok());
        }

        /// The next `n` outcomes, in completion order.
        fn outcomes(&self, n: usize) -> Vec<(&'static str, CommitOutcome)> {
            (0..n).map(|_| self.outcomes.recv().unwrap()).collect()
        }

        fn stop(self) {
            drop(self.writer);
            self.handle.join().unwrap();
        }
    }

    #[test]
    fn a_waiting_live_job_goes_before_queued_background_jobs() {
        let w = Gated::start();
        // Whichever of the next three the writer has taken off the queue by the time the first
        // job's transaction passes the gate, the live job is committed before both pages.
        w.submit("first", false, "a");
        w.submit("page 1", true, "b");
        w.submit("page 2", true, "c");
        w.submit("live", false, "d");
        w.gate.send(()).unwrap();
        w.outcomes(4);
        let order: Vec<_> = w.order.try_iter().collect();
        assert_eq!(order, ["first", "live", "page 1", "page 2"]);
        w.stop();
    }

    /// The defect: a background commit took every page set aside, and a live job arriving
    /// meanwhile waited for all of them plus a commit of its own. Now it joins the commit in
    /// progress right after the page being written, and the other pages wait.
    #[test]
    fn a_live_job_joins_a_background_commit_after_the_page_being_written() {
        let w = Gated::start();
        // Page 1's transaction waits at the gate; the live job is queued behind pages 2 and 3.
        w.submit("page 1", true, "a");
        w.entered.recv().unwrap();
        w.submit("page 2", true, "b");
        w.submit("page 3", true, "c");
        w.submit("live", false, "d");
        w.gate.send(()).unwrap();
        let done = w.outcomes(4);
        let order: Vec<_> = w.order.try_iter().collect();
        assert_eq!(order, ["page 1", "live", "page 2", "page 3"]);
        // Page 1 and the live job share one commit (one fsync); the other pages come after.
        let (_, live) = &done[1];
        assert!(!live.first_in_commit, "{done:?}");
        assert_eq!(live.commit_events, 2, "{done:?}");
        assert!(done[2].1.first_in_commit, "{done:?}");
        w.stop();
    }
}
