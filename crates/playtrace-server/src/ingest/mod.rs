//! Ingest: turning what a client sends into the one parsed form the pipeline takes — rows to
//! store, rejects, and contest observations ([`Parsed`]). One module per source format
//! ([`json`]: NDJSON and JSON bodies; [`otlp`]: OTLP/HTTP logs), each decoding into [`Parsed`].
//!
//! Every dialect of SPEC §2 goes through `playtrace-core`'s readers: single-event lines through
//! the line scanner (the monitor's fast path), whole documents (arrays, timelines, summaries)
//! through [`read_document`]. Each event keeps its text: the line as sent, or the normalised
//! envelope for an event expanded from a document. Lines that cannot be read become typed
//! rejects with their 1-based line (or array element) number.
//!
//! A line without `game` takes the request's game ([`GameScope`]), so the lines of one
//! contest are one contest whichever of them named the game.

pub(crate) mod guard;
pub(crate) mod json;
pub(crate) mod otlp;
pub(crate) mod plan;
pub(crate) mod redact;
pub(crate) mod replay;
pub(crate) mod transform;

use crate::config::Privacy;
use playtrace_core::dialect::read_document;
use playtrace_core::event::Event;
use playtrace_core::reject::{raw_text, LineError};
use playtrace_core::scan::{
    json_error, scan_line_members, scan_line_sink, BatchOptions, Envelope, EventRef, LineScan,
    Members, ObservationBatch,
};
use playtrace_store::{CompactString, RejectRow, StoredEvent};
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::sync::Arc;

/// Observations keep every string the live view shows.
const OBSERVE_ALL: BatchOptions = BatchOptions {
    keep_raw: true,
    keep_hub_room: true,
    keep_move_type: true,
};

/// Which game a request's lines belong to (SPEC §7, docs/API.md "Games"): a line's own `game`
/// wins over the request's default; a token bound to a game makes that game both the default
/// and the only one allowed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct GameScope {
    /// The game of lines that name none (the token's game, else `?game=` / `X-PlayTrace-Game`).
    pub(crate) default: Option<String>,
    /// Set when the token is bound to a game: lines naming another game are rejected.
    pub(crate) only: Option<String>,
}

impl GameScope {
    /// The game to store for a line that named `game`, or the reject when the token may not
    /// send it.
    pub(crate) fn resolve(&self, game: Option<&str>) -> Result<CompactString, LineError> {
        match (game.filter(|g| !g.is_empty()), &self.only) {
            (Some(g), Some(only)) if g != only => Err(LineError::schema(format!(
                "game `{g}`: this token is scoped to game `{only}`; send that game's events with \
                 its own token, or drop `game` from the line"
            ))),
            (Some(g), _) => Ok(g.into()),
            (None, _) => Ok(self.default.as_deref().unwrap_or_default().into()),
        }
    }
}

/// A request body read into rows.
#[derive(Default)]
pub(crate) struct Parsed {
    /// Events to store, in request order.
    pub(crate) events: Vec<StoredEvent>,
    /// Rejected lines.
    pub(crate) rejects: Vec<RejectRow>,
    /// Contest observations; an observation's `line` is its event's index in `events`.
    pub(crate) observations: ObservationBatch,
    /// The request's game.
    pub(crate) games: GameScope,
    /// The tracking plan checked before an event is kept (`[plan]`).
    pub(crate) plan: Option<std::sync::Arc<plan::Gate>>,
    /// Redaction and subjects (`[privacy]`); `None` stores lines as sent, unindexed.
    pub(crate) privacy: Option<Arc<Privacy>>,
    /// The members list the one read of a line fills, kept between lines (empty here).
    members: Members<'static>,
}

impl Parsed {
    /// An empty parse for a request of `games`.
    pub(crate) fn new(games: GameScope) -> Parsed {
        Parsed {
            games,
            ..Parsed::default()
        }
    }

    /// An empty parse with this one's settings (games, plan, privacy, dimensions), for a run of
    /// the same body read beside it ([`json::ndjson_parts`]).
    pub(crate) fn sibling(&self) -> Parsed {
        let mut sibling = Parsed {
            games: self.games.clone(),
            plan: self.plan.clone(),
            privacy: self.privacy.clone(),
            ..Parsed::default()
        };
        let dims = self.observations.dim_attrs();
        if !dims.is_empty() {
            sibling.observations.set_dim_attrs(dims.to_vec());
        }
        sibling
    }

    /// Appends the parse of the run that follows this one's in the body: the result equals
    /// one parse of both runs in order (observations point at their events' new indices).
    pub(crate) fn append(&mut self, next: Parsed) {
        let offset = self.events.len() as u32;
        self.events.extend(next.events);
        self.rejects.extend(next.rejects);
        self.observations.append(next.observations, offset);
    }

