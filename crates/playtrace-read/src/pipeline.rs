//! Reading inputs on every core while folding results as if in input order.
//!
//! ```text
//!  N worker threads, each in a loop:
//!    take the next chunk from the shared ChunkSource (under a lock: reading is ~10% of the
//!    work, so the other worker keeps scanning meanwhile)
//!    scan it into an ObservationBatch (and run the caller's Extract over its lines)
//!    fold what is ready (fold.rs): the cheap in-order part of every batch that is next in
//!    input order, then the contest shards no other worker is folding
//! ```
//!
//! There is no reader thread and no folding thread: on two cores, two threads do all the work,
//! and nothing competes with them for a core. Batches carry a sequence number; the in-order part
//! takes them strictly in order and every contest shard folds its contests' events in input
//! order, so "a later event wins" holds and results do not depend on the number of threads. A
//! worker never runs more than `ahead(workers)` chunks ahead of the fold, so memory stays bounded even
//! behind one slow chunk (a large document).

use crate::chunks::{Chunk, ChunkSource};
use crate::fold::{Done, Fold, FoundSink, ReadStats, RejectSink};
use crate::input::Input;
use crate::{ReadError, ReadLimits, ReadOptions};
use playtrace_core::contest::Correlator;
use playtrace_core::reject::LineError;
use playtrace_core::scan::{BatchOptions, LineSeen, ObservationBatch};
use std::sync::atomic::Ordering;
use std::sync::Mutex;

/// Extra work on every block of whole lines, done by the scanning threads beside the scan and
/// handed back in input order: how `export` collects transcript lines in the same single pass
/// that feeds the report. Implementations should look for what they want with a fast search
/// over the block (`memchr::memmem`), not line by line.
pub trait Extract: Sync {
    /// What one block yields.
    type Found: Send + Default;
    /// Looks at one block of whole lines (called on several threads at once). Not called when
    /// [`Extract::BY_LINE`].
    fn extract(&self, _lines: &[u8], _found: &mut Self::Found) {}

    /// Whether the extract looks at each line as the scanner reads it ([`Extract::line`])
    /// instead of at whole blocks: an extract that reads every event (`plan check`) then reads
    /// what the scanner read rather than parsing the line a second time.
    const BY_LINE: bool = false;

    /// Looks at one line the scanner read (`offset`: 0-based within the block; blank lines and
    /// lines that are not UTF-8 never come here), with what it found ([`LineSeen`]). Called on
    /// several threads at once, only when [`Extract::BY_LINE`].
    fn line(&self, _offset: u32, _text: &str, _seen: LineSeen<'_, '_>, _found: &mut Self::Found) {}

    /// Looks at a whole-file JSON document (a pretty-printed timeline, an array of events),
    /// which never reaches [`Extract::extract`]. Most extracts want lines only: nothing by
    /// default.
    fn extract_document(&self, _document: &serde_json::Value, _found: &mut Self::Found) {}

    /// Told how many lines the block held (oversize lines and documents included), after the
    /// block is scanned: what an extract numbering lines by input needs. Nothing by default.
    fn block_lines(&self, _lines: u32, _found: &mut Self::Found) {}

    /// Whether the read also folds contests into the correlator (`true` by default: `monitor`,
    /// `export`). An extract that wants only its own results and the rejects (`plan check`)
    /// answers `false`: lines are scanned and rejected exactly as before, but the contest fold,
    /// is skipped and the correlator is left as it was.
    fn correlates(&self) -> bool {
        true
    }
}

/// No extra work: what `monitor` reads with.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoExtract;

impl Extract for NoExtract {
    type Found = ();
    #[inline]
    fn extract(&self, _lines: &[u8], _found: &mut ()) {}
}

/// Reads every input with `options.workers` threads, folds batches into `correlator` as if in
/// input order (its contests split into one shard per worker), and hands every reject (with its input and line) to `on_reject`.
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

/// How many chunks the workers together may take beyond the next one to fold: three per worker
/// on a small machine, but never more than [`AHEAD_SLACK`] beyond one each, because every chunk
/// in flight holds its block and its batch (~1.5 MiB), so 16 workers at three each held 160 MiB
/// where 120 MiB did at two. A worker needs one chunk to scan; the slack covers a slow one.
fn ahead(workers: usize) -> u64 {
    let workers = workers as u64;
    (3 * workers).min(workers + AHEAD_SLACK)
}

/// Chunks beyond one per worker that may wait to be folded (see [`ahead`]).
const AHEAD_SLACK: u64 = 4;

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
    correlator.set_shards(workers);
    let fold = Fold::new(
        correlator.split(),
        on_reject,
        on_found,
        &names,
        (ahead(workers), extract.correlates()),
    );

    std::thread::scope(|scope| -> Result<(), ReadError> {
        let mut handles = Vec::with_capacity(workers);
        for i in 0..workers {
            let (source, fold, dim_attrs) = (&source, &fold, &dim_attrs);
            let spawned = std::thread::Builder::new()
                .name(format!("scan-{i}"))
                .spawn_scoped(scope, move || {
                    work(i, source, fold, (options, dim_attrs), limits, extract)
                });
            match spawned {
                Ok(handle) => handles.push(handle),
                Err(e) => {
                    // Stop the workers already started before reporting.
                    fold.fail();
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
    fold.finish()
}

/// One worker: take a chunk, scan it, fold what is ready; until the input ends or fails.
fn work<E: Extract>(
    worker: usize,
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
        let (buffer, mut batch, prepared) = fold.spare();
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
                    fold.fail();
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
                prepared,
                found,
            },
            worker,
        );
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
            push_lines(batch, &buffer[..len], options, extract, found);
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
                Err(_) => push_lines(batch, &buffer, options, extract, found),
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

/// Scans a block of lines, with `extract` over each line as it is read, or over the block after.
fn push_lines<E: Extract>(
    batch: &mut ObservationBatch,
    lines: &[u8],
    options: BatchOptions,
    extract: &E,
    found: &mut E::Found,
) {
    if E::BY_LINE {
        batch.push_lines_with(lines, options, |offset, text, seen| {
            extract.line(offset, text, seen, found)
        });
    } else {
        batch.push_lines(lines, options);
        extract.extract(lines, found);
    }
}

fn line_count(buffer: &[u8]) -> u32 {
    let newlines = memchr::memchr_iter(b'\n', buffer).count();
    let unterminated = usize::from(!buffer.is_empty() && !buffer.ends_with(b"\n"));
    (newlines + unterminated) as u32
}

#[cfg(test)]
mod tests {
    /// A small machine keeps three blocks per worker in flight; a big one only a few beyond one
    /// per worker (16 workers at three each held 160 MiB of blocks and batches).
    #[test]
    fn read_ahead_is_three_per_worker_until_four_beyond_one_each() {
        let ahead: Vec<u64> = [1, 2, 4, 16, 64].map(super::ahead).to_vec();
        assert_eq!(ahead, [3, 6, 8, 20, 68]);
    }
}
