//! The Markdown report, for a pull request comment or a CI job summary.

use super::{budget_name, ms, plural, verdict, Gate, InputStats, Outcome};
use crate::budget::{BudgetResult, BudgetStatus};
use crate::num::human;
use crate::summary::{DurationStats, Summary};
use std::fmt::Write;

/// Escapes text for a Markdown table cell (SPEC §6): `|` becomes `\|`, line breaks become
/// `<br>` (CRLF and lone CR count as one break), so a cell can never break the table.
pub fn escape_cell(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '|' => out.push_str("\\|"),
            '\r' => {
                if chars.peek() == Some(&'\n') {
                    chars.next();
                }
                out.push_str("<br>");
            }
            '\n' => out.push_str("<br>"),
            c => out.push(c),
        }
    }
    out
}

fn mark(status: BudgetStatus) -> &'static str {
    match status {
        BudgetStatus::Pass => "✅ pass",
        BudgetStatus::Breach => "❌ breach",
        BudgetStatus::InsufficientData => "⚪ insufficient data",
    }
}

fn short_mark(b: &BudgetResult) -> String {
    match b.status {
        BudgetStatus::Pass => format!("✅ {} ms", ms(b.value)),
        BudgetStatus::Breach => format!("❌ {} ms", ms(b.value)),
        BudgetStatus::InsufficientData => format!("⚪ n/a ({})", b.samples),
    }
}

/// Renders a summary as Markdown.
pub fn render_markdown(s: &Summary, input: &InputStats, gate: &Gate) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "## Contest latency budgets\n");
    let (outcome, failed, text) = verdict(s, gate);
    let icon = match (outcome, failed) {
        (Outcome::NoData, _) => "⚠️",
        (_, true) => "❌",
        (_, false) => "✅",
    };
    let verdict = format!("{icon} **{}{}**", text[..1].to_uppercase(), &text[1..]);
    let _ = writeln!(
        out,
        "{verdict} · {} · {} · {} · {} rejected\n",
        plural(s.totals.contests_observed, "contest", "contests"),
        plural(input.events, "event", "events"),
        plural(input.inputs as u64, "input", "inputs"),
        plural(s.rejects.total, "line", "lines"),
    );
    let _ = writeln!(
        out,
        "| Status | Budget | Value | Limit | Samples |\n|---|---|---:|---:|---:|"
    );
    for b in &s.budgets {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} ms | {} |",
            mark(b.status),
            budget_name(b),
            b.value
                .map_or("–".to_string(), |v| format!("{} ms", human(v.0))),
            human(b.budget.0),
            b.samples
        );
    }

    let _ = writeln!(out, "\n### Durations (ms)\n\n| Metric | Samples | Missing | p50 | p95 | p99 | Max |\n|---|---:|---:|---:|---:|---:|---:|");
    let row = |out: &mut String, name: &str, d: &DurationStats| {
        let _ = writeln!(
            out,
            "| {name} | {} | {} | {} | {} | {} | {} |",
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

    let t = &s.totals;
    let _ = writeln!(
        out,
        "\n### Contests\n\n| Observed | Resolved | Unresolved | Workflow failures | Expired |\n|---:|---:|---:|---:|---:|\n| {} | {} | {} | {} | {} |",
        t.contests_observed, t.resolved_contests, t.unresolved_contests, t.workflow_failures, t.expired_contests
    );

    let p = &s.participants;
    let to = &p.timeouts;
    let _ = writeln!(
        out,
        "\n### Participants\n\n| | Contests | Average | Max | More than 2 | Capacity over 2 |\n|---|---:|---:|---:|---:|---:|\n| Launched | {} | {} | {} | {} | {} |\n| Timed out | {} | {} | {} | {} | - |",
        p.samples,
        ms(p.average),
        ms(p.max),
        p.multi_actor_contests,
        p.capacity_over_two,
        to.samples,
        ms(to.average),
        ms(to.max),
        to.multi_actor_contests
    );

    if let Some(groups) = &s.groups {
        let dims: Vec<&str> = groups.by.iter().map(|d| d.as_str()).collect();
        let _ = writeln!(out, "\n### By {}\n", dims.join(", "));
        let mut header = String::from("|");
        let mut rule = String::from("|");
        for d in &groups.by {
            let _ = write!(header, " {} |", d.as_str());
            rule.push_str("---|");
        }
        header.push_str(" Contests | Timeouts |");
        rule.push_str("---:|---:|");
        for b in &s.budgets {
            let _ = write!(header, " {} |", budget_name(b));
            rule.push_str("---|");
        }
        let _ = writeln!(out, "{header}\n{rule}");
        for entry in &groups.entries {
            let mut line = String::from("|");
            for v in entry.key.values() {
                let _ = write!(line, " {} |", escape_cell(v.as_deref().unwrap_or("(none)")));
            }
            let _ = write!(line, " {} | {} |", entry.contests, entry.expired);
            for b in &entry.budgets {
                let _ = write!(line, " {} |", short_mark(b));
            }
            let _ = writeln!(out, "{line}");
        }
    }

    let st = &s.sentiment;
    if st.samples > 0 {
        let _ = writeln!(
            out,
            "\n### Sentiment\n\n| Samples | Positive | Neutral | Negative | Other | Negative during cooldown |\n|---:|---:|---:|---:|---:|---:|\n| {} | {} | {} | {} | {} | {} of {} |",
            st.samples,
            st.totals.positive,
            st.totals.neutral,
            st.totals.negative,
            st.totals.other,
            st.cooldown.negative_during_cooldown,
            st.cooldown.active_samples
        );
        if !st.hotspots.is_empty() {
            let _ = writeln!(
                out,
                "\n| Hub | Room | Negative | Total |\n|---|---|---:|---:|"
            );
            for h in st.hotspots.iter().take(5) {
                let _ = writeln!(
                    out,
                    "| {} | {} | {} | {} |",
                    escape_cell(h.hub_id.as_deref().unwrap_or("-")),
                    escape_cell(h.room_id.as_deref().unwrap_or("-")),
                    h.totals.negative,
                    h.totals.total
                );
            }
        }
    }

    if s.rejects.total > 0 {
        let _ = writeln!(out, "\n### Rejected lines\n\n| Kind | Lines |\n|---|---:|");
        for (kind, n) in s.rejects.by_kind.iter().filter(|(_, n)| **n > 0) {
            let _ = writeln!(out, "| {kind} | {n} |");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::escape_cell;

    #[test]
    fn cells_cannot_break_the_table() {
        assert_eq!(escape_cell("a|b"), "a\\|b");
        assert_eq!(
            escape_cell("one\ntwo\r\nthree\rfour"),
            "one<br>two<br>three<br>four"
        );
        assert_eq!(escape_cell("plain"), "plain");
    }
}
