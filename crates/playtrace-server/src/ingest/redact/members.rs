//! Redaction from the members core's fast reader already read (issue 23's ingest cost): ingest
//! scans a line once, with `scan_line_members`, and this applies the rules to the members the
//! scan handed over instead of reading the line again into an outline (`spans.rs`), and takes
//! the subjects from the same members instead of searching the redacted body (`subjects`).
//!
//! It takes the common line only: a line without escapes whose members are scalars, but for one
//! `attrs` object of scalars. When the rules change nothing, the line is stored as it came (no
//! copy); when they change only `attrs` members core does not read (no contest field), the scan
//! of the line as sent is what a scan of the redacted line gives, and only `attrs` is rewritten
//! (a dropped member cut out with its comma, a changed value replaced in place), with exactly the
//! bytes `spans.rs` writes. Anything else answers `None`, and the caller redacts and scans the
//! line the way it always did.

use super::live::Live;
use super::spans::push_json_string;
use crate::config::{KeyRules, Privacy};
use playtrace_core::fields::{Field, Scalar};
use playtrace_core::scan::{Member, Members};
use playtrace_store::{subject_key, SubjectKind};
use serde_json::Value;
use std::borrow::Cow;

/// A line redacted from its members: what to store, and the subjects it names.
pub(crate) struct Redacted<'a> {
    pub(crate) body: Cow<'a, str>,
    /// The index keys of its players and sessions (the envelope's `session` included).
    pub(crate) subjects: Vec<i64>,
}

/// The envelope keys at an event's top level that no rule touches (as `protected` in
/// `redact.rs`).
fn protected(key: &str, has_event: bool) -> bool {
    matches!(
        key,
        "event" | "ts" | "time" | "id" | "game" | "env" | "level"
    ) || (key == "message" && !has_event)
}

/// Where a member's key (its opening quote) and its value start and end in `line`.
fn offsets(line: &str, m: &Member<'_>) -> (usize, usize, usize) {
    let base = line.as_ptr() as usize;
    let entry = m.key.as_ptr() as usize - base - 1;
    let start = m.raw.as_ptr() as usize - base;
    (entry, start, start + m.raw.len())
}

/// What the rules did to one member: `Some(None)` removed, `Some(Some(text))` replaced.
type Change = Option<String>;

