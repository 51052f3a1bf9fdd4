//! Moderators' decisions (`--decisions FILE`): what lifts a moderation hold.
//!
//! `{"decisionId": "...", "decisions": [{"sessionId", "deltaId"?, "decision": "approve"|"reject",
//! "notes"?}]}` (or just the array). A decision without `deltaId` covers every flagged delta of
//! its session, which is the only way to release a replayed session whose delta list was
//! trimmed.

use crate::QaError;
use serde_json::Value;
use std::collections::HashMap;
use std::path::Path;

/// One verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Publish it.
    Approve,
    /// Never publish it.
    Reject,
}

/// Every decision of a file.
#[derive(Debug, Clone, Default)]
pub struct Decisions {
    by_delta: HashMap<(String, String), Verdict>,
    by_session: HashMap<String, Verdict>,
    /// The file's `decisionId`, reported as `moderationDecisionId`.
    pub decision_id: Option<String>,
}

impl Decisions {
    /// Reads a decisions file.
    pub fn load(path: &Path) -> Result<Decisions, QaError> {
        let err = |message: String| QaError::Input {
            path: path.to_path_buf(),
            message,
        };
        let text =
            std::fs::read_to_string(path).map_err(|e| err(format!("cannot read it: {e}")))?;
        let value: Value =
            serde_json::from_str(&text).map_err(|e| err(format!("not JSON: {e}")))?;
        let (id, list) = match &value {
            Value::Array(a) => (None, a.clone()),
            Value::Object(o) => (
                o.get("decisionId")
                    .and_then(Value::as_str)
                    .map(String::from),
                o.get("decisions")
                    .and_then(Value::as_array)
                    .cloned()
                    .ok_or_else(|| err("`decisions` must be an array".into()))?,
            ),
            _ => return Err(err("expected {\"decisions\": [...]} or an array".into())),
        };
        let mut out = Decisions {
            decision_id: id,
            ..Decisions::default()
        };
        for (i, d) in list.iter().enumerate() {
            let field = |k: &str| d.get(k).and_then(Value::as_str);
            let session = field("sessionId")
                .ok_or_else(|| err(format!("decisions[{i}]: `sessionId` is missing")))?;
            let verdict = match field("decision") {
                Some("approve") | Some("approved") => Verdict::Approve,
                Some("reject") | Some("rejected") => Verdict::Reject,
                other => {
                    return Err(err(format!(
                        "decisions[{i}]: `decision` is {other:?}; write \"approve\" or \"reject\""
                    )))
                }
            };
            match field("deltaId") {
                Some(delta) => {
                    out.by_delta
                        .insert((session.to_string(), delta.to_string()), verdict);
                }
                None => {
                    out.by_session.insert(session.to_string(), verdict);
                }
            }
        }
        Ok(out)
    }

    /// The verdict on one delta (its own, else its session's).
    pub fn verdict(&self, session: &str, delta: &str) -> Option<Verdict> {
        self.by_delta
            .get(&(session.to_string(), delta.to_string()))
            .or_else(|| self.by_session.get(session))
            .copied()
    }

    /// The session-wide verdict, if any.
    pub fn session_verdict(&self, session: &str) -> Option<Verdict> {
        self.by_session.get(session).copied()
    }
}
