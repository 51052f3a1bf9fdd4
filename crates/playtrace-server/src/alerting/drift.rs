//! Plan drift: a required field disappearing from a share of one game's traffic of one event
//! (a client build that renamed or dropped it) becomes a `pipeline` alert, and resolves when the
//! share falls back under the threshold because the field returned.
//!
//! Counts are kept per (game, event name) in 30 slices of the window, so the share is over the
//! last `alert_window` of traffic and memory is bounded by series, never by events. Only
//! required fields of the plan are tracked (a bounded set), and at most [`MAX_SERIES`] series.

use super::{act, raise, Origin};
use playtrace_core::alert::{alert_id, AlertCandidate, Category, Severity};
use playtrace_store::{StoreError, StoredEvent, Tx};
use serde_json::{json, Map};
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};

/// (game, event name) series tracked at most; events of further series are not tracked.
const MAX_SERIES: usize = 10_000;
/// Slices per window.
const SLICES: f64 = 30.0;
/// The rule name of drift alerts.
pub(crate) const RULE: &str = "plan.field_missing";

#[derive(Debug, Default)]
struct Slice {
    start_ms: f64,
    events: u64,
    missing: HashMap<String, u64>,
}

#[derive(Debug, Default)]
struct Series {
    slices: VecDeque<Slice>,
    /// Fields alerting now.
    firing: HashSet<String>,
    /// Counted (or given an alert back) since the last evaluation.
    dirty: bool,
}

/// One alert to raise or resolve.
#[derive(Debug, Clone)]
pub(crate) struct DriftChange {
    game: String,
    event: String,
    field: String,
    /// The alert to raise; `None`: resolve it.
    fire: Option<AlertCandidate>,
}

/// The tracker (one per collector, behind the plan gate's lock).
#[derive(Debug)]
pub(crate) struct Drift {
    ratio: f64,
    window_ms: f64,
    min_events: u64,
    /// Series by game, then event name: found with the request's `&str`s, so counting an event
    /// of a known series allocates nothing (every event at ingest is counted here).
    series: HashMap<String, HashMap<String, Series>>,
    /// Series kept (≤ [`MAX_SERIES`]).
    count: usize,
}

impl Drift {
    pub(crate) fn new(ratio: f64, window_ms: f64, min_events: u64) -> Drift {
        Drift {
            ratio,
            window_ms,
            min_events,
            series: HashMap::new(),
            count: 0,
        }
    }

    /// New alert thresholds (a reloaded `[plan]`), applied from the next evaluation on.
    pub(crate) fn set_thresholds(&mut self, ratio: f64, window_ms: f64, min_events: u64) {
        (self.ratio, self.window_ms, self.min_events) = (ratio, window_ms, min_events);
    }

    /// Resolves every firing alert and forgets what was counted (the plan is gone).
    pub(crate) fn resolve_all(&mut self) -> Vec<DriftChange> {
        let mut changes = Vec::new();
        for (game, events) in self.series.drain() {
            for (event, series) in events {
                for field in series.firing {
                    changes.push(DriftChange {
                        game: game.clone(),
                        event: event.clone(),
                        field,
                        fire: None,
                    });
                }
            }
        }
        self.count = 0;
        changes
    }

    /// Counts one checked event of `game` named `event`, missing the required `missing` fields.
    pub(crate) fn record(&mut self, game: &str, event: &str, missing: &[&str], now_ms: f64) {
        let (width, window_ms) = (self.window_ms / SLICES, self.window_ms);
        let known = self
            .series
            .get(game)
            .is_some_and(|events| events.contains_key(event));
        if !known {
            if self.count >= MAX_SERIES {
                return;
            }
            self.count += 1;
        }
        let events = match self.series.get_mut(game) {
            Some(events) => events,
            None => self.series.entry(game.to_string()).or_default(),
        };
        let series = match events.get_mut(event) {
            Some(series) => series,
            None => events.entry(event.to_string()).or_default(),
        };
        while series
            .slices
            .front()
            .is_some_and(|s| s.start_ms + width <= now_ms - window_ms)
        {
            series.slices.pop_front();
        }
        if series
            .slices
            .back()
            .is_none_or(|s| s.start_ms + width <= now_ms)
        {
            series.slices.push_back(Slice {
                start_ms: now_ms,
                ..Slice::default()
            });
        }
        if let Some(slice) = series.slices.back_mut() {
            slice.events += 1;
            for field in missing {
                match slice.missing.get_mut(*field) {
                    Some(n) => *n += 1,
                    None => {
                        slice.missing.insert((*field).to_string(), 1);
                    }
                }
            }
        }
        series.dirty = true;
    }

