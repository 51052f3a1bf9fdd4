//! Opening inputs: files, standard input, gzip detected by its magic bytes (not the name).
//!
//! Every input is opened before any is read, so a typo in the third path fails at once, naming
//! that path, instead of after minutes spent on the first two.

use anyhow::{bail, Context, Result};
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
    pub reader: Box<dyn Read + Send>,
    /// Whether the bytes are gzip-decompressed (errors then mean a corrupt archive).
    pub gzip: bool,
}

/// Raw (on-disk) bytes consumed so far, across inputs, for progress.
pub type ByteCounter = Arc<AtomicU64>;

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

/// Opens every input. Returns them with the total on-disk size when known (all regular files).
pub fn open_all(names: &[String], counter: &ByteCounter) -> Result<(Vec<Input>, Option<u64>)> {
    let stdin_uses = names.iter().filter(|n| n.as_str() == "-").count();
    if stdin_uses > 1 {
        bail!("`-` (standard input) is given {stdin_uses} times; it can be read only once");
    }
    let mut total = Some(0u64);
    let mut inputs = Vec::with_capacity(names.len());
    for name in names {
        let (input, size) = open(name, counter)?;
        total = total.zip(size).map(|(t, s)| t + s);
        inputs.push(input);
    }
    Ok((inputs, total))
}

fn open(name: &str, counter: &ByteCounter) -> Result<(Input, Option<u64>)> {
    if name == "-" {
        let raw = Counting {
            inner: io::stdin(),
            counter: counter.clone(),
        };
        let (reader, gzip) = decompress(raw).context("cannot read standard input")?;
        return Ok((
            Input {
                name: name.to_string(),
                reader,
                gzip,
            },
            None,
        ));
    }
    let path = Path::new(name);
    let metadata = std::fs::metadata(path).map_err(|e| open_error(name, &e))?;
    if metadata.is_dir() {
        bail!(
            "`{name}` is a directory; pass the log files inside it (for example `{}/*.ndjson`)",
            name.trim_end_matches('/')
        );
    }
    let file = File::open(path).map_err(|e| open_error(name, &e))?;
    let raw = Counting {
        inner: file,
        counter: counter.clone(),
    };
    let (reader, gzip) = decompress(raw).map_err(|e| open_error(name, &e))?;
    let size = metadata.is_file().then_some(metadata.len());
    Ok((
        Input {
            name: name.to_string(),
            reader,
            gzip,
        },
        size,
    ))
}

fn open_error(name: &str, e: &io::Error) -> anyhow::Error {
    match e.kind() {
        io::ErrorKind::NotFound => anyhow::anyhow!(
            "cannot open `{name}`: no such file (check the path; use `-` to read standard input)"
        ),
        io::ErrorKind::PermissionDenied => {
            anyhow::anyhow!(
                "cannot open `{name}`: permission denied (check the file's permissions)"
            )
        }
        _ => anyhow::anyhow!("cannot read `{name}`: {e}"),
    }
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
