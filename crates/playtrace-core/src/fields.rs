//! The contest-lifecycle fields of an event, typed and validated once.
//!
//! Both ways of reading an event — the fast line scanner ([`crate::scan`]) and the generic
//! document path ([`crate::event::Event`]) — hand every attribute to [`ContestFields::set`], so
//! the same key is accepted or rejected the same way whichever path read it.

use crate::reject::LineError;
use crate::time::parse_rfc3339_ms;
use std::borrow::Cow;

/// A JSON value reduced to what field validation needs: scalars are kept, containers are not.
#[derive(Debug, Clone, PartialEq)]
pub enum Scalar<'a> {
    /// `null`.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// Any JSON number.
    Number(f64),
    /// A string, borrowed from the input when it had no escapes.
    Str(Cow<'a, str>),
    /// An array (contents not kept).
    Array,
    /// An object (contents not kept).
    Object,
}

impl Scalar<'_> {
    /// The JSON type name, for error messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Scalar::Null => "null",
            Scalar::Bool(_) => "a boolean",
            Scalar::Number(_) => "a number",
            Scalar::Str(_) => "a string",
            Scalar::Array => "an array",
            Scalar::Object => "an object",
        }
    }

    /// A short rendering of the value for error messages.
    fn describe(&self) -> String {
        match self {
            Scalar::Number(n) => crate::num::human(*n),
            Scalar::Str(s) => {
                let short: String = s.chars().take(40).collect();
                format!("\"{short}\"")
            }
            other => other.type_name().to_string(),
        }
    }
}

/// Reduces a `serde_json::Value` to a [`Scalar`] borrowing its strings.
pub fn scalar_of(value: &serde_json::Value) -> Scalar<'_> {
    use serde_json::Value;
    match value {
        Value::Null => Scalar::Null,
        Value::Bool(b) => Scalar::Bool(*b),
        Value::Number(n) => Scalar::Number(n.as_f64().unwrap_or(f64::NAN)),
        Value::String(s) => Scalar::Str(Cow::Borrowed(s)),
        Value::Array(_) => Scalar::Array,
        Value::Object(_) => Scalar::Object,
    }
}

/// Every attribute PlayTrace reads from contest lifecycle events (SPEC §3), by key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    /// `hubId`
    HubId,
    /// `roomId`
    RoomId,
    /// `contestId`
    ContestId,
    /// `contestKey`
    ContestKey,
    /// `label`
    Label,
    /// `move`
    Move,
    /// `type`
    Type,
    /// `outcomeTier`
    OutcomeTier,
    /// `error`
    Error,
    /// `actorId`
    ActorId,
    /// `sentiment`
    Sentiment,
    /// `tone`
    Tone,
    /// `phase`
    Phase,
    /// `participantCount`
    ParticipantCount,
    /// `participantCapacity`
    ParticipantCapacity,
    /// `armingDurationMs`
    ArmingDurationMs,
    /// `resolutionDurationMs`
    ResolutionDurationMs,
    /// `windowMs`
    WindowMs,
    /// `remainingCooldownMs`
    RemainingCooldownMs,
    /// `cooldownMs`
    CooldownMs,
    /// `messageLength`
    MessageLength,
    /// `createdAt`
    CreatedAt,
    /// `startedAt`
    StartedAt,
    /// `resolvedAt`
    ResolvedAt,
    /// `expiredAt`
    ExpiredAt,
    /// `issuedAt`
    IssuedAt,
}

impl Field {
    /// The field read from `key`, if PlayTrace reads that key.
    pub fn from_key(key: &str) -> Option<Field> {
        match classify_key(key) {
            KeyClass::Field(field) => Some(field),
            _ => None,
        }
    }
}

/// What a top-level key of an event line is. One match for every key the line scanner meets
/// (envelope keys and attribute keys alike), so each key is compared once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyClass {
    Field(Field),
    Event,
    Message,
    Level,
    Timestamp,
    Ts,
    Id,
    Game,
    Env,
    Session,
    Attrs,
    /// A key of a whole-document dialect (timeline, summary).
    DocumentHint,
    Other,
}

