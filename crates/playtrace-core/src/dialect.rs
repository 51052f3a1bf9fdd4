//! Whole-document dialects: JSON arrays of events, timeline artefacts and monitor summaries.
//!
//! A document is either a whole file (a pretty-printed timeline) or one NDJSON line that is not
//! a single event. Each document expands to events; an element that cannot be read becomes a
//! reject whose message says where in the document it was (`timeline[2]: ...`).

use crate::event::{normalize_name, Event, EventKind};
use crate::fields::scalar_of;
use crate::reject::LineError;
use serde_json::{json, Map, Value};

/// Expands a parsed JSON document into events, keeping unreadable elements as errors.
pub fn read_document(value: Value) -> Vec<Result<Event, LineError>> {
    match value {
        Value::Array(items) => items
            .into_iter()
            .enumerate()
            .map(|(i, item)| match item {
                Value::Object(o) => {
                    Event::from_object(o).map_err(|e| at(&format!("element {}", i + 1), e))
                }
                other => Err(LineError::schema(format!(
                    "element {}: must be an event object, got {}",
                    i + 1,
                    scalar_of(&other).type_name()
                ))),
            })
            .collect(),
        Value::Object(o) if o.contains_key("event") || o.contains_key("message") => {
            vec![Event::from_object(o)]
        }
        Value::Object(o) if o.contains_key("timeline") => read_timeline(o),
        Value::Object(o) if o.contains_key("durations") && o.contains_key("totals") => {
            read_summary(o)
        }
        Value::Object(_) => vec![Err(LineError::schema(
            "not a telemetry event: no `event` or `message` key, and not a timeline artefact \
             (`timeline`) or a monitor summary (`totals`, `durations`, `raw`)",
        ))],
        other => vec![Err(LineError::schema(format!(
            "must be a JSON object (an event), got {}",
            scalar_of(&other).type_name()
        )))],
    }
}

fn at(place: &str, e: LineError) -> LineError {
    LineError {
        kind: e.kind,
        message: format!("{place}: {}", e.message),
    }
}

/// A timeline artefact: `{"timeline": [{"type": "telemetry.hub.contestArmed", "payload": {...}}]}`.
/// Hub topics map to `telemetry.contest.*`; `hubId`, `roomId`, `contestKey` (and `contestId` for
/// events after launch) fall back to the artefact's top level, and `payload.outcome.tier` is read
/// as `outcomeTier`, as the old monitor did.
fn read_timeline(doc: Map<String, Value>) -> Vec<Result<Event, LineError>> {
    let Some(Value::Array(entries)) = doc.get("timeline") else {
        return vec![Err(LineError::schema(
            "`timeline` must be an array of {type, payload} entries",
        ))];
    };
    let top = |key: &str| {
        doc.get(key)
            .filter(|v| v.as_str().is_some_and(|s| !s.is_empty()))
    };
    entries
        .iter()
        .enumerate()
        .map(|(i, entry)| {
            let place = format!("timeline[{i}]");
            let Some(entry) = entry.as_object() else {
                return Err(LineError::schema(format!(
                    "{place}: must be an object with `type` and `payload`"
                )));
            };
            let name = match entry.get("type") {
                Some(Value::String(t)) if !t.is_empty() => {
                    normalize_name(t.as_str().into()).into_owned()
                }
                _ => {
                    return Err(LineError::schema(format!(
                        "{place}: `type` must be a non-empty string"
                    )))
                }
            };
            let mut attrs = match entry.get("payload") {
                None | Some(Value::Null) => Map::new(),
                Some(Value::Object(p)) => p.clone(),
                Some(_) => {
                    return Err(LineError::schema(format!(
                        "{place}: `payload` must be an object"
                    )))
                }
            };
            let kind = EventKind::of(&name);
            let mut inherited = vec!["hubId", "roomId", "contestKey"];
            if !matches!(kind, EventKind::Armed | EventKind::Expired) {
                inherited.push("contestId");
            }
            for key in inherited {
                let missing = attrs
                    .get(key)
                    .is_none_or(|v| v.is_null() || v.as_str() == Some(""));
                if let (true, Some(v)) = (missing, top(key)) {
                    attrs.insert(key.to_string(), v.clone());
                }
            }
            if !attrs.contains_key("outcomeTier") {
                if let Some(tier) = attrs.get("outcome").and_then(|o| o.get("tier")).cloned() {
                    attrs.insert("outcomeTier".into(), tier);
                }
            }
            let mut object = Map::new();
            object.insert("event".into(), Value::String(name));
            object.insert("attrs".into(), Value::Object(attrs));
            Event::from_object(object).map_err(|e| at(&place, e))
        })
        .collect()
}

