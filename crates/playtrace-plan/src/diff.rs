//! Comparing two plans: which changes break producers that satisfy the old one.
//!
//! The question a pull request reviewer asks is "does any game that passes today fail
//! tomorrow?". A change is breaking when some event valid under the old schema is invalid
//! under the new one: a field became required, a type narrowed, an enum lost a value, a
//! constraint appeared or tightened, extra fields became forbidden, or an event left the plan
//! (its events become unknown). The reverse changes are compatible. Properties are compared
//! recursively through nested `properties`.

use crate::load::Plan;
use serde_json::{Map, Value};
use std::collections::BTreeSet;

/// Whether a change can break an existing producer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ChangeKind {
    /// Some event valid under the old plan fails the new one.
    Breaking,
    /// Every event valid under the old plan passes the new one.
    Compatible,
}

impl ChangeKind {
    /// `breaking` or `compatible`.
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeKind::Breaking => "breaking",
            ChangeKind::Compatible => "compatible",
        }
    }
}

/// One difference between two plans.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// Breaking or compatible.
    pub kind: ChangeKind,
    /// The event name or pattern (the schema file's name without `.json`).
    pub event: String,
    /// The field, dotted, when the change is about one.
    pub field: Option<String>,
    /// What changed, for people.
    pub what: String,
}

/// Keywords that constrain a value: adding or changing one may refuse what passed before.
const CONSTRAINTS: &[&str] = &[
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "minLength",
    "maxLength",
    "pattern",
    "format",
    "const",
    "multipleOf",
    "minItems",
    "maxItems",
    "items",
];

/// The changes from `old` to `new`, breaking ones first.
pub fn diff(old: &Plan, new: &Plan) -> Vec<Change> {
    let mut out = Vec::new();
    for o in old.schemas() {
        match new.schemas().iter().find(|n| n.name() == o.name()) {
            None => out.push(Change {
                kind: ChangeKind::Breaking,
                event: o.name().to_string(),
                field: None,
                what: format!(
                    "`{}` left the plan: its events become unknown (rejected with `unknown = \"reject\"`)",
                    o.file()
                ),
            }),
            Some(n) => compare(o.name(), "", o.document(), n.document(), &mut out),
        }
    }
    for n in new.schemas() {
        if !old.schemas().iter().any(|o| o.name() == n.name()) {
            out.push(Change {
                kind: ChangeKind::Compatible,
                event: n.name().to_string(),
                field: None,
                what: format!("`{}` is new: producers of it are now checked", n.file()),
            });
        }
    }
    out.sort_by(|a, b| (a.kind, &a.event, &a.field).cmp(&(b.kind, &b.event, &b.field)));
    out
}

fn change(out: &mut Vec<Change>, kind: ChangeKind, event: &str, field: &str, what: String) {
    out.push(Change {
        kind,
        event: event.to_string(),
        field: (!field.is_empty()).then(|| field.to_string()),
        what,
    });
}

fn join(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_string()
    } else {
        format!("{prefix}.{key}")
    }
}

fn strings(v: Option<&Value>) -> BTreeSet<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// The JSON types a schema admits (`None`: any). `integer` is inside `number`.
fn types(schema: &Map<String, Value>) -> Option<BTreeSet<String>> {
    match schema.get("type")? {
        Value::String(t) => Some(BTreeSet::from([t.clone()])),
        Value::Array(ts) => Some(
            ts.iter()
                .filter_map(|t| t.as_str().map(str::to_string))
                .collect(),
        ),
        _ => None,
    }
}

fn admits(set: &BTreeSet<String>, t: &str) -> bool {
    set.contains(t) || (t == "integer" && set.contains("number"))
}

