//! Reading inputs on both cores while folding results in input order.
//!
//! ```text
//!  reader thread ──chunks──▶ N worker threads: scan a chunk into an ObservationBatch, then
//!       ▲                    fold every batch that is next in input order (one at a time)
//!       └──── recycled buffers (bounded pool) ◀──┘
//! ```
//!
//! There is no separate folding thread: a worker that finishes a batch folds whatever is ready
//! in sequence (rejects to the sink, observations into the `Correlator`), and if another worker
//! is already folding it leaves its batch for that one. On two cores this keeps two threads
//! busy instead of three competing. The pool of buffers bounds memory: at most `POOL` chunks
//! and batches exist at once, whatever the input size; a slow fold slows the reader.

use super::input::Input;
use super::reader::{read_input, Chunk, ChunkSink, ReadLimits, BLOCK_BYTES};
use anyhow::{Context, Result};
use playtrace_core::contest::Correlator;
use playtrace_core::reject::{LineError, Reject, RejectCounts};
use playtrace_core::scan::{BatchOptions, ObservationBatch};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::TryLockError;
use std::sync::{Arc, Mutex};

/// What the pipeline read.
#[derive(Debug, Default, Clone, Copy)]
pub struct ReadStats {
    /// Lines read (blank and rejected ones included).
    pub lines: u64,
    /// Rejects by kind.
    pub rejects: RejectCounts,
}

struct Work {
    seq: u64,
    input: usize,
    chunk: Chunk,
    batch: ObservationBatch,
}

struct Done {
    input: usize,
    buffer: Vec<u8>,
    batch: ObservationBatch,
}

type Token = (Vec<u8>, ObservationBatch);

/// Where a reject goes: the caller's sink.
pub type RejectSink<'a> = dyn FnMut(Reject) -> Result<()> + Send + 'a;

/// Reads every input with `workers` scanning threads, folds batches into `correlator` in input
/// order, and hands every reject (with its input and line) to `on_reject`.
pub fn run(
    inputs: Vec<Input>,
    workers: usize,
    limits: ReadLimits,
    correlator: &mut Correlator,
    on_reject: &mut RejectSink<'_>,
) -> Result<ReadStats> {
    let options = correlator.batch_options();
    let names: Vec<String> = inputs.iter().map(|i| i.name.clone()).collect();
    let workers = workers.max(1);
    let pool_size = workers * 3;
    let fold = Fold {
        state: Mutex::new(FoldState {
            correlator,
            on_reject,
            names: &names,
            stats: ReadStats::default(),
            next: 0,
            current_input: usize::MAX,
            line_base: 0,
            error: None,
        }),
        ready: Mutex::new(BTreeMap::new()),
        failed: AtomicBool::new(false),
    };

    let read = std::thread::scope(|scope| -> Result<Result<()>> {
        let (free_tx, free_rx) = sync_channel::<Token>(pool_size);
        for _ in 0..pool_size {
            let _ = free_tx.send((Vec::new(), ObservationBatch::default()));
        }
        let (work_tx, work_rx) = sync_channel::<Work>(pool_size);
        let work_rx = Arc::new(Mutex::new(work_rx));
        let reader = std::thread::Builder::new()
            .name("read".into())
            .spawn_scoped(scope, move || read_all(inputs, limits, free_rx, work_tx))
            .context("cannot start the reader thread")?;
        let mut scanners = Vec::with_capacity(workers);
        for i in 0..workers {
            let (work_rx, fold, free_tx) = (Arc::clone(&work_rx), &fold, free_tx.clone());
            let handle = std::thread::Builder::new()
                .name(format!("scan-{i}"))
                .spawn_scoped(scope, move || {
                    scan_and_fold(&work_rx, fold, &free_tx, options, limits)
                })
                .context("cannot start a scanning thread")?;
            scanners.push(handle);
        }
        // Only the workers hold these now: when they stop, the reader stops too.
        drop(free_tx);
        drop(work_rx);
        for handle in scanners {
            handle
                .join()
                .map_err(|_| anyhow::anyhow!("a scanning thread panicked"))?;
        }
        // The workers are gone, so both channels are closed and the reader cannot block.
        reader
            .join()
            .map_err(|_| anyhow::anyhow!("the input reader thread panicked"))
    })?;

    let state = fold
        .state
        .into_inner()
        .map_err(|_| anyhow::anyhow!("folding failed"))?;
    if let Some(e) = state.error {
        return Err(e);
    }
    read?;
    Ok(state.stats)
}

/// Batches waiting for their turn, and the fold itself.
struct Fold<'a> {
    state: Mutex<FoldState<'a>>,
    ready: Mutex<BTreeMap<u64, Done>>,
    failed: AtomicBool,
}

struct FoldState<'a> {
    correlator: &'a mut Correlator,
    on_reject: &'a mut RejectSink<'a>,
    names: &'a [String],
    stats: ReadStats,
    next: u64,
    current_input: usize,
    line_base: u64,
    error: Option<anyhow::Error>,
}

