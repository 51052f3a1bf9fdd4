//! `GET /v1/budgets/history`'s answer: budgets per step over the per-minute (or per-hour) rows
//! of [`crate::rollup`], each step's percentiles exact because rows hold counts per distinct
//! duration and merging adds counts.

use crate::budget::BudgetSet;
use crate::contest::{budget_lines, BudgetLine, GroupLine};
use crate::quantile::from_order_key;
use crate::rollup::{decode_into, for_each_pair, HistoryKey, MINUTE_MS};
use crate::summary::GroupDim;
use serde::Serialize;
use std::collections::BTreeMap;

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

/// A group's values by dimension, as the answer shows them.
type GroupKey = BTreeMap<GroupDim, Option<String>>;

/// One line of the answer: a point's overall line (`None`) or one of its groups (the index of
/// the group in the answer's order).
type Line = Option<usize>;

/// What a row of a series adds to: its metric's index, and its group's index when the query
/// groups (`None` for a scope's all-groups series, which is never a group).
type Target = (usize, Line);

/// The history of `query` from rows `(start of the row, index into series, counts)` read for
/// `[from, to)`: one point per step, each with its budgets (and groups), percentiles exact.
/// Series outside the query's game and env are skipped; rows outside the range are ignored.
///
/// Rows are not decoded as they come: each is filed under the line (point, group, metric) it
/// counts towards, and each line then reads its rows once. A line of one row (the step is the
/// row's size: the usual case) turns the row straight into durations without sorting; only
/// lines of several rows merge them.
pub fn answer<'r>(
    query: &HistoryQuery,
    budgets: &BudgetSet,
    series: &[HistoryKey],
    rows: impl IntoIterator<Item = (i64, usize, &'r [u8])>,
) -> Vec<HistoryPoint> {
    answer_in(query, budgets, series, rows, None)
}

/// [`answer`] on `threads` threads (`None`: one for a short answer, else up to the cores').
fn answer_in<'r>(
    query: &HistoryQuery,
    budgets: &BudgetSet,
    series: &[HistoryKey],
    rows: impl IntoIterator<Item = (i64, usize, &'r [u8])>,
    threads: Option<usize>,
) -> Vec<HistoryPoint> {
    let step = query.step_ms.max(MINUTE_MS);
    let points = (((query.to_ms - query.from_ms).max(0) + step - 1) / step) as usize;
    let (groups, targets) = targets(query, series);
    // Lines per point: the overall one, then each group's.
    let lines = 1 + groups.len();
    let cell = |point: usize, line: Line, metric: usize| {
        (point * lines + line.map_or(0, |g| g + 1)) * 3 + metric
    };
    let rows: Vec<(usize, usize, &[u8])> = rows
        .into_iter()
        .filter(|&(at, s, _)| {
            at >= query.from_ms && at < query.to_ms && matches!(targets.get(s), Some(Some(_)))
        })
        .map(|(at, s, blob)| (((at - query.from_ms) / step) as usize, s, blob))
        .collect();
    // A scope's all-groups series (an empty group, the sum of its groups) answers each point's
    // overall line from one row; points stored before such series existed have none, and merge
    // their groups' rows instead. A grouped query reads its groups from the groups' rows only
    // (and no longer merges every group into the overall line: that merge was most of its cost).
    let all_groups = |s: usize| series.get(s).is_some_and(|k| k.group.is_empty());
    let mut summed = vec![false; points];
    for &(point, s, _) in &rows {
        if all_groups(s) {
            summed[point] = true;
        }
    }
    let mut filed: Vec<(usize, &[u8])> = Vec::with_capacity(rows.len() * 2);
    for (point, s, blob) in rows {
        let Some(Some((m, group))) = targets.get(s) else {
            continue;
        };
        let to_overall = all_groups(s) == summed[point];
        if group.is_some() {
            filed.push((cell(point, *group, *m), blob));
        }
        if to_overall {
            filed.push((cell(point, None, *m), blob));
        }
    }
    // The order of rows within a line does not change its counts.
    filed.sort_unstable_by_key(|&(c, _)| c);

    let mut answer: Vec<HistoryPoint> = (0..points)
        .map(|i| {
            let from = query.from_ms + i as i64 * step;
            HistoryPoint {
                from_ms: from,
                to_ms: (from + step).min(query.to_ms),
                budgets: Vec::new(),
                groups: (!query.group_by.is_empty()).then(Vec::new),
            }
        })
        .collect();
    // Points are independent: a long answer is shared among a few threads, each taking a run
    // of points and the filed rows that belong to them.
    let threads = threads.unwrap_or_else(|| {
        if filed.len() < PARALLEL_ROWS {
            1
        } else {
            std::thread::available_parallelism().map_or(1, |n| n.get().min(MAX_THREADS))
        }
    });
    let per = points.div_ceil(threads).max(1);
    let (groups, cell) = (&groups, &cell);
    std::thread::scope(|scope| {
        let mut rest = &filed[..];
        for (c, chunk) in answer.chunks_mut(per).enumerate() {
            let first = c * per;
            let end = cell(first + chunk.len(), None, 0);
            let (mine, after) = rest.split_at(rest.partition_point(|&(at, _)| at < end));
            rest = after;
            let mut fill = move || fill_points(chunk, first, mine, groups, budgets, cell);
            if threads == 1 {
                fill();
            } else {
                scope.spawn(fill);
            }
        }
    });
    answer
}

