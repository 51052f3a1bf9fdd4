//! Budget history: every budget series (scope, group, metric) counted per minute of receive time
//! as *counts per distinct duration*, so a percentile over any range of minutes is still exact
//! (nearest rank, SPEC §3) — merging two ranges adds counts, nothing is approximated.
//!
//! The live windows journal every change of their counts ([`crate::contest::LiveContests`]'s
//! `take_history`): a sample added, and a sample a later event replaced (−1 at the old value, +1
//! at the new one), so the minutes always equal what the live windows counted. The collector
//! writes the journal to its store (minute rows, plus hour rows for long ranges) and answers
//! `GET /v1/budgets/history` over those rows. This module owns the row format
//! ([`encode`], [`decode`], [`add`]); [`crate::history`] answers from them; storing and
//! scheduling are the store's and the server's.

use crate::budget::Metric;

/// One minute, the finest step of the history.
pub const MINUTE_MS: i64 = 60_000;
/// One hour: rows are also kept per hour, so long ranges read 60 times fewer rows.
pub const HOUR_MS: i64 = 3_600_000;

/// What one series counts: a metric of a scope and group, as strings (the store keys rows by
/// them, so a restart with other interned ids reads the same series).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HistoryKey {
    /// The metric counted.
    pub metric: Metric,
    /// The events' game.
    pub game: Option<String>,
    /// The events' environment.
    pub env: Option<String>,
    /// Hub, room, move, type, then the configured attribute dimensions, by slot.
    pub group: Vec<Option<String>>,
}

/// Count changes of one series, per minute (epoch ms of the minute's start), as (order key of
/// the duration, change).
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesDeltas {
    /// The series.
    pub key: HistoryKey,
    /// `(minute, [(order key, change)])`, minutes ascending, order keys ascending.
    pub minutes: Vec<(i64, Vec<(u64, i64)>)>,
}

/// What the live windows counted since the journal was last taken.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HistoryDeltas {
    /// Per series.
    pub series: Vec<SeriesDeltas>,
}

impl HistoryDeltas {
    /// Whether nothing changed.
    pub fn is_empty(&self) -> bool {
        self.series.is_empty()
    }
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// One varint from `blob` at `at`. A varint of up to 8 bytes (every count, and the deltas
/// between neighbouring durations) is read from one 8-byte word: a week's history of 40 rooms
/// reads millions of them, a byte at a time took a third of the answer.
fn get_varint(blob: &[u8], at: &mut usize) -> Option<u64> {
    if let Some(word) = blob
        .get(*at..*at + 8)
        .and_then(|b| <[u8; 8]>::try_from(b).ok())
        .map(u64::from_le_bytes)
    {
        // The first byte without its continuation bit ends the varint.
        let ends = !word & 0x8080_8080_8080_8080;
        if ends != 0 {
            let bytes = ends.trailing_zeros() / 8 + 1;
            let kept = if bytes == 8 {
                word
            } else {
                word & ((1u64 << (8 * bytes)) - 1)
            };
            // Packs the 7-bit groups: pairs of bytes, then pairs of 14-bit groups, then of 28.
            let x = kept & 0x7f7f_7f7f_7f7f_7f7f;
            let x = (x & 0x007f_007f_007f_007f) | ((x & 0x7f00_7f00_7f00_7f00) >> 1);
            let x = (x & 0x0000_3fff_0000_3fff) | ((x & 0x3fff_0000_3fff_0000) >> 2);
            let x = (x & 0x0000_0000_0fff_ffff) | ((x & 0x0fff_ffff_0000_0000) >> 4);
            *at += bytes as usize;
            return Some(x);
        }
    }
    get_varint_bytewise(blob, at)
}

/// [`get_varint`] a byte at a time: near the end of a row, and for varints over 8 bytes.
fn get_varint_bytewise(blob: &[u8], at: &mut usize) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let b = *blob.get(*at)?;
        *at += 1;
        v |= u64::from(b & 0x7f) << shift;
        if b < 0x80 {
            return Some(v);
        }
    }
    None
}

/// Encodes counts (order keys strictly ascending, counts > 0) as a row: varints of the key's
/// difference from the previous key, then the count.
pub fn encode(counts: &[(u64, u64)]) -> Vec<u8> {
    let mut out = Vec::with_capacity(counts.len() * 8);
    let mut prev = 0u64;
    for &(k, n) in counts {
        put_varint(&mut out, k.wrapping_sub(prev));
        put_varint(&mut out, n);
        prev = k;
    }
    out
}

