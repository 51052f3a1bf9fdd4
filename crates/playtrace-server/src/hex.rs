//! Lowercase hex, the one encoder for hashed ids, OTLP trace and span ids and notification ids.

const DIGITS: &[u8; 16] = b"0123456789abcdef";

/// Writes the hex of `bytes` into `out` (two digits a byte; `out` stops it early if shorter).
pub(crate) fn write(bytes: &[u8], out: &mut [u8]) {
    for (pair, b) in out.chunks_exact_mut(2).zip(bytes) {
        pair[0] = DIGITS[usize::from(b >> 4)];
        pair[1] = DIGITS[usize::from(b & 15)];
    }
}

/// The hex of `bytes`.
pub(crate) fn encode(bytes: &[u8]) -> String {
    let mut out = vec![0u8; bytes.len() * 2];
    write(bytes, &mut out);
    // Only ASCII digits were written.
    String::from_utf8(out).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    #[test]
    fn two_lowercase_digits_a_byte() {
        assert_eq!(super::encode(&[0x00, 0x0f, 0xa5, 0xff]), "000fa5ff");
        let mut short = [b'-'; 3];
        super::write(&[0xab, 0xcd], &mut short);
        assert_eq!(&short, b"ab-");
    }
}
