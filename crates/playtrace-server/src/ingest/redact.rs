//! Redaction before anything is stored (docs/PRIVACY.md), and the subjects an event names.
//!
//! A line is redacted before it is read, so the stored body, the contest observations, the
//! envelope's session, alerts raised from it and a reject's raw text all see only what the
//! `[[privacy.rules]]` let through. A line that contains none of the rules' attr names and no
//! mask match is stored as sent without a second parse (the common case stays cheap); one that
//! does is rewritten span by span (`spans.rs`: only the values the rules change are replaced,
//! the rest of the line stays as sent); one that is not JSON (a reject) gets every rule's attrs
//! and masks applied to its text. The `Value` round trip here is what the span rewriter must
//! equal, and where it falls back to on a line it does not read.
//!
//! Rules apply to an event's keys at any depth except the envelope's own (`event`, `ts`, `id`,
//! `game`, `env`, `level`, and `message` when it is the name); masks to every string value.

use crate::config::{Privacy, RedactRule};
use live::Live;
use memchr::memmem::Finder;
use playtrace_store::{subject_key, Erasure, SubjectKind};
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::sync::OnceLock;

use crate::config::SESSION_ATTR;

/// What replaces a dropped value in a reject's text (a reject's JSON cannot lose a key).
const DROPPED: &str = "\"[dropped]\"";

/// Hex characters of a hashed value (128 bits of HMAC-SHA-256: collisions need ~2^64 ids).
pub(super) const HASH_HEX: usize = 32;

/// Envelope keys at an event's top level no rule touches.
fn protected(key: &str, map: &Map<String, Value>) -> bool {
    matches!(
        key,
        "event" | "ts" | "time" | "id" | "game" | "env" | "level"
    ) || (key == "message" && !map.contains_key("event"))
}

/// The value of `"key": …` occurrences in `text`: (range of the value's text, the value).
/// Strings are decoded; other scalars are their text. Unterminated strings run to the end.
fn json_values(text: &str, key: &str) -> Vec<(std::ops::Range<usize>, String)> {
    json_values_of(text, &Finder::new(&format!("\"{key}\"")))
}

/// [`json_values`] with the key's `"key"` finder built once.
fn json_values_of(text: &str, needle: &Finder<'_>) -> Vec<(std::ops::Range<usize>, String)> {
    let mut out = Vec::new();
    each_json_value(text, needle, |range, value| {
        out.push((range, value.into_owned()));
    });
    out
}

/// Calls `found` with each value [`json_values_of`] lists, borrowed from `text` where no
/// escape needs decoding (the subject index reads every stored event this way).
fn each_json_value<'t>(
    text: &'t str,
    needle: &Finder<'_>,
    mut found: impl FnMut(std::ops::Range<usize>, Cow<'t, str>),
) {
    let bytes = text.as_bytes();
    for at in needle.find_iter(bytes) {
        let mut i = at + needle.needle().len();
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        if bytes.get(i) != Some(&b':') {
            continue;
        }
        i += 1;
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        let start = i;
        if bytes.get(i) == Some(&b'"') {
            i += 1;
            while i < bytes.len() && bytes[i] != b'"' {
                i += if bytes[i] == b'\\' { 2 } else { 1 };
            }
            let end = (i + 1).min(bytes.len());
            let raw = &text[start..end];
            let inner = raw.trim_matches('"');
            let value = if end - start >= 2
                && bytes[end - 1] == b'"'
                && memchr::memchr(b'\\', inner.as_bytes()).is_none()
            {
                Cow::Borrowed(inner)
            } else {
                serde_json::from_str::<String>(raw)
                    .map_or_else(|_| Cow::Owned(inner.to_string()), Cow::Owned)
            };
            found(start..end, value);
        } else {
            while i < bytes.len() && !matches!(bytes[i], b',' | b'}' | b']') {
                i += 1;
            }
            let value = text[start..i].trim_end();
            if !value.is_empty() && !value.starts_with(['{', '[']) {
                found(start..start + value.len(), Cow::Borrowed(value));
            }
        }
    }
}

impl Privacy {
    /// `value` hashed with the configured secret (hex); `None` without a secret.
    pub fn hash(&self, value: &str) -> Option<String> {
        let hex = self.hash_hex(value)?;
        Some(String::from_utf8(hex.to_vec()).unwrap_or_default())
    }

    /// [`Privacy::hash`] as its hex digits on the stack: ingest writes them straight into the
    /// redacted line.
    pub(crate) fn hash_hex(&self, value: &str) -> Option<[u8; HASH_HEX]> {
        let secret = self.secret.as_ref()?;
        let mut out = [0u8; HASH_HEX];
        crate::hex::write(&secret.0.tag(value.as_bytes()), &mut out);
        Some(out)
    }

