//! Reading export's inputs once, with the same engine and limits as `monitor`: the summary for
//! the report, every reject (counted and kept for the rejects artifact), and the transcript
//! entries, all from one pass. Pipes and FIFOs work; gzip is detected by content.

use crate::args::ReadArgs;
use crate::progress::Progress;
use anyhow::Result;
use playtrace_core::budget::BudgetSet;
use playtrace_core::contest::{Correlator, CorrelatorOptions};
use playtrace_core::reject::Reject;
use playtrace_core::summary::{GroupDim, Summary};
use playtrace_export::artifacts::transcripts::TRANSCRIPT_EVENT;
use playtrace_export::artifacts::{
    transcript_line, Kinds, ReadSummary, TranscriptLine, Transcripts,
};
use playtrace_read::{Extract, SinkError};
use std::sync::Arc;

/// What one read of the inputs produced.
pub struct Read {
    pub summary: Summary,
    pub stats: ReadSummary,
    /// Every reject as NDJSON, in input order (empty unless asked for: they are counted
    /// either way).
    pub rejects_ndjson: Vec<u8>,
    /// The first few rejects, for the warning on stderr.
    pub first_rejects: Vec<Reject>,
    pub transcripts: Transcripts,
}

/// Finds transcript lines in a block by searching it for the event name (most blocks have
/// none, so this costs one fast substring search per block, not work per line).
struct TranscriptLines {
    finder: memchr::memmem::Finder<'static>,
}

impl Extract for TranscriptLines {
    type Found = Vec<TranscriptLine>;

    fn extract(&self, block: &[u8], found: &mut Vec<TranscriptLine>) {
        let mut next_line = 0;
        for hit in self.finder.find_iter(block) {
            if hit < next_line {
                continue; // a second mention on a line already read
            }
            let start = memchr::memrchr(b'\n', &block[..hit]).map_or(0, |i| i + 1);
            let end = memchr::memchr(b'\n', &block[hit..]).map_or(block.len(), |i| hit + i);
            next_line = end + 1;
            let line = &block[start..end];
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            // A line that is not UTF-8 is an `encoding` reject of the scan already.
            if let Some(t) = std::str::from_utf8(line).ok().and_then(transcript_line) {
                found.push(t);
            }
        }
    }
}

/// Reads `names` once: summary (with per-contest records), rejects, transcripts (what `kinds`
/// asks for).
pub fn read(
    names: &[String],
    budgets: &BudgetSet,
    group_by: Vec<GroupDim>,
    args: &ReadArgs,
    kinds: Kinds,
) -> Result<Read> {
    let counter = Arc::default();
    let opened = playtrace_read::open_all(names, &counter)?;
    let mut correlator = Correlator::new(CorrelatorOptions {
        include_raw: true,
        group_by,
    });
    let mut rejects_ndjson = Vec::new();
    let mut first_rejects = Vec::new();
    let mut on_reject = |reject: Reject| -> Result<(), SinkError> {
        if kinds.rejects {
            serde_json::to_writer(&mut rejects_ndjson, &reject)?;
            rejects_ndjson.push(b'\n');
        }
        if first_rejects.len() < 3 {
            first_rejects.push(reject);
        }
        Ok(())
    };
    let mut transcripts = Transcripts::default();
    let mut on_found = |lines: Vec<TranscriptLine>| -> Result<(), SinkError> {
        for line in lines {
            transcripts.add(line);
        }
        Ok(())
    };
    let progress = Progress::start(true, opened.total_bytes, Arc::clone(&counter));
    let result = if kinds.transcripts {
        let extract = TranscriptLines {
            finder: memchr::memmem::Finder::new(TRANSCRIPT_EVENT.as_bytes()),
        };
        playtrace_read::read_extracting(
            opened.inputs,
            args.options(),
            &mut correlator,
            &extract,
            &mut on_found,
            &mut on_reject,
        )
    } else {
        playtrace_read::read(
            opened.inputs,
            args.options(),
            &mut correlator,
            &mut on_reject,
        )
    };
    progress.finish();
    let stats = result?;
    let read = ReadSummary {
        inputs: names.len(),
        lines: stats.lines,
        events: correlator.events(),
        rejects: stats.rejects,
    };
    Ok(Read {
        summary: correlator.finish(budgets, stats.rejects),
        stats: read,
        rejects_ndjson,
        first_rejects,
        transcripts,
    })
}
