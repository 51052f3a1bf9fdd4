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

use crate::event::Event;
use crate::units::{Millis, Written};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::fmt;
use thiserror::Error;

/// What an alert is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Category {
    /// A player did something moderators must see.
    Moderation,
    /// A latency budget is breached.
    Budget,
    /// A workflow or pipeline failed or is late.
    Pipeline,
}

impl Category {
    /// Name as in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Moderation => "moderation",
            Category::Budget => "budget",
            Category::Pipeline => "pipeline",
        }
    }

    /// Parses a category name.
    pub fn parse(text: &str) -> Option<Category> {
        match text {
            "moderation" => Some(Category::Moderation),
            "budget" => Some(Category::Budget),
            "pipeline" => Some(Category::Pipeline),
            _ => None,
        }
    }
}

/// How bad it is, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// For information.
    Info,
    /// Low.
    Low,
    /// Medium.
    Medium,
    /// High.
    High,
    /// Critical.
    Critical,
}

impl Severity {
    /// Every level, lowest first.
    pub const ALL: [Severity; 5] = [
        Severity::Info,
        Severity::Low,
        Severity::Medium,
        Severity::High,
        Severity::Critical,
    ];

    /// Name as in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }

    /// Parses a level name.
    pub fn parse(text: &str) -> Option<Severity> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// The level's rank (0 = info), as stored.
    pub fn rank(self) -> u8 {
        self as u8
    }

    /// The level of a rank.
    pub fn from_rank(rank: u8) -> Severity {
        Self::ALL[usize::from(rank.min(4))]
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A condition's comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Op {
    /// Equal (numbers by value).
    Eq,
    /// Not equal (also true when the field is missing).
    Ne,
    /// The field's value is one of `value` (an array).
    In,
    /// The field (an array) has an element equal to `value` (or to any of `value`, an array);
    /// a string field contains `value` as a substring.
    Contains,
    /// Greater than (`value` a number or a duration such as `"10m"`, in ms).
    Gt,
    /// Greater than or equal.
    Ge,
    /// Less than.
    Lt,
    /// Less than or equal.
    Le,
}

/// One `{field, op, value}` condition.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Condition {
    /// An attribute (dotted for nested objects: `payload.tier`), or `event`, `game`, `env`,
    /// `session`.
    pub field: String,
    /// The comparison.
    pub op: Op,
    /// What to compare with.
    pub value: Value,
}

/// One rule as written in the config (`[[alerts.rules]]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSpec {
    /// Rule name (part of the fingerprint, shown on the alert).
    pub name: String,
    /// `moderation`, `budget` or `pipeline`.
    pub category: Category,
    /// Event name, or a prefix ending in `*` (`*` alone: every event).
    pub event: String,
    /// All must hold.
    #[serde(default)]
    pub when: Vec<Condition>,
    /// Severity of the alert.
    pub severity: Severity,
    /// Reason; `{match}` is replaced by the value that matched the first condition.
    pub reason: String,
    /// Attributes copied into the alert's `data` when present.
    #[serde(default)]
    pub copy: Vec<String>,
    /// Fields whose values make the fingerprint (default `sessionId`, `checkId`).
    pub group_by: Option<Vec<String>>,
}

/// A rule ready to evaluate.
#[derive(Debug, Clone)]
pub struct Rule {
    spec: RuleSpec,
    prefix: Option<String>,
    /// Numeric thresholds of ordering conditions, parsed once (ms for durations).
    numbers: Vec<Option<f64>>,
}

/// A rule or the rules block could not be used.
#[derive(Debug, Error, PartialEq)]
#[error("alert rule `{rule}`: {message}")]
pub struct RuleError {
    /// The rule's name.
    pub rule: String,
    /// What is wrong and what to write.
    pub message: String,
}

