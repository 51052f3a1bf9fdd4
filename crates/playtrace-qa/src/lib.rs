//! The offline publishing QA engine behind `playtrace qa` (SPEC §1, issue 19).
//!
//! A batch of closed play sessions goes through every step PlayTrace owns: the moderation gate
//! ([`gate`]), the publishing cadence (`cadence`), versioned publishing to a filesystem or
//! S3-compatible store behind a `current` pointer (`publish`), and search sync into an SQLite
//! FTS5 index ([`index`]) whose failures wait in a durable retry queue ([`queue`]) until
//! [`drain`] re-executes them or they are dead-lettered as `searchOutOfSync`. Reports of the old
//! harness (the glass-frontier `offline:qa` output) are replayed: their recorded counts are
//! trusted where their lists were trimmed, their state is checked for contradictions
//! ([`Finding`]s), and what they left undone is carried on.
//!
//! Everything durable lives in the state directory (`--state`, default `./playtrace-qa`):
//! `qa.db` (retry queue, publish versions, pointers) and, unless `--index` says otherwise, the
//! search index `search.db`. Both are SQLite in WAL mode with `synchronous=FULL`.

mod cadence;
pub mod decisions;
mod findings;
pub mod gate;
pub mod index;
pub mod input;
mod publish;
pub mod queue;
mod state;
pub mod telemetry;

mod bundles;
mod drain;
mod options;
mod reindex;
mod replay;
mod report;
mod run;
mod session;
mod sync;

pub use cadence::CadenceConfig;
pub use drain::{drain, DrainOptions, DrainResult};
pub use findings::Finding;
pub use options::{DriftMode, QaOptions};
pub use publish::{rollback, RollbackResult, Target};
pub use reindex::Reindexed;
pub use run::{run, QaResult};

use std::path::PathBuf;
use thiserror::Error;

/// The default state directory, beside the collector's and export's.
pub const DEFAULT_STATE_DIR: &str = "./playtrace-qa";

/// Why a QA run could not be carried out (exit 2: usage or unreadable input).
#[derive(Debug, Error)]
pub enum QaError {
    /// An input file or directory cannot be read or is not a known shape.
    #[error("{}: {message}", path.display())]
    Input {
        /// The file (or directory) at fault.
        path: PathBuf,
        /// What is wrong and what to do.
        message: String,
    },
    /// The state directory cannot be used.
    #[error("the qa state directory `{}`: {message}", dir.display())]
    State {
        /// The directory (`--state`).
        dir: PathBuf,
        /// What is wrong and what to do.
        message: String,
    },
    /// The state or index database failed.
    #[error("{what} `{}`: {error} (check the file is a PlayTrace qa database on a writable disk, or pass another --state/--index)", path.display())]
    Db {
        /// Which database (`the qa state database`, `the search index`).
        what: &'static str,
        /// Its file.
        path: PathBuf,
        /// SQLite's error.
        error: rusqlite::Error,
    },
    /// A usage error found after argument parsing (a session with no publish history, ...).
    #[error("{0}")]
    Usage(String),
    /// Writing a report failed.
    #[error("cannot write `{}`: {error} (check the --output directory is writable)", path.display())]
    Output {
        /// The report file.
        path: PathBuf,
        /// The operating system's error.
        error: std::io::Error,
    },
}

/// Milliseconds since the epoch as RFC 3339 (`2025-11-05T06:15:00.000Z`), as the old tool wrote.
pub(crate) fn iso(ms: f64) -> String {
    playtrace_core::time::format_rfc3339_ms(ms).unwrap_or_else(|| format!("{ms}"))
}

/// The current time in epoch milliseconds.
pub fn now_ms() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as f64)
        .unwrap_or(0.0)
}

/// A current-thread runtime for the writers.
pub(crate) fn runtime() -> Result<tokio::runtime::Runtime, QaError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| QaError::Usage(format!("cannot start the async runtime: {e}")))
}
