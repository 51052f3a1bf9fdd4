//! Observations: a block of lines turned into owned, compact records (strings copied into one
//! arena, contest ids hashed), built on worker threads and folded in input order.

use crate::dialect::read_document;
use crate::dims::MAX_ATTR_DIMS;
use crate::event::{Event, EventKind};
use crate::fields::ContestFields;
use crate::reject::{raw_text, LineError, RejectKind};
use std::borrow::Cow;

/// A string stored in a batch's arena.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    start: u32,
    len: u32,
}

impl Span {
    /// An absent value (the field was missing, or the batch did not keep it); the only span
    /// for which [`Span::is_some`] is false.
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
pub(super) fn arming_key(scratch: &mut Vec<u8>, f: &ContestFields<'_>) -> Key {
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
    /// Which lifecycle event this is; it decides which of the values below can be set.
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
    /// Room id (kept like `hub`).
    pub room: Span,
    /// `move` (kept per [`BatchOptions::keep_move_type`]).
    pub move_: Span,
    /// `type` (kept like `move_`).
    pub type_: Span,
    /// Contest id text (raw only).
    pub contest_id: Span,
    /// Contest key text (raw only).
    pub contest_key: Span,
    /// Outcome tier (raw only).
    pub outcome: Span,
    /// Workflow error (raw only).
    pub error: Span,
    /// Values of the configured attribute dimensions ([`ObservationBatch::set_dim_attrs`]).
    pub attrs: [Span; MAX_ATTR_DIMS],
}

pub(super) fn join(k: [u64; 2]) -> Key {
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
    /// `participantCount`, when the event carried one.
    pub fn participants(&self) -> Option<u32> {
        count(self.participants)
    }
    /// `participantCapacity`, when the event carried one.
    pub fn capacity(&self) -> Option<u32> {
        count(self.capacity)
    }
    /// Index into [`ObservationBatch::sentiments`] for sentiment events.
    pub fn sentiment(&self) -> Option<u32> {
        count(self.sentiment)
    }
}

/// The sentiment sample of a `telemetry.contest.sentiment` event.
///
/// Each field is the event's field of the same name (SPEC §3; `hub` is `hubId`, `room` is
/// `roomId`, `actor` is `actorId`), as sent: strings in the batch's arena, [`Span::NONE`] or
/// `None` when the event did not carry them. Durations are milliseconds.
#[derive(Debug, Clone, PartialEq)]
#[allow(missing_docs)] // the event's own fields, described once above
pub struct SentimentObservation {
    pub hub: Span,
    pub room: Span,
    pub contest_id: Span,
    pub contest_key: Span,
    pub actor: Span,
    /// Label as sent (not yet lower-cased).
    pub sentiment: Span,
    pub tone: Span,
    pub phase: Span,
    pub remaining_cooldown_ms: Option<f64>,
    pub cooldown_ms: Option<f64>,
    pub message_length: Option<f64>,
    /// `issuedAt`, else the event time.
    pub issued_at: Option<f64>,
}

/// A rejected line of a batch.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchReject {
    /// 0-based line offset within the batch.
    pub line: u32,
    /// Which count of `rejects.byKind` it adds to.
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
    /// Attributes read into [`Observation::attrs`] (none by default).
    dim_attrs: Vec<String>,
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

