//! What a released batch publishes: one lore bundle per changed entity (its deltas, in the
//! order they came) and one news card per session listing the changes. Each becomes an object
//! in storage and a document in the search index (`index-lore-<bundle>`, `index-news-<card>`).

use crate::index::IndexName;
use crate::input::Delta;
use serde_json::{json, Value};

/// One bundle or card.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Bundle {
    pub index: IndexName,
    pub id: String,
    pub title: String,
    pub body: String,
    pub json: Value,
}

impl Bundle {
    /// The search job's id.
    pub fn job_id(&self) -> String {
        match self.index {
            IndexName::LoreBundles => format!("index-lore-{}", self.id),
            IndexName::NewsCards => format!("index-news-{}", self.id),
        }
    }

    /// The object's name inside a version's prefix.
    pub fn object_name(&self) -> String {
        match self.index {
            IndexName::LoreBundles => format!("lore/{}.json", safe(&self.id)),
            IndexName::NewsCards => format!("news/{}.json", safe(&self.id)),
        }
    }
}

/// A name usable as one path component or key segment.
pub(crate) fn safe(text: &str) -> String {
    let s: String = text
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if s.chars().all(|c| c == '.') {
        format!("_{s}")
    } else {
        s
    }
}

/// Flattens the string and number leaves of a JSON value into searchable words.
fn words(value: &Value, out: &mut String) {
    match value {
        Value::String(s) => {
            out.push(' ');
            out.push_str(s);
        }
        Value::Number(n) => {
            out.push(' ');
            out.push_str(&n.to_string());
        }
        Value::Array(a) => a.iter().for_each(|v| words(v, out)),
        Value::Object(o) => o.iter().for_each(|(k, v)| {
            out.push(' ');
            out.push_str(k);
            words(v, out);
        }),
        _ => {}
    }
}

/// The bundles of a session's publishable deltas (none: nothing to publish).
pub(crate) fn bundles(session_id: &str, deltas: &[&Delta]) -> Vec<Bundle> {
    if deltas.is_empty() {
        return Vec::new();
    }
    let mut entities: Vec<&str> = Vec::new();
    for d in deltas {
        if !entities.contains(&d.entity_id.as_str()) {
            entities.push(&d.entity_id);
        }
    }
    let mut out = Vec::with_capacity(entities.len() + 1);
    for entity in &entities {
        let mine: Vec<&&Delta> = deltas.iter().filter(|d| d.entity_id == *entity).collect();
        let first = mine[0];
        let mut body = format!("{} {}", first.canonical_name, first.entity_type);
        for d in &mine {
            words(&d.after, &mut body);
        }
        out.push(Bundle {
            index: IndexName::LoreBundles,
            id: format!("{session_id}-lore-{entity}"),
            title: first.canonical_name.clone(),
            body,
            json: json!({
                "bundleId": format!("{session_id}-lore-{entity}"),
                "sessionId": session_id,
                "entityId": entity,
                "entityType": first.entity_type,
                "canonicalName": first.canonical_name,
                "deltas": mine.iter().map(|d| json!({
                    "deltaId": d.delta_id, "before": d.before, "after": d.after,
                    "confidence": d.confidence,
                })).collect::<Vec<_>>(),
            }),
        });
    }
    let names: Vec<&str> = entities
        .iter()
        .filter_map(|e| deltas.iter().find(|d| d.entity_id == *e))
        .map(|d| d.canonical_name.as_str())
        .collect();
    let card = format!("{session_id}-news-0");
    out.push(Bundle {
        index: IndexName::NewsCards,
        id: card.clone(),
        title: format!("World changes from session {session_id}"),
        body: names.join(", "),
        json: json!({
            "cardId": card,
            "sessionId": session_id,
            "headline": format!("World changes from session {session_id}"),
            "entities": names,
            "deltaCount": deltas.len(),
        }),
    });
    out
}
