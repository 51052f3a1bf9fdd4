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

use super::live::{Gate, Live};
use super::spans::push_json_string;
use super::HASH_HEX;
use crate::config::{KeyRules, Needs, Privacy};
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
#[inline]
pub(super) fn protected(key: &str, has_event: bool) -> bool {
    matches!(
        key,
        "event" | "ts" | "time" | "id" | "game" | "env" | "level"
    ) || (key == "message" && !has_event)
}

/// Where a member's key (its opening quote) and its value start and end in `line`.
pub(super) fn offsets(line: &str, m: &Member<'_>) -> (usize, usize, usize) {
    let base = line.as_ptr() as usize;
    let entry = m.key.as_ptr() as usize - base - 1;
    let start = m.raw.as_ptr() as usize - base;
    (entry, start, start + m.raw.len())
}

/// A value the rules wrote: a hash's hex, kept on the stack (every hashed id of every line),
/// or a masked or truncated text.
pub(super) enum Text {
    Hash([u8; HASH_HEX]),
    Owned(String),
}

impl Text {
    pub(super) fn as_str(&self) -> &str {
        match self {
            // Hex digits: always UTF-8.
            Text::Hash(hex) => std::str::from_utf8(hex).unwrap_or_default(),
            Text::Owned(s) => s,
        }
    }
}

/// What the rules do to one member.
pub(super) enum Outcome {
    Keep,
    Drop,
    Set(Text),
}

/// The redacted line, written as it is read: runs of the line that stay side by side are
/// only remembered as one range and copied when something else has to be written after them,
/// so the output is allocated once, at the first change, and a line nothing changed is never
/// copied.
pub(super) struct Rewrite<'a> {
    line: &'a str,
    out: String,
    /// The run of `line` not yet copied into `out`.
    run: std::ops::Range<usize>,
}

impl<'a> Rewrite<'a> {
    pub(super) fn new(line: &'a str) -> Self {
        Rewrite {
            line,
            out: String::new(),
            run: 0..0,
        }
    }

    pub(super) fn copy(&mut self, range: std::ops::Range<usize>) {
        if range.start == self.run.end {
            self.run.end = range.end;
        } else {
            self.flush();
            self.run = range;
        }
    }

    fn flush(&mut self) {
        if self.out.capacity() == 0 {
            // Room for the usual growth (a hash is 34 bytes where the id was a few less).
            self.out.reserve(self.line.len() + 64);
        }
        self.out.push_str(&self.line[self.run.clone()]);
        self.run = self.run.end..self.run.end;
    }

    pub(super) fn comma(&mut self) {
        self.flush();
        self.out.push(',');
    }

    /// `text` as a JSON string; `hex`: a hash's digits, which need no escaping.
    pub(super) fn string(&mut self, text: &str, hex: bool) {
        self.flush();
        if hex {
            self.out.push('"');
            self.out.push_str(text);
            self.out.push('"');
        } else {
            push_json_string(&mut self.out, text);
        }
    }

    pub(super) fn finish(mut self) -> String {
        self.flush();
        self.out
    }
}

/// The subject key a kept member names (`info`: what the rules say about its key; `written`:
/// its value as the rules left it), as `subjects` finds it in the redacted body.
pub(super) fn member_subject(
    info: &KeyRules,
    written: Option<&str>,
    m: &Member<'_>,
) -> Option<i64> {
    let kind = if info.session {
        SubjectKind::Session
    } else if info.player {
        SubjectKind::Player
    } else {
        return None;
    };
    let value = match (written, &m.value) {
        (Some(text), _) => text,
        (_, Scalar::Object | Scalar::Array) => return None,
        (_, Scalar::Str(s)) => s.as_ref(),
        _ => m.raw,
    };
    Some(subject_key(kind, value))
}

/// What both redaction paths (this one and the reader's one pass, `fused.rs`) do with a member
/// once the rules gave its outcome: take its subjects and, inside `attrs`, write the object as
/// `spans.rs` writes one (separators copied between members that stay side by side, a bare
/// comma around removed ones).
pub(super) struct AttrsOut<'a> {
    pub(super) out: Rewrite<'a>,
    pub(super) subjects: Vec<i64>,
    /// The last `attrs` member: where its value ends, and whether it was removed.
    previous: Option<(usize, bool)>,
    /// Whether an `attrs` member was kept.
    any: bool,
    /// Whether the rules changed an `attrs` member.
    pub(super) changed: bool,
}

impl<'a> AttrsOut<'a> {
    pub(super) fn new(line: &'a str, subjects: Vec<i64>) -> Self {
        AttrsOut {
            out: Rewrite::new(line),
            subjects,
            previous: None,
            any: false,
            changed: false,
        }
    }

    /// `m` with the `outcome` the rules gave it (`info`: what they say about its key);
    /// `obj_start`: where `attrs`' `{` is (read only for a member inside it). Inlined: the
    /// reader's one pass calls it for every member.
    #[inline(always)]
    pub(super) fn member(
        &mut self,
        p: &Privacy,
        m: &Member<'a>,
        info: Option<&KeyRules>,
        outcome: &Outcome,
        obj_start: usize,
    ) {
        let removed = matches!(outcome, Outcome::Drop);
        // What the rules wrote, read once (a hash's hex is checked as UTF-8 here only).
        let written = match outcome {
            Outcome::Set(text) => Some(text.as_str()),
            _ => None,
        };
        // The subjects of the members as the rules left them (as `subjects` finds them in the
        // redacted body).
        if let Some(info) = info.filter(|_| p.index_subjects && !removed) {
            self.subjects.extend(member_subject(info, written, m));
        }
        if !m.in_attrs {
            return;
        }
        self.changed |= !matches!(outcome, Outcome::Keep);
        let (entry, start, end) = offsets(self.out.line, m);
        if !removed {
            match self.previous {
                None => self.out.copy(obj_start + 1..entry),
                Some((p, false)) if self.any => self.out.copy(p..entry),
                Some(_) if self.any => self.out.comma(),
                Some(_) => {}
            }
            self.out.copy(entry..start);
            match written {
                Some(text) => self
                    .out
                    .string(text, matches!(outcome, Outcome::Set(Text::Hash(_)))),
                None => self.out.copy(start..end),
            }
            self.any = true;
        }
        self.previous = Some((end, removed));
    }

