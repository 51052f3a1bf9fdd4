//! Reading inputs on both cores while folding results in input order.
//!
//! ```text
//!  reader thread ──chunks──▶ N worker threads ──batches──▶ this thread (in sequence order)
//!       ▲  (scan lines into ObservationBatch)              │ rejects → sink, batch → Correlator
//!       └──────────── recycled buffers (bounded pool) ◀────┘
//! ```
//!
//! The pool of buffers bounds memory: at most `POOL` chunks and batches exist at once, whatever
//! the input size, and a slow consumer slows the reader instead of filling memory.

use super::input::Input;
use super::reader::{read_input, Chunk, ChunkSink, ReadLimits, BLOCK_BYTES};
use anyhow::{Context, Result};
use playtrace_core::contest::Correlator;
use playtrace_core::reject::{LineError, Reject, RejectCounts};
use playtrace_core::scan::{BatchOptions, ObservationBatch};
use std::collections::BTreeMap;
use std::sync::mpsc::{channel, sync_channel, Receiver, SyncSender};
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
    seq: u64,
    input: usize,
    buffer: Vec<u8>,
    batch: ObservationBatch,
}

type Token = (Vec<u8>, ObservationBatch);

/// Reads every input with `workers` scanning threads, folds batches into `correlator` in input
/// order, and hands every reject (with its input and line) to `on_reject`.
pub fn run(
    inputs: Vec<Input>,
    workers: usize,
    limits: ReadLimits,
    correlator: &mut Correlator,
    mut on_reject: impl FnMut(Reject) -> Result<()>,
) -> Result<ReadStats> {
    let options = correlator.batch_options();
    let names: Vec<String> = inputs.iter().map(|i| i.name.clone()).collect();
    let workers = workers.max(1);
    let pool_size = workers * 3;

    std::thread::scope(|scope| {
        let (free_tx, free_rx) = sync_channel::<Token>(pool_size);
        for _ in 0..pool_size {
            let _ = free_tx.send((
                Vec::with_capacity(BLOCK_BYTES + 64 * 1024),
                ObservationBatch::default(),
            ));
        }
        let (work_tx, work_rx) = sync_channel::<Work>(pool_size);
        let work_rx = Arc::new(Mutex::new(work_rx));
        let (done_tx, done_rx) = channel::<Done>();

        let reader = std::thread::Builder::new()
            .name("read".into())
            .spawn_scoped(scope, move || read_all(inputs, limits, free_rx, work_tx))
            .context("cannot start the reader thread")?;
        for i in 0..workers {
            let work_rx = Arc::clone(&work_rx);
            let done_tx = done_tx.clone();
            std::thread::Builder::new()
                .name(format!("scan-{i}"))
                .spawn_scoped(scope, move || {
                    scan_chunks(&work_rx, &done_tx, options, limits)
                })
                .context("cannot start a scanning thread")?;
        }
        drop(done_tx);

        let folded = fold_in_order(done_rx, &free_tx, &names, correlator, &mut on_reject);
        // Stop the reader if folding failed, then report the first error.
        drop(free_tx);
        let read = reader
            .join()
            .map_err(|_| anyhow::anyhow!("the input reader thread panicked"))?;
        let stats = folded?;
        read?;
        Ok(stats)
    })
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

fn scan_chunks(
    work: &Mutex<Receiver<Work>>,
    done: &std::sync::mpsc::Sender<Done>,
    options: BatchOptions,
    limits: ReadLimits,
) {
    loop {
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
        if done
            .send(Done {
                seq,
                input,
                buffer,
                batch,
            })
            .is_err()
        {
            return;
        }
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

fn fold_in_order(
    done: Receiver<Done>,
    free: &SyncSender<Token>,
    names: &[String],
    correlator: &mut Correlator,
    on_reject: &mut impl FnMut(Reject) -> Result<()>,
) -> Result<ReadStats> {
    let mut stats = ReadStats::default();
    let mut waiting: BTreeMap<u64, Done> = BTreeMap::new();
    let mut next = 0u64;
    let mut current_input = usize::MAX;
    let mut line_base = 0u64;
    for item in done {
        waiting.insert(item.seq, item);
        while let Some(item) = waiting.remove(&next) {
            next += 1;
            if item.input != current_input {
                current_input = item.input;
                line_base = 0;
            }
            for r in &item.batch.rejects {
                stats.rejects.add(r.kind);
                on_reject(Reject {
                    file: names[item.input].clone(),
                    line: line_base + u64::from(r.line) + 1,
                    kind: r.kind,
                    message: r.message.clone(),
                    raw: r.raw.clone(),
                })?;
            }
            correlator.apply(&item.batch);
            line_base += u64::from(item.batch.lines);
            stats.lines += u64::from(item.batch.lines);
            let mut buffer = item.buffer;
            if buffer.capacity() > 4 * BLOCK_BYTES {
                buffer = Vec::with_capacity(BLOCK_BYTES + 64 * 1024);
            }
            // The reader may have finished; a closed pool is fine.
            let _ = free.try_send((buffer, item.batch));
        }
    }
    Ok(stats)
}