pub(crate) fn classify_key(key: &str) -> KeyClass {
    use Field as F;
    use KeyClass as K;
    match key {
        "hubId" => K::Field(F::HubId),
        "roomId" => K::Field(F::RoomId),
        "contestId" => K::Field(F::ContestId),
        "contestKey" => K::Field(F::ContestKey),
        "label" => K::Field(F::Label),
        "move" => K::Field(F::Move),
        "type" => K::Field(F::Type),
        "outcomeTier" => K::Field(F::OutcomeTier),
        "error" => K::Field(F::Error),
        "actorId" => K::Field(F::ActorId),
        "sentiment" => K::Field(F::Sentiment),
        "tone" => K::Field(F::Tone),
        "phase" => K::Field(F::Phase),
        "participantCount" => K::Field(F::ParticipantCount),
        "participantCapacity" => K::Field(F::ParticipantCapacity),
        "armingDurationMs" => K::Field(F::ArmingDurationMs),
        "resolutionDurationMs" => K::Field(F::ResolutionDurationMs),
        "windowMs" => K::Field(F::WindowMs),
        "remainingCooldownMs" => K::Field(F::RemainingCooldownMs),
        "cooldownMs" => K::Field(F::CooldownMs),
        "messageLength" => K::Field(F::MessageLength),
        "createdAt" => K::Field(F::CreatedAt),
        "startedAt" => K::Field(F::StartedAt),
        "resolvedAt" => K::Field(F::ResolvedAt),
        "expiredAt" => K::Field(F::ExpiredAt),
        "issuedAt" => K::Field(F::IssuedAt),
        "event" => K::Event,
        "message" => K::Message,
        "level" => K::Level,
        "timestamp" => K::Timestamp,
        "ts" => K::Ts,
        "id" => K::Id,
        "game" => K::Game,
        "env" => K::Env,
        "session" => K::Session,
        "attrs" => K::Attrs,
        "timeline" | "totals" | "durations" | "raw" => K::DocumentHint,
        _ => K::Other,
    }
}

/// The typed contest fields of one event; absent, `null` and empty-string values are `None`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ContestFields<'a> {
    /// Hub the contest runs in.
    pub hub_id: Option<Cow<'a, str>>,
    /// Room within the hub.
    pub room_id: Option<Cow<'a, str>>,
    /// Contest id, assigned at launch.
    pub contest_id: Option<Cow<'a, str>>,
    /// Contest key, known from arming (`verb:actorA::actorB`).
    pub contest_key: Option<Cow<'a, str>>,
    /// Display label.
    pub label: Option<Cow<'a, str>>,
    /// Move (`sparring-match`).
    pub move_: Option<Cow<'a, str>>,
    /// Contest type (`pvp`).
    pub type_: Option<Cow<'a, str>>,
    /// Outcome tier of a resolution.
    pub outcome_tier: Option<Cow<'a, str>>,
    /// Error of a workflow failure.
    pub error: Option<Cow<'a, str>>,
    /// Actor of a sentiment or rematch event.
    pub actor_id: Option<Cow<'a, str>>,
    /// Sentiment label (positive/neutral/negative).
    pub sentiment: Option<Cow<'a, str>>,
    /// Tone of a sentiment sample.
    pub tone: Option<Cow<'a, str>>,
    /// Phase of a sentiment sample (cooldown/post-cooldown/post-expiration).
    pub phase: Option<Cow<'a, str>>,
    /// Participants in the contest.
    pub participant_count: Option<u32>,
    /// Participants the contest asked for.
    pub participant_capacity: Option<u32>,
    /// Explicit arming duration.
    pub arming_ms: Option<f64>,
    /// Explicit resolution duration.
    pub resolution_ms: Option<f64>,
    /// Arming window.
    pub window_ms: Option<f64>,
    /// Cooldown left when a sentiment sample was taken.
    pub remaining_cooldown_ms: Option<f64>,
    /// Cooldown length.
    pub cooldown_ms: Option<f64>,
    /// Length of the message a sentiment sample scored.
    pub message_length: Option<f64>,
    /// When the contest was armed (epoch ms).
    pub created_at: Option<f64>,
    /// When the contest launched (epoch ms).
    pub started_at: Option<f64>,
    /// When the contest resolved (epoch ms).
    pub resolved_at: Option<f64>,
    /// When the contest expired (epoch ms).
    pub expired_at: Option<f64>,
    /// When a sentiment sample was issued (epoch ms).
    pub issued_at: Option<f64>,
}

/// Largest participant count accepted (anything above is a bug in the instrumentation).
const MAX_COUNT: f64 = 1_000_000.0;

