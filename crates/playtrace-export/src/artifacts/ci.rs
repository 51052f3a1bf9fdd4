//! The manifest in the shape CI publishers already read (`--manifest-format ci`, the engine
//! team's dry-run manifest): top level `generatedAt, generatedIso, dryRun, artifacts[{filepath,
//! filename}], context, fallbackSummary`; `context` holds `artifactFilenames`, the delivery
//! `metrics` and the payload `budgetStatus`.

use crate::{Artifact, FanOut, Status};
use playtrace_core::time::format_rfc3339_ms;
use serde_json::{json, Value};

/// The payload check of a run (`--payload-budget`): every artifact's bytes together against
/// the budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PayloadBudget {
    /// The artifacts' bytes together.
    pub payload_bytes: u64,
    /// The budget; `None` without `--payload-budget` (status `unknown`).
    pub budget_bytes: Option<u64>,
}

impl PayloadBudget {
    /// The payload of `artifacts` against `budget_bytes`.
    pub fn of(artifacts: &[Artifact], budget_bytes: Option<u64>) -> PayloadBudget {
        PayloadBudget {
            payload_bytes: artifacts.iter().map(|a| a.bytes.len() as u64).sum(),
            budget_bytes,
        }
    }

    /// How far over the budget the payload is (0 within it; `None` without a budget).
    pub fn exceeded_by(&self) -> Option<u64> {
        self.budget_bytes
            .map(|b| self.payload_bytes.saturating_sub(b))
    }

    /// Whether the payload is over the budget (a failed check).
    pub fn exceeded(&self) -> bool {
        self.exceeded_by().is_some_and(|n| n > 0)
    }

    /// `within_budget`, `exceeds_budget` or `unknown` (no budget given).
    pub fn status(&self) -> &'static str {
        match self.exceeded_by() {
            None => "unknown",
            Some(0) => "within_budget",
            Some(_) => "exceeds_budget",
        }
    }
}

/// Where a run wrote, for `filepath`: the first writer's directory (`fs:DIR` → `DIR`) or URL.
pub fn artifact_dir(writers: &[String]) -> String {
    writers.first().map_or_else(String::new, |w| {
        w.strip_prefix("fs:")
            .unwrap_or(w)
            .trim_end_matches('/')
            .to_string()
    })
}

/// What the CI manifest says about one run.
pub struct CiRun<'a> {
    /// Every artifact of the run, in order.
    pub artifacts: &'a [Artifact],
    /// What the delivery did; `None` in a dry run.
    pub result: Option<&'a FanOut>,
    /// The writers' ids, in `--to` order.
    pub writers: &'a [String],
    /// `--prefix`.
    pub prefix: &'a str,
    /// The payload check.
    pub payload: PayloadBudget,
    /// When the manifest was made, ms since the epoch.
    pub generated_ms: f64,
}

/// The CI-shaped manifest of a run.
pub fn ci_manifest(run: &CiRun<'_>) -> Value {
    let dir = artifact_dir(run.writers);
    let iso = format_rfc3339_ms(run.generated_ms);
    let names: Vec<&str> = run.artifacts.iter().map(|a| a.name.as_str()).collect();
    let files: Vec<Value> = names
        .iter()
        .map(|n| {
            let path = if dir.is_empty() {
                (*n).to_string()
            } else {
                format!("{dir}/{n}")
            };
            json!({"filepath": path, "filename": n})
        })
        .collect();
    let (written, failures, summaries, duration) = match run.result {
        Some(r) => {
            let failed: Vec<Value> = r
                .outcomes
                .iter()
                .filter(|o| o.status != Status::Written)
                .map(|o| {
                    json!({"artifact": o.artifact, "writer": o.writer, "status": o.status,
                           "attempts": o.attempts, "error": o.error})
                })
                .collect();
            // An artifact counts as written once every writer has it (not artifacts × writers).
            let written = names
                .iter()
                .filter(|n| {
                    !r.outcomes
                        .iter()
                        .any(|o| o.artifact == **n && o.status != Status::Written)
                })
                .count();
            let summaries: Vec<Value> = r
                .writers
                .iter()
                .map(|w| {
                    json!({"id": w.id, "attempted": w.attempted, "successes": w.successes,
                           "failures": w.failures, "durationMs": w.duration_ms})
                })
                .collect();
            let duration = r.writers.iter().map(|w| w.duration_ms).max().unwrap_or(0);
            (written, failed, summaries, duration)
        }
        None => (0, Vec::new(), Vec::new(), 0),
    };
    let p = run.payload;
    let events: Vec<Value> = if p.exceeded() {
        vec![
            json!({"type": "payload-budget-exceeded", "payloadBytes": p.payload_bytes,
                    "budgetBytes": p.budget_bytes, "exceededBy": p.exceeded_by()}),
        ]
    } else {
        Vec::new()
    };
    json!({
        "generatedAt": run.generated_ms as i64,
        "generatedIso": iso,
        "dryRun": run.result.is_none(),
        "artifacts": files,
        "context": {
            "runId": null,
            "prefix": run.prefix,
            "artifactDir": dir,
            "artifactFilenames": names,
            "metrics": {
                "artifactsAttempted": names.len(),
                "artifactsWritten": written,
                "failures": failures,
                "writerSummaries": summaries,
                "durationMs": duration,
            },
            "summarySource": "playtrace",
            "budgetStatus": {
                "status": p.status(),
                "payloadBytes": p.payload_bytes,
                "budgetBytes": p.budget_bytes,
                "exceededBy": p.exceeded_by(),
                "generatedAt": run.generated_ms as i64,
                "generatedIso": iso,
                "events": events,
                "hasBudgetOverruns": p.exceeded(),
            },
        },
        // PlayTrace has no fallback providers; the block is kept for readers that expect it.
        "fallbackSummary": {
            "attempted": false, "attempts": 0, "succeeded": 0, "failed": 0, "partial": 0,
            "skipped": 0, "lastAttemptedAt": null, "providers": {},
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn the_payload_budget_says_within_or_by_how_much_over() {
        let a = |n: usize| Artifact {
            name: format!("a{n}"),
            media_type: "text/plain".into(),
            bytes: Arc::new(vec![0; n]),
            kind: "report".into(),
            context: Value::Null,
        };
        let artifacts = [a(7000), a(6000)];
        let over = PayloadBudget::of(&artifacts, Some(12_000));
        assert_eq!(
            (over.status(), over.exceeded_by()),
            ("exceeds_budget", Some(1000))
        );
        let within = PayloadBudget::of(&artifacts, Some(13_000));
        assert_eq!(
            (within.status(), within.exceeded()),
            ("within_budget", false)
        );
        assert_eq!(PayloadBudget::of(&artifacts, None).status(), "unknown");
        assert_eq!(artifact_dir(&["fs:out/".into()]), "out");
        assert_eq!(artifact_dir(&["s3://b/p".into()]), "s3://b/p");
    }
}
