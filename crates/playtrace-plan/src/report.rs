//! The coverage (parity) report: the engine team's `05-quest-parity-summary.json` shape —
//! `generatedAt, ok, totals, coverage {event, payload}, unexpectedFields, issues, sources,
//! nextSteps` — extended with one section per event name and the unknown event names.
//!
//! A [`Coverage`] is built from checked events and merged block by block (in input order), so
//! `plan check` can check on every core and still number events and lines as one run. Lists
//! that grow with the data (issues, paths) are capped; counts never are.
//!
//! Coverage of a level is the share of its required field names that no event missed:
//! `(required − missing) / required`, as the engine team's script computed it.

use crate::check::{Checked, Severity, Violation, ViolationKind};
use crate::load::Plan;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// Bounds on what a report lists (counts are always complete).
#[derive(Debug, Clone, Copy)]
pub struct ReportOptions {
    /// Issues listed; the rest are counted in `issuesOmitted`.
    pub max_issues: usize,
    /// Paths listed per `missingPaths`.
    pub max_paths: usize,
    /// Distinct unknown event names or unexpected field names listed.
    pub max_names: usize,
}

impl Default for ReportOptions {
    fn default() -> Self {
        ReportOptions {
            max_issues: 1000,
            max_paths: 100,
            max_names: 1000,
        }
    }
}

#[derive(Debug, Clone)]
struct Issue {
    severity: Severity,
    index: u64,
    field: String,
    event: String,
    kind: &'static str,
    rule: String,
    message: String,
    line: Option<u64>,
    input: Option<String>,
}

#[derive(Debug, Clone, Default)]
struct EventStats {
    schema: String,
    events: u64,
    clean: u64,
    required: Vec<String>,
    deprecated: bool,
    owner: Option<String>,
    by_kind: BTreeMap<ViolationKind, BTreeMap<String, u64>>,
    missing_paths: Vec<(u64, String)>,
}

/// Checked events folded into the report's figures.
#[derive(Debug, Clone, Default)]
pub struct Coverage {
    options: ReportOptions,
    events: u64,
    errors: u64,
    warnings: u64,
    unreadable: u64,
    unknown: BTreeMap<String, u64>,
    unknown_total: u64,
    per_event: BTreeMap<String, EventStats>,
    issues: Vec<Issue>,
    issues_omitted: u64,
    unexpected: BTreeSet<String>,
}

impl Coverage {
    /// An empty report with these bounds.
    pub fn new(options: ReportOptions) -> Coverage {
        Coverage {
            options,
            ..Coverage::default()
        }
    }

    /// Events recorded so far (the next event's index).
    pub fn events(&self) -> u64 {
        self.events
    }

    /// Whether no event broke the contract.
    pub fn ok(&self) -> bool {
        self.errors == 0
    }

    /// Counts lines the reader could not read at all (they are not events).
    pub fn add_unreadable(&mut self, lines: u64) {
        self.unreadable += lines;
    }

    /// Records the next event (index [`Coverage::events`]) named `name`, found at `line`.
    pub fn record(&mut self, name: &str, checked: &Checked<'_>, line: Option<u64>) {
        let index = self.events;
        self.events += 1;
        let (schema, violations) = match checked {
            Checked::Unknown => {
                self.unknown_total += 1;
                if let Some(n) = self.unknown.get_mut(name) {
                    *n += 1;
                } else if self.unknown.len() < self.options.max_names {
                    self.unknown.insert(name.to_string(), 1);
                }
                return;
            }
            Checked::Known { schema, violations } => (schema, violations),
        };
        let max_paths = self.options.max_paths;
        // Looked up before inserting: a name is allocated once per block, not once per event.
        let stats = match self.per_event.get_mut(name) {
            Some(stats) => stats,
            None => self
                .per_event
                .entry(name.to_string())
                .or_insert_with(|| EventStats {
                    schema: schema.file().to_string(),
                    required: schema.required().to_vec(),
                    deprecated: schema.deprecated(),
                    owner: schema.owner().map(str::to_string),
                    ..EventStats::default()
                }),
        };
        stats.events += 1;
        if violations.iter().all(|v| v.severity == Severity::Warning) {
            stats.clean += 1;
        }
        for v in violations {
            *stats
                .by_kind
                .entry(v.kind)
                .or_default()
                .entry(v.field.clone())
                .or_default() += 1;
            if v.kind == ViolationKind::Missing && stats.missing_paths.len() < max_paths {
                stats.missing_paths.push((index, v.field.clone()));
            }
            if v.kind == ViolationKind::Unexpected && self.unexpected.len() < self.options.max_names
            {
                self.unexpected.insert(v.field_name().to_string());
            }
            match v.severity {
                Severity::Error => self.errors += 1,
                Severity::Warning => self.warnings += 1,
            }
            if self.issues.len() >= self.options.max_issues {
                self.issues_omitted += 1;
            } else {
                self.issues.push(issue(index, name, v, line));
            }
        }
    }
}

