//! Opening inputs: files, standard input, gzip detected by its magic bytes (not the name).
//!
//! Every input is opened before any is read, so a typo in the third path fails at once, naming
//! that path, instead of after minutes spent on the first two. Nothing here reads ahead or
//! seeks: an input is consumed once, so a FIFO or a pipe is as good as a file.

use crate::ReadError;
use flate2::bufread::MultiGzDecoder;
use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// An input ready to be read.
pub struct Input {
    /// The name as the user gave it (`-` for standard input); used in rejects and messages.
    pub name: String,
    /// Decompressed bytes.
    pub(crate) reader: Box<dyn Read + Send>,
    /// Whether the bytes are gzip-decompressed (errors then mean a corrupt archive).
    pub(crate) gzip: bool,
}

impl Input {
    /// An input from any reader (a socket, a test's bytes); gzip is detected by content.
    pub fn from_reader(
        name: impl Into<String>,
        reader: impl Read + Send + 'static,
    ) -> Result<Input, ReadError> {
        let name = name.into();
        let (reader, gzip) = decompress(reader).map_err(|e| ReadError::open(&name, e))?;
        Ok(Input { name, reader, gzip })
    }

    /// Whether the input is gzip (by its first bytes).
    pub fn is_gzip(&self) -> bool {
        self.gzip
    }
}

/// Raw (on-disk) bytes consumed so far, across inputs, for progress displays.
pub type ByteCounter = Arc<AtomicU64>;

/// Every input, opened.
pub struct Opened {
    /// In the order given.
    pub inputs: Vec<Input>,
    /// The total on-disk size when every input is a regular file.
    pub total_bytes: Option<u64>,
}

struct Counting<R> {
    inner: R,
    counter: ByteCounter,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.counter.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// Opens every input, counting raw bytes read into `counter`.
pub fn open_all(names: &[String], counter: &ByteCounter) -> Result<Opened, ReadError> {
    let stdin_uses = names.iter().filter(|n| n.as_str() == "-").count();
    if stdin_uses > 1 {
        return Err(ReadError::StdinTwice { count: stdin_uses });
    }
    let mut total = Some(0u64);
    let mut inputs = Vec::with_capacity(names.len());
    for name in names {
        let (input, size) = open(name, counter)?;
        total = total.zip(size).map(|(t, s)| t + s);
        inputs.push(input);
    }
    Ok(Opened {
        inputs,
        total_bytes: total,
    })
}

fn open(name: &str, counter: &ByteCounter) -> Result<(Input, Option<u64>), ReadError> {
    if name == "-" {
        let raw = Counting {
            inner: io::stdin(),
            counter: counter.clone(),
        };
        return Ok((Input::from_reader(name, raw)?, None));
    }
    let path = Path::new(name);
    let metadata = std::fs::metadata(path).map_err(|e| ReadError::open(name, e))?;
    if metadata.is_dir() {
        return Err(ReadError::Directory {
            input: name.to_string(),
        });
    }
    // Opening a FIFO blocks until a writer opens it, as reading it would.
    let file = File::open(path).map_err(|e| ReadError::open(name, e))?;
    let raw = Counting {
        inner: file,
        counter: counter.clone(),
    };
    let size = metadata.is_file().then_some(metadata.len());
    Ok((Input::from_reader(name, raw)?, size))
}

/// Wraps gzip data (magic bytes `1f 8b`, whatever the file is called) in a decoder that also
/// reads concatenated members, as `cat a.gz b.gz` produces. Plain data is read without an
/// intermediate buffer, straight into the caller's blocks.
fn decompress<R: Read + Send + 'static>(mut raw: R) -> io::Result<(Box<dyn Read + Send>, bool)> {
    let mut head = Vec::with_capacity(2);
    (&mut raw).take(2).read_to_end(&mut head)?;
    let gzip = head == [0x1f, 0x8b];
    let stream = io::Cursor::new(head).chain(raw);
    if gzip {
        let buffered = BufReader::with_capacity(256 * 1024, stream);
        Ok((Box::new(MultiGzDecoder::new(buffered)), true))
    } else {
        Ok((Box::new(stream), false))
    }
}
