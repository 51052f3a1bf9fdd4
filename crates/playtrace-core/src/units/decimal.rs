//! The number part of `<number><unit>`, read exactly: `1.5` times an integer scale is computed in
//! integers, so `1.1s` is 1100 ms and not 1100.0000000000002.

/// A non-negative decimal as written: `int` followed by `frac_digits` digits of `frac`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Decimal {
    int: u128,
    frac: u128,
    frac_digits: u32,
}

/// Fraction digits kept; more than this (far below a millisecond or a byte) are ignored.
const MAX_FRAC_DIGITS: u32 = 18;

impl Decimal {
    /// Splits `text` (already trimmed) into its number and the rest. `None` when the number is
    /// not `digits[.digits]` (a sign, two dots, no digits).
    pub(super) fn split(text: &str) -> Option<(Decimal, &str)> {
        let end = text
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(text.len());
        let (number, rest) = text.split_at(end);
        let (int_text, frac_text) = match number.split_once('.') {
            Some((i, f)) => (i, f),
            None => (number, ""),
        };
        if frac_text.contains('.') || (int_text.is_empty() && frac_text.is_empty()) {
            return None;
        }
        let mut int: u128 = 0;
        for b in int_text.bytes() {
            // A number too long for u128 is out of every range anyway: saturate and let the
            // range check refuse it.
            int = int.saturating_mul(10).saturating_add(u128::from(b - b'0'));
        }
        let mut frac: u128 = 0;
        let mut frac_digits = 0;
        for b in frac_text.bytes().take(MAX_FRAC_DIGITS as usize) {
            frac = frac * 10 + u128::from(b - b'0');
            frac_digits += 1;
        }
        Some((
            Decimal {
                int,
                frac,
                frac_digits,
            },
            rest,
        ))
    }

    /// `self × scale`, rounded half up to an integer; saturates (callers check the range).
    pub(super) fn scaled(self, scale: u128) -> u128 {
        let denom = 10u128.pow(self.frac_digits);
        let frac = self.frac.saturating_mul(scale);
        self.int
            .saturating_mul(scale)
            .saturating_add(frac / denom)
            .saturating_add(u128::from(frac % denom * 2 >= denom))
    }
}

/// Rounds a finite non-negative float to an integer, `None` if it is negative, not finite or
/// beyond `max`.
pub(super) fn round_f64(value: f64, max: u64) -> Option<u64> {
    // `max as f64` may round up; compare after rounding and in integers where it matters.
    if !value.is_finite() || value < 0.0 {
        return None;
    }
    let rounded = value.round();
    if rounded >= 18_446_744_073_709_551_616.0 {
        return None;
    }
    // In range of u64 now, so the cast is exact for integral values.
    let n = rounded as u64;
    (n <= max).then_some(n)
}
