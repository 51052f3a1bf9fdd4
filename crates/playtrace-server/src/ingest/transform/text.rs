//! Renames done on a line's text: the transform's fast path for its most common repair, a key
//! renamed at the top level or inside an object such as `attrs` (a replay of a million lines
//! paid a JSON validation, a key allocation per key and a second read of every line for it).
//!
//! One light walk over the line finds the key; nothing is validated here. That is safe because a
//! rename replaces one clean string token (no escapes) by another in key position, which makes a
//! line valid JSON exactly when it was valid before: a JSON reader sees the same tokens up to the
//! key, and the same state after it. The caller reads the spliced line and, where it does not
//! read, asks the JSON round trip instead (which then decides, and words the error as before).
//! Anything the round trip would read differently is left to it: a key with escapes or a key
//! written twice in any object (the round trip keeps the last), a rename onto a key the object
//! already has, nesting deeper than the reader allows.

use std::ops::Range;

/// One rename within one object: the object's path from the top level, the key, the new key.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct TextRename {
    parent: Vec<String>,
    from: String,
    /// The new key as a JSON string, quotes included.
    to_json: String,
    to: String,
}

impl TextRename {
    /// The rename `from` → `to` (dotted paths) when both name keys of the same object.
    pub(super) fn new(from: &str, to: &str) -> Option<TextRename> {
        let (from_parent, from_key) = from.rsplit_once('.').unwrap_or(("", from));
        let (to_parent, to_key) = to.rsplit_once('.').unwrap_or(("", to));
        if from_parent != to_parent {
            return None;
        }
        let parent = from_parent
            .split('.')
            .filter(|p| !p.is_empty())
            .map(str::to_string)
            .collect();
        Some(TextRename {
            parent,
            from: from_key.to_string(),
            to_json: serde_json::to_string(to_key).ok()?,
            to: to_key.to_string(),
        })
    }
}

/// What the renames did to a line's text.
#[derive(Debug, PartialEq)]
pub(super) enum Spliced {
    /// No rename found its key: the line stays as it is.
    Unchanged,
    /// The renamed line (not validated: the caller reads it).
    Changed(String),
    /// The round trip decides (see the module's comment).
    Undecided,
}

/// Applies `renames` in order to `raw`'s text.
pub(super) fn rename(raw: &str, renames: &[TextRename]) -> Spliced {
    let mut keys = Vec::new();
    let mut line: Option<String> = None;
    for r in renames {
        let text = line.as_deref().unwrap_or(raw);
        let Some(found) = Walk::find(text, r, &mut keys) else {
            return Spliced::Undecided;
        };
        let Some(at) = found else {
            continue;
        };
        let mut out = String::with_capacity(text.len() + r.to_json.len());
        out.push_str(&text[..at.start]);
        out.push_str(&r.to_json);
        out.push_str(&text[at.end..]);
        line = Some(out);
    }
    line.map_or(Spliced::Unchanged, Spliced::Changed)
}

/// Nesting the walk follows (the reader's own limit; deeper lines are rejected anyway).
const MAX_DEPTH: u32 = 64;

/// A walk over one line's JSON structure, strings skipped exactly as a JSON reader does.
struct Walk<'a, 'k> {
    b: &'a [u8],
    i: usize,
    /// The keys of the objects open along the walk (the duplicate check).
    keys: &'k mut Vec<Range<usize>>,
    rename: &'k TextRename,
    /// The key to rename (quotes included), once seen in its object.
    from: Option<Range<usize>>,
    /// Whether the object already has the new key.
    to_seen: bool,
}

