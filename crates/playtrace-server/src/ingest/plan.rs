//! The tracking plan at ingest (`[plan]`): every event is checked against its schema by the
//! same [`Plan::check`] that `playtrace plan check` uses (a clean line through
//! [`Plan::check_scanned`], which vouches for it from what core's scanner already read, so the
//! line is parsed once). `observe` stores every event and counts; `enforce` turns a violating line into a `schema` reject naming the field and rule
//! (stored as every reject is, so nothing is lost either way). Events no schema describes pass,
//! counted as unknown, unless `unknown = "reject"`.
//!
//! A configuration reload replaces the plan and its policy ([`Gate::reloaded`]): each request
//! holds the gate in force when it began, and the counters and the drift tracker carry over,
//! so `/metrics` keeps counting and a firing drift alert still resolves.
//!
//! Counters have bounded labels: the schema's name (a file of the plan, never a raw event name),
//! the field (capped at [`MAX_SERIES`] distinct label sets, the rest counted as `_other`) and the
//! kind. Missing required fields also feed the drift tracker (`alerting/drift.rs`), which raises
//! a `pipeline` alert when a field disappears from a share of one game's traffic.

use crate::alerting::drift::{Drift, DriftChange};
use crate::config::{PlanConfig, PlanMode, UnknownEvents};
use crate::metrics::{header, sample};
use playtrace_core::event::Event;
use playtrace_core::reject::LineError;
use playtrace_core::scan::Members;
use playtrace_plan::{Checked, Plan, ViolationKind};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Distinct `(schema, field, kind)` label sets kept for `/metrics`.
const MAX_SERIES: usize = 1000;

/// The plan in force at ingest, its policy and its counters.
pub(crate) struct Gate {
    plan: Arc<Plan>,
    config: PlanConfig,
    counts: Arc<Counts>,
}

/// What the gate counts; kept across reloads of the plan.
struct Counts {
    clean: AtomicU64,
    violating: AtomicU64,
    unknown: AtomicU64,
    rejected: AtomicU64,
    violations: Mutex<HashMap<(String, String, &'static str), u64>>,
    drift: Mutex<Drift>,
}

impl Gate {
    /// The gate for a config with a plan; `None` without one.
    pub(crate) fn from_config(config: &PlanConfig) -> Option<Arc<Gate>> {
        let plan = config.plan.clone()?;
        Some(Arc::new(Gate {
            plan,
            counts: Arc::new(Counts {
                drift: Mutex::new(Drift::new(
                    config.alert_ratio,
                    config.alert_window.as_ms_f64(),
                    config.alert_min_events,
                )),
                clean: AtomicU64::new(0),
                violating: AtomicU64::new(0),
                unknown: AtomicU64::new(0),
                rejected: AtomicU64::new(0),
                violations: Mutex::new(HashMap::new()),
            }),
            config: config.clone(),
        }))
    }

    /// The gate for a reloaded `config`: its plan and policy, this gate's counters and drift
    /// tracker (with the new alert thresholds). `None` when the new config has no plan.
    pub(crate) fn reloaded(&self, config: &PlanConfig) -> Option<Arc<Gate>> {
        let plan = config.plan.clone()?;
        if let Ok(mut drift) = self.counts.drift.lock() {
            drift.set_thresholds(
                config.alert_ratio,
                config.alert_window.as_ms_f64(),
                config.alert_min_events,
            );
        }
        Some(Arc::new(Gate {
            plan,
            config: config.clone(),
            counts: self.counts.clone(),
        }))
    }

    /// Resolves every firing drift alert (the plan was removed by a reload): the changes to
    /// record.
    pub(crate) fn resolve_drift(&self) -> Vec<DriftChange> {
        match self.counts.drift.lock() {
            Ok(mut drift) => drift.resolve_all(),
            Err(_) => Vec::new(),
        }
    }

    /// The compiled plan.
    pub(crate) fn plan(&self) -> &Plan {
        &self.plan
    }

    /// Checks a line the fast scanner read as event `name`, from the `members` it read when
    /// it has them (no second parse); its text is parsed again only for a line the fast path
    /// does not vouch for. A line core cannot read as one event is left to the scanner's
    /// verdict.
    pub(crate) fn admit_line(
        &self,
        game: &str,
        name: &str,
        text: &str,
        members: Option<&Members<'_>>,
    ) -> Result<(), LineError> {
        // An event no schema describes is judged by its name alone: not read again.
        if self.plan.schema_for(name).is_none() {
            return self.admit(game, name, &Value::Null);
        }
        // A clean event, nearly every one, is vouched for from what the scanner read, or (a
        // line serde_json read) from its text: the plan's fast path.
        match members {
            Some(members) => {
                if let Some(checked) = self.plan.check_scanned(name, members) {
                    return self.admit_checked(game, name, checked);
                }
            }
            None => {
                if let Some(clean) = self.plan.check_line(text) {
                    if clean.name == name {
                        return self.admit_checked(game, name, clean.checked);
                    }
                }
            }
        }
        let Ok(Value::Object(object)) = serde_json::from_str::<Value>(text) else {
            return Ok(());
        };
        match Event::from_object(object) {
            Ok(event) => self.admit(game, name, &Value::Object(event.attrs)),
            Err(_) => Ok(()),
        }
    }

