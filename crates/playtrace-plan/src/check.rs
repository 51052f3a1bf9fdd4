//! Checking one event against the plan: the one call shared by `plan check`, ingest and (later)
//! reject replay.
//!
//! Valid events, nearly all of them, take the validator's fast yes/no path plus one hash lookup
//! per top-level attr; the detailed error walk runs only for events that fail.

use crate::load::{shorten, EventSchema, Plan};
use jsonschema::error::{TypeKind, ValidationErrorKind};
use jsonschema::paths::{Location, LocationSegment};
use playtrace_core::scan::Members;
use serde_json::Value;

/// What is wrong with a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ViolationKind {
    /// A required attr is absent.
    Missing,
    /// An attr has a type the plan does not allow.
    WrongType,
    /// An attr the plan does not declare.
    Unexpected,
    /// Any other rule: an enum value, a format, a range, a pattern.
    Invalid,
}

impl ViolationKind {
    /// The metric label and JSON spelling: `missing`, `wrong_type`, `unexpected`, `invalid`.
    pub fn as_str(self) -> &'static str {
        match self {
            ViolationKind::Missing => "missing",
            ViolationKind::WrongType => "wrong_type",
            ViolationKind::Unexpected => "unexpected",
            ViolationKind::Invalid => "invalid",
        }
    }
}

/// Whether a violation fails a check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// Breaks the contract: `plan check` exits 1, `enforce` rejects the line.
    Error,
    /// Worth a look (an undeclared attr the schema does not forbid); never fails anything.
    Warning,
}

impl Severity {
    /// `error` or `warning`, as the report writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        }
    }
}

/// One broken rule of one event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// What kind of problem.
    pub kind: ViolationKind,
    /// Error or warning.
    pub severity: Severity,
    /// The field inside the event's attrs, dotted (`questId`, `timings.armMs`, `items[2].id`).
    pub field: String,
    /// The JSON Schema keyword that failed (`required`, `type`, `enum`, `additionalProperties`).
    pub rule: String,
    /// Where the rule is in the schema file (a JSON pointer).
    pub schema_path: String,
    /// What is wrong, for people.
    pub message: String,
}

impl Violation {
    /// The field's last segment: the name the report lists in `missingFieldNames`.
    pub fn field_name(&self) -> &str {
        let last = self.field.rsplit('.').next().unwrap_or(&self.field);
        last.split('[').next().unwrap_or(last)
    }
}

/// The outcome of checking one event.
#[derive(Debug)]
pub enum Checked<'p> {
    /// No schema in the plan governs this event name.
    Unknown,
    /// The event's schema and everything wrong with it (empty when clean).
    Known {
        /// The governing schema.
        schema: &'p EventSchema,
        /// Errors first (in the validator's order), then warnings.
        violations: Vec<Violation>,
    },
}

impl Checked<'_> {
    /// The first violation that fails the contract (what an `enforce` reject names).
    pub fn first_error(&self) -> Option<&Violation> {
        match self {
            Checked::Unknown => None,
            Checked::Known { violations, .. } => {
                violations.iter().find(|v| v.severity == Severity::Error)
            }
        }
    }
}

/// A line the fast path vouches for: one event, and clean.
#[derive(Debug)]
pub struct CleanLine<'p, 'a> {
    /// The event's (normalised) name, borrowed from the line where it can be.
    pub name: std::borrow::Cow<'a, str>,
    /// [`Checked::Unknown`], or [`Checked::Known`] with no violations: what [`Plan::check`]
    /// answers for this event's attrs.
    pub checked: Checked<'p>,
}

