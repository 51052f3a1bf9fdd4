//! Typed rejects: every input line PlayTrace cannot use is kept with its position and reason.
//!
//! Nothing a game sent is silently dropped (SPEC §2). A line that cannot be read becomes a
//! reject of one of four kinds, carrying its 1-based line number and raw text, and one bad line
//! never stops the lines around it.

use serde::Serialize;
use std::fmt;

/// Why a line was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RejectKind {
    /// Not valid JSON.
    Parse,
    /// Valid JSON that is not a telemetry event (no event name, a field of the wrong type).
    Schema,
    /// Longer than the line (or document) size limit.
    Size,
    /// Not UTF-8, or a compressed stream that cannot be decoded.
    Encoding,
}

impl RejectKind {
    /// Every kind, in report order.
    pub const ALL: [RejectKind; 4] = [
        RejectKind::Parse,
        RejectKind::Schema,
        RejectKind::Size,
        RejectKind::Encoding,
    ];

    /// The kind's name as it appears in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            RejectKind::Parse => "parse",
            RejectKind::Schema => "schema",
            RejectKind::Size => "size",
            RejectKind::Encoding => "encoding",
        }
    }
}

impl fmt::Display for RejectKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A line-level problem before it is placed in a file: the kind and a message for people.
#[derive(Debug, Clone, PartialEq)]
pub struct LineError {
    /// The reject kind.
    pub kind: RejectKind,
    /// What is wrong and, where it helps, what to do.
    pub message: String,
}

impl LineError {
    /// A `parse` reject.
    pub fn parse(message: impl Into<String>) -> Self {
        LineError {
            kind: RejectKind::Parse,
            message: message.into(),
        }
    }
    /// A `schema` reject.
    pub fn schema(message: impl Into<String>) -> Self {
        LineError {
            kind: RejectKind::Schema,
            message: message.into(),
        }
    }
    /// A `size` reject.
    pub fn size(message: impl Into<String>) -> Self {
        LineError {
            kind: RejectKind::Size,
            message: message.into(),
        }
    }
    /// An `encoding` reject.
    pub fn encoding(message: impl Into<String>) -> Self {
        LineError {
            kind: RejectKind::Encoding,
            message: message.into(),
        }
    }
}

/// One rejected line as written to a rejects file: `{file, line, kind, message, raw}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Reject {
    /// The input's name as the user gave it (`-` for standard input).
    pub file: String,
    /// 1-based line number within that input.
    pub line: u64,
    /// The reject kind.
    pub kind: RejectKind,
    /// What is wrong.
    pub message: String,
    /// The line as read (invalid UTF-8 replaced by U+FFFD), at most [`RAW_LIMIT`] bytes.
    pub raw: String,
}

/// Longest raw text kept per reject: enough to see what went wrong, bounded so a 100 MB garbage
/// line cannot blow up memory or the rejects file.
pub const RAW_LIMIT: usize = 64 * 1024;

/// The raw text kept for a rejected line: lossy UTF-8, cut at [`RAW_LIMIT`] on a character
/// boundary.
pub fn raw_text(bytes: &[u8]) -> String {
    let mut end = bytes.len().min(RAW_LIMIT);
    // Back off (at most 3 bytes) so the cut does not split a multi-byte character.
    let floor = end.saturating_sub(3);
    while end > floor && end < bytes.len() && bytes[end] & 0xC0 == 0x80 {
        end -= 1;
    }
    String::from_utf8_lossy(&bytes[..end]).into_owned()
}

/// Counts of rejects by kind, as the summary reports them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RejectCounts {
    counts: [u64; 4],
}

impl RejectCounts {
    /// Counts one reject.
    pub fn add(&mut self, kind: RejectKind) {
        self.counts[kind as usize] += 1;
    }
    /// Rejects of one kind.
    pub fn get(&self, kind: RejectKind) -> u64 {
        self.counts[kind as usize]
    }
    /// All rejects.
    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }
    /// Adds another set of counts.
    pub fn merge(&mut self, other: &RejectCounts) {
        for (a, b) in self.counts.iter_mut().zip(other.counts) {
            *a += b;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_text_is_bounded_and_lossy() {
        assert_eq!(raw_text(b"abc"), "abc");
        assert_eq!(raw_text(b"a\xffb"), "a\u{FFFD}b");
        let long = format!("x{}", "é".repeat(RAW_LIMIT));
        let raw = raw_text(long.as_bytes());
        assert!(raw.len() <= RAW_LIMIT);
        assert!(raw.chars().skip(1).all(|c| c == 'é'));
    }

    #[test]
    fn counts_by_kind() {
        let mut c = RejectCounts::default();
        c.add(RejectKind::Parse);
        c.add(RejectKind::Parse);
        c.add(RejectKind::Encoding);
        assert_eq!(c.total(), 3);
        assert_eq!(c.get(RejectKind::Parse), 2);
        assert_eq!(c.get(RejectKind::Schema), 0);
    }

    #[test]
    fn serializes_kind_in_lowercase() {
        let r = Reject {
            file: "a.ndjson".into(),
            line: 3,
            kind: RejectKind::Schema,
            message: "m".into(),
            raw: "{}".into(),
        };
        assert_eq!(
            serde_json::to_string(&r).unwrap(),
            r#"{"file":"a.ndjson","line":3,"kind":"schema","message":"m","raw":"{}"}"#
        );
    }
}
