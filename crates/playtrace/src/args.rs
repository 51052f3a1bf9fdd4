//! Argument types shared by the commands, so one flag means one thing everywhere: durations,
//! sizes, `--format`, the reading limits of commands that read logs, the budgets file.

use anyhow::{Context, Result};
use clap::{Args, ValueEnum};
use playtrace_core::budget::BudgetSet;
use playtrace_core::duration::parse_duration_ms;
use playtrace_core::size::parse_size_bytes;
use playtrace_read::{ReadLimits, ReadOptions};
use std::num::NonZeroUsize;
use std::path::Path;
use std::time::Duration;

/// `--format` of commands that print a report for people or for machines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    /// A report for a terminal.
    Text,
    /// The summary object (the old monitor's shape plus PlayTrace's additions).
    Json,
    /// A report for a pull request or CI job summary.
    Markdown,
}

/// `--format` of commands whose result is a line or a JSON object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// One line for people.
    Text,
    /// The full result as JSON.
    Json,
}

/// A duration flag (SPEC §7: `<number><unit>` with ms|s|m|h|d, decimals allowed; a bare
/// integer is milliseconds).
pub fn duration(text: &str) -> Result<Duration, String> {
    let ms = parse_duration_ms(text).map_err(|e| e.to_string())?;
    Duration::try_from_secs_f64(ms / 1000.0)
        .map_err(|_| format!("`{text}` is out of range for a duration"))
}

/// A duration flag that must be more than zero, in ms (budget thresholds).
pub fn positive_ms(text: &str) -> Result<f64, String> {
    match parse_duration_ms(text) {
        Ok(ms) if ms > 0.0 => Ok(ms),
        Ok(_) => Err("the threshold must be more than 0 ms".to_string()),
        Err(e) => Err(e.to_string()),
    }
}

/// A size flag (`16MiB`, `1GB`, bytes when bare) that must be more than zero.
pub fn size(text: &str) -> Result<u64, String> {
    match parse_size_bytes(text) {
        Ok(0) => Err("the size must be more than 0".to_string()),
        Ok(n) => Ok(n),
        Err(e) => Err(e.to_string()),
    }
}

/// How commands that read telemetry logs read them (`monitor`, `export`).
#[derive(Debug, Args)]
pub struct ReadArgs {
    /// Longest line read; longer lines become `size` rejects.
    #[arg(long, value_name = "SIZE", default_value = "16MiB", value_parser = size)]
    pub max_line_bytes: u64,

    /// Largest multi-line JSON document (timeline, summary) read whole.
    #[arg(long, value_name = "SIZE", default_value = "256MiB", value_parser = size)]
    pub max_document_bytes: u64,

    /// Scanning threads (default: one per core).
    #[arg(long, value_name = "N")]
    pub threads: Option<NonZeroUsize>,
}

impl ReadArgs {
    /// The reading engine's options.
    pub fn options(&self) -> ReadOptions {
        let defaults = ReadOptions::default();
        ReadOptions {
            limits: ReadLimits {
                max_line: usize::try_from(self.max_line_bytes).unwrap_or(usize::MAX),
                max_document: usize::try_from(self.max_document_bytes).unwrap_or(usize::MAX),
            },
            workers: self.threads.map_or(defaults.workers, NonZeroUsize::get),
        }
    }
}

/// The budgets file (`--budgets`), or the default budgets without one.
pub fn load_budgets(path: Option<&Path>) -> Result<BudgetSet> {
    let Some(path) = path else {
        return Ok(BudgetSet::default());
    };
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the budgets file `{}`", path.display()))?;
    BudgetSet::from_toml(&text)
        .with_context(|| format!("invalid budgets file `{}`", path.display()))
}

/// The tokio runtime of a command that needs one (`serve`, `demo`, `export`).
pub fn runtime(thread_name: &str) -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name(thread_name)
        .build()
        .context("cannot start the async runtime")
}
