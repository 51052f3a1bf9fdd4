//! Budget alerts: each budget, window and group is checked every second; a breach that lasts
//! `alerts.budget_for` fires one alert (the same alert is updated, never repeated), and a firing
//! alert resolves once the budget has held for `alerts.budget_keep_firing_for` (so a budget
//! flapping around its limit does not page on every flap). Every status change
//! (pass/breach/insufficient_data) is recorded on the stream as a `budget` message.

use crate::view::{budget_gone, budget_status, GroupKey};
use playtrace_core::alert::{AlertCandidate, BudgetAlerting, Category};
use playtrace_core::budget::BudgetStatus;
use playtrace_core::contest::BudgetLine;
use serde_json::{Map, Value};
use std::collections::HashMap;

/// What to write for one budget in one commit.
#[derive(Debug, Clone)]
pub(crate) struct BudgetChange {
    /// The stream message (`event: budget`), when the status moved.
    pub(crate) status: Option<Value>,
    /// Fire (`Some`) this alert.
    pub(crate) fire: Option<AlertCandidate>,
    /// Resolve the alert with this fingerprint.
    pub(crate) resolve: Option<String>,
}

#[derive(Debug, Clone)]
struct Track {
    status: BudgetStatus,
    breach_since: Option<f64>,
    ok_since: Option<f64>,
    firing: bool,
}

impl Default for Track {
    fn default() -> Self {
        Track {
            status: BudgetStatus::InsufficientData,
            breach_since: None,
            ok_since: None,
            firing: false,
        }
    }
}

fn group_label(group: Option<&GroupKey>) -> String {
    match group {
        None => String::new(),
        Some(g) => g
            .iter()
            .map(|(d, v)| format!("{}={}", d.as_str(), v.as_deref().unwrap_or("-")))
            .collect::<Vec<_>>()
            .join(","),
    }
}

/// A budget line's fingerprint: its alert's, and the key of its track.
fn line_key(window: &str, line: &BudgetLine, label: &str) -> String {
    format!(
        "budget|{}|p{}|{}|{}",
        line.metric.as_str(),
        playtrace_core::num::human(line.percentile.0),
        window,
        label
    )
}

/// Whether the budget behind the alert `fingerprint` is breached in `reports` (the live
/// budgets grouped as the evaluator groups them): such an alert may not be resolved by hand.
pub(crate) fn breaching(
    reports: &[playtrace_core::contest::WindowReport],
    fingerprint: &str,
) -> bool {
    reports.iter().any(|r| {
        let overall = r.budgets.iter().map(|b| (b, String::new()));
        let grouped = r.groups.iter().flatten().flat_map(|g| {
            g.budgets
                .iter()
                .map(move |b| (b, group_label(Some(&g.key))))
        });
        overall.chain(grouped).any(|(b, label)| {
            b.status == BudgetStatus::Breach && line_key(&r.window, b, &label) == fingerprint
        })
    })
}

/// The evaluator's memory between ticks.
pub(crate) struct Evaluator {
    pub(crate) settings: BudgetAlerting,
    tracks: HashMap<String, Track>,
}

impl Evaluator {
    /// An evaluator that knows which budget alerts are already firing (after a restart).
    pub(crate) fn new(settings: BudgetAlerting, firing: Vec<String>) -> Self {
        let tracks = firing
            .into_iter()
            .map(|fp| {
                (
                    fp,
                    Track {
                        status: BudgetStatus::Breach,
                        firing: true,
                        ..Track::default()
                    },
                )
            })
            .collect();
        Evaluator { settings, tracks }
    }

