//! Reading telemetry logs as `(line, event name, attrs)` for the plan commands, on every core
//! through `playtrace-read` (inputs, gzip, `-`, limits and rejects exactly as `monitor` reads
//! them), with each block's results handed back in input order.
//!
//! Events are normalised by core (`Event::from_object`, `read_document`), so a structured log
//! line's attrs are its fields after `level`, `timestamp` and `message`, and a timeline's
//! `telemetry.hub.contestArmed` is checked as `telemetry.contest.armed` — as at ingest.

use crate::args::ReadArgs;
use crate::progress::Progress;
use anyhow::Result;
use playtrace_core::contest::{Correlator, CorrelatorOptions};
use playtrace_core::dialect::read_document;
use playtrace_core::event::Event;
use playtrace_core::scan::{LineSeen, Members};
use playtrace_read::{Extract, SinkError};
use serde_json::Value;
use std::sync::Arc;

/// What a plan command does with each event of a block (on several threads at once).
pub(crate) trait Visit: Sync {
    /// One block's results, merged in input order by the caller.
    type Out: Default + Send;
    /// One event at 1-based `line` of the block.
    fn event(&self, out: &mut Self::Out, line: u32, name: &str, attrs: &Value);

    /// A line's text before it is parsed: `true` when the visitor took it whole (a clean
    /// event it checked without building a `Value`), `false` to have it read as events.
    fn line(&self, _out: &mut Self::Out, _line: u32, _text: &str) -> bool {
        false
    }

    /// An event the scanner read (`name`) with the line's `members`: `true` when the visitor
    /// took it whole, `false` to have the line read as events.
    fn scanned(
        &self,
        _out: &mut Self::Out,
        _line: u32,
        _name: &str,
        _members: &Members<'_>,
    ) -> bool {
        false
    }
}

/// A block's results and how many lines it held.
#[derive(Default)]
pub(crate) struct Block<O> {
    pub(crate) out: O,
    pub(crate) lines: u32,
}

struct Events<'v, V>(&'v V);

impl<V: Visit> Extract for Events<'_, V> {
    type Found = Block<V::Out>;

    /// Each line as the scanner reads it: an event it read with its fast reader is handed to
    /// the visitor with its members (no second parse); anything else is parsed here.
    const BY_LINE: bool = true;

    fn line(&self, offset: u32, text: &str, seen: LineSeen<'_, '_>, found: &mut Self::Found) {
        let line = offset + 1;
        let taken = match seen {
            LineSeen::Event {
                name,
                members: Some(members),
            } => self.0.scanned(&mut found.out, line, name, members),
            LineSeen::Event { members: None, .. } => self.0.line(&mut found.out, line, text),
            LineSeen::Other => false,
        };
        // Unreadable lines are the reader's rejects, counted there.
        if !taken {
            if let Ok(value) = serde_json::from_str::<Value>(text) {
                self.value(value, line, &mut found.out);
            }
        }
    }

    fn extract_document(&self, document: &Value, found: &mut Self::Found) {
        self.value(document.clone(), 1, &mut found.out);
    }

    fn block_lines(&self, lines: u32, found: &mut Self::Found) {
        found.lines = lines;
    }

    /// The plan commands read events and rejects; contests are never reported, so the
    /// monitor's contest fold is skipped.
    fn correlates(&self) -> bool {
        false
    }
}

impl<V: Visit> Events<'_, V> {
    fn value(&self, value: Value, line: u32, out: &mut V::Out) {
        match value {
            Value::Object(o) if o.contains_key("event") || o.contains_key("message") => {
                if let Ok(event) = Event::from_object(o) {
                    self.visit(event, line, out);
                }
            }
            other => {
                for event in read_document(other).into_iter().flatten() {
                    self.visit(event, line, out);
                }
            }
        }
    }

    fn visit(&self, event: Event, line: u32, out: &mut V::Out) {
        let attrs = Value::Object(event.attrs);
        self.0.event(out, line, &event.name, &attrs);
    }
}

/// What reading found beside the events.
pub(crate) struct ReadTotals {
    /// Lines the reader could not read (parse, schema, size, encoding rejects).
    pub(crate) unreadable: u64,
}

/// Reads `names` one input after another (each on every core), calling `on_block(input,
/// line_base, out)` for each block in input order.
pub(crate) fn read_events<V: Visit>(
    names: &[String],
    read: &ReadArgs,
    quiet: bool,
    visit: &V,
    on_block: &mut (dyn FnMut(&str, u64, V::Out) + Send),
) -> Result<ReadTotals> {
    let counter = Arc::default();
    let opened = playtrace_read::open_all(names, &counter)?;
    let progress = Progress::start(!quiet, opened.total_bytes, Arc::clone(&counter));
    let mut unreadable = 0;
    let extract = Events(visit);
    let mut result = Ok(());
    for input in opened.inputs {
        let name = input.name.clone();
        let mut line_base = 0u64;
        let mut correlator = Correlator::new(CorrelatorOptions::default());
        let mut on_found = |block: Block<V::Out>| -> Result<(), SinkError> {
            on_block(&name, line_base, block.out);
            line_base += u64::from(block.lines);
            Ok(())
        };
        let read = playtrace_read::read_extracting(
            vec![input],
            read.options(),
            &mut correlator,
            &extract,
            &mut on_found,
            &mut |_| Ok(()),
        );
        match read {
            Ok(stats) => unreadable += stats.rejects.total(),
            Err(e) => {
                result = Err(e);
                break;
            }
        }
    }
    progress.finish();
    result?;
    Ok(ReadTotals { unreadable })
}
