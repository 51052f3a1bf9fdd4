//! Which masks may match inside a line's strings, decided once per line and mask, and only for
//! the masks a rule applying to the line's events asks about. A mask that matches nowhere in a
//! line without escapes cannot match inside one of its strings either (a string's text is a
//! piece of the line, and its quotes are not word characters), unless the pattern is anchored
//! to the text's ends; a line with escapes may spell a match differently, so there every mask
//! is live.

use crate::config::{Mask, MaskBytes, Needs, RedactRule};
use std::borrow::Cow;

/// Masks past this many (all rules' masks in order) are checked each time they are asked.
const CACHED: usize = 64;

pub(super) struct Live<'t> {
    text: &'t str,
    escaped: bool,
    /// Bit k: mask k was checked; `value`'s bit k: what the check said.
    known: u64,
    value: u64,
    /// The same for [`Live::gate`]'s byte checks of the `email` and `ip` masks.
    gated: u64,
    open: u64,
    /// [`Live::clear`]'s answer, once asked: the rules' bits it was for, and the answer.
    clear: Option<(u64, bool)>,
}

impl<'t> Live<'t> {
    pub(super) fn new(text: &'t str) -> Self {
        Live {
            text,
            escaped: memchr::memchr(b'\\', text.as_bytes()).is_some(),
            known: 0,
            value: 0,
            gated: 0,
            open: 0,
            clear: None,
        }
    }

    /// Whether the line has escapes (then every mask is live).
    pub(super) fn escaped(&self) -> bool {
        self.escaped
    }

    /// Whether mask number `k` (`mask`) may match an unchanged string of the line.
    pub(super) fn get(&mut self, k: usize, mask: &Mask) -> bool {
        if self.escaped || mask.anchored {
            return true;
        }
        let bit = 1u64.checked_shl(k as u32).filter(|_| k < CACHED);
        if let Some(bit) = bit {
            if self.known & bit != 0 {
                return self.value & bit != 0;
            }
        }
        let live = mask.may_match(self.text) && mask.regex.is_match(self.text);
        if let Some(bit) = bit {
            self.known |= bit;
            if live {
                self.value |= bit;
            }
        }
        live
    }

    /// Whether mask number `k` may match an unchanged string of the line: [`Live::get`] for a
    /// `regex:` mask; for `email` and `ip`, their byte check on the whole line (a string of a
    /// line without escapes is a piece of it, so a string that passes makes the line pass), so
    /// a line without `@` tries no string for an e-mail address.
    fn gate(&mut self, k: usize, mask: &Mask) -> bool {
        if mask.needs == Needs::Nothing {
            return self.get(k, mask);
        }
        if self.escaped || mask.anchored {
            return true;
        }
        let Some(bit) = 1u64.checked_shl(k as u32).filter(|_| k < CACHED) else {
            return mask.may_match(self.text);
        };
        if self.gated & bit == 0 {
            self.gated |= bit;
            if mask.may_match(self.text) {
                self.open |= bit;
            }
        }
        self.open & bit != 0
    }

    /// Whether no mask of the rules in `rules` (a bit per rule of `all`) can change an
    /// unchanged string of the line: every one of them is ruled out by [`Live::gate`], which
    /// is what [`Live::mask`] asks first of such a string. Answered once per line, so a string
    /// no rule names skips the rules one by one (most strings of most lines).
    pub(super) fn clear(&mut self, all: &[RedactRule], rules: u64) -> bool {
        if let Some((asked, answer)) = self.clear {
            if asked == rules {
                return answer;
            }
        }
        let mut base = 0;
        let mut answer = true;
        for (r, rule) in all.iter().enumerate() {
            let first = base;
            base += rule.mask.len();
            if r >= 64 || rules & (1 << r) == 0 {
                continue;
            }
            if rule
                .mask
                .iter()
                .enumerate()
                .any(|(k, m)| self.gate(first + k, m))
            {
                answer = false;
                break;
            }
        }
        self.clear = Some((rules, answer));
        answer
    }

