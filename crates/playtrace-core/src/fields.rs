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

/// Every attribute PlayTrace reads from contest lifecycle events (SPEC §3), by key. Declared in
/// alphabetical order of the keys: validating fields in this order reports the alphabetically
/// first bad key, whichever path read the event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    /// `actorId`
    ActorId,
    /// `armingDurationMs`
    ArmingDurationMs,
    /// `contestId`
    ContestId,
    /// `contestKey`
    ContestKey,
    /// `cooldownMs`
    CooldownMs,
    /// `createdAt`
    CreatedAt,
    /// `error`
    Error,
    /// `expiredAt`
    ExpiredAt,
    /// `hubId`
    HubId,
    /// `issuedAt`
    IssuedAt,
    /// `label`
    Label,
    /// `messageLength`
    MessageLength,
    /// `move`
    Move,
    /// `outcomeTier`
    OutcomeTier,
    /// `participantCapacity`
    ParticipantCapacity,
    /// `participantCount`
    ParticipantCount,
    /// `phase`
    Phase,
    /// `remainingCooldownMs`
    RemainingCooldownMs,
    /// `resolutionDurationMs`
    ResolutionDurationMs,
    /// `resolvedAt`
    ResolvedAt,
    /// `roomId`
    RoomId,
    /// `sentiment`
    Sentiment,
    /// `startedAt`
    StartedAt,
    /// `tone`
    Tone,
    /// `type`
    Type,
    /// `windowMs`
    WindowMs,
}

impl Field {
    /// Number of fields.
    pub const COUNT: usize = 26;

    /// Every field, in declaration (alphabetical) order.
    pub const ALL: [Field; Field::COUNT] = [
        Field::ActorId,
        Field::ArmingDurationMs,
        Field::ContestId,
        Field::ContestKey,
        Field::CooldownMs,
        Field::CreatedAt,
        Field::Error,
        Field::ExpiredAt,
        Field::HubId,
        Field::IssuedAt,
        Field::Label,
        Field::MessageLength,
        Field::Move,
        Field::OutcomeTier,
        Field::ParticipantCapacity,
        Field::ParticipantCount,
        Field::Phase,
        Field::RemainingCooldownMs,
        Field::ResolutionDurationMs,
        Field::ResolvedAt,
        Field::RoomId,
        Field::Sentiment,
        Field::StartedAt,
        Field::Tone,
        Field::Type,
        Field::WindowMs,
    ];

    /// The field read from `key`, if PlayTrace reads that key.
    pub fn from_key(key: &str) -> Option<Field> {
        Field::ALL.get(usize::from(classify_key(key))).copied()
    }
}

/// Slot numbers of the keys the line scanner recognises: the fields first (slot = `Field`
/// number), then the envelope keys, then a slot for every other key. `attrs` and the keys of
/// whole-document dialects come after and are handled apart.
pub(crate) mod slot {
    /// `event`
    pub const EVENT: u8 = 26;
    /// `message`
    pub const MESSAGE: u8 = 27;
    /// `level`
    pub const LEVEL: u8 = 28;
    /// `timestamp`
    pub const TIMESTAMP: u8 = 29;
    /// `ts`
    pub const TS: u8 = 30;
    /// `id`
    pub const ID: u8 = 31;
    /// `game`
    pub const GAME: u8 = 32;
    /// `env`
    pub const ENV: u8 = 33;
    /// `session`
    pub const SESSION: u8 = 34;
    /// Any key PlayTrace does not read (its value is still parsed, then dropped).
    pub const OTHER: u8 = 35;
    /// Number of slots a line's values are stored in.
    pub const COUNT: usize = 36;
    /// `attrs`
    pub const ATTRS: u8 = 36;
    /// `timeline`, `totals`, `durations`, `raw`: a whole document, not an event.
    pub const DOCUMENT: u8 = 37;
}

