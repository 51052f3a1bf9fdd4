//! The internal event envelope every dialect is normalised to, and event-name classification.
//!
//! Dialects of a single event object (SPEC §2):
//! - **native**: the object has an `event` key. Envelope keys: `event` (required, non-empty
//!   string), `ts` (epoch ms or RFC 3339), `id` (string or number), `game`, `env`, `session`
//!   (strings) and `attrs` (object). Other top-level keys are ignored.
//! - **structured log line**: the object has `message` and no `event`. `message` is the event
//!   name, `level` a string, `timestamp` the event time; every other key becomes an attribute.
//!
//! [`crate::scan`] reads the same dialects straight from bytes without building this envelope;
//! both go through [`check_envelope`] and [`crate::fields::ContestFields::set`] so they agree.

use crate::fields::{scalar_of, time_value, ContestFields, Scalar};
use crate::reject::LineError;
use serde_json::{Map, Value};

/// One telemetry event after normalisation.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// Event name, e.g. `telemetry.contest.resolved` (timeline hub topics already mapped).
    pub name: String,
    /// Event time in epoch milliseconds, when the event carried one.
    pub time_ms: Option<f64>,
    /// Client event id (native `id`), the idempotency key at the collector.
    pub id: Option<String>,
    /// Game the event belongs to (native `game`).
    pub game: Option<String>,
    /// Environment (native `env`: prod, staging, ...).
    pub env: Option<String>,
    /// Session (native `session`).
    pub session: Option<String>,
    /// Log level of a structured log line.
    pub level: Option<String>,
    /// Attributes: native `attrs`, or every non-envelope key of a structured line.
    pub attrs: Map<String, Value>,
}

/// Envelope keys whose values are validated, per dialect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnvelopeKey {
    /// Native `ts`.
    Ts,
    /// Native `id`.
    Id,
    /// Native `game`, `env` or `session`.
    Scope(&'static str),
    /// Structured `level`.
    Level,
    /// Structured `timestamp`.
    Timestamp,
}

/// Validates one envelope value; `Ok(Some(ms))` for times.
pub fn check_envelope(key: EnvelopeKey, value: &Scalar<'_>) -> Result<Option<f64>, LineError> {
    let wrong = |name: &str, want: &str| {
        LineError::schema(format!(
            "field `{name}` must be {want}, got {}",
            value.type_name()
        ))
    };
    match key {
        EnvelopeKey::Ts => time_value("ts", value.clone()),
        EnvelopeKey::Timestamp => time_value("timestamp", value.clone()),
        EnvelopeKey::Id => match value {
            Scalar::Null | Scalar::Str(_) | Scalar::Number(_) => Ok(None),
            _ => Err(wrong("id", "a string or a number")),
        },
        EnvelopeKey::Scope(name) => match value {
            Scalar::Null | Scalar::Str(_) => Ok(None),
            _ => Err(wrong(name, "a string")),
        },
        EnvelopeKey::Level => match value {
            Scalar::Null | Scalar::Str(_) => Ok(None),
            _ => Err(wrong("level", "a string")),
        },
    }
}

/// Validates an event name taken from `key` (`event` or `message`).
pub fn check_name<'a>(
    key: &str,
    value: Scalar<'a>,
) -> Result<std::borrow::Cow<'a, str>, LineError> {
    match value {
        Scalar::Str(s) if !s.trim().is_empty() => Ok(normalize_name(s)),
        other => Err(LineError::schema(format!(
            "field `{key}` (the event name) must be a non-empty string, got {}",
            match &other {
                Scalar::Str(_) => "an empty string",
                o => o.type_name(),
            }
        ))),
    }
}

/// The error for an object that has no event name.
pub fn missing_name() -> LineError {
    LineError::schema(
        "no event name: a line needs `event` (native envelope) or `message` (structured log line)",
    )
}