    /// The alerts that change state given what was recorded since the last call.
    pub(crate) fn evaluate(&mut self) -> Vec<DriftChange> {
        let mut changes = Vec::new();
        let all = self.series.iter_mut().flat_map(|(game, events)| {
            events
                .iter_mut()
                .map(move |(event, series)| (game.as_str(), event.as_str(), series))
        });
        for (game, event, series) in all {
            if !std::mem::replace(&mut series.dirty, false) {
                continue;
            }
            let events: u64 = series.slices.iter().map(|s| s.events).sum();
            let mut missing: BTreeMap<&str, (u64, f64)> = BTreeMap::new();
            for slice in &series.slices {
                for (field, n) in &slice.missing {
                    let entry = missing.entry(field).or_insert((0, slice.start_ms));
                    entry.0 += n;
                }
            }
            let mut fields: Vec<String> = missing.keys().map(|f| f.to_string()).collect();
            fields.extend(series.firing.iter().cloned());
            fields.sort();
            fields.dedup();
            for field in fields {
                let (lost, since) = missing.get(field.as_str()).copied().unwrap_or((0, 0.0));
                let share = if events == 0 {
                    0.0
                } else {
                    lost as f64 / events as f64
                };
                let firing = series.firing.contains(&field);
                if !firing && events >= self.min_events && share > self.ratio {
                    series.firing.insert(field.clone());
                    changes.push(DriftChange {
                        fire: Some(candidate(game, event, &field, share, lost, events, since)),
                        game: game.to_string(),
                        event: event.to_string(),
                        field,
                    });
                } else if firing && share <= self.ratio {
                    series.firing.remove(&field);
                    changes.push(DriftChange {
                        fire: None,
                        game: game.to_string(),
                        event: event.to_string(),
                        field,
                    });
                }
            }
        }
        changes
    }

    /// Forgets `changes` that were not recorded, so the next evaluation makes them again.
    pub(crate) fn undo(&mut self, changes: &[DriftChange]) {
        for c in changes {
            let series = self
                .series
                .get_mut(&c.game)
                .and_then(|events| events.get_mut(&c.event));
            if let Some(series) = series {
                if c.fire.is_some() {
                    series.firing.remove(&c.field);
                } else {
                    series.firing.insert(c.field.clone());
                }
                series.dirty = true;
            }
        }
    }
}

fn fingerprint(game: &str, event: &str, field: &str) -> String {
    format!("{RULE}|{game}|{event}|{field}")
}

fn candidate(
    game: &str,
    event: &str,
    field: &str,
    share: f64,
    lost: u64,
    events: u64,
    since_ms: f64,
) -> AlertCandidate {
    let since = playtrace_core::time::format_rfc3339_ms(since_ms).unwrap_or_default();
    let clock = since.get(11..16).unwrap_or("?");
    let from = if game.is_empty() {
        "events without a game".to_string()
    } else {
        format!("events from game {game}")
    };
    let mut data = Map::new();
    for (k, v) in [
        ("event", json!(event)),
        ("field", json!(field)),
        ("game", json!(game)),
        ("share", json!(share)),
        ("missing", json!(lost)),
        ("events", json!(events)),
        ("since", json!(since)),
    ] {
        data.insert(k.into(), v);
    }
    AlertCandidate {
        rule: RULE.into(),
        category: Category::Pipeline,
        severity: Severity::High,
        reason: format!(
            "`{event}` lost `{field}` in {:.0}% of {from} since {clock} UTC",
            share * 100.0
        ),
        fingerprint: fingerprint(game, event, field),
        session_id: None,
        data,
        seeded: false,
        probe: false,
        created_ms: None,
    }
}