/// Every key the line scanner recognises, with its slot.
const KEYS: [(&str, u8); 40] = [
    ("actorId", 0),
    ("armingDurationMs", 1),
    ("contestId", 2),
    ("contestKey", 3),
    ("cooldownMs", 4),
    ("createdAt", 5),
    ("error", 6),
    ("expiredAt", 7),
    ("hubId", 8),
    ("issuedAt", 9),
    ("label", 10),
    ("messageLength", 11),
    ("move", 12),
    ("outcomeTier", 13),
    ("participantCapacity", 14),
    ("participantCount", 15),
    ("phase", 16),
    ("remainingCooldownMs", 17),
    ("resolutionDurationMs", 18),
    ("resolvedAt", 19),
    ("roomId", 20),
    ("sentiment", 21),
    ("startedAt", 22),
    ("tone", 23),
    ("type", 24),
    ("windowMs", 25),
    ("event", slot::EVENT),
    ("message", slot::MESSAGE),
    ("level", slot::LEVEL),
    ("timestamp", slot::TIMESTAMP),
    ("ts", slot::TS),
    ("id", slot::ID),
    ("game", slot::GAME),
    ("env", slot::ENV),
    ("session", slot::SESSION),
    ("attrs", slot::ATTRS),
    ("timeline", slot::DOCUMENT),
    ("totals", slot::DOCUMENT),
    ("durations", slot::DOCUMENT),
    ("raw", slot::DOCUMENT),
];

/// Multiplier of the key hash. Chosen (by trying random odd numbers) so that the 40 keys above
/// land in 40 different slots of 128; [`key_table`] fails the build if a change breaks that.
const KEY_HASH_MULTIPLIER: u64 = 0xf343_5d96_3dce_743f;

/// Slot of a key (at least 2 bytes long): hashes its first two bytes, last two bytes and length.
const fn key_slot(key: &[u8]) -> usize {
    let n = key.len();
    let x = key[0] as u64
        | (key[1] as u64) << 8
        | (key[n - 2] as u64) << 16
        | (key[n - 1] as u64) << 24
        | (n as u64) << 32;
    (x.wrapping_mul(KEY_HASH_MULTIPLIER) >> 57) as usize
}

