//! `[plan]`: the tracking plan checked at ingest (docs/PLAN.md, docs/CONFIG.md).
//!
//! The plan directory is loaded and compiled while the config is read, so a broken schema stops
//! `serve` at start (exit 2, naming the file and JSON pointer) instead of at the first event.

use super::{invalid, millis, ConfigError};
use playtrace_core::units::{Millis, Written};
use playtrace_plan::Plan;
use serde::Deserialize;
use std::path::PathBuf;
use std::sync::Arc;

/// What a violation does to its line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PlanMode {
    /// Store every event; count violations.
    Observe,
    /// A violating line becomes a `schema` reject (stored as every reject is).
    Enforce,
}

/// What happens to events no schema describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UnknownEvents {
    /// Stored, counted as `unknown`.
    Pass,
    /// A `schema` reject.
    Reject,
}

/// `[[plan.overrides]]`: another mode for some games or event names (first match wins).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanOverride {
    /// The game it applies to (any game when absent).
    pub game: Option<String>,
    /// The event name or `*` pattern it applies to (any event when absent).
    pub event: Option<String>,
    /// The mode for those events.
    pub mode: Option<PlanMode>,
    /// What to do with those events when no schema describes them.
    pub unknown: Option<UnknownEvents>,
}

/// `[plan]`: no plan unless `dir` is set.
#[derive(Debug, Clone)]
pub struct PlanConfig {
    /// The plan directory, as configured.
    pub dir: Option<PathBuf>,
    /// The compiled plan (loaded when the config is read).
    pub plan: Option<Arc<Plan>>,
    /// Default `observe`.
    pub mode: PlanMode,
    /// Default `pass`.
    pub unknown: UnknownEvents,
    /// Per game / event name exceptions.
    pub overrides: Vec<PlanOverride>,
    /// A `pipeline` alert fires when a required field is missing from more than this share of
    /// an event's traffic from one game (default 0.2).
    pub alert_ratio: f64,
    /// … over this window (default 5 minutes) …
    pub alert_window: Millis,
    /// … with at least this many events in the window (default 20).
    pub alert_min_events: u64,
}

impl Default for PlanConfig {
    fn default() -> Self {
        PlanConfig {
            dir: None,
            plan: None,
            mode: PlanMode::Observe,
            unknown: UnknownEvents::Pass,
            overrides: Vec::new(),
            alert_ratio: 0.2,
            alert_window: Millis::from_secs_saturating(300),
            alert_min_events: 20,
        }
    }
}

impl PartialEq for PlanConfig {
    fn eq(&self, other: &Self) -> bool {
        self.dir == other.dir
            && self.mode == other.mode
            && self.unknown == other.unknown
            && self.overrides == other.overrides
            && self.alert_ratio == other.alert_ratio
            && self.alert_window == other.alert_window
            && self.alert_min_events == other.alert_min_events
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PlanFile {
    dir: Option<PathBuf>,
    mode: Option<PlanMode>,
    unknown: Option<UnknownEvents>,
    #[serde(default)]
    overrides: Vec<PlanOverride>,
    alert_ratio: Option<f64>,
    alert_window: Option<Written>,
    alert_min_events: Option<u64>,
}

impl PlanFile {
    pub(super) fn over(self, mut p: PlanConfig) -> Result<PlanConfig, ConfigError> {
        if let Some(dir) = self.dir {
            let plan = Plan::load(&dir).map_err(|e| invalid("plan.dir", e.to_string()))?;
            p.plan = Some(Arc::new(plan));
            p.dir = Some(dir);
        }
        if let Some(mode) = self.mode {
            p.mode = mode;
        }
        if let Some(unknown) = self.unknown {
            p.unknown = unknown;
        }
        p.overrides = self.overrides;
        if let Some(r) = self.alert_ratio {
            if !(r > 0.0 && r <= 1.0) {
                return Err(invalid(
                    "plan.alert_ratio",
                    format!("{r} is not a share; write a number in (0, 1], e.g. 0.2"),
                ));
            }
            p.alert_ratio = r;
        }
        if let Some(v) = &self.alert_window {
            let ms = millis(v, "plan.alert_window")?;
            if ms < Millis::from_secs_saturating(1) {
                return Err(invalid("plan.alert_window", "must be at least 1s"));
            }
            p.alert_window = ms;
        }
        if let Some(n) = self.alert_min_events {
            p.alert_min_events = n.max(1);
        }
        Ok(p)
    }
}

impl PlanConfig {
    /// The mode and unknown-event policy for an event of `game` named `name`.
    pub fn policy(&self, game: &str, name: &str) -> (PlanMode, UnknownEvents) {
        let (mut mode, mut unknown) = (None, None);
        for o in &self.overrides {
            let game_ok = o.game.as_deref().is_none_or(|g| g == game);
            let event_ok = o.event.as_deref().is_none_or(|e| pattern_match(e, name));
            if game_ok && event_ok {
                mode = mode.or(o.mode);
                unknown = unknown.or(o.unknown);
            }
        }
        (mode.unwrap_or(self.mode), unknown.unwrap_or(self.unknown))
    }
}

/// `*` matches any run of characters, as in plan file names.
fn pattern_match(pattern: &str, name: &str) -> bool {
    if !pattern.contains('*') {
        return pattern == name;
    }
    let parts: Vec<&str> = pattern.split('*').collect();
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !name.starts_with(first) || name.len() < first.len() + last.len() {
        return false;
    }
    let mut rest = &name[first.len()..];
    for part in &parts[1..parts.len() - 1] {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.ends_with(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_match_game_and_event_first_match_wins() {
        let p = PlanConfig {
            overrides: vec![
                PlanOverride {
                    game: Some("gf".into()),
                    event: Some("quest.*".into()),
                    mode: Some(PlanMode::Enforce),
                    unknown: None,
                },
                PlanOverride {
                    game: Some("gf".into()),
                    event: None,
                    mode: Some(PlanMode::Observe),
                    unknown: Some(UnknownEvents::Reject),
                },
            ],
            ..PlanConfig::default()
        };
        assert_eq!(
            p.policy("gf", "quest.objective"),
            (PlanMode::Enforce, UnknownEvents::Reject)
        );
        assert_eq!(
            p.policy("other", "quest.objective"),
            (PlanMode::Observe, UnknownEvents::Pass)
        );
        assert!(pattern_match("a*c", "abc") && !pattern_match("a*c", "ab"));
    }
}
