//! Cutting inputs into blocks of whole lines for the workers.
//!
//! Blocks end at a newline, so no line is split between workers. A line longer than
//! `--max-line-bytes` is never held whole: its first bytes are kept for the reject and the rest
//! is skipped up to the next newline. A file whose first line is an incomplete JSON value (a
//! pretty-printed timeline or summary) is read whole, up to `--max-document-bytes`, as one
//! document; if it does not parse as one, it is read as lines after all.

use crate::input::Input;
use crate::ReadLimits;
use playtrace_core::reject::RAW_LIMIT;
use std::io::{self, Read};

/// Bytes per block handed to a worker.
pub(crate) const BLOCK_BYTES: usize = 1 << 20;

/// A unit of work, in input order.
pub(crate) enum Chunk {
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

/// Cuts a sequence of inputs into chunks, one per call, in input order. Callers take turns
/// (it sits behind a lock): there is no reader thread, the workers read for themselves.
pub(crate) struct ChunkSource {
    inputs: Vec<Input>,
    limits: ReadLimits,
    /// Index of the input being read.
    current: usize,
    /// The start of an incomplete line carried into the next chunk.
    carry: Vec<u8>,
    /// Nothing read from the current input yet.
    first: bool,
    /// A chunk to hand out before reading on (the break of a corrupt gzip stream).
    queued: Option<Chunk>,
    /// The current input is exhausted.
    done: bool,
}

impl ChunkSource {
    /// A source over `inputs`, read in order.
    pub(crate) fn new(inputs: Vec<Input>, limits: ReadLimits) -> Self {
        ChunkSource {
            inputs,
            limits,
            current: 0,
            carry: Vec::new(),
            first: true,
            queued: None,
            done: false,
        }
    }

    /// The next chunk and the index of its input, filling `buf` (a recycled buffer, any
    /// content) when the chunk is lines; `None` when every input is read. An I/O error names
    /// no input; the caller adds it (see [`ChunkSource::current_name`]).
    pub(crate) fn next_chunk(&mut self, mut buf: Vec<u8>) -> io::Result<Option<(usize, Chunk)>> {
        loop {
            if let Some(chunk) = self.queued.take() {
                return Ok(Some((self.current, chunk)));
            }
            if self.done {
                self.current += 1;
                self.carry.clear();
                self.first = true;
                self.done = false;
            }
            if self.current >= self.inputs.len() {
                return Ok(None);
            }
            if let Some(chunk) = self.read_chunk(&mut buf)? {
                return Ok(Some((self.current, chunk)));
            }
        }
    }

    /// The name of the input being read, for error messages.
    pub(crate) fn current_name(&self) -> &str {
        self.inputs
            .get(self.current)
            .map_or("-", |i| i.name.as_str())
    }

    /// Reads one chunk of the current input; `None` when it had nothing more.
    fn read_chunk(&mut self, buf: &mut Vec<u8>) -> io::Result<Option<Chunk>> {
        let limits = self.limits;
        let input = &mut self.inputs[self.current];
        let mut filled = self.carry.len();
        if buf.len() < filled {
            buf.resize(filled, 0);
        }
        buf[..filled].copy_from_slice(&self.carry);
        self.carry.clear();
        loop {
            let target = (filled + BLOCK_BYTES / 2).max(BLOCK_BYTES);
            let eof = match fill(&mut input.reader, buf, &mut filled, target) {
                Ok(eof) => eof,
                Err(e) if input.gzip && is_corrupt(&e) => {
                    self.done = true;
                    if filled > 0 {
                        self.queued = Some(corrupt(&e));
                        return Ok(Some(Chunk::Lines {
                            buffer: std::mem::take(buf),
                            len: filled,
                        }));
                    }
                    return Ok(Some(corrupt(&e)));
                }
                Err(e) => return Err(e),
            };
            if self.first {
                self.first = false;
                if buf[..filled].starts_with(b"\xEF\xBB\xBF") {
                    buf.copy_within(3..filled, 0);
                    filled -= 3;
                }
                buf.truncate(filled);
                if let Some(document) = try_document(input, buf, limits, eof)? {
                    self.done = true;
                    return Ok(Some(document));
                }
                filled = buf.len();
            }
            if eof {
                self.done = true;
                return Ok((filled > 0).then(|| Chunk::Lines {
                    buffer: std::mem::take(buf),
                    len: filled,
                }));
            }
            match memchr::memrchr(b'\n', &buf[..filled]) {
                Some(i) => {
                    // Hand out the whole lines; the incomplete tail starts the next chunk.
                    self.carry.extend_from_slice(&buf[i + 1..filled]);
                    return Ok(Some(Chunk::Lines {
                        buffer: std::mem::take(buf),
                        len: i + 1,
                    }));
                }
                None if filled > limits.max_line => {
                    // One line longer than the limit: keep its start, skip to its end.
                    let mut len = filled as u64;
                    let prefix = buf[..filled.min(RAW_LIMIT)].to_vec();
                    match skip_line(&mut input.reader, &mut len)? {
                        Some(rest) => self.carry = rest,
                        None => self.done = true,
                    }
                    return Ok(Some(Chunk::Oversize {
                        prefix,
                        len,
                        document: false,
                    }));
                }
                None => {} // a long line still within the limit: keep reading it
            }
        }
    }
}

/// Reads into `buf[*filled..target]` until it is full or the input ends (returns whether it
/// ended). Grows `buf` (zero-filled, once) only when it is shorter than `target`; recycled
/// buffers stay at full length, so refilling them is not a memset.
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