impl Rule {
    /// Validates a rule.
    pub fn new(spec: RuleSpec) -> Result<Rule, RuleError> {
        let err = |message: String| RuleError {
            rule: spec.name.clone(),
            message,
        };
        if spec.name.trim().is_empty() {
            return Err(err("`name` must not be empty".into()));
        }
        if spec.event.is_empty() {
            return Err(err(
                "`event` must be an event name or a prefix ending in `*`".into(),
            ));
        }
        let mut numbers = Vec::with_capacity(spec.when.len());
        for (i, c) in spec.when.iter().enumerate() {
            let place = format!("when[{i}] ({})", c.field);
            let number = match c.op {
                Op::Gt | Op::Ge | Op::Lt | Op::Le => Some(match &c.value {
                    Value::Number(n) => n.as_f64().unwrap_or(f64::NAN),
                    Value::String(s) => s
                        .parse::<Millis>()
                        .map_err(|e| err(format!("{place}: {e}")))?
                        .as_ms_f64(),
                    _ => {
                        return Err(err(format!(
                            "{place}: `{:?}` needs a number or a duration as `value`",
                            c.op
                        )))
                    }
                }),
                Op::In if !c.value.is_array() => {
                    return Err(err(format!("{place}: `in` needs an array as `value`")))
                }
                _ => None,
            };
            numbers.push(number);
        }
        let prefix = spec.event.strip_suffix('*').map(str::to_string);
        Ok(Rule {
            spec,
            prefix,
            numbers,
        })
    }

    /// The rule as written.
    pub fn spec(&self) -> &RuleSpec {
        &self.spec
    }

    /// Whether an event of this name can match (checked before reading the event's fields).
    pub fn wants_name(&self, name: &str) -> bool {
        match &self.prefix {
            Some(p) => name.starts_with(p.as_str()),
            None => name == self.spec.event,
        }
    }

    /// Attribute names every matching event must contain (a cheap filter on the raw text).
    pub fn required_fields(&self) -> impl Iterator<Item = &str> {
        self.spec
            .when
            .iter()
            .filter(|c| c.op != Op::Ne && !is_envelope(&c.field))
            .map(|c| c.field.split('.').next().unwrap_or(&c.field))
    }

    /// Evaluates the rule on an event.
    pub fn evaluate(&self, event: &Event) -> Option<AlertCandidate> {
        if !self.wants_name(&event.name) {
            return None;
        }
        let mut matched: Option<Value> = None;
        for (c, number) in self.spec.when.iter().zip(&self.numbers) {
            let value = field(event, &c.field);
            let hit = check(c, *number, value.as_ref())?;
            if matched.is_none() {
                matched = Some(hit);
            }
        }
        let matched_text = matched.as_ref().map(text_of).unwrap_or_default();
        let reason = self.spec.reason.replace("{match}", &matched_text);
        let mut data = Map::new();
        for key in &self.spec.copy {
            if let Some(v) = field(event, key) {
                data.insert(key.clone(), v);
            }
        }
        let group_by: Vec<&str> = match &self.spec.group_by {
            Some(g) => g.iter().map(String::as_str).collect(),
            None => vec!["sessionId", "checkId"],
        };
        let mut fingerprint = self.spec.name.clone();
        for key in group_by {
            fingerprint.push('|');
            if let Some(v) = field(event, key) {
                fingerprint.push_str(&text_of(&v));
            }
        }
        Some(AlertCandidate {
            rule: self.spec.name.clone(),
            category: self.spec.category,
            severity: self.spec.severity,
            seeded: is_seeded(&reason, &event.attrs),
            probe: event.attrs.get("probe") == Some(&Value::Bool(true)),
            session_id: session_of(event),
            reason,
            fingerprint,
            data,
            created_ms: None,
        })
    }
}

fn is_envelope(field: &str) -> bool {
    matches!(field, "event" | "game" | "env" | "session")
}

/// A field of an event: envelope names, `sessionId` (attribute or envelope session), or an
/// attribute path.
fn field(event: &Event, path: &str) -> Option<Value> {
    let text = |v: &Option<String>| v.as_ref().map(|s| Value::String(s.clone()));
    match path {
        "event" => return Some(Value::String(event.name.clone())),
        "game" => return text(&event.game),
        "env" => return text(&event.env),
        "session" => return text(&event.session),
        "sessionId" => return session_of(event).map(Value::String),
        _ => {}
    }
    let mut parts = path.split('.');
    let mut current = event.attrs.get(parts.next()?)?;
    for part in parts {
        current = current.get(part)?;
    }
    (!current.is_null()).then(|| current.clone())
}

fn session_of(event: &Event) -> Option<String> {
    match event.attrs.get("sessionId") {
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        _ => event.session.clone(),
    }
}

fn text_of(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.as_f64().map_or_else(|| n.to_string(), crate::num::human),
        other => other.to_string(),
    }
}

fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

fn as_number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

