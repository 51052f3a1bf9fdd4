//! The terminal report: the verdict first, then the numbers behind it.

use super::{budget_name, ms, plural, verdict, Gate, InputStats, Outcome};
use crate::budget::BudgetStatus;
use crate::num::human;
use crate::summary::{DurationStats, Summary};
use std::fmt::Write;

/// Renders a summary for a terminal.
pub fn render_text(s: &Summary, input: &InputStats, gate: &Gate) -> String {
    let mut out = String::new();
    let t = &s.totals;
    let _ = writeln!(
        out,
        "Contest latency: {} from {} ({}, {}, {} rejected)",
        plural(t.contests_observed, "contest", "contests"),
        plural(input.inputs as u64, "input", "inputs"),
        plural(input.lines, "line", "lines"),
        plural(input.events, "event", "events"),
        s.rejects.total,
    );

    let _ = writeln!(out, "\nBudgets");
    let width = s
        .budgets
        .iter()
        .map(|b| budget_name(b).len())
        .max()
        .unwrap_or(0);
    let limit_width = s
        .budgets
        .iter()
        .map(|b| human(b.budget.0).len())
        .max()
        .unwrap_or(0);
    for b in &s.budgets {
        let (mark, relation) = match b.status {
            BudgetStatus::Pass => ("ok    ", "<="),
            BudgetStatus::Breach => ("BREACH", " >"),
            BudgetStatus::InsufficientData => ("n/a   ", "  "),
        };
        let value = match b.status {
            BudgetStatus::InsufficientData => "insufficient data".to_string(),
            _ => format!("{} ms", ms(b.value)),
        };
        let _ = writeln!(
            out,
            "  {mark}  {:<width$}  {value:>17} {relation} {:>limit_width$} ms   ({})",
            budget_name(b),
            human(b.budget.0),
            plural(b.samples, "sample", "samples"),
        );
    }

    let _ = writeln!(
        out,
        "\n  {:<16}{:>9}{:>9}{:>9}{:>9}{:>9}{:>9}",
        "duration (ms)", "samples", "missing", "p50", "p95", "p99", "max"
    );
    let row = |out: &mut String, name: &str, d: &DurationStats| {
        let _ = writeln!(
            out,
            "  {name:<16}{:>9}{:>9}{:>9}{:>9}{:>9}{:>9}",
            d.samples,
            d.missing,
            ms(d.p50),
            ms(d.p95),
            ms(d.p99),
            ms(d.max)
        );
    };
    row(&mut out, "arming", &s.durations.arming);
    row(&mut out, "resolution", &s.durations.resolution);
    row(&mut out, "expired arming", &s.durations.expired_arming);

    let _ = writeln!(
        out,
        "\nContests      {} observed, {} resolved, {} unresolved, {}, {} expired",
        t.contests_observed,
        t.resolved_contests,
        t.unresolved_contests,
        plural(t.workflow_failures, "workflow failure", "workflow failures"),
        t.expired_contests
    );
    let p = &s.participants;
    if p.samples > 0 {
        let _ = writeln!(
            out,
            "Participants  average {}, max {}; {} of {} with more than 2; {} asked for more than 2",
            ms(p.average),
            ms(p.max),
            p.multi_actor_contests,
            p.samples,
            p.capacity_over_two
        );
    } else {
        let _ = writeln!(out, "Participants  no data");
    }
    let to = &p.timeouts;
    if to.samples > 0 {
        let _ = writeln!(
            out,
            "Timeouts      {} with participant data: average {}, max {}; {} with more than 2",
            to.samples,
            ms(to.average),
            ms(to.max),
            to.multi_actor_contests
        );
    } else if t.expired_contests > 0 {
        let _ = writeln!(out, "Timeouts      no participant data");
    } else {
        let _ = writeln!(out, "Timeouts      none");
    }
    let st = &s.sentiment;
    if st.samples > 0 {
        let _ = writeln!(
            out,
            "Sentiment     {} samples: {} positive, {} neutral, {} negative, {} other; {} negative of {} during cooldown",
            st.samples,
            st.totals.positive,
            st.totals.neutral,
            st.totals.negative,
            st.totals.other,
            st.cooldown.negative_during_cooldown,
            st.cooldown.active_samples
        );
        if let Some(h) = st.hotspots.first().filter(|h| h.totals.negative > 0) {
            let _ = writeln!(
                out,
                "              most negative: {}/{} ({} of {})",
                h.hub_id.as_deref().unwrap_or("?"),
                h.room_id.as_deref().unwrap_or("?"),
                h.totals.negative,
                h.totals.total
            );
        }
    } else {
        let _ = writeln!(out, "Sentiment     none");
    }

    if let Some(groups) = &s.groups {
        let dims: Vec<&str> = groups.by.iter().map(|d| d.as_str()).collect();
        let _ = writeln!(out, "\nBy {}", dims.join(", "));
        let labels: Vec<String> = groups
            .entries
            .iter()
            .map(|e| {
                e.key
                    .values()
                    .map(|v| v.as_deref().unwrap_or("(none)"))
                    .collect::<Vec<_>>()
                    .join(" / ")
            })
            .collect();
        let key_width = labels
            .iter()
            .map(String::len)
            .max()
            .unwrap_or(0)
            .max(dims.join(" / ").len());
        let mut header = format!("  {:<key_width$}  {:>8}", dims.join(" / "), "contests");
        for b in &s.budgets {
            let _ = write!(header, "  {:>22}", budget_name(b));
        }
        let _ = writeln!(out, "{header}");
        for (entry, label) in groups.entries.iter().zip(labels) {
            let mut line = format!("  {label:<key_width$}  {:>8}", entry.contests);
            for b in &entry.budgets {
                let cell = match b.status {
                    BudgetStatus::Pass => format!("{} ok", ms(b.value)),
                    BudgetStatus::Breach => format!("{} BREACH", ms(b.value)),
                    BudgetStatus::InsufficientData => format!("n/a ({})", b.samples),
                };
                let _ = write!(line, "  {cell:>22}");
            }
            let _ = writeln!(out, "{line}");
        }
    }

    if s.rejects.total > 0 {
        let kinds: Vec<String> = s
            .rejects
            .by_kind
            .iter()
            .filter(|(_, n)| **n > 0)
            .map(|(k, n)| format!("{k} {n}"))
            .collect();
        let _ = writeln!(
            out,
            "\nRejected lines: {} ({})",
            s.rejects.total,
            kinds.join(", ")
        );
    }

    let (outcome, failed, text) = verdict(s, gate);
    let label = match (outcome, failed) {
        (Outcome::NoData, _) => "NO DATA",
        (_, true) => "FAIL",
        (_, false) => "PASS",
    };
    let verdict = format!("{label}: {text}");
    let _ = writeln!(out, "\n{verdict}");
    out
}
