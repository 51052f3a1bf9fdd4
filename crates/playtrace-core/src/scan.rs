//! Reading NDJSON lines fast, and the compact observations the correlator consumes.
//!
//! [`scan_line_with`] reads one line of either event dialect straight from the text: it
//! validates the whole line as JSON, keeps only the keys PlayTrace reads (by slot, see
//! [`crate::fields`]), and borrows strings from the line unless they contain escapes. Plain
//! event lines go through a strict fast reader (`scan/fast.rs`); any line it does not vouch for
//! is re-read with a serde_json visitor, which decides and words every error. Both apply the
//! same validation as the generic [`Event`] path (property tests hold all three equal). Lines
//! that are whole documents (a one-line timeline, an array of events) go to [`crate::dialect`].
//!
//! [`ObservationBatch`] turns a block of lines into owned, compact [`Observation`]s (strings
//! copied into one arena, contest ids hashed), so batches can be built on worker threads and
//! folded in input order by [`crate::contest::Correlator`].

use crate::dialect::read_document;
use crate::event::{check_envelope, check_name, missing_name, EnvelopeKey, Event, EventKind};
use crate::fields::{classify_key, slot, ContestFields, Field, Scalar};
use crate::reject::{raw_text, LineError, RejectKind};
use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use std::borrow::Cow;
use std::fmt;

/// One event read from a line, borrowing the scanner's state (handed to a callback so the
/// large field set is never moved).
#[derive(Debug)]
pub struct EventRef<'s, 'a> {
    /// Event name (hub topics mapped).
    pub name: Cow<'a, str>,
    /// Event time, epoch ms.
    pub time_ms: Option<f64>,
    /// Contest fields (native `attrs`, or the structured line's own keys).
    pub fields: &'s ContestFields<'a>,
    /// Native envelope keys (id, game, env, session); empty for structured log lines.
    pub envelope: Envelope<'a>,
}

/// The envelope keys the collector stores and scopes by (SPEC §2).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Envelope<'a> {
    /// Client event id (a number is kept as its decimal text).
    pub id: Option<Cow<'a, str>>,
    /// Game.
    pub game: Option<Cow<'a, str>>,
    /// Environment.
    pub env: Option<Cow<'a, str>>,
    /// Session.
    pub session: Option<Cow<'a, str>>,
}

impl<'a> Envelope<'a> {
    /// The envelope of an already normalised event.
    pub fn of_event(event: &'a Event) -> Self {
        Envelope {
            id: event.id.as_deref().map(Cow::Borrowed),
            game: event.game.as_deref().map(Cow::Borrowed),
            env: event.env.as_deref().map(Cow::Borrowed),
            session: event.session.as_deref().map(Cow::Borrowed),
        }
    }
}

/// A validated envelope value as text (`null` is absent).
fn envelope_text(value: Scalar<'_>) -> Option<Cow<'_, str>> {
    match value {
        Scalar::Str(s) => Some(s),
        Scalar::Number(n) => Some(Cow::Owned(crate::num::human(n))),
        _ => None,
    }
}

/// One event read from a line, owned (for callers off the hot path).
#[derive(Debug, Clone, PartialEq)]
pub struct ScannedEvent<'a> {
    /// Event name (hub topics mapped).
    pub name: Cow<'a, str>,
    /// Event time, epoch ms.
    pub time_ms: Option<f64>,
    /// Contest fields.
    pub fields: ContestFields<'a>,
}

/// What a line turned out to be.
#[derive(Debug, Clone, PartialEq)]
pub enum LineScan<R> {
    /// A single event (what the callback returned for it).
    Event(R),
    /// Valid JSON that is a whole document (array of events, timeline, summary): re-read it with
    /// [`crate::dialect::read_document`].
    Document,
}

