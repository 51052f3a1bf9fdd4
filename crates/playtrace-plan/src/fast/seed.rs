//! Validating a value straight from the line's text: serde visitors that check each value
//! against its compiled [`Node`] while serde_json parses it, borrowing strings from the line
//! and building nothing. Any doubt or failure is an error ("step aside"), which ends the parse:
//! the caller then checks the line the exact way.

use super::node::{ty, Lit, Node, ANY, EXACT};
use playtrace_core::fields::{ContestFields, Field, Scalar};
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use std::borrow::Cow;
use std::fmt;

/// The error every visitor returns when the fast path will not vouch for a line.
pub(super) fn aside<E: de::Error>() -> E {
    E::custom("the fast path steps aside")
}

/// Which of up to 256 declared properties an object has shown.
#[derive(Default)]
pub(super) struct Seen([u64; 4]);

impl Seen {
    /// Marks `i`; `false` when it was already marked (a duplicate key).
    pub(super) fn mark(&mut self, i: usize) -> bool {
        let (word, bit) = (i / 64, 1u64 << (i % 64));
        let fresh = self.0[word] & bit == 0;
        self.0[word] |= bit;
        fresh
    }

    fn has(&self, i: usize) -> bool {
        self.0[i / 64] & (1u64 << (i % 64)) != 0
    }

    /// Whether every required property was seen.
    pub(super) fn all(&self, required: &[usize]) -> bool {
        required.iter().all(|&i| self.has(i))
    }
}

/// An object key, borrowed from the line unless it had escapes.
pub(super) struct KeySeed;

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Cow<'de, str>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeySeed {
    type Value = Cow<'de, str>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a key")
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v.to_string()))
    }
}

/// Any value, read in full. Not serde's `IgnoredAny`: skipping does not convert numbers, so it
/// would let `1e400` through, which serde_json refuses when it builds a `Value`.
fn any_value() -> Check<'static> {
    Check {
        node: &ANY,
        keep: false,
    }
}

/// Reads a value that no rule looks at.
pub(super) fn skip<'de, D: Deserializer<'de>>(d: D) -> Result<(), D::Error> {
    any_value().deserialize(d).map(|_| ())
}

/// Checks one value against `node`. Returns the value as a [`Scalar`] when `keep` (what
/// contest fields and envelope checks take); otherwise a placeholder.
#[derive(Clone, Copy)]
pub(super) struct Check<'n> {
    pub(super) node: &'n Node,
    pub(super) keep: bool,
}

impl<'de> DeserializeSeed<'de> for Check<'_> {
    type Value = Scalar<'de>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl Check<'_> {
    fn allows(&self, bit: u8) -> bool {
        !self.node.never && self.node.types & bit != 0
    }

    fn literal<E: de::Error>(&self, lit: &Lit) -> Result<(), E> {
        match &self.node.literals {
            Some(lits) if !lits.contains(lit) => Err(aside()),
            _ => Ok(()),
        }
    }

    /// A number: `integer` says it was written without fraction or exponent; `exact` that it
    /// is exact as an `f64`.
    fn number<'de, E: de::Error>(
        self,
        n: f64,
        integer: bool,
        exact: bool,
    ) -> Result<Scalar<'de>, E> {
        let node = self.node;
        let typed = if integer {
            self.allows(ty::INTEGER | ty::NUMBER)
        } else {
            // `1.0` is an integer to JSON Schema: left to `jsonschema` where only integers fit.
            self.allows(ty::NUMBER)
        };
        if !typed || node.literals.is_some() {
            return Err(aside());
        }
        if node.has_bounds() && (!exact || !node.in_bounds(n)) {
            return Err(aside());
        }
        Ok(Scalar::Number(n))
    }

    fn string<E: de::Error>(&self, s: &str) -> Result<(), E> {
        if self.allows(ty::STRING) && self.node.string_ok(s) {
            Ok(())
        } else {
            Err(aside())
        }
    }
}

impl<'de> Visitor<'de> for Check<'_> {
    type Value = Scalar<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        if !self.allows(ty::NULL) {
            return Err(aside());
        }
        self.literal(&Lit::Null)?;
        Ok(Scalar::Null)
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        if !self.allows(ty::BOOLEAN) {
            return Err(aside());
        }
        self.literal(&Lit::Bool(v))?;
        Ok(Scalar::Bool(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        self.number(v as f64, true, v as f64 <= EXACT)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        self.number(v as f64, true, (v as f64).abs() <= EXACT)
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        self.number(v, false, true)
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        self.string(v)?;
        Ok(Scalar::Str(Cow::Borrowed(v)))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        self.string(v)?;
        // An escaped string is copied only when someone reads it.
        Ok(if self.keep {
            Scalar::Str(Cow::Owned(v.to_string()))
        } else {
            Scalar::Null
        })
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let node = self.node;
        if !self.allows(ty::OBJECT) || node.literals.is_some() {
            return Err(aside());
        }
        let mut seen = Seen::default();
        while let Some(key) = map.next_key_seed(KeySeed)? {
            match node.property(&key) {
                Some((i, _)) => {
                    // A repeated key: serde_json keeps the last value; not worth following.
                    if !seen.mark(i) {
                        return Err(aside());
                    }
                    map.next_value_seed(Check {
                        node: &node.properties[i].1,
                        keep: false,
                    })?;
                }
                None if node.additional => {
                    map.next_value_seed(any_value())?;
                }
                None => return Err(aside()),
            }
        }
        if !seen.all(&node.required) {
            return Err(aside());
        }
        Ok(Scalar::Object)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let node = self.node;
        if !self.allows(ty::ARRAY) || node.literals.is_some() {
            return Err(aside());
        }
        let mut count = 0u64;
        match &node.items {
            Some(items) => {
                let item = Check {
                    node: items,
                    keep: false,
                };
                while seq.next_element_seed(item)?.is_some() {
                    count += 1;
                }
            }
            None => {
                while seq.next_element_seed(any_value())?.is_some() {
                    count += 1;
                }
            }
        }
        if node.min_items.is_some_and(|m| count < m) || node.max_items.is_some_and(|m| count > m) {
            return Err(aside());
        }
        Ok(Scalar::Array)
    }
}

