//! Exact nearest-rank percentiles.
//!
//! `index = ceil(p/100 · n) − 1` on the ascending samples (SPEC §3): the result is always one of
//! the samples, so it matches the old tool and DuckDB's `quantile_disc` on the same data. The rank
//! is computed so that floating-point noise in `p/100 · n` (`0.07 · 100 = 7.000000000000001`)
//! cannot push it one sample too far.

/// The sample at percentile `p` (0 < p ≤ 100) of ascending `sorted` samples; `None` when empty.
pub fn nearest_rank(sorted: &[f64], p: f64) -> Option<f64> {
    let index = rank_index(sorted.len() as u64, p)?;
    sorted.get(index as usize).copied()
}

/// The 0-based index of percentile `p` among `n` ascending samples; `None` when `n` is 0.
fn rank_index(n: u64, p: f64) -> Option<u64> {
    if n == 0 {
        return None;
    }
    let exact = p / 100.0 * n as f64;
    let nearest_int = exact.round();
    // Snap to the integer the mathematics intends when the product is within rounding noise.
    let rank = if (exact - nearest_int).abs() <= 1e-9 * nearest_int.max(1.0) {
        nearest_int
    } else {
        exact.ceil()
    };
    Some((rank as u64).clamp(1, n) - 1)
}

/// The same nearest rank over distinct values with their counts, ascending by value (a value
/// may repeat; counts of 0 are skipped): a walk over the counts instead of over every sample,
/// so a window of millions of samples with few distinct durations costs only its distinct
/// values. `total` is the sum of the counts. The reference for [`nearest_ranks_counted`], which
/// the budgets use.
#[cfg(test)]
pub(crate) fn nearest_rank_counted(counted: &[(f64, u64)], total: u64, p: f64) -> Option<f64> {
    let index = rank_index(total, p)?;
    let mut seen = 0u64;
    for &(value, count) in counted {
        seen += count;
        if seen > index {
            return Some(value);
        }
    }
    None
}

/// [`nearest_rank_counted`] at several percentiles in one walk (a budget line asks for four:
/// its own, p50, p95 and p99), in the order asked.
pub(crate) fn nearest_ranks_counted<const N: usize>(
    counted: &[(f64, u64)],
    total: u64,
    ps: [f64; N],
) -> [Option<f64>; N] {
    let mut out = [None; N];
    let mut wanted: [(u64, usize); N] = std::array::from_fn(|i| (0, i));
    for (w, p) in wanted.iter_mut().zip(ps) {
        match rank_index(total, p) {
            Some(index) => w.0 = index,
            None => return out,
        }
    }
    wanted.sort_unstable();
    let mut next = 0;
    let mut seen = 0u64;
    for &(value, count) in counted {
        seen += count;
        while next < N && seen > wanted[next].0 {
            out[wanted[next].1] = Some(value);
            next += 1;
        }
        if next == N {
            break;
        }
    }
    out
}

/// A duration's order-preserving integer form (ascending `u64` = ascending `f64::total_cmp`): the
/// key counts per distinct value are sorted and merged by (live windows, history rows).
pub fn order_key(v: f64) -> u64 {
    let bits = v.to_bits();
    if bits >> 63 == 1 {
        !bits
    } else {
        bits | 1 << 63
    }
}

/// Back from [`order_key`].
pub fn from_order_key(k: u64) -> f64 {
    if k >> 63 == 1 {
        f64::from_bits(k & !(1 << 63))
    } else {
        f64::from_bits(!k)
    }
}

/// Sorts samples ascending (NaN never enters: callers only collect finite values).
pub fn sort_samples(samples: &mut [f64]) {
    samples.sort_unstable_by(f64::total_cmp);
}

/// The statistics every duration line of a report shows.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Distribution {
    /// Number of samples.
    pub samples: u64,
    /// The 50th percentile by [`nearest_rank`]; `None` without samples, as are the others.
    pub p50: Option<f64>,
    /// 95th percentile.
    pub p95: Option<f64>,
    /// 99th percentile.
    pub p99: Option<f64>,
    /// The largest sample (what the 100th percentile would be).
    pub max: Option<f64>,
}