const fn key_table() -> [(&'static [u8], u8); 128] {
    let mut table: [(&'static [u8], u8); 128] = [(b"", slot::OTHER); 128];
    let mut i = 0;
    while i < KEYS.len() {
        let key = KEYS[i].0.as_bytes();
        let at = key_slot(key);
        if !table[at].0.is_empty() {
            panic!("two scanner keys hash to one slot: choose another KEY_HASH_MULTIPLIER");
        }
        table[at] = (key, KEYS[i].1);
        i += 1;
    }
    table
}

/// Key lookup table, built at compile time.
static KEY_TABLE: [(&[u8], u8); 128] = key_table();

/// The slot of a key ([`slot`]), with one hash and one comparison: this runs for every key of
/// every line, where a `match` on strings would become a mispredicted indirect jump.
#[inline]
pub(crate) fn classify_key(key: &str) -> u8 {
    let key = key.as_bytes();
    if key.len() < 2 {
        return slot::OTHER;
    }
    let (known, code) = KEY_TABLE[key_slot(key)];
    if same_short_key(known, key) {
        code
    } else {
        slot::OTHER
    }
}

/// `a == b` for keys of at most 24 bytes, with a few overlapping word loads instead of a call to
/// `memcmp` (which a slice comparison of unknown length becomes).
#[inline]
fn same_short_key(a: &[u8], b: &[u8]) -> bool {
    fn word<const N: usize>(s: &[u8], at: usize) -> [u8; N] {
        let mut w = [0u8; N];
        w.copy_from_slice(&s[at..at + N]);
        w
    }
    let n = a.len();
    if n != b.len() {
        return false;
    }
    match n {
        0..=1 => a == b,
        2..=3 => word::<2>(a, 0) == word::<2>(b, 0) && word::<2>(a, n - 2) == word::<2>(b, n - 2),
        4..=7 => word::<4>(a, 0) == word::<4>(b, 0) && word::<4>(a, n - 4) == word::<4>(b, n - 4),
        8..=16 => word::<8>(a, 0) == word::<8>(b, 0) && word::<8>(a, n - 8) == word::<8>(b, n - 8),
        17..=24 => {
            word::<8>(a, 0) == word::<8>(b, 0)
                && word::<8>(a, 8) == word::<8>(b, 8)
                && word::<8>(a, n - 8) == word::<8>(b, n - 8)
        }
        _ => a == b,
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
    /// `label`: a display name for people; type-checked, never correlated or grouped on.
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
    /// `windowMs`: how long arming may last, ms (senders compute `expiresAt − createdAt`).
    pub window_ms: Option<f64>,
    /// Cooldown left when a sentiment sample was taken.
    pub remaining_cooldown_ms: Option<f64>,
    /// Full rematch cooldown, ms (`cooldownMs` of sentiment and rematch events).
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
        // Every line sets a dozen fields, so the happy path stays inline and allocation-free;
        // errors are built on the cold path only.
        macro_rules! text {
            ($slot:expr) => {
                match value {
                    Scalar::Null => $slot = None,
                    Scalar::Str(s) => $slot = (!s.is_empty()).then_some(s),
                    other => return Err(wrong(field, "a string", &other)),
                }
            };
        }
        macro_rules! checked {
            ($slot:expr, $convert:expr, $want:expr) => {
                match value {
                    Scalar::Null => $slot = None,
                    other => match $convert(&other) {
                        Some(v) => $slot = Some(v),
                        None => return Err(wrong(field, $want, &other)),
                    },
                }
            };
        }
        match field {
            F::HubId => text!(self.hub_id),
            F::RoomId => text!(self.room_id),
            F::ContestId => text!(self.contest_id),
            F::ContestKey => text!(self.contest_key),
            F::Label => text!(self.label),
            F::Move => text!(self.move_),
            F::Type => text!(self.type_),
            F::OutcomeTier => text!(self.outcome_tier),
            F::Error => text!(self.error),
            F::ActorId => text!(self.actor_id),
            F::Sentiment => text!(self.sentiment),
            F::Tone => text!(self.tone),
            F::Phase => text!(self.phase),
            F::ParticipantCount => checked!(self.participant_count, count, COUNT_WANTED),
            F::ParticipantCapacity => checked!(self.participant_capacity, count, COUNT_WANTED),
            F::ArmingDurationMs => checked!(self.arming_ms, duration, DURATION_WANTED),
            F::ResolutionDurationMs => checked!(self.resolution_ms, duration, DURATION_WANTED),
            F::WindowMs => checked!(self.window_ms, number, "a number"),
            F::RemainingCooldownMs => checked!(self.remaining_cooldown_ms, number, "a number"),
            F::CooldownMs => checked!(self.cooldown_ms, number, "a number"),
            F::MessageLength => checked!(self.message_length, number, "a number"),
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
    // `KEYS` starts with the fields, in declaration order.
    KEYS[field as usize].0
}

#[cold]
fn wrong(field: Field, want: &str, got: &Scalar<'_>) -> LineError {
    LineError::schema(format!(
        "field `{}` must be {want}, got {}",
        key_name(field),
        got.describe()
    ))
}

const COUNT_WANTED: &str = "a whole number from 0 to 1000000";
const DURATION_WANTED: &str = "a number of milliseconds, 0 or more";

#[inline]
fn count(value: &Scalar<'_>) -> Option<u32> {
    match *value {
        Scalar::Number(n) if n >= 0.0 && n.fract() == 0.0 && n <= MAX_COUNT => Some(n as u32),
        _ => None,
    }
}

#[inline]
fn duration(value: &Scalar<'_>) -> Option<f64> {
    match *value {
        Scalar::Number(n) if n.is_finite() && n >= 0.0 => Some(n),
        _ => None,
    }
}

#[inline]
fn number(value: &Scalar<'_>) -> Option<f64> {
    match *value {
        Scalar::Number(n) if n.is_finite() => Some(n),
        _ => None,
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
#[path = "fields_tests.rs"]
mod tests;