/// Back from [`encode`]; `None` for a damaged row.
pub fn decode(blob: &[u8]) -> Option<Vec<(u64, u64)>> {
    let mut out = Vec::with_capacity(blob.len() / 6);
    decode_into(blob, &mut out).then_some(out)
}

/// [`decode`] appending to `out` (a reader merging many rows reuses one buffer); false for a
/// damaged row, which then adds nothing.
pub fn decode_into(blob: &[u8], out: &mut Vec<(u64, u64)>) -> bool {
    let start = out.len();
    let whole = for_each_pair(blob, |k, n| out.push((k, n)));
    if !whole {
        out.truncate(start);
    }
    whole
}

/// Calls `f` with each `(order key, count)` of a row, in order, without gathering them first
/// (the history turns them into durations as it reads); false when the row turns out damaged,
/// after `f` has seen the pairs before the damage.
pub fn for_each_pair(blob: &[u8], mut f: impl FnMut(u64, u64)) -> bool {
    let (mut at, mut prev) = (0, 0u64);
    while at < blob.len() {
        let pair = get_varint(blob, &mut at).zip(get_varint(blob, &mut at));
        let Some((delta, n)) = pair else {
            return false;
        };
        prev = prev.wrapping_add(delta);
        f(prev, n);
    }
    true
}

/// Counts plus changes (both ascending by key); a count brought to zero or below is dropped.
pub fn add(counts: &[(u64, u64)], deltas: &[(u64, i64)]) -> Vec<(u64, u64)> {
    let mut out = Vec::with_capacity(counts.len() + deltas.len());
    let (mut a, mut b) = (counts.iter().peekable(), deltas.iter().peekable());
    loop {
        let (k, n) = match (a.peek(), b.peek()) {
            (Some(&&(ka, na)), Some(&&(kb, db))) if ka == kb => {
                a.next();
                b.next();
                (ka, na as i64 + db)
            }
            (Some(&&(ka, na)), Some(&&(kb, _))) if ka < kb => {
                a.next();
                (ka, na as i64)
            }
            (_, Some(&&(kb, db))) => {
                b.next();
                (kb, db)
            }
            (Some(&&(ka, na)), None) => {
                a.next();
                (ka, na as i64)
            }
            (None, None) => break,
        };
        if n > 0 {
            out.push((k, n as u64));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quantile::{from_order_key, order_key};

    #[test]
    fn rows_round_trip_and_add_counts() {
        let counts: Vec<(u64, u64)> = [0.0, 1.5, 100.0, 8000.25]
            .iter()
            .map(|&v| (order_key(v), 3))
            .collect();
        assert_eq!(decode(&encode(&counts)).unwrap(), counts);
        assert_eq!(decode(&[0x80]), None, "a cut varint is a damaged row");
        let sum = add(
            &counts,
            &[
                (order_key(1.5), -3),
                (order_key(2.0), 1),
                (order_key(100.0), 2),
            ],
        );
        let values: Vec<(f64, u64)> = sum.iter().map(|&(k, n)| (from_order_key(k), n)).collect();
        assert_eq!(values, vec![(0.0, 3), (2.0, 1), (100.0, 5), (8000.25, 3)]);
    }

    proptest::proptest! {
        /// The word-at-a-time reader reads what the byte-at-a-time one reads, at every length,
        /// with bytes after the varint, and on cut or damaged rows.
        #[test]
        fn varints_read_a_word_at_a_time_equal_byte_at_a_time(
            values in proptest::collection::vec(proptest::num::u64::ANY, 0..12),
            shifts in proptest::collection::vec(0u32..64, 12),
            noise in proptest::collection::vec(proptest::num::u8::ANY, 0..12),
            cut in 0usize..200,
        ) {
            let mut blob = Vec::new();
            for (v, s) in values.iter().zip(&shifts) {
                put_varint(&mut blob, v >> s);
            }
            blob.extend(&noise);
            blob.truncate(blob.len().saturating_sub(cut % 3));
            let (mut a, mut b) = (0, 0);
            loop {
                let fast = get_varint(&blob, &mut a);
                let slow = get_varint_bytewise(&blob, &mut b);
                proptest::prop_assert_eq!(fast, slow);
                proptest::prop_assert_eq!(a, b);
                if fast.is_none() || a >= blob.len() {
                    break;
                }
            }
            for (v, s) in values.iter().zip(&shifts) {
                let mut one = Vec::new();
                put_varint(&mut one, v >> s);
                proptest::prop_assert_eq!(get_varint(&one, &mut 0), Some(v >> s));
            }
        }
    }
}