/// Maps timeline hub topics (`telemetry.hub.contestArmed`) to contest events
/// (`telemetry.contest.armed`); other names are kept as they are.
pub fn normalize_name(name: std::borrow::Cow<'_, str>) -> std::borrow::Cow<'_, str> {
    const HUB: &str = "telemetry.hub.contest";
    if let Some(rest) = name.strip_prefix(HUB) {
        let mut chars = rest.chars();
        if let Some(first) = chars.next().filter(char::is_ascii_uppercase) {
            return format!(
                "telemetry.contest.{}{}",
                first.to_ascii_lowercase(),
                chars.as_str()
            )
            .into();
        }
    }
    name
}

impl Event {
    /// Normalises one event object of either dialect.
    pub fn from_object(mut object: Map<String, Value>) -> Result<Event, LineError> {
        if let Some(name) = object.get("event") {
            let name = check_name("event", scalar_of(name))?.into_owned();
            let mut time_ms = None;
            let mut scope = [None, None, None, None];
            for (slot, (key, envelope)) in scope.iter_mut().zip([
                ("id", EnvelopeKey::Id),
                ("game", EnvelopeKey::Scope("game")),
                ("env", EnvelopeKey::Scope("env")),
                ("session", EnvelopeKey::Scope("session")),
            ]) {
                if let Some(v) = object.get(key) {
                    check_envelope(envelope, &scalar_of(v))?;
                    *slot = match v {
                        Value::String(s) => Some(s.clone()),
                        // As the line scanner does: one text per numeric id, however written.
                        Value::Number(n) => n.as_f64().map(crate::num::human),
                        _ => None,
                    };
                }
            }
            if let Some(v) = object.get("ts") {
                time_ms = check_envelope(EnvelopeKey::Ts, &scalar_of(v))?;
            }
            let attrs = match object.remove("attrs") {
                None | Some(Value::Null) => Map::new(),
                Some(Value::Object(attrs)) => attrs,
                Some(other) => {
                    return Err(LineError::schema(format!(
                        "field `attrs` must be an object, got {}",
                        scalar_of(&other).type_name()
                    )))
                }
            };
            // Validate attributes now so a bad one rejects the event on every path.
            ContestFields::from_attrs(&attrs)?;
            let [id, game, env, session] = scope;
            Ok(Event {
                name,
                time_ms,
                id,
                game,
                env,
                session,
                level: None,
                attrs,
            })
        } else if let Some(name) = object.remove("message") {
            let name = check_name("message", scalar_of(&name))?.into_owned();
            let level = match object.remove("level") {
                Some(v) => {
                    check_envelope(EnvelopeKey::Level, &scalar_of(&v))?;
                    v.as_str().map(str::to_owned)
                }
                None => None,
            };
            let time_ms = match object.remove("timestamp") {
                Some(v) => check_envelope(EnvelopeKey::Timestamp, &scalar_of(&v))?,
                None => None,
            };
            ContestFields::from_attrs(&object)?;
            Ok(Event {
                name,
                time_ms,
                id: None,
                game: None,
                env: None,
                session: None,
                level,
                attrs: object,
            })
        } else {
            Err(missing_name())
        }
    }

    /// The event's contest fields (already validated when the event was built).
    pub fn contest_fields(&self) -> Result<ContestFields<'_>, LineError> {
        ContestFields::from_attrs(&self.attrs)
    }

    /// What kind of event this is.
    pub fn kind(&self) -> EventKind {
        EventKind::of(&self.name)
    }
}

/// Contest lifecycle events by name (SPEC §3); everything else is [`EventKind::Other`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventKind {
    /// `telemetry.contest.armed`
    Armed,
    /// `telemetry.contest.launched`
    Launched,
    /// `telemetry.contest.workflowStarted`
    WorkflowStarted,
    /// `telemetry.contest.workflowFailed`
    WorkflowFailed,
    /// `telemetry.contest.resolved`
    Resolved,
    /// `telemetry.contest.expired`
    Expired,
    /// `telemetry.contest.rematchCooling`
    RematchCooling,
    /// `telemetry.contest.rematchBlocked`
    RematchBlocked,
    /// `telemetry.contest.sentiment`
    Sentiment,
    /// `telemetry.contest.timingFallback`
    TimingFallback,
    /// Another `telemetry.contest.*` event.
    OtherContest,
    /// Any other event.
    Other,
}