/// Whether a condition holds; the value that matched when it does.
fn check(c: &Condition, number: Option<f64>, value: Option<&Value>) -> Option<Value> {
    match c.op {
        Op::Ne => match value {
            Some(v) if same(v, &c.value) => None,
            Some(v) => Some(v.clone()),
            None => Some(Value::Null),
        },
        Op::Eq => value.filter(|v| same(v, &c.value)).cloned(),
        Op::In => {
            let v = value?;
            c.value
                .as_array()?
                .iter()
                .any(|w| same(v, w))
                .then(|| v.clone())
        }
        Op::Contains => {
            let wanted: Vec<&Value> = match &c.value {
                Value::Array(items) => items.iter().collect(),
                one => vec![one],
            };
            match value? {
                Value::Array(items) => items
                    .iter()
                    .find(|item| wanted.iter().any(|w| same(item, w)))
                    .cloned(),
                Value::String(s) => wanted
                    .iter()
                    .find(|w| w.as_str().is_some_and(|w| s.contains(w)))
                    .map(|w| (*w).clone()),
                _ => None,
            }
        }
        Op::Gt | Op::Ge | Op::Lt | Op::Le => {
            let v = value?;
            let x = as_number(v)?;
            let limit = number?;
            let holds = match c.op {
                Op::Gt => x > limit,
                Op::Ge => x >= limit,
                Op::Lt => x < limit,
                _ => x <= limit,
            };
            holds.then(|| v.clone())
        }
    }
}

/// Seeded (SPEC §4): `seeded`, `fallback` or `debug` true in the data, or a reason starting
/// `debug.`. Such alerts are stored but never count as live.
pub fn is_seeded(reason: &str, data: &Map<String, Value>) -> bool {
    reason.starts_with("debug.")
        || ["seeded", "fallback", "debug"]
            .iter()
            .any(|k| data.get(*k) == Some(&Value::Bool(true)))
}

/// What a rule (or an `admin.alert`) says should be alerted; the collector turns it into an
/// alert or an update of the alert with the same fingerprint.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertCandidate {
    /// Rule name (`admin.alert` for posted alerts).
    pub rule: String,
    /// Category.
    pub category: Category,
    /// Severity.
    pub severity: Severity,
    /// Reason.
    pub reason: String,
    /// Same fingerprint, same alert.
    pub fingerprint: String,
    /// Session the alert is about.
    pub session_id: Option<String>,
    /// Copied fields.
    pub data: Map<String, Value>,
    /// Never counts as live.
    pub seeded: bool,
    /// Caused by a verification probe.
    pub probe: bool,
    /// When the source says the alert was created (epoch ms), else the receive time is used.
    pub created_ms: Option<f64>,
}

/// The `[alerts]` block of the collector's config.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertsSpec {
    /// Ship the default rules (SPEC §4).
    #[serde(default = "yes")]
    pub default_rules: bool,
    /// How long an offline session closure may take before it is late (default 10m).
    pub offline_sla: Option<Written>,
    /// Own rules.
    #[serde(default)]
    pub rules: Vec<RuleSpec>,
    /// Alert on breached budgets (default true).
    #[serde(default = "yes")]
    pub budget_alerts: bool,
    /// A budget must stay breached this long before its alert fires (default 1m).
    pub budget_for: Option<Written>,
    /// A firing budget alert resolves only after the budget held this long (default 5m).
    pub budget_keep_firing_for: Option<Written>,
    /// Budget alerts per group of these dimensions as well (`hub`, `room`, `move`, `type`).
    #[serde(default)]
    pub budget_group_by: Vec<String>,
    /// Severity of budget alerts (default high).
    pub budget_severity: Option<Severity>,
}

impl Default for AlertsSpec {
    fn default() -> Self {
        AlertsSpec {
            default_rules: true,
            offline_sla: None,
            rules: Vec::new(),
            budget_alerts: true,
            budget_for: None,
            budget_keep_firing_for: None,
            budget_group_by: Vec::new(),
            budget_severity: None,
        }
    }
}

/// How budget breaches become alerts.
#[derive(Debug, Clone, PartialEq)]
pub struct BudgetAlerting {
    /// Off when false.
    pub enabled: bool,
    /// Breached this long → fires (ms).
    pub for_ms: f64,
    /// Within budget this long → resolves (ms).
    pub keep_firing_for_ms: f64,
    /// Also per group of these dimensions.
    pub group_by: Vec<crate::summary::GroupDim>,
    /// Severity.
    pub severity: Severity,
}