    /// Redacts every line and indexes every event by the players and sessions it names.
    pub(crate) fn with_privacy(mut self, privacy: Arc<Privacy>) -> Parsed {
        self.privacy = Some(privacy);
        self
    }

    fn subjects(&self, body: &str, session: Option<&str>) -> Vec<i64> {
        self.privacy
            .as_ref()
            .map_or_else(Vec::new, |p| p.subjects(body, session))
    }

    fn reject(&mut self, line: u32, error: LineError, raw: &[u8]) {
        let raw = raw_text(raw);
        let raw = match &self.privacy {
            Some(p) => p.redact_body(raw),
            None => raw,
        };
        self.rejects.push(RejectRow {
            line,
            kind: error.kind.as_str().to_string(),
            message: error.message,
            raw,
        });
    }

    fn push_scanned(
        &mut self,
        game: CompactString,
        name: &str,
        time_ms: Option<f64>,
        envelope: Envelope<'_>,
        body: &str,
    ) -> u32 {
        let subjects = self.subjects(body, envelope.session.as_deref());
        self.push_stored(game, name, time_ms, envelope, body.to_string(), subjects)
    }

    /// Keeps a scanned event with its stored `body` and subject keys; its index in `events`.
    fn push_stored(
        &mut self,
        game: CompactString,
        name: &str,
        time_ms: Option<f64>,
        envelope: Envelope<'_>,
        body: String,
        subjects: Vec<i64>,
    ) -> u32 {
        let index = self.events.len() as u32;
        self.events.push(StoredEvent {
            game,
            // An unescaped (owned) value moves in; a borrowed one is copied, inline if short.
            id: envelope.id.map(CompactString::from),
            name: name.into(),
            env: envelope.env.map(CompactString::from),
            session: envelope.session.map(CompactString::from),
            ts_ms: time_ms,
            body,
            subjects,
            ..StoredEvent::default()
        });
        index
    }

    fn push_event(&mut self, line: u32, event: &Event, raw: &str) {
        match self
            .games
            .resolve(event.game.as_deref())
            .and_then(|g| self.admit(g, event))
        {
            Ok(game) => self.push_row(game, event, envelope_json(event)),
            Err(e) => self.reject(line, e, raw.as_bytes()),
        }
    }

    /// `game` when the plan (if any) keeps the event, else the plan's reject.
    fn admit(&self, game: CompactString, event: &Event) -> Result<CompactString, LineError> {
        match &self.plan {
            Some(gate) => gate
                .admit(&game, &event.name, &Value::Object(event.attrs.clone()))
                .map(|()| game),
            None => Ok(game),
        }
    }

    /// The stored row and the contest observation of an event whose game is resolved.
    fn push_row(&mut self, game: CompactString, event: &Event, body: String) {
        let index = self.events.len() as u32;
        let subjects = self.subjects(&body, event.session.as_deref());
        self.events.push(StoredEvent {
            game,
            id: event.id.as_deref().map(Into::into),
            name: event.name.as_str().into(),
            env: event.env.as_deref().map(Into::into),
            session: event.session.as_deref().map(Into::into),
            ts_ms: event.time_ms,
            body,
            subjects,
            ..StoredEvent::default()
        });
        self.observations.push_event(index, event, OBSERVE_ALL);
    }

    /// Reads one JSON value (a line, or an array element) numbered `line`.
    pub(crate) fn push_text(&mut self, line: u32, text: &str) {
        // Without rules, redaction is a no-op and the plain scan (then `subjects`) measured a
        // little cheaper than collecting the members.
        if self.plan.is_none() && memchr::memchr(b'\\', text.as_bytes()).is_none() {
            if let Some(privacy) = self.privacy.clone().filter(|p| !p.rules.is_empty()) {
                if self.push_fused(line, text, &privacy)
                    || self.push_redacted_once(line, text, &privacy)
                {
                    return;
                }
            }
        }
        self.push_redacted(line, text);
    }

    /// [`Parsed::push_text`] with the line redacted inside its one read (`redact/fused.rs`):
    /// the reader hands each member to the redaction as it reads it, and the read stands for
    /// the redacted line. `false` (nothing kept) where that cannot be done; then the line takes
    /// [`Parsed::push_redacted_once`].
    fn push_fused(&mut self, line: u32, text: &str, privacy: &Privacy) -> bool {
        let Some(mut sink) = redact::Fused::new(privacy, text) else {
            return false;
        };
        let mut handled = false;
        let mut refused = None;
        let before = self.observations.observations.len();
        let scanned = scan_line_sink(text, &mut sink, |e, sink| {
            let Some(redacted) = sink.finish(e.envelope.session.as_deref()) else {
                return;
            };
            handled = true;
            refused = self.keep_redacted(e, redacted);
        });
        if !matches!(scanned, Some(Ok(LineScan::Event(())))) || !handled {
            return false;
        }
        self.redacted_kept(line, text, before, refused);
        true
    }

