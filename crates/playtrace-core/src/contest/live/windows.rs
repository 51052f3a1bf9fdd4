//! Budgets over rolling windows of receive time (`GET /v1/budgets`), overall and per group.

use crate::budget::{evaluate, BudgetSet, BudgetStatus, Metric};
use crate::contest::lifecycle::NONE;
use crate::contest::live::state::LiveContests;
use crate::num::Num;
use crate::quantile::{nearest_rank, sort_samples};
use crate::summary::GroupDim;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};

/// What `GET /v1/budgets` asks for.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BudgetQuery {
    /// Only events of this game.
    pub game: Option<String>,
    /// Only events of this environment.
    pub env: Option<String>,
    /// Also report per group of these dimensions.
    pub group_by: Vec<GroupDim>,
    /// Only these windows (ms); all configured windows when empty.
    pub windows_ms: Vec<f64>,
}

/// One budget over one window: the monitor's duration fields plus the budget's status.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BudgetLine {
    /// What is measured.
    pub metric: Metric,
    /// Percentile checked.
    pub percentile: Num,
    /// The limit, ms.
    pub budget: Num,
    /// The measured percentile, ms.
    pub value: Option<Num>,
    /// Number of samples.
    pub samples: u64,
    /// Median.
    pub p50: Option<Num>,
    /// 95th percentile.
    pub p95: Option<Num>,
    /// 99th percentile.
    pub p99: Option<Num>,
    /// Largest sample.
    pub max: Option<Num>,
    /// Whether the percentile is above the limit.
    pub breached: bool,
    /// `pass`, `breach` or `insufficient_data`.
    pub status: BudgetStatus,
}

/// Budgets of one group within a window.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupLine {
    /// The group's values per dimension (`null` when the events did not say).
    pub key: BTreeMap<GroupDim, Option<String>>,
    /// One line per budget.
    pub budgets: Vec<BudgetLine>,
}

/// Budgets over one rolling window.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WindowReport {
    /// The window as configured (`5m`).
    pub window: String,
    /// Its length, ms.
    pub window_ms: Num,
    /// Start of the window, epoch ms (receive time).
    pub from_ms: Num,
    /// End of the window (now), epoch ms.
    pub to_ms: Num,
    /// One line per budget, over every matching sample.
    pub budgets: Vec<BudgetLine>,
    /// Per group, when asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub groups: Option<Vec<GroupLine>>,
}

impl LiveContests {
    /// Budgets over each rolling window ending at `now_ms`.
    pub fn budgets(
        &self,
        query: &BudgetQuery,
        budgets: &BudgetSet,
        now_ms: f64,
    ) -> Vec<WindowReport> {
        let windows: Vec<f64> = if query.windows_ms.is_empty() {
            self.options.windows_ms.clone()
        } else {
            query.windows_ms.clone()
        };
        windows
            .into_iter()
            .map(|w| self.window(query, budgets, w, now_ms))
            .collect()
    }

    fn window(
        &self,
        query: &BudgetQuery,
        budgets: &BudgetSet,
        window_ms: f64,
        now_ms: f64,
    ) -> WindowReport {
        let from = now_ms - window_ms;
        let mut overall: [Vec<f64>; 3] = Default::default();
        let mut groups: HashMap<[u32; 4], [Vec<f64>; 3]> = HashMap::new();
        let grouping = !query.group_by.is_empty();
        let dims: Vec<usize> = query.group_by.iter().map(|d| d.index()).collect();
        for s in self.samples.iter().rev() {
            if s.recv_ms < from {
                break;
            }
            if s.recv_ms > now_ms
                || !self.scope_matches(s.scope, query.game.as_deref(), query.env.as_deref())
            {
                continue;
            }
            let m = s.metric.index();
            overall[m].push(s.value);
            if grouping {
                let mut key = [NONE; 4];
                for &d in &dims {
                    key[d] = s.group[d];
                }
                groups.entry(key).or_default()[m].push(s.value);
            }
        }
        let groups = grouping.then(|| {
            let mut lines: Vec<GroupLine> = groups
                .into_iter()
                .map(|(key, mut samples)| GroupLine {
                    key: query
                        .group_by
                        .iter()
                        .map(|&d| (d, self.strings.get(key[d.index()]).map(str::to_owned)))
                        .collect(),
                    budgets: lines_for(budgets, &mut samples),
                })
                .collect();
            lines.sort_by(|a, b| a.key.cmp(&b.key));
            lines
        });
        WindowReport {
            window: crate::units::format_duration_ms(window_ms),
            window_ms: Num(window_ms),
            from_ms: Num(from),
            to_ms: Num(now_ms),
            budgets: lines_for(budgets, &mut overall),
            groups,
        }
    }
}

fn lines_for(budgets: &BudgetSet, samples: &mut [Vec<f64>; 3]) -> Vec<BudgetLine> {
    for s in samples.iter_mut() {
        sort_samples(s);
    }
    budgets
        .budgets
        .iter()
        .map(|b| {
            let sorted = &samples[b.metric.index()];
            let r = evaluate(b, sorted);
            BudgetLine {
                metric: b.metric,
                percentile: r.percentile,
                budget: r.budget,
                value: r.value,
                samples: r.samples,
                p50: nearest_rank(sorted, 50.0).map(Num),
                p95: nearest_rank(sorted, 95.0).map(Num),
                p99: nearest_rank(sorted, 99.0).map(Num),
                max: sorted.last().copied().map(Num),
                breached: r.status == BudgetStatus::Breach,
                status: r.status,
            }
        })
        .collect()
}