/// Reads one NDJSON line (without its newline) and, if it is an event, calls `on_event` with it.
pub fn scan_line_with<'a, R>(
    line: &'a str,
    on_event: impl FnOnce(EventRef<'_, 'a>) -> R,
) -> Result<LineScan<R>, LineError> {
    let mut top = Top::default();
    if fast::read_line(line, &mut top).is_some() {
        return top.finish(on_event);
    }
    // Not a line the fast reader vouches for (often: not valid JSON): serde_json decides.
    scan_line_serde(line, on_event)
}

/// [`scan_line_with`] through serde_json only: the reference the fast reader is tested against.
fn scan_line_serde<'a, R>(
    line: &'a str,
    on_event: impl FnOnce(EventRef<'_, 'a>) -> R,
) -> Result<LineScan<R>, LineError> {
    let mut de = serde_json::Deserializer::from_str(line);
    let mut top = Top::default();
    let shape = (&mut de)
        .deserialize_any(TopVisitor { top: &mut top })
        .map_err(json_error)?;
    de.end().map_err(json_error)?;
    match shape {
        Shape::Object => top.finish(on_event),
        Shape::Array => Ok(LineScan::Document),
        Shape::Scalar(type_name) => Err(LineError::schema(format!(
            "must be a JSON object (an event), got {type_name}"
        ))),
    }
}

/// Reads one NDJSON line into an owned event.
pub fn scan_line(line: &str) -> Result<LineScan<ScannedEvent<'_>>, LineError> {
    scan_line_with(line, |e| ScannedEvent {
        name: e.name,
        time_ms: e.time_ms,
        fields: e.fields.clone(),
    })
}

/// A JSON syntax error as a `parse` reject, with the column (the line is reported separately).
pub fn json_error(e: serde_json::Error) -> LineError {
    let text = e.to_string();
    let suffix = format!(" at line {} column {}", e.line(), e.column());
    let bare = text.strip_suffix(&suffix).unwrap_or(&text);
    if e.line() > 1 {
        LineError::parse(format!(
            "invalid JSON: {bare} (line {} column {} of the document)",
            e.line(),
            e.column()
        ))
    } else {
        LineError::parse(format!("invalid JSON: {bare} at column {}", e.column()))
    }
}

#[derive(Clone, Copy)]
enum Shape {
    Object,
    Array,
    Scalar(&'static str),
}

/// A slot value: a [`Scalar`] whose unescaped strings live in [`Slots::escaped`], so that slots
/// are `Copy` and a line's state is dropped without visiting every slot.
#[derive(Clone, Copy)]
enum Raw<'de> {
    Null,
    Bool(bool),
    Number(f64),
    Str(&'de str),
    /// Index into [`Slots::escaped`].
    Escaped(usize),
    Array,
    Object,
}

/// A line's values by key slot ([`slot`]), interpreted only once the line is complete. Storing
/// a value is an array write whatever the key (no per-key branching on what the key means), a
/// repeated key overwrites its slot (the last value wins, as in a parsed object), and fields are
/// validated in [`Field`] order, so the alphabetically first bad key is reported, as
/// [`ContestFields::from_attrs`] does.
struct Slots<'de> {
    values: [Raw<'de>; slot::COUNT],
    seen: u64,
    /// Strings that had escapes (owned once unescaped); empty, unallocated, on most lines.
    escaped: Vec<String>,
}

impl Default for Slots<'_> {
    fn default() -> Self {
        Slots {
            values: [Raw::Null; slot::COUNT],
            seen: 0,
            escaped: Vec::new(),
        }
    }
}

/// Bits of the field slots in `Slots::seen`.
const FIELD_BITS: u64 = (1 << Field::COUNT) - 1;

impl<'de> Slots<'de> {
    #[inline]
    fn set(&mut self, code: u8, value: Scalar<'de>) {
        let raw = match value {
            Scalar::Null => Raw::Null,
            Scalar::Bool(b) => Raw::Bool(b),
            Scalar::Number(n) => Raw::Number(n),
            Scalar::Str(Cow::Borrowed(s)) => Raw::Str(s),
            Scalar::Str(Cow::Owned(s)) => {
                self.escaped.push(s);
                Raw::Escaped(self.escaped.len() - 1)
            }
            Scalar::Array => Raw::Array,
            Scalar::Object => Raw::Object,
        };
        let at = usize::from(code).min(slot::COUNT - 1);
        self.values[at] = raw;
        self.seen |= 1 << at;
    }