    /// Checks one event of `game`: `Ok` to store it, `Err` with the reject to store instead.
    pub(crate) fn admit(&self, game: &str, name: &str, attrs: &Value) -> Result<(), LineError> {
        self.admit_checked(game, name, self.plan.check(name, attrs))
    }

    /// Counts and judges one event of `game` already checked against the plan.
    fn admit_checked(&self, game: &str, name: &str, checked: Checked<'_>) -> Result<(), LineError> {
        let (mode, unknown) = self.config.policy(game, name);
        let (schema, violations) = match &checked {
            Checked::Unknown => {
                self.counts.unknown.fetch_add(1, Ordering::Relaxed);
                if unknown == UnknownEvents::Reject {
                    self.counts.rejected.fetch_add(1, Ordering::Relaxed);
                    return Err(LineError::schema(format!(
                        "plan: no schema describes event `{name}` and this collector rejects \
                         unknown events (plan.unknown = \"reject\"); add `{name}.json` to the plan"
                    )));
                }
                return Ok(());
            }
            Checked::Known { schema, violations } => (schema, violations),
        };
        let missing: Vec<&str> = violations
            .iter()
            .filter(|v| v.kind == ViolationKind::Missing && schema.required().contains(&v.field))
            .map(|v| v.field.as_str())
            .collect();
        if let Ok(mut drift) = self.counts.drift.lock() {
            drift.record(game, name, &missing, playtrace_store::now_ms() as f64);
        }
        if violations.is_empty() {
            self.counts.clean.fetch_add(1, Ordering::Relaxed);
            return Ok(());
        }
        self.counts.violating.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut counts) = self.counts.violations.lock() {
            for v in violations.iter() {
                let full = counts.len() >= MAX_SERIES;
                let key = (schema.name().to_string(), v.field.clone(), v.kind.as_str());
                let key = if full && !counts.contains_key(&key) {
                    (
                        schema.name().to_string(),
                        "_other".to_string(),
                        v.kind.as_str(),
                    )
                } else {
                    key
                };
                *counts.entry(key).or_default() += 1;
            }
        }
        match checked.first_error() {
            Some(v) if mode == PlanMode::Enforce => {
                self.counts.rejected.fetch_add(1, Ordering::Relaxed);
                Err(LineError::schema(format!(
                    "plan `{}`: attrs.{}: {} (rule `{}` at {}); fix the producer or the plan",
                    schema.file(),
                    v.field,
                    v.message,
                    v.rule,
                    v.schema_path
                )))
            }
            _ => Ok(()),
        }
    }

    /// Alerts to raise or resolve now (the drift tracker's changes since the last call).
    pub(crate) fn drift_changes(&self) -> Vec<DriftChange> {
        match self.counts.drift.lock() {
            Ok(mut drift) => drift.evaluate(),
            Err(_) => Vec::new(),
        }
    }

    /// Gives changes back when they could not be recorded (they are evaluated again).
    pub(crate) fn undo_drift(&self, changes: &[DriftChange]) {
        if let Ok(mut drift) = self.counts.drift.lock() {
            drift.undo(changes);
        }
    }

    /// The plan's families for `/metrics`.
    pub(crate) fn render(&self, out: &mut String) {
        header(
            out,
            "playtrace_plan_events_total",
            "counter",
            "Events checked against the tracking plan, by result (clean, violating, unknown).",
        );
        for (result, n) in [
            ("clean", &self.counts.clean),
            ("violating", &self.counts.violating),
            ("unknown", &self.counts.unknown),
        ] {
            sample(
                out,
                "playtrace_plan_events_total",
                &[("result", result)],
                n.load(Ordering::Relaxed) as f64,
            );
        }
        header(
            out,
            "playtrace_plan_rejected_total",
            "counter",
            "Lines refused by the plan (enforce mode, or unknown = \"reject\").",
        );
        sample(
            out,
            "playtrace_plan_rejected_total",
            &[],
            self.counts.rejected.load(Ordering::Relaxed) as f64,
        );
        header(
            out,
            "playtrace_plan_violations_total",
            "counter",
            "Plan violations by schema, field and kind (missing, wrong_type, unexpected, invalid).",
        );
        let mut rows: Vec<((String, String, &'static str), u64)> =
            match self.counts.violations.lock() {
                Ok(counts) => counts.iter().map(|(k, v)| (k.clone(), *v)).collect(),
                Err(_) => Vec::new(),
            };
        rows.sort();
        for ((schema, field, kind), n) in rows {
            sample(
                out,
                "playtrace_plan_violations_total",
                &[("schema", &schema), ("field", &field), ("kind", kind)],
                n as f64,
            );
        }
    }
}
