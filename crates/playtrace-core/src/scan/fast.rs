//! A strict fast path for the common line: one JSON object whose values are scalars (or
//! containers, skipped with full validation), as every log line PlayTrace meets looks.
//!
//! It fills the same [`Slots`] the serde_json visitor fills, about twice as fast, because it does
//! only what an event line needs. It never decides that a line is *invalid*: whenever it meets
//! anything it does not fully handle — a syntax error, a control character, a surrogate escape,
//! a number it cannot convert exactly as serde_json does, deep nesting — it answers `None`, and
//! the caller re-reads the line with serde_json, which then decides and words every error. So
//! its only possible faults are accepting a line serde_json rejects or reading a value
//! differently; the differential property tests in `tests.rs` check both.

use super::members::{Member, Sink};
use super::slots::{Slots, Top};
use crate::fields::{classify_key, slot, Field, Scalar};
use std::borrow::Cow;

/// Nesting deeper than this is left to serde_json (whose own limit is 128).
const MAX_DEPTH: u32 = 64;

/// Fills `top` from `line` if it is an object this reader fully validates; `None` otherwise.
/// Every member read goes to `sink` too (nothing, for [`NoMembers`]); a sink that answers
/// `false` stops the read (`None`).
///
/// [`NoMembers`]: super::members::NoMembers
pub(super) fn read_line<'a, S: Sink<'a>>(
    line: &'a str,
    top: &mut Top<'a>,
    sink: &mut S,
) -> Option<()> {
    let mut r = Reader {
        s: line,
        b: line.as_bytes(),
        i: 0,
    };
    r.ws();
    r.expect(b'{')?;
    r.elements(b'}', |r| {
        let (code, key) = r.member_key()?;
        let start = r.i;
        if usize::from(code) < slot::COUNT {
            let value = r.value(1)?;
            if S::KEEPS && !sink.member(r.member(key, value.clone(), start, false)?) {
                return None;
            }
            top.own.set(code, value);
        } else if code == slot::ATTRS {
            if !sink.attrs_key(start) {
                return None;
            }
            let value = if r.peek()? == b'{' {
                r.attrs(top.attrs.insert(Box::default()), sink)?;
                Scalar::Object
            } else {
                r.value(1)?
            };
            top.attrs_type = Some(value.type_name());
            if S::KEEPS && !sink.member(r.member(key, value, start, false)?) {
                return None;
            }
        } else {
            top.document_hint = true;
            let value = r.value(1)?;
            if S::KEEPS && !sink.member(r.member(key, value, start, false)?) {
                return None;
            }
        }
        Some(())
    })?;
    r.ws();
    (r.i == r.b.len()).then_some(())
}

struct Reader<'a> {
    s: &'a str,
    b: &'a [u8],
    i: usize,
}

/// One in every byte of a word.
const ONES: u64 = u64::MAX / 255;
/// The high bit of every byte of a word.
const HIGHS: u64 = ONES << 7;

/// Marks the bytes of `w` that end or interrupt a plain string run: `"`, `\` or a control
/// character. Only the lowest marked byte is exact (borrows can mark bytes above it), which is
/// all the caller uses.
#[inline]
fn specials(w: u64) -> u64 {
    let control = w.wrapping_sub(ONES * 0x20) & !w;
    let q = w ^ (ONES * u64::from(b'"'));
    let quote = q.wrapping_sub(ONES) & !q;
    let s = w ^ (ONES * u64::from(b'\\'));
    let backslash = s.wrapping_sub(ONES) & !s;
    (control | quote | backslash) & HIGHS
}

impl<'a> Reader<'a> {
    #[inline]
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    #[inline]
    fn next(&mut self) -> Option<u8> {
        let c = self.peek()?;
        self.i += 1;
        Some(c)
    }

    #[inline]
    fn expect(&mut self, c: u8) -> Option<()> {
        (self.next()? == c).then_some(())
    }

