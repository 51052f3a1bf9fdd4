//! Loading a plan directory: one JSON Schema file per event name or pattern, each compiled once.
//!
//! Every problem is reported with the file, the JSON pointer inside it and what is wrong, so a
//! CI log is enough to fix a broken plan. Schemas are compiled for draft 2020-12 with formats
//! asserted (`"format": "date-time"` is a contract, not a comment) and without any remote or
//! file `$ref` resolving: a plan is self-contained, and loading it never touches the network.

use serde_json::Value;
use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use thiserror::Error;

/// The only `$schema` a plan file may name (it may also leave `$schema` out).
const DRAFT_2020_12: &str = "https://json-schema.org/draft/2020-12/schema";

/// Why a plan cannot be used. Each names the file and, for a schema, the JSON pointer.
#[derive(Debug, Error)]
pub enum PlanError {
    /// The directory cannot be listed.
    #[error("cannot read the plan directory `{dir}`: {error}; pass the directory that holds the plan's *.json schemas")]
    Dir {
        /// The directory as given.
        dir: String,
        /// The operating system's error.
        error: std::io::Error,
    },
    /// No schema at all: almost always the wrong directory.
    #[error("the plan directory `{dir}` holds no *.json schema; write one per event (`quest.objective.json`) or draft them with `playtrace plan infer`")]
    Empty {
        /// The directory as given.
        dir: String,
    },
    /// A schema file cannot be read.
    #[error("cannot read `{file}`: {error}")]
    Read {
        /// The file.
        file: String,
        /// The operating system's error.
        error: std::io::Error,
    },
    /// A schema file is not JSON.
    #[error("`{file}` line {line}, column {column}: not JSON: {problem}")]
    Json {
        /// The file.
        file: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What the JSON reader said.
        problem: String,
    },
    /// A schema that is not a valid draft 2020-12 schema, or that PlayTrace cannot use.
    #[error("`{file}` at `{pointer}`: {problem}")]
    Schema {
        /// The file.
        file: String,
        /// JSON pointer inside the file (`""` is the whole document).
        pointer: String,
        /// What is wrong and what to do.
        problem: String,
    },
    /// Two files claim the same event name or pattern.
    #[error("`{first}` and `{second}` both describe `{name}`; keep one")]
    Duplicate {
        /// The event name or pattern.
        name: String,
        /// One file.
        first: String,
        /// The other.
        second: String,
    },
}

/// One event's contract: a compiled schema and what the reports need to know about it.
#[derive(Debug)]
pub struct EventSchema {
    pub(crate) name: String,
    pub(crate) file: String,
    pub(crate) document: Value,
    pub(crate) validator: jsonschema::Validator,
    pub(crate) required: Vec<String>,
    /// A sorted set: a lookup is a few short comparisons, cheaper than hashing the key.
    pub(crate) properties: BTreeSet<String>,
    /// Extra top-level attrs are an error (`additionalProperties`/`unevaluatedProperties`
    /// false), not a warning.
    pub(crate) closed: bool,
    /// `patternProperties` decides which extra attrs are fine: no "unexpected" warnings.
    pub(crate) patterned: bool,
    pub(crate) deprecated: bool,
    pub(crate) owner: Option<String>,
    /// `"requiredEvent": true`: every such event must reach the store, so the collector's
    /// sampling never drops it (the plan's say on which events matter, not only which fields).
    pub(crate) required_event: bool,
    /// The schema compiled for [`Plan::check_line`]'s fast path; `None` when it uses a keyword
    /// outside the fast path's subset (its events are then always checked by `jsonschema`).
    pub(crate) fast: Option<crate::fast::Node>,
}

impl EventSchema {
    /// The event name or pattern (`telemetry.contest.*`) the file describes.
    pub fn name(&self) -> &str {
        &self.name
    }
    /// The file's name inside the plan directory.
    pub fn file(&self) -> &str {
        &self.file
    }
    /// The schema document as written.
    pub fn document(&self) -> &Value {
        &self.document
    }
    /// The top-level attrs every event must carry.
    pub fn required(&self) -> &[String] {
        &self.required
    }
    /// Whether the schema is marked `"deprecated": true`.
    pub fn deprecated(&self) -> bool {
        self.deprecated
    }
    /// The team that owns the event (`"owner"`), when stated.
    pub fn owner(&self) -> Option<&str> {
        self.owner.as_deref()
    }
    /// Whether the plan marks the event as required (`"requiredEvent": true`): sampling at
    /// ingest must keep every one.
    pub fn required_event(&self) -> bool {
        self.required_event
    }
}

/// A compiled tracking plan.
#[derive(Debug, Default)]
pub struct Plan {
    dir: Option<PathBuf>,
    schemas: Vec<EventSchema>,
    exact: HashMap<String, usize>,
    /// Indices of pattern schemas, most specific (most literal characters) first.
    patterns: Vec<usize>,
}

