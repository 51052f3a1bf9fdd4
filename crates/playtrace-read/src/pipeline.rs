//! Reading inputs on every core while folding results in input order.
//!
//! ```text
//!  N worker threads, each in a loop:
//!    take the next chunk from the shared ChunkSource (under a lock: reading is ~10% of the
//!    work, so the other worker keeps scanning meanwhile)
//!    scan it into an ObservationBatch (and run the caller's Extract over its lines)
//!    fold every batch that is next in input order (if no other worker is folding already)
//! ```
//!
//! There is no reader thread and no folding thread: on two cores, two threads do all the work,
//! and nothing competes with them for a core. Batches carry a sequence number and are folded
//! strictly in order, so "a later event wins" holds and results do not depend on the number of
//! threads. A worker never runs more than `AHEAD` chunks ahead of the fold, so memory stays
//! bounded even behind one slow chunk (a large document).

use crate::chunks::{Chunk, ChunkSource, BLOCK_BYTES};
use crate::input::Input;
use crate::{ReadError, ReadLimits, ReadOptions, SinkError};
use playtrace_core::contest::Correlator;
use playtrace_core::reject::{LineError, Reject, RejectCounts};
use playtrace_core::scan::{BatchOptions, ObservationBatch};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex, TryLockError};
use std::time::Duration;

/// What the pipeline read.
#[derive(Debug, Default, Clone, Copy)]
pub struct ReadStats {
    /// Lines read (blank and rejected ones included).
    pub lines: u64,
    /// Rejects by kind.
    pub rejects: RejectCounts,
}

/// Extra work on every block of whole lines, done by the scanning threads beside the scan and
/// handed back in input order: how `export` collects transcript lines in the same single pass
/// that feeds the report. Implementations should look for what they want with a fast search
/// over the block (`memchr::memmem`), not line by line.
pub trait Extract: Sync {
    /// What one block yields.
    type Found: Send + Default;
    /// Looks at one block of whole lines (called on several threads at once).
    fn extract(&self, lines: &[u8], found: &mut Self::Found);

    /// Looks at a whole-file JSON document (a pretty-printed timeline, an array of events),
    /// which never reaches [`Extract::extract`]. Most extracts want lines only: nothing by
    /// default.
    fn extract_document(&self, _document: &serde_json::Value, _found: &mut Self::Found) {}

    /// Told how many lines the block held (oversize lines and documents included), after the
    /// block is scanned: what an extract numbering lines by input needs. Nothing by default.
    fn block_lines(&self, _lines: u32, _found: &mut Self::Found) {}
}

/// No extra work: what `monitor` reads with.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoExtract;

impl Extract for NoExtract {
    type Found = ();
    #[inline]
    fn extract(&self, _lines: &[u8], _found: &mut ()) {}
}

/// Where a reject goes: the caller's sink (a failure stops the run as [`ReadError::Sink`]).
pub type RejectSink<'a> = dyn FnMut(Reject) -> Result<(), SinkError> + Send + 'a;

/// Where extracted items go, in input order.
pub type FoundSink<'a, F> = dyn FnMut(F) -> Result<(), SinkError> + Send + 'a;

/// Reads every input with `options.workers` threads, folds batches into `correlator` in input
/// order, and hands every reject (with its input and line) to `on_reject`.
pub fn read(
    inputs: Vec<Input>,
    options: ReadOptions,
    correlator: &mut Correlator,
    on_reject: &mut RejectSink<'_>,
) -> Result<ReadStats, ReadError> {
    read_extracting(
        inputs,
        options,
        correlator,
        &NoExtract,
        &mut |()| Ok(()),
        on_reject,
    )
}

/// How many chunks a worker may take beyond the next one to fold, per worker.
const AHEAD_PER_WORKER: u64 = 3;

struct Done<F> {
    input: usize,
    buffer: Vec<u8>,
    batch: ObservationBatch,
    found: F,
}

