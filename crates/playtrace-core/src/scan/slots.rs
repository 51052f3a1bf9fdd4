//! A line's values by key slot, filled by the fast reader or the serde_json visitor and
//! validated into the event once the line is complete.

use super::event_ref::{envelope_text, Envelope, EventRef, LineScan};
use crate::event::{check_envelope, check_name, missing_name, EnvelopeKey};
use crate::fields::{classify_key, slot, ContestFields, Field, Scalar};
use crate::reject::LineError;
use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use std::borrow::Cow;
use std::fmt;

#[derive(Clone, Copy)]
pub(super) enum Shape {
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
pub(super) struct Slots<'de> {
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
    pub(super) fn set(&mut self, code: u8, value: Scalar<'de>) {
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
pub(super) struct Top<'de> {
    pub(super) own: Slots<'de>,
    /// Native `attrs`, allocated only when the line has them.
    pub(super) attrs: Option<Box<Slots<'de>>>,
    pub(super) attrs_type: Option<&'static str>,
    pub(super) document_hint: bool,
    /// The validated fields handed to the caller.
    fields: ContestFields<'de>,
}

impl<'de> Top<'de> {
    pub(super) fn finish<R>(
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

pub(super) struct TopVisitor<'a, 'de> {
    pub(super) top: &'a mut Top<'de>,
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
