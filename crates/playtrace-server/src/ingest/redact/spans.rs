//! Redaction by rewriting spans of the line (issue 23's ingest cost): the line is read once into
//! a flat, borrowed outline — each value's byte range, its key, its decoded text when it is a
//! string — the rules are applied to that outline exactly as they are to a parsed
//! `serde_json::Value` (same order, same keys, same envelope protection), and only what they
//! changed is written back: a dropped entry is cut out with its comma, a hashed, truncated or
//! masked value replaced in place. Everything else stays byte for byte, and a line no rule
//! changed is returned as it came.
//!
//! The outline accepts only what `serde_json` accepts (it is stricter where that was simpler:
//! numbers other than short integers and strings with escapes are checked by `serde_json`
//! itself, nesting stops earlier); on anything else [`redact`] answers `None` and the caller
//! falls back to the `Value` round trip.

use super::live::Live;
use crate::config::{Privacy, RedactRule};
use serde_json::Value;
use std::borrow::Cow;

/// Deeper lines take the `Value` round trip (`serde_json` refuses 128 levels).
const MAX_DEPTH: usize = 100;

/// No parent: the root.
const ROOT: u32 = u32::MAX;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Object,
    Array,
    Str,
    Other,
}

struct Node<'a> {
    /// The key naming it in its object (decoded); `None` in an array or at the root.
    key: Option<Cow<'a, str>>,
    /// Where its entry starts: the key's opening quote in an object, else the value's start.
    entry: usize,
    start: usize,
    end: usize,
    kind: Kind,
    /// A string's decoded text.
    text: Option<Cow<'a, str>>,
    parent: u32,
    /// One past the last node of its subtree (nodes are in document order).
    next: u32,
    removed: bool,
    /// The string that replaces the value (hash, truncation, mask).
    replaced: Option<String>,
    /// It or something inside it changed.
    dirty: bool,
}

struct Parser<'a> {
    s: &'a str,
    b: &'a [u8],
    i: usize,
    nodes: Vec<Node<'a>>,
}

impl<'a> Parser<'a> {
    fn ws(&mut self) {
        while matches!(self.b.get(self.i), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.i += 1;
        }
    }

    fn at(&self, c: u8) -> bool {
        self.b.get(self.i) == Some(&c)
    }

    /// After a member or an element: `Some(true)` past the container's `close`, `Some(false)`
    /// past a `,` (and the space after it), `None` on anything else.
    fn separator(&mut self, close: u8) -> Option<bool> {
        match *self.b.get(self.i)? {
            b',' => {
                self.i += 1;
                self.ws();
                Some(false)
            }
            c if c == close => {
                self.i += 1;
                Some(true)
            }
            _ => None,
        }
    }

    /// A string at `self.i` (its opening quote): its start and decoded text.
    fn string(&mut self) -> Option<(usize, Cow<'a, str>)> {
        let start = self.i;
        self.i += 1;
        let mut escaped = false;
        loop {
            match *self.b.get(self.i)? {
                b'"' => break,
                b'\\' => {
                    escaped = true;
                    self.i += 2;
                }
                c if c < 0x20 => return None,
                _ => self.i += 1,
            }
        }
        self.i += 1;
        let raw = self.s.get(start..self.i)?;
        let text = if escaped {
            Cow::Owned(serde_json::from_str::<String>(raw).ok()?)
        } else {
            Cow::Borrowed(&raw[1..raw.len() - 1])
        };
        Some((start, text))
    }

    fn digits(&mut self) -> usize {
        let from = self.i;
        while matches!(self.b.get(self.i), Some(b'0'..=b'9')) {
            self.i += 1;
        }
        self.i - from
    }

    fn number(&mut self) -> Option<()> {
        let start = self.i;
        if self.at(b'-') {
            self.i += 1;
        }
        match self.b.get(self.i)? {
            b'0' => self.i += 1,
            b'1'..=b'9' => {
                self.digits();
            }
            _ => return None,
        }
        let mut plain = true;
        if self.at(b'.') {
            self.i += 1;
            plain = false;
            if self.digits() == 0 {
                return None;
            }
        }
        if matches!(self.b.get(self.i), Some(b'e' | b'E')) {
            self.i += 1;
            plain = false;
            if matches!(self.b.get(self.i), Some(b'+' | b'-')) {
                self.i += 1;
            }
            if self.digits() == 0 {
                return None;
            }
        }
        // What serde_json refuses beyond the grammar (a number out of f64's range).
        if !plain || self.i - start > 18 {
            serde_json::from_str::<Value>(self.s.get(start..self.i)?).ok()?;
        }
        Some(())
    }

