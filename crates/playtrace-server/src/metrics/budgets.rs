//! Budget gauges in base units (seconds): overall and per group of the configured dimensions
//! (`[metrics] budget_group_by`), with at most `max_group_values` groups per dimension and
//! window — the groups with the most samples; the rest are folded into `group="other"`
//! (samples only: a percentile of the folded groups cannot be derived from theirs) and counted
//! by `playtrace_budget_groups_folded`, so a room per player cannot grow the series count.

use super::text::{header, sample};
use playtrace_core::contest::{BudgetLine, WindowReport};
use playtrace_core::summary::GroupDim;

/// The group value folded groups are reported under.
pub(crate) const OTHER: &str = "other";

/// One dimension's reports (each window grouped by that dimension alone).
pub(crate) struct Grouped {
    /// The dimension.
    pub(crate) dimension: GroupDim,
    /// `LiveContests::budgets` grouped by it.
    pub(crate) reports: Vec<WindowReport>,
}

fn seconds(ms: f64) -> f64 {
    ms / 1000.0
}

fn value(b: &BudgetLine) -> f64 {
    b.value.map_or(f64::NAN, |v| seconds(v.0))
}

/// One group's line with its labels.
struct Row<'a> {
    window: &'a str,
    dimension: &'static str,
    group: String,
    line: &'a BudgetLine,
}

type Family = (&'static str, &'static str, fn(&BudgetLine) -> f64);

/// The overall families: name, help, value.
const OVERALL: [Family; 4] = [
    (
        "playtrace_budget_value_seconds",
        "Each budget's measured percentile over each rolling window, in seconds (NaN without samples).",
        value,
    ),
    ("playtrace_budget_limit_seconds", "Each budget's limit, in seconds.", limit),
    ("playtrace_budget_samples", "Samples of each budget's metric over each rolling window.", samples),
    ("playtrace_budget_breached", "1 when the budget is breached over the window.", breached),
];

fn limit(b: &BudgetLine) -> f64 {
    seconds(b.budget.0)
}

fn samples(b: &BudgetLine) -> f64 {
    b.samples as f64
}

fn breached(b: &BudgetLine) -> f64 {
    f64::from(u8::from(b.breached))
}

/// Appends every budget gauge.
pub(crate) fn render(
    out: &mut String,
    overall: &[WindowReport],
    grouped: &[Grouped],
    max_values: usize,
) {
    for (name, help, get) in OVERALL {
        header(out, name, "gauge", help);
        for r in overall {
            for b in &r.budgets {
                let pct = playtrace_core::num::human(b.percentile.0);
                let l = [
                    ("window", r.window.as_str()),
                    ("metric", b.metric.as_str()),
                    ("percentile", pct.as_str()),
                ];
                sample(out, name, &l, get(b));
            }
        }
    }
    render_groups(out, grouped, max_values);
}

fn render_groups(out: &mut String, grouped: &[Grouped], max_values: usize) {
    let mut rows: Vec<Row<'_>> = Vec::new();
    // (window, dimension, budget index) → folded samples; (window, dimension) → folded groups.
    let mut other: Vec<(&str, &'static str, &BudgetLine, u64)> = Vec::new();
    let mut folded: Vec<(&str, &'static str, usize)> = Vec::new();
    for g in grouped {
        let dim = g.dimension;
        for report in &g.reports {
            let mut groups: Vec<_> = report.groups.iter().flatten().collect();
            let weight = |l: &&playtrace_core::contest::GroupLine| {
                l.budgets.iter().map(|b| b.samples).max().unwrap_or(0)
            };
            groups.sort_by(|a, b| weight(b).cmp(&weight(a)).then_with(|| a.key.cmp(&b.key)));
            let (kept, rest) = groups.split_at(groups.len().min(max_values));
            for line in kept {
                let group = line
                    .key
                    .get(&dim)
                    .cloned()
                    .flatten()
                    .unwrap_or_else(|| "none".into());
                for b in &line.budgets {
                    rows.push(Row {
                        window: &report.window,
                        dimension: dim.as_str(),
                        group: group.clone(),
                        line: b,
                    });
                }
            }
            folded.push((&report.window, dim.as_str(), rest.len()));
            if let Some(first) = rest.first() {
                for (i, b) in first.budgets.iter().enumerate() {
                    let n = rest
                        .iter()
                        .filter_map(|l| l.budgets.get(i))
                        .map(|b| b.samples)
                        .sum();
                    other.push((&report.window, dim.as_str(), b, n));
                }
            }
        }
    }
    let families: [Family; 3] = [
        (
            "playtrace_budget_group_value_seconds",
            "Each budget's measured percentile per group (metrics.budget_group_by), in seconds (NaN without samples).",
            value,
        ),
        (
            "playtrace_budget_group_samples",
            "Samples of each budget's metric per group; group=\"other\" sums the folded groups.",
            samples,
        ),
        (
            "playtrace_budget_group_breached",
            "1 when the budget is breached for the group over the window.",
            breached,
        ),
    ];
    for (name, help, get) in families {
        header(out, name, "gauge", help);
        for r in &rows {
            let pct = playtrace_core::num::human(r.line.percentile.0);
            let l = [
                ("window", r.window),
                ("metric", r.line.metric.as_str()),
                ("percentile", pct.as_str()),
                ("dimension", r.dimension),
                ("group", r.group.as_str()),
            ];
            sample(out, name, &l, get(r.line));
        }
        if name != "playtrace_budget_group_samples" {
            continue;
        }
        for (window, dimension, b, n) in &other {
            let pct = playtrace_core::num::human(b.percentile.0);
            let l = [
                ("window", *window),
                ("metric", b.metric.as_str()),
                ("percentile", pct.as_str()),
                ("dimension", *dimension),
                ("group", OTHER),
            ];
            sample(out, name, &l, *n as f64);
        }
    }
    header(
        out,
        "playtrace_budget_groups_folded",
        "gauge",
        "Groups over metrics.max_group_values, folded into group=\"other\", per window and dimension.",
    );
    for (window, dimension, n) in &folded {
        sample(
            out,
            "playtrace_budget_groups_folded",
            &[("window", window), ("dimension", dimension)],
            *n as f64,
        );
    }
}
