//! The manifest: every artifact with its size and hash, and per writer what became of it
//! (written, queued, dead-lettered; `planned` in a dry run); what was read to build them.

use crate::queue::sha256_hex;
use crate::{Artifact, FanOut, Outcome};
use playtrace_core::reject::{RejectCounts, RejectKind};
use serde_json::{json, Map, Value};
use std::collections::HashMap;

/// What one read of the inputs saw, for the manifest and the report's header.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ReadSummary {
    /// Inputs given.
    pub inputs: usize,
    /// Lines read (blank and rejected ones included).
    pub lines: u64,
    /// Events read.
    pub events: u64,
    /// Lines rejected, by kind.
    pub rejects: RejectCounts,
}

impl ReadSummary {
    fn to_json(self) -> Value {
        let mut rejects = Map::new();
        rejects.insert("total".into(), json!(self.rejects.total()));
        for kind in RejectKind::ALL {
            rejects.insert(kind.as_str().into(), json!(self.rejects.get(kind)));
        }
        json!({"inputs": self.inputs, "lines": self.lines, "events": self.events,
               "rejects": rejects})
    }
}

/// The manifest of a run (`result` is `None` in a dry run: every write is `planned` on each of
/// `writers`).
pub fn manifest(
    artifacts: &[Artifact],
    result: Option<&FanOut>,
    writers: &[String],
    read: &ReadSummary,
    generated_at: &str,
) -> Value {
    // Outcomes by artifact, once: thousands of artifacts × writers would make a scan per
    // artifact quadratic.
    let mut by_artifact: HashMap<&str, Vec<&Outcome>> = HashMap::new();
    for o in result.iter().flat_map(|r| &r.outcomes) {
        by_artifact.entry(o.artifact.as_str()).or_default().push(o);
    }
    let list: Vec<Value> = artifacts
        .iter()
        .map(|a| {
            let writes: Vec<Value> = match result {
                Some(_) => by_artifact
                    .get(a.name.as_str())
                    .into_iter()
                    .flatten()
                    .map(|o| {
                        json!({"writer": o.writer, "status": o.status, "location": o.location,
                               "attempts": o.attempts, "error": o.error})
                    })
                    .collect(),
                None => writers
                    .iter()
                    .map(|w| json!({"writer": w, "status": "planned", "location": null, "attempts": 0, "error": null}))
                    .collect(),
            };
            let mut entry = json!({"name": a.name, "mediaType": a.media_type, "kind": a.kind,
                   "bytes": a.bytes.len(), "sha256": sha256_hex(&a.bytes), "writes": writes});
            if !a.context.is_null() {
                entry["context"] = a.context.clone();
            }
            entry
        })
        .collect();
    json!({
        "generatedAt": generated_at,
        "dryRun": result.is_none(),
        "input": read.to_json(),
        "artifacts": list,
        "writers": result.map_or(Value::Array(vec![]), |r| json!(r.writers)),
    })
}