/// A previous `playtrace monitor --format json --include-raw` summary: its `raw` block is
/// replayed as events, so summaries can be merged or re-checked against other budgets.
fn read_summary(doc: Map<String, Value>) -> Vec<Result<Event, LineError>> {
    let Some(Value::Object(raw)) = doc.get("raw") else {
        return vec![Err(LineError::schema(
            "this is a monitor summary without its `raw` block, so its contests cannot be re-read; \
             produce it with `playtrace monitor --format json --include-raw`",
        ))];
    };
    let mut events = Vec::new();
    let event = |name: &str, attrs: Value| {
        let mut object = Map::new();
        object.insert(
            "event".into(),
            Value::String(format!("telemetry.contest.{name}")),
        );
        object.insert("attrs".into(), attrs);
        Event::from_object(object)
    };
    let pick = |o: &Map<String, Value>, keys: &[&str]| {
        let mut attrs = Map::new();
        for key in keys {
            if let Some(v) = o.get(*key).filter(|v| !v.is_null()) {
                attrs.insert((*key).to_string(), v.clone());
            }
        }
        attrs
    };
    if let Some(Value::Array(contests)) = raw.get("contests") {
        for (i, contest) in contests.iter().enumerate() {
            let place = format!("raw.contests[{i}]");
            let Some(c) = contest.as_object() else {
                events.push(Err(LineError::schema(format!(
                    "{place}: must be an object"
                ))));
                continue;
            };
            let base = [
                "contestId",
                "hubId",
                "roomId",
                "armingDurationMs",
                "participantCount",
                "participantCapacity",
            ];
            events
                .push(event("launched", Value::Object(pick(c, &base))).map_err(|e| at(&place, e)));
            if c.get("resolved") == Some(&Value::Bool(true)) {
                let mut attrs = pick(c, &base);
                if let Some(v) = c.get("resolutionDurationMs").filter(|v| !v.is_null()) {
                    attrs.insert("resolutionDurationMs".into(), v.clone());
                }
                let outcomes: Vec<Value> = match c.get("outcomes") {
                    Some(Value::Array(o)) => o.clone(),
                    _ => Vec::new(),
                };
                let mut outcomes = outcomes.into_iter();
                if let Some(first) = outcomes.next() {
                    attrs.insert("outcomeTier".into(), first);
                }
                events.push(event("resolved", Value::Object(attrs)).map_err(|e| at(&place, e)));
                // Further outcomes of the same contest (a contest resolved more than once).
                for tier in outcomes {
                    let attrs = json!({"contestId": c.get("contestId"), "outcomeTier": tier});
                    events.push(event("resolved", attrs).map_err(|e| at(&place, e)));
                }
            }
        }
    }
    if let Some(Value::Array(failures)) = raw.get("workflowFailures") {
        for (i, failure) in failures.iter().enumerate() {
            let place = format!("raw.workflowFailures[{i}]");
            let Some(f) = failure.as_object() else {
                events.push(Err(LineError::schema(format!(
                    "{place}: must be an object"
                ))));
                continue;
            };
            let mut attrs = pick(f, &["contestId", "hubId", "roomId", "contestKey", "error"]);
            attrs
                .entry("error")
                .or_insert_with(|| json!("workflow_failed"));
            events.push(event("workflowFailed", Value::Object(attrs)).map_err(|e| at(&place, e)));
        }
    }
    if let Some(Value::Object(expired)) = raw.get("expired") {
        let list = |key: &str| match expired.get(key) {
            Some(Value::Array(v)) => v.clone(),
            _ => Vec::new(),
        };
        let (durations, counts) = (list("armingDurations"), list("participantCounts"));
        for i in 0..durations.len().max(counts.len()) {
            let mut attrs = Map::new();
            if let Some(d) = durations.get(i) {
                attrs.insert("armingDurationMs".into(), d.clone());
            }
            if let Some(c) = counts.get(i) {
                attrs.insert("participantCount".into(), c.clone());
            }
            let place = format!("raw.expired[{i}]");
            events.push(event("expired", Value::Object(attrs)).map_err(|e| at(&place, e)));
        }
    }
    events
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arrays_expand_element_by_element() {
        let out = read_document(json!([
            {"message": "a"},
            3,
            {"event": "b", "attrs": {"hubId": 1}}
        ]));
        assert_eq!(out.len(), 3);
        assert_eq!(out[0].as_ref().unwrap().name, "a");
        assert_eq!(
            out[1].as_ref().unwrap_err().message,
            "element 2: must be an event object, got a number"
        );
        assert_eq!(
            out[2].as_ref().unwrap_err().message,
            "element 3: field `hubId` must be a string, got 1"
        );
    }

    #[test]
    fn timeline_entries_inherit_the_artefact_context() {
        let out = read_document(json!({
            "hubId": "hub", "roomId": "room", "contestId": "c1",
            "timeline": [
                {"type": "telemetry.hub.contestArmed", "payload": {"contestKey": "k"}},
                {"type": "telemetry.hub.contestResolved", "payload": {"outcome": {"tier": "success"}}},
                {"payload": {}}
            ]
        }));
        let armed = out[0].as_ref().unwrap();
        assert_eq!(armed.name, "telemetry.contest.armed");
        let f = armed.contest_fields().unwrap();
        assert_eq!(
            (f.hub_id.as_deref(), f.contest_id.as_deref()),
            (Some("hub"), None)
        );
        let resolved = out[1].as_ref().unwrap().contest_fields().unwrap();
        assert_eq!(resolved.contest_id.as_deref(), Some("c1"));
        assert_eq!(resolved.outcome_tier.as_deref(), Some("success"));
        assert_eq!(
            out[2].as_ref().unwrap_err().message,
            "timeline[2]: `type` must be a non-empty string"
        );
    }

    #[test]
    fn summaries_without_raw_name_the_flag() {
        let out = read_document(json!({"totals": {}, "durations": {}}));
        assert!(out[0]
            .as_ref()
            .unwrap_err()
            .message
            .contains("--include-raw"));
    }

    #[test]
    fn summaries_with_raw_replay_contests() {
        let out = read_document(json!({"totals": {}, "durations": {}, "raw": {
            "contests": [{"contestId": "c", "hubId": "h", "roomId": "r", "armingDurationMs": 5,
                           "resolutionDurationMs": 7, "participantCount": 2, "participantCapacity": 2,
                           "outcomes": ["success"], "resolved": true}],
            "workflowFailures": [{"contestId": "d"}],
            "expired": {"armingDurations": [1, 2], "participantCounts": [3]}
        }}));
        let names: Vec<_> = out
            .iter()
            .map(|e| e.as_ref().unwrap().name.as_str())
            .collect();
        assert_eq!(
            names,
            [
                "telemetry.contest.launched",
                "telemetry.contest.resolved",
                "telemetry.contest.workflowFailed",
                "telemetry.contest.expired",
                "telemetry.contest.expired"
            ]
        );
        let failed = out[2].as_ref().unwrap().contest_fields().unwrap();
        assert_eq!(failed.error.as_deref(), Some("workflow_failed"));
    }

    #[test]
    fn other_objects_and_scalars_are_schema_rejects() {
        assert!(read_document(json!({"foo": 1}))[0]
            .as_ref()
            .unwrap_err()
            .message
            .starts_with("not a telemetry event"));
        assert_eq!(
            read_document(json!("x"))[0].as_ref().unwrap_err().message,
            "must be a JSON object (an event), got a string"
        );
    }
}
