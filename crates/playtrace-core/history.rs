
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
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
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
}
