//! `GET /v1/budgets/history`'s answer: budgets per step over the per-minute (or per-hour) rows
//! of [`crate::rollup`], each step's percentiles exact because rows hold counts per distinct
//! duration and merging adds counts.

use crate::budget::BudgetSet;
use crate::contest::{budget_lines, BudgetLine, GroupLine};
use crate::quantile::from_order_key;
use crate::rollup::{decode_into, HistoryKey, MINUTE_MS};
use crate::summary::GroupDim;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};

/// What `GET /v1/budgets/history` asks for.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryQuery {
    /// Start (epoch ms, a multiple of the row size read), inclusive.
    pub from_ms: i64,
    /// End (epoch ms), exclusive.
    pub to_ms: i64,
    /// Length of each point (a multiple of a minute).
    pub step_ms: i64,
    /// Also per group of these dimensions.
    pub group_by: Vec<GroupDim>,
    /// Only this game.
    pub game: Option<String>,
    /// Only this environment.
    pub env: Option<String>,
}

impl HistoryQuery {
    /// Whether `key`'s series is in the query's game and env (the one scope test: the answer
    /// skips other series, the server reads no rows of them).
    pub fn in_scope(&self, key: &HistoryKey) -> bool {
        self.game
            .as_ref()
            .is_none_or(|g| key.game.as_ref() == Some(g))
            && self
                .env
                .as_ref()
                .is_none_or(|e| key.env.as_ref() == Some(e))
    }
}

/// Budgets over one step of the history.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HistoryPoint {
    /// Start of the step, epoch ms (receive time).
    pub from_ms: i64,
    /// End of the step (exclusive).
    pub to_ms: i64,
    /// One line per budget over every matching sample of the step.
    pub budgets: Vec<BudgetLine>,
    /// Per group, when asked for (groups without samples in this step are left out).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub groups: Option<Vec<GroupLine>>,
}

/// A series' values in the grouping asked for (`None`: not grouping).
type GroupValues = Option<Vec<Option<String>>>;

/// Counts of one metric gathered for one point (and group): pairs appended as rows are read,
/// merged once at the end.
type Gathered = [Vec<(u64, u64)>; 3];

/// The history of `query` from rows `(start of the row, index into series, counts)` read for
/// `[from, to)`: one point per step, each with its budgets (and groups), percentiles exact.
/// Series outside the query's game and env are skipped; rows outside the range are ignored.
pub fn answer<'r>(
    query: &HistoryQuery,
    budgets: &BudgetSet,
    series: &[HistoryKey],
    rows: impl IntoIterator<Item = (i64, usize, &'r [u8])>,
) -> Vec<HistoryPoint> {
    let step = query.step_ms.max(MINUTE_MS);
    let points = ((query.to_ms - query.from_ms).max(0) + step - 1) / step;
    let wanted: Vec<Option<(usize, GroupValues)>> = series
        .iter()
        .map(|k| {
            query.in_scope(k).then(|| {
                let group = (!query.group_by.is_empty()).then(|| {
                    query
                        .group_by
                        .iter()
                        .map(|d| k.group.get(d.index()).cloned().flatten())
                        .collect()
                });
                (k.metric.index(), group)
            })
        })
        .collect();
    let rows: Vec<(i64, usize, &[u8])> = rows
        .into_iter()
        .filter(|&(at, s, _)| {
            at >= query.from_ms && at < query.to_ms && matches!(wanted.get(s), Some(Some(_)))
        })
        .collect();
    // A scope's all-groups series (an empty group, the sum of its groups) answers each point's
    // overall line from one row; points stored before such series existed have none, and merge
    // their groups' rows instead. A grouped query reads its groups from the groups' rows only
    // (and no longer merges every group into the overall line: that merge was most of its cost).
    let all_groups = |s: usize| series.get(s).is_some_and(|k| k.group.is_empty());
    let mut summed = vec![false; points.max(0) as usize];
    for &(at, s, _) in &rows {
        if all_groups(s) {
            summed[((at - query.from_ms) / step) as usize] = true;
        }
    }
    let mut overall: Vec<Gathered> = (0..points).map(|_| Gathered::default()).collect();
    let mut groups: HashMap<(i64, Vec<Option<String>>), Gathered> = HashMap::new();
    for (at, s, blob) in rows {
        let Some(Some((m, group))) = wanted.get(s) else {
            continue;
        };
        let point = ((at - query.from_ms) / step) as usize;
        let sum_row = all_groups(s);
        let to_overall = sum_row == summed[point];
        match group.as_ref().filter(|_| !sum_row) {
            Some(g) => {
                let into = &mut groups.entry((point as i64, g.clone())).or_default()[*m];
                let from = into.len();
                if decode_into(blob, into) && to_overall {
                    overall[point][*m].extend_from_slice(&into[from..]);
                }
            }
            None if to_overall => {
                decode_into(blob, &mut overall[point][*m]);
            }
            None => {}
        }
    }
    let mut per_point: BTreeMap<i64, Vec<GroupLine>> = BTreeMap::new();
    for ((point, key), gathered) in groups {
        per_point.entry(point).or_default().push(GroupLine {
            key: query.group_by.iter().copied().zip(key).collect(),
            budgets: budget_lines(budgets, gathered.map(counted)),
        });
    }
    overall
        .into_iter()
        .enumerate()
        .map(|(i, gathered)| {
            let from = query.from_ms + i as i64 * step;
            HistoryPoint {
                from_ms: from,
                to_ms: (from + step).min(query.to_ms),
                budgets: budget_lines(budgets, gathered.map(counted)),
                groups: (!query.group_by.is_empty()).then(|| {
                    let mut lines = per_point.remove(&(i as i64)).unwrap_or_default();
                    lines.sort_by(|a, b| a.key.cmp(&b.key));
                    lines
                }),
            }
        })
        .collect()
}