impl<'a, 'k> Walk<'a, 'k> {
    /// Where the key to rename is (`Some(None)`: not in the line); `None`: undecided.
    fn find(
        text: &'a str,
        rename: &'k TextRename,
        keys: &'k mut Vec<Range<usize>>,
    ) -> Option<Option<Range<usize>>> {
        keys.clear();
        let mut w = Walk {
            b: text.as_bytes(),
            i: 0,
            keys,
            rename,
            from: None,
            to_seen: false,
        };
        w.ws();
        if w.peek()? != b'{' {
            return None;
        }
        w.object(1, Some(&rename.parent))?;
        w.ws();
        if w.i != w.b.len() || w.to_seen && w.from.is_some() {
            return None;
        }
        Some(w.from)
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.i += 1;
        }
    }

    fn expect(&mut self, c: u8) -> Option<()> {
        (self.peek()? == c).then(|| self.i += 1)
    }

    /// A string at the position: its range (quotes included) and whether it has an escape.
    fn string(&mut self) -> Option<(Range<usize>, bool)> {
        let start = self.i;
        self.expect(b'"')?;
        let mut escaped = false;
        loop {
            let at = memchr::memchr2(b'"', b'\\', &self.b[self.i..])?;
            self.i += at;
            if self.b[self.i] == b'"' {
                self.i += 1;
                return Some((start..self.i, escaped));
            }
            escaped = true;
            self.i += 2;
            if self.i > self.b.len() {
                return None;
            }
        }
    }

    /// An object at the position; `path`: the rename's parent path left below it (`Some(&[])`:
    /// this is the object of the rename), `None` off the path.
    fn object(&mut self, depth: u32, path: Option<&[String]>) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.expect(b'{')?;
        let mark = self.keys.len();
        self.ws();
        if self.expect(b'}').is_some() {
            return Some(());
        }
        loop {
            self.ws();
            let (range, escaped) = self.string()?;
            let key = &self.b[range.start + 1..range.end - 1];
            if escaped
                || self.keys[mark..]
                    .iter()
                    .any(|k| self.b[k.clone()] == self.b[range.clone()])
            {
                return None;
            }
            self.keys.push(range.clone());
            let below = match path {
                Some([]) => {
                    if key == self.rename.from.as_bytes() {
                        self.from = Some(range);
                    } else if key == self.rename.to.as_bytes() {
                        self.to_seen = true;
                    }
                    None
                }
                Some([head, rest @ ..]) if key == head.as_bytes() => Some(rest),
                _ => None,
            };
            self.ws();
            self.expect(b':')?;
            self.ws();
            self.value(depth, below)?;
            self.ws();
            match self.peek()? {
                b',' => self.i += 1,
                b'}' => break,
                _ => return None,
            }
        }
        self.i += 1;
        self.keys.truncate(mark);
        Some(())
    }

    fn value(&mut self, depth: u32, path: Option<&[String]>) -> Option<()> {
        match self.peek()? {
            b'{' => self.object(depth + 1, path),
            b'[' => self.array(depth + 1),
            b'"' => self.string().map(drop),
            _ => {
                // A scalar, not checked here (the caller's reader checks the line).
                let start = self.i;
                while !matches!(
                    self.peek(),
                    None | Some(b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r')
                ) {
                    self.i += 1;
                }
                (self.i > start).then_some(())
            }
        }
    }

    fn array(&mut self, depth: u32) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.expect(b'[')?;
        self.ws();
        if self.expect(b']').is_some() {
            return Some(());
        }
        loop {
            self.ws();
            self.value(depth, None)?;
            self.ws();
            match self.peek()? {
                b',' => self.i += 1,
                b']' => break,
                _ => return None,
            }
        }
        self.i += 1;
        Some(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Repaired, Transform};
    use serde_json::{Map, Value};

    /// Lines built from pieces that exercise the walk: the renamed keys at every level, keys
    /// written twice, escapes in keys and values, brackets and quotes inside strings, nesting,
    /// and damage (a missing brace, a trailing comma, a bare word).
    fn random_line(seed: &mut u64) -> String {
        let mut next = |n: u64| {
            *seed ^= *seed << 13;
            *seed ^= *seed >> 7;
            *seed ^= *seed << 17;
            *seed % n
        };
        const KEYS: &[&str] = &[
            "msg",
            "message",
            "level",
            "attrs",
            "hub",
            "hubId",
            "m\\u0073g",
            "x",
            "b",
            "c",
        ];
        const SCALARS: &[&str] = &[
            "1",
            "-2.5e3",
            "true",
            "null",
            "\"s\"",
            "\"a\\\"}{,\"",
            "\"\\u00e9]\"",
            "\"msg\"",
            "[]",
            "{}",
            "[1,{\"msg\":2}]",
            "18446744073709551616",
        ];
        fn object(next: &mut impl FnMut(u64) -> u64, depth: u32) -> String {
            let n = next(5);
            let members: Vec<String> = (0..n)
                .map(|_| {
                    let key = KEYS[next(KEYS.len() as u64) as usize];
                    let value = if depth < 3 && next(4) == 0 {
                        object(next, depth + 1)
                    } else {
                        SCALARS[next(SCALARS.len() as u64) as usize].to_string()
                    };
                    let space = if next(3) == 0 { " " } else { "" };
                    format!("\"{key}\"{space}:{space}{value}")
                })
                .collect();
            format!("{{{}}}", members.join(","))
        }
        let mut line = object(&mut next, 0);
        match next(12) {
            0 => line.push(','),
            1 => {
                line.pop();
            }
            2 => line = line.replacen("1", "tru", 1),
            3 => line = line.replacen(":", "", 1),
            4 => line = format!(" {line} "),
            5 => line = line.replacen("}", ",}", 1),
            _ => {}
        }
        line
    }

    fn json(text: &str) -> Option<Value> {
        serde_json::from_str(text).ok()
    }

    /// The contract the replay relies on: a spliced line reads as JSON exactly when the round
    /// trip repairs the line, and then it is the round trip's object.
    #[test]
    fn renames_on_the_text_equal_the_json_round_trip_on_random_lines() {
        let transforms = [
            "[[rename]]\nfrom = \"msg\"\nto = \"message\"\n",
            "[[rename]]\nfrom = \"attrs.hub\"\nto = \"attrs.hubId\"\n",
            "[[rename]]\nfrom = \"msg\"\nto = \"x\"\n[[rename]]\nfrom = \"x\"\nto = \"b\"\n",
            "[[rename]]\nfrom = \"attrs.attrs.msg\"\nto = \"attrs.attrs.level\"\n",
        ];
        let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
        let mut seen = [0usize; 3];
        for text in transforms {
            let t = Transform::parse(text).unwrap();
            for _ in 0..20_000 {
                let line = random_line(&mut seed);
                let exact = t.apply(&line);
                match t.repair(&line) {
                    Repaired::Spliced(spliced) => {
                        seen[0] += 1;
                        match json(&spliced) {
                            Some(v) => assert_eq!(
                                Some(v),
                                exact.as_deref().and_then(json),
                                "{text}: {line} -> {spliced}"
                            ),
                            None => assert!(
                                json(&line).is_none(),
                                "{text}: {line} valid, {spliced} not"
                            ),
                        }
                    }
                    Repaired::Unchanged => {
                        seen[1] += 1;
                        assert_eq!(exact, None, "{text}: {line}");
                    }
                    Repaired::Exact(round_trip) => {
                        seen[2] += 1;
                        assert_eq!(Some(round_trip), exact, "{text}: {line}");
                    }
                }
            }
        }
        assert!(
            seen.iter().all(|&n| n > 1000),
            "every outcome is exercised: {seen:?}"
        );
    }

    #[test]
    fn a_rename_onto_an_existing_key_or_across_objects_is_left_to_the_round_trip() {
        let t = Transform::parse("[[rename]]\nfrom = \"msg\"\nto = \"message\"\n").unwrap();
        let line = r#"{"msg":"a","message":"b"}"#;
        let round_trip: Map<String, Value> = serde_json::from_str(r#"{"message":"a"}"#).unwrap();
        assert_eq!(
            t.repair(line),
            Repaired::Exact(Value::Object(round_trip).to_string())
        );
        let across = Transform::parse("[[rename]]\nfrom = \"attrs.hub\"\nto = \"hub\"\n").unwrap();
        assert_eq!(
            across.repair(r#"{"attrs":{"hub":"h"}}"#),
            Repaired::Exact(r#"{"attrs":{},"hub":"h"}"#.into())
        );
        assert_eq!(
            t.repair(r#"{ "msg" : "x" , "attrs": {"msg": 1}}"#),
            Repaired::Spliced(r#"{ "message" : "x" , "attrs": {"msg": 1}}"#.into()),
            "renamed in place, spacing and order kept"
        );
    }
}