impl Plan {
    /// Checks one NDJSON line (without its newline) as core reads it: `Some` when the line is
    /// exactly one event and its attrs break no rule and raise no warning of the plan (the
    /// fast path, `fast/`); `None` when the line must be checked the exact way
    /// (`serde_json::Value`, `Event::from_object`, [`Plan::check`]) — which may still find it
    /// clean.
    pub fn check_line<'a>(&self, line: &'a str) -> Option<CleanLine<'_, 'a>> {
        let lookup = |name: &str| self.schema_for(name).map(|s| (s, s.fast.as_ref()));
        let (name, schema) = crate::fast::clean_line(line, &lookup)?;
        Some(CleanLine {
            name,
            checked: match schema {
                None => Checked::Unknown,
                Some(schema) => Checked::Known {
                    schema,
                    violations: Vec::new(),
                },
            },
        })
    }

    /// Checks the attrs of an event core's scanner read (`name`: the event name it found;
    /// `members`: what it read, [`playtrace_core::scan::scan_line_members`]) without reading
    /// the line again: `Some` when no schema describes the event ([`Checked::Unknown`]) or its
    /// attrs break no rule and raise no warning (the fast path's subset, `fast/`); `None` when
    /// the line must be checked the exact way, which may still find it clean.
    pub fn check_scanned(&self, name: &str, members: &Members<'_>) -> Option<Checked<'_>> {
        let Some(schema) = self.schema_for(name) else {
            return Some(Checked::Unknown);
        };
        let node = schema.fast.as_ref()?;
        crate::fast::clean_members(node, members).then(|| Checked::Known {
            schema,
            violations: Vec::new(),
        })
    }

    /// Checks one event's attrs (an object; anything else fails the schema's `type`). The
    /// event name is the normalised one (`telemetry.contest.armed` for a timeline's
    /// `telemetry.hub.contestArmed`).
    pub fn check(&self, name: &str, attrs: &Value) -> Checked<'_> {
        let Some(schema) = self.schema_for(name) else {
            return Checked::Unknown;
        };
        let mut violations = Vec::new();
        if !schema.validator.is_valid(attrs) {
            for error in schema.validator.iter_errors(attrs) {
                push_error(schema, &error, &mut violations);
            }
        }
        if !schema.closed && !schema.patterned && !schema.properties.is_empty() {
            if let Value::Object(map) = attrs {
                for key in map.keys() {
                    if !schema.properties.contains(key.as_str()) {
                        violations.push(Violation {
                            kind: ViolationKind::Unexpected,
                            severity: Severity::Warning,
                            field: key.clone(),
                            rule: "properties".into(),
                            schema_path: "/properties".into(),
                            message: format!(
                                "field `{key}` is not in the plan for `{}`",
                                schema.name
                            ),
                        });
                    }
                }
            }
        }
        Checked::Known { schema, violations }
    }
}

fn push_error(
    schema: &EventSchema,
    error: &jsonschema::ValidationError<'_>,
    out: &mut Vec<Violation>,
) {
    let at = dotted(error.instance_path());
    let schema_path = error.schema_path().as_str().to_string();
    let rule = error.kind().keyword().to_string();
    let join = |field: &str| {
        if at.is_empty() {
            field.to_string()
        } else {
            format!("{at}.{field}")
        }
    };
    match error.kind() {
        ValidationErrorKind::Required { property } => {
            let field = join(property.as_str().unwrap_or_default());
            out.push(Violation {
                kind: ViolationKind::Missing,
                severity: Severity::Error,
                message: format!("missing required field `{field}`"),
                field,
                rule,
                schema_path,
            });
        }
        ValidationErrorKind::AdditionalProperties { unexpected }
        | ValidationErrorKind::UnevaluatedProperties { unexpected } => {
            for key in unexpected {
                let field = join(key);
                out.push(Violation {
                    kind: ViolationKind::Unexpected,
                    severity: Severity::Error,
                    message: format!(
                        "field `{field}` is not allowed by the plan for `{}` ({rule}: false)",
                        schema.name
                    ),
                    field,
                    rule: rule.clone(),
                    schema_path: schema_path.clone(),
                });
            }
        }
        ValidationErrorKind::Type { kind } => {
            let wanted = match kind {
                TypeKind::Single(t) => t.to_string(),
                TypeKind::Multiple(set) => set
                    .iter()
                    .map(|t| t.to_string())
                    .collect::<Vec<_>>()
                    .join(" or "),
            };
            let field = if at.is_empty() {
                "(attrs)".to_string()
            } else {
                at.clone()
            };
            out.push(Violation {
                kind: ViolationKind::WrongType,
                severity: Severity::Error,
                message: format!(
                    "field `{field}` is {}, the plan wants {wanted}",
                    type_name(error.instance())
                ),
                field,
                rule,
                schema_path,
            });
        }
        _ => {
            let field = if at.is_empty() {
                "(attrs)".to_string()
            } else {
                at.clone()
            };
            out.push(Violation {
                kind: ViolationKind::Invalid,
                severity: Severity::Error,
                message: format!("field `{field}`: {}", shorten(&error.to_string())),
                field,
                rule,
                schema_path,
            });
        }
    }
}

