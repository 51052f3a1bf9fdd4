//! Redaction inside the fast reader's one pass (issue 23's ingest cost, round 12): a [`Sink`]
//! that core's reader hands each member as it reads it, which applies the rules to it there
//! and then, writes the redacted line by ranges as it goes and takes the subjects, so a line
//! is walked once, no members list is built, and the masks' byte checks look at each string
//! the rules may mask instead of searching the whole line once per mask.
//!
//! Which rules apply depends on the event's name, and which members are attrs on whether the
//! line is native, so it takes the order SDKs and games write: `event` (a string without
//! escapes) first, then the envelope and one `attrs` object. Within that it keeps what
//! `redact_members` (`members.rs`) does, decision for decision (the same `member_change`, the
//! same rewrite), and steps aside wherever that would: the sink stops the read (`false`) and
//! ingest redacts the line the way it did before (`redact_members`, then `spans.rs`). The
//! property tests in `fused_tests.rs` hold its bytes and subjects to theirs.

use super::live::Strings;
use super::members::{offsets, protected, AttrsOut, Outcome, Redacted};
use crate::config::Privacy;
use playtrace_core::fields::{Field, Scalar};
use playtrace_core::scan::{Member, Sink};
use playtrace_store::{subject_key, SubjectKind};
use std::borrow::Cow;

/// One line's redaction while the reader reads it.
pub(crate) struct Fused<'p, 'a> {
    privacy: &'p Privacy,
    line: &'a str,
    /// The rules applying to the event (a bit per rule), once its `event` was read.
    applying: Option<u64>,
    /// The subjects and the rewritten line, as `redact_members` keeps them.
    out: AttrsOut<'a>,
    /// Where `attrs`' `{` is, once its key was read.
    attrs_at: Option<usize>,
    /// Where `attrs`' object ends, once it was read.
    attrs_end: Option<usize>,
}

impl<'p, 'a> Fused<'p, 'a> {
    /// `None` where the rules are more than the bit sets hold (the line takes the old path).
    pub(crate) fn new(privacy: &'p Privacy, line: &'a str) -> Option<Self> {
        (privacy.rules.len() <= 64).then(|| Fused {
            privacy,
            line,
            applying: None,
            out: AttrsOut::new(
                line,
                if privacy.index_subjects {
                    Vec::with_capacity(8)
                } else {
                    Vec::new()
                },
            ),
            attrs_at: None,
            attrs_end: None,
        })
    }

    /// The line as it may be stored and its subjects (`session`: the envelope's), once the
    /// reader read the whole line; `None` where the old path must decide.
    pub(crate) fn finish(&mut self, session: Option<&str>) -> Option<Redacted<'a>> {
        self.applying?;
        if self.privacy.index_subjects {
            if let Some(s) = session {
                (self.out.subjects).push(subject_key(SubjectKind::Session, s));
            }
        }
        let subjects = self.out.take_subjects();
        if !self.out.changed {
            return Some(Redacted {
                body: Cow::Borrowed(self.line),
                subjects,
            });
        }
        let end = self.attrs_end?;
        let mut out = std::mem::replace(&mut self.out, AttrsOut::new(self.line, Vec::new()));
        out.out.copy(end - 1..self.line.len());
        Some(Redacted {
            body: Cow::Owned(out.out.finish()),
            subjects,
        })
    }

    /// One member: `None` stops the read (see the module's doc).
    #[inline(always)]
    fn take(&mut self, m: Member<'a>) -> Option<()> {
        let p = self.privacy;
        let applying = match self.applying {
            Some(_) if !m.in_attrs && m.key == "event" => return None, // would rename it
            Some(applying) => applying,
            // The first member names the event.
            None => match (&m.value, m.in_attrs || m.key != "event") {
                (Scalar::Str(Cow::Borrowed(name)), false) => {
                    let applying = p.applying(Some(name));
                    self.applying = Some(applying);
                    applying
                }
                _ => return None,
            },
        };
        let top_attrs = !m.in_attrs && m.key == "attrs";
        match m.value {
            // The one `attrs` object (`attrs_key` refused any other).
            Scalar::Object if top_attrs => {}
            Scalar::Object | Scalar::Array | Scalar::Str(Cow::Owned(_)) => return None,
            _ => {}
        }
        let info = p.keys.get(m.key);
        let mut outcome = Outcome::Keep;
        if applying != 0 {
            if m.in_attrs {
                outcome = p.member_change(applying, &mut Strings, &m, info)?;
                // Contest fields are read by core from the line as sent.
                if !matches!(outcome, Outcome::Keep) && Field::from_key(m.key).is_some() {
                    return None;
                }
            } else if !top_attrs
                && !protected(m.key, true)
                && !matches!(
                    p.member_change(applying, &mut Strings, &m, info)?,
                    Outcome::Keep
                )
            {
                return None;
            }
        }
        if top_attrs {
            let (_, _, end) = offsets(self.line, &m);
            self.out.close(end);
            self.attrs_end = Some(end);
        }
        // A member inside `attrs` comes after `attrs_key` (which set `attrs_at`).
        let obj_start = if m.in_attrs { self.attrs_at? } else { 0 };
        self.out.member(p, &m, info, &outcome, obj_start);
        Some(())
    }
}

impl<'a> Sink<'a> for Fused<'_, 'a> {
    const KEEPS: bool = true;

    #[inline(always)]
    fn member(&mut self, member: Member<'a>) -> bool {
        self.take(member).is_some()
    }

    fn attrs_key(&mut self, at: usize) -> bool {
        // One `attrs`, an object, after the event's name; one the applying rules drop or hash
        // changes what core reads.
        let Some(applying) = self.applying else {
            return false;
        };
        if self.attrs_at.is_some() || self.line.as_bytes().get(at) != Some(&b'{') {
            return false;
        }
        if self.privacy.keys.attrs_removed & applying != 0 {
            return false;
        }
        self.attrs_at = Some(at);
        self.out.out.copy(0..at + 1);
        true
    }
}
