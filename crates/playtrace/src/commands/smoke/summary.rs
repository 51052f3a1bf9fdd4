//! `playtrace smoke summary LOG`: a `--watch --log` file as a report for stakeholders — the
//! pass rate, probe/alert/replay latency over the runs, the first and last run, and the last
//! failure with its check and message.

use crate::args::ReportFormat;
use crate::output::{emit, ExitStatus};
use anyhow::Context;
use clap::Args;
use playtrace_core::quantile::{nearest_rank, sort_samples};
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct SummaryArgs {
    /// Watch logs written by `playtrace smoke --watch --log` (one report per line), read in
    /// order as one series of runs.
    #[arg(value_name = "LOG", required = true)]
    logs: Vec<PathBuf>,

    /// Output format.
    #[arg(long, value_enum, ignore_case = true, default_value_t = ReportFormat::Text)]
    format: ReportFormat,

    /// Write the summary to this file (atomically) instead of standard output.
    #[arg(short = 'o', long, value_name = "FILE")]
    output: Option<PathBuf>,
}

/// The three latencies a run measures, by their key in the report and their name for people.
const CHECKS: [(&str, &str); 3] = [
    ("probe", "probe"),
    ("adminAlert", "alert"),
    ("replay", "replay"),
];

#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
struct Latency {
    /// Runs that measured it.
    samples: usize,
    p50: Option<f64>,
    p95: Option<f64>,
    max: Option<f64>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Run {
    run_id: Option<String>,
    started_at: Option<String>,
    success: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    check: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<String>,
}

impl Run {
    fn of(report: &Value) -> Run {
        let text = |v: &Value| v.as_str().map(str::to_string);
        Run {
            run_id: text(&report["runId"]),
            started_at: text(&report["startedAt"]),
            success: report["success"] == true,
            check: text(&report["error"]["check"]),
            message: text(&report["error"]["message"]),
        }
    }
}

/// The summary (`--format json` prints it as is).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Summary {
    runs: usize,
    passed: usize,
    failed: usize,
    /// Passed runs over all runs, 0 to 1; `null` without runs.
    pass_rate: Option<f64>,
    first_run: Option<Run>,
    last_run: Option<Run>,
    /// Per check (`probe`, `adminAlert`, `replay`), over the runs that measured it, ms.
    latency_ms: BTreeMap<&'static str, Latency>,
    failures_by_check: BTreeMap<String, usize>,
    last_failure: Option<Run>,
    /// Lines that are not a smoke report (skipped, with a warning).
    unreadable_lines: usize,
}

fn summarize(reports: &[Value], unreadable_lines: usize) -> Summary {
    let passed = reports.iter().filter(|r| r["success"] == true).count();
    let mut latency_ms = BTreeMap::new();
    for (key, _) in CHECKS {
        let mut samples: Vec<f64> = reports
            .iter()
            .filter_map(|r| r["metrics"][key]["latencyMs"].as_f64())
            .collect();
        sort_samples(&mut samples);
        latency_ms.insert(
            key,
            Latency {
                samples: samples.len(),
                p50: nearest_rank(&samples, 50.0),
                p95: nearest_rank(&samples, 95.0),
                max: samples.last().copied(),
            },
        );
    }
    let mut failures_by_check = BTreeMap::new();
    for r in reports.iter().filter(|r| r["success"] != true) {
        let check = r["error"]["check"]
            .as_str()
            .unwrap_or("unknown")
            .to_string();
        *failures_by_check.entry(check).or_insert(0) += 1;
    }
    Summary {
        runs: reports.len(),
        passed,
        failed: reports.len() - passed,
        pass_rate: (!reports.is_empty()).then(|| passed as f64 / reports.len() as f64),
        first_run: reports.first().map(Run::of),
        last_run: reports.last().map(Run::of),
        latency_ms,
        failures_by_check,
        last_failure: reports
            .iter()
            .rev()
            .find(|r| r["success"] != true)
            .map(Run::of),
        unreadable_lines,
    }
}

fn ms(v: Option<f64>) -> String {
    v.map_or("-".to_string(), |v| format!("{v:.1} ms"))
}

fn percent(rate: Option<f64>) -> String {
    rate.map_or("-".to_string(), |r| format!("{:.1}%", r * 100.0))
}

