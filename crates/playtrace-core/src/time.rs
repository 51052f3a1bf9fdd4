//! RFC 3339 timestamps ⇄ epoch milliseconds, without a date-time dependency.
//!
//! Telemetry carries times either as epoch milliseconds or as RFC 3339 strings; both become
//! `f64` epoch milliseconds here (sub-millisecond fractions are kept). Parsing is strict about
//! ranges (no 31st of April) and lenient about form the way log producers are: `T`, `t` or a
//! space between date and time, `Z`/`z`/`±HH:MM`/`±HHMM` offsets, any number of fractional
//! digits, and a date-time without an offset read as UTC (documented in docs/monitor.md; the old
//! JavaScript read it as the machine's local time, which made results depend on where CI ran).

/// Milliseconds in a day.
const MS_PER_DAY: f64 = 86_400_000.0;

/// Parses an RFC 3339 date-time (or a bare `YYYY-MM-DD` date, read as midnight UTC) into epoch
/// milliseconds. Returns `None` when the text is not such a timestamp.
pub fn parse_rfc3339_ms(text: &str) -> Option<f64> {
    let b = text.as_bytes();
    if let Some(ms) = parse_common(b) {
        return Some(ms);
    }
    let mut p = Cursor { b, i: 0 };
    let year = p.digits(4)? as i64;
    p.expect(b'-')?;
    let month = p.digits(2)?;
    p.expect(b'-')?;
    let day = p.digits(2)?;
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    let days = days_from_civil(year, month, day);
    if p.done() {
        return Some(days as f64 * MS_PER_DAY);
    }
    match p.next()? {
        b'T' | b't' | b' ' => {}
        _ => return None,
    }
    let hour = p.digits(2)?;
    p.expect(b':')?;
    let minute = p.digits(2)?;
    let mut second = 0;
    let mut frac_ms = 0.0;
    if p.peek() == Some(b':') {
        p.i += 1;
        second = p.digits(2)?;
        if p.peek() == Some(b'.') || p.peek() == Some(b',') {
            p.i += 1;
            frac_ms = p.fraction_ms()?;
        }
    }
    // Second 60 is a leap second; it is kept as one second past :59 rather than rejected.
    if hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let offset_min: i64 = match p.next() {
        None => 0,
        Some(b'Z' | b'z') => 0,
        Some(sign @ (b'+' | b'-')) => {
            let oh = p.digits(2)? as i64;
            if p.peek() == Some(b':') {
                p.i += 1;
            }
            let om = p.digits(2)? as i64;
            if oh > 23 || om > 59 {
                return None;
            }
            let m = oh * 60 + om;
            if sign == b'+' {
                m
            } else {
                -m
            }
        }
        Some(_) => return None,
    };
    if !p.done() {
        return None;
    }
    let secs = days * 86_400 + i64::from(hour) * 3600 + i64::from(minute) * 60 + i64::from(second)
        - offset_min * 60;
    Some(secs as f64 * 1000.0 + frac_ms)
}

/// Formats epoch milliseconds as `YYYY-MM-DDTHH:MM:SS.mmmZ`, like JavaScript's `toISOString`.
/// Sub-millisecond fractions are truncated. Returns `None` outside years 0000–9999.
pub fn format_rfc3339_ms(ms: f64) -> Option<String> {
    if !ms.is_finite() {
        return None;
    }
    let total_ms = ms.floor() as i64;
    let days = total_ms.div_euclid(86_400_000);
    let in_day = total_ms.rem_euclid(86_400_000);
    let (y, m, d) = civil_from_days(days);
    if !(0..=9999).contains(&y) {
        return None;
    }
    let (h, rest) = (in_day / 3_600_000, in_day % 3_600_000);
    let (mi, rest) = (rest / 60_000, rest % 60_000);
    let (s, milli) = (rest / 1000, rest % 1000);
    // Digits written in place: every streamed and listed event formats its receive time, and
    // `format!`'s padding machinery cost a measurable share of the fan-out.
    let mut out = *b"0000-00-00T00:00:00.000Z";
    let mut put = |at: usize, width: usize, mut v: i64| {
        for i in (at..at + width).rev() {
            out[i] = b'0' + (v % 10) as u8;
            v /= 10;
        }
    };
    put(0, 4, y);
    put(5, 2, i64::from(m));
    put(8, 2, i64::from(d));
    put(11, 2, h);
    put(14, 2, mi);
    put(17, 2, s);
    put(20, 3, milli);
    Some(out.iter().map(|&b| char::from(b)).collect())
}

/// The form almost every log line uses, `YYYY-MM-DDTHH:MM:SS.mmmZ`, read at fixed offsets with
/// no loops; anything else (or anything out of range) goes through the general parser. Runs for
/// every line of a log, so it is kept branch-light.
#[inline]
fn parse_common(b: &[u8]) -> Option<f64> {
    let b: &[u8; 24] = b.try_into().ok()?;
    if b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b'T'
        || b[13] != b':'
        || b[16] != b':'
        || b[19] != b'.'
        || b[23] != b'Z'
    {
        return None;
    }
    let d = |i: usize| u32::from(b[i].wrapping_sub(b'0'));
    // A non-digit makes its `d` above 9; `|` (not `||`) keeps this free of branches.
    let bad = |i: usize| d(i) > 9;
    if bad(0)
        | bad(1)
        | bad(2)
        | bad(3)
        | bad(5)
        | bad(6)
        | bad(8)
        | bad(9)
        | bad(11)
        | bad(12)
        | bad(14)
        | bad(15)
        | bad(17)
        | bad(18)
        | bad(20)
        | bad(21)
        | bad(22)
    {
        return None;
    }
    let year = i64::from(d(0) * 1000 + d(1) * 100 + d(2) * 10 + d(3));
    let month = d(5) * 10 + d(6);
    let day = d(8) * 10 + d(9);
    let hour = d(11) * 10 + d(12);
    let minute = d(14) * 10 + d(15);
    let second = d(17) * 10 + d(18);
    let milli = d(20) * 100 + d(21) * 10 + d(22);
    if !(1..=12).contains(&month)
        || day < 1
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let secs =
        days_from_civil(year, month, day) * 86_400 + i64::from(hour * 3600 + minute * 60 + second);
    Some(secs as f64 * 1000.0 + f64::from(milli))
}