impl Plan {
    /// Loads and compiles every `*.json` file of `dir` (other files, such as a README, and
    /// hidden files are ignored).
    pub fn load(dir: &Path) -> Result<Plan, PlanError> {
        let shown = dir.display().to_string();
        let entries = std::fs::read_dir(dir).map_err(|error| PlanError::Dir {
            dir: shown.clone(),
            error,
        })?;
        let mut files = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|error| PlanError::Dir {
                dir: shown.clone(),
                error,
            })?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') || !name.ends_with(".json") {
                continue;
            }
            let path = entry.path();
            if path.is_dir() {
                continue;
            }
            let text = std::fs::read_to_string(&path).map_err(|error| PlanError::Read {
                file: path.display().to_string(),
                error,
            })?;
            files.push((name, text));
        }
        if files.is_empty() {
            return Err(PlanError::Empty { dir: shown });
        }
        let mut plan = Plan::from_files(files)?;
        plan.dir = Some(dir.to_path_buf());
        Ok(plan)
    }

    /// Compiles a plan from `(file name, contents)` pairs (what [`Plan::load`] reads).
    pub fn from_files(mut files: Vec<(String, String)>) -> Result<Plan, PlanError> {
        files.sort_by(|a, b| a.0.cmp(&b.0));
        let mut plan = Plan::default();
        for (file, text) in files {
            let schema = compile(&file, &text)?;
            let index = plan.schemas.len();
            if let Some(other) = plan.schemas.iter().find(|s| s.name == schema.name) {
                return Err(PlanError::Duplicate {
                    name: schema.name.clone(),
                    first: other.file.clone(),
                    second: file,
                });
            }
            if schema.name.contains('*') {
                plan.patterns.push(index);
            } else {
                plan.exact.insert(schema.name.clone(), index);
            }
            plan.schemas.push(schema);
        }
        let schemas = &plan.schemas;
        plan.patterns
            .sort_by_key(|&i| std::cmp::Reverse(literal_len(&schemas[i].name)));
        Ok(plan)
    }

    /// The directory the plan was loaded from, if any.
    pub fn dir(&self) -> Option<&Path> {
        self.dir.as_deref()
    }

    /// Every schema, in file name order.
    pub fn schemas(&self) -> &[EventSchema] {
        &self.schemas
    }

    /// The schema that governs events named `name`: the file of that exact name, else the most
    /// specific matching pattern (ties go to the first file by name).
    pub fn schema_for(&self, name: &str) -> Option<&EventSchema> {
        if let Some(&i) = self.exact.get(name) {
            return Some(&self.schemas[i]);
        }
        self.patterns
            .iter()
            .map(|&i| &self.schemas[i])
            .find(|s| glob_match(&s.name, name))
    }
}

fn literal_len(pattern: &str) -> usize {
    pattern.chars().filter(|&c| c != '*').count()
}

