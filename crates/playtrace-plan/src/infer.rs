//! Drafting a plan from telemetry a game already sends: the fast way to adopt one.
//!
//! Per event name: each attr's JSON types, attrs present in every event as `required`, and an
//! `enum` for strings with few distinct values seen often enough to be a vocabulary rather than
//! a coincidence. The draft describes exactly what was seen, so the logs it came from pass it;
//! a team then loosens or tightens it by hand.

use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, BTreeSet};

/// Strings become an `enum` with at most this many distinct values …
const ENUM_MAX_VALUES: usize = 8;
/// … each at most this long …
const ENUM_MAX_LEN: usize = 40;
/// … seen in at least this many events.
const ENUM_MIN_EVENTS: u64 = 10;

#[derive(Debug, Default)]
struct Field {
    present: u64,
    types: BTreeSet<&'static str>,
    /// Distinct strings while they still look like an enum; `None` once they do not.
    strings: Option<BTreeSet<String>>,
}

#[derive(Debug, Default)]
struct Shape {
    events: u64,
    fields: BTreeMap<String, Field>,
}

/// Collects events and drafts one schema per event name.
#[derive(Debug, Default)]
pub struct Inferrer {
    shapes: BTreeMap<String, Shape>,
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

impl Inferrer {
    /// Adds one event's attrs.
    pub fn add(&mut self, name: &str, attrs: &Map<String, Value>) {
        let shape = self.shapes.entry(name.to_string()).or_default();
        shape.events += 1;
        for (key, value) in attrs {
            let field = shape.fields.entry(key.clone()).or_insert_with(|| Field {
                strings: Some(BTreeSet::new()),
                ..Field::default()
            });
            field.present += 1;
            field.types.insert(json_type(value));
            match value {
                Value::String(s) => {
                    if let Some(set) = &mut field.strings {
                        if s.len() > ENUM_MAX_LEN {
                            field.strings = None;
                        } else {
                            set.insert(s.clone());
                            if set.len() > ENUM_MAX_VALUES {
                                field.strings = None;
                            }
                        }
                    }
                }
                _ => field.strings = None,
            }
        }
    }

    /// Merges another inferrer's events (from another thread or input).
    pub fn merge(&mut self, other: Inferrer) {
        for (name, shape) in other.shapes {
            let mine = self.shapes.entry(name).or_default();
            mine.events += shape.events;
            for (key, field) in shape.fields {
                match mine.fields.get_mut(&key) {
                    None => {
                        mine.fields.insert(key, field);
                    }
                    Some(into) => {
                        into.present += field.present;
                        into.types.extend(field.types);
                        into.strings = match (into.strings.take(), field.strings) {
                            (Some(mut a), Some(b)) => {
                                a.extend(b);
                                (a.len() <= ENUM_MAX_VALUES).then_some(a)
                            }
                            _ => None,
                        };
                    }
                }
            }
        }
    }

    /// Event names seen.
    pub fn len(&self) -> usize {
        self.shapes.len()
    }

    /// Whether no event was added.
    pub fn is_empty(&self) -> bool {
        self.shapes.is_empty()
    }

    /// One `(file name, schema)` per event name, and the names that cannot be file names
    /// (they hold `/` or `*`, or start with `.`).
    pub fn drafts(&self) -> (Vec<(String, Value)>, Vec<String>) {
        let mut drafts = Vec::new();
        let mut skipped = Vec::new();
        for (name, shape) in &self.shapes {
            if name.contains(['/', '*', '\\']) || name.starts_with('.') || name.is_empty() {
                skipped.push(name.clone());
                continue;
            }
            drafts.push((format!("{name}.json"), draft(name, shape)));
        }
        (drafts, skipped)
    }
}

fn draft(name: &str, shape: &Shape) -> Value {
    let mut properties = Map::new();
    let mut required = Vec::new();
    for (key, field) in &shape.fields {
        if field.present == shape.events {
            required.push(Value::String(key.clone()));
        }
        let mut types: BTreeSet<&str> = field.types.clone();
        if types.contains("number") {
            types.remove("integer");
        }
        let mut schema = Map::new();
        let types: Vec<Value> = types.into_iter().map(|t| Value::String(t.into())).collect();
        schema.insert(
            "type".into(),
            match types.as_slice() {
                [one] => one.clone(),
                _ => Value::Array(types),
            },
        );
        if let Some(values) = &field.strings {
            if field.present >= ENUM_MIN_EVENTS && field.types.len() == 1 && !values.is_empty() {
                schema.insert("enum".into(), json!(values));
            }
        }
        properties.insert(key.clone(), Value::Object(schema));
    }
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": name,
        "description": format!(
            "Drafted by `playtrace plan infer` from {} event(s); review before relying on it.",
            shape.events
        ),
        "type": "object",
        "required": required,
        "properties": properties,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Checked, Plan};

    fn attrs(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => unreachable!("test attrs are objects"),
        }
    }

    #[test]
    fn drafts_types_required_and_enums_that_the_events_pass() {
        let mut inf = Inferrer::default();
        let mut events = Vec::new();
        for i in 0..12 {
            let mut e = json!({"tier": if i % 2 == 0 { "gold" } else { "silver" },
                               "count": i, "ratio": 0.5, "id": format!("id-{i}")});
            if i % 3 == 0 {
                e["note"] = json!(null);
            }
            if i == 5 {
                e["ratio"] = json!(1);
            }
            events.push(attrs(e));
        }
        for e in &events {
            inf.add("quest.objective", e);
        }
        let (drafts, skipped) = inf.drafts();
        assert!(skipped.is_empty());
        let (file, schema) = &drafts[0];
        assert_eq!(file, "quest.objective.json");
        assert_eq!(schema["required"], json!(["count", "id", "ratio", "tier"]));
        assert_eq!(
            schema["properties"]["tier"]["enum"],
            json!(["gold", "silver"])
        );
        assert_eq!(schema["properties"]["ratio"]["type"], "number");
        assert!(schema["properties"]["id"].get("enum").is_none());
        let plan = Plan::from_files(vec![(file.clone(), schema.to_string())]).unwrap();
        for e in events {
            match plan.check("quest.objective", &Value::Object(e)) {
                Checked::Known { violations, .. } => {
                    assert!(violations.is_empty(), "{violations:?}")
                }
                Checked::Unknown => panic!("unknown"),
            }
        }
    }
}
