//! `playtrace qa`: replay a batch of offline publishing jobs (session closures, or the old
//! harness's reports) through the moderation hold, versioned publishing with rollback and
//! search-index sync with a durable retry queue; `qa drain` re-executes queued search jobs and
//! `qa rollback` points a session back to an earlier published version. The engine is the
//! playtrace-qa crate; this module is flags, output and exit codes.

mod text;

use crate::args::Format;
use crate::output::{write_stdout, ExitStatus};
use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand, ValueEnum};
use playtrace_core::time::parse_rfc3339_ms;
use playtrace_export::fs::FsWriter;
use playtrace_export::s3::{S3Options, S3Writer};
use playtrace_qa::decisions::Decisions;
use playtrace_qa::gate::{GateConfig, Severity};
use playtrace_qa::telemetry::Telemetry;
use playtrace_qa::{DrainOptions, DriftMode, QaOptions, Target};
use std::path::PathBuf;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

pub const LONG_ABOUT: &str = "\
Replay a batch of offline publishing jobs and check every step.

Input (--input FILE|DIR, .json/.ndjson files) is told apart by its shape and reported as `mode`:
session-closure records (sessionId, sessionClosedAt, deltas[]: see docs/qa.md) run through
every step — the moderation gate (capability_violation, conflict_detected, low_confidence),
the publishing cadence from sessionClosedAt, publishing and search sync; reports of the old
harness (<session>-offline-qa.json) are replayed: their recorded counts are trusted, their
state is checked for contradictions, and what they left undone is carried on.

A batch with a flagged delta and no decision is held (awaiting_moderation): nothing is
published and no search job runs until --decisions approves or rejects it. A released batch
is published (--publish-to fs:DIR or s3://BUCKET/PREFIX) under <session>/v<N>/, then the
<session>/current pointer is replaced; if any object fails the pointer stays where it was.
Search sync writes each bundle into an SQLite FTS5 index (--index, default <state>/search.db)
and reads its version back; a failure or a stale version is drift, queued durably with
retryAt = now + 5 min x 2^(attempt-1), at most 3 attempts, then dead-lettered as
searchOutOfSync. `playtrace qa drain` re-executes due jobs (--force: all of them).

  playtrace qa --input qa-batch-gamma.json -o reports
  playtrace qa --input closures/ --publish-to s3://lore/published --simulate-search-drift
  playtrace qa drain --force
  playtrace qa rollback --session s-17

Findings (contradictions: published while held, search jobs for a held batch, a version
published without its pointer, a drift never retried) are listed under Findings and in the
JSON's `findings`. With --url the pipeline's events go to a collector.

Exit codes: 0 everything published and in sync, no findings; 1 something held for moderation,
unpublished, out of sync, left queued, or a finding; 2 usage or unreadable input.";

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum DriftArg {
    /// Every other search job fails its first attempt.
    First,
    /// The same jobs fail every attempt (they end dead-lettered).
    Always,
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct QaArgs {
    #[command(subcommand)]
    action: Option<Action>,

    /// Session-closure records or old offline-qa reports (a file or a directory).
    #[arg(long, value_name = "FILE|DIR")]
    input: Option<PathBuf>,

    /// Only this session.
    #[arg(long, value_name = "ID")]
    session: Option<String>,

    /// Write <session>-offline-qa.json per session and the batch rollup into DIR.
    #[arg(short = 'o', long = "output", value_name = "DIR")]
    output: Option<PathBuf>,

    #[command(flatten)]
    common: Common,

    /// Publish released batches: fs:DIR or s3://BUCKET/PREFIX (credentials and endpoint from
    /// AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_ENDPOINT_URL or AWS_PROFILE).
    #[arg(long, value_name = "TARGET")]
    publish_to: Option<String>,

    /// Moderators' decisions (JSON: {"decisions": [{"sessionId", "deltaId"?, "decision"}]}).
    #[arg(long, value_name = "FILE")]
    decisions: Option<PathBuf>,

    /// Fail search jobs deterministically: `first` (default) fails the first attempt of every
    /// other job, `always` every attempt of them.
    #[arg(
        long,
        value_enum,
        ignore_case = true,
        num_args = 0..=1,
        default_missing_value = "first",
        value_name = "MODE"
    )]
    simulate_search_drift: Option<DriftArg>,

    /// Make the storage fail halfway through each batch (the pointer must not move).
    #[arg(long)]
    simulate_storage_outage: bool,

    /// A delta below this confidence needs review.
    #[arg(long, value_name = "X", default_value_t = 0.6)]
    low_confidence_below: f64,

    /// The lowest capability severity that is a violation: low, medium, high, critical.
    #[arg(long, value_name = "SEVERITY", default_value = "high")]
    capability_severity: String,
}

