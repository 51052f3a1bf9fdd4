//! Silences by matchers (like Alertmanager's): a silence names attribute values (`room=pier`,
//! `category=moderation`), and every alert whose attributes equal all of them is `silenced`
//! while the silence lasts — alerts firing when it is made, and those raised later.

use playtrace_store::SilenceRow;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// The attributes a matcher may name.
pub(crate) const MATCHER_KEYS: &[&str] = &[
    "category", "rule", "severity", "game", "env", "hub", "room", "session",
];

/// Attribute → value; an alert matches when every one equals its own.
pub(crate) type Matchers = BTreeMap<String, String>;

/// Matchers from a JSON object of strings (`{"room": "pier"}`); at least one, known keys only.
pub(crate) fn parse_matchers(v: &Value) -> Result<Matchers, String> {
    let Value::Object(o) = v else {
        return Err("matchers: expected an object such as {\"room\": \"pier\"}".into());
    };
    let mut m = Matchers::new();
    for (k, v) in o {
        if !MATCHER_KEYS.contains(&k.as_str()) {
            return Err(format!(
                "matchers: `{k}` is not an alert attribute; use {}",
                MATCHER_KEYS.join(", ")
            ));
        }
        let value = match v {
            Value::String(s) if !s.is_empty() => s.clone(),
            Value::Number(n) => n.to_string(),
            _ => return Err(format!("matchers.{k}: expected a non-empty string")),
        };
        m.insert(k.clone(), value);
    }
    if m.is_empty() {
        return Err(
            "matchers: name at least one attribute (a silence of everything hides every alert)"
                .into(),
        );
    }
    Ok(m)
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// An alert's value for a matcher key (hub and room from what raised it: the event's
/// `hubId`/`roomId`, or the budget group's `hub`/`room`).
pub(crate) fn attribute(alert: &Value, key: &str) -> Option<String> {
    let data = &alert["data"];
    let first = |keys: &[&Value]| keys.iter().find_map(|v| text(v));
    match key {
        "session" => text(&alert["sessionId"]),
        "hub" => first(&[&data["hubId"], &data["hub"], &data["group"]["hub"]]),
        "room" => first(&[&data["roomId"], &data["room"], &data["group"]["room"]]),
        other => text(&alert[other]),
    }
}

/// Whether every matcher equals the alert's attribute.
pub(crate) fn matches(m: &Matchers, alert: &Value) -> bool {
    m.iter()
        .all(|(k, v)| attribute(alert, k).as_deref() == Some(v.as_str()))
}

/// The stored matchers of a silence (unreadable ones match nothing).
pub(crate) fn matchers_of(row: &SilenceRow) -> Matchers {
    serde_json::from_str(&row.matchers).unwrap_or_default()
}

/// The first silence in `active` that covers `alert`.
pub(crate) fn covering<'a>(active: &'a [SilenceRow], alert: &Value) -> Option<&'a SilenceRow> {
    active.iter().find(|s| {
        let m = matchers_of(s);
        !m.is_empty() && matches(&m, alert)
    })
}

/// A silence as the API shows it; `state` is `active`, `pending` (starts later) or `expired`.
pub(crate) fn silence_json(row: &SilenceRow, now_ms: i64) -> Value {
    let state = if row.ends_ms <= now_ms {
        "expired"
    } else if row.starts_ms > now_ms {
        "pending"
    } else {
        "active"
    };
    let matchers: Map<String, Value> = matchers_of(row)
        .into_iter()
        .map(|(k, v)| (k, Value::String(v)))
        .collect();
    json!({
        "id": row.id,
        "matchers": matchers,
        "author": row.author,
        "comment": row.comment,
        "startsAt": crate::view::ms_text(Some(row.starts_ms)),
        "endsAt": crate::view::ms_text(Some(row.ends_ms)),
        "createdAt": crate::view::ms_text(Some(row.created_ms)),
        "state": state,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matchers_need_known_keys_and_match_every_one() {
        assert!(parse_matchers(&json!({})).is_err());
        assert!(parse_matchers(&json!({"colour": "red"}))
            .unwrap_err()
            .contains("colour"));
        let m = parse_matchers(&json!({"room": "pier", "category": "budget"})).unwrap();
        let budget = json!({"category": "budget", "data": {"group": {"room": "pier"}}});
        let other_room = json!({"category": "budget", "data": {"group": {"room": "dock"}}});
        let moderation = json!({"category": "moderation", "data": {"roomId": "pier"}});
        assert!(matches(&m, &budget));
        assert!(!matches(&m, &other_room));
        assert!(!matches(&m, &moderation));
        let by_session = parse_matchers(&json!({"session": "s1"})).unwrap();
        assert!(matches(&by_session, &json!({"sessionId": "s1"})));
    }
}
