//! Reading a batch: files and directories of JSON, each told apart by its shape.
//!
//! - **Session-closure records** (PlayTrace's input, docs/qa.md): an object with `sessionId`,
//!   `sessionClosedAt` and `deltas[]`, an array of them, or `{"sessions": [...]}`; also NDJSON,
//!   one record per line.
//! - **A report of the old harness** (`<session>-offline-qa.json`, the glass-frontier fixture):
//!   an object with `sessionId`, `worldDeltas` and `publishing`. It is replayed.

use crate::QaError;
use playtrace_core::time::parse_rfc3339_ms;
use serde_json::{Map, Value};
use std::path::{Path, PathBuf};

/// How a session came in (reported as `mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// A session-closure record run through every step.
    Closure,
    /// An old harness report, replayed.
    Replay,
}

impl Mode {
    /// `closure` or `replay`.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Closure => "closure",
            Mode::Replay => "replay",
        }
    }
}

/// One world delta.
#[derive(Debug, Clone, PartialEq)]
pub struct Delta {
    /// Its id.
    pub delta_id: String,
    /// The entity it changes (`faction.echo-ledger-conclave`).
    pub entity_id: String,
    /// `faction`, `location`, ...
    pub entity_type: String,
    /// The entity's display name.
    pub canonical_name: String,
    /// Extraction confidence, 0..1.
    pub confidence: f64,
    /// Capabilities it touches (`{capabilityId, severity, label, ...}`).
    pub capability_refs: Vec<Value>,
    /// Conflicts extraction recorded.
    pub conflicts: Vec<Value>,
    /// The entity before.
    pub before: Value,
    /// The entity after.
    pub after: Value,
    /// The whole record as read (kept in reports).
    pub raw: Map<String, Value>,
}

/// One session of the batch.
#[derive(Debug, Clone)]
pub struct Session {
    /// The session.
    pub session_id: String,
    /// How it came in.
    pub mode: Mode,
    /// Its close, epoch ms.
    pub closed_at: f64,
    /// Entity mentions extracted (recorded, or the sum of the deltas' `mentions`).
    pub mention_count: u64,
    /// Deltas in the batch (recorded: the list may hold fewer).
    pub delta_count: u64,
    /// The deltas present in the input.
    pub deltas: Vec<Delta>,
    /// The old report, when replayed.
    pub recorded: Option<Map<String, Value>>,
    /// Where it was read.
    pub source: PathBuf,
}

/// The `.json`/`.ndjson` files of `path` (a file, or a directory's files in name order).
pub fn files(path: &Path) -> Result<Vec<PathBuf>, QaError> {
    let err = |message: String| QaError::Input {
        path: path.to_path_buf(),
        message,
    };
    let meta = std::fs::metadata(path)
        .map_err(|e| err(format!("cannot read it: {e} (check the --input path)")))?;
    if !meta.is_dir() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut out: Vec<PathBuf> = std::fs::read_dir(path)
        .map_err(|e| err(format!("cannot list the directory: {e}")))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.is_file()
                && matches!(
                    p.extension().and_then(|e| e.to_str()),
                    Some("json") | Some("ndjson")
                )
        })
        .collect();
    out.sort();
    if out.is_empty() {
        return Err(err(
            "the directory holds no .json or .ndjson files; give a session-closure file or an offline-qa report".into(),
        ));
    }
    Ok(out)
}

/// Reads the sessions of one file.
pub fn read_file(path: &Path) -> Result<Vec<Session>, QaError> {
    let err = |message: String| QaError::Input {
        path: path.to_path_buf(),
        message,
    };
    let text = std::fs::read_to_string(path).map_err(|e| err(format!("cannot read it: {e}")))?;
    let values: Vec<(usize, Value)> = match serde_json::from_str::<Value>(&text) {
        Ok(v) => vec![(0, v)],
        Err(whole) => {
            // Not one document: NDJSON, one record per line.
            let mut out = Vec::new();
            for (i, line) in text.lines().enumerate() {
                if line.trim().is_empty() {
                    continue;
                }
                let v = serde_json::from_str(line).map_err(|e| {
                    err(format!(
                        "line {}: not JSON ({e}); the file is neither one JSON document ({whole}) nor NDJSON",
                        i + 1
                    ))
                })?;
                out.push((i + 1, v));
            }
            out
        }
    };
    let mut sessions = Vec::new();
    for (line, value) in values {
        let at = |m: String| {
            if line > 0 {
                err(format!("line {line}: {m}"))
            } else {
                err(m)
            }
        };
        match value {
            Value::Array(items) => {
                for (i, item) in items.into_iter().enumerate() {
                    sessions.push(session(item, path).map_err(|m| at(format!("[{i}]: {m}")))?);
                }
            }
            Value::Object(mut o) if o.get("sessions").is_some_and(Value::is_array) => {
                if let Some(Value::Array(items)) = o.remove("sessions") {
                    for (i, item) in items.into_iter().enumerate() {
                        sessions.push(
                            session(item, path).map_err(|m| at(format!("sessions[{i}]: {m}")))?,
                        );
                    }
                }
            }
            other => sessions.push(session(other, path).map_err(at)?),
        }
    }
    Ok(sessions)
}

