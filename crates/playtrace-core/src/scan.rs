//! Reading NDJSON lines fast, and the compact observations the correlator consumes.
//!
//! [`scan_line_with`] reads one line of either event dialect straight from the text: it
//! validates the whole line as JSON, keeps only the keys PlayTrace reads (by slot, see
//! [`crate::fields`]), and borrows strings from the line unless they contain escapes. Plain
//! event lines go through a strict fast reader (`scan/fast.rs`); any line it does not vouch for
//! is re-read with a serde_json visitor, which decides and words every error. Both apply the
//! same validation as the generic [`crate::event::Event`] path (property tests hold all three equal). Lines
//! that are whole documents (a one-line timeline, an array of events) go to [`crate::dialect`].
//!
//! [`ObservationBatch`] turns a block of lines into owned, compact [`Observation`]s (strings
//! copied into one arena, contest ids hashed), so batches can be built on worker threads and
//! folded in input order by [`crate::contest::Correlator`].

mod batch;
mod event_ref;
mod fast;
mod line;
mod lines;
mod members;
mod slots;

pub(crate) use batch::UNKNOWN_PART;
pub use batch::{
    contest_key, BatchOptions, BatchReject, Key, Observation, ObservationBatch,
    SentimentObservation, Span,
};
pub use event_ref::{Envelope, EventRef, LineScan, ScannedEvent};
pub use line::{json_error, scan_line, scan_line_members, scan_line_sink, scan_line_with};
pub use lines::LineSeen;
pub use members::{Member, Members, Sink};

#[cfg(test)]
mod tests;