impl<'a> ContestFields<'a> {
    /// Stores `value` as `field`, validating its type. `key` names the field in errors.
    pub fn set(&mut self, field: Field, value: Scalar<'a>) -> Result<(), LineError> {
        use Field as F;
        match field {
            F::HubId => self.hub_id = string(field, value)?,
            F::RoomId => self.room_id = string(field, value)?,
            F::ContestId => self.contest_id = string(field, value)?,
            F::ContestKey => self.contest_key = string(field, value)?,
            F::Label => self.label = string(field, value)?,
            F::Move => self.move_ = string(field, value)?,
            F::Type => self.type_ = string(field, value)?,
            F::OutcomeTier => self.outcome_tier = string(field, value)?,
            F::Error => self.error = string(field, value)?,
            F::ActorId => self.actor_id = string(field, value)?,
            F::Sentiment => self.sentiment = string(field, value)?,
            F::Tone => self.tone = string(field, value)?,
            F::Phase => self.phase = string(field, value)?,
            F::ParticipantCount => self.participant_count = count(field, value)?,
            F::ParticipantCapacity => self.participant_capacity = count(field, value)?,
            F::ArmingDurationMs => self.arming_ms = duration(field, value)?,
            F::ResolutionDurationMs => self.resolution_ms = duration(field, value)?,
            F::WindowMs => self.window_ms = number(field, value)?,
            F::RemainingCooldownMs => self.remaining_cooldown_ms = number(field, value)?,
            F::CooldownMs => self.cooldown_ms = number(field, value)?,
            F::MessageLength => self.message_length = number(field, value)?,
            F::CreatedAt => self.created_at = time(field, value)?,
            F::StartedAt => self.started_at = time(field, value)?,
            F::ResolvedAt => self.resolved_at = time(field, value)?,
            F::ExpiredAt => self.expired_at = time(field, value)?,
            F::IssuedAt => self.issued_at = time(field, value)?,
        }
        Ok(())
    }

    /// Reads every known key of an attribute map (the generic path). When several values are
    /// invalid, the error names the alphabetically first key, as the line scanner does.
    pub fn from_attrs(
        attrs: &'a serde_json::Map<String, serde_json::Value>,
    ) -> Result<Self, LineError> {
        let mut fields = ContestFields::default();
        let mut first_error: Option<(&str, LineError)> = None;
        for (key, value) in attrs {
            if let Some(field) = Field::from_key(key) {
                if let Err(e) = fields.set(field, scalar_of(value)) {
                    if first_error.as_ref().is_none_or(|(k, _)| key.as_str() < *k) {
                        first_error = Some((key, e));
                    }
                }
            }
        }
        match first_error {
            Some((_, e)) => Err(e),
            None => Ok(fields),
        }
    }
}

pub(crate) fn key_name(field: Field) -> &'static str {
    use Field as F;
    match field {
        F::HubId => "hubId",
        F::RoomId => "roomId",
        F::ContestId => "contestId",
        F::ContestKey => "contestKey",
        F::Label => "label",
        F::Move => "move",
        F::Type => "type",
        F::OutcomeTier => "outcomeTier",
        F::Error => "error",
        F::ActorId => "actorId",
        F::Sentiment => "sentiment",
        F::Tone => "tone",
        F::Phase => "phase",
        F::ParticipantCount => "participantCount",
        F::ParticipantCapacity => "participantCapacity",
        F::ArmingDurationMs => "armingDurationMs",
        F::ResolutionDurationMs => "resolutionDurationMs",
        F::WindowMs => "windowMs",
        F::RemainingCooldownMs => "remainingCooldownMs",
        F::CooldownMs => "cooldownMs",
        F::MessageLength => "messageLength",
        F::CreatedAt => "createdAt",
        F::StartedAt => "startedAt",
        F::ResolvedAt => "resolvedAt",
        F::ExpiredAt => "expiredAt",
        F::IssuedAt => "issuedAt",
    }
}

fn wrong(field: Field, want: &str, got: &Scalar<'_>) -> LineError {
    LineError::schema(format!(
        "field `{}` must be {want}, got {}",
        key_name(field),
        got.describe()
    ))
}

fn string<'a>(field: Field, value: Scalar<'a>) -> Result<Option<Cow<'a, str>>, LineError> {
    match value {
        Scalar::Null => Ok(None),
        Scalar::Str(s) if s.is_empty() => Ok(None),
        Scalar::Str(s) => Ok(Some(s)),
        other => Err(wrong(field, "a string", &other)),
    }
}

fn count(field: Field, value: Scalar<'_>) -> Result<Option<u32>, LineError> {
    match value {
        Scalar::Null => Ok(None),
        Scalar::Number(n) if n >= 0.0 && n.fract() == 0.0 && n <= MAX_COUNT => Ok(Some(n as u32)),
        other => Err(wrong(field, "a whole number from 0 to 1000000", &other)),
    }
}