    fn scalar(&mut self, at: usize) -> Scalar<'de> {
        match self.values[at] {
            Raw::Null => Scalar::Null,
            Raw::Bool(b) => Scalar::Bool(b),
            Raw::Number(n) => Scalar::Number(n),
            Raw::Str(s) => Scalar::Str(Cow::Borrowed(s)),
            Raw::Escaped(i) => Scalar::Str(Cow::Owned(std::mem::take(&mut self.escaped[i]))),
            Raw::Array => Scalar::Array,
            Raw::Object => Scalar::Object,
        }
    }

    fn take(&mut self, code: u8) -> Option<Scalar<'de>> {
        let at = usize::from(code);
        (self.seen & (1 << at) != 0).then(|| self.scalar(at))
    }

    /// Validates the field values into `fields`.
    fn validate_fields(&mut self, fields: &mut ContestFields<'de>) -> Result<(), LineError> {
        let mut seen = self.seen & FIELD_BITS;
        while seen != 0 {
            let i = seen.trailing_zeros() as usize;
            seen &= seen - 1;
            let value = self.scalar(i);
            fields.set(Field::ALL[i], value)?;
        }
        Ok(())
    }
}

#[derive(Default)]
struct Top<'de> {
    own: Slots<'de>,
    /// Native `attrs`, allocated only when the line has them.
    attrs: Option<Box<Slots<'de>>>,
    attrs_type: Option<&'static str>,
    document_hint: bool,
    /// The validated fields handed to the caller.
    fields: ContestFields<'de>,
}

impl<'de> Top<'de> {
    fn finish<R>(
        &mut self,
        on_event: impl FnOnce(EventRef<'_, 'de>) -> R,
    ) -> Result<LineScan<R>, LineError> {
        if let Some(name) = self.own.take(slot::EVENT) {
            // Native envelope: same order of checks as `Event::from_object`.
            let name = check_name("event", name)?;
            let mut envelope = Envelope::default();
            for (code, key, out) in [
                (slot::ID, EnvelopeKey::Id, &mut envelope.id),
                (slot::GAME, EnvelopeKey::Scope("game"), &mut envelope.game),
                (slot::ENV, EnvelopeKey::Scope("env"), &mut envelope.env),
                (
                    slot::SESSION,
                    EnvelopeKey::Scope("session"),
                    &mut envelope.session,
                ),
            ] {
                if let Some(v) = self.own.take(code) {
                    check_envelope(key, &v)?;
                    *out = envelope_text(v);
                }
            }
            let time_ms = match self.own.take(slot::TS) {
                Some(v) => check_envelope(EnvelopeKey::Ts, &v)?,
                None => None,
            };
            match self.attrs_type {
                None | Some("null") | Some("an object") => {}
                Some(other) => {
                    return Err(LineError::schema(format!(
                        "field `attrs` must be an object, got {other}"
                    )))
                }
            }
            if let Some(attrs) = &mut self.attrs {
                attrs.validate_fields(&mut self.fields)?;
            }
            Ok(LineScan::Event(on_event(EventRef {
                name,
                time_ms,
                fields: &self.fields,
                envelope,
            })))
        } else if let Some(name) = self.own.take(slot::MESSAGE) {
            let name = check_name("message", name)?;
            if let Some(v) = self.own.take(slot::LEVEL) {
                check_envelope(EnvelopeKey::Level, &v)?;
            }
            let time_ms = match self.own.take(slot::TIMESTAMP) {
                Some(v) => check_envelope(EnvelopeKey::Timestamp, &v)?,
                None => None,
            };
            self.own.validate_fields(&mut self.fields)?;
            Ok(LineScan::Event(on_event(EventRef {
                name,
                time_ms,
                fields: &self.fields,
                envelope: Envelope::default(),
            })))
        } else if self.document_hint {
            Ok(LineScan::Document)
        } else {
            Err(missing_name())
        }
    }
}