impl EventKind {
    /// Classifies an event name.
    pub fn of(name: &str) -> EventKind {
        let Some(rest) = name.strip_prefix("telemetry.contest.") else {
            return EventKind::Other;
        };
        match rest {
            "armed" => EventKind::Armed,
            "launched" => EventKind::Launched,
            "workflowStarted" => EventKind::WorkflowStarted,
            "workflowFailed" => EventKind::WorkflowFailed,
            "resolved" => EventKind::Resolved,
            "expired" => EventKind::Expired,
            "rematchCooling" => EventKind::RematchCooling,
            "rematchBlocked" => EventKind::RematchBlocked,
            "sentiment" => EventKind::Sentiment,
            "timingFallback" => EventKind::TimingFallback,
            _ => EventKind::OtherContest,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => unreachable!(),
        }
    }

    #[test]
    fn reads_structured_log_lines() {
        let e = Event::from_object(obj(json!({
            "level": "info", "timestamp": "1970-01-01T00:00:01Z",
            "message": "telemetry.contest.launched", "contestId": "c1", "armingDurationMs": 420
        })))
        .unwrap();
        assert_eq!(e.name, "telemetry.contest.launched");
        assert_eq!(e.time_ms, Some(1000.0));
        assert_eq!(e.level.as_deref(), Some("info"));
        assert_eq!(e.kind(), EventKind::Launched);
        let f = e.contest_fields().unwrap();
        assert_eq!(f.contest_id.as_deref(), Some("c1"));
        assert_eq!(f.arming_ms, Some(420.0));
    }

    #[test]
    fn reads_native_envelopes() {
        let e = Event::from_object(obj(json!({
            "event": "telemetry.contest.resolved", "ts": 1234, "id": 7, "game": "gf",
            "env": "staging", "session": "s1", "attrs": {"contestId": "c1", "resolutionDurationMs": 580},
            "unknown": {"ignored": true}
        })))
        .unwrap();
        assert_eq!(e.time_ms, Some(1234.0));
        assert_eq!(e.id.as_deref(), Some("7"));
        assert_eq!(
            (e.game.as_deref(), e.env.as_deref()),
            (Some("gf"), Some("staging"))
        );
        assert_eq!(e.contest_fields().unwrap().resolution_ms, Some(580.0));
    }

    #[test]
    fn schema_errors_explain_themselves() {
        let err = Event::from_object(obj(json!({"level": "info"}))).unwrap_err();
        assert!(err.message.starts_with("no event name"));
        let err = Event::from_object(obj(json!({"event": ""}))).unwrap_err();
        assert!(err
            .message
            .contains("must be a non-empty string, got an empty string"));
        let err = Event::from_object(obj(json!({"event": "x", "attrs": [1]}))).unwrap_err();
        assert_eq!(err.message, "field `attrs` must be an object, got an array");
        let err =
            Event::from_object(obj(json!({"message": "x", "timestamp": "soon"}))).unwrap_err();
        assert!(err
            .message
            .starts_with("field `timestamp` must be epoch milliseconds"));
        let err = Event::from_object(obj(json!({"message": "x", "hubId": 3}))).unwrap_err();
        assert_eq!(err.message, "field `hubId` must be a string, got 3");
    }

    #[test]
    fn hub_topics_map_to_contest_events() {
        assert_eq!(
            normalize_name("telemetry.hub.contestArmed".into()),
            "telemetry.contest.armed"
        );
        assert_eq!(
            normalize_name("telemetry.hub.contestWorkflowFailed".into()),
            "telemetry.contest.workflowFailed"
        );
        assert_eq!(
            normalize_name("telemetry.hub.contest".into()),
            "telemetry.hub.contest"
        );
        assert_eq!(normalize_name("chat.message".into()), "chat.message");
        assert_eq!(
            EventKind::of("telemetry.contest.somethingNew"),
            EventKind::OtherContest
        );
        assert_eq!(EventKind::of("telemetry.contestant"), EventKind::Other);
    }
}
