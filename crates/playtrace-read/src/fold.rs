//! Folding scanned batches into the correlator on every worker, with results that do not depend
//! on how many there are.
//!
//! ```text
//!  scanned batch (any order) ─► ready, by sequence number
//!     │  in input order, one worker at a time (cheap): rejects and extracts to the caller's
//!     │  sinks, then the correlator's Ordered::prepare (arming links, expiries, sentiment, groups)
//!     ▼
//!  one queue per contest shard ─► each shard folds its contests' events of every batch in input
//!                                 order; different shards run on different workers at once
//! ```
//!
//! A contest's events all reach one shard, in input order, so "a later event wins" is decided by
//! position in the input whatever thread folds it. A batch's buffers are reused once every shard
//! has folded it; `folded` (the batches every shard is done with) is what workers wait on before
//! taking a block too far ahead.

use crate::chunks::BLOCK_BYTES;
use crate::{ReadError, SinkError};
use playtrace_core::contest::{ContestShard, Ordered, Prepared};
use playtrace_core::reject::{Reject, RejectCounts};
use playtrace_core::scan::ObservationBatch;
use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, TryLockError};
use std::time::Duration;

/// What the pipeline read.
#[derive(Debug, Default, Clone, Copy)]
pub struct ReadStats {
    /// Lines read (blank and rejected ones included).
    pub lines: u64,
    /// Rejects by kind.
    pub rejects: RejectCounts,
}

/// Where a reject goes: the caller's sink (a failure stops the run as [`ReadError::Sink`]).
pub type RejectSink<'a> = dyn FnMut(Reject) -> Result<(), SinkError> + Send + 'a;

/// Where extracted items go, in input order.
pub type FoundSink<'a, F> = dyn FnMut(F) -> Result<(), SinkError> + Send + 'a;

/// A scanned batch waiting for its turn in input order.
pub(crate) struct Done<F> {
    pub(crate) input: usize,
    pub(crate) buffer: Vec<u8>,
    pub(crate) batch: ObservationBatch,
    pub(crate) prepared: Prepared,
    pub(crate) found: F,
}

/// A batch past the in-order part, waiting for the shards.
struct Prepped {
    buffer: Vec<u8>,
    batch: ObservationBatch,
    prepared: Prepared,
}

/// A reusable buffer, batch and preparation.
pub(crate) type Spare = (Vec<u8>, ObservationBatch, Prepared);

/// One shard of the contests and the batches it has still to fold.
struct Slot<'a> {
    shard: Mutex<&'a mut ContestShard>,
    queue: Mutex<VecDeque<Arc<Prepped>>>,
    /// Batches this shard has folded.
    done: AtomicU64,
}

/// Batches waiting for their turn, the in-order part, and the shards.
pub(crate) struct Fold<'a, F> {
    state: Mutex<FoldState<'a, F>>,
    ready: Mutex<BTreeMap<u64, Done<F>>>,
    slots: Vec<Slot<'a>>,
    spares: Mutex<Vec<Spare>>,
    /// Batches every shard has folded, for workers waiting for room.
    folded: Mutex<u64>,
    progress: Condvar,
    pub(crate) failed: AtomicBool,
    ahead: u64,
    /// Whether the shards fold contests (`false`: the reader wants rejects and extracts only;
    /// batches still pass through the shards' queues, which pace the workers).
    correlate: bool,
}

/// The in-order part: the correlator's [`Ordered`] and the caller's sinks.
struct FoldState<'a, F> {
    ordered: &'a mut Ordered,
    on_reject: &'a mut RejectSink<'a>,
    on_found: &'a mut FoundSink<'a, F>,
    names: &'a [String],
    stats: ReadStats,
    next: u64,
    current_input: usize,
    line_base: u64,
    error: Option<ReadError>,
    correlate: bool,
}

impl<'a, F> Fold<'a, F> {
    pub(crate) fn new(
        (ordered, shards): (&'a mut Ordered, &'a mut [ContestShard]),
        on_reject: &'a mut RejectSink<'a>,
        on_found: &'a mut FoundSink<'a, F>,
        names: &'a [String],
        (ahead, correlate): (u64, bool),
    ) -> Self {
        Fold {
            state: Mutex::new(FoldState {
                ordered,
                on_reject,
                on_found,
                names,
                stats: ReadStats::default(),
                next: 0,
                current_input: usize::MAX,
                line_base: 0,
                error: None,
                correlate,
            }),
            ready: Mutex::new(BTreeMap::new()),
            slots: shards
                .iter_mut()
                .map(|shard| Slot {
                    shard: Mutex::new(shard),
                    queue: Mutex::new(VecDeque::new()),
                    done: AtomicU64::new(0),
                })
                .collect(),
            spares: Mutex::new(Vec::new()),
            folded: Mutex::new(0),
            progress: Condvar::new(),
            failed: AtomicBool::new(false),
            ahead,
            correlate,
        }
    }

    /// Stops the workers (a failure elsewhere).
    pub(crate) fn fail(&self) {
        self.failed.store(true, Ordering::Relaxed);
        self.progress.notify_all();
    }

    /// A buffer and batch to reuse, or new ones.
    pub(crate) fn spare(&self) -> Spare {
        self.spares
            .lock()
            .ok()
            .and_then(|mut s| s.pop())
            .unwrap_or_default()
    }

    /// What was read, or why reading stopped.
    pub(crate) fn finish(self) -> Result<ReadStats, ReadError> {
        // Every worker has left: fold whatever a race left behind (normally nothing).
        if !self.failed.load(Ordering::Relaxed) {
            self.fold_ready();
            for i in 0..self.slots.len() {
                self.drain(i);
            }
        }
        let state = self.state.into_inner().map_err(|_| ReadError::Panicked)?;
        match state.error {
            Some(e) => Err(e),
            None => Ok(state.stats),
        }
    }

