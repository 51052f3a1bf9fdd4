//! The retry policy: how long a failed artifact waits before its next attempt (exponential
//! backoff, capped, with jitter) and when it stops waiting and goes to the dead-letter queue.
//! Kept apart from the SQLite queue because it is pure arithmetic on attempts and time: the
//! queue stores what this decides, and callers (`export retry`, the store's erase) configure it
//! without touching the database.

use std::time::Duration;

/// How retries back off.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    /// Attempts before an artifact is dead-lettered.
    pub max_attempts: u32,
    /// The wait after the first failure; each later failure doubles it (before jitter).
    pub base: Duration,
    /// The cap on the doubled wait (jitter may add up to 25% on top).
    pub max: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 8,
            base: Duration::from_secs(1),
            max: Duration::from_secs(300),
        }
    }
}

impl RetryPolicy {
    /// The wait after `attempts` failed attempts: exponential, capped, with up to 25% jitter.
    pub fn backoff(&self, attempts: u32, jitter_seed: u64) -> Duration {
        let exp = self
            .base
            .saturating_mul(1u32 << attempts.saturating_sub(1).min(20))
            .min(self.max);
        let jitter = (jitter_seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40) % 250;
        exp + exp.mul_f64(jitter as f64 / 1000.0)
    }

    /// What becomes of a failure after `attempts` attempts, failing at `now_ms` (ms since the
    /// epoch): a permanent failure, or one out of attempts, is dead-lettered; a transient one
    /// waits for [`RetryPolicy::backoff`], its jitter seeded by the artifact's sha256 (`sha_hex`).
    pub(crate) fn fate(&self, transient: bool, attempts: u32, sha_hex: &str, now_ms: i64) -> Fate {
        if !transient || attempts >= self.max_attempts {
            Fate::DeadLettered
        } else {
            Fate::Queued {
                retry_in: self.backoff(attempts, jitter_seed(sha_hex, now_ms)),
            }
        }
    }
}

/// What became of a failed write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    /// Waiting in the retry queue; due again after this wait.
    Queued {
        /// The backoff chosen (exponential, with jitter).
        retry_in: Duration,
    },
    /// In the dead-letter queue (a permanent failure, or attempts exhausted).
    DeadLettered,
}

/// Different artifacts failing at the same moment get different jitter, so their retries
/// spread out instead of arriving together.
fn jitter_seed(sha_hex: &str, now_ms: i64) -> u64 {
    let prefix = sha_hex.get(..16).unwrap_or(sha_hex);
    u64::from_str_radix(prefix, 16).unwrap_or(0) ^ now_ms as u64
}