struct TopVisitor<'a, 'de> {
    top: &'a mut Top<'de>,
}

impl<'de> Visitor<'de> for TopVisitor<'_, 'de> {
    type Value = Shape;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Shape, A::Error> {
        let top = self.top;
        while let Some(code) = map.next_key_seed(KeySeed)? {
            if usize::from(code) < slot::COUNT {
                // Every ordinary key takes this one path, whatever it means.
                let value = map.next_value_seed(ScalarSeed)?;
                top.own.set(code, value);
            } else if code == slot::ATTRS {
                // A repeated `attrs` key replaces the earlier one, as in a parsed object.
                let acc = top.attrs.insert(Box::default());
                top.attrs_type = Some(map.next_value_seed(AttrsSeed { acc })?);
            } else {
                top.document_hint = true;
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(Shape::Object)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Shape, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Shape::Array)
    }

    fn visit_unit<E>(self) -> Result<Shape, E> {
        Ok(Shape::Scalar("null"))
    }
    fn visit_bool<E>(self, _: bool) -> Result<Shape, E> {
        Ok(Shape::Scalar("a boolean"))
    }
    fn visit_u64<E>(self, _: u64) -> Result<Shape, E> {
        Ok(Shape::Scalar("a number"))
    }
    fn visit_i64<E>(self, _: i64) -> Result<Shape, E> {
        Ok(Shape::Scalar("a number"))
    }
    fn visit_f64<E>(self, _: f64) -> Result<Shape, E> {
        Ok(Shape::Scalar("a number"))
    }
    fn visit_str<E>(self, _: &str) -> Result<Shape, E> {
        Ok(Shape::Scalar("a string"))
    }
}

struct KeySeed;

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = u8;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<u8, D::Error> {
        d.deserialize_str(KeyVisitor)
    }
}

struct KeyVisitor;

impl Visitor<'_> for KeyVisitor {
    type Value = u8;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a key")
    }
    fn visit_str<E>(self, key: &str) -> Result<u8, E> {
        Ok(classify_key(key))
    }
}

struct ScalarSeed;

impl<'de> DeserializeSeed<'de> for ScalarSeed {
    type Value = Scalar<'de>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Scalar<'de>, D::Error> {
        d.deserialize_any(ScalarVisitor)
    }
}

struct ScalarVisitor;

impl<'de> Visitor<'de> for ScalarVisitor {
    type Value = Scalar<'de>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_unit<E>(self) -> Result<Scalar<'de>, E> {
        Ok(Scalar::Null)
    }
    fn visit_bool<E>(self, v: bool) -> Result<Scalar<'de>, E> {
        Ok(Scalar::Bool(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Scalar<'de>, E> {
        Ok(Scalar::Number(v as f64))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Scalar<'de>, E> {
        Ok(Scalar::Number(v as f64))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Scalar<'de>, E> {
        Ok(Scalar::Number(v))
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Scalar<'de>, E> {
        Ok(Scalar::Str(Cow::Borrowed(v)))
    }
    fn visit_str<E>(self, v: &str) -> Result<Scalar<'de>, E> {
        Ok(Scalar::Str(Cow::Owned(v.to_owned())))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Scalar<'de>, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Scalar::Array)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Scalar<'de>, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Scalar::Object)
    }
}

/// Reads a native `attrs` value: an object's known keys go into the accumulator; any other
/// value is consumed and its type returned for the error message.
struct AttrsSeed<'a, 'de> {
    acc: &'a mut Slots<'de>,
}

