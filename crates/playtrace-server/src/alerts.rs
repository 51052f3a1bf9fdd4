//! The alert store: alerts deduplicated by fingerprint, their states, and every change recorded
//! on the stream (one sequence with the events, SPEC §5).
//!
//! Changes happen inside the writer's transaction: alerts raised by a batch's events are durable
//! together with those events, and an action (resolve, silence) is one more job on the same
//! writer, so there is never a second writer to race with.

use playtrace_core::alert::{alert_id, AlertCandidate, Severity};
use playtrace_core::time::format_rfc3339_ms;
use playtrace_store::{insert_stream_row, KIND_ALERT};
use rusqlite::{params, OptionalExtension, Transaction};
use serde_json::{json, Map, Value};

/// One change to stream after the commit.
#[derive(Debug, Clone)]
pub struct AlertChange {
    /// Stream sequence number.
    pub seq: i64,
    /// The alert as JSON (what `GET /v1/alerts` shows).
    pub alert: Value,
}

/// Scope of the event that raised an alert.
pub struct Origin<'a> {
    /// Game.
    pub game: Option<&'a str>,
    /// Environment.
    pub env: Option<&'a str>,
}

fn ms_text(ms: Option<i64>) -> Value {
    ms.and_then(|m| format_rfc3339_ms(m as f64))
        .map_or(Value::Null, Value::String)
}

/// Builds the alert's JSON from its stored parts.
#[allow(clippy::too_many_arguments)]
fn alert_json(
    id: &str,
    fingerprint: &str,
    c: &AlertCandidate,
    state: &str,
    origin: &Origin<'_>,
    created_ms: i64,
    updated_ms: i64,
    resolved_ms: Option<i64>,
    silenced_until_ms: Option<i64>,
    count: u64,
) -> Value {
    json!({
        "id": id,
        "fingerprint": fingerprint,
        "rule": c.rule,
        "category": c.category.as_str(),
        "severity": c.severity.as_str(),
        "reason": c.reason,
        "state": state,
        "game": origin.game,
        "env": origin.env,
        "sessionId": c.session_id,
        "createdAt": ms_text(Some(created_ms)),
        "updatedAt": ms_text(Some(updated_ms)),
        "resolvedAt": ms_text(resolved_ms),
        "silencedUntil": ms_text(silenced_until_ms),
        "seeded": c.seeded,
        "probe": c.probe,
        "count": count,
        "data": Value::Object(c.data.clone()),
    })
}

/// Raises an alert, or updates the one with the same fingerprint: a resolved alert fires again,
/// a silenced one stays silenced until its time is up. Every change is written to the stream.
pub fn raise(
    tx: &Transaction<'_>,
    c: &AlertCandidate,
    origin: &Origin<'_>,
    now_ms: i64,
) -> rusqlite::Result<AlertChange> {
    let id = alert_id(&c.fingerprint);
    let existing: Option<(String, i64, Option<i64>, String)> = tx
        .prepare_cached(
            "SELECT state, created_ms, silenced_until_ms, body FROM alerts WHERE fingerprint = ?1",
        )?
        .query_row([&c.fingerprint], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })
        .optional()?;
    let created = c.created_ms.map_or(now_ms, |m| m as i64);
    let (state, created_ms, silenced_until, count) = match &existing {
        None => ("firing", created, None, 1),
        Some((state, created_ms, until, body)) => {
            let count = serde_json::from_str::<Value>(body)
                .ok()
                .and_then(|b| b["count"].as_u64())
                .unwrap_or(1)
                + 1;
            let silenced = state == "silenced" && until.is_some_and(|u| u > now_ms);
            if silenced {
                ("silenced", *created_ms, *until, count)
            } else if state == "firing" {
                ("firing", *created_ms, None, count)
            } else {
                // Resolved (or a silence that ran out): it fires again, as a new occurrence.
                ("firing", created, None, count)
            }
        }
    };
    let body = alert_json(
        &id,
        &c.fingerprint,
        c,
        state,
        origin,
        created_ms,
        now_ms,
        None,
        silenced_until,
        count,
    );
    let text = body.to_string();
    tx.prepare_cached(
        "INSERT INTO alerts (id, fingerprint, rule, category, severity, state, created_ms,
             updated_ms, resolved_ms, silenced_until_ms, seeded, probe, game, env, body)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, NULL, ?9, ?10, ?11, ?12, ?13, ?14)
         ON CONFLICT (fingerprint) DO UPDATE SET
             severity = excluded.severity, state = excluded.state,
             created_ms = excluded.created_ms, updated_ms = excluded.updated_ms,
             resolved_ms = NULL, silenced_until_ms = excluded.silenced_until_ms,
             seeded = excluded.seeded, probe = excluded.probe, body = excluded.body",
    )?
    .execute(params![
        id,
        c.fingerprint,
        c.rule,
        c.category.as_str(),
        c.severity.rank(),
        state,
        created_ms,
        now_ms,
        silenced_until,
        c.seeded,
        c.probe,
        origin.game,
        origin.env,
        text
    ])?;
    let seq = insert_stream_row(
        tx,
        now_ms,
        KIND_ALERT,
        &format!("alert.{}", c.category.as_str()),
        origin.game,
        origin.env,
        &text,
    )?;
    Ok(AlertChange { seq, alert: body })
}