/// A reusable buffer and batch.
type Spare = (Vec<u8>, ObservationBatch);

/// The shared input: the chunk source and the sequence number of the next chunk.
struct Source {
    chunks: ChunkSource,
    seq: u64,
    error: Option<ReadError>,
}

/// [`read`], also running `extract` over every block and handing what it found to `on_found`
/// in input order.
pub fn read_extracting<E: Extract>(
    inputs: Vec<Input>,
    options: ReadOptions,
    correlator: &mut Correlator,
    extract: &E,
    on_found: &mut FoundSink<'_, E::Found>,
    on_reject: &mut RejectSink<'_>,
) -> Result<ReadStats, ReadError> {
    let (workers, limits) = (options.workers, options.limits);
    let options = correlator.batch_options();
    let dim_attrs = correlator.dim_attrs().to_vec();
    let names: Vec<String> = inputs.iter().map(|i| i.name.clone()).collect();
    let workers = workers.max(1);
    let source = Mutex::new(Source {
        chunks: ChunkSource::new(inputs, limits),
        seq: 0,
        error: None,
    });
    let fold = Fold {
        state: Mutex::new(FoldState {
            correlator,
            on_reject,
            on_found,
            names: &names,
            stats: ReadStats::default(),
            next: 0,
            current_input: usize::MAX,
            line_base: 0,
            error: None,
        }),
        ready: Mutex::new(BTreeMap::new()),
        spares: Mutex::new(Vec::new()),
        folded: Mutex::new(0),
        progress: Condvar::new(),
        failed: AtomicBool::new(false),
        ahead: AHEAD_PER_WORKER * workers as u64,
    };

    std::thread::scope(|scope| -> Result<(), ReadError> {
        let mut handles = Vec::with_capacity(workers);
        for i in 0..workers {
            let (source, fold, dim_attrs) = (&source, &fold, &dim_attrs);
            let spawned = std::thread::Builder::new()
                .name(format!("scan-{i}"))
                .spawn_scoped(scope, move || {
                    work(source, fold, (options, dim_attrs), limits, extract)
                });
            match spawned {
                Ok(handle) => handles.push(handle),
                Err(e) => {
                    // Stop the workers already started before reporting.
                    fold.failed.store(true, Ordering::Relaxed);
                    fold.progress.notify_all();
                    return Err(ReadError::Thread(e));
                }
            }
        }
        for handle in handles {
            handle.join().map_err(|_| ReadError::Panicked)?;
        }
        Ok(())
    })?;

    let source = source.into_inner().map_err(|_| ReadError::Panicked)?;
    if let Some(e) = source.error {
        return Err(e);
    }
    let state = fold.state.into_inner().map_err(|_| ReadError::Panicked)?;
    if let Some(e) = state.error {
        return Err(e);
    }
    Ok(state.stats)
}

/// One worker: take a chunk, scan it, fold what is ready; until the input ends or fails.
fn work<E: Extract>(
    source: &Mutex<Source>,
    fold: &Fold<'_, E::Found>,
    (options, dim_attrs): (BatchOptions, &[String]),
    limits: ReadLimits,
    extract: &E,
) {
    loop {
        if fold.failed.load(Ordering::Relaxed) {
            return;
        }
        let (buffer, mut batch) = fold
            .spares
            .lock()
            .ok()
            .and_then(|mut s| s.pop())
            .unwrap_or_default();
        let (seq, input, chunk) = {
            let Ok(mut src) = source.lock() else { return };
            if !fold.wait_for_room(src.seq) {
                return;
            }
            match src.chunks.next_chunk(buffer) {
                Ok(Some((input, chunk))) => {
                    let seq = src.seq;
                    src.seq += 1;
                    (seq, input, chunk)
                }
                Ok(None) => return,
                Err(error) => {
                    let input = src.chunks.current_name().to_string();
                    src.error = Some(ReadError::Io { input, error });
                    fold.failed.store(true, Ordering::Relaxed);
                    fold.progress.notify_all();
                    return;
                }
            }
        };
        batch.clear();
        // The attributes of the correlator's `[[dimensions]]` (none: nothing is read).
        batch.set_dim_attrs(dim_attrs.to_vec());
        let mut found = E::Found::default();
        let buffer = scan_chunk(chunk, &mut batch, options, limits, extract, &mut found);
        extract.block_lines(batch.lines, &mut found);
        fold.offer(
            seq,
            Done {
                input,
                buffer,
                batch,
                found,
            },
        );
    }
}