/// Flags every qa action shares.
#[derive(Debug, Args)]
struct Common {
    /// The durable state: retry queue, publish versions, pointers.
    #[arg(long, value_name = "DIR", default_value = playtrace_qa::DEFAULT_STATE_DIR)]
    state: PathBuf,

    /// The FTS5 search index (default <state>/search.db).
    #[arg(long, value_name = "PATH")]
    index: Option<PathBuf>,

    /// "Now" (RFC 3339), for reproducible runs: generatedAt and retry times.
    #[arg(long, value_name = "RFC3339")]
    now: Option<String>,

    /// Send the pipeline's events to this collector.
    #[arg(long, value_name = "URL")]
    url: Option<String>,

    /// Ingest token for --url.
    #[arg(long, env = "PLAYTRACE_INGEST_TOKEN", hide_env_values = true)]
    token: Option<String>,

    /// Output format.
    #[arg(long, value_enum, ignore_case = true, default_value = "text")]
    format: Format,
}

#[derive(Debug, Subcommand)]
enum Action {
    /// Re-execute queued search jobs whose retryAt has come.
    Drain {
        /// Ignore retryAt: re-execute every pending job now (for QA runs).
        #[arg(long)]
        force: bool,
        #[command(flatten)]
        common: Common,
    },
    /// Point a session's `current` back to an earlier published version.
    Rollback {
        /// The session.
        #[arg(long, value_name = "ID")]
        session: String,
        /// The version (default: the newest complete one before the current).
        #[arg(long, value_name = "VERSION")]
        to: Option<i64>,
        /// Where the pointer lives (default: where the session was published).
        #[arg(long, value_name = "TARGET")]
        publish_to: Option<String>,
        #[command(flatten)]
        common: Common,
    },
}

fn now_ms(common: &Common) -> Result<f64> {
    match &common.now {
        Some(t) => parse_rfc3339_ms(t)
            .with_context(|| format!("--now `{t}` is not an RFC 3339 time (2025-11-05T07:30:00Z)")),
        None => Ok(playtrace_qa::now_ms()),
    }
}

fn telemetry(common: &Common) -> Result<Telemetry> {
    match &common.url {
        Some(url) => Telemetry::connect(url, common.token.clone())
            .with_context(|| format!("--url {url}: cannot start the telemetry client")),
        None => Ok(Telemetry::off()),
    }
}

fn finish(telemetry: &Telemetry) {
    if let Err(e) = telemetry.flush(Duration::from_secs(10)) {
        tracing::warn!("telemetry not all delivered to --url: {e}");
    }
}

/// A publishing target from its spec.
fn target(spec: &str) -> Result<Target, String> {
    if let Some(dir) = spec.strip_prefix("fs:") {
        if dir.is_empty() {
            return Err("--publish-to fs: needs a directory, e.g. fs:published".into());
        }
        return Ok(Target {
            writer: Arc::new(FsWriter::new(dir)),
            spec: spec.to_string(),
        });
    }
    if spec.starts_with("s3://") {
        let w = S3Writer::new(spec, &S3Options::default())
            .map_err(|e| format!("--publish-to {spec}: {e}"))?;
        return Ok(Target {
            writer: Arc::new(w),
            spec: spec.to_string(),
        });
    }
    Err(format!(
        "--publish-to {spec}: not a target; use fs:DIR or s3://BUCKET/PREFIX"
    ))
}

pub fn run(args: QaArgs) -> Result<ExitStatus> {
    match args.action {
        Some(Action::Drain { force, common }) => drain(force, &common),
        Some(Action::Rollback {
            session,
            to,
            publish_to,
            common,
        }) => rollback(&session, to, publish_to.as_deref(), &common),
        None => run_batch(args),
    }
}

