//! The events-per-second token bucket of one game.

/// Tokens refill at the game's rate up to its burst; a request takes one per event.
#[derive(Debug, Clone)]
pub(super) struct Bucket {
    tokens: f64,
    at_ms: f64,
}

impl Bucket {
    /// A full bucket: a game starts with its burst.
    pub(super) fn full(burst: f64, now_ms: f64) -> Bucket {
        Bucket {
            tokens: burst,
            at_ms: now_ms,
        }
    }

    /// Adds what accrued since the last look.
    pub(super) fn refill(&mut self, rate: f64, burst: f64, now_ms: f64) {
        let elapsed = (now_ms - self.at_ms).max(0.0);
        self.tokens = (self.tokens + elapsed / 1000.0 * rate).min(burst);
        self.at_ms = self.at_ms.max(now_ms);
    }

    /// Seconds until `n` events may pass, `None` when they may now. A request larger than the
    /// burst passes once the bucket is full (and leaves it in debt), so no batch size is refused
    /// for ever.
    pub(super) fn wait(&self, n: f64, rate: f64, burst: f64) -> Option<f64> {
        let need = n.min(burst);
        (self.tokens < need).then(|| (need - self.tokens) / rate)
    }

    pub(super) fn take(&mut self, n: f64) {
        self.tokens -= n;
    }

    /// Whether the bucket is full (nothing to remember: a new one would be the same).
    pub(super) fn is_full(&self, burst: f64) -> bool {
        self.tokens >= burst
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_lets_its_burst_through_then_its_rate() {
        let mut b = Bucket::full(10.0, 0.0);
        assert_eq!(b.wait(10.0, 5.0, 10.0), None);
        b.take(10.0);
        // Empty: 4 events need 0.8 s at 5/s.
        let w = b.wait(4.0, 5.0, 10.0).unwrap();
        assert!((w - 0.8).abs() < 1e-9, "{w}");
        b.refill(5.0, 10.0, 800.0);
        assert_eq!(b.wait(4.0, 5.0, 10.0), None);
        // A batch over the burst passes from a full bucket and leaves a debt.
        b.refill(5.0, 10.0, 100_000.0);
        assert!(b.is_full(10.0));
        assert_eq!(b.wait(50.0, 5.0, 10.0), None);
        b.take(50.0);
        let w = b.wait(1.0, 5.0, 10.0).unwrap();
        assert!((w - 8.2).abs() < 1e-9, "{w}");
    }
}