struct Cursor<'a> {
    b: &'a [u8],
    i: usize,
}

impl Cursor<'_> {
    fn done(&self) -> bool {
        self.i >= self.b.len()
    }
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }
    fn next(&mut self) -> Option<u8> {
        let c = self.peek()?;
        self.i += 1;
        Some(c)
    }
    fn expect(&mut self, c: u8) -> Option<()> {
        (self.next()? == c).then_some(())
    }
    fn digits(&mut self, n: usize) -> Option<u32> {
        let mut v = 0u32;
        for _ in 0..n {
            let c = self.next()?;
            if !c.is_ascii_digit() {
                return None;
            }
            v = v * 10 + u32::from(c - b'0');
        }
        Some(v)
    }
    /// Reads at least one fractional-second digit and returns the fraction in milliseconds.
    fn fraction_ms(&mut self) -> Option<f64> {
        let start = self.i;
        let mut value: u64 = 0;
        let mut digits = 0u32;
        while let Some(c) = self.peek().filter(u8::is_ascii_digit) {
            // Digits past nanoseconds cannot change an f64 millisecond value; skip them.
            if digits < 9 {
                value = value * 10 + u64::from(c - b'0');
                digits += 1;
            }
            self.i += 1;
        }
        if self.i == start {
            return None;
        }
        Some(value as f64 * 1000.0 / 10f64.powi(digits as i32))
    }
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if is_leap(y) => 29,
        _ => 28,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (the "days from civil" algorithm: shift the
/// year to start in March so the leap day is last, then count 400-year eras).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Inverse of [`days_from_civil`].
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_common_forms() {
        assert_eq!(parse_rfc3339_ms("1970-01-01T00:00:00Z"), Some(0.0));
        assert_eq!(
            parse_rfc3339_ms("2025-11-05T04:53:28.025Z"),
            Some(1_762_318_408_025.0)
        );
        assert_eq!(
            parse_rfc3339_ms("2025-11-05 05:53:28.025+01:00"),
            Some(1_762_318_408_025.0)
        );
        assert_eq!(
            parse_rfc3339_ms("2025-11-05T04:53:28.0255z"),
            Some(1_762_318_408_025.5)
        );
        assert_eq!(
            parse_rfc3339_ms("2025-11-05T04:53:28-0030"),
            Some(1_762_320_208_000.0)
        );
        assert_eq!(
            parse_rfc3339_ms("2025-11-05T04:53"),
            Some(1_762_318_380_000.0)
        );
        assert_eq!(parse_rfc3339_ms("2025-11-05"), Some(1_762_300_800_000.0));
        assert_eq!(parse_rfc3339_ms("1969-12-31T23:59:59Z"), Some(-1000.0));
    }

    #[test]
    fn the_common_form_takes_the_fast_path() {
        for text in [
            "2025-11-05T04:53:28.025Z",
            "1999-09-09T19:59:59.999Z",
            "2096-06-26T16:36:46.696Z",
        ] {
            assert_eq!(
                parse_common(text.as_bytes()),
                parse_rfc3339_ms(&text.replace('Z', "+00:00")),
                "{text}"
            );
            assert!(parse_common(text.as_bytes()).is_some(), "{text}");
        }
        assert_eq!(parse_common(b"2025-11-05T04:53:28.0x5Z"), None);
    }

    #[test]
    fn rejects_malformed_and_out_of_range() {
        for bad in [
            "",
            "yesterday",
            "2025-13-01T00:00:00Z",
            "2025-04-31T00:00:00Z",
            "2025-02-29T00:00:00Z",
            "2025-01-01T24:00:00Z",
            "2025-01-01T00:00:00.Z",
            "2025-01-01T00:00:00Zjunk",
            "2025-1-01",
            "1762318408025",
        ] {
            assert_eq!(parse_rfc3339_ms(bad), None, "{bad}");
        }
        assert!(parse_rfc3339_ms("2024-02-29T00:00:00Z").is_some());
    }

    #[test]
    fn formats_like_to_iso_string() {
        assert_eq!(
            format_rfc3339_ms(1_762_318_408_025.0).as_deref(),
            Some("2025-11-05T04:53:28.025Z")
        );
        assert_eq!(
            format_rfc3339_ms(-1.0).as_deref(),
            Some("1969-12-31T23:59:59.999Z")
        );
        assert_eq!(format_rfc3339_ms(f64::NAN), None);
    }

    #[test]
    fn round_trips_across_centuries() {
        for days in (-700_000i64..2_900_000).step_by(997) {
            let ms = days as f64 * MS_PER_DAY + 12_345.0;
            let text = format_rfc3339_ms(ms).unwrap();
            assert_eq!(parse_rfc3339_ms(&text), Some(ms), "{text}");
        }
    }
}
