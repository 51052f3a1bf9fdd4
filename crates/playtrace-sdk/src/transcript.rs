//! [`TranscriptRecorder`]: a bounded transcript of tutorial or session steps, serialized to JSON,
//! CSV and Markdown with SPEC §6 escaping, and sent to the collector as
//! `telemetry.transcript.entry` events so `playtrace export` can rebuild the same transcript.
//!
//! Where the old serializers went wrong, these do not: a null metadata value stays `null` (the
//! old code wrote `{}`), CSV quotes exactly the fields that need it (RFC 4180, LF line endings),
//! and a newline inside a Markdown cell becomes `<br>` instead of breaking the table.

use crate::event::Event;
use serde_json::{json, Map, Value};
use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// One step of a transcript.
#[derive(Debug, Clone, PartialEq)]
pub struct TranscriptEntry {
    /// Position in the session (0-based, never reused, also after old entries were dropped).
    pub sequence: u64,
    /// What happened (`tutorial_step_completed`).
    pub event: String,
    /// The prompt's id.
    pub prompt_id: Option<String>,
    /// The prompt's title.
    pub title: Option<String>,
    /// The action (`step_completed`).
    pub action: String,
    /// When, epoch ms.
    pub timestamp: f64,
    /// Narrative shown next.
    pub narrative: Option<String>,
    /// Anything else (an object; null values are kept as null).
    pub metadata: Value,
}

type Listener = Box<dyn FnMut(&TranscriptRecorder)>;

/// A bounded transcript with a throttled change notification.
pub struct TranscriptRecorder {
    session_id: String,
    entries: VecDeque<TranscriptEntry>,
    capacity: usize,
    dropped: u64,
    next_sequence: u64,
    listener: Option<(Listener, Duration)>,
    last_notified: Option<Instant>,
    pending: bool,
}