    fn literal(&mut self, word: &[u8]) -> Option<()> {
        if self.b.get(self.i..self.i + word.len())? != word {
            return None;
        }
        self.i += word.len();
        Some(())
    }

    fn value(
        &mut self,
        depth: usize,
        key: Option<Cow<'a, str>>,
        entry: usize,
        parent: u32,
    ) -> Option<()> {
        let at = self.nodes.len();
        let start = self.i;
        self.nodes.push(Node {
            key,
            entry,
            start,
            end: start,
            kind: Kind::Other,
            text: None,
            parent,
            next: 0,
            removed: false,
            replaced: None,
            dirty: false,
        });
        let kind = match *self.b.get(self.i)? {
            b'{' | b'[' if depth >= MAX_DEPTH => return None,
            b'{' => {
                self.i += 1;
                self.ws();
                if self.at(b'}') {
                    self.i += 1;
                } else {
                    loop {
                        if !self.at(b'"') {
                            return None;
                        }
                        let (key_start, key) = self.string()?;
                        self.ws();
                        if !self.at(b':') {
                            return None;
                        }
                        self.i += 1;
                        self.ws();
                        self.value(depth + 1, Some(key), key_start, at as u32)?;
                        self.ws();
                        if self.separator(b'}')? {
                            break;
                        }
                    }
                }
                Kind::Object
            }
            b'[' => {
                self.i += 1;
                self.ws();
                if self.at(b']') {
                    self.i += 1;
                } else {
                    loop {
                        self.value(depth + 1, None, self.i, at as u32)?;
                        self.ws();
                        if self.separator(b']')? {
                            break;
                        }
                    }
                }
                Kind::Array
            }
            b'"' => {
                let (_, text) = self.string()?;
                self.nodes[at].text = Some(text);
                Kind::Str
            }
            b't' => self.literal(b"true").map(|()| Kind::Other)?,
            b'f' => self.literal(b"false").map(|()| Kind::Other)?,
            b'n' => self.literal(b"null").map(|()| Kind::Other)?,
            b'-' | b'0'..=b'9' => self.number().map(|()| Kind::Other)?,
            _ => return None,
        };
        let next = self.nodes.len() as u32;
        let node = &mut self.nodes[at];
        node.kind = kind;
        node.end = self.i;
        node.next = next;
        Some(())
    }
}

/// What one rule does to one entry of an object.
enum Act {
    Drop,
    Hash,
    Truncate(usize),
    Nested,
}

struct Outline<'p, 'a> {
    privacy: &'p Privacy,
    text: &'a str,
    nodes: Vec<Node<'a>>,
    /// Per mask (all rules' masks in order): whether it may match an unchanged string of the
    /// line (`live.rs`).
    live: Live<'a>,
}

/// The envelope keys at an event's top level that no rule touches (as `protected` in
/// `redact.rs`).
fn protected(key: &str, has_event: bool) -> bool {
    matches!(
        key,
        "event" | "ts" | "time" | "id" | "game" | "env" | "level"
    ) || (key == "message" && !has_event)
}

