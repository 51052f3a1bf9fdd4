//! Cutting an input into blocks of whole lines for the workers.
//!
//! Blocks end at a newline, so no line is split between workers. A line longer than
//! `--max-line-bytes` is never held whole: its first bytes are kept for the reject and the rest
//! is skipped up to the next newline. A file whose first line is an incomplete JSON value (a
//! pretty-printed timeline or summary) is read whole, up to `--max-document-bytes`, as one
//! document; if it does not parse as one, it is read as lines after all.

use super::input::Input;
use playtrace_core::reject::RAW_LIMIT;
use std::io::{self, Read};

/// Bytes per block handed to a worker.
pub const BLOCK_BYTES: usize = 1 << 20;

/// Limits the reader enforces.
#[derive(Debug, Clone, Copy)]
pub struct ReadLimits {
    /// Longest line kept.
    pub max_line: usize,
    /// Largest whole-file document kept.
    pub max_document: usize,
}

/// A unit of work, in input order.
pub enum Chunk {
    /// Whole lines in `buffer[..len]` (the last may lack its newline at the end of the input).
    /// Bytes past `len` are stale: buffers stay initialised so refilling them is not a memset.
    Lines { buffer: Vec<u8>, len: usize },
    /// The whole input, to be parsed as one JSON document (or as lines if it is not one).
    Document(Vec<u8>),
    /// A line (or whole-file document) over its limit: its first bytes and its full length.
    Oversize {
        prefix: Vec<u8>,
        len: u64,
        document: bool,
    },
    /// The input could not be decoded any further (corrupt gzip); what came before was read.
    Broken { message: String },
}

/// Where chunks go. Buffers come from the sink so they are recycled and the number in flight
/// stays bounded.
pub trait ChunkSink {
    /// An empty buffer to fill next; `None` when the consumer has stopped.
    fn buffer(&mut self) -> Option<Vec<u8>>;
    /// Hands over a chunk; `false` when the consumer has stopped.
    fn emit(&mut self, chunk: Chunk) -> bool;
}

/// Reads `input` into chunks for `sink`.
///
/// One buffer is filled at a time; it is handed over when it holds whole lines, and a line that
/// is still incomplete keeps growing the same buffer (so the pool never runs dry on long lines).
pub fn read_input(
    input: &mut Input,
    limits: ReadLimits,
    sink: &mut impl ChunkSink,
) -> io::Result<()> {
    let Some(mut buf) = sink.buffer() else {
        return Ok(());
    };
    let mut filled = 0;
    let mut first = true;
    loop {
        let target = (filled + BLOCK_BYTES / 2).max(BLOCK_BYTES);
        let eof = match fill(&mut input.reader, &mut buf, &mut filled, target) {
            Ok(eof) => eof,
            Err(e) if input.gzip && is_corrupt(&e) => {
                if filled > 0
                    && !sink.emit(Chunk::Lines {
                        buffer: buf,
                        len: filled,
                    })
                {
                    return Ok(());
                }
                sink.emit(corrupt(&e));
                return Ok(());
            }
            Err(e) => return Err(e),
        };
        if first {
            first = false;
            if buf[..filled].starts_with(b"\xEF\xBB\xBF") {
                buf.copy_within(3..filled, 0);
                filled -= 3;
            }
            buf.truncate(filled);
            if let Some(document) = try_document(input, &mut buf, limits, eof)? {
                sink.emit(document);
                return Ok(());
            }
            filled = buf.len();
        }
        if eof {
            if filled > 0 {
                sink.emit(Chunk::Lines {
                    buffer: buf,
                    len: filled,
                });
            }
            return Ok(());
        }
        match memchr::memrchr(b'\n', &buf[..filled]) {
            Some(i) => {
                // Hand over the whole lines; the incomplete tail starts the next buffer.
                let Some(mut next) = sink.buffer() else {
                    return Ok(());
                };
                let tail = &buf[i + 1..filled];
                if next.len() < tail.len() {
                    next.resize(tail.len(), 0);
                }
                next[..tail.len()].copy_from_slice(tail);
                let next_filled = tail.len();
                let full = std::mem::replace(&mut buf, next);
                if !sink.emit(Chunk::Lines {
                    buffer: full,
                    len: i + 1,
                }) {
                    return Ok(());
                }
                filled = next_filled;
            }
            None if filled > limits.max_line => {
                // One line longer than the limit: keep its start, skip to its end.
                let mut len = filled as u64;
                let prefix = buf[..filled.min(RAW_LIMIT)].to_vec();
                let rest = skip_line(&mut input.reader, &mut len)?;
                if !sink.emit(Chunk::Oversize {
                    prefix,
                    len,
                    document: false,
                }) {
                    return Ok(());
                }
                match rest {
                    Some(rest) => {
                        if buf.len() < rest.len() {
                            buf.resize(rest.len(), 0);
                        }
                        buf[..rest.len()].copy_from_slice(&rest);
                        filled = rest.len();
                    }
                    None => return Ok(()),
                }
            }
            None => {} // a long line still within the limit: keep reading into the same buffer
        }
    }
}

