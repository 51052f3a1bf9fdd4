//! `playtrace plan check|infer|diff`: tracking plans offline and in CI. The engine is the
//! `playtrace-plan` crate; this module reads logs (through `playtrace-read`), prints and exits.

mod check;
mod diff;
mod events;
mod infer;

pub(crate) use crate::args::Format;
use crate::args::ReadArgs;
use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use playtrace_plan::Plan;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use crate::output::ExitStatus;

pub(crate) const LONG_ABOUT: &str = "\
Tracking plans: event contracts for telemetry, checked offline, in CI and at ingest.

A plan is a directory of JSON Schema (draft 2020-12) files over events' attrs, one per event
name or pattern: the file's name says which (`quest.objective.json`,
`telemetry.contest.*.json`; an exact name wins over a pattern, a longer pattern over a shorter).
See docs/PLAN.md.

Exit codes:
  0  check: every event matches the plan (warnings allowed); diff: nothing breaking
  1  check: a required field is missing, a type or rule is broken, or a field the schema forbids
     is present; diff: a change breaks existing producers
  2  usage error, a broken plan (the file, the JSON pointer and the problem are named), or an
     input that cannot be opened or read";

/// `playtrace plan ...`.
#[derive(Debug, Subcommand)]
pub enum PlanCommand {
    /// Check telemetry logs against a plan and print the coverage (parity) report.
    Check(CheckArgs),
    /// Draft a plan from existing telemetry, for a team to review.
    Infer(InferArgs),
    /// Compare two plans: which changes break existing producers (exit 1 if any).
    Diff(DiffArgs),
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The plan directory.
    #[arg(long, value_name = "DIR")]
    plan: PathBuf,

    /// Telemetry logs (`-` for standard input; .gz read transparently).
    #[arg(value_name = "FILE")]
    files: Vec<String>,

    /// Output on stdout: a summary for people, or exactly the report document.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,

    /// Also write the report document (JSON) to FILE.
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,

    #[command(flatten)]
    read: ReadArgs,

    /// No progress bar.
    #[arg(short, long)]
    quiet: bool,
}

#[derive(Debug, Args)]
pub struct InferArgs {
    /// Telemetry logs (`-` for standard input; .gz read transparently).
    #[arg(value_name = "FILE")]
    files: Vec<String>,

    /// The directory to write the draft schemas into (created if missing).
    #[arg(short, long, value_name = "DIR")]
    output: PathBuf,

    /// Overwrite schema files that already exist.
    #[arg(long)]
    force: bool,

    #[command(flatten)]
    read: ReadArgs,

    /// No progress bar and no summary on stderr.
    #[arg(short, long)]
    quiet: bool,
}

#[derive(Debug, Args)]
pub struct DiffArgs {
    /// The plan as it is (say, the main branch's).
    #[arg(value_name = "OLD")]
    old: PathBuf,

    /// The plan as proposed.
    #[arg(value_name = "NEW")]
    new: PathBuf,

    /// Output: a list for people, or JSON.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
}

/// Runs `playtrace plan ...`.
pub fn run(command: PlanCommand) -> Result<ExitStatus> {
    match command {
        PlanCommand::Check(args) => check::run(args),
        PlanCommand::Infer(args) => infer::run(args),
        PlanCommand::Diff(args) => diff::run(args),
    }
}

fn load_plan(dir: &Path) -> Result<Plan> {
    Plan::load(dir).with_context(|| format!("the plan `{}` cannot be used", dir.display()))
}

/// The inputs: the files given, else standard input when it is piped.
fn input_names(files: &[String], verb: &str) -> Result<Vec<String>> {
    if !files.is_empty() {
        return Ok(files.to_vec());
    }
    if std::io::stdin().is_terminal() {
        bail!("no input: pass log files (or `-` for standard input); see `playtrace plan {verb} --help`");
    }
    Ok(vec!["-".to_string()])
}

fn write_report_file(path: &Path, bytes: &[u8]) -> Result<()> {
    playtrace_export::atomic::write_atomic(path, bytes)
        .with_context(|| format!("cannot write the report `{}`", path.display()))
}