/// Compares one (sub)schema at `field` (dotted; empty for the attrs object itself).
fn compare(event: &str, field: &str, old: &Value, new: &Value, out: &mut Vec<Change>) {
    let empty = Map::new();
    let o = old.as_object().unwrap_or(&empty);
    let n = new.as_object().unwrap_or(&empty);
    use ChangeKind::{Breaking, Compatible};

    let (or, nr) = (strings(o.get("required")), strings(n.get("required")));
    for f in nr.difference(&or) {
        change(
            out,
            Breaking,
            event,
            &join(field, f),
            "became required".into(),
        );
    }
    for f in or.difference(&nr) {
        change(
            out,
            Compatible,
            event,
            &join(field, f),
            "is no longer required".into(),
        );
    }

    match (types(o), types(n)) {
        (ot, Some(nt))
            if ot
                .as_ref()
                .is_none_or(|ot| ot.iter().any(|t| !admits(&nt, t))) =>
        {
            let was = ot.map_or("any type".to_string(), |t| {
                t.into_iter().collect::<Vec<_>>().join("|")
            });
            let now = nt.into_iter().collect::<Vec<_>>().join("|");
            change(
                out,
                Breaking,
                event,
                field,
                format!("type narrowed from {was} to {now}"),
            );
        }
        (Some(ot), nt)
            if nt
                .as_ref()
                .is_none_or(|nt| nt.iter().any(|t| !admits(&ot, t))) =>
        {
            let now = nt.map_or("any type".to_string(), |t| {
                t.into_iter().collect::<Vec<_>>().join("|")
            });
            let was = ot.into_iter().collect::<Vec<_>>().join("|");
            change(
                out,
                Compatible,
                event,
                field,
                format!("type widened from {was} to {now}"),
            );
        }
        _ => {}
    }

    match (
        o.get("enum").and_then(Value::as_array),
        n.get("enum").and_then(Value::as_array),
    ) {
        (Some(oe), Some(ne)) => {
            for v in oe.iter().filter(|v| !ne.contains(v)) {
                change(
                    out,
                    Breaking,
                    event,
                    field,
                    format!("enum value {v} removed"),
                );
            }
            for v in ne.iter().filter(|v| !oe.contains(v)) {
                change(
                    out,
                    Compatible,
                    event,
                    field,
                    format!("enum value {v} added"),
                );
            }
        }
        (None, Some(_)) => change(out, Breaking, event, field, "now limited to an enum".into()),
        (Some(_), None) => change(
            out,
            Compatible,
            event,
            field,
            "no longer limited to an enum".into(),
        ),
        (None, None) => {}
    }

    for key in CONSTRAINTS {
        match (o.get(*key), n.get(*key)) {
            (a, Some(b)) if a != Some(b) => change(
                out,
                Breaking,
                event,
                field,
                match a {
                    Some(a) => format!("`{key}` changed from {a} to {b}"),
                    None => format!("`{key}` {b} added"),
                },
            ),
            (Some(a), None) => change(
                out,
                Compatible,
                event,
                field,
                format!("`{key}` {a} removed"),
            ),
            _ => {}
        }
    }

    for key in ["additionalProperties", "unevaluatedProperties"] {
        let closed = |m: &Map<String, Value>| m.get(key) == Some(&Value::Bool(false));
        if closed(n) && !closed(o) {
            change(
                out,
                Breaking,
                event,
                field,
                format!("extra fields are now forbidden ({key}: false)"),
            );
        } else if closed(o) && !closed(n) {
            change(
                out,
                Compatible,
                event,
                field,
                format!("extra fields are now allowed ({key})"),
            );
        }
    }
    if n.get("deprecated") == Some(&Value::Bool(true))
        && o.get("deprecated") != Some(&Value::Bool(true))
    {
        change(out, Compatible, event, field, "marked deprecated".into());
    }

    let op = o
        .get("properties")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let np = n
        .get("properties")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    for (key, ov) in op {
        let at = join(field, key);
        match np.get(key) {
            Some(nv) => compare(event, &at, ov, nv, out),
            None if n.get("additionalProperties") == Some(&Value::Bool(false)) => change(
                out,
                Breaking,
                event,
                &at,
                "removed, and extra fields are forbidden".into(),
            ),
            None => change(out, Compatible, event, &at, "no longer declared".into()),
        }
    }
    for key in np.keys().filter(|k| !op.contains_key(*k)) {
        let at = join(field, key);
        if o.get("additionalProperties") == Some(&Value::Bool(false)) {
            change(
                out,
                Compatible,
                event,
                &at,
                "declared (was forbidden as extra)".into(),
            );
        } else {
            // Adding an optional field is the everyday change; one already sent with another
            // shape shows up in `plan check` (it was an unexpected-field warning until now).
            change(out, Compatible, event, &at, "declared".into());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn plan(schema: Value) -> Plan {
        Plan::from_files(vec![("quest.objective.json".into(), schema.to_string())]).unwrap()
    }

    fn kinds(old: Value, new: Value) -> Vec<(ChangeKind, Option<String>, String)> {
        diff(&plan(old), &plan(new))
            .into_iter()
            .map(|c| (c.kind, c.field, c.what))
            .collect()
    }

    #[test]
    fn each_change_kind_is_classified() {
        use ChangeKind::{Breaking, Compatible};
        let old = json!({
            "required": ["questId"],
            "properties": {
                "questId": {"type": "string"},
                "step": {"type": "number"},
                "tier": {"enum": ["gold", "silver"]},
                "note": {"type": "string"}
            }
        });
        let new = json!({
            "required": ["step"],
            "properties": {
                "questId": {"type": "string"},
                "step": {"type": "integer"},
                "tier": {"enum": ["gold", "bronze"]},
                "note": {"type": ["string", "null"]}
            },
            "additionalProperties": false
        });
        let got = kinds(old, new);
        let has = |k: ChangeKind, f: &str, w: &str| {
            got.iter()
                .any(|(kk, ff, ww)| *kk == k && ff.as_deref().unwrap_or("") == f && ww.contains(w))
        };
        assert!(has(Breaking, "step", "became required"), "{got:?}");
        assert!(has(Compatible, "questId", "no longer required"), "{got:?}");
        assert!(
            has(Breaking, "step", "type narrowed from number to integer"),
            "{got:?}"
        );
        assert!(
            has(Breaking, "tier", "enum value \"silver\" removed"),
            "{got:?}"
        );
        assert!(
            has(Compatible, "tier", "enum value \"bronze\" added"),
            "{got:?}"
        );
        assert!(has(Compatible, "note", "type widened"), "{got:?}");
        assert!(
            has(Breaking, "", "extra fields are now forbidden"),
            "{got:?}"
        );
        assert_eq!(got[0].0, Breaking, "breaking changes come first");
    }

    #[test]
    fn identical_plans_have_no_changes_and_removed_events_break() {
        let s = json!({"required": ["a"], "properties": {"a": {"type": "string"}}});
        assert!(kinds(s.clone(), s.clone()).is_empty());
        let old = plan(s);
        let new = Plan::from_files(vec![("other.json".into(), "{}".into())]).unwrap();
        let changes = diff(&old, &new);
        assert_eq!(changes[0].kind, ChangeKind::Breaking);
        assert_eq!(changes[0].event, "quest.objective");
        assert_eq!(changes[1].kind, ChangeKind::Compatible);
    }
}