    /// `rule`'s masks (numbered from `base` among all rules' masks) over `text`, a string of
    /// the line (`unchanged`: as the line has it; `hashed`: a hash's hex, as a rule left it).
    /// An unchanged string is skipped by a mask that the line's [`Live::gate`] rules out; else
    /// a mask with a byte check is tried on the string itself before its regex.
    /// `None`: nothing matched.
    pub(super) fn mask(
        &mut self,
        rule: &RedactRule,
        base: usize,
        unchanged: bool,
        hashed: bool,
        text: &str,
    ) -> Option<String> {
        apply_masks(rule, unchanged, hashed, text, |k, mask| {
            self.gate(base + k, mask)
        })
    }
}

/// `rule`'s masks over `text` (see [`Live::mask`]); `open(k, mask)`: whether mask `k` of the
/// rule may match an unchanged string (a cheap check before the string's own).
fn apply_masks(
    rule: &RedactRule,
    mut unchanged: bool,
    mut hashed: bool,
    text: &str,
    mut open: impl FnMut(usize, &Mask) -> bool,
) -> Option<String> {
    let mut out: Option<String> = None;
    for (k, mask) in rule.mask.iter().enumerate() {
        if unchanged && !open(k, mask) {
            continue;
        }
        // A hash is hex: no `@`, `.` or `:`, so neither byte check would pass.
        if hashed && mask.needs != Needs::Nothing {
            continue;
        }
        let from = out.as_deref().unwrap_or(text);
        if !mask.may_match(from) {
            continue;
        }
        if let Cow::Owned(m) = mask.regex.replace_all(from, mask.label) {
            out = Some(m);
            unchanged = false;
            hashed = false;
        }
    }
    out
}

/// How `member_change` (`members.rs`) learns whether masks may change a string: from the
/// line's checks ([`Live`], for a line whose members were listed) or from the string's own
/// bytes ([`Strings`], for the reader's one pass, which meets each string once).
pub(super) trait Gate {
    /// Whether no mask of the rules in `rules` (a bit per rule of `all`) can change `text`, an
    /// unchanged string of the line.
    fn clear(&mut self, all: &[RedactRule], rules: u64, text: &str) -> bool;
    /// [`Live::mask`].
    fn mask(
        &mut self,
        rule: &RedactRule,
        base: usize,
        unchanged: bool,
        hashed: bool,
        text: &str,
    ) -> Option<String>;
}

impl Gate for Live<'_> {
    fn clear(&mut self, all: &[RedactRule], rules: u64, _text: &str) -> bool {
        Live::clear(self, all, rules)
    }

    fn mask(
        &mut self,
        rule: &RedactRule,
        base: usize,
        unchanged: bool,
        hashed: bool,
        text: &str,
    ) -> Option<String> {
        Live::mask(self, rule, base, unchanged, hashed, text)
    }
}

/// The masks' checks asked of each string alone: one pass over its bytes ([`MaskBytes`])
/// answers the `email` and `ip` checks, instead of searching the whole line once per mask.
/// A mask the check passes runs its regex on the string, as with [`Live`].
pub(super) struct Strings;

impl Gate for Strings {
    fn clear(&mut self, all: &[RedactRule], rules: u64, text: &str) -> bool {
        let bytes = MaskBytes::of(text);
        // A loop over the set bits (an iterator chain here cost more than the checks).
        let mut left = rules;
        while left != 0 {
            let r = left.trailing_zeros() as usize;
            left &= left - 1;
            let Some(rule) = all.get(r) else { break };
            for mask in &rule.mask {
                if mask.may_match_in(text, bytes) {
                    return false;
                }
            }
        }
        true
    }

    fn mask(
        &mut self,
        rule: &RedactRule,
        _base: usize,
        unchanged: bool,
        hashed: bool,
        text: &str,
    ) -> Option<String> {
        // The string's own checks run in `apply_masks` (no line to rule a mask out first).
        apply_masks(rule, unchanged, hashed, text, |_, _| true)
    }
}
