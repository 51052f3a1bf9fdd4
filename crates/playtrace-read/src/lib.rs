//! The reading engine shared by `playtrace monitor` and `playtrace export`: telemetry logs in,
//! contest observations folded in input order and every unreadable line a reject out.
//!
//! ```text
//!  open_all(names)          files and `-` (standard input), all opened before any is read;
//!        │                  gzip detected by its magic bytes, whatever the name
//!  chunks::ChunkSource      blocks of whole lines; a line over the limit is never held whole
//!        │                  (its start is kept for the reject, the rest skipped)
//!  pipeline::run            N workers scan blocks (and run an optional [`Extract`]); batches
//!        │                  go through the correlator's in-order part strictly in input order
//!  fold::Fold               then each contest shard folds them in input order, shards on
//!                           different workers at once
//! ```
//!
//! Each input is read exactly once, front to back, so pipes and FIFOs work like files. Results
//! do not depend on the number of threads.

mod chunks;
mod fold;
mod input;
mod pipeline;

pub use fold::{FoundSink, ReadStats, RejectSink};
pub use input::{open_all, ByteCounter, Input, Opened};
pub use pipeline::{read, read_extracting, Extract, NoExtract};

use std::io;
use thiserror::Error;

/// What a caller's sink returns when it fails; reading stops with [`ReadError::Sink`].
pub type SinkError = Box<dyn std::error::Error + Send + Sync>;

/// Limits the reader enforces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadLimits {
    /// Longest line kept; a longer one becomes one `size` reject.
    pub max_line: usize,
    /// Largest whole-file JSON document (a pretty-printed timeline or summary) kept.
    pub max_document: usize,
}

impl Default for ReadLimits {
    /// 16 MiB lines, 256 MiB documents: what `--max-line-bytes` and `--max-document-bytes`
    /// default to.
    fn default() -> Self {
        ReadLimits {
            max_line: 16 << 20,
            max_document: 256 << 20,
        }
    }
}

/// How to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadOptions {
    /// Limits on lines and documents.
    pub limits: ReadLimits,
    /// Scanning threads (at least one is used).
    pub workers: usize,
}

impl Default for ReadOptions {
    /// Default limits, one worker per core.
    fn default() -> Self {
        ReadOptions {
            limits: ReadLimits::default(),
            workers: std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get),
        }
    }
}

/// Why reading stopped. Lines that cannot be read are rejects, never errors: an error means
/// an input could not be opened or read at all, or the caller's sink failed.
#[derive(Debug, Error)]
pub enum ReadError {
    /// `-` named more than once.
    #[error("`-` (standard input) is given {count} times; it can be read only once")]
    StdinTwice {
        /// How often it was given.
        count: usize,
    },
    /// A directory where a file was expected.
    #[error("`{input}` is a directory; pass the log files inside it (for example `{}/*.ndjson`)", input.trim_end_matches('/'))]
    Directory {
        /// The input as given.
        input: String,
    },
    /// No such file.
    #[error(
        "cannot open `{input}`: no such file (check the path; use `-` to read standard input)"
    )]
    NotFound {
        /// The input as given.
        input: String,
    },
    /// Not allowed to read it.
    #[error("cannot open `{input}`: permission denied (check the file's permissions)")]
    PermissionDenied {
        /// The input as given.
        input: String,
    },
    /// Reading failed part-way (or while opening); what came before was read.
    #[error("cannot read {}: {error}", describe(input))]
    Io {
        /// The input as given (`-` for standard input).
        input: String,
        /// The operating system's error.
        error: io::Error,
    },
    /// A scanning thread could not start.
    #[error("cannot start a scanning thread: {0}")]
    Thread(io::Error),
    /// A scanning thread panicked (a bug).
    #[error("a scanning thread panicked")]
    Panicked,
    /// The caller's reject or extract sink failed (writing the rejects file, say).
    #[error(transparent)]
    Sink(SinkError),
}

fn describe(input: &str) -> String {
    if input == "-" {
        "standard input".to_string()
    } else {
        format!("`{input}`")
    }
}

impl ReadError {
    /// The input an open or read error is about, classified by the OS error.
    pub(crate) fn open(input: &str, error: io::Error) -> ReadError {
        let input = input.to_string();
        match error.kind() {
            io::ErrorKind::NotFound => ReadError::NotFound { input },
            io::ErrorKind::PermissionDenied => ReadError::PermissionDenied { input },
            _ => ReadError::Io { input, error },
        }
    }
}

#[cfg(test)]
mod tests;
