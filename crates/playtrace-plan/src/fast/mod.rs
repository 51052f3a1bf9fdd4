//! The fast path: checking a clean line straight from its text.
//!
//! Nearly every line of real telemetry is clean, and checking one the exact way —
//! `serde_json::Value`, then `Event::from_object`, then `jsonschema` — spends most of its time
//! building and dropping the `Value`. `Plan::check_line` instead walks the line once with
//! serde_json's borrowing parser and checks each attr against its schema as it is read, with no
//! tree built. It implements a common subset of JSON Schema exactly (see [`node`]) and core's
//! rules for what makes a line one event (the name, the envelope, contest fields). It only ever
//! says "this line is one event named N, and it is clean": on anything else — a violation, an
//! unexpected attr, a schema outside the subset, a repeated key, a number it cannot compare
//! exactly, a line that is not one event — it answers `None`, and the caller checks the line
//! the exact way, which words every message, path and exit code as before.
//!
//! ```text
//!  node.rs     a schema → a compiled Node, or None outside the subset
//!  seed.rs     serde visitors checking values against Nodes while parsing
//!  scanned.rs  the same checks over the members core's scanner already read (no second parse)
//! ```

mod node;
mod scanned;
mod seed;

pub(crate) use node::{compile, Node};
pub(crate) use scanned::clean_members;

use playtrace_core::event::{check_envelope, check_name, EnvelopeKey};
use playtrace_core::fields::Scalar;
use seed::{aside, AttrsSeed, Check, KeySeed, Root};
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::fmt;

/// Finds an event name's schema: its handle and its compiled node (`None`: outside the
/// subset); `None` for a name no schema describes.
pub(crate) type Lookup<'l, 'p, S> = dyn Fn(&str) -> Option<(S, Option<&'p Node>)> + 'l;

/// Walks one line (what `Plan::check_line` answers with): `Some((name, schema))` when the line
/// is exactly one clean event (`schema` `None`: no schema describes it).
pub(crate) fn clean_line<'a, 'p, S: Copy>(
    line: &'a str,
    lookup: &Lookup<'_, 'p, S>,
) -> Option<(Cow<'a, str>, Option<S>)> {
    let mut de = serde_json::Deserializer::from_str(line);
    let mut state = Line {
        lookup,
        shape: Shape::Undecided,
        name: None,
        schema: None,
        root: None,
        pending: Default::default(),
        envelope: 0,
        attrs: false,
    };
    (&mut de).deserialize_map(TopVisitor(&mut state)).ok()?;
    de.end().ok()?;
    state.finish()
}

/// Keys a line may hold before its name and still take the fast path.
const PENDING: usize = 4;

/// Which dialect the line is (core: `event` wins over `message`).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Shape {
    Undecided,
    /// A structured log line: the name is `message`, the attrs are every other key but
    /// `level` and `timestamp`. Assumed once `message` is read; an `event` key after it steps
    /// aside.
    Structured,
    /// A native envelope: the name is `event`, the attrs are `attrs`.
    Native,
}

/// The state of one line's walk.
struct Line<'l, 'p, 'a, S> {
    lookup: &'l Lookup<'l, 'p, S>,
    shape: Shape,
    name: Option<Cow<'a, str>>,
    /// The governing schema (`None`: an unknown event, its attrs checked as `{}`).
    schema: Option<S>,
    root: Option<Root<'p, 'a>>,
    /// Keys read before the name (a structured line's `level` and `timestamp`), kept as text
    /// and checked once the schema is known; held inline, so a line allocates nothing here.
    /// More than [`PENDING`] of them step aside.
    pending: [Option<(Cow<'a, str>, &'a RawValue)>; PENDING],
    /// Envelope keys seen, as bits (a repeated one steps aside).
    envelope: u8,
    /// A native line's `attrs` was seen.
    attrs: bool,
}

/// The envelope keys of both dialects and their bits.
fn envelope_key(shape: Shape, key: &str) -> Option<(u8, EnvelopeKey)> {
    Some(match (shape, key) {
        (Shape::Native, "id") => (1, EnvelopeKey::Id),
        (Shape::Native, "game") => (2, EnvelopeKey::Scope("game")),
        (Shape::Native, "env") => (4, EnvelopeKey::Scope("env")),
        (Shape::Native, "session") => (8, EnvelopeKey::Scope("session")),
        (Shape::Native, "ts") => (16, EnvelopeKey::Ts),
        (Shape::Structured, "level") => (32, EnvelopeKey::Level),
        (Shape::Structured, "timestamp") => (64, EnvelopeKey::Timestamp),
        _ => return None,
    })
}