/// Reads into `buf[*filled..target]` until it is full or the input ends (returns whether it
/// ended). Grows `buf` (zero-filled, once) only when it is shorter than `target`.
fn fill(
    reader: &mut (dyn Read + Send),
    buf: &mut Vec<u8>,
    filled: &mut usize,
    target: usize,
) -> io::Result<bool> {
    if buf.len() < target {
        buf.resize(target, 0);
    }
    while *filled < target {
        match reader.read(&mut buf[*filled..target]) {
            Ok(0) => return Ok(true),
            Ok(n) => *filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(false)
}

fn corrupt(e: &io::Error) -> Chunk {
    Chunk::Broken {
        message: format!("the gzip stream is corrupt or truncated ({e}); the rest of this input could not be read"),
    }
}

fn is_corrupt(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::InvalidInput | io::ErrorKind::InvalidData | io::ErrorKind::UnexpectedEof
    )
}

/// Skips the rest of an oversize line. Returns the bytes after its newline, or `None` at the
/// end of the input.
fn skip_line(reader: &mut (dyn Read + Send), len: &mut u64) -> io::Result<Option<Vec<u8>>> {
    let mut scratch = vec![0u8; 256 * 1024];
    loop {
        let n = match reader.read(&mut scratch) {
            Ok(0) => return Ok(None),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if let Some(i) = memchr::memchr(b'\n', &scratch[..n]) {
            *len += i as u64;
            return Ok(Some(scratch[i + 1..n].to_vec()));
        }
        *len += n as u64;
    }
}

/// Decides whether the input is one multi-line JSON document: its first line starts a JSON
/// value that does not end on that line. Reads the whole input in that case.
fn try_document(
    input: &mut Input,
    buf: &mut Vec<u8>,
    limits: ReadLimits,
    eof: bool,
) -> io::Result<Option<Chunk>> {
    let start = buf
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(buf.len());
    if !matches!(buf.get(start), Some(b'{' | b'[')) {
        return Ok(None);
    }
    let line_end = memchr::memchr(b'\n', &buf[start..]).map_or(buf.len(), |i| start + i);
    if line_end == buf.len() && !eof {
        return Ok(None); // the first line is longer than a block: an NDJSON line, not pretty JSON
    }
    let first_line = &buf[start..line_end];
    let incomplete = matches!(
        serde_json::from_slice::<serde::de::IgnoredAny>(first_line),
        Err(e) if e.classify() == serde_json::error::Category::Eof
    );
    if !incomplete || line_end == buf.len() {
        return Ok(None);
    }
    let only_opening = first_line
        .iter()
        .filter(|b| !b.is_ascii_whitespace())
        .count()
        == 1;
    // Read the rest, up to the document limit.
    if !eof {
        let room = limits.max_document.saturating_sub(buf.len()) as u64 + 1;
        if let Err(e) = input.reader.as_mut().take(room).read_to_end(buf) {
            if input.gzip && is_corrupt(&e) {
                return Ok(Some(corrupt(&e)));
            }
            return Err(e);
        }
    }
    if buf.len() > limits.max_document {
        if !only_opening {
            // Perhaps NDJSON whose first line was cut short: read it as lines.
            return Ok(None);
        }
        // Certainly one pretty-printed document, and too big: one size reject.
        let prefix = buf[..RAW_LIMIT.min(buf.len())].to_vec();
        let mut len = buf.len() as u64;
        io::copy(&mut input.reader, &mut io::sink()).map(|n| len += n)?;
        return Ok(Some(Chunk::Oversize {
            prefix,
            len,
            document: true,
        }));
    }
    Ok(Some(Chunk::Document(std::mem::take(buf))))
}
