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

/// How a gate run ends. `no_data` exists so a wrong log path, an empty pipe or a file of
/// something else cannot pass a CI gate: with nothing measured, nothing was checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Every overall budget had enough samples and none breached.
    Pass,
    /// A budget breached, overall or in a group.
    Breach,
    /// No breach, but an overall budget had fewer samples than its `min_samples`, or there
    /// were fewer contests than the gate's floor.
    NoData,
}

impl Outcome {
    /// Name as in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Pass => "pass",
            Outcome::Breach => "breach",
            Outcome::NoData => "no_data",
        }
    }
}

/// What the gate demands beyond the budgets: a floor of contests, and whether a run with too
/// little data passes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Gate {
    /// Fewer contests than this is `no_data` (`--min-contests`; 0 means no floor).
    pub min_contests: u64,
    /// A `no_data` run passes (`--allow-no-data`).
    pub allow_no_data: bool,
}

impl Gate {
    /// The run's outcome. A breach wins over missing data. Only the overall budgets can make a
    /// run `no_data`: a group with few samples (a rarely used room) is normal.
    pub fn outcome(&self, s: &crate::summary::Summary) -> Outcome {
        if s.breached() {
            Outcome::Breach
        } else if self.no_data_reasons(s).is_empty() {
            Outcome::Pass
        } else {
            Outcome::NoData
        }
    }

    /// Whether the outcome fails the run (exit 1).
    pub fn fails(&self, outcome: Outcome) -> bool {
        match outcome {
            Outcome::Pass => false,
            Outcome::Breach => true,
            Outcome::NoData => !self.allow_no_data,
        }
    }

    /// Why there is not enough data, one phrase per cause (empty when there is enough).
    fn no_data_reasons(&self, s: &crate::summary::Summary) -> Vec<String> {
        let mut reasons = Vec::new();
        let contests = s.totals.contests_observed;
        if contests < self.min_contests {
            reasons.push(format!(
                "{} observed, --min-contests is {}",
                plural(contests, "contest", "contests"),
                self.min_contests
            ));
        }
        // No expired contest is the healthy case, not missing data: an expiredArming budget
        // without samples says nothing is wrong once contests were seen at all.
        let nothing_expired = |b: &&BudgetResult| {
            b.metric == crate::budget::Metric::ExpiredArming && b.samples == 0 && contests > 0
        };
        for b in s
            .budgets
            .iter()
            .filter(|b| b.status == BudgetStatus::InsufficientData)
            .filter(|b| !nothing_expired(b))
        {
            reasons.push(format!(
                "{} has {}",
                budget_name(b),
                plural(b.samples, "sample", "samples"),
            ));
        }
        reasons
    }
}

/// The verdict of a run: its outcome, whether it fails, and one line saying why.
fn verdict(s: &crate::summary::Summary, gate: &Gate) -> (Outcome, bool, String) {
    let outcome = gate.outcome(s);
    let fails = gate.fails(outcome);
    if outcome == Outcome::NoData {
        let mut text = format!(
            "not enough data to judge: {}",
            gate.no_data_reasons(s).join("; ")
        );
        if s.totals.contests_observed == 0 {
            text.push_str(" (is this the right log?)");
        }
        if !fails {
            text.push_str("; allowed by --allow-no-data");
        }
        return (outcome, fails, text);
    }
    let (_, text) = breach_verdict(s);
    (outcome, fails, text)
}

/// The one-line verdict on breaches: how many budgets breached overall and in groups.
fn breach_verdict(s: &crate::summary::Summary) -> (bool, String) {
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
