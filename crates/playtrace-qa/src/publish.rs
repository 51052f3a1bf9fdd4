//! Publishing a batch to object storage (filesystem or S3-compatible, through
//! playtrace-export's writers) so readers never see half of it: the objects go under a
//! versioned prefix `<session>/v<N>/`, and only when every one of them is written is the small
//! pointer object `<session>/current` replaced. A failed object leaves the pointer where it
//! was and marks the version `incomplete` in the state (a rerun rewrites that same version);
//! [`rollback`] points back to an earlier complete version.

use crate::bundles::safe;
use crate::state::State;
use crate::{iso, QaError};
use playtrace_export::{fan_out, Artifact, Status, WriteError, WriteFuture, Writer};
use rusqlite::{params, OptionalExtension};
use serde_json::{json, Value};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// Where batches are published: a writer and the spec it came from (`fs:DIR`,
/// `s3://BUCKET/PREFIX`).
#[derive(Clone)]
pub struct Target {
    /// The writer.
    pub writer: Arc<dyn Writer>,
    /// Its spec, recorded with the pointer so `qa rollback` can find it again.
    pub spec: String,
}

/// What publishing one session did.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Published {
    /// `published`, `unchanged`, `publish_failed`, `pointer_failed`.
    pub status: &'static str,
    /// The version written (or found unchanged).
    pub version: i64,
    /// Where the pointer now points.
    pub pointer: Option<i64>,
    /// Objects of the version.
    pub objects: usize,
    /// The first failure.
    pub error: Option<String>,
}

impl Published {
    /// Whether the batch is visible to readers.
    pub fn ok(&self) -> bool {
        matches!(self.status, "published" | "unchanged")
    }
}

/// Simulates a server that goes away in the middle of a batch: the first half of the writes
/// land, the rest (and the pointer) fail as a stopped server's would.
struct Outage {
    inner: Arc<dyn Writer>,
    allowed: usize,
    used: AtomicUsize,
}

impl Writer for Outage {
    fn id(&self) -> String {
        self.inner.id()
    }
    fn concurrency(&self) -> usize {
        self.inner.concurrency()
    }
    fn write<'a>(&'a self, artifact: &'a Artifact) -> WriteFuture<'a> {
        if self.used.fetch_add(1, Ordering::SeqCst) < self.allowed {
            self.inner.write(artifact)
        } else {
            Box::pin(async {
                Err(WriteError::Transient(
                    "simulated storage outage (--simulate-storage-outage): connection refused"
                        .into(),
                ))
            })
        }
    }
}

fn artifact(name: String, bytes: Vec<u8>, session: &str) -> Artifact {
    Artifact {
        name,
        media_type: "application/json".into(),
        bytes: Arc::new(bytes),
        kind: "qa".into(),
        context: json!({ "sessionId": session }),
    }
}

fn pointer_object(session: &str, version: i64, names: &[String], hash: &str, now: f64) -> Artifact {
    let key = safe(session);
    let body = json!({
        "sessionId": session,
        "version": version,
        "prefix": format!("{key}/v{version}/"),
        "objects": names,
        "contentHash": hash,
        "publishedAt": iso(now),
    });
    artifact(
        format!("{key}/current"),
        serde_json::to_vec_pretty(&body).unwrap_or_default(),
        session,
    )
}

/// A session's objects to publish: (name inside the version, bytes).
pub(crate) type Objects = Vec<(String, Vec<u8>)>;

/// One session's plan inside [`publish_many`].
struct Plan {
    session: String,
    objects: Objects,
    hash: String,
    names: Vec<String>,
    version: i64,
    pointer: Option<i64>,
    unchanged: bool,
}

fn db(state: &State) -> impl Fn(rusqlite::Error) -> QaError + '_ {
    move |e| state.err(e)
}

