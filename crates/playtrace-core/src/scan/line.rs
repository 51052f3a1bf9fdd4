//! Reading one line: the fast reader first, serde_json for anything it does not vouch for.

use super::event_ref::{EventRef, LineScan, ScannedEvent};
use super::fast;
use super::members::{Members, NoMembers, Sink};
use super::slots::{Shape, Top, TopVisitor};
use crate::reject::LineError;
use serde::de::Deserializer;

/// Reads one NDJSON line (without its newline) and, if it is an event, calls `on_event` with it.
pub fn scan_line_with<'a, R>(
    line: &'a str,
    on_event: impl FnOnce(EventRef<'_, 'a>) -> R,
) -> Result<LineScan<R>, LineError> {
    let mut top = Top::default();
    if fast::read_line(line, &mut top, &mut NoMembers).is_some() {
        return top.finish(on_event);
    }
    // Not a line the fast reader vouches for (often: not valid JSON): serde_json decides.
    scan_line_serde(line, on_event)
}

/// [`scan_line_with`], also handing `on_event` every member of the line (cleared first) when
/// `members` is given and the fast reader read the line: what a caller checking every attr
/// reads instead of parsing the line again. `None` to `on_event`: no members were asked for,
/// or serde_json read the line (the caller reads it its own way).
pub fn scan_line_members<'a, R>(
    line: &'a str,
    members: Option<&mut Members<'a>>,
    on_event: impl FnOnce(EventRef<'_, 'a>, Option<&Members<'a>>) -> R,
) -> Result<LineScan<R>, LineError> {
    let Some(members) = members else {
        return scan_line_with(line, |e| on_event(e, None));
    };
    members.clear();
    let mut top = Top::default();
    if fast::read_line(line, &mut top, members).is_some() {
        let members = &*members;
        return top.finish(|e| on_event(e, Some(members)));
    }
    scan_line_serde(line, |e| on_event(e, None))
}

/// [`scan_line_with`] through the fast reader only, handing every member to `sink` as it is
/// read (the reader's one pass over the line), then `on_event` the event and the sink. `None`:
/// the fast reader did not vouch for the line, or `sink` stopped the read; the caller reads
/// the line its own way then (nothing was handed to `on_event`).
pub fn scan_line_sink<'a, S: Sink<'a>, R>(
    line: &'a str,
    sink: &mut S,
    on_event: impl FnOnce(EventRef<'_, 'a>, &mut S) -> R,
) -> Option<Result<LineScan<R>, LineError>> {
    let mut top = Top::default();
    fast::read_line(line, &mut top, sink)?;
    Some(top.finish(|e| on_event(e, sink)))
}

/// [`scan_line_with`] through serde_json only: the reference the fast reader is tested against.
pub(super) fn scan_line_serde<'a, R>(
    line: &'a str,
    on_event: impl FnOnce(EventRef<'_, 'a>) -> R,
) -> Result<LineScan<R>, LineError> {
    let mut de = serde_json::Deserializer::from_str(line);
    let mut top = Top::default();
    let shape = (&mut de)
        .deserialize_any(TopVisitor { top: &mut top })
        .map_err(json_error)?;
    de.end().map_err(json_error)?;
    match shape {
        Shape::Object => top.finish(on_event),
        Shape::Array => Ok(LineScan::Document),
        Shape::Scalar(type_name) => Err(LineError::schema(format!(
            "must be a JSON object (an event), got {type_name}"
        ))),
    }
}

/// Reads one NDJSON line into an owned event.
pub fn scan_line(line: &str) -> Result<LineScan<ScannedEvent<'_>>, LineError> {
    scan_line_with(line, |e| ScannedEvent {
        name: e.name,
        time_ms: e.time_ms,
        fields: e.fields.clone(),
    })
}

/// A JSON syntax error as a `parse` reject, with the column (the line is reported separately).
pub fn json_error(e: serde_json::Error) -> LineError {
    let text = e.to_string();
    let suffix = format!(" at line {} column {}", e.line(), e.column());
    let bare = text.strip_suffix(&suffix).unwrap_or(&text);
    if e.line() > 1 {
        LineError::parse(format!(
            "invalid JSON: {bare} (line {} column {} of the document)",
            e.line(),
            e.column()
        ))
    } else {
        LineError::parse(format!("invalid JSON: {bare} at column {}", e.column()))
    }
}