/// `*` matches any run of characters (dots included); everything else matches itself.
pub(crate) fn glob_match(pattern: &str, name: &str) -> bool {
    let mut parts = pattern.split('*');
    let Some(first) = parts.next() else {
        return pattern == name;
    };
    let Some(mut rest) = name.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    let Some((last, middle)) = parts.split_last() else {
        return rest.is_empty();
    };
    for part in middle {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

fn schema_error(file: &str, pointer: &str, problem: impl Into<String>) -> PlanError {
    PlanError::Schema {
        file: file.to_string(),
        pointer: pointer.to_string(),
        problem: problem.into(),
    }
}

/// Reads, checks and compiles one file.
fn compile(file: &str, text: &str) -> Result<EventSchema, PlanError> {
    let name = file.strip_suffix(".json").unwrap_or(file).to_string();
    if name.is_empty() || name.chars().all(|c| c == '*') {
        return Err(schema_error(
            file,
            "",
            "the file name must be the event name or a pattern with a literal part \
             (`quest.objective.json`, `telemetry.contest.*.json`)",
        ));
    }
    let document: Value = serde_json::from_str(text).map_err(|e| PlanError::Json {
        file: file.to_string(),
        line: e.line(),
        column: e.column(),
        problem: e.to_string(),
    })?;
    let Value::Object(root) = &document else {
        return Err(schema_error(
            file,
            "",
            "the schema must be a JSON object describing the event's attrs \
             (`{\"type\": \"object\", \"properties\": {...}}`)",
        ));
    };
    if let Some(uri) = root.get("$schema") {
        let named = uri.as_str().unwrap_or_default().trim_end_matches('#');
        if named != DRAFT_2020_12 {
            return Err(schema_error(
                file,
                "/$schema",
                format!(
                    "{uri} is not draft 2020-12; plans are written for `{DRAFT_2020_12}` \
                     (or leave `$schema` out)"
                ),
            ));
        }
    }
    let owner = match root.get("owner") {
        None => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => {
            return Err(schema_error(
                file,
                "/owner",
                "`owner` must be a string (the owning team, say `\"quests\"`)",
            ))
        }
    };
    let required_event = match root.get("requiredEvent") {
        None => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => {
            return Err(schema_error(
                file,
                "/requiredEvent",
                "`requiredEvent` must be true or false (true: ingest sampling never drops \
                 this event)",
            ))
        }
    };
    let validator = jsonschema::draft202012::options()
        .should_validate_formats(true)
        .build(&document)
        .map_err(|e| {
            let pointer = e.instance_path().as_str().to_string();
            let pointer = if pointer.is_empty() {
                e.schema_path().as_str().to_string()
            } else {
                pointer
            };
            schema_error(
                file,
                &pointer,
                format!(
                    "not a valid draft 2020-12 schema: {}",
                    shorten(&e.to_string())
                ),
            )
        })?;
    let required = match root.get("required") {
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect(),
        _ => Vec::new(),
    };
    let properties = root
        .get("properties")
        .and_then(Value::as_object)
        .map(|p| p.keys().cloned().collect())
        .unwrap_or_default();
    let closed = [
        root.get("additionalProperties"),
        root.get("unevaluatedProperties"),
    ]
    .into_iter()
    .any(|v| v == Some(&Value::Bool(false)));
    let patterned = root.contains_key("patternProperties");
    Ok(EventSchema {
        fast: crate::fast::compile(&document),
        name,
        file: file.to_string(),
        validator,
        required,
        properties,
        closed,
        patterned,
        deprecated: root.get("deprecated") == Some(&Value::Bool(true)),
        owner,
        required_event,
        document,
    })
}

/// Messages quote values; a huge one must not flood a report or a reject.
pub(crate) fn shorten(text: &str) -> String {
    const MAX: usize = 240;
    if text.len() <= MAX {
        return text.to_string();
    }
    let mut end = MAX;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(files: &[(&str, &str)]) -> Result<Plan, PlanError> {
        Plan::from_files(
            files
                .iter()
                .map(|(n, t)| (n.to_string(), t.to_string()))
                .collect(),
        )
    }

    #[test]
    fn exact_names_win_over_patterns_and_longer_patterns_over_shorter() {
        let p = plan(&[
            ("telemetry.*.json", "{}"),
            ("telemetry.contest.*.json", "{}"),
            ("telemetry.contest.resolved.json", "{}"),
        ])
        .unwrap();
        let file = |n: &str| p.schema_for(n).map(|s| s.file().to_string());
        assert_eq!(
            file("telemetry.contest.resolved").as_deref(),
            Some("telemetry.contest.resolved.json")
        );
        assert_eq!(
            file("telemetry.contest.armed").as_deref(),
            Some("telemetry.contest.*.json")
        );
        assert_eq!(file("telemetry.hub.x").as_deref(), Some("telemetry.*.json"));
        assert_eq!(file("quest.objective"), None);
    }

    #[test]
    fn globs_match_runs_of_any_characters() {
        assert!(glob_match("a.*", "a.b.c"));
        assert!(glob_match("*.failed", "job.failed"));
        assert!(glob_match("a*b*c", "aXbYc"));
        assert!(!glob_match("a*b*c", "aXbY"));
        assert!(glob_match("a.*", "a."), "`*` also matches nothing");
        assert!(!glob_match("ab*ba", "aba"));
    }

    #[test]
    fn errors_name_the_file_and_pointer() {
        let e = plan(&[("q.json", r#"{"properties": {"n": {"type": "integr"}}}"#)]).unwrap_err();
        let text = e.to_string();
        assert!(text.contains("`q.json`"), "{text}");
        assert!(text.contains("/properties/n/type"), "{text}");

        let e = plan(&[("q.json", "{\n  \"type\": \"object\",\n}")]).unwrap_err();
        assert!(matches!(e, PlanError::Json { line: 3, .. }), "{e}");

        let e = plan(&[(
            "q.json",
            r#"{"$schema": "http://json-schema.org/draft-07/schema#"}"#,
        )])
        .unwrap_err();
        assert!(e.to_string().contains("at `/$schema`"), "{e}");

        let e = plan(&[("q.json", "[]")]).unwrap_err();
        assert!(e.to_string().contains("must be a JSON object"), "{e}");

        let e = plan(&[("q.json", r#"{"$ref": "https://example.com/s.json"}"#)]).unwrap_err();
        assert!(e.to_string().contains("`q.json`"), "{e}");
    }

    #[test]
    fn metadata_is_read() {
        let p = plan(&[(
            "q.json",
            r#"{"required": ["a"], "properties": {"a": {}}, "additionalProperties": false,
                "deprecated": true, "owner": "quests"}"#,
        )])
        .unwrap();
        let s = p.schema_for("q").unwrap();
        assert_eq!(s.required(), ["a"]);
        assert!(s.closed && s.deprecated());
        assert_eq!(s.owner(), Some("quests"));
        assert!(!s.required_event());
    }

    #[test]
    fn an_event_is_marked_required_by_a_boolean() {
        let p = plan(&[("q.json", r#"{"requiredEvent": true}"#)]).unwrap();
        assert!(p.schema_for("q").unwrap().required_event());
        let e = plan(&[("q.json", r#"{"requiredEvent": "yes"}"#)]).unwrap_err();
        let text = e.to_string();
        assert!(text.contains("`q.json` at `/requiredEvent`"), "{text}");
    }
}
