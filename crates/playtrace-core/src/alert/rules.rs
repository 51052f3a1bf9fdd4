//! Alert rules: which event raises which alert, with what reason, data and fingerprint.

use crate::alert::admin::{admin_alert, ADMIN_ALERT};
use crate::alert::fingerprint::text_of;
use crate::alert::kinds::{is_seeded, AlertCandidate, Category, Severity};
use crate::event::Event;
use crate::units::Millis;
use serde::Deserialize;
use serde_json::{Map, Value};
use thiserror::Error;

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
    /// Greater than or equal (`value` as for `gt`).
    Ge,
    /// Less than (`value` as for `gt`).
    Lt,
    /// Less than or equal (`value` as for `gt`).
    Le,
}

/// One `{field, op, value}` condition.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Condition {
    /// An attribute (dotted for nested objects: `payload.tier`), or `event`, `game`, `env`,
    /// `session`.
    pub field: String,
    /// How `field` is compared with `value` (`eq`, `ne`, `in`, `contains`, `gt`, `ge`, `lt`,
    /// `le`).
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
    /// Searchers for the attribute names every matching event must contain, built once: the
    /// pre-filter runs on every ingested line, where building a searcher per line cost more
    /// than the search.
    needles: Vec<memchr::memmem::Finder<'static>>,
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
        let needles = spec
            .when
            .iter()
            .filter(|c| c.op != Op::Ne && !is_envelope(&c.field))
            .map(|c| {
                let key = c.field.split('.').next().unwrap_or(&c.field);
                memchr::memmem::Finder::new(key.as_bytes()).into_owned()
            })
            .collect();
        Ok(Rule {
            spec,
            prefix,
            numbers,
            needles,
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

    /// Whether `raw` contains every attribute name a matching event must contain (a cheap
    /// filter on the raw text).
    fn may_hold(&self, raw: &[u8]) -> bool {
        self.needles.iter().all(|n| n.find(raw).is_some())
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
/// The rules in force.
#[derive(Debug, Clone, Default)]
pub struct RuleSet {
    rules: Vec<Rule>,
}

impl RuleSet {
    /// Rules already validated, in evaluation order.
    pub(crate) fn new(rules: Vec<Rule>) -> RuleSet {
        RuleSet { rules }
    }

    /// The rules, validated, in evaluation order (the config's order).
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
                .any(|r| r.wants_name(name) && r.may_hold(raw.as_bytes()))
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