impl<'de> DeserializeSeed<'de> for AttrsSeed<'_, 'de> {
    type Value = &'static str;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<&'static str, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for AttrsSeed<'_, 'de> {
    type Value = &'static str;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an attrs object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<&'static str, A::Error> {
        while let Some(code) = map.next_key_seed(KeySeed)? {
            // Only fields count inside `attrs`; envelope-like keys there are plain attributes.
            let code = if usize::from(code) < Field::COUNT {
                code
            } else {
                slot::OTHER
            };
            let value = map.next_value_seed(ScalarSeed)?;
            self.acc.set(code, value);
        }
        Ok("an object")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<&'static str, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok("an array")
    }
    fn visit_unit<E>(self) -> Result<&'static str, E> {
        Ok("null")
    }
    fn visit_bool<E>(self, _: bool) -> Result<&'static str, E> {
        Ok("a boolean")
    }
    fn visit_u64<E>(self, _: u64) -> Result<&'static str, E> {
        Ok("a number")
    }
    fn visit_i64<E>(self, _: i64) -> Result<&'static str, E> {
        Ok("a number")
    }
    fn visit_f64<E>(self, _: f64) -> Result<&'static str, E> {
        Ok("a number")
    }
    fn visit_str<E>(self, _: &str) -> Result<&'static str, E> {
        Ok("a string")
    }
}

// ---------------------------------------------------------------------------------------------
// Observations

/// A string stored in a batch's arena.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    start: u32,
    len: u32,
}

impl Span {
    /// No string.
    pub const NONE: Span = Span {
        start: 0,
        len: u32::MAX,
    };

    /// Whether a string is present.
    pub fn is_some(self) -> bool {
        self.len != u32::MAX
    }
}

/// 128-bit identity of a contest or arming key. Collisions are not a practical concern
/// (probability below 10⁻²⁰ for a billion distinct ids), and a hash is a quarter of a UUID's size.
pub type Key = u128;

/// Hashes a contest id.
pub fn contest_key(contest_id: &str) -> Key {
    xxhash_rust::xxh3::xxh3_128(contest_id.as_bytes())
}

/// How a missing part of `hubId:roomId:contestKey` reads (SPEC §3), in the hash and in names.
pub(crate) const UNKNOWN_PART: &str = "unknown";

/// Hashes the pre-launch identity `hubId:roomId:contestKey` (missing parts as `unknown`).
fn arming_key(scratch: &mut Vec<u8>, f: &ContestFields<'_>) -> Key {
    scratch.clear();
    for part in [&f.hub_id, &f.room_id, &f.contest_key] {
        scratch.extend_from_slice(part.as_deref().unwrap_or(UNKNOWN_PART).as_bytes());
        // 0xFF never occurs in UTF-8, so the joined parts cannot be confused.
        scratch.push(0xFF);
    }
    xxhash_rust::xxh3::xxh3_128(scratch)
}

/// What a batch keeps besides durations and counts; fewer strings copied means faster batches.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BatchOptions {
    /// Keep contest ids, outcomes, contest keys and errors (for `--include-raw`).
    pub keep_raw: bool,
    /// Keep hub and room ids (grouping by hub or room, or raw output).
    pub keep_hub_room: bool,
    /// Keep move and type (grouping by them).
    pub keep_move_type: bool,
}

/// One contest-relevant event, owned and compact (about 180 bytes, built for every contest
/// line: absent values are sentinels rather than `Option`s, which would double the size).
#[derive(Debug, Clone, PartialEq)]
pub struct Observation {
    /// 0-based line offset within the batch.
    pub line: u32,
    /// Lifecycle kind.
    pub kind: EventKind,
    has_contest: bool,
    has_arming_key: bool,
    contest: [u64; 2],
    arming_key: [u64; 2],
    participants: u32,
    capacity: u32,
    sentiment: u32,
    time_ms: f64,
    arming_ms: f64,
    resolution_ms: f64,
    created_at: f64,
    started_at: f64,
    resolved_at: f64,
    expired_at: f64,
    /// Hub id (kept per [`BatchOptions`]).
    pub hub: Span,
    /// Room id.
    pub room: Span,
    /// Move.
    pub move_: Span,
    /// Contest type.
    pub type_: Span,
    /// Contest id text (raw only).
    pub contest_id: Span,
    /// Contest key text (raw only).
    pub contest_key: Span,
    /// Outcome tier (raw only).
    pub outcome: Span,
    /// Workflow error (raw only).
    pub error: Span,
}