impl<'p, 'a, S: Copy> Line<'_, 'p, 'a, S> {
    /// The name is read: find the schema, then check the keys read before it.
    fn decide<E: de::Error>(
        &mut self,
        shape: Shape,
        key: &str,
        value: Scalar<'a>,
    ) -> Result<(), E> {
        let name = check_name(key, value).map_err(|_| aside())?;
        let node: &'p Node = match (self.lookup)(&name) {
            Some((schema, fast)) => {
                self.schema = Some(schema);
                fast.ok_or_else(aside::<E>)?
            }
            None => &node::ANY,
        };
        self.root = Some(Root::new(node).ok_or_else(aside::<E>)?);
        self.name = Some(name);
        self.shape = shape;
        for (key, raw) in std::mem::take(&mut self.pending).into_iter().flatten() {
            let mut de = serde_json::Deserializer::from_str(raw.get());
            self.key(&key, &mut de).map_err(|_| aside())?;
        }
        Ok(())
    }

    /// One key of a line whose shape is known.
    fn key<D: Deserializer<'a>>(&mut self, key: &str, d: D) -> Result<(), D::Error> {
        if let Some((bit, envelope)) = envelope_key(self.shape, key) {
            if self.envelope & bit != 0 {
                return Err(aside());
            }
            self.envelope |= bit;
            let value = Check {
                node: &node::ANY,
                keep: true,
            }
            .deserialize(d)?;
            return match check_envelope(envelope, &value) {
                Ok(_) => Ok(()),
                Err(_) => Err(aside()),
            };
        }
        let Some(root) = self.root.as_mut() else {
            return Err(aside());
        };
        match (self.shape, key) {
            // The name again (serde_json would keep the last), or `event` after a structured
            // line's `message` (the line is native after all).
            (_, "event") | (Shape::Structured, "message") => Err(aside()),
            (Shape::Structured, _) => root.entry(key, d),
            (Shape::Native, "attrs") => {
                if std::mem::replace(&mut self.attrs, true) {
                    return Err(aside());
                }
                AttrsSeed(root).deserialize(d)
            }
            (Shape::Native, _) => seed::skip(d),
            (Shape::Undecided, _) => Err(aside()),
        }
    }

    fn finish(self) -> Option<(Cow<'a, str>, Option<S>)> {
        if self.shape == Shape::Undecided || !self.root.as_ref()?.complete() {
            return None;
        }
        Some((self.name?, self.schema))
    }
}

/// The line's top-level object.
struct TopVisitor<'s, 'l, 'p, 'a, S>(&'s mut Line<'l, 'p, 'a, S>);

impl<'a, S: Copy> Visitor<'a> for TopVisitor<'_, '_, '_, 'a, S> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an event object")
    }

    fn visit_map<A: MapAccess<'a>>(self, mut map: A) -> Result<(), A::Error> {
        let line = self.0;
        while let Some(key) = map.next_key_seed(KeySeed)? {
            if line.shape != Shape::Undecided {
                map.next_value_seed(KeyValue {
                    line: &mut *line,
                    key: &key,
                })?;
                continue;
            }
            let shape = match key.as_ref() {
                "event" => Shape::Native,
                "message" => Shape::Structured,
                _ => {
                    let raw: &'a RawValue = map.next_value()?;
                    let free = line.pending.iter_mut().find(|p| p.is_none());
                    *free.ok_or_else(aside)? = Some((key, raw));
                    continue;
                }
            };
            let name = map.next_value_seed(Check {
                node: &node::ANY,
                keep: true,
            })?;
            line.decide(shape, &key, name)?;
        }
        Ok(())
    }
}

/// One key's value handed to [`Line::key`] by the top-level map.
struct KeyValue<'s, 'l, 'p, 'a, 'k, S> {
    line: &'s mut Line<'l, 'p, 'a, S>,
    key: &'k str,
}

impl<'a, S: Copy> DeserializeSeed<'a> for KeyValue<'_, '_, '_, 'a, '_, S> {
    type Value = ();
    fn deserialize<D: Deserializer<'a>>(self, d: D) -> Result<(), D::Error> {
        self.line.key(self.key, d)
    }
}

#[cfg(test)]
mod tests;