/// An event's attrs object, checked key by key as they arrive (from a structured line's top
/// level, or a native line's `attrs`): each against its declared property, contest fields as
/// core validates them, and an undeclared key stepping aside where the plan would warn or
/// fail.
pub(super) struct Root<'n, 'de> {
    node: &'n Node,
    /// Where contest fields are checked (kept: a fresh one per attr would cost a clear).
    contest: ContestFields<'de>,
    /// An undeclared key is a warning (the schema declares properties and is not closed).
    warns: bool,
    seen: Seen,
    /// Contest fields seen (a repeated one steps aside: serde_json keeps the last).
    fields: u32,
}

impl<'n, 'de> Root<'n, 'de> {
    /// `None` when the schema cannot accept an object at all (the exact way words why).
    pub(super) fn new(node: &'n Node) -> Option<Root<'n, 'de>> {
        if node.never || node.types & ty::OBJECT == 0 || node.literals.is_some() {
            return None;
        }
        Some(Root {
            node,
            contest: ContestFields::default(),
            warns: node.additional && !node.properties.is_empty(),
            seen: Seen::default(),
            fields: 0,
        })
    }

    /// Checks the value of attr `key`, read from `d`.
    pub(super) fn entry<D: Deserializer<'de>>(&mut self, key: &str, d: D) -> Result<(), D::Error> {
        let (property, field) = match self.node.property(key) {
            Some((i, field)) => (Some(i), field),
            None if !self.node.additional || self.warns => return Err(aside()),
            None => (None, Field::from_key(key)),
        };
        if let Some(f) = field {
            let bit = 1u32 << (f as u32);
            if self.fields & bit != 0 {
                return Err(aside());
            }
            self.fields |= bit;
        }
        let keep = field.is_some();
        let value = match property {
            Some(i) => {
                if !self.seen.mark(i) {
                    return Err(aside());
                }
                Check {
                    node: &self.node.properties[i].1,
                    keep,
                }
                .deserialize(d)?
            }
            None if keep => Check { node: &ANY, keep }.deserialize(d)?,
            None => {
                return skip(d);
            }
        };
        if let Some(f) = field {
            // Core refuses the whole line when a contest field has the wrong type.
            if self.contest.set(f, value).is_err() {
                return Err(aside());
            }
        }
        Ok(())
    }

    /// Whether every required attr was seen.
    pub(super) fn complete(&self) -> bool {
        self.seen.all(&self.node.required)
    }
}

/// A native line's `attrs`: an object checked as [`Root`] entries, or `null` (no attrs).
pub(super) struct AttrsSeed<'r, 'n, 'de>(pub(super) &'r mut Root<'n, 'de>);

impl<'de> DeserializeSeed<'de> for AttrsSeed<'_, '_, 'de> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for AttrsSeed<'_, '_, 'de> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an attrs object")
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key_seed(KeySeed)? {
            map.next_value_seed(EntrySeed {
                root: &mut *self.0,
                key: &key,
            })?;
        }
        Ok(())
    }
}

/// One attr's value handed to [`Root::entry`] by a map.
pub(super) struct EntrySeed<'r, 'n, 'de, 'k> {
    pub(super) root: &'r mut Root<'n, 'de>,
    pub(super) key: &'k str,
}

impl<'de> DeserializeSeed<'de> for EntrySeed<'_, '_, 'de, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        self.root.entry(self.key, d)
    }
}

/// Whether a value the scanner already read passes `node`: scalars through the same checks a
/// parse makes ([`Check`]'s visitor methods), containers by parsing their text against `node`.
/// `integer`: the number was written without fraction or exponent (and is not `-0`, which
/// serde_json reads as a float).
pub(super) fn scanned_ok(node: &Node, value: &Scalar<'_>, raw: &str, integer: bool) -> bool {
    type E = serde_json::Error;
    let check = Check { node, keep: false };
    match value {
        Scalar::Null => check.visit_unit::<E>().is_ok(),
        Scalar::Bool(b) => check.visit_bool::<E>(*b).is_ok(),
        Scalar::Number(n) => check
            .number::<E>(*n, integer, !integer || n.abs() <= EXACT)
            .is_ok(),
        Scalar::Str(s) => check.string::<E>(s).is_ok(),
        Scalar::Array | Scalar::Object => {
            let mut de = serde_json::Deserializer::from_str(raw);
            check.deserialize(&mut de).is_ok() && de.end().is_ok()
        }
    }
}
