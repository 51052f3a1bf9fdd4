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
    /// Whole lines (the last may lack its newline at the end of the input).
    Lines(Vec<u8>),
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
    buf.clear();
    let mut first = true;
    loop {
        let want = BLOCK_BYTES.saturating_sub(buf.len()).max(64 * 1024);
        let eof = match fill(&mut input.reader, &mut buf, want) {
            Ok(eof) => eof,
            Err(e) if input.gzip && is_corrupt(&e) => {
                if !buf.is_empty() && !sink.emit(Chunk::Lines(buf)) {
                    return Ok(());
                }
                sink.emit(corrupt(&e));
                return Ok(());
            }
            Err(e) => return Err(e),
        };
        if first {
            first = false;
            if buf.starts_with(b"\xEF\xBB\xBF") {
                buf.drain(..3);
            }
            if let Some(document) = try_document(input, &mut buf, limits, eof)? {
                sink.emit(document);
                return Ok(());
            }
        }
        if eof {
            if !buf.is_empty() {
                sink.emit(Chunk::Lines(buf));
            }
            return Ok(());
        }
        match memchr::memrchr(b'\n', &buf) {
            Some(i) => {
                // Hand over the whole lines; the incomplete tail starts the next buffer.
                let Some(mut next) = sink.buffer() else {
                    return Ok(());
                };
                next.clear();
                next.extend_from_slice(&buf[i + 1..]);
                buf.truncate(i + 1);
                if !sink.emit(Chunk::Lines(std::mem::replace(&mut buf, next))) {
                    return Ok(());
                }
            }
            None if buf.len() > limits.max_line => {
                // One line longer than the limit: keep its start, skip to its end.
                let mut len = buf.len() as u64;
                let prefix = buf[..buf.len().min(RAW_LIMIT)].to_vec();
                let rest = skip_line(&mut input.reader, &mut len)?;
                if !sink.emit(Chunk::Oversize {
                    prefix,
                    len,
                    document: false,
                }) {
                    return Ok(());
                }
                buf.clear();
                match rest {
                    Some(rest) => buf.extend_from_slice(&rest),
                    None => return Ok(()),
                }
            }
            None => {} // a long line still within the limit: keep reading into the same buffer
        }
    }
}

/// Reads until `buf` grew by `want` bytes or the input ended; returns whether it ended.
fn fill(reader: &mut (dyn Read + Send), buf: &mut Vec<u8>, want: usize) -> io::Result<bool> {
    let before = buf.len();
    reader.take(want as u64).read_to_end(buf)?;
    Ok(buf.len() - before < want)
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
        if buf.len() > limits.max_document {
            if only_opening {
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
            return Ok(None);
        }
    }
    Ok(Some(Chunk::Document(std::mem::take(buf))))
}