/// Filed rows at or above this many share the answer among threads.
const PARALLEL_ROWS: usize = 4_096;
/// At most this many threads answer one query.
const MAX_THREADS: usize = 4;

/// Fills the budgets (and groups) of `points`, the first of which is point `first`, from the
/// rows filed for them (sorted by cell).
fn fill_points(
    points: &mut [HistoryPoint],
    first: usize,
    filed: &[(usize, &[u8])],
    groups: &[GroupKey],
    budgets: &BudgetSet,
    cell: &(impl Fn(usize, Line, usize) -> usize + Sync),
) {
    let mut counted: [Vec<(f64, u64)>; 3] = Default::default();
    let mut scratch = Vec::new();
    let mut next = 0;
    for (i, point) in points.iter_mut().enumerate() {
        for line in std::iter::once(None).chain((0..groups.len()).map(Some)) {
            let mut totals = [0u64; 3];
            let mut any = false;
            for (m, values) in counted.iter_mut().enumerate() {
                let at = cell(first + i, line, m);
                let from = next;
                while filed.get(next).is_some_and(|&(c, _)| c == at) {
                    next += 1;
                }
                any |= next > from;
                totals[m] = merge(&filed[from..next], values, &mut scratch);
            }
            if line.is_some() && !any {
                // Groups without rows in this step are left out.
                continue;
            }
            let lines = budget_lines(budgets, [0, 1, 2].map(|m| (&counted[m][..], totals[m])));
            match (line, point.groups.as_mut()) {
                (None, _) => point.budgets = lines,
                (Some(g), Some(out)) => out.push(GroupLine {
                    key: groups[g].clone(),
                    budgets: lines,
                }),
                (Some(_), None) => {}
            }
        }
    }
}

/// The query's groups in the order the answer lists them, and per series what its rows count
/// towards (`None` outside the query's game and env).
fn targets(query: &HistoryQuery, series: &[HistoryKey]) -> (Vec<GroupKey>, Vec<Option<Target>>) {
    let values = |k: &HistoryKey| -> Vec<Option<String>> {
        query
            .group_by
            .iter()
            .map(|d| k.group.get(d.index()).cloned().flatten())
            .collect()
    };
    let grouped = |k: &HistoryKey| !query.group_by.is_empty() && !k.group.is_empty();
    let mut keys: Vec<GroupKey> = series
        .iter()
        .filter(|k| query.in_scope(k) && grouped(k))
        .map(|k| query.group_by.iter().copied().zip(values(k)).collect())
        .collect();
    keys.sort();
    keys.dedup();
    let targets = series
        .iter()
        .map(|k| {
            query.in_scope(k).then(|| {
                let group = grouped(k).then(|| {
                    let key: BTreeMap<_, _> =
                        query.group_by.iter().copied().zip(values(k)).collect();
                    keys.binary_search(&key).ok()
                });
                (k.metric.index(), group.flatten())
            })
        })
        .collect();
    (keys, targets)
}

