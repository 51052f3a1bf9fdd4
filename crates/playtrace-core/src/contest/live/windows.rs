//! Budgets over rolling windows of receive time (`GET /v1/budgets`), overall and per group:
//! percentiles are walks over the windows' counts per distinct value ([`super::ring`]), so a
//! report costs its distinct values and groups, not its samples; and a report already computed
//! is answered again from [`super::cache`] while nothing it counts has changed.

use crate::budget::{judge, BudgetSet, BudgetStatus};
use crate::contest::lifecycle::NONE;
use crate::contest::live::cache::Stamp;
use crate::contest::live::report::{BudgetLine, BudgetQuery, GroupLine, WindowReport};
use crate::contest::live::ring::{from_order_key, Counts, HashMap, SeriesId};
use crate::contest::live::state::LiveContests;
use crate::dims::{Group, GROUP_SLOTS};
use crate::num::Num;
use crate::quantile::nearest_ranks_counted;

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
        let stamp = Stamp {
            window_ms,
            range: self.ring.range(window_ms, now_ms),
            version: self.ring.version(),
        };
        let mut report = match self.cache.get(query, &budgets.budgets, stamp) {
            Some(r) => r,
            None => {
                let r = self.compute(query, budgets, window_ms, now_ms);
                self.cache.put(query, &budgets.budgets, stamp, r.clone());
                r
            }
        };
        report.from_ms = Num(now_ms - window_ms);
        report.to_ms = Num(now_ms);
        report.window = crate::units::format_duration_ms(window_ms);
        report.window_ms = Num(window_ms);
        report
    }

    /// The report of one window from its counts (times are filled in by the caller).
    fn compute(
        &self,
        query: &BudgetQuery,
        budgets: &BudgetSet,
        window_ms: f64,
        now_ms: f64,
    ) -> WindowReport {
        let parts = self.ring.window(window_ms, now_ms);
        let grouping = !query.group_by.is_empty();
        let dims: Vec<usize> = query.group_by.iter().map(|d| d.index()).collect();
        let mut overall: [Merge<'_>; 3] = Default::default();
        let mut groups: HashMap<Group, [Merge<'_>; 3]> = HashMap::default();
        let target = |series: SeriesId| {
            let key = self.ring.series(series)?;
            if !self.scope_matches(key.scope, query.game.as_deref(), query.env.as_deref()) {
                return None;
            }
            let group = grouping.then(|| {
                let mut g = [NONE; GROUP_SLOTS];
                for &d in &dims {
                    g[d] = key.group[d];
                }
                g
            });
            Some((usize::from(key.metric), group))
        };
        let mut seen: HashMap<SeriesId, Option<Target>> = HashMap::default();
        for (&series, counts) in parts.base.into_iter().flatten() {
            let Some((m, group)) = *seen.entry(series).or_insert_with(|| target(series)) else {
                continue;
            };
            overall[m].sources.push(counts);
            if let Some(g) = group {
                groups.entry(g).or_default()[m].sources.push(counts);
            }
        }
        for (slices, sign) in [(&parts.plus, 1i64), (&parts.minus, -1)] {
            for slice in slices {
                for (series, value, n) in slice.iter() {
                    let Some((m, group)) = *seen.entry(series).or_insert_with(|| target(series))
                    else {
                        continue;
                    };
                    *overall[m].delta.entry(value).or_default() += sign * n as i64;
                    if let Some(g) = group {
                        *groups.entry(g).or_default()[m]
                            .delta
                            .entry(value)
                            .or_default() += sign * n as i64;
                    }
                }
            }
        }
        let groups = grouping.then(|| {
            let mut lines: Vec<GroupLine> = groups
                .into_iter()
                .map(|(key, merges)| GroupLine {
                    key: query
                        .group_by
                        .iter()
                        .map(|&d| (d, self.strings.get(key[d.index()]).map(str::to_owned)))
                        .collect(),
                    budgets: lines_for(budgets, merges),
                })
                .collect();
            lines.sort_by(|a, b| a.key.cmp(&b.key));
            lines
        });
        WindowReport {
            window: String::new(),
            window_ms: Num(window_ms),
            from_ms: Num(0.0),
            to_ms: Num(0.0),
            budgets: lines_for(budgets, overall),
            groups,
        }
    }
}

/// Where a series' counts go in a report: its metric's index, and its group when grouping.
type Target = (usize, Option<Group>);

/// The counts of one metric of one group: running sums of series (walked as they are when there
/// is only one) and whole slices added or taken away.
#[derive(Default)]
struct Merge<'a> {
    sources: Vec<&'a Counts>,
    delta: HashMap<u64, i64>,
}

impl Merge<'_> {
    /// Distinct values ascending with their counts, and the number of samples.
    fn counted(self) -> (Vec<(f64, u64)>, u64) {
        let mut out: Vec<(f64, u64)> = if self.sources.len() == 1 && self.delta.is_empty() {
            self.sources[0]
                .iter()
                .map(|(&k, &n)| (from_order_key(k), n))
                .collect()
        } else {
            let mut all = self.delta;
            for src in self.sources {
                for (&k, &n) in src {
                    *all.entry(k).or_default() += n as i64;
                }
            }
            let mut keyed: Vec<(u64, u64)> = all
                .into_iter()
                .filter(|&(_, n)| n > 0)
                .map(|(k, n)| (k, n as u64))
                .collect();
            keyed.sort_unstable_by_key(|&(k, _)| k);
            keyed
                .into_iter()
                .map(|(k, n)| (from_order_key(k), n))
                .collect()
        };
        out.retain(|&(_, n)| n > 0);
        let total = out.iter().map(|&(_, n)| n).sum();
        (out, total)
    }
}

fn lines_for(budgets: &BudgetSet, merges: [Merge<'_>; 3]) -> Vec<BudgetLine> {
    let counted = merges.map(Merge::counted);
    budget_lines(budgets, counted.each_ref().map(|(v, n)| (v.as_slice(), *n)))
}

/// One line per budget from each metric's distinct values (ascending, with counts) and total:
/// the live windows and the history judge the same way.
pub(crate) fn budget_lines(
    budgets: &BudgetSet,
    counted: [(&[(f64, u64)], u64); 3],
) -> Vec<BudgetLine> {
    budgets
        .budgets
        .iter()
        .map(|b| {
            let (values, total) = &counted[b.metric.index()];
            let [value, p50, p95, p99] =
                nearest_ranks_counted(values, *total, [b.percentile, 50.0, 95.0, 99.0]);
            let r = judge(b, value, *total);
            BudgetLine {
                metric: b.metric,
                percentile: r.percentile,
                budget: r.budget,
                value: r.value,
                samples: r.samples,
                p50: p50.map(Num),
                p95: p95.map(Num),
                p99: p99.map(Num),
                max: values.last().map(|&(v, _)| Num(v)),
                breached: r.status == BudgetStatus::Breach,
                status: r.status,
            }
        })
        .collect()
}