    /// Keeps an event read once and redacted from that read (resolving its game); the reject
    /// when its game is refused.
    fn keep_redacted(
        &mut self,
        e: EventRef<'_, '_>,
        redacted: redact::Redacted<'_>,
    ) -> Option<LineError> {
        match self.games.resolve(e.envelope.game.as_deref()) {
            Ok(game) => {
                let index = self.push_stored(
                    game,
                    &e.name,
                    e.time_ms,
                    e.envelope,
                    redacted.body.into_owned(),
                    redacted.subjects,
                );
                self.observations
                    .observe(index, &e.name, e.time_ms, e.fields, OBSERVE_ALL);
                None
            }
            Err(err) => Some(err),
        }
    }

    /// Counts an event [`Parsed::keep_redacted`] kept (its dimensions from the stored body),
    /// or rejects the line.
    fn redacted_kept(&mut self, line: u32, text: &str, before: usize, refused: Option<LineError>) {
        match refused {
            None => {
                self.observations.events += 1;
                if let Some(stored) = self.events.last() {
                    self.observations.attach_dims(before, &stored.body);
                }
            }
            Some(err) => self.reject(line, err, text.as_bytes()),
        }
    }

    /// [`Parsed::push_text`] with the line scanned once: redaction works on the members the
    /// scan read (`redact/members.rs`) and the scan stands for the redacted line. `false`
    /// (nothing kept) where that cannot be done; then the line takes [`Parsed::push_redacted`].
    fn push_redacted_once(&mut self, line: u32, text: &str, privacy: &Privacy) -> bool {
        // The list grows on the request's first lines, then serves every other line.
        let mut members = std::mem::take(&mut self.members).recycle();
        let kept = self.push_members(line, text, privacy, &mut members);
        self.members = members.recycle();
        kept
    }

    /// [`Parsed::push_redacted_once`] with `members` to fill.
    fn push_members<'t>(
        &mut self,
        line: u32,
        text: &'t str,
        privacy: &Privacy,
        members: &mut Members<'t>,
    ) -> bool {
        let mut handled = false;
        let mut refused = None;
        let before = self.observations.observations.len();
        let scanned = scan_line_members(text, Some(members), |e, members| {
            let Some(redacted) = members
                .and_then(|m| privacy.redact_members(text, m, e.envelope.session.as_deref()))
            else {
                return;
            };
            handled = true;
            refused = self.keep_redacted(e, redacted);
        });
        if !matches!(scanned, Ok(LineScan::Event(()))) || !handled {
            return false;
        }
        self.redacted_kept(line, text, before, refused);
        true
    }

    /// [`Parsed::push_text`]: the line redacted as text, then scanned.
    fn push_redacted(&mut self, line: u32, text: &str) {
        // Redacted before it is read: nothing after this sees what the rules remove. A reject
        // gets the line as sent, which `reject` redacts (once) like every other reject's text.
        let original = text;
        let redacted = match &self.privacy {
            Some(p) => p.redact_text(text),
            None => Cow::Borrowed(text),
        };
        let text: &str = &redacted;
        if let Some(depth) = too_deep(text) {
            return self.reject(
                line,
                LineError::schema(format!(
                    "values are nested {depth} levels deep, over the {MAX_DEPTH} allowed; \
                     flatten `attrs`"
                )),
                original.as_bytes(),
            );
        }
        let mut refused = None;
        let before = self.observations.observations.len();
        // With a plan, the scanner hands over the members it read, which the plan checks.
        let mut members = self.plan.as_ref().map(|_| Members::with_capacity(32));
        let scanned = scan_line_members(text, members.as_mut(), |e, members| {
            let game = self.games.resolve(e.envelope.game.as_deref());
            let game = match (&self.plan, game) {
                (Some(gate), Ok(game)) => gate
                    .admit_line(&game, &e.name, text, members)
                    .map(|()| game),
                (_, game) => game,
            };
            match game {
                Ok(game) => {
                    let index = self.push_scanned(game, &e.name, e.time_ms, e.envelope, text);
                    self.observations
                        .observe(index, &e.name, e.time_ms, e.fields, OBSERVE_ALL);
                }
                Err(err) => refused = Some(err),
            }
        });
        match scanned {
            Ok(LineScan::Event(())) => match refused {
                None => {
                    self.observations.events += 1;
                    self.observations.attach_dims(before, text);
                }
                Some(err) => self.reject(line, err, original.as_bytes()),
            },
            Ok(LineScan::Document) => match serde_json::from_str::<Value>(text) {
                Ok(value) => {
                    for item in read_document(value) {
                        match item {
                            Ok(event) => self.push_event(line, &event, original),
                            Err(e) => self.reject(line, e, original.as_bytes()),
                        }
                    }
                }
                Err(e) => self.reject(line, json_error(e), original.as_bytes()),
            },
            Err(e) => self.reject(line, e, original.as_bytes()),
        }
    }
}