fn issue(index: u64, event: &str, v: &Violation, line: Option<u64>) -> Issue {
    Issue {
        severity: v.severity,
        index,
        field: v.field.clone(),
        event: event.to_string(),
        kind: v.kind.as_str(),
        rule: v.rule.clone(),
        message: v.message.clone(),
        line,
        input: None,
    }
}

impl Coverage {
    /// Appends `block`, whose events follow this report's, read from `input` where the block's
    /// line 1 is line `line_base + 1`.
    pub fn absorb(&mut self, block: Coverage, input: Option<&str>, line_base: u64) {
        let base = self.events;
        self.events += block.events;
        self.errors += block.errors;
        self.warnings += block.warnings;
        self.unreadable += block.unreadable;
        self.unknown_total += block.unknown_total;
        for (name, n) in block.unknown {
            if let Some(total) = self.unknown.get_mut(&name) {
                *total += n;
            } else if self.unknown.len() < self.options.max_names {
                self.unknown.insert(name, n);
            }
        }
        for name in block.unexpected {
            if self.unexpected.len() < self.options.max_names {
                self.unexpected.insert(name);
            }
        }
        for (name, stats) in block.per_event {
            let mine = self.per_event.entry(name).or_insert_with(|| EventStats {
                schema: stats.schema.clone(),
                required: stats.required.clone(),
                deprecated: stats.deprecated,
                owner: stats.owner.clone(),
                ..EventStats::default()
            });
            mine.events += stats.events;
            mine.clean += stats.clean;
            for (kind, fields) in stats.by_kind {
                let into = mine.by_kind.entry(kind).or_default();
                for (field, n) in fields {
                    *into.entry(field).or_default() += n;
                }
            }
            for (i, field) in stats.missing_paths {
                if mine.missing_paths.len() < self.options.max_paths {
                    mine.missing_paths.push((base + i, field));
                }
            }
        }
        for mut issue in block.issues {
            if self.issues.len() >= self.options.max_issues {
                self.issues_omitted += 1;
                continue;
            }
            issue.index += base;
            issue.line = issue.line.map(|l| l + line_base);
            issue.input = input.map(str::to_string);
            self.issues.push(issue);
        }
        self.issues_omitted += block.issues_omitted;
    }

    /// The report document. `samples` are the inputs read; `generated_at` an RFC 3339 time.
    pub fn report(&self, plan: &Plan, samples: &[String], generated_at: &str) -> Report {
        // In the order the schemas declare them, as the engine team's report lists them.
        let mut payload_required: Vec<String> = Vec::new();
        let mut payload_missing = BTreeSet::new();
        let mut payload_paths = Vec::new();
        let mut events = BTreeMap::new();
        for (name, stats) in &self.per_event {
            for f in &stats.required {
                if !payload_required.contains(f) {
                    payload_required.push(f.clone());
                }
            }
            let missing: BTreeMap<String, u64> = stats
                .by_kind
                .get(&ViolationKind::Missing)
                .cloned()
                .unwrap_or_default();
            let missing_names: BTreeSet<String> = missing
                .keys()
                .filter(|f| stats.required.contains(f))
                .cloned()
                .collect();
            payload_missing.extend(missing_names.iter().cloned());
            let paths: Vec<(u64, String)> = stats.missing_paths.clone();
            payload_paths.extend(paths.iter().cloned());
            let kind = |k: ViolationKind| stats.by_kind.get(&k).cloned().unwrap_or_default();
            events.insert(
                name.clone(),
                EventSection {
                    schema: stats.schema.clone(),
                    events: stats.events,
                    clean: stats.clean,
                    coverage: level(
                        &stats.required,
                        &missing_names,
                        &paths,
                        self.options.max_paths,
                    ),
                    missing: missing.clone(),
                    wrong_type: kind(ViolationKind::WrongType),
                    invalid: kind(ViolationKind::Invalid),
                    unexpected: kind(ViolationKind::Unexpected),
                    deprecated: stats.deprecated.then_some(true),
                    owner: stats.owner.clone(),
                },
            );
        }
        payload_paths.sort();
        let unseen: Vec<String> = plan
            .schemas()
            .iter()
            .filter(|s| !s.name().contains('*') && !self.per_event.contains_key(s.name()))
            .map(|s| s.name().to_string())
            .collect();
        Report {
            generated_at: generated_at.to_string(),
            ok: self.ok(),
            totals: Totals {
                events: self.events,
                event_fields_required: 1,
                payload_fields_required: payload_required.len(),
                checked: self.events - self.unknown_total,
                unknown_events: self.unknown_total,
                errors: self.errors,
                warnings: self.warnings,
                unreadable_lines: self.unreadable,
            },
            coverage: Levels {
                event: level(&["event".to_string()], &BTreeSet::new(), &[], 0),
                payload: level(
                    &payload_required,
                    &payload_missing,
                    &payload_paths,
                    self.options.max_paths,
                ),
            },
            unexpected_fields: self.unexpected.iter().cloned().collect(),
            issues: self.issues.iter().map(issue_view).collect(),
            issues_omitted: self.issues_omitted,
            events,
            unknown_events: self.unknown.clone(),
            unseen_events: unseen,
            sources: Sources {
                dataset: "telemetry logs".into(),
                plan: plan.dir().map(|d| d.display().to_string()),
                samples: samples.to_vec(),
            },
            next_steps: self.next_steps(),
        }
    }

