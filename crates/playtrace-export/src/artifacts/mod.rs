//! The QA artifacts built from one read of telemetry logs: the budget report (the monitor's
//! JSON, per-contest durations as CSV, Markdown with an SVG latency chart), one transcript per
//! session (JSON, CSV, Markdown, with the SDK's serializers) and the rejected lines; and the
//! manifest that says what was written where.
//!
//! Names are deterministic (a re-run rewrites the same names) and unique within a run: two
//! artifacts with one name are an error, never an overwrite.

pub mod ci;
mod manifest;
mod report;
pub mod transcripts;

pub use manifest::{manifest, ReadSummary};
pub use report::durations_csv;
pub use transcripts::{transcript_line, TranscriptLine, Transcripts};

use crate::Artifact;
use playtrace_core::budget::BudgetSet;
use playtrace_core::summary::Summary;
use std::collections::HashSet;
use std::sync::Arc;
use thiserror::Error;

/// Which artifacts to build.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Kinds {
    /// The budget report (JSON, durations CSV, SVG chart, Markdown).
    pub report: bool,
    /// One transcript per session.
    pub transcripts: bool,
    /// The rejected lines as NDJSON (only written when some lines were rejected).
    pub rejects: bool,
}

/// Everything the artifacts are built from: what one read of the inputs produced.
pub struct Source<'a> {
    /// The correlated summary, with its `raw` block (per-contest records).
    pub summary: &'a Summary,
    /// What was read (for the Markdown header and the manifest).
    pub read: &'a ReadSummary,
    /// The budgets the summary was checked against (the chart draws the resolution budget).
    pub budgets: &'a BudgetSet,
    /// What the report's verdict demands beyond the budgets (the monitor's gate options).
    pub gate: playtrace_core::report::Gate,
    /// Every reject as NDJSON, in input order.
    pub rejects_ndjson: &'a [u8],
    /// The transcript entries by session.
    pub transcripts: &'a Transcripts,
}

/// Why artifacts could not be built.
#[derive(Debug, Error)]
pub enum ArtifactError {
    /// Two artifacts of one run would share a name (one would overwrite the other).
    #[error("two artifacts of this run are named `{name}`; nothing was written (choose another --prefix)")]
    DuplicateName {
        /// The shared name.
        name: String,
    },
    /// A serializer failed (a bug).
    #[error("cannot serialize the {what}: {error}")]
    Json {
        /// Which artifact.
        what: String,
        /// The serializer's error.
        error: serde_json::Error,
    },
}

/// Builds the artifacts of `kinds`, every name prefixed with `prefix`.
pub fn build(
    prefix: &str,
    kinds: Kinds,
    source: &Source<'_>,
) -> Result<Vec<Artifact>, ArtifactError> {
    let mut out = Vec::new();
    if kinds.report {
        out.extend(report::artifacts(prefix, source)?);
    }
    // No rejects, no rejects file: an empty file would suggest something was rejected.
    if kinds.rejects && source.read.rejects.total() > 0 {
        out.push(artifact(
            format!("{prefix}-rejects.ndjson"),
            "application/x-ndjson",
            "rejects",
            source.rejects_ndjson.to_vec(),
        ));
    }
    if kinds.transcripts {
        out.extend(source.transcripts.artifacts(prefix)?);
    }
    let mut seen = HashSet::with_capacity(out.len());
    if let Some(dup) = out.iter().find(|a| !seen.insert(a.name.as_str())) {
        return Err(ArtifactError::DuplicateName {
            name: dup.name.clone(),
        });
    }
    Ok(out)
}

fn artifact(name: String, media_type: &str, kind: &str, bytes: Vec<u8>) -> Artifact {
    Artifact {
        name,
        media_type: media_type.into(),
        bytes: Arc::new(bytes),
        kind: kind.into(),
        context: serde_json::Value::Null,
    }
}

fn json_error(what: &str) -> impl FnOnce(serde_json::Error) -> ArtifactError + '_ {
    move |error| ArtifactError::Json {
        what: what.to_string(),
        error,
    }
}
