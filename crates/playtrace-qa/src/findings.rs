//! Findings: contradictions in a batch's state that no check of the old harness caught (a
//! batch awaiting moderation while publishing says published, search jobs for a held batch, a
//! version published without its pointer, a drift never retried). Any finding fails the run
//! (exit 1).

use serde::Serialize;

/// One contradiction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Finding {
    /// A stable code (`published_while_held`, `search_jobs_for_held_batch`,
    /// `version_without_pointer`, `drift_never_retried`, `count_mismatch`, `gate_disagrees`,
    /// `cadence_mismatch`).
    pub code: String,
    /// The session.
    pub session_id: String,
    /// The field(s) that contradict each other.
    pub path: String,
    /// What is wrong, in a sentence.
    pub message: String,
}

impl Finding {
    /// A finding.
    pub fn new(code: &str, session_id: &str, path: &str, message: String) -> Finding {
        Finding {
            code: code.into(),
            session_id: session_id.into(),
            path: path.into(),
            message,
        }
    }
}
