//! How hard to push a receiver: exponential backoff with jitter, a circuit breaker per receiver
//! (a dead one costs no attempts while it is open), and a token bucket for its rate limit. All
//! of it in memory: after a restart the outbox's `next_ms` times still hold.

use std::time::Duration;

/// Delay before attempt `attempts + 1`: `base · 2^(attempts-1)`, at most `max`, then ±25%
/// jitter so many notifications failing together do not retry together.
pub(crate) fn backoff(attempts: u32, base: Duration, max: Duration, noise: u64) -> Duration {
    let exp = base.saturating_mul(1u32 << attempts.saturating_sub(1).min(20));
    let d = exp.min(max).as_millis() as u64;
    let spread = d / 4;
    let jitter = if spread == 0 {
        0
    } else {
        noise % (2 * spread + 1)
    };
    Duration::from_millis(d - spread + jitter)
}

/// Cheap per-call noise for jitter (no randomness crate needed for this).
pub(crate) fn noise() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    h.finish()
}

/// After this many transient failures in a row the receiver's circuit opens.
const TRIP_AFTER: u32 = 5;

/// One receiver's circuit breaker: closed (send), open (send nothing until `open_until`), then
/// half-open (one trial; success closes it, failure opens it again for twice as long).
#[derive(Debug, Default)]
pub(crate) struct Breaker {
    failures: u32,
    open_until_ms: Option<i64>,
    cooldown_ms: i64,
    trial: bool,
}

impl Breaker {
    /// Whether an attempt may start at `now_ms`; `Err(until)` while open or while a trial runs.
    pub(crate) fn allow(&mut self, now_ms: i64) -> Result<(), i64> {
        match self.open_until_ms {
            Some(until) if now_ms < until => Err(until),
            Some(_) if self.trial => Err(now_ms + 1_000),
            Some(_) => {
                self.trial = true;
                Ok(())
            }
            None => Ok(()),
        }
    }

    /// Whether the circuit is open (for the gauge).
    pub(crate) fn is_open(&self) -> bool {
        self.open_until_ms.is_some()
    }

    /// A delivery (or a permanent answer: the receiver is up).
    pub(crate) fn success(&mut self) {
        *self = Breaker::default();
    }

    /// A transient failure; `hint_ms` is how long the receiver asked us to wait, if it did.
    pub(crate) fn failure(&mut self, now_ms: i64, hint_ms: Option<i64>) {
        self.failures += 1;
        self.trial = false;
        if self.open_until_ms.is_some() || self.failures >= TRIP_AFTER {
            self.cooldown_ms = (self.cooldown_ms * 2).clamp(5_000, 300_000);
            let wait = hint_ms.unwrap_or(0).max(self.cooldown_ms);
            self.open_until_ms = Some(now_ms + wait);
        }
    }
}

/// A token bucket: `per_minute` tokens a minute, holding at most `burst`.
#[derive(Debug)]
pub(crate) struct Bucket {
    per_minute: u32,
    burst: f64,
    tokens: f64,
    at_ms: i64,
}

impl Bucket {
    /// A full bucket; `per_minute == 0` never limits.
    pub(crate) fn new(per_minute: u32, burst: u32, now_ms: i64) -> Bucket {
        Bucket {
            per_minute,
            burst: f64::from(burst.max(1)),
            tokens: f64::from(burst.max(1)),
            at_ms: now_ms,
        }
    }

    /// Whether a token is there at `now_ms` (without taking it), or when the next one comes.
    pub(crate) fn peek(&mut self, now_ms: i64) -> Result<(), i64> {
        if self.per_minute == 0 {
            return Ok(());
        }
        let rate = f64::from(self.per_minute) / 60_000.0;
        let elapsed = (now_ms - self.at_ms).max(0) as f64;
        self.tokens = (self.tokens + elapsed * rate).min(self.burst);
        self.at_ms = self.at_ms.max(now_ms);
        if self.tokens >= 1.0 {
            Ok(())
        } else {
            Err(now_ms + ((1.0 - self.tokens) / rate).ceil() as i64)
        }
    }

    /// Takes a token at `now_ms`, or says when the next one comes.
    pub(crate) fn take(&mut self, now_ms: i64) -> Result<(), i64> {
        self.peek(now_ms)?;
        if self.per_minute > 0 {
            self.tokens -= 1.0;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_bounded_jitter_up_to_the_cap() {
        let (base, max) = (Duration::from_secs(1), Duration::from_secs(60));
        for noise in [0, 7, 1_000_003, u64::MAX] {
            let first = backoff(1, base, max, noise).as_millis();
            assert!((750..=1250).contains(&first), "{first}");
            let third = backoff(3, base, max, noise).as_millis();
            assert!((3000..=5000).contains(&third), "{third}");
            let late = backoff(30, base, max, noise).as_millis();
            assert!((45_000..=75_000).contains(&late), "{late}");
        }
    }

    #[test]
    fn the_breaker_opens_after_failures_and_half_opens_for_one_trial() {
        let mut b = Breaker::default();
        for _ in 0..4 {
            b.failure(0, None);
            assert!(b.allow(0).is_ok());
        }
        b.failure(0, None);
        assert_eq!(b.allow(1_000), Err(5_000));
        assert!(b.allow(5_000).is_ok(), "the trial");
        assert!(b.allow(5_001).is_err(), "one trial at a time");
        b.failure(5_100, Some(30_000));
        assert_eq!(
            b.allow(6_000),
            Err(35_100),
            "Retry-After beats the cooldown"
        );
        assert!(b.allow(35_100).is_ok());
        b.success();
        assert!(b.allow(35_200).is_ok() && !b.is_open());
    }

    #[test]
    fn the_bucket_holds_its_rate() {
        let mut b = Bucket::new(60, 2, 0);
        assert!(b.take(0).is_ok());
        assert!(b.take(0).is_ok());
        assert_eq!(b.take(0), Err(1_000));
        assert!(b.take(1_000).is_ok());
        assert!(Bucket::new(0, 1, 0).take(0).is_ok());
    }
}
