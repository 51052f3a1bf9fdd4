//! What a scanned line hands its caller: the event's name, time, contest fields and envelope,
//! borrowed from the line where it can be.

use crate::event::Event;
use crate::fields::{ContestFields, Scalar};
use std::borrow::Cow;

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
    /// `game`: which game sent it; the collector scopes API keys and queries by it.
    pub game: Option<Cow<'a, str>>,
    /// `env` (`prod`, `staging`, ...): scopes like `game`.
    pub env: Option<Cow<'a, str>>,
    /// `session`: what transcripts and per-session erasure group by.
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
pub(super) fn envelope_text(value: Scalar<'_>) -> Option<Cow<'_, str>> {
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
    /// Contest fields (native `attrs`, or the structured line's own keys), owned.
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
