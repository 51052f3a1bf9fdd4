//! Summaries rendered for people: a terminal report and a Markdown report for pull requests.

mod markdown;
mod text;

pub use markdown::{escape_cell, render_markdown};
pub use text::render_text;

use crate::budget::{BudgetResult, BudgetStatus};
use crate::num::{human, Num};

/// What was read, for the report's header (not part of the JSON summary).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct InputStats {
    /// Inputs given.
    pub inputs: usize,
    /// Lines read.
    pub lines: u64,
    /// Events read.
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

fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}