/// Gathered pairs merged: distinct values ascending with their counts, and the total.
fn counted(mut pairs: Vec<(u64, u64)>) -> (Vec<(f64, u64)>, u64) {
    // Each row's pairs are already ascending: the stable sort merges those runs instead of
    // sorting from scratch.
    pairs.sort_by_key(|&(k, _)| k);
    let mut out: Vec<(f64, u64)> = Vec::with_capacity(pairs.len());
    let mut last = None;
    for (k, n) in pairs {
        if last == Some(k) {
            if let Some(l) = out.last_mut() {
                l.1 += n;
            }
        } else {
            out.push((from_order_key(k), n));
            last = Some(k);
        }
    }
    let total = out.iter().map(|&(_, n)| n).sum();
    (out, total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::budget::Metric;
    use crate::quantile::{nearest_rank, order_key, sort_samples};
    use crate::rollup::encode;

    fn row(samples: &[f64]) -> Vec<u8> {
        let mut counts: std::collections::BTreeMap<u64, u64> = Default::default();
        for &s in samples {
            *counts.entry(order_key(s)).or_default() += 1;
        }
        encode(&counts.into_iter().collect::<Vec<_>>())
    }

    fn key(room: &str) -> HistoryKey {
        HistoryKey {
            metric: Metric::Resolution,
            game: Some("g".into()),
            env: None,
            group: vec![None, Some(room.into()), None, None],
        }
    }

    /// Merged rows give the percentiles of the sorted samples, per step and per group.
    #[test]
    fn steps_over_rows_rank_like_sorted_samples() {
        let mut seed = 7u64;
        let mut next = || {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((seed >> 33) % 40) as f64 * 12.5
        };
        let series = vec![key("a"), key("b")];
        let mut rows = Vec::new();
        let mut all: [Vec<f64>; 2] = Default::default();
        let mut per_room: [[Vec<f64>; 2]; 2] = Default::default();
        for minute in 0..10i64 {
            for (s, room_rows) in per_room.iter_mut().enumerate() {
                let n = (minute as usize * 7 + s * 3) % 11;
                let samples: Vec<f64> = (0..n).map(|_| next()).collect();
                let point = (minute / 5) as usize;
                all[point].extend(&samples);
                room_rows[point].extend(&samples);
                rows.push((minute * MINUTE_MS, s, row(&samples)));
            }
        }
        let query = HistoryQuery {
            from_ms: 0,
            to_ms: 10 * MINUTE_MS,
            step_ms: 5 * MINUTE_MS,
            group_by: vec![GroupDim::Room],
            game: Some("g".into()),
            env: None,
        };
        let points = answer(
            &query,
            &BudgetSet::default(),
            &series,
            rows.iter().map(|(at, s, b)| (*at, *s, b.as_slice())),
        );
        assert_eq!(points.len(), 2);
        let check = |line: &BudgetLine, samples: &mut Vec<f64>| {
            sort_samples(samples);
            assert_eq!(line.samples, samples.len() as u64);
            for (p, got) in [(50.0, line.p50), (95.0, line.p95), (99.0, line.p99)] {
                assert_eq!(got.map(|n| n.0), nearest_rank(samples, p), "p{p}");
            }
        };
        for (i, point) in points.iter().enumerate() {
            let resolution = |lines: &[BudgetLine]| {
                lines
                    .iter()
                    .find(|l| l.metric == Metric::Resolution)
                    .cloned()
                    .unwrap()
            };
            check(&resolution(&point.budgets), &mut all[i].clone());
            let groups = point.groups.as_ref().unwrap();
            for (r, g) in groups.iter().enumerate() {
                check(&resolution(&g.budgets), &mut per_room[r][i].clone());
            }
        }
        // Another game's rows are not this query's.
        let other = HistoryQuery {
            game: Some("h".into()),
            ..query
        };
        let none = answer(
            &other,
            &BudgetSet::default(),
            &series,
            rows.iter().map(|(at, s, b)| (*at, *s, b.as_slice())),
        );
        assert_eq!(none[0].budgets[0].samples, 0);
    }

    /// A point with a scope's all-groups row answers an ungrouped query from that row alone (its
    /// groups' rows are not counted again); a point without one (stored before such rows were
    /// written) merges its groups; a grouped query answers its overall line the same way and
    /// its groups from their own rows only (the all-groups row is never a group).
    #[test]
    fn all_groups_rows_answer_ungrouped_points_and_groups_fill_older_ones() {
        let all = HistoryKey {
            group: Vec::new(),
            ..key("a")
        };
        let series = vec![key("a"), key("b"), all];
        let a = [100.0, 200.0];
        let b = [300.0];
        let both = [100.0, 200.0, 300.0];
        let rows = [
            (0, 0, row(&a)),
            (0, 1, row(&b)),
            (0, 2, row(&both)),
            (MINUTE_MS, 0, row(&a)),
            (MINUTE_MS, 1, row(&b)),
        ];
        let query = HistoryQuery {
            from_ms: 0,
            to_ms: 2 * MINUTE_MS,
            step_ms: MINUTE_MS,
            group_by: vec![],
            game: None,
            env: None,
        };
        let read = |query: &HistoryQuery| {
            answer(
                query,
                &BudgetSet::default(),
                &series,
                rows.iter().map(|(at, s, b)| (*at, *s, b.as_slice())),
            )
        };
        let resolution = |lines: &[BudgetLine]| {
            lines
                .iter()
                .find(|l| l.metric == Metric::Resolution)
                .map(|l| (l.samples, l.p99.map(|n| n.0)))
        };
        let points = read(&query);
        assert_eq!(resolution(&points[0].budgets), Some((3, Some(300.0))));
        assert_eq!(resolution(&points[1].budgets), Some((3, Some(300.0))));
        let grouped = read(&HistoryQuery {
            group_by: vec![GroupDim::Room],
            ..query
        });
        for point in &grouped {
            assert_eq!(resolution(&point.budgets), Some((3, Some(300.0))));
            let groups = point.groups.as_ref().unwrap();
            let rooms: Vec<_> = groups.iter().map(|g| g.key.clone()).collect();
            assert_eq!(rooms.len(), 2, "{rooms:?}");
            assert_eq!(resolution(&groups[0].budgets), Some((2, Some(200.0))));
            assert_eq!(resolution(&groups[1].budgets), Some((1, Some(300.0))));
        }
    }
}
