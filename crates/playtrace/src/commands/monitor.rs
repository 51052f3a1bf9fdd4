//! `playtrace monitor`: contest latency budgets from telemetry logs, as a CI gate.

use crate::args::{BudgetArgs, ReadArgs, ReportFormat as Format};
use crate::output::{emit, ExitStatus};
use crate::progress::Progress;
use anyhow::{bail, Context, Result};
use clap::Args;
use playtrace_core::contest::{Correlator, CorrelatorOptions};
use playtrace_core::dims::{Dimension, Dimensions, DEFAULT_MAX_VALUES};
use playtrace_core::reject::Reject;
use playtrace_core::report::{render_markdown, render_text, InputStats, Outcome};
use playtrace_export::atomic::AtomicFile;
use playtrace_server::config::OfflineConfig;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::Arc;

const ABOUT: &str = "Check contest latency budgets in telemetry logs (a CI gate)";

pub(crate) const LONG_ABOUT: &str = "\
Check contest latency budgets in telemetry logs (a CI gate).

Reads telemetry logs, correlates PvP contest lifecycles (armed → launched → resolved, failed or
expired) and reports the p50/p95/p99/max of arming and resolution latency against budgets,
participant demand, timeouts and player sentiment.

Inputs are NDJSON in any PlayTrace dialect (structured log lines {level, timestamp, message, ...},
native envelopes {event, ts, attrs}), timeline artefacts {\"timeline\": [...]}, or a previous
`monitor --format json --include-raw` summary. Files may be gzip-compressed; `-` is standard input
(also read when no file is given and stdin is not a terminal). Lines that cannot be read are
counted as rejects (parse, schema, size, encoding) and never stop the run.

Durations come from armingDurationMs / resolutionDurationMs when present, else from
createdAt / startedAt / resolvedAt / expiredAt fields, else from the events' own timestamps.
Percentiles are exact nearest-rank. A budget is breached when its percentile is strictly above
the limit; with fewer samples than its min_samples it is insufficient_data. When an overall
budget is insufficient_data (or there are fewer contests than --min-contests) the run's outcome
is no_data, which fails the gate unless --allow-no-data: a wrong log path must not pass CI.
A --group-by group with too few samples never fails the run (a rarely used room is normal).";

const AFTER_HELP: &str = "\
Examples:
  playtrace monitor logs/contests.ndjson
  playtrace monitor --format json logs/*.ndjson.gz > summary.json
  playtrace monitor --group-by room --budgets budgets.toml --format markdown staging.ndjson
  playtrace monitor --dimension variant=variant --group-by variant ab-test.ndjson
  playtrace monitor --config serve.toml --group-by variant ab-test.ndjson
  kubectl logs deploy/hub | playtrace monitor --rejects rejects.ndjson

Budgets file (TOML):
  [[budget]]
  metric = \"arming\"        # arming | resolution | expiredArming
  percentile = 95          # default 95
  limit_ms = 8000          # or a duration such as \"8s\"
  min_samples = 20         # default 1

Exit codes:
  0  no budget breached, and every overall budget had enough samples (outcome pass)
  1  a budget breached, overall or in any --group-by group (outcome breach), or too little
     data to judge (outcome no_data) without --allow-no-data
  2  usage error, bad budgets file, or an input that cannot be opened or read";

/// Arguments of `playtrace monitor`.
#[derive(Debug, Args)]
#[command(about = ABOUT, long_about = LONG_ABOUT, after_help = AFTER_HELP)]
pub struct MonitorArgs {
    /// Telemetry logs to read (`-` for standard input; .gz read transparently).
    #[arg(value_name = "FILE")]
    files: Vec<String>,

    /// Also a log to read; repeatable (the old monitor script's flag).
    #[arg(short = 'i', long = "input", value_name = "FILE")]
    input: Vec<String>,

    /// Output format.
    #[arg(long, value_enum, ignore_case = true, default_value_t = Format::Text)]
    format: Format,

    /// Same as --format json (the old monitor script's flag).
    #[arg(long, hide = true, conflicts_with = "format")]
    json: bool,

    /// Add the `raw` block (every contest, workflow failure and timeout) to JSON output, so the
    /// summary can be re-read by `playtrace monitor` later. Keeps every contest id in memory.
    #[arg(long)]
    include_raw: bool,

    #[command(flatten)]
    budget: BudgetArgs,

    /// Write the report to this file (atomically: whole or not at all) instead of standard
    /// output, e.g. a CI job summary.
    #[arg(short = 'o', long, value_name = "FILE")]
    output: Option<PathBuf>,

    /// An attribute to group by, as NAME=ATTR (`build=clientVersion`: --group-by build reads
    /// `attrs.clientVersion`); repeatable, at most 4, the same as the collector's [[dimensions]].
    /// Each keeps its first 1,000 values (NAME=ATTR:N for N), later ones are grouped as `other`.
    #[arg(long, value_name = "NAME=ATTR", value_parser = dimension)]
    dimension: Vec<Dimension>,

    /// A `playtrace serve` config file: its [[dimensions]] are declared as with --dimension,
    /// and its [[budget]] entries are the budgets unless --budgets is given, so --group-by
    /// groups as the collector's GET /v1/budgets?group_by= does.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,

    /// Write every rejected line as NDJSON {file, line, kind, message, raw} to FILE.
    #[arg(long, value_name = "FILE")]
    rejects: Option<PathBuf>,

    #[command(flatten)]
    read: ReadArgs,

    /// No progress bar and no warnings on stderr.
    #[arg(short, long)]
    quiet: bool,
}

fn dimension(text: &str) -> Result<Dimension, String> {
    let usage = || {
        format!("`{text}` is not NAME=ATTR (e.g. build=clientVersion, or build=clientVersion:500)")
    };
    let (name, rest) = text.split_once('=').ok_or_else(usage)?;
    let (attr, max_values) = match rest.rsplit_once(':') {
        Some((attr, n)) => (attr, n.parse::<usize>().map_err(|_| usage())?),
        None => (rest, DEFAULT_MAX_VALUES),
    };
    Ok(Dimension {
        name: name.trim().to_string(),
        attr: attr.trim().to_string(),
        max_values,
    })
}

/// Runs `playtrace monitor`.
pub fn run(args: MonitorArgs) -> Result<ExitStatus> {
    let format = if args.json { Format::Json } else { args.format };
    let names = input_names(&args)?;
    let offline = match &args.config {
        Some(path) => {
            OfflineConfig::from_file(path).map_err(|e| anyhow::anyhow!("--config: {e}"))?
        }
        None => OfflineConfig::default(),
    };
    let budgets = match offline.budgets {
        Some(set) if args.budget.budgets.is_none() => args.budget.with_thresholds(set)?,
        _ => args.budget.budget_set()?,
    };
    let declared = offline.dimensions.list().iter().cloned();
    let dims = Dimensions::new(declared.chain(args.dimension.iter().cloned()).collect())
        .map_err(|e| anyhow::anyhow!("--dimension (with --config's [[dimensions]]): {e}"))?;
    let group_by = args.budget.group_by(&dims)?;

    let counter = Arc::default();
    let opened = playtrace_read::open_all(&names, &counter)?;
    let total_bytes = opened.total_bytes;
    let mut rejects_file = match &args.rejects {
        Some(path) => Some(
            AtomicFile::create(path)
                .with_context(|| format!("cannot create the rejects file `{}`", path.display()))?,
        ),
        None => None,
    };

    let mut correlator = Correlator::new(CorrelatorOptions {
        include_raw: args.include_raw,
        group_by,
    })
    .with_dimensions(&dims);
    if let Some(bytes) = total_bytes {
        // About one contest per kilobyte of log is typical; cap the guess so a huge input of
        // other events cannot reserve much memory up front.
        correlator.reserve(
            usize::try_from(bytes / 1024)
                .unwrap_or(usize::MAX)
                .min(4 << 20),
        );
    }
    let progress = Progress::start(!args.quiet, total_bytes, Arc::clone(&counter));
    let mut first_rejects: Vec<Reject> = Vec::new();
    let mut on_reject = |reject: Reject| -> Result<(), playtrace_read::SinkError> {
        if let (Some(file), Some(path)) = (rejects_file.as_mut(), &args.rejects) {
            serde_json::to_writer(&mut *file, &reject)
                .map_err(std::io::Error::from)
                .and_then(|()| file.write_all(b"\n"))
                .map_err(|e| format!("cannot write the rejects file `{}`: {e}", path.display()))?;
        }
        if first_rejects.len() < 3 {
            first_rejects.push(reject);
        }
        Ok(())
    };
    let result = playtrace_read::read(
        opened.inputs,
        args.read.options(),
        &mut correlator,
        &mut on_reject,
    );
    progress.finish();
    let stats = result?;
    if let (Some(file), Some(path)) = (rejects_file, &args.rejects) {
        file.commit()
            .with_context(|| format!("cannot write the rejects file `{}`", path.display()))?;
    }

    let input_stats = InputStats {
        inputs: names.len(),
        lines: stats.lines,
        events: correlator.events(),
    };
    let summary = correlator.finish(&budgets, stats.rejects);
    let gate = args.budget.gate();
    let outcome = gate.outcome(&summary);
    let output = match format {
        Format::Json => {
            serde_json::to_string_pretty(&GateSummary {
                summary: &summary,
                outcome,
            })? + "\n"
        }
        Format::Text => render_text(&summary, &input_stats, &gate),
        Format::Markdown => render_markdown(&summary, &input_stats, &gate),
    };
    emit(args.output.as_deref(), output.as_bytes())?;
    if !args.quiet {
        warn_about_rejects(
            stats.rejects.total(),
            &first_rejects,
            args.rejects.as_deref(),
        );
    }
    Ok(if gate.fails(outcome) {
        ExitStatus::CheckFailed
    } else {
        ExitStatus::Success
    })
}

/// The JSON summary with the run's `outcome` (`pass`, `breach`, `no_data`) added.
#[derive(serde::Serialize)]
struct GateSummary<'a> {
    #[serde(flatten)]
    summary: &'a playtrace_core::summary::Summary,
    outcome: Outcome,
}

/// The inputs to read: files and `--input`s in order, else standard input when it is piped.
fn input_names(args: &MonitorArgs) -> Result<Vec<String>> {
    let names: Vec<String> = args.files.iter().chain(&args.input).cloned().collect();
    if !names.is_empty() {
        return Ok(names);
    }
    if std::io::stdin().is_terminal() {
        bail!(
            "no input: pass log files (or `-` for standard input); see `playtrace monitor --help`"
        );
    }
    Ok(vec!["-".to_string()])
}

/// Tells stderr how many lines were rejected, shows the first few, and where the rest are.
fn warn_about_rejects(total: u64, first: &[Reject], rejects_path: Option<&std::path::Path>) {
    if total == 0 {
        return;
    }
    let mut err = std::io::stderr().lock();
    let _ = writeln!(
        err,
        "warning: {total} {} rejected",
        if total == 1 { "line was" } else { "lines were" }
    );
    for r in first {
        let _ = writeln!(err, "  {}:{}: {}: {}", r.file, r.line, r.kind, r.message);
    }
    let _ = match rejects_path {
        Some(path) => writeln!(err, "  all rejected lines are in `{}`", path.display()),
        None => writeln!(err, "  write them all with --rejects FILE"),
    };
}