fn join(k: [u64; 2]) -> Key {
    u128::from(k[0]) | (u128::from(k[1]) << 64)
}

fn split(k: Key) -> [u64; 2] {
    [k as u64, (k >> 64) as u64]
}

fn some(v: f64) -> Option<f64> {
    (!v.is_nan()).then_some(v)
}

fn count(v: u32) -> Option<u32> {
    (v != u32::MAX).then_some(v)
}

impl Observation {
    /// Hash of `contestId`.
    pub fn contest(&self) -> Option<Key> {
        self.has_contest.then(|| join(self.contest))
    }
    /// Hash of `hubId:roomId:contestKey` (armed, launched and expired events).
    pub fn arming_key(&self) -> Option<Key> {
        self.has_arming_key.then(|| join(self.arming_key))
    }
    /// Event time, epoch ms.
    pub fn time_ms(&self) -> Option<f64> {
        some(self.time_ms)
    }
    /// Explicit arming duration.
    pub fn arming_ms(&self) -> Option<f64> {
        some(self.arming_ms)
    }
    /// Explicit resolution duration.
    pub fn resolution_ms(&self) -> Option<f64> {
        some(self.resolution_ms)
    }
    /// `createdAt`.
    pub fn created_at(&self) -> Option<f64> {
        some(self.created_at)
    }
    /// `startedAt`.
    pub fn started_at(&self) -> Option<f64> {
        some(self.started_at)
    }
    /// `resolvedAt`.
    pub fn resolved_at(&self) -> Option<f64> {
        some(self.resolved_at)
    }
    /// `expiredAt`.
    pub fn expired_at(&self) -> Option<f64> {
        some(self.expired_at)
    }
    /// Participants.
    pub fn participants(&self) -> Option<u32> {
        count(self.participants)
    }
    /// Capacity.
    pub fn capacity(&self) -> Option<u32> {
        count(self.capacity)
    }
    /// Index into [`ObservationBatch::sentiments`] for sentiment events.
    pub fn sentiment(&self) -> Option<u32> {
        count(self.sentiment)
    }
}

/// The sentiment sample of a `telemetry.contest.sentiment` event.
#[derive(Debug, Clone, PartialEq)]
pub struct SentimentObservation {
    /// Hub id.
    pub hub: Span,
    /// Room id.
    pub room: Span,
    /// Contest id.
    pub contest_id: Span,
    /// Contest key.
    pub contest_key: Span,
    /// Actor.
    pub actor: Span,
    /// Label as sent.
    pub sentiment: Span,
    /// Tone.
    pub tone: Span,
    /// Phase.
    pub phase: Span,
    /// Cooldown left.
    pub remaining_cooldown_ms: Option<f64>,
    /// Cooldown length.
    pub cooldown_ms: Option<f64>,
    /// Message length.
    pub message_length: Option<f64>,
    /// `issuedAt`, else the event time.
    pub issued_at: Option<f64>,
}

/// A rejected line of a batch.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchReject {
    /// 0-based line offset within the batch.
    pub line: u32,
    /// Reject kind.
    pub kind: RejectKind,
    /// What is wrong.
    pub message: String,
    /// Raw text, bounded.
    pub raw: String,
}

/// Observations, sentiment samples and rejects read from a run of consecutive lines.
#[derive(Debug, Default)]
pub struct ObservationBatch {
    /// Strings referenced by [`Span`]s.
    arena: String,
    /// Contest-relevant events in line order.
    pub observations: Vec<Observation>,
    /// Sentiment samples referenced by observations.
    pub sentiments: Vec<SentimentObservation>,
    /// Rejected lines in line order.
    pub rejects: Vec<BatchReject>,
    /// Lines consumed (including blank and rejected ones).
    pub lines: u32,
    /// Events read (every dialect, contest or not).
    pub events: u64,
    scratch: Vec<u8>,
}