pub(super) fn push_json_string(out: &mut String, s: &str) {
    if !s.bytes().any(|b| b == b'"' || b == b'\\' || b < 0x20) {
        out.push('"');
        out.push_str(s);
        out.push('"');
        return;
    }
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

impl<'a> Outline<'_, 'a> {
    fn kind(&self, i: usize) -> Kind {
        let n = &self.nodes[i];
        if n.replaced.is_some() {
            Kind::Str
        } else {
            n.kind
        }
    }

    /// A string's current text (`None` for other values).
    fn current(&self, i: usize) -> Option<&str> {
        let n = &self.nodes[i];
        match &n.replaced {
            Some(r) => Some(r),
            None => n.text.as_deref(),
        }
    }

    /// The first child of `i` at or after node `c` that is not removed (`None`: no more).
    /// Children are walked by index, so a rule may change the outline between two steps.
    fn child_from(&self, i: usize, mut c: usize) -> Option<usize> {
        while c < self.nodes[i].next as usize {
            if !self.nodes[c].removed {
                return Some(c);
            }
            c = self.nodes[c].next as usize;
        }
        None
    }

    /// The child after child `c` of `i`.
    fn next_child(&self, i: usize, c: usize) -> Option<usize> {
        self.child_from(i, self.nodes[c].next as usize)
    }

    fn touch(&mut self, mut i: u32) {
        while i != ROOT && !self.nodes[i as usize].dirty {
            self.nodes[i as usize].dirty = true;
            i = self.nodes[i as usize].parent;
        }
    }

    fn replace(&mut self, i: usize, with: String) {
        self.nodes[i].replaced = Some(with);
        self.touch(i as u32);
    }

    fn remove(&mut self, i: usize) {
        self.nodes[i].removed = true;
        let parent = self.nodes[i].parent;
        self.touch(parent);
    }

    /// A line: one event, or a document holding events.
    fn redact_value(&mut self, i: usize) -> Option<()> {
        match self.kind(i) {
            Kind::Object => self.redact_event(i),
            Kind::Array => {
                let mut c = self.child_from(i, i + 1);
                while let Some(at) = c {
                    self.redact_value(at)?;
                    c = self.next_child(i, at);
                }
                Some(())
            }
            _ => Some(()),
        }
    }

    /// The last entry named `key` (the one a parsed object keeps).
    fn entry(&self, object: usize, key: &str) -> Option<usize> {
        let mut found = None;
        let mut c = self.child_from(object, object + 1);
        while let Some(at) = c {
            if self.nodes[at].key.as_deref() == Some(key) {
                found = Some(at);
            }
            c = self.next_child(object, at);
        }
        found
    }

    /// The event's name as the `Value` round trip reads it (borrowed from the line when it is
    /// written without escapes and no rule changed it).
    fn name(&self, object: usize) -> Option<Cow<'a, str>> {
        ["event", "message", "name"].iter().find_map(|k| {
            let n = &self.nodes[self.entry(object, k)?];
            match (&n.replaced, &n.text) {
                (Some(r), _) => Some(Cow::Owned(r.clone())),
                (None, Some(Cow::Borrowed(t))) => Some(Cow::Borrowed(*t)),
                (None, Some(Cow::Owned(t))) => Some(Cow::Owned(t.clone())),
                (None, None) => None,
            }
        })
    }

    fn redact_event(&mut self, object: usize) -> Option<()> {
        let name = self.name(object);
        let mut base = 0;
        for rule in &self.privacy.rules {
            if rule.applies_to(name.as_deref()) {
                self.apply(rule, base, object, true)?;
            }
            base += rule.mask.len();
        }
        Some(())
    }

    fn apply(&mut self, rule: &RedactRule, base: usize, object: usize, top: bool) -> Option<()> {
        let has_event = top && self.entry(object, "event").is_some();
        let mut next = self.child_from(object, object + 1);
        while let Some(c) = next {
            // Taken before the rule acts: a dropped entry is still the way to its sibling.
            next = self.next_child(object, c);
            let act = {
                let key = self.nodes[c].key.as_deref().unwrap_or_default();
                if top && protected(key, has_event) {
                    continue;
                }
                if rule.drop.iter().any(|k| k == key) {
                    Act::Drop
                } else if rule.hash.iter().any(|k| k == key) {
                    Act::Hash
                } else if let (Some(&n), Kind::Str) = (rule.truncate.get(key), self.kind(c)) {
                    Act::Truncate(n)
                } else {
                    Act::Nested
                }
            };
            match act {
                Act::Drop => self.remove(c),
                Act::Hash => {
                    let hashed = match self.current(c) {
                        Some(s) => self.privacy.hash(s),
                        // What a parsed value prints: its numbers and keys as serde_json
                        // writes them.
                        None => {
                            let mut text = String::new();
                            self.emit(c, &mut text);
                            let value: Value = serde_json::from_str(&text).ok()?;
                            self.privacy.hash(&value.to_string())
                        }
                    };
                    self.replace(c, hashed.unwrap_or_default());
                }
                Act::Truncate(n) => {
                    let s = self.current(c).unwrap_or_default();
                    if let Some((cut, _)) = s.char_indices().nth(n) {
                        let cut = s[..cut].to_string();
                        self.replace(c, cut);
                    }
                    self.mask(rule, base, c);
                }
                Act::Nested => self.apply_nested(rule, base, c)?,
            }
        }
        Some(())
    }

    fn apply_nested(&mut self, rule: &RedactRule, base: usize, i: usize) -> Option<()> {
        match self.kind(i) {
            Kind::Object => self.apply(rule, base, i, false),
            Kind::Array => {
                let mut c = self.child_from(i, i + 1);
                while let Some(at) = c {
                    self.apply_nested(rule, base, at)?;
                    c = self.next_child(i, at);
                }
                Some(())
            }
            Kind::Str => {
                self.mask(rule, base, i);
                Some(())
            }
            Kind::Other => Some(()),
        }
    }

    /// `rule`'s masks over string `i`; those that cannot match an unchanged string are skipped.
    fn mask(&mut self, rule: &RedactRule, base: usize, i: usize) {
        if rule.mask.is_empty() {
            return;
        }
        let masked = {
            let node = &self.nodes[i];
            let unchanged = node.replaced.is_none();
            let current = node.replaced.as_deref().or(node.text.as_deref());
            self.live
                .mask(rule, base, unchanged, false, current.unwrap_or_default())
        };
        if let Some(m) = masked {
            self.replace(i, m);
        }
    }

    /// Node `i` as text, with the changes made to it.
    fn emit(&self, i: usize, out: &mut String) {
        let n = &self.nodes[i];
        if let Some(r) = &n.replaced {
            return push_json_string(out, r);
        }
        if !n.dirty {
            return out.push_str(&self.text[n.start..n.end]);
        }
        match n.kind {
            Kind::Array => {
                let mut pos = n.start;
                let mut c = self.child_from(i, i + 1);
                while let Some(at) = c {
                    out.push_str(&self.text[pos..self.nodes[at].start]);
                    self.emit(at, out);
                    pos = self.nodes[at].end;
                    c = self.next_child(i, at);
                }
                out.push_str(&self.text[pos..n.end]);
            }
            Kind::Object => {
                out.push('{');
                // (entry, removed) in document order; separators are copied between entries
                // that stay side by side, a bare comma stands in around removed ones.
                let mut c = i + 1;
                let mut previous: Option<(usize, bool)> = None;
                let mut any = false;
                while c < n.next as usize {
                    let child = &self.nodes[c];
                    if !child.removed {
                        match previous {
                            None => out.push_str(&self.text[n.start + 1..child.entry]),
                            Some((p, false)) if any => {
                                out.push_str(&self.text[self.nodes[p].end..child.entry]);
                            }
                            Some(_) if any => out.push(','),
                            Some(_) => {}
                        }
                        out.push_str(&self.text[child.entry..child.start]);
                        self.emit(c, out);
                        any = true;
                    }
                    previous = Some((c, child.removed));
                    c = child.next as usize;
                }
                if let Some((last, false)) = previous {
                    out.push_str(&self.text[self.nodes[last].end..n.end - 1]);
                }
                out.push('}');
            }
            Kind::Str | Kind::Other => out.push_str(&self.text[n.start..n.end]),
        }
    }
}

/// `text` redacted by `privacy`'s rules, rewriting only what they change; `None` when the
/// outline cannot read it (the caller parses it into a `Value` instead). `live` says, per mask
/// of all rules in order, whether it may match an unchanged string of this line.
pub(super) fn redact<'a>(privacy: &Privacy, text: &'a str, live: Live<'a>) -> Option<Cow<'a, str>> {
    let mut parser = Parser {
        s: text,
        b: text.as_bytes(),
        i: 0,
        nodes: Vec::with_capacity(32),
    };
    parser.ws();
    parser.value(0, None, parser.i, ROOT)?;
    parser.ws();
    if parser.i != text.len() {
        return None;
    }
    let mut outline = Outline {
        privacy,
        text,
        nodes: parser.nodes,
        live,
    };
    outline.redact_value(0)?;
    if !outline.nodes[0].dirty {
        return Some(Cow::Borrowed(text));
    }
    let root = &outline.nodes[0];
    let mut out = String::with_capacity(text.len());
    out.push_str(&text[..root.start]);
    outline.emit(0, &mut out);
    out.push_str(&text[root.end..]);
    Some(Cow::Owned(out))
}