/// Publishes each session's objects (name inside the version, bytes) as its next version;
/// the results in the order given. Sessions are written concurrently, and the state records
/// each stage for all of them in one transaction: versions started, versions written whole
/// (or incomplete), pointers moved.
pub(crate) async fn publish_many(
    state: &mut State,
    target: Option<&Target>,
    batches: Vec<(String, Objects)>,
    outage: bool,
    now: f64,
) -> Result<Vec<Published>, QaError> {
    let mut plans = Vec::with_capacity(batches.len());
    for (session, objects) in batches {
        let mut hasher = xxhash_rust::xxh3::Xxh3::new();
        for (name, bytes) in &objects {
            hasher.update(name.as_bytes());
            hasher.update(&[0]);
            hasher.update(bytes);
        }
        let hash = format!("{:016x}", hasher.digest());
        let names: Vec<String> = objects.iter().map(|(n, _)| n.clone()).collect();
        let pointer = pointer_version(state, &session)?;
        let unchanged = version_hash(state, &session, pointer)?.is_some_and(|h| h == hash);
        let latest: Option<(i64, String, String)> = state
            .conn
            .query_row(
                "SELECT version, status, content_hash FROM publish_versions WHERE session_id = ?1
                 ORDER BY version DESC LIMIT 1",
                [&session],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()
            .map_err(db(state))?;
        let version = match (&latest, unchanged) {
            (_, true) => pointer.unwrap_or(1),
            (Some((v, status, h)), _) if *h == hash && status != "complete" => *v,
            (Some((v, _, _)), _) => v + 1,
            (None, _) => 1,
        };
        plans.push(Plan {
            session,
            objects,
            hash,
            names,
            version,
            pointer,
            unchanged,
        });
    }
    let mut results: Vec<Published> = plans
        .iter()
        .map(|p| Published {
            status: if p.unchanged {
                "unchanged"
            } else {
                "published"
            },
            version: p.version,
            pointer: if p.unchanged {
                p.pointer
            } else {
                Some(p.version)
            },
            objects: p.objects.len(),
            error: None,
        })
        .collect();
    {
        let tx = state.conn.unchecked_transaction().map_err(db(state))?;
        for p in plans.iter().filter(|p| !p.unchanged) {
            tx.execute(
                "INSERT OR REPLACE INTO publish_versions
                 (session_id, version, status, content_hash, objects, names, error, created_at_ms)
                 VALUES (?1, ?2, 'writing', ?3, ?4, ?5, NULL, ?6)",
                params![
                    p.session,
                    p.version,
                    p.hash,
                    p.objects.len() as i64,
                    serde_json::to_string(&p.names).unwrap_or_default(),
                    now as i64
                ],
            )
            .map_err(db(state))?;
            if target.is_none() {
                // No storage: the version and pointer are kept in the state only.
                set_pointer(&tx, &p.session, p.version, None, now).map_err(db(state))?;
            }
        }
        tx.commit().map_err(db(state))?;
    }
    let Some(target) = target else {
        return Ok(results);
    };
    // Every session's objects, sessions concurrently.
    let mut writers: Vec<Option<Arc<dyn Writer>>> = vec![None; plans.len()];
    let mut set = tokio::task::JoinSet::new();
    for (i, p) in plans.iter_mut().enumerate().filter(|(_, p)| !p.unchanged) {
        let writer: Arc<dyn Writer> = if outage {
            Arc::new(Outage {
                inner: target.writer.clone(),
                allowed: p.objects.len() / 2,
                used: AtomicUsize::new(0),
            })
        } else {
            target.writer.clone()
        };
        writers[i] = Some(writer.clone());
        let key = safe(&p.session);
        let artifacts: Vec<Artifact> = std::mem::take(&mut p.objects)
            .into_iter()
            .map(|(name, bytes)| {
                artifact(format!("{key}/v{}/{name}", p.version), bytes, &p.session)
            })
            .collect();
        set.spawn(async move {
            let result = fan_out(&artifacts, std::slice::from_ref(&writer)).await;
            let failure = result
                .outcomes
                .iter()
                .find(|o| o.status != Status::Written)
                .map(|o| format!("{}: {}", o.artifact, o.error.clone().unwrap_or_default()));
            (i, failure)
        });
    }
    let mut failures: Vec<Option<String>> = vec![None; plans.len()];
    while let Some(joined) = set.join_next().await {
        match joined {
            Ok((i, failure)) => failures[i] = failure,
            Err(e) => tracing::error!("a publishing task failed: {e}"),
        }
    }
    {
        let tx = state.conn.unchecked_transaction().map_err(db(state))?;
        for (i, p) in plans.iter().enumerate().filter(|(_, p)| !p.unchanged) {
            let (status, error) = match &failures[i] {
                Some(e) => ("incomplete", Some(e.as_str())),
                None => ("written", None),
            };
            mark(&tx, &p.session, p.version, status, error).map_err(db(state))?;
            if let Some(e) = &failures[i] {
                results[i] = Published {
                    status: "publish_failed",
                    version: p.version,
                    pointer: p.pointer,
                    objects: p.names.len(),
                    error: Some(e.clone()),
                };
            }
        }
        tx.commit().map_err(db(state))?;
    }
    // The pointers of the versions written whole.
    let mut set = tokio::task::JoinSet::new();
    for (i, p) in plans.iter().enumerate() {
        if p.unchanged || failures[i].is_some() {
            continue;
        }
        let Some(writer) = writers[i].clone() else {
            continue;
        };
        let pointer = pointer_object(&p.session, p.version, &p.names, &p.hash, now);
        set.spawn(async move {
            let result = writer.write(&pointer).await;
            (
                i,
                result.map_err(|e| format!("the pointer {}: {e}", pointer.name)),
            )
        });
    }
    let mut moved = Vec::new();
    let mut pointer_errors = Vec::new();
    while let Some(joined) = set.join_next().await {
        match joined {
            Ok((i, Ok(_))) => moved.push(i),
            Ok((i, Err(e))) => pointer_errors.push((i, e)),
            Err(e) => tracing::error!("a pointer task failed: {e}"),
        }
    }
    let tx = state.conn.unchecked_transaction().map_err(db(state))?;
    for i in moved {
        let p = &plans[i];
        set_pointer(&tx, &p.session, p.version, Some(&target.spec), now).map_err(db(state))?;
    }
    for (i, error) in pointer_errors {
        let p = &plans[i];
        mark(&tx, &p.session, p.version, "written", Some(&error)).map_err(db(state))?;
        results[i] = Published {
            status: "pointer_failed",
            version: p.version,
            pointer: p.pointer,
            objects: p.names.len(),
            error: Some(error),
        };
    }
    tx.commit().map_err(db(state))?;
    Ok(results)
}

fn mark(
    tx: &rusqlite::Connection,
    session: &str,
    version: i64,
    status: &str,
    error: Option<&str>,
) -> rusqlite::Result<()> {
    tx.execute(
        "UPDATE publish_versions SET status = ?3, error = ?4 WHERE session_id = ?1 AND version = ?2",
        params![session, version, status, error],
    )
    .map(|_| ())
}

/// Moves the pointer to a version and marks the version complete (inside the caller's
/// transaction).
fn set_pointer(
    tx: &rusqlite::Connection,
    session: &str,
    version: i64,
    target: Option<&str>,
    now: f64,
) -> rusqlite::Result<()> {
    tx.execute(
        "INSERT INTO pointers (session_id, version, target, updated_at_ms) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (session_id) DO UPDATE SET version = excluded.version,
             target = COALESCE(excluded.target, pointers.target), updated_at_ms = excluded.updated_at_ms",
        params![session, version, target, now as i64],
    )?;
    tx.execute(
        "UPDATE publish_versions SET status = 'complete', error = NULL WHERE session_id = ?1 AND version = ?2",
        params![session, version],
    )?;
    Ok(())
}

/// The version the session's pointer names.
pub(crate) fn pointer_version(state: &State, session: &str) -> Result<Option<i64>, QaError> {
    state
        .conn
        .query_row(
            "SELECT version FROM pointers WHERE session_id = ?1",
            [session],
            |r| r.get(0),
        )
        .optional()
        .map_err(|e| state.err(e))
}

fn version_hash(
    state: &State,
    session: &str,
    version: Option<i64>,
) -> Result<Option<String>, QaError> {
    let Some(version) = version else {
        return Ok(None);
    };
    state
        .conn
        .query_row(
            "SELECT content_hash FROM publish_versions WHERE session_id = ?1 AND version = ?2 AND status = 'complete'",
            params![session, version],
            |r| r.get(0),
        )
        .optional()
        .map_err(|e| state.err(e))
}

/// Every version of a session: `{version, status, objects, error}`, oldest first.
pub(crate) fn versions(state: &State, session: &str) -> Result<Vec<Value>, QaError> {
    let mut stmt = state
        .conn
        .prepare(
            "SELECT version, status, objects, error FROM publish_versions WHERE session_id = ?1 ORDER BY version",
        )
        .map_err(|e| state.err(e))?;
    let rows = stmt
        .query_map([session], |r| {
            Ok(json!({
                "version": r.get::<_, i64>(0)?,
                "status": r.get::<_, String>(1)?,
                "objects": r.get::<_, i64>(2)?,
                "error": r.get::<_, Option<String>>(3)?,
            }))
        })
        .map_err(|e| state.err(e))?;
    rows.collect::<Result<Vec<_>, _>>()
        .map_err(|e| state.err(e))
}

/// What [`rollback`] did.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RollbackResult {
    /// The session.
    pub session_id: String,
    /// The version the pointer named before.
    pub from: Option<i64>,
    /// The version it names now.
    pub to: i64,
    /// The storage the pointer lives in.
    pub target: Option<String>,
    /// The search index brought back to the restored version.
    pub reindexed: crate::reindex::Reindexed,
}