impl Fold<'_> {
    /// Offers a scanned batch; folds every batch that is next in order unless another worker
    /// is folding already (that worker then folds this one too).
    fn offer(&self, seq: u64, done: Done, free: &SyncSender<Token>) {
        if let Ok(mut ready) = self.ready.lock() {
            ready.insert(seq, done);
        }
        loop {
            let mut state = match self.state.try_lock() {
                Ok(state) => state,
                Err(TryLockError::WouldBlock) => return,
                Err(TryLockError::Poisoned(_)) => {
                    self.failed.store(true, Ordering::Relaxed);
                    return;
                }
            };
            loop {
                let next = state.next;
                let item = self.ready.lock().ok().and_then(|mut r| r.remove(&next));
                let Some(item) = item else { break };
                state.next += 1;
                if let Err(e) = state.fold(item, free) {
                    state.error = Some(e);
                    self.failed.store(true, Ordering::Relaxed);
                    return;
                }
            }
            let next = state.next;
            drop(state);
            // A batch may have arrived after the last look but before the fold lock was
            // released; its worker found the lock taken and left the batch to us.
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
}

impl FoldState<'_> {
    fn fold(&mut self, item: Done, free: &SyncSender<Token>) -> Result<()> {
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
            })?;
        }
        self.correlator.apply(&item.batch);
        self.line_base += u64::from(item.batch.lines);
        self.stats.lines += u64::from(item.batch.lines);
        let mut buffer = item.buffer;
        if buffer.capacity() > 4 * BLOCK_BYTES {
            buffer = Vec::new();
        }
        // The reader may have finished; a closed pool is fine.
        let _ = free.try_send((buffer, item.batch));
        Ok(())
    }
}

/// Feeds the workers, taking a recycled buffer and batch from the pool for every chunk.
struct PoolSink<'a> {
    free: &'a Receiver<Token>,
    work: &'a SyncSender<Work>,
    input: usize,
    seq: &'a mut u64,
    spare_batch: Option<ObservationBatch>,
    stopped: bool,
}

impl ChunkSink for PoolSink<'_> {
    fn buffer(&mut self) -> Option<Vec<u8>> {
        match self.free.recv() {
            Ok((buffer, batch)) => {
                self.spare_batch = Some(batch);
                Some(buffer)
            }
            Err(_) => {
                self.stopped = true;
                None
            }
        }
    }

    fn emit(&mut self, chunk: Chunk) -> bool {
        let batch = self.spare_batch.take().unwrap_or_default();
        let work = Work {
            seq: *self.seq,
            input: self.input,
            chunk,
            batch,
        };
        if self.work.send(work).is_err() {
            self.stopped = true;
            return false;
        }
        *self.seq += 1;
        true
    }
}

fn read_all(
    mut inputs: Vec<Input>,
    limits: ReadLimits,
    free: Receiver<Token>,
    work: SyncSender<Work>,
) -> Result<()> {
    let mut seq = 0u64;
    for (index, input) in inputs.iter_mut().enumerate() {
        let mut sink = PoolSink {
            free: &free,
            work: &work,
            input: index,
            seq: &mut seq,
            spare_batch: None,
            stopped: false,
        };
        read_input(input, limits, &mut sink)
            .with_context(|| format!("cannot read `{}`", input.name))?;
        if sink.stopped {
            break;
        }
    }
    Ok(())
}

fn scan_and_fold(
    work: &Mutex<Receiver<Work>>,
    fold: &Fold<'_>,
    free: &SyncSender<Token>,
    options: BatchOptions,
    limits: ReadLimits,
) {
    loop {
        if fold.failed.load(Ordering::Relaxed) {
            return;
        }
        let next = match work.lock() {
            Ok(rx) => rx.recv(),
            Err(_) => return,
        };
        let Ok(Work {
            seq,
            input,
            chunk,
            mut batch,
        }) = next
        else {
            return;
        };
        batch.clear();
        let buffer = scan_chunk(chunk, &mut batch, options, limits);
        fold.offer(
            seq,
            Done {
                input,
                buffer,
                batch,
            },
            free,
        );
    }
}

/// Scans one chunk into `batch`; returns the chunk's buffer for reuse.
fn scan_chunk(
    chunk: Chunk,
    batch: &mut ObservationBatch,
    options: BatchOptions,
    limits: ReadLimits,
) -> Vec<u8> {
    match chunk {
        Chunk::Lines { buffer, len } => {
            batch.push_lines(&buffer[..len], options);
            buffer
        }
        Chunk::Document(buffer) => {
            match serde_json::from_slice(&buffer) {
                Ok(value) => {
                    batch.push_document(0, value, &buffer, options);
                    batch.lines = line_count(&buffer);
                }
                // Not one document after all (say, NDJSON whose first line is cut short).
                Err(_) => batch.push_lines(&buffer, options),
            }
            buffer
        }
        Chunk::Oversize {
            prefix,
            len,
            document,
        } => {
            let message = if document {
                format!(
                    "a JSON document of {len} bytes is over the {} byte limit; raise --max-document-bytes to read it",
                    limits.max_document
                )
            } else {
                format!(
                    "line of {len} bytes is over the {} byte limit; raise --max-line-bytes if such lines are expected",
                    limits.max_line
                )
            };
            batch.reject(0, LineError::size(message), &prefix);
            batch.lines = 1;
            prefix
        }
        Chunk::Broken { message } => {
            batch.reject(0, LineError::encoding(message), b"");
            Vec::new()
        }
    }
}

fn line_count(buffer: &[u8]) -> u32 {
    let newlines = memchr::memchr_iter(b'\n', buffer).count();
    let unterminated = usize::from(!buffer.is_empty() && !buffer.ends_with(b"\n"));
    (newlines + unterminated) as u32
}