/// Writes drift changes inside the writer's transaction (a `Work::Plan` job).
pub(crate) fn record(
    tx: &Tx<'_>,
    changes: &[DriftChange],
    rows: &mut Vec<StoredEvent>,
) -> Result<(), StoreError> {
    for c in changes {
        match &c.fire {
            Some(candidate) => {
                let origin = Origin {
                    game: Some(c.game.as_str()).filter(|g| !g.is_empty()),
                    env: None,
                    event_seq: None,
                };
                rows.push(raise(tx, candidate, &origin)?.record);
            }
            None => {
                let id = alert_id(&fingerprint(&c.game, &c.event, &c.field));
                rows.extend(act(tx, &id, &super::AlertAction::Resolve)?.map(|c| c.record));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_past_the_cap_are_not_tracked_but_known_ones_still_count() {
        let mut d = Drift::new(0.2, 300_000.0, 1);
        for i in 0..MAX_SERIES {
            d.record(&format!("g{i}"), "e", &[], 0.0);
        }
        assert!(d.evaluate().is_empty());
        d.record("late", "e", &["f"], 0.0);
        d.record("g0", "e", &["f"], 0.0);
        let fired = d.evaluate();
        assert_eq!(fired.len(), 1, "only the known series: {fired:?}");
        assert_eq!(
            (fired[0].game.as_str(), fired[0].field.as_str()),
            ("g0", "f")
        );
        assert_eq!(d.resolve_all().len(), 1);
        d.record("late", "e", &["f"], 0.0);
        let fired = d.evaluate();
        assert_eq!(fired.len(), 1, "room again once the plan was removed");
        assert_eq!(fired[0].game, "late");
    }

    #[test]
    fn a_field_dropped_mid_stream_fires_once_and_resolves_when_it_returns() {
        let mut d = Drift::new(0.2, 300_000.0, 20);
        let mut t = 0.0;
        for _ in 0..40 {
            d.record("gf", "e", &[], t);
            t += 100.0;
        }
        assert!(d.evaluate().is_empty());
        for _ in 0..15 {
            d.record("gf", "e", &["f"], t);
            t += 100.0;
        }
        let fired = d.evaluate();
        assert_eq!(fired.len(), 1);
        let reason = &fired[0].fire.as_ref().unwrap().reason;
        assert!(
            reason.contains("`e` lost `f` in 27% of events from game gf"),
            "{reason}"
        );
        d.record("gf", "e", &["f"], t);
        assert!(d.evaluate().is_empty(), "fires once");
        for _ in 0..40 {
            d.record("gf", "e", &[], t);
            t += 100.0;
        }
        let resolved = d.evaluate();
        assert_eq!(resolved.len(), 1);
        assert!(resolved[0].fire.is_none());
    }

    #[test]
    fn a_removed_plan_resolves_what_fires_and_new_thresholds_apply() {
        let mut d = Drift::new(0.2, 300_000.0, 1);
        d.record("g", "e", &["f"], 0.0);
        d.record("g", "x", &[], 0.0);
        assert_eq!(d.evaluate().len(), 1);
        let resolved = d.resolve_all();
        assert_eq!(resolved.len(), 1);
        assert!(resolved[0].fire.is_none() && resolved[0].field == "f");
        assert!(d.evaluate().is_empty());

        d.set_thresholds(0.2, 300_000.0, 3);
        d.record("g", "e", &["f"], 0.0);
        assert!(d.evaluate().is_empty(), "fewer events than the new minimum");
    }

    #[test]
    fn old_slices_leave_the_window() {
        let mut d = Drift::new(0.2, 3_000.0, 1);
        d.record("g", "e", &["f"], 0.0);
        assert_eq!(d.evaluate().len(), 1);
        d.record("g", "e", &[], 10_000.0);
        let changes = d.evaluate();
        assert!(changes.len() == 1 && changes[0].fire.is_none());
    }
}