/// A JSON pointer into the attrs as a dotted path: `/items/2/id` → `items[2].id`.
fn dotted(location: &Location) -> String {
    let mut out = String::new();
    for segment in location.iter() {
        match segment {
            LocationSegment::Property(p) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(&p);
            }
            LocationSegment::Index(i) => {
                out.push('[');
                out.push_str(&i.to_string());
                out.push(']');
            }
        }
    }
    out
}

/// A value's JSON type in words, as messages use it.
pub(crate) fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "an integer",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn quest_plan(closed: bool) -> Plan {
        let schema = json!({
            "type": "object",
            "required": ["telemetryTag", "questId", "objectiveId"],
            "properties": {
                "telemetryTag": {"type": "string"},
                "questId": {"type": "string"},
                "objectiveId": {"type": "string"},
                "step": {"type": "integer"},
                "mood": {"enum": ["calm", "tense"]},
                "items": {"type": "array", "items": {"type": "object", "required": ["id"]}}
            },
            "additionalProperties": !closed
        });
        Plan::from_files(vec![("quest.objective.json".into(), schema.to_string())]).unwrap()
    }

    fn violations(plan: &Plan, attrs: Value) -> Vec<(ViolationKind, Severity, String)> {
        match plan.check("quest.objective", &attrs) {
            Checked::Unknown => panic!("unknown"),
            Checked::Known { violations, .. } => violations
                .into_iter()
                .map(|v| (v.kind, v.severity, v.field))
                .collect(),
        }
    }

    #[test]
    fn each_kind_is_classified_with_its_field() {
        let p = quest_plan(false);
        let got = violations(
            &p,
            json!({"telemetryTag": "t", "objectiveId": "o", "branchId": "b", "step": "2",
                   "mood": "angry", "items": [{"id": 1}, {}]}),
        );
        let mut got = got;
        got.sort();
        assert_eq!(
            got,
            [
                (
                    ViolationKind::Missing,
                    Severity::Error,
                    "items[1].id".into()
                ),
                (ViolationKind::Missing, Severity::Error, "questId".into()),
                (ViolationKind::WrongType, Severity::Error, "step".into()),
                (
                    ViolationKind::Unexpected,
                    Severity::Warning,
                    "branchId".into()
                ),
                (ViolationKind::Invalid, Severity::Error, "mood".into()),
            ]
        );
    }

    #[test]
    fn a_closed_schema_makes_unexpected_fields_errors() {
        let p = quest_plan(true);
        let attrs = json!({"telemetryTag": "t", "questId": "q", "objectiveId": "o", "branchId": 1});
        assert_eq!(
            violations(&p, attrs.clone()),
            [(
                ViolationKind::Unexpected,
                Severity::Error,
                "branchId".into()
            )]
        );
        let checked = p.check("quest.objective", &attrs);
        let first = checked.first_error().unwrap();
        assert_eq!(first.rule, "additionalProperties");
        assert!(first.message.contains("`branchId`"), "{}", first.message);
    }

    #[test]
    fn clean_and_unknown_events() {
        let p = quest_plan(false);
        let attrs = json!({"telemetryTag": "t", "questId": "q", "objectiveId": "o"});
        assert!(violations(&p, attrs).is_empty());
        assert!(matches!(p.check("other", &json!({})), Checked::Unknown));
    }
}
