//! Exact nearest-rank percentiles.
//!
//! `index = ceil(p/100 · n) − 1` on the ascending samples (SPEC §3): the result is always one of
//! the samples, so it matches the old tool and DuckDB's `quantile_disc` on the same data. The rank
//! is computed so that floating-point noise in `p/100 · n` (`0.07 · 100 = 7.000000000000001`)
//! cannot push it one sample too far.

/// The sample at percentile `p` (0 < p ≤ 100) of ascending `sorted` samples; `None` when empty.
pub fn nearest_rank(sorted: &[f64], p: f64) -> Option<f64> {
    let n = sorted.len();
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
    let index = (rank as usize).clamp(1, n) - 1;
    Some(sorted[index])
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
