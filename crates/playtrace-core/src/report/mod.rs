//! Summaries rendered for people: a terminal report and a Markdown report for pull requests.

mod markdown;
pub mod svg;
mod text;

pub use markdown::{escape_cell, render_markdown};
pub use text::render_text;

use crate::budget::{BudgetResult, BudgetStatus};
use crate::num::{human, Num};

/// What was read, for the report's header (not part of the JSON summary).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct InputStats {
    /// Inputs named on the command line (`-` counts as one).
    pub inputs: usize,
    /// Lines read, blank and rejected ones included.
    pub lines: u64,
    /// Events read, contest events or not (rejected lines are not events).
    pub events: u64,
}

fn ms(v: Option<Num>) -> String {
    v.map_or_else(|| "-".to_string(), |n| human(n.0))
}

fn budget_name(b: &BudgetResult) -> String {
    format!("{} p{}", b.metric.label(), human(b.percentile.0))
}

fn breaches(budgets: &[BudgetResult]) -> usize {
    budgets
        .iter()
        .filter(|b| b.status == BudgetStatus::Breach)
        .count()
}

/// The one-line verdict: how many budgets breached overall and in groups.
fn verdict(s: &crate::summary::Summary) -> (bool, String) {
    let overall = breaches(&s.budgets) as u64;
    let grouped: u64 = s.groups.as_ref().map_or(0, |g| {
        g.entries.iter().map(|e| breaches(&e.budgets) as u64).sum()
    });
    let text = match (overall, grouped, &s.groups) {
        (0, 0, _) => "no budget breached".to_string(),
        (o, 0, _) => format!("{} breached", plural(o, "budget", "budgets")),
        (0, g, Some(groups)) => {
            let dims: Vec<&str> = groups.by.iter().map(|d| d.as_str()).collect();
            format!(
                "no budget breached overall, but {} in groups by {}",
                plural(g, "breach", "breaches"),
                dims.join(", ")
            )
        }
        (o, g, Some(groups)) => {
            let dims: Vec<&str> = groups.by.iter().map(|d| d.as_str()).collect();
            format!(
                "{} breached overall, {} in groups by {}",
                plural(o, "budget", "budgets"),
                plural(g, "breach", "breaches"),
                dims.join(", ")
            )
        }
        (o, g, None) => format!("{} breached", plural(o + g, "budget", "budgets")),
    };
    (overall + grouped > 0, text)
}

fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}
