//! Window reports already computed, answered again at no cost while nothing they count has
//! changed: the budget evaluator asks every second, mostly for the same figures.

use crate::budget::Budget;
use crate::contest::live::report::{BudgetQuery, WindowReport};
use crate::contest::live::ring::Slice;
use std::collections::VecDeque;
use std::sync::Mutex;

/// What a cached report was computed from: any read with the same stamp gives the same figures.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Stamp {
    pub(super) window_ms: f64,
    pub(super) range: (Slice, Slice),
    pub(super) version: u64,
}

struct Cached {
    query: BudgetQuery,
    budgets: Vec<Budget>,
    stamp: Stamp,
    report: WindowReport,
}

/// The last few window reports computed, by query, budgets and stamp.
#[derive(Default)]
pub(super) struct ReportCache {
    entries: Mutex<VecDeque<Cached>>,
}

/// Reports kept: the evaluator's query and a few dashboards'.
const CACHED_REPORTS: usize = 16;

impl ReportCache {
    pub(super) fn get(
        &self,
        query: &BudgetQuery,
        budgets: &[Budget],
        stamp: Stamp,
    ) -> Option<WindowReport> {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries
            .iter()
            .find(|c| c.stamp == stamp && c.query == *query && c.budgets == budgets)
            .map(|c| c.report.clone())
    }

    pub(super) fn put(
        &self,
        query: &BudgetQuery,
        budgets: &[Budget],
        stamp: Stamp,
        report: WindowReport,
    ) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries.retain(|c| {
            !(c.query == *query && c.budgets == budgets && c.stamp.window_ms == stamp.window_ms)
        });
        if entries.len() >= CACHED_REPORTS {
            entries.pop_front();
        }
        entries.push_back(Cached {
            query: query.clone(),
            budgets: budgets.to_vec(),
            stamp,
            report,
        });
    }
}
