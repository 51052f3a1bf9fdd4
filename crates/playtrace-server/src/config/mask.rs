//! The `mask` entries of `[[privacy.rules]]` (`email`, `ip`, `regex:…`), compiled once per
//! (re)load, and the cheap byte tests that let redaction skip the regex on most strings and
//! lines (`config/privacy.rs` builds them, `ingest/redact` applies them).

use regex::Regex;

/// What a `mask` entry replaces in every string value.
#[derive(Debug, Clone)]
pub struct Mask {
    /// `email`, `ip` or `regex:…` as written.
    pub name: String,
    /// What finds it.
    pub(crate) regex: Regex,
    /// What replaces it (`[email]`, `[ip]`, `[redacted]`).
    pub(crate) label: &'static str,
    /// Whether the pattern may be anchored to the text's ends (`^`, `$`, `\A`, `\z`): then a
    /// line it does not match may still hold a string it matches, and redaction cannot skip it.
    pub(crate) anchored: bool,
    /// What a text must contain for the pattern to match in it, checked before the regex.
    pub(crate) needs: Needs,
    /// For a `regex:` mask whose matches all have one length: what each byte of a match can be.
    pub(crate) shape: Option<Shape>,
}

/// A cheap test of a text that every match of a built-in mask passes (a necessary condition,
/// never a sufficient one): most strings, and most lines, fail it and skip the regex.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Needs {
    /// A `regex:` mask: always run.
    Nothing,
    /// `email`: the `@` is a literal of the pattern.
    At,
    /// `ip`: in ASCII text, an IPv4 address has `D.D{1,3}.D` (D an ASCII digit) and an IPv6
    /// one a `:` after a hex digit and before a hex digit or a `:`. Text with other characters
    /// always runs the regex (`\d` and `\b` are Unicode-aware).
    Ip,
}

impl Mask {
    /// Whether the pattern may match somewhere in `text` (`false`: it certainly does not).
    pub(crate) fn may_match(&self, text: &str) -> bool {
        match self.needs {
            Needs::Nothing => self
                .shape
                .as_ref()
                .is_none_or(|shape| !text.is_ascii() || shape.found(text.as_bytes())),
            Needs::At => memchr::memchr(b'@', text.as_bytes()).is_some(),
            Needs::Ip => !text.is_ascii() || ip_shaped(text.as_bytes()),
        }
    }
}

/// Which of the bytes the built-in masks' checks look for a text holds (`@`, `.`, `:`, a byte
/// of a non-ASCII character), found in one pass over the text a word at a time: the one-pass
/// redaction (`ingest/redact/fused.rs`) asks it of each string as the reader meets it, where
/// the other paths search the whole line once per mask.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct MaskBytes(u8);

impl MaskBytes {
    const AT: u8 = 1;
    const DOT: u8 = 2;
    const COLON: u8 = 4;
    const WIDE: u8 = 8;

    pub(crate) fn of(text: &str) -> MaskBytes {
        const ONES: u64 = u64::MAX / 255;
        const HIGHS: u64 = ONES << 7;
        // Nonzero when a byte of `w` is `c` (exact as a whole: a borrow only marks bytes above
        // a byte that is `c`).
        #[inline(always)]
        fn has(w: u64, c: u8) -> u64 {
            let x = w ^ (ONES * u64::from(c));
            x.wrapping_sub(ONES) & !x & HIGHS
        }
        let (mut at, mut dot, mut colon, mut wide) = (0, 0, 0, 0);
        let mut word = |w: u64| {
            at |= has(w, b'@');
            dot |= has(w, b'.');
            colon |= has(w, b':');
            wide |= w & HIGHS;
        };
        let mut chunks = text.as_bytes().chunks_exact(8);
        for chunk in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(chunk);
            word(u64::from_le_bytes(w));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            // Zero padding: no `@`, `.` or `:`, no high bit.
            let mut w = [0u8; 8];
            w[..rest.len()].copy_from_slice(rest);
            word(u64::from_le_bytes(w));
        }
        let flag = |found: u64, bit: u8| if found != 0 { bit } else { 0 };
        MaskBytes(
            flag(at, Self::AT)
                | flag(dot, Self::DOT)
                | flag(colon, Self::COLON)
                | flag(wide, Self::WIDE),
        )
    }
}