    #[inline]
    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.i += 1;
        }
    }

    /// Moves to the first `"`, `\` or control character at or after the position.
    #[inline]
    fn skip_plain(&mut self) {
        while let Some(chunk) = self.b.get(self.i..self.i + 8) {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            let marks = specials(u64::from_le_bytes(word));
            if marks != 0 {
                self.i += (marks.trailing_zeros() / 8) as usize;
                return;
            }
            self.i += 8;
        }
        while let Some(c) = self.peek() {
            if c == b'"' || c == b'\\' || c < 0x20 {
                return;
            }
            self.i += 1;
        }
    }

    /// A key, as its slot and its text. Keys never need unescaping in practice; one that has an
    /// escape (or a control character) is left to serde_json with the rest of its line.
    #[inline]
    fn key(&mut self) -> Option<(u8, &'a str)> {
        if self.next()? != b'"' {
            return None;
        }
        let start = self.i;
        self.skip_plain();
        if self.next()? != b'"' {
            return None;
        }
        let key = self.s.get(start..self.i - 1)?;
        Some((classify_key(key), key))
    }

    /// The member whose value was read from `start` to here.
    #[inline]
    fn member(
        &self,
        key: &'a str,
        value: Scalar<'a>,
        start: usize,
        in_attrs: bool,
    ) -> Option<Member<'a>> {
        Some(Member {
            key,
            value,
            raw: self.s.get(start..self.i)?,
            in_attrs,
        })
    }

    /// A string starting at the opening quote.
    #[inline]
    fn string(&mut self) -> Option<Cow<'a, str>> {
        if self.next()? != b'"' {
            return None;
        }
        let start = self.i;
        self.skip_plain();
        match self.next()? {
            // Slicing the `str` at ASCII quote positions is always on a char boundary.
            b'"' => Some(Cow::Borrowed(self.s.get(start..self.i - 1)?)),
            b'\\' => {
                let mut out = String::with_capacity(self.i - start + 16);
                out.push_str(self.s.get(start..self.i - 1)?);
                self.escape(&mut out)?;
                loop {
                    let run = self.i;
                    self.skip_plain();
                    out.push_str(self.s.get(run..self.i)?);
                    match self.next()? {
                        b'"' => return Some(Cow::Owned(out)),
                        b'\\' => self.escape(&mut out)?,
                        _ => return None,
                    }
                }
            }
            _ => None,
        }
    }

    /// One escape, after its backslash. Surrogate escapes are left to serde_json.
    fn escape(&mut self, out: &mut String) -> Option<()> {
        let c = match self.next()? {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => {
                let hex = self.b.get(self.i..self.i + 4)?;
                let mut code = 0u32;
                for &h in hex {
                    code = code * 16 + char::from(h).to_digit(16)?;
                }
                self.i += 4;
                char::from_u32(code)? // `None` for surrogates
            }
            _ => return None,
        };
        out.push(c);
        Some(())
    }

    /// A value: scalars are kept, containers are validated and skipped.
    fn value(&mut self, depth: u32) -> Option<Scalar<'a>> {
        match self.peek()? {
            b'"' => self.string().map(Scalar::Str),
            b'-' | b'0'..=b'9' => self.number().map(Scalar::Number),
            b't' => self.literal(b"true", Scalar::Bool(true)),
            b'f' => self.literal(b"false", Scalar::Bool(false)),
            b'n' => self.literal(b"null", Scalar::Null),
            b'{' => self.skip_object(depth).map(|()| Scalar::Object),
            b'[' => self.skip_array(depth).map(|()| Scalar::Array),
            _ => None,
        }
    }

    fn literal(&mut self, text: &[u8], value: Scalar<'a>) -> Option<Scalar<'a>> {
        if self.b.get(self.i..self.i + text.len())? == text {
            self.i += text.len();
            Some(value)
        } else {
            None
        }
    }

    /// A number, converted exactly as serde_json converts it: integers of up to 18 digits
    /// through `u64` (then `as f64`, as serde_json's `visit_u64`/`visit_i64` callers do), others
    /// correctly rounded (serde_json's `float_roundtrip`). Longer integers are left to serde_json.
    fn number(&mut self) -> Option<f64> {
        let start = self.i;
        let negative = self.peek()? == b'-';
        if negative {
            self.i += 1;
        }
        let digits_start = self.i;
        let mut int: u64 = 0;
        match self.next()? {
            b'0' => {}
            c @ b'1'..=b'9' => {
                int = u64::from(c - b'0');
                while let Some(c @ b'0'..=b'9') = self.peek() {
                    int = int.wrapping_mul(10).wrapping_add(u64::from(c - b'0'));
                    self.i += 1;
                }
            }
            _ => return None,
        }
        let int_digits = self.i - digits_start;
        let mut fraction_or_exponent = false;
        if self.peek() == Some(b'.') {
            self.i += 1;
            self.digits()?;
            fraction_or_exponent = true;
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.i += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.i += 1;
            }
            self.digits()?;
            fraction_or_exponent = true;
        }
        if fraction_or_exponent {
            let v: f64 = self.s.get(start..self.i)?.parse().ok()?;
            return v.is_finite().then_some(v);
        }
        if int_digits > 18 {
            return None;
        }
        Some(match (negative, int) {
            (false, _) => int as f64,
            (true, 0) => -0.0, // serde_json reads `-0` as the float -0.0
            (true, _) => -(int as i64) as f64,
        })
    }

    fn digits(&mut self) -> Option<()> {
        let start = self.i;
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.i += 1;
        }
        (self.i > start).then_some(())
    }

    /// The elements of a container whose opening bracket was read: `each` reads one element,
    /// and the whitespace, commas and closing bracket around them are handled here.
    fn elements(&mut self, close: u8, mut each: impl FnMut(&mut Self) -> Option<()>) -> Option<()> {
        self.ws();
        if self.peek()? == close {
            self.i += 1;
            return Some(());
        }
        loop {
            self.ws();
            each(self)?;
            self.ws();
            match self.next()? {
                b',' => {}
                c if c == close => return Some(()),
                _ => return None,
            }
        }
    }

    /// An object member's key and the `:` after it, as the key's slot and text.
    fn member_key(&mut self) -> Option<(u8, &'a str)> {
        let code = self.key()?;
        self.ws();
        self.expect(b':')?;
        self.ws();
        Some(code)
    }

    fn skip_object(&mut self, depth: u32) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.expect(b'{')?;
        self.elements(b'}', |r| {
            r.member_key()?;
            r.value(depth + 1).map(drop)
        })
    }

    fn skip_array(&mut self, depth: u32) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.expect(b'[')?;
        self.elements(b']', |r| r.value(depth + 1).map(drop))
    }

    /// A native `attrs` object: its field keys go into `slots`, other keys are validated only;
    /// every member goes to `sink`.
    fn attrs<S: Sink<'a>>(&mut self, slots: &mut Slots<'a>, sink: &mut S) -> Option<()> {
        self.expect(b'{')?;
        self.elements(b'}', |r| {
            let (code, key) = r.member_key()?;
            let start = r.i;
            let value = r.value(2)?;
            if usize::from(code) < Field::COUNT {
                if S::KEEPS && !sink.member(r.member(key, value.clone(), start, true)?) {
                    return None;
                }
                slots.set(code, value);
            } else if S::KEEPS && !sink.member(r.member(key, value, start, true)?) {
                return None;
            }
            Some(())
        })
    }
}
