//! Alert rules over events (SPEC §4): which event raises which alert, with what severity,
//! reason, data and fingerprint.
//!
//! A rule names an event (exact, or a prefix ending in `*`), conditions on its fields, and what
//! the alert carries. Same fingerprint (the rule plus the values of its `group_by` fields,
//! `sessionId` and `checkId` by default) means the same alert, updated rather than repeated; the
//! collector keeps that state. `admin.alert` events (game servers posting alerts themselves) are
//! read by [`admin_alert`]. Seeded alerts (`seeded`, `fallback` or `debug` true in the data, or a
//! reason starting `debug.`) are marked so they never count as live; alerts from probe events
//! (`probe: true`) are live but marked as probes.

mod admin;
mod config;
mod fingerprint;
mod kinds;
mod rules;

pub use admin::{admin_alert, ADMIN_ALERT};
pub use config::{
    AlertsSpec, BudgetAlerting, DEFAULT_BUDGET_FOR, DEFAULT_BUDGET_KEEP_FIRING_FOR,
    DEFAULT_OFFLINE_SLA, DEFAULT_RESOLVE_AFTER,
};
pub use fingerprint::alert_id;
pub use kinds::{is_seeded, AlertCandidate, AlertState, Category, Severity};
pub use rules::{default_rules, Condition, Op, Rule, RuleError, RuleSet, RuleSpec};

#[cfg(test)]
mod tests;
