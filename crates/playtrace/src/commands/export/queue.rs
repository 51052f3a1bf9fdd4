//! Export's durable state on the command line: `--state DIR` and the retry settings, the
//! writers named by `--to` (or by queue entries), and the `export retry` and `export dlq`
//! actions.

use super::summarize_delivery;
use crate::output::{write_stdout, ExitStatus};
use anyhow::{bail, Result};
use clap::{Args, Subcommand};
use playtrace_core::units::Millis;
use playtrace_export::deliver::{drain, lock, DeliverOptions, SharedQueue};
use playtrace_export::fs::FsWriter;
use playtrace_export::queue::{Entry, RetryPolicy};
use playtrace_export::s3::{S3Destination, S3Options, S3Writer};
use playtrace_export::state::{StateDir, DEFAULT_STATE_DIR};
use playtrace_export::stdout::StdoutWriter;
use playtrace_export::Writer;
use serde_json::json;
use std::path::PathBuf;
use std::sync::Arc;

#[derive(Debug, Args)]
pub struct StateArgs {
    /// Export's own state directory: the retry queue and dead-letter queue (export.db), locked
    /// by one export at a time. Not the collector's data directory.
    #[arg(long, value_name = "DIR", default_value = DEFAULT_STATE_DIR, global = true)]
    state: PathBuf,
}

/// How artifacts are delivered and retried: only where something is written (`export`,
/// `export retry`, `export dlq retry`), so `queue list`, `dlq list` and `dlq purge` do not
/// offer flags that would do nothing there.
#[derive(Debug, Args)]
pub struct DeliveryArgs {
    /// S3-compatible endpoint (MinIO, Garage, s3s: http://127.0.0.1:9000); AWS when unset.
    /// Credentials and region come from the standard AWS variables, else from the profile
    /// AWS_PROFILE (default `default`) in ~/.aws/config and ~/.aws/credentials.
    #[arg(long, value_name = "URL", env = "AWS_ENDPOINT_URL")]
    s3_endpoint: Option<String>,

    /// Keep retrying transient failures (connection refused, timeouts, 5xx, 429) from the
    /// retry queue for this long, with exponential backoff (1 s, 2 s, 4 s, ... plus jitter);
    /// what still fails then stays queued for `playtrace export retry`. 0 queues at once.
    #[arg(long, value_name = "DURATION", default_value = "10s")]
    retry_for: Millis,

    /// S3: give up on connecting (TCP and TLS) after this long.
    #[arg(long, value_name = "DURATION", default_value = "3s")]
    s3_connect_timeout: Millis,

    /// S3: give up on an endpoint that sends nothing for this long (one that accepts and never
    /// answers); the artifact is queued for retry.
    #[arg(long, value_name = "DURATION", default_value = "5s")]
    s3_read_timeout: Millis,

    /// Attempts before a transiently failing artifact moves to the dead-letter queue.
    #[arg(long, value_name = "N", default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_attempts: u32,
}

/// The locked state directory and its queue.
pub struct State {
    /// Held for the lock.
    _dir: StateDir,
    pub queue: SharedQueue,
}

impl StateArgs {
    /// Locks the state directory (exit 2 naming the holder's PID when another export has it)
    /// and opens its queue, dead-lettering after `max_attempts`.
    pub fn open(&self, max_attempts: u32) -> Result<State> {
        let dir = StateDir::open(&self.state)?;
        let policy = RetryPolicy {
            max_attempts,
            ..RetryPolicy::default()
        };
        let queue = dir.queue(policy)?;
        Ok(State {
            _dir: dir,
            queue: Arc::new(std::sync::Mutex::new(queue)),
        })
    }
}

impl DeliveryArgs {
    pub fn options(&self) -> DeliverOptions {
        DeliverOptions {
            retry_for: self.retry_for.to_duration(),
        }
    }

