//! `playtrace export`: build QA artifacts from telemetry logs and fan them out to writers, with
//! a durable retry queue and a dead-letter queue; `export retry` and `export dlq` manage them.

use crate::ExitStatus;
use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand, ValueEnum};
use playtrace_core::budget::{BudgetSet, Metric};
use playtrace_core::report::{render_markdown, svg::latency_chart, InputStats};
use playtrace_core::scan::{scan_line_with, LineScan};
use playtrace_export::deliver::{deliver, drain, lock, DeliverOptions, SharedQueue};
use playtrace_export::fs::FsWriter;
use playtrace_export::queue::{sha256_hex, Queue, RetryPolicy};
use playtrace_export::s3::{S3Options, S3Writer};
use playtrace_export::stdout::StdoutWriter;
use playtrace_export::{Artifact, FanOut, Writer};
use playtrace_sdk::transcript::csv_field;
use playtrace_sdk::{TranscriptEntry, TranscriptRecorder};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::io::BufRead;
use std::path::PathBuf;
use std::sync::Arc;

pub const LONG_ABOUT: &str = "\
Build QA artifacts from telemetry logs and write them everywhere at once.

Artifacts (--kinds): report (the budget report as JSON, a CSV of per-contest durations, a
Markdown report with an SVG latency chart showing the budget line), transcripts (one per
session from telemetry.transcript.entry events, as JSON, CSV and Markdown), rejects (the lines
that could not be read, NDJSON). Writers (--to, repeatable): fs:DIR (atomic files),
s3://BUCKET/PREFIX (S3-compatible storage; --s3-endpoint for MinIO/Garage/s3s; credentials
from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY [/ AWS_SESSION_TOKEN] or the AWS_PROFILE in
~/.aws/credentials and ~/.aws/config, as the AWS CLI reads them), stdout.
Every artifact goes to every writer, writers in parallel; a writer that fails does not stop the
others. Transient failures (connection refused, timeouts, 5xx, 429) go to a durable retry
queue and are retried from it with exponential backoff and jitter for --retry-for; what still
fails then stays queued (`playtrace export retry` drains it). Permanent failures (403, a
missing bucket, a bad name) and exhausted retries (--max-attempts) go to a dead-letter queue
(`playtrace export dlq list|retry|purge`) with the artifact itself; nothing is dropped.
Re-running does not duplicate: names are deterministic and queue entries unique by content
hash. The manifest gives, per artifact and writer, status (written, queued, dead-lettered),
location, attempts and the last error, and per writer attempted, successes, failures,
retried, queued, deadLettered, bytes and durationMs.

  playtrace export logs/*.ndjson --to fs:artifacts --manifest artifacts/manifest.json
  playtrace export logs/run.ndjson --kinds report --to stdout --dry-run

Exit codes: 0 all written; 1 some artifacts left in the retry queue or the DLQ (the summary
names them); 2 usage or input error. A breached budget in a report does not change the exit
code (that is `playtrace monitor`'s job).";

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

    /// Telemetry logs (NDJSON, any dialect; `-` for standard input; .gz detected).
    files: Vec<String>,

    /// Which artifacts to build (comma-separated).
    #[arg(
        long,
        value_delimiter = ',',
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
    /// standard output (not with --to stdout).
    #[arg(long, value_name = "FILE")]
    manifest: Option<PathBuf>,

    /// Build everything and print the manifest of what would be written; write nothing.
    #[arg(long)]
    dry_run: bool,

    #[command(flatten)]
    state: StateArgs,

    /// Budgets file (TOML, as `playtrace monitor --budgets`).
    #[arg(long, value_name = "FILE")]
    budgets: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct StateArgs {
    /// Directory holding the retry queue (export.db).
    #[arg(
        long,
        value_name = "DIR",
        default_value = "./playtrace-data",
        global = true
    )]
    data_dir: PathBuf,

    /// The retry-queue database itself (overrides --data-dir).
    #[arg(long, value_name = "FILE", global = true)]
    state: Option<PathBuf>,

    /// S3-compatible endpoint (MinIO, Garage, s3s: http://127.0.0.1:9000); AWS when unset.
    /// Credentials and region come from the standard AWS variables, else from the profile
    /// AWS_PROFILE (default `default`) in ~/.aws/config and ~/.aws/credentials.
    #[arg(long, value_name = "URL", env = "AWS_ENDPOINT_URL", global = true)]
    s3_endpoint: Option<String>,

    /// Keep retrying transient failures (connection refused, timeouts, 5xx, 429) from the
    /// retry queue for this long, with exponential backoff (1 s, 2 s, 4 s, ... plus jitter);
    /// what still fails then stays queued for `playtrace export retry`. 0 queues at once.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = crate::smoke::duration, global = true)]
    retry_for: std::time::Duration,

    /// Attempts before a transiently failing artifact moves to the dead-letter queue.
    #[arg(long, value_name = "N", default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..), global = true)]
    max_attempts: u32,
}

impl StateArgs {
    fn open(&self) -> Result<SharedQueue> {
        let path = match &self.state {
            Some(p) => p.clone(),
            None => {
                std::fs::create_dir_all(&self.data_dir).with_context(|| {
                    format!(
                        "cannot create the data directory {}",
                        self.data_dir.display()
                    )
                })?;
                self.data_dir.join("export.db")
            }
        };
        let policy = RetryPolicy {
            max_attempts: self.max_attempts,
            ..RetryPolicy::default()
        };
        let queue = Queue::open(&path, policy)?;
        Ok(Arc::new(std::sync::Mutex::new(queue)))
    }

    fn options(&self) -> DeliverOptions {
        DeliverOptions {
            retry_for: self.retry_for,
        }
    }
}

#[derive(Debug, Subcommand)]
enum Action {
    /// Try every queued artifact again now, on the writer it was meant for (retrying
    /// transient failures for --retry-for, as the export does).
    Retry {
        /// Only the entries whose backoff has passed (for a periodic job).
        #[arg(long)]
        due: bool,
    },
    /// The dead-letter queue.
    Dlq {
        #[command(subcommand)]
        action: DlqAction,
    },
}

#[derive(Debug, Subcommand)]
enum DlqAction {
    /// List dead letters (JSON lines: id, writer, name, attempts, error).
    List,
    /// Move dead letters back to the retry queue (all, or the given ids) and retry them.
    Retry {
        /// Dead-letter ids (default: all).
        ids: Vec<i64>,
    },
    /// Delete dead letters (all, or the given ids).
    Purge {
        /// Dead-letter ids (default: all).
        ids: Vec<i64>,
    },
}

/// A writer from its command-line (or queue) id.
fn writer(spec: &str, state: &StateArgs) -> Result<Arc<dyn Writer>> {
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
        let options = S3Options {
            endpoint: state.s3_endpoint.clone(),
            ..S3Options::default()
        };
        let w = S3Writer::new(spec, &options).map_err(|e| anyhow::anyhow!("--to {spec}: {e}"))?;
        return Ok(Arc::new(w));
    }
    bail!("--to {spec}: not a writer; use fs:DIR, s3://BUCKET/PREFIX or stdout")
}

fn artifact(name: String, media_type: &str, kind: &str, bytes: Vec<u8>) -> Artifact {
    Artifact {
        name,
        media_type: media_type.into(),
        bytes: Arc::new(bytes),
        kind: kind.into(),
        context: Value::Null,
    }
}

/// The per-contest durations as CSV.
fn durations_csv(raw: &playtrace_core::summary::Raw) -> String {
    let mut out = String::from(
        "contest_id,hub_id,room_id,arming_duration_ms,resolution_duration_ms,participant_count,participant_capacity,resolved,outcomes\n",
    );
    let num =
        |v: Option<playtrace_core::num::Num>| v.map_or(String::new(), |n| json!(n).to_string());
    for c in &raw.contests {
        let row = [
            csv_field(&c.contest_id),
            csv_field(c.hub_id.as_deref().unwrap_or("")),
            csv_field(c.room_id.as_deref().unwrap_or("")),
            num(c.arming_duration_ms),
            num(c.resolution_duration_ms),
            c.participant_count.map_or(String::new(), |n| n.to_string()),
            c.participant_capacity
                .map_or(String::new(), |n| n.to_string()),
            c.resolved.to_string(),
            csv_field(&c.outcomes.join(";")),
        ];
        out.push_str(&row.join(","));
        out.push('\n');
    }
    out
}

fn report_artifacts(
    prefix: &str,
    names: &[String],
    budgets: &BudgetSet,
    kinds: &[Kind],
) -> Result<Vec<Artifact>> {
    let (summary, rejects) = crate::monitor::summarize(names, budgets)?;
    let mut out = Vec::new();
    if kinds.contains(&Kind::Report) {
        let mut json_summary = serde_json::to_value(&summary)?;
        if let Some(o) = json_summary.as_object_mut() {
            // The per-contest records go to the CSV; the JSON stays the monitor's summary.
            o.remove("raw");
        }
        out.push(artifact(
            format!("{prefix}-budget-report.json"),
            "application/json",
            "report",
            serde_json::to_vec_pretty(&json_summary)?,
        ));
        if let Some(raw) = &summary.raw {
            out.push(artifact(
                format!("{prefix}-contest-durations.csv"),
                "text/csv",
                "report",
                durations_csv(raw).into_bytes(),
            ));
            let samples: Vec<f64> = raw
                .contests
                .iter()
                .filter_map(|c| c.resolution_duration_ms.map(|n| n.0))
                .collect();
            let budget = budgets
                .p95_limit(Metric::Resolution)
                .unwrap_or(playtrace_core::budget::DEFAULT_RESOLUTION_P95_MS);
            let chart = format!("{prefix}-resolution-latency.svg");
            out.push(artifact(
                chart.clone(),
                "image/svg+xml",
                "report",
                latency_chart("Resolution latency", &samples, budget).into_bytes(),
            ));
            let stats = InputStats {
                inputs: names.len(),
                lines: 0,
                events: 0,
            };
            let md = format!(
                "{}\n![Resolution latency distribution, budget line at {} ms]({chart})\n",
                render_markdown(&summary, &stats),
                playtrace_core::num::human(budget)
            );
            out.push(artifact(
                format!("{prefix}-budget-report.md"),
                "text/markdown",
                "report",
                md.into_bytes(),
            ));
        }
    }
    if kinds.contains(&Kind::Rejects) {
        let mut bytes = Vec::new();
        for r in &rejects {
            serde_json::to_writer(&mut bytes, r)?;
            bytes.push(b'\n');
        }
        out.push(artifact(
            format!("{prefix}-rejects.ndjson"),
            "application/x-ndjson",
            "rejects",
            bytes,
        ));
    }
    Ok(out)
}

/// Transcripts from `telemetry.transcript.entry` events, one per session.
fn transcript_artifacts(prefix: &str, names: &[String]) -> Result<Vec<Artifact>> {
    let mut sessions: BTreeMap<String, Vec<TranscriptEntry>> = BTreeMap::new();
    for name in names {
        let file = std::fs::File::open(name).with_context(|| format!("cannot open {name}"))?;
        let reader: Box<dyn std::io::Read> = if name.ends_with(".gz") {
            Box::new(flate2::read::MultiGzDecoder::new(file))
        } else {
            Box::new(file)
        };
        for line in std::io::BufReader::new(reader).lines() {
            let Ok(line) = line else { continue };
            if !line.contains("telemetry.transcript.entry") {
                continue;
            }
            let Ok(LineScan::Event(true)) =
                scan_line_with(&line, |e| e.name == "telemetry.transcript.entry")
            else {
                continue;
            };
            let Some(event) = serde_json::from_str(&line)
                .ok()
                .and_then(|o| playtrace_core::event::Event::from_object(o).ok())
            else {
                continue;
            };
            let a = &event.attrs;
            let text = |k: &str| a.get(k).and_then(Value::as_str).map(str::to_string);
            let Some(session) = text("sessionId").or(event.session.clone()) else {
                continue;
            };
            sessions.entry(session).or_default().push(TranscriptEntry {
                sequence: a.get("sequence").and_then(Value::as_u64).unwrap_or(0),
                event: text("event").unwrap_or_default(),
                prompt_id: text("promptId"),
                title: text("title"),
                action: text("action").unwrap_or_default(),
                timestamp: a
                    .get("timestamp")
                    .and_then(Value::as_f64)
                    .or(event.time_ms)
                    .unwrap_or(0.0),
                narrative: text("narrative"),
                metadata: a.get("metadata").cloned().unwrap_or(Value::Null),
            });
        }
    }
    let mut out = Vec::new();
    for (session, entries) in sessions {
        let t = TranscriptRecorder::from_entries(session.clone(), entries);
        let safe: String = session
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let base = format!("{prefix}-transcript-{safe}");
        out.push(artifact(
            format!("{base}.json"),
            "application/json",
            "transcript",
            serde_json::to_vec_pretty(&t.to_json())?,
        ));
        out.push(artifact(
            format!("{base}.csv"),
            "text/csv",
            "transcript",
            t.to_csv().into_bytes(),
        ));
        out.push(artifact(
            format!("{base}.md"),
            "text/markdown",
            "transcript",
            t.to_markdown().into_bytes(),
        ));
    }
    Ok(out)
}

fn manifest(
    artifacts: &[Artifact],
    result: Option<&FanOut>,
    dry_run: bool,
    writers: &[String],
) -> Value {
    // Outcomes by artifact, once: thousands of artifacts × writers would make a scan per
    // artifact quadratic.
    let mut by_artifact: std::collections::HashMap<&str, Vec<&playtrace_export::Outcome>> =
        std::collections::HashMap::new();
    for o in result.iter().flat_map(|r| &r.outcomes) {
        by_artifact.entry(o.artifact.as_str()).or_default().push(o);
    }
    let list: Vec<Value> = artifacts
        .iter()
        .map(|a| {
            let writes: Vec<Value> = match result {
                Some(_) => by_artifact
                    .get(a.name.as_str())
                    .into_iter()
                    .flatten()
                    .map(|o| {
                        json!({"writer": o.writer, "status": o.status, "location": o.location,
                               "attempts": o.attempts, "error": o.error})
                    })
                    .collect(),
                None => writers
                    .iter()
                    .map(|w| json!({"writer": w, "status": "planned", "location": null, "attempts": 0, "error": null}))
                    .collect(),
            };
            json!({"name": a.name, "mediaType": a.media_type, "kind": a.kind,
                   "bytes": a.bytes.len(), "sha256": sha256_hex(&a.bytes), "writes": writes})
        })
        .collect();
    json!({
        "generatedAt": crate::collector::now_rfc3339(),
        "dryRun": dry_run,
        "artifacts": list,
        "writers": result.map_or(Value::Array(vec![]), |r| json!(r.writers)),
    })
}

pub fn run(args: ExportArgs) -> Result<ExitStatus> {
    match &args.action {
        Some(Action::Retry { due }) => return retry(&args.state, !*due),
        Some(Action::Dlq { action }) => return dlq(&args.state, action),
        None => {}
    }
    if args.files.is_empty() {
        bail!(
            "no input: pass telemetry logs to build artifacts from; see `playtrace export --help`"
        );
    }
    if args.to.is_empty() && !args.dry_run {
        bail!("no writer: add --to fs:DIR and/or --to stdout (or --dry-run to see what would be written)");
    }
    if args.manifest.as_ref().is_some_and(|m| m.as_os_str() == "-")
        && args.to.iter().any(|t| t == "stdout")
    {
        bail!("--manifest - and --to stdout would both write to standard output; give the manifest a file");
    }
    if args.files.iter().any(|f| f == "-") {
        bail!("export reads its inputs twice (reports, transcripts): pass files, not `-`");
    }
    let writers: Vec<Arc<dyn Writer>> = args
        .to
        .iter()
        .map(|s| writer(s, &args.state))
        .collect::<Result<_>>()?;
    let budgets = match &args.budgets {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read the budgets file `{}`", path.display()))?;
            BudgetSet::from_toml(&text)
                .with_context(|| format!("invalid budgets file `{}`", path.display()))?
        }
        None => BudgetSet::default(),
    };
    let mut artifacts = report_artifacts(&args.prefix, &args.files, &budgets, &args.kinds)?;
    if args.kinds.contains(&Kind::Transcripts) {
        artifacts.extend(transcript_artifacts(&args.prefix, &args.files)?);
    }
    let ids: Vec<String> = writers.iter().map(|w| w.id()).collect();
    if args.dry_run {
        let m = manifest(&artifacts, None, true, &ids);
        let mut out = serde_json::to_vec_pretty(&m)?;
        out.push(b'\n');
        crate::write_stdout(&out)?;
        return Ok(ExitStatus::Success);
    }
    let queue = args.state.open()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
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
        &queue,
        args.state.options(),
        done,
    ));
    progress.finish();
    let result = result?;
    if let Some(path) = &args.manifest {
        let m = manifest(&artifacts, Some(&result), false, &ids);
        let mut bytes = serde_json::to_vec_pretty(&m)?;
        if path.as_os_str() == "-" {
            bytes.push(b'\n');
            crate::write_stdout(&bytes)?;
        } else {
            playtrace_export::atomic::write_atomic(path, &bytes)
                .with_context(|| format!("cannot write the manifest {}", path.display()))?;
        }
    }
    Ok(if summarize_delivery("export", &result) {
        ExitStatus::Success
    } else {
        ExitStatus::CheckFailed
    })
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
    for o in result.outcomes.iter().filter(|o| o.status != "written") {
        all_written = false;
        let fate = if o.status == "queued" {
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

/// `export retry` (`all`: every entry, not only those whose backoff has passed).
fn retry(state: &StateArgs, all: bool) -> Result<ExitStatus> {
    let queue = state.open()?;
    let entries = lock(&queue).due(all)?;
    if entries.is_empty() {
        let waiting = lock(&queue).due(true)?.len();
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
        if !seen.contains(&entry.writer) {
            seen.push(entry.writer.clone());
            match writer(&entry.writer, state) {
                Ok(w) => writers.push(w),
                Err(e) => eprintln!("export retry: {e}"),
            }
        }
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let drained = runtime.block_on(drain(&queue, &writers, all, state.options()))?;
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

fn dlq(state: &StateArgs, action: &DlqAction) -> Result<ExitStatus> {
    let shared = state.open()?;
    let mut queue = lock(&shared);
    match action {
        DlqAction::List => {
            let mut out = Vec::new();
            for e in queue.dead_letters()? {
                serde_json::to_writer(
                    &mut out,
                    &json!({"id": e.id, "writer": e.writer, "name": e.artifact.name,
                            "bytes": e.artifact.bytes.len(), "sha256": e.sha256,
                            "attempts": e.attempts, "error": e.error}),
                )?;
                out.push(b'\n');
            }
            crate::write_stdout(&out)?;
            Ok(ExitStatus::Success)
        }
        DlqAction::Retry { ids } => {
            let moved = queue.revive(ids)?;
            eprintln!("export dlq retry: {moved} moved back to the retry queue");
            drop(queue);
            drop(shared);
            retry(state, true)
        }
        DlqAction::Purge { ids } => {
            let n = queue.purge(ids)?;
            eprintln!("export dlq purge: {n} removed");
            Ok(ExitStatus::Success)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use playtrace_core::num::Num;
    use playtrace_core::summary::{Raw, RawContest};

    #[test]
    fn the_durations_csv_quotes_what_needs_it_and_leaves_nulls_empty() {
        let contest =
            |id: &str, hub: Option<&str>, arming: Option<f64>, outcomes: &[&str]| RawContest {
                contest_id: id.into(),
                hub_id: hub.map(Into::into),
                room_id: None,
                arming_duration_ms: arming.map(Num),
                resolution_duration_ms: Some(Num(420.5)),
                participant_count: None,
                participant_capacity: Some(2),
                outcomes: outcomes.iter().map(|o| o.to_string()).collect(),
                resolved: true,
            };
        let raw = Raw {
            contests: vec![
                contest("plain", Some("hub-a"), Some(240.0), &["win"]),
                contest("a,b \"c\"", Some("h|ü ✓"), None, &[]),
                contest("line\r\nbreak", None, Some(0.0), &["x", "y,z"]),
            ],
            workflow_failures: vec![],
            expired: None,
        };
        assert_eq!(
            durations_csv(&raw),
            "contest_id,hub_id,room_id,arming_duration_ms,resolution_duration_ms,participant_count,participant_capacity,resolved,outcomes\n\
             plain,hub-a,,240,420.5,,2,true,win\n\
             \"a,b \"\"c\"\"\",h|ü ✓,,,420.5,,2,true,\n\
             \"line\r\nbreak\",,,0,420.5,,2,true,\"x;y,z\"\n"
        );
    }
}