    /// Appends `next`, the batch read from the lines that follow this one's: its lines (and
    /// its observations' and rejects' offsets) move by `line_offset`, its spans and sentiment
    /// indices by what this batch holds. The result equals one batch that read both runs in
    /// order, so a body read in parts on several threads folds as if read in one.
    pub fn append(&mut self, next: ObservationBatch, line_offset: u32) {
        let base = self.arena.len();
        // A span past u32 cannot be kept; `keep` drops such values the same way.
        let fits = base + next.arena.len() < u32::MAX as usize;
        let shift = |s: Span| match (s.is_some(), fits) {
            (false, _) => s,
            (true, true) => Span {
                start: s.start + base as u32,
                len: s.len,
            },
            (true, false) => Span::NONE,
        };
        if fits {
            self.arena.push_str(&next.arena);
        }
        let samples = self.sentiments.len() as u32;
        self.observations
            .extend(next.observations.into_iter().map(|mut o| {
                o.line += line_offset;
                if o.sentiment != u32::MAX {
                    o.sentiment += samples;
                }
                for span in [
                    &mut o.hub,
                    &mut o.room,
                    &mut o.move_,
                    &mut o.type_,
                    &mut o.contest_id,
                    &mut o.contest_key,
                    &mut o.outcome,
                    &mut o.error,
                ]
                .into_iter()
                .chain(o.attrs.iter_mut())
                {
                    *span = shift(*span);
                }
                o
            }));
        self.sentiments
            .extend(next.sentiments.into_iter().map(|mut s| {
                for span in [
                    &mut s.hub,
                    &mut s.room,
                    &mut s.contest_id,
                    &mut s.contest_key,
                    &mut s.actor,
                    &mut s.sentiment,
                    &mut s.tone,
                    &mut s.phase,
                ] {
                    *span = shift(*span);
                }
                s
            }));
        self.rejects.extend(next.rejects.into_iter().map(|mut r| {
            r.line += line_offset;
            r
        }));
        self.lines += next.lines;
        self.events += next.events;
    }

    /// The attributes read into observations ([`ObservationBatch::set_dim_attrs`]).
    pub fn dim_attrs(&self) -> &[String] {
        &self.dim_attrs
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
                let before = self.observations.len();
                self.observe(offset, &event.name, event.time_ms, &fields, opts);
                if self.observations.len() > before && !self.dim_attrs.is_empty() {
                    let values = dim_values(&self.dim_attrs, &event.attrs, None);
                    self.set_dims(before, values);
                }
            }
            Err(e) => {
                let raw = serde_json::to_vec(&event.attrs).unwrap_or_default();
                self.reject(offset, e, &raw);
            }
        }
    }

    /// Reads these attributes into every observation's [`Observation::attrs`] (the configured
    /// dimensions, in slot order; at most [`MAX_ATTR_DIMS`]). Reading them costs a JSON parse of
    /// each contest line, so it is done only when dimensions are configured.
    pub fn set_dim_attrs(&mut self, attrs: Vec<String>) {
        self.dim_attrs = attrs;
        self.dim_attrs.truncate(MAX_ATTR_DIMS);
    }

    /// Fills the attribute dimensions of the observations from `from` on (those one line made)
    /// from the line's text: `attrs.<attr>` of a native envelope, else the line's own key.
    pub fn attach_dims(&mut self, from: usize, text: &str) {
        if self.observations.len() <= from || self.dim_attrs.is_empty() {
            return;
        }
        let Ok(serde_json::Value::Object(o)) = serde_json::from_str(text) else {
            return;
        };
        let attrs = match o.get("attrs") {
            Some(serde_json::Value::Object(a)) => Some(a),
            _ => None,
        };
        let values = dim_values(&self.dim_attrs, attrs.unwrap_or(&o), Some(&o));
        self.set_dims(from, values);
    }

    fn set_dims(&mut self, from: usize, values: [Option<String>; MAX_ATTR_DIMS]) {
        let spans = values.map(|v| {
            let v = v.map(Cow::Owned);
            self.keep(v.as_ref(), true)
        });
        for o in &mut self.observations[from..] {
            o.attrs = spans;
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
            attrs: [Span::NONE; MAX_ATTR_DIMS],
        };
        self.observations.push(observation);
    }
}

/// The dimensions' values in `attrs` (else in `top`, a log line's own keys) as text.
fn dim_values(
    names: &[String],
    attrs: &serde_json::Map<String, serde_json::Value>,
    top: Option<&serde_json::Map<String, serde_json::Value>>,
) -> [Option<String>; MAX_ATTR_DIMS] {
    let mut out: [Option<String>; MAX_ATTR_DIMS] = Default::default();
    for (slot, name) in out.iter_mut().zip(names) {
        let v = attrs.get(name).or_else(|| top?.get(name));
        *slot = match v {
            Some(serde_json::Value::String(s)) if !s.is_empty() => Some(s.clone()),
            Some(v @ (serde_json::Value::Number(_) | serde_json::Value::Bool(_))) => {
                Some(v.to_string())
            }
            _ => None,
        };
    }
    out
}