impl Privacy {
    /// `line` redacted from the `members` the fast reader read from it, and its subjects
    /// (`session`: the envelope's); `None` when this cannot stand in for redacting the text and
    /// scanning the result (see the module's doc).
    pub(crate) fn redact_members<'a>(
        &self,
        line: &'a str,
        members: &Members<'a>,
        session: Option<&str>,
    ) -> Option<Redacted<'a>> {
        let all = members.all();
        let mut attrs: Option<&Member<'a>> = None;
        let mut has_event = false;
        for m in all {
            // A second `attrs` replaces the first one's members in the list.
            if !m.in_attrs && m.key == "attrs" && attrs.is_some() {
                return None;
            }
            match m.value {
                Scalar::Object if !m.in_attrs && m.key == "attrs" && attrs.is_none() => {
                    attrs = Some(m);
                }
                Scalar::Object | Scalar::Array => return None,
                Scalar::Str(Cow::Owned(_)) => return None,
                _ => {}
            }
            has_event |= !m.in_attrs && m.key == "event";
        }
        if self.rules.len() > 64 {
            return None;
        }
        let name = ["event", "message", "name"].iter().find_map(|k| {
            match &all.iter().rev().find(|m| !m.in_attrs && m.key == *k)?.value {
                Scalar::Str(s) => Some(s.as_ref()),
                _ => None,
            }
        });
        let mut applying = 0u64;
        for (r, rule) in self.rules.iter().enumerate() {
            if rule.applies_to(name) {
                applying |= 1 << r;
            }
        }
        let mut live = Live::new(line);
        let mut changes: Vec<(usize, Change)> = Vec::new();
        let mut subjects = Vec::new();
        if self.index_subjects {
            subjects.reserve(8);
            if let Some(s) = session {
                subjects.push(subject_key(SubjectKind::Session, s));
            }
        }
        for (at, m) in all.iter().enumerate() {
            let info = self.keys.get(m.key);
            let mut removed = false;
            if applying != 0 {
                if m.in_attrs {
                    // Contest fields are read by core from the line as sent.
                    let change = self.member_change(applying, &mut live, m, info)?;
                    if let Some(change) = change {
                        if Field::from_key(m.key).is_some() {
                            return None;
                        }
                        removed = change.is_none();
                        changes.push((at, change));
                    }
                } else if m.key == "attrs" && matches!(m.value, Scalar::Object) {
                    // Dropping or hashing `attrs` itself changes what core reads.
                    if info.is_some_and(|k| (k.drop | k.hash) & applying != 0) {
                        return None;
                    }
                } else if !protected(m.key, has_event)
                    && self.member_change(applying, &mut live, m, info)?.is_some()
                {
                    return None;
                }
            }
            // The subjects of the members as the rules left them (as `subjects` finds them in
            // the redacted body).
            let Some(info) = info.filter(|_| self.index_subjects && !removed) else {
                continue;
            };
            let kind = if info.session {
                SubjectKind::Session
            } else if info.player {
                SubjectKind::Player
            } else {
                continue;
            };
            let value = match changes.last() {
                Some((c, Some(text))) if *c == at => text.as_str(),
                _ => match &m.value {
                    Scalar::Object | Scalar::Array => continue,
                    Scalar::Str(s) => s.as_ref(),
                    _ => m.raw,
                },
            };
            subjects.push(subject_key(kind, value));
        }
        subjects.sort_unstable();
        subjects.dedup();
        if changes.is_empty() {
            return Some(Redacted {
                body: Cow::Borrowed(line),
                subjects,
            });
        }
        let attrs = attrs?;
        let (_, obj_start, obj_end) = offsets(line, attrs);
        let mut out = String::with_capacity(line.len());
        out.push_str(&line[..obj_start]);
        out.push('{');
        // As `spans.rs` writes an object: separators are copied between members that stay side
        // by side, a bare comma stands in around removed ones.
        let mut previous: Option<(usize, bool)> = None;
        let mut any = false;
        let mut pending = changes.iter().peekable();
        for (at, m) in all.iter().enumerate().filter(|(_, m)| m.in_attrs) {
            let change = pending.next_if(|(c, _)| *c == at).map(|(_, c)| c);
            let (entry, start, end) = offsets(line, m);
            let removed = matches!(change, Some(None));
            if !removed {
                match previous {
                    None => out.push_str(&line[obj_start + 1..entry]),
                    Some((p, false)) if any => out.push_str(&line[p..entry]),
                    Some(_) if any => out.push(','),
                    Some(_) => {}
                }
                out.push_str(&line[entry..start]);
                match change {
                    Some(Some(text)) => push_json_string(&mut out, text),
                    _ => out.push_str(m.raw),
                }
                any = true;
            }
            previous = Some((end, removed));
        }
        if let Some((last, false)) = previous {
            out.push_str(&line[last..obj_end - 1]);
        }
        out.push('}');
        out.push_str(&line[obj_end..]);
        Some(Redacted {
            body: Cow::Owned(out),
            subjects,
        })
    }

    /// What the rules in `applying` (a bit per rule) do to member `m` (`info`: what they say
    /// about its key), in file order as the outline applies them; `None` where the outline
    /// would fail.
    fn member_change(
        &self,
        applying: u64,
        live: &mut Live<'_>,
        m: &Member<'_>,
        info: Option<&KeyRules>,
    ) -> Option<Option<Change>> {
        let info = info.copied().unwrap_or_default();
        let named = (info.drop | info.hash | info.truncate) & applying;
        let masks = self.keys.masked & applying;
        // Only masks can change a value no applying rule names, and only a string's.
        if named == 0 && (masks == 0 || !matches!(m.value, Scalar::Str(_))) {
            return Some(None);
        }
        let mut current: Option<String> = None;
        // Whether `current` is a hash as a rule wrote it (hex).
        let mut hashed = false;
        let mut base = 0;
        for (r, rule) in self.rules.iter().enumerate() {
            let first = base;
            base += rule.mask.len();
            let bit = 1u64 << r;
            // Neither naming the key nor masking: the rule leaves the member alone.
            if (named | masks) & bit == 0 {
                continue;
            }
            if info.drop & bit != 0 {
                return Some(Some(None));
            }
            let text = match (&current, &m.value) {
                (Some(c), _) => Some(c.as_str()),
                (None, Scalar::Str(s)) => Some(s.as_ref()),
                (None, _) => None,
            };
            if info.hash & bit != 0 {
                let hash = match text {
                    Some(s) => self.hash(s),
                    // What a parsed value prints: numbers as serde_json writes them.
                    None => self.hash(&serde_json::from_str::<Value>(m.raw).ok()?.to_string()),
                };
                current = Some(hash.unwrap_or_default());
                hashed = true;
                continue;
            }
            let Some(text) = text else { continue };
            let unchanged = current.is_none();
            let cut = (info.truncate & bit != 0).then(|| rule.truncate.get(m.key));
            let truncated = match cut.flatten() {
                Some(&n) => text
                    .char_indices()
                    .nth(n)
                    .map(|(cut, _)| text[..cut].to_string()),
                None => None,
            };
            let unchanged = unchanged && truncated.is_none();
            let from = truncated.as_deref().unwrap_or(text);
            if let Some(masked) = live.mask(rule, first, unchanged, hashed, from) {
                current = Some(masked);
                hashed = false;
            } else if truncated.is_some() {
                current = truncated;
                hashed = false;
            }
        }
        Some(current.map(Some))
    }
}