/// Batches waiting for their turn, and the fold itself.
struct Fold<'a, F> {
    state: Mutex<FoldState<'a, F>>,
    ready: Mutex<BTreeMap<u64, Done<F>>>,
    spares: Mutex<Vec<Spare>>,
    /// Sequence number of the next batch to fold, for workers waiting for room.
    folded: Mutex<u64>,
    progress: Condvar,
    failed: AtomicBool,
    ahead: u64,
}

struct FoldState<'a, F> {
    correlator: &'a mut Correlator,
    on_reject: &'a mut RejectSink<'a>,
    on_found: &'a mut FoundSink<'a, F>,
    names: &'a [String],
    stats: ReadStats,
    next: u64,
    current_input: usize,
    line_base: u64,
    error: Option<ReadError>,
}

impl<F> Fold<'_, F> {
    /// Waits until chunk `seq` is within reach of the fold; `false` if the run failed.
    fn wait_for_room(&self, seq: u64) -> bool {
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

    /// Offers a scanned batch; folds every batch that is next in order unless another worker
    /// is folding already (that worker then folds this one too).
    fn offer(&self, seq: u64, done: Done<F>) {
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
                match state.fold(item) {
                    Ok(spare) => {
                        if let Ok(mut spares) = self.spares.lock() {
                            if spares.len() < self.ahead as usize {
                                spares.push(spare);
                            }
                        }
                    }
                    Err(e) => {
                        state.error = Some(e);
                        self.failed.store(true, Ordering::Relaxed);
                        self.progress.notify_all();
                        return;
                    }
                }
                if let Ok(mut folded) = self.folded.lock() {
                    *folded = state.next;
                }
                self.progress.notify_all();
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

impl<F> FoldState<'_, F> {
    /// Folds one batch; returns its buffer and batch for reuse.
    fn fold(&mut self, item: Done<F>) -> Result<Spare, ReadError> {
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
        self.correlator.apply(&item.batch);
        self.line_base += u64::from(item.batch.lines);
        self.stats.lines += u64::from(item.batch.lines);
        let mut buffer = item.buffer;
        if buffer.capacity() > 4 * BLOCK_BYTES {
            buffer = Vec::new();
        }
        Ok((buffer, item.batch))
    }
}

/// Scans one chunk into `batch` (and `extract` over its lines into `found`); returns the
/// chunk's buffer for reuse.
fn scan_chunk<E: Extract>(
    chunk: Chunk,
    batch: &mut ObservationBatch,
    options: BatchOptions,
    limits: ReadLimits,
    extract: &E,
    found: &mut E::Found,
) -> Vec<u8> {
    match chunk {
        Chunk::Lines { buffer, len } => {
            batch.push_lines(&buffer[..len], options);
            extract.extract(&buffer[..len], found);
            buffer
        }
        Chunk::Document(buffer) => {
            match serde_json::from_slice(&buffer) {
                Ok(value) => {
                    extract.extract_document(&value, found);
                    batch.push_document(0, value, &buffer, options);
                    batch.lines = line_count(&buffer);
                }
                // Not one document after all (say, NDJSON whose first line is cut short).
                Err(_) => {
                    batch.push_lines(&buffer, options);
                    extract.extract(&buffer, found);
                }
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
