//! The shapes of `GET /v1/budgets`: what is asked for, and one report per window.

use crate::budget::{BudgetStatus, Metric};
use crate::num::Num;
use crate::summary::GroupDim;
use serde::Serialize;
use std::collections::BTreeMap;

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
