//! Transcripts rebuilt from `telemetry.transcript.entry` events, one per session, serialized
//! with the SDK's [`TranscriptRecorder`] (JSON, CSV, Markdown).
//!
//! File names come from the session id, kept to `[A-Za-z0-9_-]`; when that changed the id (or
//! it is empty), a short hash of the raw id is appended, so `s 1`, `s_1`, `s/1` and `s.1` get
//! four names, not one. The raw id is inside every artifact's context and in the JSON and
//! Markdown themselves.

use super::{artifact, json_error, ArtifactError};
use crate::queue::sha256_hex;
use crate::Artifact;
use playtrace_core::event::Event;
use playtrace_core::scan::{scan_line_with, LineScan};
use playtrace_sdk::transcript::markdown_cell;
use playtrace_sdk::{TranscriptEntry, TranscriptRecorder};
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// The event name transcripts are rebuilt from.
pub const TRANSCRIPT_EVENT: &str = "telemetry.transcript.entry";

/// What one line yielded.
#[derive(Debug, Clone, PartialEq)]
pub enum TranscriptLine {
    /// An entry of a session.
    Entry {
        /// The session (`attrs.sessionId`, else the envelope's session).
        session: String,
        /// The entry.
        entry: TranscriptEntry,
    },
    /// A transcript entry that names no session: it cannot be placed in any transcript.
    NoSession,
}

/// Reads one line as a transcript entry; `None` when it is not one (or cannot be read: the
/// scan that feeds the report counts such lines as rejects).
pub fn transcript_line(line: &str) -> Option<TranscriptLine> {
    let Ok(LineScan::Event(true)) = scan_line_with(line, |e| e.name == TRANSCRIPT_EVENT) else {
        return None;
    };
    let event = serde_json::from_str(line)
        .ok()
        .and_then(|o| Event::from_object(o).ok())?;
    let a = &event.attrs;
    let text = |k: &str| a.get(k).and_then(Value::as_str).map(str::to_string);
    let Some(session) = text("sessionId").or(event.session.clone()) else {
        return Some(TranscriptLine::NoSession);
    };
    let entry = TranscriptEntry {
        sequence: a.get("sequence").and_then(Value::as_u64).unwrap_or(0),
        event: text("event").unwrap_or_default(),
        prompt_id: text("promptId"),
        title: text("title"),
        action: text("action").unwrap_or_default(),
        timestamp: a
            .get("timestamp")
            .and_then(Value::as_f64)
            .or(event.time_ms)
            .unwrap_or(0.0),
        narrative: text("narrative"),
        metadata: a.get("metadata").cloned().unwrap_or(Value::Null),
    };
    Some(TranscriptLine::Entry { session, entry })
}

/// Transcript entries by session, in input order.
#[derive(Debug, Default)]
pub struct Transcripts {
    sessions: BTreeMap<String, Vec<TranscriptEntry>>,
    without_session: u64,
}

impl Transcripts {
    /// Adds what a line yielded.
    pub fn add(&mut self, line: TranscriptLine) {
        match line {
            TranscriptLine::Entry { session, entry } => {
                self.sessions.entry(session).or_default().push(entry);
            }
            TranscriptLine::NoSession => self.without_session += 1,
        }
    }

    /// Entries that named no session (left out of every transcript).
    pub fn without_session(&self) -> u64 {
        self.without_session
    }

    /// Sessions seen.
    pub fn sessions(&self) -> usize {
        self.sessions.len()
    }

    /// Three artifacts (JSON, CSV, Markdown) per session.
    pub(super) fn artifacts(&self, prefix: &str) -> Result<Vec<Artifact>, ArtifactError> {
        let mut out = Vec::with_capacity(self.sessions.len() * 3);
        for (session, entries) in &self.sessions {
            let t = TranscriptRecorder::from_entries(session.clone(), entries.clone());
            let base = format!("{prefix}-transcript-{}", file_stem(session));
            let context = json!({ "sessionId": session });
            let json = json!({ "sessionId": session, "entries": t.to_json() });
            let markdown = format!("Session: {}\n\n{}", markdown_cell(session), t.to_markdown());
            for mut a in [
                artifact(
                    format!("{base}.json"),
                    "application/json",
                    "transcript",
                    serde_json::to_vec_pretty(&json).map_err(json_error("transcript"))?,
                ),
                artifact(
                    format!("{base}.csv"),
                    "text/csv",
                    "transcript",
                    t.to_csv().into_bytes(),
                ),
                artifact(
                    format!("{base}.md"),
                    "text/markdown",
                    "transcript",
                    markdown.into_bytes(),
                ),
            ] {
                a.context = context.clone();
                out.push(a);
            }
        }
        Ok(out)
    }
}

/// The session id as a file-name part: `[A-Za-z0-9_-]` kept, anything else `_`, and a short
/// hash of the raw id appended when that changed it.
fn file_stem(session: &str) -> String {
    let safe: String = session
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if safe == session && !session.is_empty() {
        return safe;
    }
    let hash = sha256_hex(session.as_bytes());
    format!("{safe}-{}", &hash[..10])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_that_sanitise_alike_get_distinct_stems() {
        let stems: Vec<String> = ["s 1", "s_1", "s/1", "s.1", ""]
            .iter()
            .map(|s| file_stem(s))
            .collect();
        assert_eq!(stems[1], "s_1", "a safe id is kept as it is");
        let unique: std::collections::HashSet<&String> = stems.iter().collect();
        assert_eq!(unique.len(), stems.len(), "{stems:?}");
        assert!(stems[0].starts_with("s_1-") && stems[0].len() == "s_1-".len() + 10);
    }

    #[test]
    fn a_transcript_line_is_read_and_one_without_a_session_is_counted() {
        let line = r#"{"event":"telemetry.transcript.entry","attrs":{"sessionId":"a","sequence":2,"action":"x"}}"#;
        let Some(TranscriptLine::Entry { session, entry }) = transcript_line(line) else {
            panic!("not read");
        };
        assert_eq!((session.as_str(), entry.sequence), ("a", 2));
        let orphan = r#"{"event":"telemetry.transcript.entry","attrs":{"sequence":2}}"#;
        assert_eq!(transcript_line(orphan), Some(TranscriptLine::NoSession));
        assert_eq!(transcript_line(r#"{"event":"other"}"#), None);
    }
}