    fn next_steps(&self) -> Vec<String> {
        let mut steps = Vec::new();
        if self.errors > 0 {
            steps.push("Resolve schema mismatches before handing off to analytics.".to_string());
        }
        if self.warnings > 0 {
            steps.push(
                "Declare the unexpected fields in the plan, or stop sending them.".to_string(),
            );
        }
        if self.unknown_total > 0 {
            steps.push(format!(
                "{} event name(s) have no schema: add them (`playtrace plan infer` drafts one).",
                self.unknown.len()
            ));
        }
        if steps.is_empty() {
            steps.push("Nothing to do: every event matches the plan.".to_string());
        }
        steps
    }
}

fn path(index: u64, field: &str) -> String {
    format!("events[{index}].payload.{field}")
}

fn level(
    required: &[String],
    missing: &BTreeSet<String>,
    paths: &[(u64, String)],
    max_paths: usize,
) -> Level {
    let coverage = if required.is_empty() {
        1.0
    } else {
        (required.len() - missing.len().min(required.len())) as f64 / required.len() as f64
    };
    Level {
        required_fields: required.to_vec(),
        missing_field_names: missing.iter().cloned().collect(),
        missing_paths: paths
            .iter()
            .take(max_paths)
            .map(|(i, f)| path(*i, f))
            .collect(),
        coverage,
    }
}

fn issue_view(issue: &Issue) -> IssueView {
    let path = path(issue.index, &issue.field);
    let message = match (issue.kind, issue.severity) {
        ("missing", _) => format!("Missing required field \"{path}\""),
        ("unexpected", Severity::Warning) => {
            format!("Unexpected field \"{path}\" present in telemetry dataset")
        }
        _ => format!("{} (\"{path}\")", issue.message),
    };
    IssueView {
        severity: issue.severity.as_str(),
        path,
        message,
        event: issue.event.clone(),
        kind: issue.kind,
        rule: issue.rule.clone(),
        input: issue.input.clone(),
        line: issue.line,
    }
}

/// The report document (serialised in this field order).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct Report {
    pub generated_at: String,
    pub ok: bool,
    pub totals: Totals,
    pub coverage: Levels,
    pub unexpected_fields: Vec<String>,
    pub issues: Vec<IssueView>,
    #[serde(skip_serializing_if = "is_zero")]
    pub issues_omitted: u64,
    /// One section per event name that has a schema.
    pub events: BTreeMap<String, EventSection>,
    /// Event names without a schema, with their counts.
    pub unknown_events: BTreeMap<String, u64>,
    /// Event names the plan describes that no input carried.
    pub unseen_events: Vec<String>,
    pub sources: Sources,
    pub next_steps: Vec<String>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// Counts over the whole run.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct Totals {
    pub events: u64,
    pub event_fields_required: usize,
    pub payload_fields_required: usize,
    pub checked: u64,
    pub unknown_events: u64,
    pub errors: u64,
    pub warnings: u64,
    pub unreadable_lines: u64,
}

/// Coverage per level: the envelope (`event`) and the attrs (`payload`).
#[derive(Debug, Serialize)]
#[allow(missing_docs)]
pub struct Levels {
    pub event: Level,
    pub payload: Level,
}