impl ObservationBatch {
    /// Empties the batch, keeping its allocations for reuse.
    pub fn clear(&mut self) {
        self.arena.clear();
        self.observations.clear();
        self.sentiments.clear();
        self.rejects.clear();
        self.lines = 0;
        self.events = 0;
    }

    /// The string a span refers to.
    pub fn text(&self, span: Span) -> Option<&str> {
        if !span.is_some() {
            return None;
        }
        let start = span.start as usize;
        self.arena.get(start..start + span.len as usize)
    }

    fn keep(&mut self, value: Option<&Cow<'_, str>>, wanted: bool) -> Span {
        match value {
            Some(s)
                if wanted
                    && s.len() < u32::MAX as usize
                    && self.arena.len() + s.len() < u32::MAX as usize =>
            {
                let start = self.arena.len() as u32;
                self.arena.push_str(s);
                Span {
                    start,
                    len: s.len() as u32,
                }
            }
            _ => Span::NONE,
        }
    }

    /// Reads a block of complete lines (each ending in `\n`, the last one may not). Blank lines
    /// are counted but produce nothing.
    pub fn push_lines(&mut self, block: &[u8], opts: BatchOptions) {
        // Valid UTF-8 is the rule: check the block once, and every line of it is valid too.
        if let Ok(text) = std::str::from_utf8(block) {
            let mut rest = text;
            while !rest.is_empty() {
                let (line, next) = match memchr::memchr(b'\n', rest.as_bytes()) {
                    Some(i) => (&rest[..i], &rest[i + 1..]),
                    None => (rest, ""),
                };
                rest = next;
                let offset = self.lines;
                self.lines += 1;
                let line = line.strip_suffix('\r').unwrap_or(line);
                if !line.bytes().all(|b| b.is_ascii_whitespace()) {
                    self.push_line(offset, line, opts);
                }
            }
            return;
        }
        let mut rest = block;
        while !rest.is_empty() {
            let (line, next) = match memchr::memchr(b'\n', rest) {
                Some(i) => (&rest[..i], &rest[i + 1..]),
                None => (rest, &rest[rest.len()..]),
            };
            rest = next;
            let offset = self.lines;
            self.lines += 1;
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            self.push_line_bytes(offset, line, opts);
        }
    }

    fn push_line_bytes(&mut self, offset: u32, line: &[u8], opts: BatchOptions) {
        let text = match std::str::from_utf8(line) {
            Ok(text) => text,
            Err(e) => {
                let message = format!(
                    "not UTF-8: invalid byte at column {}; PlayTrace reads UTF-8 text (re-encode the file, or find what wrote binary data into the log)",
                    e.valid_up_to() + 1
                );
                self.reject(offset, LineError::encoding(message), line);
                return;
            }
        };
        if text.bytes().all(|b| b.is_ascii_whitespace()) {
            return;
        }
        self.push_line(offset, text, opts);
    }

    /// Reads one line of text.
    pub fn push_line(&mut self, offset: u32, text: &str, opts: BatchOptions) {
        let scanned = scan_line_with(text, |event| {
            self.events += 1;
            self.observe(offset, &event.name, event.time_ms, event.fields, opts);
        });
        match scanned {
            Ok(LineScan::Event(())) => {}
            Ok(LineScan::Document) => match serde_json::from_str(text) {
                Ok(value) => self.push_document(offset, value, text.as_bytes(), opts),
                Err(e) => self.reject(offset, json_error(e), text.as_bytes()),
            },
            Err(e) => self.reject(offset, e, text.as_bytes()),
        }
    }

    /// Reads a parsed document (whole file, or one line) whose rejects all belong to `offset`.
    pub fn push_document(
        &mut self,
        offset: u32,
        value: serde_json::Value,
        raw: &[u8],
        opts: BatchOptions,
    ) {
        for item in read_document(value) {
            match item {
                Ok(event) => self.push_event(offset, &event, opts),
                Err(e) => self.reject(offset, e, raw),
            }
        }
    }