/// One session from a record of either shape.
fn session(value: Value, path: &Path) -> Result<Session, String> {
    let Value::Object(o) = value else {
        return Err("a session must be a JSON object".into());
    };
    let session_id = text(&o, "sessionId")?;
    if o.contains_key("publishing") && o.contains_key("worldDeltas") {
        return replay_session(o, session_id, path);
    }
    if !o.contains_key("sessionClosedAt") {
        return Err(format!(
            "session `{session_id}` is neither a session-closure record (it needs `sessionClosedAt` and `deltas`, see docs/qa.md) nor an offline-qa report (`worldDeltas` and `publishing`)"
        ));
    }
    let closed_at = time(&o, "sessionClosedAt")?;
    let deltas = match o.get("deltas") {
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, d)| delta(d).map_err(|m| format!("deltas[{i}]: {m}")))
            .collect::<Result<Vec<_>, _>>()?,
        _ => return Err(format!("session `{session_id}`: `deltas` must be an array")),
    };
    let mentions: u64 = deltas
        .iter()
        .map(|d| d.raw.get("mentions").and_then(Value::as_u64).unwrap_or(1))
        .sum();
    Ok(Session {
        mention_count: o
            .get("mentionCount")
            .and_then(Value::as_u64)
            .unwrap_or(mentions),
        delta_count: deltas.len() as u64,
        deltas,
        session_id,
        mode: Mode::Closure,
        closed_at,
        recorded: None,
        source: path.to_path_buf(),
    })
}

fn replay_session(
    o: Map<String, Value>,
    session_id: String,
    path: &Path,
) -> Result<Session, String> {
    let schedule = o
        .get("publishing")
        .and_then(|p| p.get("schedule"))
        .and_then(Value::as_object)
        .ok_or("`publishing.schedule` must be an object")?;
    let closed_at =
        time(schedule, "sessionClosedAt").map_err(|m| format!("publishing.schedule.{m}"))?;
    let world = o.get("worldDeltas").and_then(Value::as_object);
    let deltas = match world.and_then(|w| w.get("deltas")) {
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, d)| delta(d).map_err(|m| format!("worldDeltas.deltas[{i}]: {m}")))
            .collect::<Result<Vec<_>, _>>()?,
        // A trimmed list ("<trimmed>") leaves only the count.
        _ => Vec::new(),
    };
    let delta_count = world
        .and_then(|w| w.get("deltaCount"))
        .and_then(Value::as_u64)
        .unwrap_or(deltas.len() as u64);
    let mention_count = o
        .get("entityExtraction")
        .and_then(|e| e.get("mentionCount"))
        .and_then(Value::as_u64)
        .unwrap_or(0);
    Ok(Session {
        session_id,
        mode: Mode::Replay,
        closed_at,
        mention_count,
        delta_count,
        deltas,
        recorded: Some(o),
        source: path.to_path_buf(),
    })
}

fn delta(value: &Value) -> Result<Delta, String> {
    let o = value.as_object().ok_or("a delta must be a JSON object")?;
    let list = |k: &str| match o.get(k) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(a)) => Ok(a.clone()),
        Some(_) => Err(format!("`{k}` must be an array")),
    };
    let confidence = match o.get("confidence") {
        Some(Value::Number(n)) => n.as_f64().unwrap_or(0.0),
        _ => return Err("`confidence` must be a number between 0 and 1".into()),
    };
    Ok(Delta {
        delta_id: text(o, "deltaId")?,
        entity_id: text(o, "entityId")?,
        entity_type: text(o, "entityType").unwrap_or_else(|_| "unknown".into()),
        canonical_name: text(o, "canonicalName").unwrap_or_default(),
        confidence,
        capability_refs: list("capabilityRefs")?,
        conflicts: list("conflicts")?,
        before: o.get("before").cloned().unwrap_or(Value::Null),
        after: o.get("after").cloned().unwrap_or(Value::Null),
        raw: o.clone(),
    })
}

fn text(o: &Map<String, Value>, key: &str) -> Result<String, String> {
    match o.get(key) {
        Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
        _ => Err(format!("`{key}` must be a non-empty string")),
    }
}

fn time(o: &Map<String, Value>, key: &str) -> Result<f64, String> {
    match o.get(key) {
        Some(Value::String(s)) => parse_rfc3339_ms(s)
            .ok_or_else(|| format!("`{key}` `{s}` is not an RFC 3339 time (2025-11-05T06:15:00Z)")),
        Some(Value::Number(n)) => n.as_f64().ok_or_else(|| format!("`{key}` is not a time")),
        _ => Err(format!("`{key}` must be an RFC 3339 time")),
    }
}

/// Every session under `path` (a file or a directory), only `only` when given. A session that
/// appears twice is an error naming both files: which of them to trust is the user's call.
pub fn load(path: &Path, only: Option<&str>) -> Result<Vec<Session>, QaError> {
    let mut out: Vec<Session> = Vec::new();
    for file in files(path)? {
        for s in read_file(&file)? {
            if only.is_some_and(|id| id != s.session_id) {
                continue;
            }
            if let Some(first) = out.iter().find(|o| o.session_id == s.session_id) {
                return Err(QaError::Input {
                    path: file.clone(),
                    message: format!(
                        "session `{}` appears twice (also in {}); keep one, or pick one with --session",
                        s.session_id,
                        first.source.display()
                    ),
                });
            }
            out.push(s);
        }
    }
    if out.is_empty() {
        return Err(QaError::Input {
            path: path.to_path_buf(),
            message: match only {
                Some(id) => format!("no session `{id}` in it (check --session)"),
                None => "no sessions in it".into(),
            },
        });
    }
    Ok(out)
}