/// Points a session's `current` back to version `to` (default: the newest complete version
/// before the current one) and brings the search index back to that version's documents
/// (`index`: default `<state>/search.db`). `make_target` builds the writer from the recorded spec when no
/// target is given.
pub fn rollback(
    state_dir: &Path,
    session: &str,
    to: Option<i64>,
    target: Option<Target>,
    make_target: impl FnOnce(&str) -> Result<Target, String>,
    index: Option<&Path>,
    now: f64,
) -> Result<RollbackResult, QaError> {
    let mut state = State::open(state_dir)?;
    let current = pointer_version(&state, session)?;
    let Some(current) = current else {
        return Err(QaError::Usage(format!(
            "session `{session}` has no published version in --state {}; publish it with `playtrace qa` first",
            state_dir.display()
        )));
    };
    let complete: Vec<i64> = {
        let mut stmt = state
            .conn
            .prepare("SELECT version FROM publish_versions WHERE session_id = ?1 AND status = 'complete' ORDER BY version")
            .map_err(|e| state.err(e))?;
        let rows = stmt
            .query_map([session], |r| r.get(0))
            .map_err(|e| state.err(e))?;
        rows.collect::<Result<Vec<_>, _>>()
            .map_err(|e| state.err(e))?
    };
    let to = match to {
        Some(v) if complete.contains(&v) => v,
        Some(v) => {
            return Err(QaError::Usage(format!(
                "session `{session}` has no complete version {v}; complete versions: {complete:?}"
            )))
        }
        None => *complete
            .iter()
            .rev()
            .find(|v| **v < current)
            .ok_or_else(|| {
                QaError::Usage(format!(
                    "session `{session}` has no complete version before v{current}; pass --to VERSION"
                ))
            })?,
    };
    let (hash, names, spec): (String, String, Option<String>) = state
        .conn
        .query_row(
            "SELECT v.content_hash, v.names, p.target FROM publish_versions v JOIN pointers p ON p.session_id = v.session_id
             WHERE v.session_id = ?1 AND v.version = ?2",
            params![session, to],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .map_err(|e| state.err(e))?;
    let target = match (target, &spec) {
        (Some(t), _) => Some(t),
        (None, Some(spec)) => Some(make_target(spec).map_err(QaError::Usage)?),
        (None, None) => None,
    };
    if let Some(target) = &target {
        let names: Vec<String> = serde_json::from_str(&names).unwrap_or_default();
        let pointer = pointer_object(session, to, &names, &hash, now);
        let runtime = crate::runtime()?;
        runtime
            .block_on(target.writer.write(&pointer))
            .map_err(|e| QaError::Usage(format!(
                "cannot write the pointer {} to {}: {e}; the pointer is unchanged, retry when the storage answers",
                pointer.name, target.spec
            )))?;
    }
    {
        let tx = state.conn.unchecked_transaction().map_err(db(&state))?;
        set_pointer(
            &tx,
            session,
            to,
            target.as_ref().map(|t| t.spec.as_str()),
            now,
        )
        .map_err(db(&state))?;
        tx.commit().map_err(db(&state))?;
    }
    let reindexed = crate::reindex::resync(&mut state, index, session, current, to, now)?;
    Ok(RollbackResult {
        session_id: session.to_string(),
        from: Some(current),
        to,
        target: target.map(|t| t.spec).or(spec),
        reindexed,
    })
}