impl Distribution {
    /// Summarises ascending samples.
    pub fn of_sorted(sorted: &[f64]) -> Self {
        Distribution {
            samples: sorted.len() as u64,
            p50: nearest_rank(sorted, 50.0),
            p95: nearest_rank(sorted, 95.0),
            p99: nearest_rank(sorted, 99.0),
            max: sorted.last().copied(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Counts per distinct value (ascending), as the live windows hold them.
    fn counted(samples: &[f64]) -> Vec<(f64, u64)> {
        let mut sorted = samples.to_vec();
        sort_samples(&mut sorted);
        let mut out: Vec<(f64, u64)> = Vec::new();
        for v in sorted {
            match out.last_mut() {
                Some((last, n)) if last.total_cmp(&v).is_eq() => *n += 1,
                _ => out.push((v, 1)),
            }
        }
        out
    }

    fn durations() -> impl Strategy<Value = f64> {
        prop_oneof![
            // Few distinct integers: many duplicates.
            (0u32..20).prop_map(f64::from),
            // Decimal milliseconds.
            (0u32..100_000).prop_map(|v| f64::from(v) / 100.0),
            (0.0f64..1e7),
        ]
    }

    proptest! {
        #[test]
        fn counted_percentiles_equal_the_sorted_ones(
            samples in prop::collection::vec(durations(), 0..300),
            p in prop_oneof![Just(50.0), Just(95.0), Just(99.0), Just(100.0), 0.1f64..100.0],
        ) {
            let mut sorted = samples.clone();
            sort_samples(&mut sorted);
            let c = counted(&samples);
            prop_assert_eq!(
                nearest_rank_counted(&c, samples.len() as u64, p),
                nearest_rank(&sorted, p)
            );
        }
    }

    proptest! {
        #[test]
        fn ranks_in_one_walk_equal_one_walk_each(
            samples in prop::collection::vec(durations(), 0..300),
            p in 0.1f64..100.0,
        ) {
            let c = counted(&samples);
            let n = samples.len() as u64;
            let ps = [p, 50.0, 95.0, 99.0, 100.0, 50.0];
            prop_assert_eq!(
                nearest_ranks_counted(&c, n, ps),
                ps.map(|p| nearest_rank_counted(&c, n, p))
            );
        }
    }

    #[test]
    fn counted_percentiles_for_zero_one_and_two_samples() {
        assert_eq!(nearest_rank_counted(&[], 0, 95.0), None);
        assert_eq!(nearest_rank_counted(&[(4.5, 1)], 1, 50.0), Some(4.5));
        let two = [(1.25, 1), (7.0, 1)];
        assert_eq!(nearest_rank_counted(&two, 2, 50.0), Some(1.25));
        assert_eq!(nearest_rank_counted(&two, 2, 95.0), Some(7.0));
        // Duplicates and a skipped zero count.
        let dup = [(3.0, 0), (5.0, 3), (9.0, 1)];
        assert_eq!(nearest_rank_counted(&dup, 4, 75.0), Some(5.0));
        assert_eq!(nearest_rank_counted(&dup, 4, 76.0), Some(9.0));
    }

    fn one_to(n: usize) -> Vec<f64> {
        (1..=n).map(|v| v as f64).collect()
    }

    #[test]
    fn empty_has_no_percentiles() {
        assert_eq!(nearest_rank(&[], 95.0), None);
        assert_eq!(Distribution::of_sorted(&[]), Distribution::default());
    }

    #[test]
    fn single_sample_is_every_percentile() {
        let d = Distribution::of_sorted(&[42.0]);
        assert_eq!(
            (d.p50, d.p95, d.p99, d.max),
            (Some(42.0), Some(42.0), Some(42.0), Some(42.0))
        );
    }

    #[test]
    fn two_samples() {
        let s = one_to(2);
        assert_eq!(nearest_rank(&s, 50.0), Some(1.0));
        assert_eq!(nearest_rank(&s, 95.0), Some(2.0));
        assert_eq!(nearest_rank(&s, 99.0), Some(2.0));
    }

    #[test]
    fn four_samples_like_the_fixture() {
        // The fixture's arming samples: p50 1200, p95 9200.
        let s = [420.0, 1200.0, 7200.0, 9200.0];
        assert_eq!(nearest_rank(&s, 50.0), Some(1200.0));
        assert_eq!(nearest_rank(&s, 95.0), Some(9200.0));
        assert_eq!(nearest_rank(&s, 25.0), Some(420.0));
        assert_eq!(nearest_rank(&s, 75.0), Some(7200.0));
    }

    #[test]
    fn twenty_samples() {
        let s = one_to(20);
        assert_eq!(nearest_rank(&s, 50.0), Some(10.0));
        assert_eq!(nearest_rank(&s, 95.0), Some(19.0));
        assert_eq!(nearest_rank(&s, 99.0), Some(20.0));
        assert_eq!(nearest_rank(&s, 100.0), Some(20.0));
        assert_eq!(nearest_rank(&s, 5.0), Some(1.0));
    }

    #[test]
    fn rank_is_not_pushed_by_float_noise() {
        // 0.07 * 100 is 7.000000000000001 in binary floating point; the rank is exactly 7.
        let s = one_to(100);
        assert_eq!(nearest_rank(&s, 7.0), Some(7.0));
        assert_eq!(nearest_rank(&s, 99.9), Some(100.0));
        let s = one_to(1000);
        assert_eq!(nearest_rank(&s, 99.9), Some(999.0));
    }

    #[test]
    fn matches_the_definition_for_many_sizes() {
        for n in 1..=300usize {
            let s = one_to(n);
            for p in [1u32, 5, 25, 50, 75, 90, 95, 99, 100] {
                // Integer arithmetic: ceil(p * n / 100).
                let rank = (p as usize * n).div_ceil(100).max(1);
                assert_eq!(
                    nearest_rank(&s, f64::from(p)),
                    Some(rank as f64),
                    "n={n} p={p}"
                );
            }
        }
    }
}
