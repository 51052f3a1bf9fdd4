//! The publishing cadence, every time counted from `sessionClosedAt`: moderation opens 15 min
//! after the close for a 45 min window; escalations at +30 and +40 min from the window's start
//! (the fixture's 06:30 window escalates at 07:00 and 07:10); the hourly batch
//! `<session>-batch-0` at +60 min; the daily digest at the next 02:00 UTC.

const MINUTE: f64 = 60_000.0;
const DAY: f64 = 86_400_000.0;

/// The cadence's offsets (all configurable by library users; the CLI uses the defaults).
#[derive(Debug, Clone, PartialEq)]
pub struct CadenceConfig {
    /// From the close to the moderation window's start.
    pub moderation_delay_ms: f64,
    /// The window's length.
    pub moderation_window_ms: f64,
    /// Escalations, from the window's start.
    pub escalations_ms: Vec<f64>,
    /// From the close to the hourly batch.
    pub batch_delay_ms: f64,
    /// The daily digest's hour (UTC).
    pub digest_hour_utc: u32,
}

impl Default for CadenceConfig {
    fn default() -> Self {
        CadenceConfig {
            moderation_delay_ms: 15.0 * MINUTE,
            moderation_window_ms: 45.0 * MINUTE,
            escalations_ms: vec![30.0 * MINUTE, 40.0 * MINUTE],
            batch_delay_ms: 60.0 * MINUTE,
            digest_hour_utc: 2,
        }
    }
}

/// One session's schedule, epoch milliseconds.
#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    /// The session's close.
    pub closed_at: f64,
    /// Moderation window start.
    pub moderation_start: f64,
    /// Moderation window end.
    pub moderation_end: f64,
    /// Escalation times.
    pub escalations: Vec<f64>,
    /// The hourly batch's run time.
    pub batch_run_at: f64,
    /// The daily digest's run time.
    pub digest_run_at: f64,
}

/// The schedule of a session closed at `closed_at` (epoch ms).
pub fn schedule(closed_at: f64, config: &CadenceConfig) -> Schedule {
    let moderation_start = closed_at + config.moderation_delay_ms;
    let digest_in_day = f64::from(config.digest_hour_utc) * 60.0 * MINUTE;
    let day_start = (closed_at / DAY).floor() * DAY;
    let mut digest_run_at = day_start + digest_in_day;
    if digest_run_at <= closed_at {
        digest_run_at += DAY;
    }
    Schedule {
        closed_at,
        moderation_start,
        moderation_end: moderation_start + config.moderation_window_ms,
        escalations: config
            .escalations_ms
            .iter()
            .map(|e| moderation_start + e)
            .collect(),
        batch_run_at: closed_at + config.batch_delay_ms,
        digest_run_at,
    }
}

/// The batch id the old pipeline used for a session's hourly batch.
pub fn batch_id(session_id: &str) -> String {
    format!("{session_id}-batch-0")
}

#[cfg(test)]
mod tests {
    use super::*;
    use playtrace_core::time::parse_rfc3339_ms;

    #[test]
    fn the_fixtures_times_come_out_of_its_close() {
        let t = |s: &str| parse_rfc3339_ms(s).unwrap();
        let s = schedule(t("2025-11-05T06:15:00Z"), &CadenceConfig::default());
        assert_eq!(s.moderation_start, t("2025-11-05T06:30:00Z"));
        assert_eq!(s.moderation_end, t("2025-11-05T07:15:00Z"));
        assert_eq!(
            s.escalations,
            [t("2025-11-05T07:00:00Z"), t("2025-11-05T07:10:00Z")]
        );
        assert_eq!(s.batch_run_at, t("2025-11-05T07:15:00Z"));
        assert_eq!(s.digest_run_at, t("2025-11-06T02:00:00Z"));
        // Closed before 02:00: the digest is the same day's.
        let early = schedule(t("2025-11-05T01:00:00Z"), &CadenceConfig::default());
        assert_eq!(early.digest_run_at, t("2025-11-05T02:00:00Z"));
    }
}