fn iso(ms: f64) -> String {
    // RFC 3339 with milliseconds, UTC.
    let secs = (ms / 1000.0).floor() as i64;
    let millis = ((ms - secs as f64 * 1000.0).floor() as i64).clamp(0, 999);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 → (year, month, day) (Howard Hinnant's algorithm).
fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// RFC 4180: quote a field containing `"`, `,`, CR or LF, doubling inner quotes.
pub fn csv_field(text: &str) -> String {
    if text.contains(['"', ',', '\r', '\n']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

/// A Markdown table cell: `|` escaped, line breaks as `<br>`.
pub fn markdown_cell(text: &str) -> String {
    text.replace('|', "\\|")
        .replace("\r\n", "<br>")
        .replace(['\n', '\r'], "<br>")
}

fn number(ms: f64) -> String {
    if ms.fract() == 0.0 && ms.abs() < 9e15 {
        format!("{}", ms as i64)
    } else {
        format!("{ms}")
    }
}

impl TranscriptRecorder {
    /// A transcript for `session_id` keeping the newest 50 entries.
    pub fn new(session_id: impl Into<String>) -> Self {
        Self::with_capacity(session_id, 50)
    }

    /// A transcript keeping the newest `capacity` entries (older ones are dropped and counted).
    pub fn with_capacity(session_id: impl Into<String>, capacity: usize) -> Self {
        TranscriptRecorder {
            session_id: session_id.into(),
            entries: VecDeque::with_capacity(capacity.min(1024)),
            capacity: capacity.max(1),
            dropped: 0,
            next_sequence: 0,
            listener: None,
            last_notified: None,
            pending: false,
        }
    }

    /// A transcript rebuilt from entries that carry their own sequence numbers (e.g. from
    /// `telemetry.transcript.entry` events), sorted by sequence, nothing dropped.
    pub fn from_entries(session_id: impl Into<String>, mut entries: Vec<TranscriptEntry>) -> Self {
        entries.sort_by_key(|e| e.sequence);
        let next = entries.last().map_or(0, |e| e.sequence + 1);
        let mut t = Self::with_capacity(session_id, entries.len().max(1));
        t.entries = entries.into();
        t.next_sequence = next;
        t
    }

    /// Calls `listener` after changes, at most once per `min_interval` (a change inside the
    /// interval is delivered by a later [`TranscriptRecorder::poll`] or change).
    pub fn on_change(
        &mut self,
        min_interval: Duration,
        listener: impl FnMut(&TranscriptRecorder) + 'static,
    ) {
        self.listener = Some((Box::new(listener), min_interval));
    }

    /// Records a step; returns its sequence number.
    #[allow(clippy::too_many_arguments)]
    pub fn record(
        &mut self,
        event: &str,
        prompt_id: Option<&str>,
        title: Option<&str>,
        action: &str,
        timestamp: f64,
        narrative: Option<&str>,
        metadata: Value,
    ) -> u64 {
        let sequence = self.next_sequence;
        self.next_sequence += 1;
        if self.entries.len() == self.capacity {
            self.entries.pop_front();
            self.dropped += 1;
        }
        self.entries.push_back(TranscriptEntry {
            sequence,
            event: event.into(),
            prompt_id: prompt_id.map(Into::into),
            title: title.map(Into::into),
            action: action.into(),
            timestamp,
            narrative: narrative.map(Into::into),
            metadata,
        });
        self.pending = true;
        self.poll();
        sequence
    }

    /// Delivers a pending change notification if the throttle allows.
    pub fn poll(&mut self) {
        if !self.pending {
            return;
        }
        let Some((mut listener, interval)) = self.listener.take() else {
            return;
        };
        if self.last_notified.is_none_or(|t| t.elapsed() >= interval) {
            self.pending = false;
            self.last_notified = Some(Instant::now());
            listener(self);
        }
        self.listener = Some((listener, interval));
    }

    /// The entries kept, oldest first.
    pub fn entries(&self) -> impl Iterator<Item = &TranscriptEntry> {
        self.entries.iter()
    }

    /// Entries dropped because the transcript was full.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// The session.
    pub fn session_id(&self) -> &str {
        &self.session_id
    }

    /// JSON: `[{sequence, event, promptId, title, action, timestamp, timestampIso,
    /// followUpNarrative, metadata}]`.
    pub fn to_json(&self) -> Value {
        Value::Array(
            self.entries
                .iter()
                .map(|e| {
                    json!({
                        "sequence": e.sequence,
                        "event": e.event,
                        "promptId": e.prompt_id,
                        "title": e.title,
                        "action": e.action,
                        "timestamp": playtrace_num(e.timestamp),
                        "timestampIso": iso(e.timestamp),
                        "followUpNarrative": e.narrative,
                        "metadata": e.metadata,
                    })
                })
                .collect(),
        )
    }

    /// CSV with the old header; nulls are empty fields, metadata is compact JSON.
    pub fn to_csv(&self) -> String {
        let mut out = String::from(
            "sequence,event,prompt_id,title,action,timestamp,timestamp_iso,follow_up_narrative,metadata\n",
        );
        for e in &self.entries {
            let metadata = if e.metadata.is_null() {
                String::new()
            } else {
                e.metadata.to_string()
            };
            let fields = [
                e.sequence.to_string(),
                e.event.clone(),
                e.prompt_id.clone().unwrap_or_default(),
                e.title.clone().unwrap_or_default(),
                e.action.clone(),
                number(e.timestamp),
                iso(e.timestamp),
                e.narrative.clone().unwrap_or_default(),
                metadata,
            ];
            let row: Vec<String> = fields.iter().map(|f| csv_field(f)).collect();
            out.push_str(&row.join(","));
            out.push('\n');
        }
        out
    }

    /// A Markdown table: `| # | Event | Prompt | Action | Timestamp | Narrative |`.
    pub fn to_markdown(&self) -> String {
        let mut out = String::from(
            "| # | Event | Prompt | Action | Timestamp | Narrative |\n| --- | --- | --- | --- | --- | --- |\n",
        );
        for e in &self.entries {
            out.push_str(&format!(
                "| {} | {} | {} | {} | {} | {} |\n",
                e.sequence,
                markdown_cell(&e.event),
                markdown_cell(e.title.as_deref().unwrap_or("")),
                markdown_cell(&e.action),
                iso(e.timestamp),
                markdown_cell(e.narrative.as_deref().unwrap_or("")),
            ));
        }
        out
    }

    /// The entries as `telemetry.transcript.entry` events for the collector.
    pub fn to_events(&self) -> Vec<Event> {
        self.entries
            .iter()
            .map(|e| {
                Event::new("telemetry.transcript.entry")
                    .session(self.session_id.clone())
                    .attr("sessionId", self.session_id.clone())
                    .attr("sequence", e.sequence)
                    .attr("event", e.event.clone())
                    .attr("promptId", e.prompt_id.clone())
                    .attr("title", e.title.clone())
                    .attr("action", e.action.clone())
                    .attr("timestamp", playtrace_num(e.timestamp))
                    .attr("narrative", e.narrative.clone())
                    .attr("metadata", e.metadata.clone())
            })
            .collect()
    }
}

/// Integral milliseconds as a JSON integer.
fn playtrace_num(ms: f64) -> Value {
    if ms.fract() == 0.0 && ms.abs() < 9e15 {
        json!(ms as i64)
    } else {
        json!(ms)
    }
}

/// Builds metadata objects in a line: `meta([("stepIndex", json!(0))])`.
pub fn meta<const N: usize>(pairs: [(&str, Value); N]) -> Value {
    let mut m = Map::new();
    for (k, v) in pairs {
        m.insert(k.into(), v);
    }
    Value::Object(m)
}

#[cfg(test)]
mod tests;