    /// Adds an already normalised event.
    pub fn push_event(&mut self, offset: u32, event: &Event, opts: BatchOptions) {
        match event.contest_fields() {
            Ok(fields) => {
                self.events += 1;
                self.observe(offset, &event.name, event.time_ms, &fields, opts);
            }
            Err(e) => {
                let raw = serde_json::to_vec(&event.attrs).unwrap_or_default();
                self.reject(offset, e, &raw);
            }
        }
    }

    /// Records a rejected line.
    pub fn reject(&mut self, offset: u32, error: LineError, raw: &[u8]) {
        self.rejects.push(BatchReject {
            line: offset,
            kind: error.kind,
            message: error.message,
            raw: raw_text(raw),
        });
    }

    /// Adds one event's observation (if it is contest-relevant) under `line`, which callers
    /// outside the reading pipeline may use for any index (the collector uses the event's
    /// position in its request).
    pub fn observe(
        &mut self,
        line: u32,
        name: &str,
        time_ms: Option<f64>,
        f: &ContestFields<'_>,
        opts: BatchOptions,
    ) {
        let kind = EventKind::of(name);
        if matches!(
            kind,
            EventKind::Other | EventKind::RematchCooling | EventKind::RematchBlocked
        ) {
            return;
        }
        let arming_key = matches!(
            kind,
            EventKind::Armed | EventKind::Launched | EventKind::Expired
        )
        .then(|| arming_key(&mut self.scratch, f));
        let sentiment = if kind == EventKind::Sentiment {
            let sample = SentimentObservation {
                hub: self.keep(f.hub_id.as_ref(), true),
                room: self.keep(f.room_id.as_ref(), true),
                contest_id: self.keep(f.contest_id.as_ref(), true),
                contest_key: self.keep(f.contest_key.as_ref(), true),
                actor: self.keep(f.actor_id.as_ref(), true),
                sentiment: self.keep(f.sentiment.as_ref(), true),
                tone: self.keep(f.tone.as_ref(), true),
                phase: self.keep(f.phase.as_ref(), true),
                remaining_cooldown_ms: f.remaining_cooldown_ms,
                cooldown_ms: f.cooldown_ms,
                message_length: f.message_length,
                issued_at: f.issued_at.or(time_ms),
            };
            self.sentiments.push(sample);
            Some(self.sentiments.len() as u32 - 1)
        } else {
            None
        };
        let nan = f64::NAN;
        let contest = f.contest_id.as_deref().map(contest_key);
        let observation = Observation {
            line,
            kind,
            has_contest: contest.is_some(),
            has_arming_key: arming_key.is_some(),
            contest: split(contest.unwrap_or(0)),
            arming_key: split(arming_key.unwrap_or(0)),
            participants: f.participant_count.unwrap_or(u32::MAX),
            capacity: f.participant_capacity.unwrap_or(u32::MAX),
            sentiment: sentiment.unwrap_or(u32::MAX),
            time_ms: time_ms.unwrap_or(nan),
            arming_ms: f.arming_ms.unwrap_or(nan),
            resolution_ms: f.resolution_ms.unwrap_or(nan),
            created_at: f.created_at.unwrap_or(nan),
            started_at: f.started_at.unwrap_or(nan),
            resolved_at: f.resolved_at.unwrap_or(nan),
            expired_at: f.expired_at.unwrap_or(nan),
            hub: self.keep(f.hub_id.as_ref(), opts.keep_hub_room || opts.keep_raw),
            room: self.keep(f.room_id.as_ref(), opts.keep_hub_room || opts.keep_raw),
            move_: self.keep(f.move_.as_ref(), opts.keep_move_type),
            type_: self.keep(f.type_.as_ref(), opts.keep_move_type),
            contest_id: self.keep(f.contest_id.as_ref(), opts.keep_raw),
            contest_key: self.keep(f.contest_key.as_ref(), opts.keep_raw),
            outcome: self.keep(f.outcome_tier.as_ref(), opts.keep_raw),
            error: self.keep(f.error.as_ref(), opts.keep_raw),
        };
        self.observations.push(observation);
    }
}

mod fast;
#[cfg(test)]
mod tests;