impl AlertsSpec {
    /// The budget alerting settings, validated.
    pub fn budget_alerting(&self) -> Result<BudgetAlerting, RuleError> {
        let duration = |key: &str, v: &Option<Written>, default: f64| -> Result<f64, RuleError> {
            match v {
                None => Ok(default),
                Some(w) => w.millis().map(Millis::as_ms_f64).map_err(|e| RuleError {
                    rule: format!("alerts.{key}"),
                    message: e.to_string(),
                }),
            }
        };
        let group_by = self
            .budget_group_by
            .iter()
            .map(|d| {
                crate::summary::GroupDim::parse(d).ok_or_else(|| RuleError {
                    rule: "alerts.budget_group_by".into(),
                    message: format!("`{d}` is not hub, room, move or type"),
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(BudgetAlerting {
            enabled: self.budget_alerts,
            for_ms: duration(
                "budget_for",
                &self.budget_for,
                DEFAULT_BUDGET_FOR.as_ms_f64(),
            )?,
            keep_firing_for_ms: duration(
                "budget_keep_firing_for",
                &self.budget_keep_firing_for,
                DEFAULT_BUDGET_KEEP_FIRING_FOR.as_ms_f64(),
            )?,
            group_by,
            severity: self.budget_severity.unwrap_or(Severity::High),
        })
    }
}

/// How long a budget must stay breached before its alert fires, unless `budget_for` says.
pub const DEFAULT_BUDGET_FOR: Millis = Millis::from_secs_saturating(60);
/// How long a budget must hold before its firing alert resolves, unless
/// `budget_keep_firing_for` says.
pub const DEFAULT_BUDGET_KEEP_FIRING_FOR: Millis = Millis::from_secs_saturating(300);
/// How long an offline session closure may take before it is late, unless `offline_sla` says.
pub const DEFAULT_OFFLINE_SLA: Millis = Millis::from_secs_saturating(600);

fn yes() -> bool {
    true
}

/// The rules in force.
#[derive(Debug, Clone, Default)]
pub struct RuleSet {
    rules: Vec<Rule>,
}

impl RuleSet {
    /// Builds the rules: the defaults (unless turned off), then the config's own.
    pub fn from_spec(spec: AlertsSpec) -> Result<RuleSet, RuleError> {
        let sla = match &spec.offline_sla {
            None => DEFAULT_OFFLINE_SLA.as_ms_f64(),
            Some(w) => w
                .millis()
                .map_err(|e| RuleError {
                    rule: "alerts.offline_sla".into(),
                    message: e.to_string(),
                })?
                .as_ms_f64(),
        };
        let mut rules = Vec::new();
        if spec.default_rules {
            for s in default_rules(sla) {
                rules.push(Rule::new(s)?);
            }
        }
        let mut names: Vec<String> = rules.iter().map(|r| r.spec.name.clone()).collect();
        for s in spec.rules {
            if names.contains(&s.name) {
                return Err(RuleError {
                    rule: s.name,
                    message: "another rule has this name; names make fingerprints, so they must \
                              be unique"
                        .into(),
                });
            }
            names.push(s.name.clone());
            rules.push(Rule::new(s)?);
        }
        Ok(RuleSet { rules })
    }

    /// The rules.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// Whether any rule may match an event of this name whose raw text is `raw` (a cheap
    /// filter: names and required attribute keys).
    pub fn may_match(&self, name: &str, raw: &str) -> bool {
        name == ADMIN_ALERT
            || self
                .rules
                .iter()
                .any(|r| r.wants_name(name) && r.required_fields().all(|f| raw.contains(f)))
    }

    /// Every alert an event raises (one per matching rule), and the `admin.alert` it carries.
    pub fn evaluate(&self, event: &Event) -> Vec<AlertCandidate> {
        let mut out: Vec<AlertCandidate> = self
            .rules
            .iter()
            .filter_map(|r| r.evaluate(event))
            .collect();
        if event.name == ADMIN_ALERT {
            if let Ok(c) = admin_alert(&event.attrs) {
                out.push(c);
            }
        }
        out
    }
}

/// The event name game servers use to raise an alert themselves.
pub const ADMIN_ALERT: &str = "admin.alert";

/// The default rules (SPEC §4 and the issue): moderation flags, contest workflow failures,
/// failed and late offline session closures.
pub fn default_rules(offline_sla_ms: f64) -> Vec<RuleSpec> {
    let cond = |field: &str, op: Op, value: Value| Condition {
        field: field.into(),
        op,
        value,
    };
    vec![
        RuleSpec {
            name: "moderation.safety_flag".into(),
            category: Category::Moderation,
            event: "*".into(),
            when: vec![cond(
                "safetyFlags",
                Op::Contains,
                serde_json::json!(["prohibited-capability", "content-warning"]),
            )],
            severity: Severity::High,
            reason: "{match}".into(),
            copy: vec![
                "checkId".into(),
                "auditRef".into(),
                "safetyFlags".into(),
                "latencyMs".into(),
            ],
            group_by: None,
        },
        RuleSpec {
            name: "contest.workflow_failed".into(),
            category: Category::Pipeline,
            event: "telemetry.contest.workflowFailed".into(),
            when: vec![],
            severity: Severity::High,
            reason: "contest.workflow_failed".into(),
            copy: vec![
                "contestId".into(),
                "hubId".into(),
                "roomId".into(),
                "error".into(),
            ],
            group_by: Some(vec!["contestId".into()]),
        },
        RuleSpec {
            name: "offline.workflow_failed".into(),
            category: Category::Pipeline,
            event: "offline.sessionClosure.failed".into(),
            when: vec![],
            severity: Severity::Critical,
            reason: "offline.workflow_failed".into(),
            copy: vec!["jobId".into(), "error".into(), "attempts".into()],
            group_by: None,
        },
        RuleSpec {
            name: "offline.workflow_sla_exceeded".into(),
            category: Category::Pipeline,
            event: "offline.sessionClosure.completed".into(),
            when: vec![cond(
                "durationMs",
                Op::Gt,
                serde_json::json!(offline_sla_ms),
            )],
            severity: Severity::Medium,
            reason: "offline.workflow_sla_exceeded".into(),
            copy: vec!["jobId".into(), "durationMs".into()],
            group_by: None,
        },
    ]
}

/// Reads an `admin.alert` envelope `{id, sessionId, severity, reason, data, createdAt}`
/// (severity default high; category default moderation).
pub fn admin_alert(o: &Map<String, Value>) -> Result<AlertCandidate, String> {
    let text = |k: &str| match o.get(k) {
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    };
    let severity = match o.get("severity") {
        None | Some(Value::Null) => Severity::High,
        Some(Value::String(s)) => Severity::parse(s).ok_or_else(|| {
            format!("severity `{s}` is not one of info, low, medium, high, critical")
        })?,
        Some(other) => return Err(format!("severity must be a string, got {other}")),
    };
    let category = match o.get("category") {
        None | Some(Value::Null) => Category::Moderation,
        Some(Value::String(s)) => Category::parse(s)
            .ok_or_else(|| format!("category `{s}` is not moderation, budget or pipeline"))?,
        Some(other) => return Err(format!("category must be a string, got {other}")),
    };
    let reason = text("reason").ok_or("an admin alert needs a non-empty `reason`")?;
    let data = match o.get("data") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(d)) => d.clone(),
        Some(_) => return Err("`data` must be an object".into()),
    };
    let created_ms = match o.get("createdAt") {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) => n.as_f64(),
        Some(Value::String(s)) => Some(
            crate::time::parse_rfc3339_ms(s)
                .ok_or_else(|| format!("createdAt `{s}` is not RFC 3339 or epoch ms"))?,
        ),
        Some(_) => return Err("createdAt must be RFC 3339 or epoch ms".into()),
    };
    let session_id = text("sessionId");
    let key = text("id").or_else(|| data.get("checkId").map(text_of));
    let mut fingerprint = String::from(ADMIN_ALERT);
    for part in [&session_id, &key] {
        fingerprint.push('|');
        fingerprint.push_str(part.as_deref().unwrap_or(""));
    }
    if key.is_none() {
        // Without an id, the reason tells alerts of one session apart.
        fingerprint.push('|');
        fingerprint.push_str(&reason);
    }
    Ok(AlertCandidate {
        rule: ADMIN_ALERT.into(),
        category,
        severity,
        seeded: is_seeded(&reason, &data),
        probe: o.get("probe") == Some(&Value::Bool(true))
            || data.get("probe") == Some(&Value::Bool(true)),
        session_id,
        reason,
        fingerprint,
        data,
        created_ms,
    })
}

/// A short stable id for an alert fingerprint.
pub fn alert_id(fingerprint: &str) -> String {
    format!(
        "al_{:016x}",
        xxhash_rust::xxh3::xxh3_64(fingerprint.as_bytes())
    )
}

#[cfg(test)]
mod tests;