/// The rows of one line merged into `values` (distinct durations ascending, with counts);
/// returns the number of samples. A damaged row adds nothing.
fn merge(
    rows: &[(usize, &[u8])],
    values: &mut Vec<(f64, u64)>,
    scratch: &mut Vec<(u64, u64)>,
) -> u64 {
    values.clear();
    if let [(_, blob)] = rows {
        // One row is already distinct and ascending.
        if !for_each_pair(blob, |k, n| values.push((from_order_key(k), n))) {
            values.clear();
        }
    } else {
        scratch.clear();
        for (_, blob) in rows {
            decode_into(blob, scratch);
        }
        // Each row's pairs are already ascending: the stable sort merges those runs instead of
        // sorting from scratch.
        scratch.sort_by_key(|&(k, _)| k);
        let mut last = None;
        for &(k, n) in scratch.iter() {
            match values.last_mut() {
                Some(l) if last == Some(k) => l.1 += n,
                _ => {
                    values.push((from_order_key(k), n));
                    last = Some(k);
                }
            }
        }
    }
    values.iter().map(|&(_, n)| n).sum()
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

    /// Steps the size of a row read each row straight (no merge); two series of one room (in
    /// different hubs) still make one group, listed in key order; a damaged row adds nothing
    /// and leaves its step's other rows counted.
    #[test]
    fn one_row_steps_series_sharing_a_group_and_a_damaged_row() {
        let in_hub = |room: &str, hub: &str| HistoryKey {
            group: vec![Some(hub.into()), Some(room.into()), None, None],
            ..key(room)
        };
        let series = vec![in_hub("b", "h1"), in_hub("a", "h1"), in_hub("b", "h2")];
        let rows = [
            (0, 0, row(&[300.0, 100.0])),
            (0, 1, row(&[50.0])),
            (0, 2, row(&[100.0, 700.5])),
            (MINUTE_MS, 0, row(&[10.0])),
            (MINUTE_MS, 1, vec![0xff]),
        ];
        let query = HistoryQuery {
            from_ms: 0,
            to_ms: 2 * MINUTE_MS,
            step_ms: MINUTE_MS,
            group_by: vec![GroupDim::Room],
            game: None,
            env: None,
        };
        let points = answer(
            &query,
            &BudgetSet::default(),
            &series,
            rows.iter().map(|(at, s, b)| (*at, *s, b.as_slice())),
        );
        let resolution = |lines: &[BudgetLine]| {
            lines
                .iter()
                .find(|l| l.metric == Metric::Resolution)
                .map(|l| (l.samples, l.p50.map(|n| n.0), l.max.map(|n| n.0)))
                .unwrap()
        };
        type Line = (u64, Option<f64>, Option<f64>);
        let rooms = |p: &HistoryPoint| -> Vec<(Option<String>, Line)> {
            p.groups
                .as_ref()
                .unwrap()
                .iter()
                .map(|g| (g.key[&GroupDim::Room].clone(), resolution(&g.budgets)))
                .collect()
        };
        assert_eq!(
            resolution(&points[0].budgets),
            (5, Some(100.0), Some(700.5))
        );
        assert_eq!(
            rooms(&points[0]),
            vec![
                (Some("a".into()), (1, Some(50.0), Some(50.0))),
                (Some("b".into()), (4, Some(100.0), Some(700.5))),
            ]
        );
        // The damaged row of room a: its group has a line counting nothing, room b still counts.
        assert_eq!(resolution(&points[1].budgets), (1, Some(10.0), Some(10.0)));
        assert_eq!(
            rooms(&points[1]),
            vec![
                (Some("a".into()), (0, None, None)),
                (Some("b".into()), (1, Some(10.0), Some(10.0))),
            ]
        );
    }

    /// Shared among threads, the answer is the one a single thread gives (points split
    /// anywhere, groups missing from some points, steps of several rows).
    #[test]
    fn threads_answer_what_one_thread_answers() {
        let mut seed = 11u64;
        let mut next = |m: u64| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) % m
        };
        let rooms: Vec<String> = (0..5).map(|r| format!("r{r}")).collect();
        let series: Vec<HistoryKey> = rooms.iter().map(|r| key(r)).collect();
        let mut rows = Vec::new();
        for minute in 0..37i64 {
            for s in 0..series.len() {
                if next(4) > 0 {
                    let samples: Vec<f64> =
                        (0..next(9) + 1).map(|_| next(50) as f64 * 2.5).collect();
                    rows.push((minute * MINUTE_MS, s, row(&samples)));
                }
            }
        }
        for step in [1, 2, 5] {
            let query = HistoryQuery {
                from_ms: 0,
                to_ms: 37 * MINUTE_MS,
                step_ms: step * MINUTE_MS,
                group_by: vec![GroupDim::Room],
                game: None,
                env: None,
            };
            let with = |threads| {
                answer_in(
                    &query,
                    &BudgetSet::default(),
                    &series,
                    rows.iter().map(|(at, s, b)| (*at, *s, b.as_slice())),
                    Some(threads),
                )
            };
            let one = with(1);
            assert!(one.iter().any(|p| p.budgets.iter().any(|l| l.samples > 0)));
            for threads in [2, 3, 8] {
                assert_eq!(with(threads), one, "step {step}m on {threads} threads");
            }
        }
    }
}
