//! `playtrace plan check`: telemetry logs against a plan, as a coverage (parity) report.

use super::events::{read_events, Visit};
use super::{input_names, load_plan, write_report_file, CheckArgs, Format};
use crate::output::{write_stdout, ExitStatus};
use anyhow::Result;
use playtrace_core::scan::Members;
use playtrace_plan::{Coverage, Plan, ReportOptions};
use serde_json::Value;
use std::fmt::Write as _;

struct Checker<'p> {
    plan: &'p Plan,
}

/// A block's coverage, its events numbered from 0 and lines from 1 within the block.
impl Visit for Checker<'_> {
    type Out = Coverage;
    fn event(&self, out: &mut Coverage, line: u32, name: &str, attrs: &Value) {
        out.record(name, &self.plan.check(name, attrs), Some(u64::from(line)));
    }

    /// Clean events, nearly all of them, are checked from what the scanner read (the plan's
    /// fast path over its members); the rest are read and checked the exact way.
    fn scanned(&self, out: &mut Coverage, line: u32, name: &str, members: &Members<'_>) -> bool {
        match self.plan.check_scanned(name, members) {
            Some(checked) => {
                out.record(name, &checked, Some(u64::from(line)));
                true
            }
            None => false,
        }
    }

    /// Clean lines core's fast reader left to serde_json are checked from their text (the
    /// plan's own fast path); the rest are read and checked the exact way.
    fn line(&self, out: &mut Coverage, line: u32, text: &str) -> bool {
        match self.plan.check_line(text) {
            Some(clean) => {
                out.record(&clean.name, &clean.checked, Some(u64::from(line)));
                true
            }
            None => false,
        }
    }
}

pub(crate) fn run(args: CheckArgs) -> Result<ExitStatus> {
    let plan = load_plan(&args.plan)?;
    let names = input_names(&args.files, "check")?;
    let mut total = Coverage::new(ReportOptions::default());
    let read = read_events(
        &names,
        &args.read,
        args.quiet,
        &Checker { plan: &plan },
        &mut |input, line_base, block| total.absorb(block, Some(input), line_base),
    )?;
    total.add_unreadable(read.unreadable);
    let report = total.report(&plan, &names, &crate::client::now_rfc3339());
    let json = serde_json::to_string_pretty(&report)? + "\n";
    if let Some(path) = &args.output {
        write_report_file(path, json.as_bytes())?;
    }
    let shown = match args.format {
        Format::Json => json,
        Format::Text => text(&serde_json::to_value(&report)?),
    };
    write_stdout(shown.as_bytes())?;
    Ok(if report.ok {
        ExitStatus::Success
    } else {
        ExitStatus::CheckFailed
    })
}

/// The report for a terminal: the verdict, coverage per event name, then the issues.
fn text(r: &Value) -> String {
    let mut out = String::new();
    let t = &r["totals"];
    let pct = |v: &Value| v.as_f64().unwrap_or(0.0) * 100.0;
    let _ = writeln!(
        out,
        "plan check: {} — {} events ({} checked, {} unknown), {} errors, {} warnings{}",
        if r["ok"] == Value::Bool(true) {
            "ok"
        } else {
            "FAILED"
        },
        t["events"],
        t["checked"],
        t["unknownEvents"],
        t["errors"],
        t["warnings"],
        match t["unreadableLines"].as_u64() {
            Some(n) if n > 0 => format!(", {n} unreadable lines"),
            _ => String::new(),
        }
    );
    let payload = &r["coverage"]["payload"];
    let _ = writeln!(
        out,
        "payload coverage {:.1}% of {} required fields{}",
        pct(&payload["coverage"]),
        t["payloadFieldsRequired"],
        list(" — missing: ", &payload["missingFieldNames"])
    );
    if let Some(events) = r["events"].as_object() {
        let _ = writeln!(out);
        for (name, e) in events {
            let _ = writeln!(
                out,
                "  {name}  {} events, coverage {:.1}%{}{}{}{}",
                e["events"],
                pct(&e["coverage"]),
                counts(", missing ", &e["missing"]),
                counts(", wrong type ", &e["wrongType"]),
                counts(", invalid ", &e["invalid"]),
                counts(", unexpected ", &e["unexpected"]),
            );
        }
    }
    if let Some(unknown) = r["unknownEvents"].as_object().filter(|u| !u.is_empty()) {
        let names: Vec<String> = unknown.iter().map(|(k, v)| format!("{k} ({v})")).collect();
        let _ = writeln!(out, "  no schema: {}", names.join(", "));
    }
    if let Some(issues) = r["issues"].as_array().filter(|i| !i.is_empty()) {
        let _ = writeln!(out);
        for i in issues.iter().take(20) {
            let at = match (i["input"].as_str(), i["line"].as_u64()) {
                (Some(input), Some(line)) => format!("  ({input}:{line})"),
                _ => String::new(),
            };
            let _ = writeln!(
                out,
                "  {:<7}  {}: {}{at}",
                i["severity"].as_str().unwrap_or_default(),
                i["event"].as_str().unwrap_or_default(),
                i["message"].as_str().unwrap_or_default()
            );
        }
        let more =
            issues.len().saturating_sub(20) as u64 + r["issuesOmitted"].as_u64().unwrap_or(0);
        if more > 0 {
            let _ = writeln!(
                out,
                "  … and {more} more (all of them: --format json or -o FILE)"
            );
        }
    }
    if let Some(steps) = r["nextSteps"].as_array() {
        let _ = writeln!(out);
        for s in steps {
            let _ = writeln!(out, "next: {}", s.as_str().unwrap_or_default());
        }
    }
    out
}

fn list(prefix: &str, v: &Value) -> String {
    match v.as_array().filter(|a| !a.is_empty()) {
        Some(a) => {
            let names: Vec<&str> = a.iter().filter_map(Value::as_str).collect();
            format!("{prefix}{}", names.join(", "))
        }
        None => String::new(),
    }
}

fn counts(prefix: &str, v: &Value) -> String {
    match v.as_object().filter(|m| !m.is_empty()) {
        Some(m) => {
            let parts: Vec<String> = m.iter().map(|(k, n)| format!("{k} ({n})")).collect();
            format!("{prefix}{}", parts.join(", "))
        }
        None => String::new(),
    }
}