    /// `attrs` ends with its `}` at `obj_end - 1`: the separator after its last kept member.
    pub(super) fn close(&mut self, obj_end: usize) {
        if let Some((last, false)) = self.previous {
            self.out.copy(last..obj_end - 1);
        }
    }

    /// The subjects, sorted and without repeats.
    pub(super) fn take_subjects(&mut self) -> Vec<i64> {
        let mut subjects = std::mem::take(&mut self.subjects);
        subjects.sort_unstable();
        subjects.dedup();
        subjects
    }
}

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
        let applying = self.applying(name);
        let mut live = Live::new(line);
        let mut subjects = Vec::new();
        if self.index_subjects {
            subjects.reserve(8);
            if let Some(s) = session {
                subjects.push(subject_key(SubjectKind::Session, s));
            }
        }
        let (obj_start, obj_end) = attrs.map_or((0, 0), |a| {
            let (_, start, end) = offsets(line, a);
            (start, end)
        });
        let mut out = AttrsOut::new(line, subjects);
        out.out.copy(0..obj_start + 1);
        for m in all {
            let info = self.keys.get(m.key);
            let mut outcome = Outcome::Keep;
            if applying != 0 {
                if m.in_attrs {
                    // Contest fields are read by core from the line as sent.
                    outcome = self.member_change(applying, &mut live, m, info)?;
                    if !matches!(outcome, Outcome::Keep) && Field::from_key(m.key).is_some() {
                        return None;
                    }
                } else if m.key == "attrs" && matches!(m.value, Scalar::Object) {
                    // Dropping or hashing `attrs` itself changes what core reads.
                    if info.is_some_and(|k| (k.drop | k.hash) & applying != 0) {
                        return None;
                    }
                } else if !protected(m.key, has_event)
                    && !matches!(
                        self.member_change(applying, &mut live, m, info)?,
                        Outcome::Keep
                    )
                {
                    return None;
                }
            }
            out.member(self, m, info, &outcome, obj_start);
        }
        let subjects = out.take_subjects();
        if !out.changed {
            return Some(Redacted {
                body: Cow::Borrowed(line),
                subjects,
            });
        }
        // Members in `attrs` come with an `attrs` object (the scan lists it after them).
        attrs?;
        out.close(obj_end);
        out.out.copy(obj_end - 1..line.len());
        Some(Redacted {
            body: Cow::Owned(out.out.finish()),
            subjects,
        })
    }

    /// The rules that apply to an event named `name`, a bit per rule (at most 64 rules).
    pub(super) fn applying(&self, name: Option<&str>) -> u64 {
        let mut applying = 0u64;
        for (r, rule) in self.rules.iter().enumerate().take(64) {
            if rule.applies_to(name) {
                applying |= 1 << r;
            }
        }
        applying
    }

    /// What the rules in `applying` (a bit per rule) do to member `m` (`info`: what they say
    /// about its key), in file order as the outline applies them; `None` where the outline
    /// would fail.
    pub(super) fn member_change(
        &self,
        applying: u64,
        live: &mut impl Gate,
        m: &Member<'_>,
        info: Option<&KeyRules>,
    ) -> Option<Outcome> {
        let info = info.copied().unwrap_or_default();
        let named = (info.drop | info.hash | info.truncate) & applying;
        let masks = self.keys.masked & applying;
        // Only masks can change a value no applying rule names, and only a string's.
        if named == 0 && (masks == 0 || !matches!(m.value, Scalar::Str(_))) {
            return Some(Outcome::Keep);
        }
        // A string no rule names, in a line where no applying mask can match: the loop below
        // would try each rule's masks and find every one ruled out for the line.
        if named == 0 {
            if let Scalar::Str(s) = &m.value {
                if live.clear(&self.rules, masks, s) {
                    return Some(Outcome::Keep);
                }
            }
        }
        let mut current: Option<Text> = None;
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
                return Some(Outcome::Drop);
            }
            // A hash is hex, which no mask with a byte check matches (`Live::mask`): a rule
            // that neither hashes nor truncates it leaves it as it is.
            if hashed
                && (info.hash | info.truncate) & bit == 0
                && rule.mask.iter().all(|k| k.needs != Needs::Nothing)
            {
                continue;
            }
            let text = match (&current, &m.value) {
                (Some(c), _) => Some(c.as_str()),
                (None, Scalar::Str(s)) => Some(s.as_ref()),
                (None, _) => None,
            };
            if info.hash & bit != 0 {
                let hash = match text {
                    Some(s) => self.hash_hex(s),
                    // What a parsed value prints: numbers as serde_json writes them.
                    None => self.hash_hex(&serde_json::from_str::<Value>(m.raw).ok()?.to_string()),
                };
                // A rule that hashes has a secret (the configuration refuses one without).
                current = Some(hash.map_or_else(|| Text::Owned(String::new()), Text::Hash));
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
                current = Some(Text::Owned(masked));
                hashed = false;
            } else if let Some(truncated) = truncated {
                current = Some(Text::Owned(truncated));
                hashed = false;
            }
        }
        Some(current.map_or(Outcome::Keep, Outcome::Set))
    }
}