impl Mask {
    /// [`Mask::may_match`] of `text`, whose [`MaskBytes`] are `bytes`: the same answer, without
    /// searching a text that lacks the bytes the check needs.
    pub(crate) fn may_match_in(&self, text: &str, bytes: MaskBytes) -> bool {
        match self.needs {
            Needs::Nothing => self.may_match(text),
            Needs::At => bytes.0 & MaskBytes::AT != 0,
            // ASCII text without `.` or `:` has neither shape (`ip_shaped`).
            Needs::Ip => {
                bytes.0 & MaskBytes::WIDE != 0
                    || (bytes.0 & (MaskBytes::DOT | MaskBytes::COLON) != 0
                        && ip_shaped(text.as_bytes()))
            }
        }
    }
}

/// The ASCII shapes every IPv4 or IPv6 match of the `ip` mask contains (see [`Needs::Ip`]).
fn ip_shaped(b: &[u8]) -> bool {
    let digit = |i: usize| b.get(i).is_some_and(u8::is_ascii_digit);
    let v4 = memchr::memchr_iter(b'.', b).any(|p| {
        if p == 0 || !digit(p - 1) {
            return false;
        }
        let run = (1..=3).take_while(|k| digit(p + k)).count();
        run > 0 && b.get(p + 1 + run) == Some(&b'.') && digit(p + 2 + run)
    });
    v4 || hex_colon(b)
}

/// Whether `b` has a `:` after an ASCII hex digit and before one or another `:` (the IPv6 half
/// of [`ip_shaped`]). A JSON line has a `:` after every key, each a hit for a search of `:`
/// (about 15 a line, each a `memchr` call: most of the `ip` mask's cost per line), so this
/// compares every window of three bytes instead, without branches, a block at a time (the
/// compiler turns each block into vector compares): first only for a `:` after anything but
/// `"` (a key's), which a line without escapes has only inside its strings, then, in a block
/// that has one, for the whole condition.
fn hex_colon(b: &[u8]) -> bool {
    #[inline(always)]
    fn is_hex(c: u8) -> bool {
        (c.wrapping_sub(b'0') < 10) | ((c | 0x20).wrapping_sub(b'a') < 6)
    }
    const BLOCK: usize = 64;
    if b.len() < 3 {
        return false;
    }
    // Window `i`: `before[i]`, `at[i]`, `after[i]` are bytes `i`, `i + 1`, `i + 2`.
    let (before, at, after) = (&b[..b.len() - 2], &b[1..b.len() - 1], &b[2..]);
    for start in (0..before.len()).step_by(BLOCK) {
        let end = (start + BLOCK).min(before.len());
        let loose = before[start..end]
            .iter()
            .zip(&at[start..end])
            .fold(false, |found, (&p, &c)| found | ((c == b':') & (p != b'"')));
        if !loose {
            continue;
        }
        let found = before[start..end]
            .iter()
            .zip(&at[start..end])
            .zip(&after[start..end])
            .fold(false, |found, ((&p, &c), &n)| {
                found | ((c == b':') & is_hex(p) & (is_hex(n) | (n == b':')))
            });
        if found {
            return true;
        }
    }
    false
}

/// A `regex:` pattern whose every match is a run of one length of literals and classes
/// (`\b\d{4}-\d{4}-\d{4}-\d{4}\b`; look-arounds such as `\b` take no room): the ASCII bytes each
/// position can hold. In ASCII text a match is such a window, so text without one skips the
/// regex; text with other characters always runs it.
#[derive(Debug, Clone)]
pub(crate) struct Shape {
    /// Per position, bit `b`: ASCII byte `b` may stand there.
    positions: Vec<u128>,
    /// The position that admits the fewest bytes: looked for first.
    anchor: usize,
}

impl Shape {
    pub(super) fn of(pattern: &str) -> Option<Shape> {
        let hir = regex_syntax::Parser::new().parse(pattern).ok()?;
        let mut positions = Vec::new();
        shape_of(&hir, &mut positions)?;
        if positions.is_empty() || positions.len() > 256 {
            return None;
        }
        let anchor = (0..positions.len()).min_by_key(|&j| positions[j].count_ones())?;
        Some(Shape { positions, anchor })
    }