    /// Compares the budgets now with the last tick: the changes to write. When they could not
    /// be recorded, [`Evaluator::undo`] with the returned memory looks again next tick.
    pub(crate) fn tick(
        &mut self,
        reports: &[playtrace_core::contest::WindowReport],
        now: f64,
    ) -> Vec<BudgetChange> {
        let mut seen: HashMap<String, ()> = HashMap::new();
        let mut changes = Vec::new();
        let mut lines: Vec<(String, &BudgetLine, Option<&GroupKey>)> = Vec::new();
        for r in reports {
            for b in &r.budgets {
                lines.push((r.window.clone(), b, None));
            }
            for g in r.groups.iter().flatten() {
                for b in &g.budgets {
                    lines.push((r.window.clone(), b, Some(&g.key)));
                }
            }
        }
        for (window, line, group) in lines {
            let label = group_label(group);
            let key = line_key(&window, line, &label);
            seen.insert(key.clone(), ());
            let change = self.step(&key, line.status, now);
            if let Some(mut c) = change {
                let status = budget_status(&window, line, group, &key);
                if let Some(f) = &mut c.fire {
                    let mut data = Map::new();
                    for k in [
                        "window",
                        "metric",
                        "percentile",
                        "budget",
                        "value",
                        "samples",
                        "group",
                    ] {
                        data.insert(k.into(), status[k].clone());
                    }
                    f.data = data;
                    f.reason = format!(
                        "budget.breached: {} p{} {} ms > {} ms over {}{}",
                        line.metric.as_str(),
                        playtrace_core::num::human(line.percentile.0),
                        line.value
                            .map_or_else(|| "-".into(), |v| playtrace_core::num::human(v.0)),
                        playtrace_core::num::human(line.budget.0),
                        window,
                        if label.is_empty() {
                            String::new()
                        } else {
                            format!(" ({label})")
                        }
                    );
                }
                if c.status.is_some() {
                    c.status = Some(status);
                }
                changes.push(c);
            }
        }
        // Budgets of groups that left every window: no samples any more.
        let gone: Vec<String> = self
            .tracks
            .keys()
            .filter(|k| !seen.contains_key(*k))
            .cloned()
            .collect();
        for key in gone {
            if let Some(mut c) = self.step(&key, BudgetStatus::InsufficientData, now) {
                if c.status.is_some() {
                    c.status = Some(budget_gone(&key));
                }
                changes.push(c);
            }
        }
        changes
    }

    /// One budget's state machine; a change when its status moved or its alert fires/resolves.
    fn step(&mut self, key: &str, status: BudgetStatus, now: f64) -> Option<BudgetChange> {
        let s = &self.settings;
        let t = self.tracks.entry(key.to_string()).or_default();
        let moved = t.status != status;
        t.status = status;
        let mut fire = None;
        let mut resolve = None;
        if status == BudgetStatus::Breach {
            t.ok_since = None;
            let since = *t.breach_since.get_or_insert(now);
            if !t.firing && now - since >= s.for_ms {
                t.firing = true;
                fire = Some(AlertCandidate {
                    rule: "budget".into(),
                    category: Category::Budget,
                    severity: s.severity,
                    reason: String::new(),
                    fingerprint: key.to_string(),
                    session_id: None,
                    data: Map::new(),
                    seeded: false,
                    probe: false,
                    created_ms: None,
                });
            }
        } else {
            t.breach_since = None;
            if t.firing {
                let since = *t.ok_since.get_or_insert(now);
                if now - since >= s.keep_firing_for_ms {
                    t.firing = false;
                    t.ok_since = None;
                    resolve = Some(key.to_string());
                }
            }
        }
        (moved || fire.is_some() || resolve.is_some()).then(|| BudgetChange {
            // A placeholder the caller fills in with the budget's numbers.
            status: moved.then_some(Value::Null),
            fire,
            resolve,
        })
    }
}

/// The evaluator's memory, to restore when a tick's changes were not recorded.
pub(crate) struct Memory(HashMap<String, Track>);

impl Evaluator {
    /// A copy of the memory before a tick.
    pub(crate) fn memory(&self) -> Memory {
        Memory(self.tracks.clone())
    }

    /// Forgets a tick whose changes were not stored.
    pub(crate) fn undo(&mut self, memory: Memory) {
        self.tracks = memory.0;
    }
}
