//! `playtrace export`: build QA artifacts from telemetry logs and fan them out to writers, with
//! a durable retry queue and a dead-letter queue; `export retry` and `export dlq` manage them.

mod attach;
mod publish;
mod queue;
mod read;

use crate::args::{BudgetArgs, Format, ReadArgs};
use crate::output::{write_stdout, ExitStatus};
use anyhow::{bail, Context, Result};
use clap::{Args, ValueEnum};
use playtrace_core::dims::Dimensions;
use playtrace_export::artifacts::ci::PayloadBudget;
use playtrace_export::artifacts::{self, Kinds, Source};
use playtrace_export::deliver::deliver;
use playtrace_export::{FanOut, Status, Writer};
use queue::{Action, DeliveryArgs, StateArgs};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub const LONG_ABOUT: &str = "\
Build QA artifacts from telemetry logs and write them everywhere at once.

Artifacts (--kinds): report (the budget report as JSON, a CSV of per-contest durations, one
SVG chart per budgeted metric (arming, resolution) with its budget line, p95 marker and verdict,
and a Markdown report embedding them; judged with the monitor's
options: --budgets, --arming-threshold, --resolution-threshold, --group-by, --allow-no-data,
--min-contests, so it says what `playtrace monitor` would say), transcripts (one per session
from telemetry.transcript.entry events, as JSON, CSV and Markdown), rejects (the lines that
could not be read, NDJSON; only when some were rejected). Writers (--to, repeatable): fs:DIR (atomic files),
s3://BUCKET/PREFIX (S3-compatible storage; --s3-endpoint for MinIO/Garage/s3s; credentials
from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY [/ AWS_SESSION_TOKEN] or the AWS_PROFILE in
~/.aws/credentials and ~/.aws/config, as the AWS CLI reads them), stdout.
Every artifact goes to every writer, writers in parallel; a writer that fails does not stop the
others. Transient failures (connection refused, timeouts, 5xx, 429) go to a durable retry
queue and are retried from it with exponential backoff and jitter for --retry-for; what still
fails then stays queued (`playtrace export retry` drains it, writing to exactly the destination each artifact was
queued for; `playtrace export queue list` shows them). Permanent failures (403, a
missing bucket, a bad name) and exhausted retries (--max-attempts) go to a dead-letter queue
(`playtrace export dlq list|retry|purge`) with the artifact itself; nothing is dropped.
Re-running does not duplicate: names are deterministic and queue entries unique by content
hash. The manifest gives, per artifact and writer, status (written, queued, dead-lettered),
location, attempts and the last error, and per writer attempted, successes, failures,
retried, queued, deadLettered, bytes and durationMs.

  playtrace export logs/*.ndjson --to fs:artifacts --manifest artifacts/manifest.json
  playtrace export logs/run.ndjson --kinds report --to stdout --dry-run

Inputs are read once, with the same engine and limits as `playtrace monitor` (`-` is standard
input, pipes and FIFOs work, gzip is detected by content); lines that cannot be read are
rejects, counted in the report and the manifest and written to the rejects artifact. The retry
queue lives in --state DIR (default ./playtrace-export), locked by one export at a time.

CI publishing: --attach FILE... (globs too) publishes the game's own files alongside;
--manifest-format ci writes the CI publisher's manifest shape; --payload-budget SIZE checks all
artifacts' bytes together; --bundle FILE.zip|FILE.tar.gz packs everything, the manifest, a
metadata.json and a README into one archive for QA.

Exit codes: 0 all written (and within --payload-budget); 1 some artifacts left in the retry
queue or the DLQ (the summary names them), or the payload over --payload-budget; 2 usage or
input error. A breached budget in a report does not change the exit code (that is `playtrace
monitor`'s job).";

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Kind {
    /// Budget report (JSON, per-contest CSV, Markdown + SVG).
    Report,
    /// Transcripts per session.
    Transcripts,
    /// Rejected lines.
    Rejects,
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct ExportArgs {
    #[command(subcommand)]
    action: Option<Action>,

    /// Telemetry logs (NDJSON, any dialect; `-` for standard input; gzip detected by content).
    files: Vec<String>,

    /// Which artifacts to build (comma-separated).
    #[arg(
        long,
        value_delimiter = ',',
        ignore_case = true,
        default_value = "report,transcripts,rejects"
    )]
    kinds: Vec<Kind>,

    /// Where to write: fs:DIR, s3://BUCKET/PREFIX or stdout (repeatable).
    #[arg(long = "to", value_name = "WRITER")]
    to: Vec<String>,

    /// File-name prefix of every artifact.
    #[arg(long, default_value = "playtrace")]
    prefix: String,

    /// Write the manifest (every artifact, and per writer its status) here; `-` prints it on
    /// standard output (not with --to stdout). `--manifest` is the old name.
    #[arg(
        short = 'o',
        long = "output",
        visible_alias = "manifest",
        value_name = "FILE"
    )]
    manifest: Option<PathBuf>,

    /// Output on standard output: text (one line per writer and per artifact not written, on
    /// stderr) or json (also the manifest on standard output).
    #[arg(long, value_enum, ignore_case = true, default_value_t = Format::Text)]
    format: Format,

    /// Build everything and print the manifest of what would be written; write nothing.
    #[arg(long)]
    dry_run: bool,

    /// Also publish these files, produced by the game's own tooling (inspector CSVs, QA
    /// metadata), with the same writers, retries and manifest; globs too ('qa/*.csv').
    /// Named by their file name. Put the logs before --attach (or end its list with --).
    #[arg(long, value_name = "FILE", num_args = 1..)]
    attach: Vec<String>,

    /// The manifest's shape: playtrace, or ci (the CI publisher's: generatedAt, artifacts
    /// [{filepath, filename}], context{metrics, budgetStatus}, fallbackSummary).
    #[arg(long, value_enum, ignore_case = true, default_value_t = publish::ManifestFormat::Playtrace)]
    manifest_format: publish::ManifestFormat,

    /// Every artifact's bytes together must stay within SIZE (e.g. 12KB); over it is a failed
    /// check (exit 1), and the CI manifest's budgetStatus says by how much.
    #[arg(long, value_name = "SIZE", value_parser = crate::args::positive_bytes)]
    payload_budget: Option<playtrace_core::units::Bytes>,

    /// Also pack everything written, with the manifest, a metadata.json and a README, into
    /// one archive for QA: FILE.zip or FILE.tar.gz.
    #[arg(long, value_name = "FILE", conflicts_with = "dry_run")]
    bundle: Option<PathBuf>,

    #[command(flatten)]
    state: StateArgs,

    #[command(flatten)]
    delivery: DeliveryArgs,

    /// The report's budgets, groups and gate, exactly as `playtrace monitor` takes them, so
    /// the report says what the monitor would say.
    #[command(flatten)]
    budget: BudgetArgs,

    #[command(flatten)]
    read: ReadArgs,
}

pub fn run(args: ExportArgs) -> Result<ExitStatus> {
    if let Some(action) = &args.action {
        return queue::run(&args.state, action);
    }
    if let Some(verb) = args
        .files
        .first()
        .filter(|f| ["retry", "queue", "dlq"].contains(&f.as_str()) && !Path::new(f).exists())
    {
        // clap reads a subcommand only before export's own flags; `--state DIR dlq list` would
        // otherwise read `dlq list` as two missing logs.
        bail!(
            "`{verb}` is a subcommand of export: put it first, then its flags \
             (`playtrace export {} --state DIR`)",
            args.files.join(" ")
        );
    }
    if args.files.is_empty() {
        bail!(
            "no input: pass telemetry logs to build artifacts from; see `playtrace export --help`"
        );
    }
    if args.to.is_empty() && !args.dry_run {
        bail!("no writer: add --to fs:DIR and/or --to stdout (or --dry-run to see what would be written)");
    }
    if (args.manifest.as_ref().is_some_and(|m| m.as_os_str() == "-") || args.format == Format::Json)
        && args.to.iter().any(|t| t == "stdout")
    {
        bail!("--output - (or --format json) and --to stdout would both write to standard output; give the manifest a file with -o FILE");
    }
    if args.prefix.chars().any(char::is_control) {
        bail!("--prefix must not contain control characters (newlines, tabs)");
    }
    let writers: Vec<Arc<dyn Writer>> = args
        .to
        .iter()
        .map(|s| args.delivery.writer(s))
        .collect::<Result<_>>()?;
    let budgets = args.budget.budget_set()?;
    // The queue is locked before the inputs are read, so a second export on the same --state
    // stops at once rather than after reading everything.
    let state = if args.dry_run {
        None
    } else {
        Some(args.state.open(args.delivery.max_attempts)?)
    };
    let kinds = Kinds {
        report: args.kinds.contains(&Kind::Report),
        transcripts: args.kinds.contains(&Kind::Transcripts),
        rejects: args.kinds.contains(&Kind::Rejects),
    };
    let read = read::read(
        &args.files,
        &budgets,
        args.budget.group_by(&Dimensions::default())?,
        &args.read,
        kinds,
    )?;
    warn_about_input(&read, kinds);
    let artifacts = artifacts::build(
        &args.prefix,
        kinds,
        &Source {
            summary: &read.summary,
            read: &read.stats,
            budgets: &budgets,
            gate: args.budget.gate(),
            rejects_ndjson: &read.rejects_ndjson,
            transcripts: &read.transcripts,
        },
    )?;
    let mut artifacts = artifacts;
    publish::attach(&mut artifacts, attach::attachments(&args.attach)?)?;
    if let Some(path) = &args.bundle {
        playtrace_export::bundle::BundleFormat::of(path)?;
    }
    let ids: Vec<String> = writers.iter().map(|w| w.id()).collect();
    let payload = PayloadBudget::of(&artifacts, args.payload_budget.map(|b| b.as_u64()));
    let run = |result| publish::Run {
        artifacts: &artifacts,
        result,
        writers: &ids,
        read: &read.stats,
        prefix: &args.prefix,
        payload,
    };
    let Some(state) = state else {
        write_stdout(&publish::manifest(args.manifest_format, &run(None))?)?;
        return Ok(if publish::check_payload(&payload) {
            ExitStatus::CheckFailed
        } else {
            ExitStatus::Success
        });
    };
    let runtime = crate::args::runtime("playtrace-export")?;
    let done = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let progress = crate::progress::Progress::start_items(
        true,
        (artifacts.len() * writers.len()) as u64,
        done.clone(),
        "writes",
    );
    let result = runtime.block_on(deliver(
        &artifacts,
        &writers,
        &state.queue,
        args.delivery.options(),
        done,
    ));
    progress.finish();
    let result = result?;
    let bytes = publish::manifest(args.manifest_format, &run(Some(&result)))?;
    let to_stdout = args.manifest.as_ref().is_some_and(|p| p.as_os_str() == "-");
    if let Some(path) = args.manifest.as_ref().filter(|_| !to_stdout) {
        playtrace_export::atomic::write_atomic(path, &bytes)
            .with_context(|| format!("cannot write the manifest {}", path.display()))?;
    }
    if to_stdout || args.format == Format::Json {
        write_stdout(&bytes)?;
    }
    if let Some(path) = &args.bundle {
        let report = kinds.report.then(|| {
            serde_json::json!({
                "outcome": args.budget.gate().outcome(&read.summary).as_str(),
                "contestsObserved": read.summary.totals.contests_observed,
                "budgets": read.summary.budgets,
            })
        });
        publish::write_bundle(path, &args.prefix, &artifacts, &bytes, report)?;
    }
    let all_written = summarize_delivery("export", &result);
    let over_budget = publish::check_payload(&payload);
    Ok(if all_written && !over_budget {
        ExitStatus::Success
    } else {
        ExitStatus::CheckFailed
    })
}

/// Says on stderr what was read but cannot be in the artifacts as such: rejected lines (they
/// are in the rejects artifact and the report's counts) and transcript entries without a
/// session.
fn warn_about_input(read: &read::Read, kinds: Kinds) {
    let mut err = std::io::stderr().lock();
    let total = read.stats.rejects.total();
    if total > 0 {
        let _ = writeln!(
            err,
            "warning: {total} {} rejected",
            if total == 1 { "line was" } else { "lines were" }
        );
        for r in &read.first_rejects {
            let _ = writeln!(err, "  {}:{}: {}: {}", r.file, r.line, r.kind, r.message);
        }
        let _ = writeln!(
            err,
            "  {}",
            if kinds.rejects {
                "all rejected lines are in the rejects artifact"
            } else {
                "add rejects to --kinds to export them all"
            }
        );
    }
    let orphans = read.transcripts.without_session();
    if orphans > 0 {
        let _ = writeln!(
            err,
            "warning: {orphans} transcript {} no sessionId (nor an envelope session) and {} left out of the transcripts",
            if orphans == 1 { "entry has" } else { "entries have" },
            if orphans == 1 { "is" } else { "are" },
        );
    }
}

/// One line per writer, then one per artifact that is not written (queued or dead-lettered);
/// returns whether everything was written.
fn summarize_delivery(command: &str, result: &FanOut) -> bool {
    for w in &result.writers {
        let mut line = format!(
            "{command}: {}: {} of {} written ({} bytes, {} ms)",
            w.id, w.successes, w.attempted, w.bytes, w.duration_ms
        );
        if w.retried > 0 {
            line.push_str(&format!(", {} retries", w.retried));
        }
        if w.queued + w.dead_lettered > 0 {
            line.push_str(&format!(
                ", {} queued for retry, {} dead-lettered",
                w.queued, w.dead_lettered
            ));
        }
        eprintln!("{line}");
    }
    let mut all_written = true;
    for o in result
        .outcomes
        .iter()
        .filter(|o| o.status != Status::Written)
    {
        all_written = false;
        let fate = if o.status == Status::Queued {
            "queued for retry: `playtrace export retry`"
        } else {
            "in the dead-letter queue: `playtrace export dlq list`"
        };
        eprintln!(
            "{command}: {} → {}: {} (after {} attempt{}; {fate})",
            o.artifact,
            o.writer,
            o.error.as_deref().unwrap_or("not attempted"),
            o.attempts,
            if o.attempts == 1 { "" } else { "s" }
        );
    }
    all_written
}