    /// A writer from its command-line (or queue) id.
    pub fn writer(&self, spec: &str) -> Result<Arc<dyn Writer>> {
        if spec == "stdout" {
            return Ok(Arc::new(StdoutWriter::default()));
        }
        if let Some(dir) = spec.strip_prefix("fs:") {
            if dir.is_empty() {
                bail!("--to fs: needs a directory, e.g. --to fs:artifacts");
            }
            return Ok(Arc::new(FsWriter::new(dir)));
        }
        if spec.starts_with("s3://") {
            let w = S3Writer::new(spec, &self.s3_options())
                .map_err(|e| anyhow::anyhow!("--to {spec}: {e}"))?;
            return Ok(Arc::new(w));
        }
        bail!("--to {spec}: not a writer; use fs:DIR, s3://BUCKET/PREFIX or stdout")
    }

    fn s3_options(&self) -> S3Options {
        S3Options {
            endpoint: self.s3_endpoint.clone(),
            connect_timeout: Some(self.s3_connect_timeout.to_duration()),
            read_timeout: Some(self.s3_read_timeout.to_duration()),
            ..S3Options::default()
        }
    }

    /// The writer of a queued entry: exactly the destination the export queued it with
    /// (endpoint, bucket, prefix, region, addressing; the absolute directory), whatever this
    /// run's --s3-endpoint or environment say. Entries queued before destinations were stored
    /// fall back to their writer id and this run's flags.
    fn writer_for(&self, entry: &Entry) -> Result<Arc<dyn Writer>> {
        if let Some(dest) = S3Destination::parse(&entry.destination) {
            let w = S3Writer::from_destination(&dest, &self.s3_options())
                .map_err(|e| anyhow::anyhow!("{}: {e}", dest.url))?;
            return Ok(Arc::new(w));
        }
        if entry.destination.is_empty() {
            self.writer(&entry.writer)
        } else {
            self.writer(&entry.destination)
        }
    }
}

/// A queued entry's destination as JSON: the S3 destination's fields, else its text.
fn destination_json(entry: &Entry) -> serde_json::Value {
    match S3Destination::parse(&entry.destination) {
        Some(d) => serde_json::to_value(d).unwrap_or(serde_json::Value::Null),
        None if entry.destination.is_empty() => json!(entry.writer),
        None => json!(entry.destination),
    }
}

#[derive(Debug, Subcommand)]
pub enum Action {
    /// Try every queued artifact again now, on the writer it was meant for (retrying
    /// transient failures for --retry-for, as the export does).
    Retry {
        /// Only the entries whose backoff has passed (for a periodic job).
        #[arg(long)]
        due: bool,

        #[command(flatten)]
        delivery: DeliveryArgs,
    },
    /// The retry queue: what is waiting for `export retry`.
    Queue {
        #[command(subcommand)]
        action: QueueAction,
    },
    /// The dead-letter queue.
    Dlq {
        #[command(subcommand)]
        action: DlqAction,
    },
}

#[derive(Debug, Subcommand)]
pub enum QueueAction {
    /// List queued artifacts (JSON lines: id, writer, destination, name, bytes, sha256,
    /// attempts, nextAttempt, error).
    List,
}

#[derive(Debug, Subcommand)]
pub enum DlqAction {
    /// List dead letters (JSON lines: id, writer, name, attempts, error).
    List,
    /// Move dead letters back to the retry queue (all, or the given ids) and retry them.
    Retry {
        /// Dead-letter ids (default: all).
        ids: Vec<i64>,

        #[command(flatten)]
        delivery: DeliveryArgs,
    },
    /// Delete dead letters (all, or the given ids).
    Purge {
        /// Dead-letter ids (default: all).
        ids: Vec<i64>,
    },
}