    fn hash_json(&self, v: &Value) -> Value {
        let text = match v {
            Value::String(s) => Cow::Borrowed(s.as_str()),
            other => Cow::Owned(other.to_string()),
        };
        // A rule that hashes needs a secret (the configuration refuses one without).
        Value::String(self.hash(&text).unwrap_or_default())
    }

    /// A line's text as it may be stored: as sent when it names none of the rules' attrs and
    /// no mask matches it, else rewritten where the rules change it.
    pub(crate) fn redact_text<'a>(&self, text: &'a str) -> Cow<'a, str> {
        if self.rules.is_empty() {
            return Cow::Borrowed(text);
        }
        let keyed = self
            .key_finders
            .iter()
            .any(|f| f.find(text.as_bytes()).is_some());
        let mut live = Live::new(text);
        // A line naming no rule's attr is rewritten only when a mask may match in it (`live.rs`)
        // or when it has escapes, which may spell an attr's name differently (`p\u006cayerId`).
        if !keyed
            && !live.escaped()
            && !self
                .rules
                .iter()
                .flat_map(|r| &r.mask)
                .enumerate()
                .any(|(k, m)| live.get(k, m))
        {
            return Cow::Borrowed(text);
        }
        match spans::redact(self, text, live) {
            Some(out) => out,
            None => Cow::Owned(self.redact_parsed(text)),
        }
    }

    /// `text` redacted through a parsed `serde_json::Value` (or as raw text when it is not
    /// JSON): the semantics the span rewriter keeps, and its fallback.
    fn redact_parsed(&self, text: &str) -> String {
        match serde_json::from_str::<Value>(text) {
            Ok(mut value) => {
                self.redact_value(&mut value);
                value.to_string()
            }
            Err(_) => self.redact_raw(text),
        }
    }

    /// An event body another format decoded (already JSON), as it may be stored.
    pub(crate) fn redact_body(&self, body: String) -> String {
        match self.redact_text(&body) {
            Cow::Borrowed(_) => body,
            Cow::Owned(redacted) => redacted,
        }
    }

    /// A parsed line: one event, or a document holding events (arrays, timelines).
    fn redact_value(&self, value: &mut Value) {
        match value {
            Value::Object(map) => self.redact_event(map),
            Value::Array(items) => {
                for item in items {
                    self.redact_value(item);
                }
            }
            _ => {}
        }
    }

    fn redact_event(&self, map: &mut Map<String, Value>) {
        let name = ["event", "message", "name"]
            .iter()
            .find_map(|k| map.get(*k).and_then(Value::as_str))
            .map(str::to_string);
        for rule in self.rules.iter().filter(|r| r.applies_to(name.as_deref())) {
            self.apply(rule, map, true);
        }
    }

    fn apply(&self, rule: &RedactRule, map: &mut Map<String, Value>, top: bool) {
        let keys: Vec<String> = map
            .keys()
            .filter(|k| !(top && protected(k, map)))
            .cloned()
            .collect();
        for key in keys {
            if rule.drop.contains(&key) {
                map.remove(&key);
                continue;
            }
            let Some(v) = map.get_mut(&key) else { continue };
            if rule.hash.contains(&key) {
                *v = self.hash_json(v);
            } else if let (Some(&n), Value::String(s)) = (rule.truncate.get(&key), &mut *v) {
                if let Some((cut, _)) = s.char_indices().nth(n) {
                    s.truncate(cut);
                }
                mask_string(rule, s);
            } else {
                self.apply_nested(rule, v);
            }
        }
    }

    fn apply_nested(&self, rule: &RedactRule, v: &mut Value) {
        match v {
            Value::Object(inner) => self.apply(rule, inner, false),
            Value::Array(items) => items.iter_mut().for_each(|i| self.apply_nested(rule, i)),
            Value::String(s) => mask_string(rule, s),
            _ => {}
        }
    }

    /// A reject's text (not JSON): every rule's attrs, whatever event it was, and every mask.
    fn redact_raw(&self, text: &str) -> String {
        let mut out = text.to_string();
        for rule in &self.rules {
            for key in &rule.drop {
                out = replace_values(&out, key, |_| DROPPED.to_string());
            }
            for key in &rule.hash {
                out = replace_values(&out, key, |v| {
                    Value::String(self.hash(v).unwrap_or_default()).to_string()
                });
            }
            for (key, n) in &rule.truncate {
                out = replace_values(&out, key, |v| {
                    Value::String(v.chars().take(*n).collect()).to_string()
                });
            }
        }
        for mask in self.rules.iter().flat_map(|r| &r.mask) {
            if let Cow::Owned(masked) = mask.regex.replace_all(&out, mask.label) {
                out = masked;
            }
        }
        out
    }

    /// The index keys of the players and sessions a stored event names (its body after
    /// redaction, so a hashed id is indexed as its hash).
    pub(crate) fn subjects(&self, body: &str, session: Option<&str>) -> Vec<i64> {
        let mut keys = Vec::new();
        if !self.index_subjects {
            return keys;
        }
        for attr in &self.player_finders {
            each_json_value(body, attr, |_, v| {
                keys.push(subject_key(SubjectKind::Player, &v));
            });
        }
        static SESSION: OnceLock<Finder<'static>> = OnceLock::new();
        let session_attr =
            SESSION.get_or_init(|| Finder::new(&format!("\"{SESSION_ATTR}\"")).into_owned());
        if let Some(s) = session {
            keys.push(subject_key(SubjectKind::Session, s));
        }
        each_json_value(body, session_attr, |_, v| {
            keys.push(subject_key(SubjectKind::Session, &v));
        });
        // A name may be spelled with `\u` escapes, which the search above does not see. (A body
        // without a backslash has none: one byte search instead of building a substring
        // searcher for every stored event.)
        if memchr::memchr(b'\\', body.as_bytes()).is_some()
            && memchr::memmem::find(body.as_bytes(), b"\\u").is_some()
        {
            if let Ok(value) = serde_json::from_str::<Value>(body) {
                self.escaped_subjects(&value, &mut keys);
            }
        }
        keys.sort_unstable();
        keys.dedup();
        keys
    }

    /// The subjects a parsed body names, at any depth (strings as they read, other scalars as
    /// serde_json prints them).
    fn escaped_subjects(&self, value: &Value, keys: &mut Vec<i64>) {
        match value {
            Value::Object(map) => {
                for (k, v) in map {
                    let kind = if k == SESSION_ATTR {
                        Some(SubjectKind::Session)
                    } else if self.player_attrs.contains(k) {
                        Some(SubjectKind::Player)
                    } else {
                        None
                    };
                    match (kind, v) {
                        (_, Value::Object(_) | Value::Array(_)) => self.escaped_subjects(v, keys),
                        (Some(kind), Value::String(s)) => keys.push(subject_key(kind, s)),
                        (Some(kind), other) => keys.push(subject_key(kind, &other.to_string())),
                        (None, _) => {}
                    }
                }
            }
            Value::Array(items) => items.iter().for_each(|i| self.escaped_subjects(i, keys)),
            _ => {}
        }
    }

    /// The erasure of a subject named by its raw id: it is looked for as sent and, with a
    /// secret, as its hash; the log gets a hash of it (keyed when a secret is configured).
    pub fn erasure(&self, kind: SubjectKind, raw: &str, who: &str) -> Erasure {
        let mut values = vec![raw.to_string()];
        values.extend(self.hash(raw));
        let tagged = format!("{}:{raw}", kind.as_str());
        let subject_hash = match &self.secret {
            Some(secret) => crate::hex::encode(&secret.0.tag(tagged.as_bytes())),
            None => crate::hex::encode(
                ring::digest::digest(&ring::digest::SHA256, tagged.as_bytes()).as_ref(),
            ),
        };
        Erasure {
            kind,
            values,
            who: who.to_string(),
            subject_hash,
        }
    }
}

fn mask_string(rule: &RedactRule, s: &mut String) {
    for mask in &rule.mask {
        if !mask.may_match(s) {
            continue;
        }
        if let Cow::Owned(masked) = mask.regex.replace_all(s, mask.label) {
            *s = masked;
        }
    }
}

/// `text` with the value of every `"key": …` replaced by `with(value)` (JSON text).
fn replace_values(text: &str, key: &str, with: impl Fn(&str) -> String) -> String {
    let found = json_values(text, key);
    if found.is_empty() {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for (range, value) in found {
        if range.start < last {
            continue;
        }
        out.push_str(&text[last..range.start]);
        out.push_str(&with(&value));
        last = range.end;
    }
    out.push_str(&text[last..]);
    out
}

#[cfg(test)]
mod equivalence_tests;
mod fused;
#[cfg(test)]
mod fused_tests;
pub(crate) mod keyed;
mod live;
mod members;
#[cfg(test)]
mod one_scan_tests;
mod spans;
#[cfg(test)]
mod tests;

pub(crate) use fused::Fused;
pub(crate) use members::Redacted;