fn run_batch(args: QaArgs) -> Result<ExitStatus> {
    let Some(input) = &args.input else {
        bail!("--input FILE|DIR is required (session-closure records or offline-qa reports); see `playtrace qa --help`");
    };
    let common = &args.common;
    let now = now_ms(common)?;
    let severity = Severity::parse(&args.capability_severity).with_context(|| {
        format!(
            "--capability-severity `{}`: write low, medium, high or critical",
            args.capability_severity
        )
    })?;
    if !(0.0..=1.0).contains(&args.low_confidence_below) {
        bail!("--low-confidence-below must be between 0 and 1");
    }
    let decisions = match &args.decisions {
        Some(path) => Decisions::load(path)?,
        None => Decisions::default(),
    };
    let target = match &args.publish_to {
        Some(spec) => Some(target(spec).map_err(anyhow::Error::msg)?),
        None => None,
    };
    let read_started = std::time::Instant::now();
    let sessions = playtrace_qa::input::load(input, args.session.as_deref())?;
    let read_seconds = read_started.elapsed().as_secs_f64();
    let telemetry = telemetry(common)?;
    let done = Arc::new(AtomicU64::new(0));
    let progress = crate::progress::Progress::start_items(
        common.format == Format::Text || sessions.len() > 1,
        sessions.len() as u64,
        Arc::clone(&done),
        "sessions",
    );
    let options = QaOptions {
        sessions,
        output: args.output.clone(),
        state_dir: common.state.clone(),
        target,
        index: common.index.clone(),
        now_ms: now,
        decisions,
        drift: match args.simulate_search_drift {
            None => DriftMode::Off,
            Some(DriftArg::First) => DriftMode::First,
            Some(DriftArg::Always) => DriftMode::Always,
        },
        storage_outage: args.simulate_storage_outage,
        gate: GateConfig {
            low_confidence_below: args.low_confidence_below,
            capability_min_severity: severity,
        },
        cadence: Default::default(),
    };
    let result = playtrace_qa::run(options, &telemetry, &done);
    progress.finish();
    finish(&telemetry);
    let mut result = result?;
    result.summary["timings"]["readSeconds"] = read_seconds.into();
    let out = match common.format {
        Format::Json => {
            let mut s = serde_json::to_string_pretty(&result.summary)?;
            s.push('\n');
            s
        }
        Format::Text => text::batch(&result.summary),
    };
    write_stdout(out.as_bytes())?;
    Ok(if result.failed {
        ExitStatus::CheckFailed
    } else {
        ExitStatus::Success
    })
}

fn drain(force: bool, common: &Common) -> Result<ExitStatus> {
    let telemetry = telemetry(common)?;
    let result = playtrace_qa::drain(
        &DrainOptions {
            state_dir: common.state.clone(),
            index: common.index.clone(),
            now_ms: now_ms(common)?,
            force,
        },
        &telemetry,
    );
    finish(&telemetry);
    let result = result?;
    let out = match common.format {
        Format::Json => format!("{}\n", serde_json::to_string_pretty(&result.to_json())?),
        Format::Text => text::drain(&result),
    };
    write_stdout(out.as_bytes())?;
    Ok(if result.pending == 0 && result.dead_lettered == 0 {
        ExitStatus::Success
    } else {
        ExitStatus::CheckFailed
    })
}

fn rollback(
    session: &str,
    to: Option<i64>,
    publish_to: Option<&str>,
    common: &Common,
) -> Result<ExitStatus> {
    let given = match publish_to {
        Some(spec) => Some(target(spec).map_err(anyhow::Error::msg)?),
        None => None,
    };
    let result = playtrace_qa::rollback(
        &common.state,
        session,
        to,
        given,
        target,
        common.index.as_deref(),
        now_ms(common)?,
    )?;
    let out = match common.format {
        Format::Json => format!("{}\n", serde_json::to_string_pretty(&result)?),
        Format::Text => format!(
            "{}: current now points to v{} (was {}){}; search index: {} documents restored ({} queued for retry), {} removed\n",
            result.session_id,
            result.to,
            result.from.map_or("nothing".into(), |v| format!("v{v}")),
            result
                .target
                .as_deref()
                .map_or(String::new(), |t| format!(" in {t}")),
            result.reindexed.synced,
            result.reindexed.queued,
            result.reindexed.removed,
        ),
    };
    write_stdout(out.as_bytes())?;
    Ok(ExitStatus::Success)
}