/// Runs `export retry` or `export dlq ...`.
pub fn run(state: &StateArgs, action: &Action) -> Result<ExitStatus> {
    let max_attempts = match action {
        Action::Retry { delivery, .. }
        | Action::Dlq {
            action: DlqAction::Retry { delivery, .. },
        } => delivery.max_attempts,
        _ => RetryPolicy::default().max_attempts,
    };
    let opened = state.open(max_attempts)?;
    match action {
        Action::Retry { due, delivery } => retry(delivery, &opened.queue, !*due),
        Action::Queue {
            action: QueueAction::List,
        } => list_queue(&opened.queue),
        Action::Dlq { action } => dlq(&opened.queue, action),
    }
}

/// `export queue list`.
fn list_queue(queue: &SharedQueue) -> Result<ExitStatus> {
    let mut out = Vec::new();
    for (e, due_ms) in lock(queue).waiting()? {
        let next = playtrace_core::time::format_rfc3339_ms(due_ms as f64);
        serde_json::to_writer(
            &mut out,
            &json!({"id": e.id, "writer": e.writer, "destination": destination_json(&e),
                    "name": e.artifact.name, "bytes": e.artifact.bytes.len(), "sha256": e.sha256,
                    "attempts": e.attempts, "nextAttempt": next, "error": e.error}),
        )?;
        out.push(b'\n');
    }
    write_stdout(&out)?;
    Ok(ExitStatus::Success)
}

/// `export retry` (`all`: every entry, not only those whose backoff has passed).
fn retry(state: &DeliveryArgs, queue: &SharedQueue, all: bool) -> Result<ExitStatus> {
    let entries = lock(queue).due(all)?;
    if entries.is_empty() {
        let waiting = lock(queue).due(true)?.len();
        if waiting == 0 {
            eprintln!("export retry: nothing to retry");
            return Ok(ExitStatus::Success);
        }
        eprintln!(
            "export retry: nothing due yet; {waiting} queued artifact(s) are still backing off (run without --due to try them now)"
        );
        return Ok(ExitStatus::CheckFailed);
    }
    let mut writers: Vec<Arc<dyn Writer>> = Vec::new();
    let mut seen = Vec::new();
    for entry in &entries {
        let key = (&entry.writer, &entry.destination);
        if !seen.contains(&key) {
            seen.push(key);
            match state.writer_for(entry) {
                Ok(w) => writers.push(w),
                Err(e) => eprintln!("export retry: {e}"),
            }
        }
    }
    let runtime = crate::args::runtime("playtrace-export")?;
    let drained = runtime.block_on(drain(queue, &writers, all, state.options()))?;
    let written = summarize_delivery("export retry", &drained.result);
    if drained.unconfigured > 0 {
        eprintln!(
            "export retry: {} left queued: their writer could not be set up here (see above)",
            drained.unconfigured
        );
    }
    Ok(if written && drained.unconfigured == 0 {
        ExitStatus::Success
    } else {
        ExitStatus::CheckFailed
    })
}

fn dlq(shared: &SharedQueue, action: &DlqAction) -> Result<ExitStatus> {
    let mut queue = lock(shared);
    match action {
        DlqAction::List => {
            let mut out = Vec::new();
            for e in queue.dead_letters()? {
                serde_json::to_writer(
                    &mut out,
                    &json!({"id": e.id, "writer": e.writer, "destination": destination_json(&e),
                            "name": e.artifact.name,
                            "bytes": e.artifact.bytes.len(), "sha256": e.sha256,
                            "attempts": e.attempts, "error": e.error}),
                )?;
                out.push(b'\n');
            }
            write_stdout(&out)?;
            Ok(ExitStatus::Success)
        }
        DlqAction::Retry { ids, delivery } => {
            let moved = queue.revive(ids)?;
            eprintln!("export dlq retry: {moved} moved back to the retry queue");
            drop(queue);
            retry(delivery, shared, true)
        }
        DlqAction::Purge { ids } => {
            let n = queue.purge(ids)?;
            eprintln!("export dlq purge: {n} removed");
            Ok(ExitStatus::Success)
        }
    }
}
