//! Reading a block of lines into a batch, optionally telling a visitor what each line was, with
//! the members the scanner read (so a caller that checks every attr, `plan check`, reads each
//! line once).

use super::batch::{BatchOptions, ObservationBatch};
use super::event_ref::LineScan;
use super::line::{json_error, scan_line_members};
use super::members::Members;
use crate::reject::LineError;

/// What [`ObservationBatch::push_lines_with`] tells its visitor about a line it read.
#[derive(Debug)]
pub enum LineSeen<'s, 'a> {
    /// One event: its (normalised) name, and the line's members when the fast reader read it
    /// (`None`: serde_json read it; the visitor reads the line its own way).
    Event {
        /// The event name, hub topics mapped.
        name: &'s str,
        /// What the fast reader read.
        members: Option<&'s Members<'a>>,
    },
    /// Not one event: a document, or a rejected line.
    Other,
}

/// The visitor of [`ObservationBatch::lines`]; the no-op one keeps monitor's path as it was.
trait OnLine<'b> {
    /// Whether members are collected for the visitor.
    const MEMBERS: bool;
    fn line(&mut self, offset: u32, text: &'b str, seen: LineSeen<'_, 'b>);
}

struct NoVisit;

impl OnLine<'_> for NoVisit {
    const MEMBERS: bool = false;
    #[inline(always)]
    fn line(&mut self, _offset: u32, _text: &str, _seen: LineSeen<'_, '_>) {}
}

struct Each<F>(F);

impl<'b, F: FnMut(u32, &'b str, LineSeen<'_, 'b>)> OnLine<'b> for Each<F> {
    const MEMBERS: bool = true;
    fn line(&mut self, offset: u32, text: &'b str, seen: LineSeen<'_, 'b>) {
        (self.0)(offset, text, seen)
    }
}

impl ObservationBatch {
    /// Reads a block of complete lines (each ending in `\n`, the last one may not). Blank lines
    /// are counted but produce nothing.
    pub fn push_lines(&mut self, block: &[u8], opts: BatchOptions) {
        self.lines(block, opts, &mut NoVisit);
    }

    /// [`ObservationBatch::push_lines`], calling `visit(offset, text, seen)` after each line
    /// that is not blank and is UTF-8 (`offset`: 0-based within the block).
    pub fn push_lines_with<'b>(
        &mut self,
        block: &'b [u8],
        opts: BatchOptions,
        visit: impl FnMut(u32, &'b str, LineSeen<'_, 'b>),
    ) {
        self.lines(block, opts, &mut Each(visit));
    }

    fn lines<'b, V: OnLine<'b>>(&mut self, block: &'b [u8], opts: BatchOptions, visit: &mut V) {
        let mut members = Members::default();
        // Valid UTF-8 is the rule: check the block once, and every line of it is valid too.
        if let Ok(text) = std::str::from_utf8(block) {
            let mut rest = text;
            while !rest.is_empty() {
                let (line, next) = match memchr::memchr(b'\n', rest.as_bytes()) {
                    Some(i) => (&rest[..i], &rest[i + 1..]),
                    None => (rest, ""),
                };
                rest = next;
                let offset = self.lines;
                self.lines += 1;
                let line = line.strip_suffix('\r').unwrap_or(line);
                if !line.bytes().all(|b| b.is_ascii_whitespace()) {
                    self.line_with(offset, line, opts, &mut members, visit);
                }
            }
            return;
        }
        let mut rest = block;
        while !rest.is_empty() {
            let (line, next) = match memchr::memchr(b'\n', rest) {
                Some(i) => (&rest[..i], &rest[i + 1..]),
                None => (rest, &rest[rest.len()..]),
            };
            rest = next;
            let offset = self.lines;
            self.lines += 1;
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            let text = match std::str::from_utf8(line) {
                Ok(text) => text,
                Err(e) => {
                    let message = format!(
                        "not UTF-8: invalid byte at column {}; PlayTrace reads UTF-8 text (re-encode the file, or find what wrote binary data into the log)",
                        e.valid_up_to() + 1
                    );
                    self.reject(offset, LineError::encoding(message), line);
                    continue;
                }
            };
            if !text.bytes().all(|b| b.is_ascii_whitespace()) {
                self.line_with(offset, text, opts, &mut members, visit);
            }
        }
    }

    /// Reads one line of text.
    pub fn push_line(&mut self, offset: u32, text: &str, opts: BatchOptions) {
        self.line_with(offset, text, opts, &mut Members::default(), &mut NoVisit);
    }

    fn line_with<'b, V: OnLine<'b>>(
        &mut self,
        offset: u32,
        text: &'b str,
        opts: BatchOptions,
        members: &mut Members<'b>,
        visit: &mut V,
    ) {
        let before = self.observations.len();
        let scanned = scan_line_members(text, V::MEMBERS.then_some(members), |event, m| {
            self.events += 1;
            self.observe(offset, &event.name, event.time_ms, event.fields, opts);
            visit.line(
                offset,
                text,
                LineSeen::Event {
                    name: &event.name,
                    members: m,
                },
            );
        });
        match scanned {
            Ok(LineScan::Event(())) => {
                self.attach_dims(before, text);
                return;
            }
            Ok(LineScan::Document) => match serde_json::from_str(text) {
                Ok(value) => self.push_document(offset, value, text.as_bytes(), opts),
                Err(e) => self.reject(offset, json_error(e), text.as_bytes()),
            },
            Err(e) => self.reject(offset, e, text.as_bytes()),
        }
        visit.line(offset, text, LineSeen::Other);
    }
}