fn duration(field: Field, value: Scalar<'_>) -> Result<Option<f64>, LineError> {
    match value {
        Scalar::Null => Ok(None),
        Scalar::Number(n) if n.is_finite() && n >= 0.0 => Ok(Some(n)),
        other => Err(wrong(field, "a number of milliseconds, 0 or more", &other)),
    }
}

fn number(field: Field, value: Scalar<'_>) -> Result<Option<f64>, LineError> {
    match value {
        Scalar::Null => Ok(None),
        Scalar::Number(n) if n.is_finite() => Ok(Some(n)),
        other => Err(wrong(field, "a number", &other)),
    }
}

/// Reads a time: epoch milliseconds or an RFC 3339 string. Also used for `ts`/`timestamp`.
pub fn time_value(name: &str, value: Scalar<'_>) -> Result<Option<f64>, LineError> {
    match value {
        Scalar::Null => Ok(None),
        Scalar::Number(n) if n.is_finite() => Ok(Some(n)),
        Scalar::Str(ref s) => match parse_rfc3339_ms(s) {
            Some(ms) => Ok(Some(ms)),
            None => Err(LineError::schema(format!(
                "field `{name}` must be epoch milliseconds or an RFC 3339 time like 2025-11-05T04:53:28.025Z, got {}",
                value.describe()
            ))),
        },
        other => Err(LineError::schema(format!(
            "field `{name}` must be epoch milliseconds or an RFC 3339 time, got {}",
            other.describe()
        ))),
    }
}

fn time(field: Field, value: Scalar<'_>) -> Result<Option<f64>, LineError> {
    time_value(key_name(field), value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> Scalar<'_> {
        Scalar::Str(Cow::Borrowed(v))
    }

    #[test]
    fn strings_treat_empty_as_absent() {
        let mut f = ContestFields::default();
        f.set(Field::HubId, s("hub-a")).unwrap();
        f.set(Field::RoomId, s("")).unwrap();
        f.set(Field::ContestId, Scalar::Null).unwrap();
        assert_eq!(f.hub_id.as_deref(), Some("hub-a"));
        assert_eq!(f.room_id, None);
        assert_eq!(f.contest_id, None);
    }

    #[test]
    fn wrong_types_name_the_field() {
        let mut f = ContestFields::default();
        let err = f.set(Field::ArmingDurationMs, s("420")).unwrap_err();
        assert_eq!(
            err.message,
            "field `armingDurationMs` must be a number of milliseconds, 0 or more, got \"420\""
        );
        let err = f
            .set(Field::ParticipantCount, Scalar::Number(2.5))
            .unwrap_err();
        assert!(err
            .message
            .contains("`participantCount` must be a whole number"));
        let err = f.set(Field::HubId, Scalar::Number(3.0)).unwrap_err();
        assert_eq!(err.message, "field `hubId` must be a string, got 3");
        assert!(f
            .set(Field::ResolutionDurationMs, Scalar::Number(-1.0))
            .is_err());
    }

    #[test]
    fn times_accept_epoch_ms_and_rfc3339() {
        let mut f = ContestFields::default();
        f.set(Field::CreatedAt, Scalar::Number(100.0)).unwrap();
        f.set(Field::StartedAt, s("1970-01-01T00:00:00.340Z"))
            .unwrap();
        assert_eq!((f.created_at, f.started_at), (Some(100.0), Some(340.0)));
        let err = f.set(Field::ResolvedAt, s("soon")).unwrap_err();
        assert!(err
            .message
            .starts_with("field `resolvedAt` must be epoch milliseconds or an RFC 3339 time"));
    }

    #[test]
    fn every_field_round_trips_its_key() {
        for key in [
            "hubId",
            "roomId",
            "contestId",
            "contestKey",
            "label",
            "move",
            "type",
            "outcomeTier",
            "error",
            "actorId",
            "sentiment",
            "tone",
            "phase",
            "participantCount",
            "participantCapacity",
            "armingDurationMs",
            "resolutionDurationMs",
            "windowMs",
            "remainingCooldownMs",
            "cooldownMs",
            "messageLength",
            "createdAt",
            "startedAt",
            "resolvedAt",
            "expiredAt",
            "issuedAt",
        ] {
            let field = Field::from_key(key).unwrap();
            assert_eq!(key_name(field), key);
        }
        assert_eq!(Field::from_key("contestid"), None);
    }
}
