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
use crate::record::{RejectRow, StoredEvent};
use crate::{now_ms, StoreError};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{channel, sync_channel, Receiver, Sender, SyncSender, TrySendError};
use std::sync::Arc;
use std::thread::JoinHandle;

mod amplify;
mod commit;
mod hook;
mod turn;

use amplify::Amplification;
use commit::{commit, Feed};

pub(crate) use amplify::count_wal_bytes;

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

/// A job on its way to the writer, with its subject batch built by the submitting thread.
pub(super) struct Queued<T> {
    pub(super) job: Job<T>,
    pub(super) subjects: Option<crate::subjects::Prepared>,
    /// The duplicate check's keys (`dedup/`), also worked out before the writer (empty with
    /// the unique index).
    pub(super) checks: Vec<crate::dedup::Check>,
    /// How its bodies are stored (`envelope.rs`), also worked out before the writer.
    pub(super) packs: Vec<crate::envelope::Pack>,
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
    tx: SyncSender<Queued<T>>,
    queued_bytes: Arc<AtomicU64>,
    options: WriterOptions,
    /// Whether the writer checks duplicates in its key table (`[store] dedup = "memory"`, or
    /// `auto` once it switched): then submitters work out the keys.
    keyed: Arc<AtomicBool>,
}

impl<T: Send + 'static> Clone for Writer<T> {
    fn clone(&self) -> Self {
        Writer {
            tx: self.tx.clone(),
            queued_bytes: self.queued_bytes.clone(),
            options: self.options,
            keyed: self.keyed.clone(),
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
    /// `auto`: with the index (`dedup` is `None`), switch to the key table when the index
    /// makes commits rewrite a page per event (`[store] dedup = "auto"`).
    pub(crate) fn start(
        conn: SharedConn,
        dedup: Option<crate::dedup::Dedup>,
        auto: bool,
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
        let keyed = Arc::new(AtomicBool::new(dedup.is_some()));
        let state = WriterThread {
            conn,
            auto: auto && dedup.is_none(),
            keyed: keyed.clone(),
            dedup,
            rx,
            queued_bytes: queued_bytes.clone(),
            options,
            hook,
            last_recv: 0,
            health,
            failure_log: Throttle::new(std::time::Duration::from_secs(10)),
            amplification: Amplification::new(),
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
                keyed,
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
        let subjects = crate::subjects::prepare(&job.events);
        let checks = if self.keyed.load(Ordering::Acquire) {
            crate::dedup::prepare(&job.events)
        } else {
            Vec::new()
        };
        let packs = crate::envelope::pack_all(&job.events);
        match self.tx.try_send(Queued {
            job,
            subjects,
            checks,
            packs,
        }) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(queued)) => {
                self.queued_bytes.fetch_sub(bytes, Ordering::SeqCst);
                Err(SubmitError::Full(Box::new(queued.job)))
            }
            Err(TrySendError::Disconnected(queued)) => {
                self.queued_bytes.fetch_sub(bytes, Ordering::SeqCst);
                Err(SubmitError::Closed(Box::new(queued.job)))
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
    /// Every stored id's key (`dedup/`, `[store] dedup = "memory"`): only the writer inserts
    /// events.
    dedup: Option<crate::dedup::Dedup>,
    /// Switches to the key table when the index costs a page per event (`amplify.rs`).
    auto: bool,
    /// Tells submitters to work out the keys once the table is in use.
    keyed: Arc<AtomicBool>,
    rx: Receiver<Queued<T>>,
    queued_bytes: Arc<AtomicU64>,
    options: WriterOptions,
    hook: Box<dyn CommitHook<T>>,
    last_recv: i64,
    health: Arc<Health>,
    failure_log: Throttle,
    /// Whether the unique index makes commits rewrite a page per event (`amplify.rs`).
    amplification: Amplification,
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
        jobs: &mut Vec<Queued<T>>,
        deferred: &mut VecDeque<Queued<T>>,
        passed: &mut usize,
    ) {
        let mut events = 0;
        let mut open = true;
        if deferred.is_empty() {
            match self.rx.recv() {
                Ok(q) if self.hook.background(&q.job.extra) => deferred.push_back(q),
                Ok(q) => {
                    events += q.job.events.len();
                    jobs.push(q);
                }
                Err(_) => open = false,
            }
        }
        while open && events < self.options.max_commit_events {
            match self.rx.try_recv() {
                Ok(q) if self.hook.background(&q.job.extra) => deferred.push_back(q),
                Ok(q) => {
                    events += q.job.events.len();
                    jobs.push(q);
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

    /// `[store] dedup = "auto"`: the index made the last commits write `ratio` times their
    /// events' bytes, so the duplicate check moves to the key table (once: the store remembers
    /// by having no index). Between commits, in the writer's turn; a failure keeps the index
    /// until the next start.
    fn switch(&mut self, ratio: f64) {
        let started = std::time::Instant::now();
        let switched = {
            let _turn = take_turn(&self.turn);
            let mut conn = lock_conn(&self.conn);
            crate::dedup::Dedup::switch(&mut conn)
        };
        match switched {
            // A warning: memory grows per event from now on, which an operator should know.
            Ok(dedup) => {
                tracing::warn!(
                    wal_bytes_per_event_byte = format!("{ratio:.1}"),
                    keys = dedup.len(),
                    seconds = format!("{:.2}", started.elapsed().as_secs_f64()),
                    "the duplicate check moved from the index to memory ([store] dedup = \"auto\"): \
                     the event ids do not sort in the order they are sent, so the index made \
                     each commit write {ratio:.0}× its events' bytes; memory now grows by 10–15 \
                     bytes per stored event with an id (docs/OPERATIONS.md \"Memory\")"
                );
                self.dedup = Some(dedup);
                self.keyed.store(true, Ordering::Release);
                self.auto = false;
            }
            // Not again before a restart: each try reads every stored id, and a cause that
            // lasts (a full disk) would make every window pay for it.
            Err(e) => {
                self.auto = false;
                tracing::warn!(
                    "the duplicate check stays on the index until the next start: moving it to \
                     memory failed: {e}"
                );
                self.amplification.warn(ratio);
            }
        }
    }

    fn run(mut self) {
        let mut jobs: Vec<Queued<T>> = Vec::new();
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
            let background = jobs.iter().all(|q| self.hook.background(&q.job.extra));
            let (result, head, wal) = {
                let _turn = take_turn(&self.turn);
                let mut conn = lock_conn(&self.conn);
                // The WAL bytes of this commit alone: nothing else writes while the
                // connection is held.
                let wal_before = self.health.wal_bytes();
                let mut feed = Feed {
                    rx: &self.rx,
                    deferred: &mut deferred,
                    events: jobs.iter().map(|q| q.job.events.len()).sum(),
                    max_events: self.options.max_commit_events,
                    joined: false,
                };
                let feed = background.then_some(&mut feed);
                let result = commit(
                    &mut conn,
                    self.dedup.as_mut(),
                    &mut jobs,
                    recv_ms,
                    &mut *self.hook,
                    feed,
                );
                // For the high-water mark: durable now, acknowledged just below. Read in the
                // turn: after it, the notifier's outbox may hold the connection for its own
                // transaction, and the jobs' answers must not wait for that.
                let head = result.is_ok().then(|| crate::mark::stored_head(&conn));
                (result, head, self.health.wal_bytes() - wal_before)
            };
            // Jobs that joined the commit through its feed are counted here too.
            let bytes: u64 = jobs.iter().map(|q| q.job.bytes()).sum();
            self.queued_bytes.fetch_sub(bytes, Ordering::SeqCst);
            match result {
                Ok(outcomes) => {
                    match head {
                        Some(Ok(head)) => self.health.committed(head),
                        Some(Err(e)) => tracing::warn!("cannot read the sequence head: {e}"),
                        None => {}
                    }
                    self.failure_log.reset();
                    // The events stored: a duplicate writes nothing.
                    let (count, bytes) = jobs
                        .iter()
                        .zip(&outcomes)
                        .flat_map(|(q, o)| q.job.events.iter().zip(&o.inserted))
                        .filter(|(_, stored)| **stored)
                        .fold((0, 0u64), |(n, b), (e, _)| (n + 1, b + e.body.len() as u64));
                    self.health.events_written(bytes);
                    // The key table (`memory`) has no index to rewrite.
                    let costly = if self.dedup.is_none() {
                        self.amplification.observe(wal, bytes, count)
                    } else {
                        None
                    };
                    let mut spent = Vec::with_capacity(jobs.len());
                    for (Queued { job, .. }, outcome) in jobs.drain(..).zip(outcomes) {
                        self.hook.committed(&job.events, &job.extra, &outcome);
                        (job.done)(Ok(outcome));
                        spent.push((job.events, job.extra));
                    }
                    if let Some(releaser) = &self.spent {
                        // A stopped releaser hands the rows back in the error: freed here.
                        let _ = releaser.send(spent);
                    }
                    // After the answers: the move reads every stored id.
                    match costly {
                        Some(ratio) if self.auto => self.switch(ratio),
                        Some(ratio) => self.amplification.warn(ratio),
                        None => {}
                    }
                }
                Err(e) => {
                    if let Some(dedup) = &mut self.dedup {
                        dedup.rolled_back();
                    }
                    self.hook.rolled_back();
                    if let Some(held) = self.failure_log.allow() {
                        tracing::error!(repeated = held, "commit failed: {e}");
                    }
                    self.health.commit_failed(e.to_string());
                    // Every job of the commit gets the same error (the cause, not re-wrapped).
                    for Queued { job, .. } in jobs.drain(..) {
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

#[cfg(test)]
mod tests;
