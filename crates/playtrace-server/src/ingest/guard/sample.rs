//! Which events sampling keeps: decided by a hash of the session alone, so every event of a kept
//! session is kept (and a session kept at 10% is also kept by a 50% rule), on any collector and
//! after any restart.

use playtrace_core::alert::RuleSet;
use playtrace_plan::Plan;
use playtrace_store::StoredEvent;

/// FNV-1a, then SplitMix64's finaliser: stable across builds and platforms (the standard
/// library's hasher is not), and uniform enough for fractions.
pub(super) fn hash(parts: &[&str]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for b in part.bytes().chain(std::iter::once(0xff)) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    h = (h ^ (h >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h = (h ^ (h >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

/// Whether a session is in the kept `fraction` (0 to 1).
pub(super) fn keeps(session: &str, fraction: f64) -> bool {
    let unit = (hash(&[session]) >> 11) as f64 / (1u64 << 53) as f64;
    unit < fraction
}

/// Events sampling never drops: contest and hub lifecycle events and workflow events
/// (`telemetry.*`, `offline.*`), anything an alert rule may raise an alert for
/// (moderation flags, `admin.alert`, the configured rules), and events the tracking plan in
/// force marks `"requiredEvent": true`.
pub(super) fn protected(e: &StoredEvent, rules: &RuleSet, plan: Option<&Plan>) -> bool {
    e.name.starts_with("telemetry.")
        || e.name.starts_with("offline.")
        || rules.may_match(&e.name, &e.body)
        || plan
            .and_then(|p| p.schema_for(&e.name))
            .is_some_and(|s| s.required_event())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fraction_keeps_about_that_share_of_sessions_and_nests() {
        let n = 100_000;
        let kept = (0..n).filter(|i| keeps(&format!("s-{i}"), 0.1)).count();
        // 10% of 100,000: σ ≈ 95, so ±600 is over 6σ.
        assert!((9_400..=10_600).contains(&kept), "{kept}");
        for i in 0..1000 {
            let s = format!("s-{i}");
            assert_eq!(keeps(&s, 0.1), keeps(&s, 0.1));
            if keeps(&s, 0.1) {
                assert!(keeps(&s, 0.5));
            }
        }
        assert!(!keeps("any", 0.0));
        assert!(keeps("any", 1.0));
    }
}