/// One level's required fields and what was missing.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct Level {
    pub required_fields: Vec<String>,
    pub missing_field_names: Vec<String>,
    pub missing_paths: Vec<String>,
    pub coverage: f64,
}

/// One problem, located.
#[derive(Debug, Serialize)]
#[allow(missing_docs)]
pub struct IssueView {
    pub severity: &'static str,
    pub path: String,
    pub message: String,
    pub event: String,
    pub kind: &'static str,
    pub rule: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u64>,
}

/// One event name's figures.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct EventSection {
    pub schema: String,
    pub events: u64,
    pub clean: u64,
    #[serde(flatten)]
    pub coverage: Level,
    /// Field → events missing it.
    pub missing: BTreeMap<String, u64>,
    pub wrong_type: BTreeMap<String, u64>,
    pub invalid: BTreeMap<String, u64>,
    pub unexpected: BTreeMap<String, u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deprecated: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
}

/// What was checked.
#[derive(Debug, Serialize)]
#[allow(missing_docs)]
pub struct Sources {
    pub dataset: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plan: Option<String>,
    pub samples: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    /// The engine team's quest parity scenario, rebuilt: the fixture's figures come out.
    #[test]
    fn the_quest_parity_fixture_is_reproduced() {
        let schema = json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "type": "object",
            "required": ["telemetryTag", "questId", "objectiveId"],
            "properties": {
                "telemetryTag": {"type": "string"},
                "questId": {"type": "string"},
                "objectiveId": {"type": "string"}
            }
        });
        let plan =
            Plan::from_files(vec![("quest.objective.json".into(), schema.to_string())]).unwrap();
        let events = [
            json!({"telemetryTag": "quest", "questId": "q1", "objectiveId": "o1"}),
            json!({"telemetryTag": "quest", "objectiveId": "o2", "branchId": "b"}),
        ];
        let mut cov = Coverage::new(ReportOptions::default());
        for (i, attrs) in events.iter().enumerate() {
            cov.record(
                "quest.objective",
                &plan.check("quest.objective", attrs),
                Some(i as u64 + 1),
            );
        }
        let report = serde_json::to_value(cov.report(&plan, &["q.jsonl".into()], "t")).unwrap();
        let fixture: Value =
            serde_json::from_str(include_str!("../tests/quest-parity-summary.json")).unwrap();
        assert_eq!(report["ok"], fixture["ok"]);
        assert_eq!(
            report["coverage"]["payload"],
            fixture["coverage"]["payload"]
        );
        assert_eq!(report["unexpectedFields"], fixture["unexpectedFields"]);
        assert_eq!(report["totals"]["events"], fixture["totals"]["events"]);
        assert_eq!(
            report["totals"]["payloadFieldsRequired"],
            fixture["totals"]["payloadFieldsRequired"]
        );
        for (got, want) in report["issues"]
            .as_array()
            .unwrap()
            .iter()
            .zip(fixture["issues"].as_array().unwrap())
        {
            for key in ["severity", "path", "message"] {
                assert_eq!(got[key], want[key], "{key}");
            }
        }
        assert_eq!(report["issues"].as_array().unwrap().len(), 2);
        assert_eq!(report["nextSteps"][0], fixture["nextSteps"][0]);
        assert_eq!(report["events"]["quest.objective"]["missing"]["questId"], 1);
    }

    #[test]
    fn blocks_merge_as_one_run() {
        let plan =
            Plan::from_files(vec![("e.json".into(), r#"{"required": ["a"]}"#.into())]).unwrap();
        let mut total = Coverage::new(ReportOptions::default());
        for _ in 0..2 {
            let mut block = Coverage::new(ReportOptions::default());
            block.record("e", &plan.check("e", &json!({"a": 1})), Some(1));
            block.record("e", &plan.check("e", &json!({})), Some(2));
            block.record("x", &plan.check("x", &json!({})), Some(3));
            total.absorb(block, Some("in.ndjson"), total.events() / 3 * 10);
        }
        let r = serde_json::to_value(total.report(&plan, &[], "t")).unwrap();
        assert_eq!(r["totals"]["events"], 6);
        assert_eq!(r["totals"]["unknownEvents"], 2);
        assert_eq!(
            r["coverage"]["payload"]["missingPaths"],
            json!(["events[1].payload.a", "events[4].payload.a"])
        );
        assert_eq!(r["issues"][1]["line"], 12);
        assert_eq!(r["issues"][1]["input"], "in.ndjson");
        assert_eq!(r["unknownEvents"]["x"], 2);
        assert_eq!(r["ok"], false);
    }
}