    /// Whether the ASCII text `b` has a window of the shape.
    pub(crate) fn found(&self, b: &[u8]) -> bool {
        let n = self.positions.len();
        if b.len() < n {
            return false;
        }
        let fits = |i: usize| {
            self.positions
                .iter()
                .zip(&b[i..i + n])
                .all(|(set, &c)| c < 128 && (set >> c) & 1 == 1)
        };
        let want = self.positions[self.anchor];
        if want.count_ones() == 1 {
            let byte = want.trailing_zeros() as u8;
            memchr::memchr_iter(byte, b).any(|p| {
                p >= self.anchor && p - self.anchor + n <= b.len() && fits(p - self.anchor)
            })
        } else {
            (0..=b.len() - n).any(fits)
        }
    }
}

/// Appends the positions of `hir`'s matches; `None` when they do not all have one length.
fn shape_of(hir: &regex_syntax::hir::Hir, out: &mut Vec<u128>) -> Option<()> {
    use regex_syntax::hir::{Class, HirKind};
    match hir.kind() {
        HirKind::Empty | HirKind::Look(_) => Some(()),
        HirKind::Literal(literal) => {
            for &c in literal.0.iter() {
                // Never in ASCII text: no shape (the regex always runs).
                if !c.is_ascii() {
                    return None;
                }
                out.push(1u128 << c);
            }
            Some(())
        }
        HirKind::Class(class) => {
            let mut set = 0u128;
            let mut add = |a: u32, z: u32| {
                for c in a..=z.min(127) {
                    set |= 1u128 << c;
                }
            };
            match class {
                Class::Unicode(c) => c
                    .ranges()
                    .iter()
                    .for_each(|r| add(r.start() as u32, r.end() as u32)),
                Class::Bytes(c) => c
                    .ranges()
                    .iter()
                    .for_each(|r| add(u32::from(r.start()), u32::from(r.end()))),
            }
            out.push(set);
            Some(())
        }
        HirKind::Repetition(r) if r.max == Some(r.min) && r.min <= 64 => {
            (0..r.min).try_for_each(|_| shape_of(&r.sub, out))
        }
        HirKind::Capture(c) => shape_of(&c.sub, out),
        HirKind::Concat(parts) => parts.iter().try_for_each(|p| shape_of(p, out)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_block_compare_finds_the_colons_the_search_found() {
        // The search `hex_colon` replaced: every `:` with a hex digit before it and a hex
        // digit or `:` after it. A window it missed would let an IPv6 address skip the mask.
        fn searched(b: &[u8]) -> bool {
            let hex = |i: usize| b.get(i).is_some_and(u8::is_ascii_hexdigit);
            memchr::memchr_iter(b':', b)
                .any(|p| p > 0 && hex(p - 1) && (hex(p + 1) || b.get(p + 1) == Some(&b':')))
        }
        let bytes = b"0:9aAfFgG:\":,. @x\xff";
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let (mut found, mut missed) = (0, 0);
        for n in 0..20_000usize {
            // Lengths across the 64-byte blocks and their edges.
            let len = n % 200;
            let text: Vec<u8> = (0..len)
                .map(|_| {
                    state = state
                        .wrapping_mul(6_364_136_223_846_793_005)
                        .wrapping_add(1_442_695_040_888_963_407);
                    // Mostly filler, so that most texts have no window.
                    let pick = (state >> 33) as usize % (bytes.len() * 2);
                    *bytes.get(pick).unwrap_or(&b'"')
                })
                .collect();
            let want = searched(&text);
            assert_eq!(
                hex_colon(&text),
                want,
                "{:?}",
                String::from_utf8_lossy(&text)
            );
            if want {
                found += 1;
            } else {
                missed += 1;
            }
        }
        assert!(found > 1_000 && missed > 1_000, "{found} {missed}");
        for (text, want) in [("a:b", true), ("a::", true), (":ab", false), ("ab:", false)] {
            assert_eq!(hex_colon(text.as_bytes()), want, "{text}");
        }
    }
}