/// The event as a native envelope: what the store keeps for events expanded from a document.
fn envelope_json(event: &Event) -> String {
    let mut o = Map::new();
    o.insert("event".into(), Value::String(event.name.clone()));
    if let Some(ts) = event.time_ms {
        o.insert("ts".into(), serde_json::json!(playtrace_core::num::Num(ts)));
    }
    for (key, value) in [
        ("id", &event.id),
        ("game", &event.game),
        ("env", &event.env),
        ("session", &event.session),
    ] {
        if let Some(v) = value {
            o.insert(key.into(), Value::String(v.clone()));
        }
    }
    if let Some(level) = &event.level {
        o.insert("level".into(), Value::String(level.clone()));
    }
    o.insert("attrs".into(), Value::Object(event.attrs.clone()));
    Value::Object(o).to_string()
}

/// Deepest nesting of arrays and objects a line may have: far above what telemetry needs, and
/// far below what the JSON reader that shows events can read back (an event stored deeper than
/// that would be shown without its `attrs`).
const MAX_DEPTH: usize = 64;

/// The line's nesting depth when it is over [`MAX_DEPTH`] (brackets outside strings; a line that
/// is not JSON fails later with its own message).
fn too_deep(text: &str) -> Option<usize> {
    // Telemetry lines open a handful of brackets: counting them (SIMD) settles almost every line
    // without the byte-by-byte walk, which cost a tenth of ingest's CPU.
    if memchr::memchr2_iter(b'[', b'{', text.as_bytes()).count() <= MAX_DEPTH {
        return None;
    }
    let (mut depth, mut deepest, mut in_string, mut escaped) = (0usize, 0usize, false, false);
    for b in text.bytes() {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    (deepest > MAX_DEPTH).then_some(deepest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nesting_is_measured_outside_strings() {
        assert_eq!(too_deep(r#"{"a":[[1]],"b":"[[[[[[["}"#), None);
        let deep = format!(
            r#"{{"event":"x","attrs":{{"a":{}1{}}}}}"#,
            "[".repeat(100),
            "]".repeat(100)
        );
        assert_eq!(too_deep(&deep), Some(102));
        let quoted = format!(r#"{{"event":"x","attrs":{{"a":"\"{}"}}}}"#, "[".repeat(100));
        assert_eq!(too_deep(&quoted), None);
    }

    fn scope(default: Option<&str>, only: Option<&str>) -> GameScope {
        GameScope {
            default: default.map(str::to_string),
            only: only.map(str::to_string),
        }
    }

    #[test]
    fn a_lines_game_wins_and_a_bound_token_limits_it() {
        assert_eq!(
            scope(Some("req"), None).resolve(Some("own")).unwrap(),
            "own"
        );
        assert_eq!(scope(Some("req"), None).resolve(None).unwrap(), "req");
        assert_eq!(scope(None, None).resolve(Some("")).unwrap(), "");
        let bound = scope(Some("gf"), Some("gf"));
        assert_eq!(bound.resolve(None).unwrap(), "gf");
        assert_eq!(bound.resolve(Some("gf")).unwrap(), "gf");
        let err = bound.resolve(Some("other")).unwrap_err();
        assert_eq!(err.kind.as_str(), "schema");
        assert!(
            err.message.contains("scoped to game `gf`"),
            "{}",
            err.message
        );
    }

    #[test]
    fn lines_without_game_take_the_requests_and_their_contest_is_one() {
        let mut p = Parsed::new(scope(Some("gf"), None));
        p.push_text(
            1,
            r#"{"level":"info","message":"telemetry.contest.armed","hubId":"h","roomId":"r","contestKey":"k","createdAt":1}"#,
        );
        p.push_text(
            2,
            r#"{"event":"telemetry.contest.launched","game":"gf","attrs":{"hubId":"h","roomId":"r","contestKey":"k","contestId":"c"}}"#,
        );
        let games: Vec<&str> = p.events.iter().map(|e| e.game.as_str()).collect();
        assert_eq!(games, ["gf", "gf"]);
        assert!(p.rejects.is_empty());
    }
}