fn failures(s: &Summary) -> String {
    let by: Vec<String> = s
        .failures_by_check
        .iter()
        .map(|(check, n)| format!("{check} {n}"))
        .collect();
    if by.is_empty() {
        format!("{} failed", s.failed)
    } else {
        format!("{} failed: {}", s.failed, by.join(", "))
    }
}

fn when(run: Option<&Run>) -> &str {
    run.and_then(|r| r.started_at.as_deref()).unwrap_or("?")
}

fn render_text(s: &Summary) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Smoke runs: {} from {} to {}",
        s.runs,
        when(s.first_run.as_ref()),
        when(s.last_run.as_ref())
    );
    let _ = writeln!(
        out,
        "Pass rate:  {} ({} passed, {})",
        percent(s.pass_rate),
        s.passed,
        failures(s)
    );
    let _ = writeln!(
        out,
        "\n  {:<8}{:>6}{:>12}{:>12}{:>12}",
        "latency", "runs", "p50", "p95", "max"
    );
    for (key, name) in CHECKS {
        if let Some(l) = s.latency_ms.get(key) {
            let _ = writeln!(
                out,
                "  {name:<8}{:>6}{:>12}{:>12}{:>12}",
                l.samples,
                ms(l.p50),
                ms(l.p95),
                ms(l.max)
            );
        }
    }
    match &s.last_failure {
        Some(f) => {
            let _ = writeln!(
                out,
                "\nLast failure: {} (run {}): {}: {}",
                f.started_at.as_deref().unwrap_or("?"),
                f.run_id.as_deref().unwrap_or("?"),
                f.check.as_deref().unwrap_or("?"),
                f.message.as_deref().unwrap_or("")
            );
        }
        None => {
            let _ = writeln!(out, "\nNo failed run.");
        }
    }
    out
}

fn render_markdown(s: &Summary) -> String {
    let cell = playtrace_core::report::escape_cell;
    let mut out = String::from("## Smoke checks\n\n");
    let icon = if s.failed == 0 { "✅" } else { "⚠️" };
    let _ = writeln!(
        out,
        "{icon} **{} passed** of {} runs ({}) · {} to {}\n",
        percent(s.pass_rate),
        s.runs,
        failures(s),
        when(s.first_run.as_ref()),
        when(s.last_run.as_ref())
    );
    let _ = writeln!(
        out,
        "| Latency | Runs | p50 | p95 | Max |\n|---|---:|---:|---:|---:|"
    );
    for (key, name) in CHECKS {
        if let Some(l) = s.latency_ms.get(key) {
            let _ = writeln!(
                out,
                "| {name} | {} | {} | {} | {} |",
                l.samples,
                ms(l.p50),
                ms(l.p95),
                ms(l.max)
            );
        }
    }
    if let Some(f) = &s.last_failure {
        let _ = writeln!(
            out,
            "\n### Last failure\n\n| When | Run | Check | Message |\n|---|---|---|---|\n| {} | {} | {} | {} |",
            cell(f.started_at.as_deref().unwrap_or("?")),
            cell(f.run_id.as_deref().unwrap_or("?")),
            cell(f.check.as_deref().unwrap_or("?")),
            cell(f.message.as_deref().unwrap_or(""))
        );
    }
    out
}

/// Runs `smoke summary`. Exit 1 when the logs hold no run at all (nothing to report on).
pub fn run(args: &SummaryArgs) -> anyhow::Result<ExitStatus> {
    let mut reports = Vec::new();
    let mut unreadable = 0;
    for path in &args.logs {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the smoke log `{}`", path.display()))?;
        for (n, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            match serde_json::from_str::<Value>(line) {
                Ok(v) if v.get("success").is_some() && v.get("metrics").is_some() => {
                    reports.push(v);
                }
                _ => {
                    unreadable += 1;
                    eprintln!(
                        "warning: {}:{}: not a smoke report (skipped)",
                        path.display(),
                        n + 1
                    );
                }
            }
        }
    }
    let summary = summarize(&reports, unreadable);
    let out = match args.format {
        ReportFormat::Json => serde_json::to_string_pretty(&summary)? + "\n",
        ReportFormat::Text => render_text(&summary),
        ReportFormat::Markdown => render_markdown(&summary),
    };
    emit(args.output.as_deref(), out.as_bytes())?;
    Ok(if summary.runs == 0 {
        ExitStatus::CheckFailed
    } else {
        ExitStatus::Success
    })
}