/// What an admin does to an alert.
#[derive(Debug, Clone, PartialEq)]
pub enum AlertAction {
    /// Mark resolved now.
    Resolve,
    /// Silence until `now + for_ms`.
    Silence {
        /// For how long, ms.
        for_ms: f64,
    },
}

/// Applies an action to alert `id`; `None` when there is no such alert.
pub fn act(
    tx: &Transaction<'_>,
    id: &str,
    action: &AlertAction,
    now_ms: i64,
) -> rusqlite::Result<Option<AlertChange>> {
    let row: Option<(String, Option<String>, Option<String>)> = tx
        .query_row(
            "SELECT body, game, env FROM alerts WHERE id = ?1",
            [id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?;
    let Some((body, game, env)) = row else {
        return Ok(None);
    };
    let mut alert: Value =
        serde_json::from_str(&body).unwrap_or_else(|_| Value::Object(Map::new()));
    let (state, resolved, until) = match action {
        AlertAction::Resolve => ("resolved", Some(now_ms), None),
        AlertAction::Silence { for_ms } => ("silenced", None, Some(now_ms + *for_ms as i64)),
    };
    if let Some(o) = alert.as_object_mut() {
        o.insert("state".into(), json!(state));
        o.insert("updatedAt".into(), ms_text(Some(now_ms)));
        o.insert("resolvedAt".into(), ms_text(resolved));
        o.insert("silencedUntil".into(), ms_text(until));
    }
    let text = alert.to_string();
    tx.execute(
        "UPDATE alerts SET state = ?2, updated_ms = ?3, resolved_ms = ?4, silenced_until_ms = ?5,
             body = ?6 WHERE id = ?1",
        params![id, state, now_ms, resolved, until, text],
    )?;
    let category = alert["category"]
        .as_str()
        .unwrap_or("moderation")
        .to_string();
    let seq = insert_stream_row(
        tx,
        now_ms,
        KIND_ALERT,
        &format!("alert.{category}"),
        game.as_deref(),
        env.as_deref(),
        &text,
    )?;
    Ok(Some(AlertChange { seq, alert }))
}

/// Which alerts `GET /v1/alerts` lists.
#[derive(Debug, Clone, Default)]
pub struct AlertQuery {
    /// firing, resolved or silenced.
    pub state: Option<String>,
    /// At least this severe.
    pub min_severity: Option<Severity>,
    /// moderation, budget or pipeline.
    pub category: Option<String>,
    /// Updated at or after this (epoch ms).
    pub since_ms: Option<i64>,
    /// Game.
    pub game: Option<String>,
    /// Environment.
    pub env: Option<String>,
    /// Include alerts caused by verification probes.
    pub include_probes: bool,
    /// Include seeded alerts.
    pub include_seeded: bool,
    /// At most this many.
    pub limit: usize,
    /// Newest created first (for `latest`) instead of newest updated first.
    pub by_created: bool,
}

/// Lists alerts, newest first.
pub fn list(conn: &rusqlite::Connection, q: &AlertQuery) -> rusqlite::Result<Vec<Value>> {
    let mut sql = String::from("SELECT body FROM alerts WHERE 1 = 1");
    let mut binds: Vec<Box<dyn rusqlite::ToSql>> = Vec::new();
    let mut add = |clause: &str, v: Box<dyn rusqlite::ToSql>| {
        sql.push_str(clause);
        binds.push(v);
    };
    if let Some(s) = &q.state {
        add(" AND state = ?", Box::new(s.clone()));
    }
    if let Some(s) = q.min_severity {
        add(" AND severity >= ?", Box::new(s.rank()));
    }
    if let Some(c) = &q.category {
        add(" AND category = ?", Box::new(c.clone()));
    }
    if let Some(ms) = q.since_ms {
        add(" AND updated_ms >= ?", Box::new(ms));
    }
    if let Some(g) = &q.game {
        add(" AND game = ?", Box::new(g.clone()));
    }
    if let Some(e) = &q.env {
        add(" AND env = ?", Box::new(e.clone()));
    }
    if !q.include_probes {
        sql.push_str(" AND probe = 0");
    }
    if !q.include_seeded {
        sql.push_str(" AND seeded = 0");
    }
    sql.push_str(if q.by_created {
        " ORDER BY created_ms DESC, updated_ms DESC LIMIT ?"
    } else {
        " ORDER BY updated_ms DESC, created_ms DESC LIMIT ?"
    });
    binds.push(Box::new(q.limit as i64));
    let mut stmt = conn.prepare(&sql)?;
    let rows = stmt.query_map(rusqlite::params_from_iter(binds.iter()), |r| {
        r.get::<_, String>(0)
    })?;
    rows.map(|r| r.map(|text| serde_json::from_str(&text).unwrap_or(Value::Null)))
        .collect()
}