    /// Waits until chunk `seq` is within reach of the fold; `false` if the run failed.
    pub(crate) fn wait_for_room(&self, seq: u64) -> bool {
        let Ok(mut folded) = self.folded.lock() else {
            return false;
        };
        while seq >= *folded + self.ahead {
            if self.failed.load(Ordering::Relaxed) {
                return false;
            }
            // The timeout only guards against a missed wake-up; folds normally notify.
            match self
                .progress
                .wait_timeout(folded, Duration::from_millis(50))
            {
                Ok((guard, _)) => folded = guard,
                Err(_) => return false,
            }
        }
        !self.failed.load(Ordering::Relaxed)
    }

    /// Offers a scanned batch: passes every batch that is next in order through the in-order
    /// part (unless another worker is doing so already; that worker then takes this one too),
    /// then folds shards that no other worker is folding, starting with shard `worker`.
    pub(crate) fn offer(&self, seq: u64, done: Done<F>, worker: usize) {
        if let Ok(mut ready) = self.ready.lock() {
            ready.insert(seq, done);
        }
        self.fold_ready();
        let n = self.slots.len();
        for k in 0..n {
            self.drain((worker + k) % n);
        }
    }

    /// The in-order part of every batch that is next in order; each then waits in every
    /// shard's queue.
    fn fold_ready(&self) {
        loop {
            let mut state = match self.state.try_lock() {
                Ok(state) => state,
                Err(TryLockError::WouldBlock) => return,
                Err(TryLockError::Poisoned(_)) => {
                    self.fail();
                    return;
                }
            };
            loop {
                let next = state.next;
                let item = self.ready.lock().ok().and_then(|mut r| r.remove(&next));
                let Some(item) = item else { break };
                state.next += 1;
                match state.fold(item) {
                    Ok(prepped) => {
                        let prepped = Arc::new(prepped);
                        for slot in &self.slots {
                            if let Ok(mut queue) = slot.queue.lock() {
                                queue.push_back(Arc::clone(&prepped));
                            }
                        }
                    }
                    Err(e) => {
                        state.error = Some(e);
                        self.fail();
                        return;
                    }
                }
            }
            let next = state.next;
            drop(state);
            // A batch may have arrived after the last look but before the lock was released;
            // its worker found the lock taken and left the batch to us.
            let more = self
                .ready
                .lock()
                .map(|r| r.contains_key(&next))
                .unwrap_or(false);
            if !more {
                return;
            }
        }
    }

    /// Folds the batches queued for shard `i`, unless another worker is folding it (that worker
    /// then folds what was queued meanwhile).
    fn drain(&self, i: usize) {
        let Some(slot) = self.slots.get(i) else {
            return;
        };
        loop {
            let mut shard = match slot.shard.try_lock() {
                Ok(shard) => shard,
                Err(TryLockError::WouldBlock) => return,
                Err(TryLockError::Poisoned(_)) => {
                    self.fail();
                    return;
                }
            };
            loop {
                if self.failed.load(Ordering::Relaxed) {
                    return;
                }
                let item = slot.queue.lock().ok().and_then(|mut q| q.pop_front());
                let Some(item) = item else { break };
                if self.correlate {
                    shard.apply(&item.batch, &item.prepared);
                }
                slot.done.fetch_add(1, Ordering::AcqRel);
                self.recycle(item);
                self.advance();
            }
            drop(shard);
            let more = slot.queue.lock().map(|q| !q.is_empty()).unwrap_or(false);
            if !more {
                return;
            }
        }
    }

    /// Keeps a batch's buffers for reuse once the last shard is done with it.
    fn recycle(&self, item: Arc<Prepped>) {
        let Ok(Prepped {
            mut buffer,
            batch,
            prepared,
        }) = Arc::try_unwrap(item)
        else {
            return;
        };
        if buffer.capacity() > 4 * BLOCK_BYTES {
            buffer = Vec::new();
        }
        if let Ok(mut spares) = self.spares.lock() {
            if spares.len() < self.ahead as usize {
                spares.push((buffer, batch, prepared));
            }
        }
    }

    /// Moves `folded` to the batches every shard is done with, and wakes waiting workers.
    fn advance(&self) {
        let min = self
            .slots
            .iter()
            .map(|s| s.done.load(Ordering::Acquire))
            .min()
            .unwrap_or(0);
        if let Ok(mut folded) = self.folded.lock() {
            if min > *folded {
                *folded = min;
            }
        }
        self.progress.notify_all();
    }
}

impl<F> FoldState<'_, F> {
    /// The in-order part of one batch: rejects (numbered by input line) and extracts to the
    /// caller's sinks, then the correlator's [`Ordered::prepare`].
    fn fold(&mut self, item: Done<F>) -> Result<Prepped, ReadError> {
        if item.input != self.current_input {
            self.current_input = item.input;
            self.line_base = 0;
        }
        for r in &item.batch.rejects {
            self.stats.rejects.add(r.kind);
            (self.on_reject)(Reject {
                file: self.names[item.input].clone(),
                line: self.line_base + u64::from(r.line) + 1,
                kind: r.kind,
                message: r.message.clone(),
                raw: r.raw.clone(),
            })
            .map_err(ReadError::Sink)?;
        }
        (self.on_found)(item.found).map_err(ReadError::Sink)?;
        let mut prepared = item.prepared;
        if self.correlate {
            self.ordered.prepare(&item.batch, &mut prepared);
        }
        self.line_base += u64::from(item.batch.lines);
        self.stats.lines += u64::from(item.batch.lines);
        Ok(Prepped {
            buffer: item.buffer,
            batch: item.batch,
            prepared,
        })
    }
}
