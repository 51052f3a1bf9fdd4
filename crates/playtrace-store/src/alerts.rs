//! The alerts table: one row per fingerprint, its state, and the JSON the API shows (shaped by
//! the collector, kept here as text). Changes are written inside the writer's transaction
//! ([`crate::Tx`]); reads go through the [`crate::Reader`].

use playtrace_core::alert::AlertState;
use rusqlite::{params, OptionalExtension, Row};

/// One stored alert.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertRow {
    /// Stable id derived from the fingerprint.
    pub id: String,
    /// What makes two raises the same alert.
    pub fingerprint: String,
    /// The rule that raised it.
    pub rule: String,
    /// `moderation`, `budget` or `pipeline`.
    pub category: String,
    /// Severity rank (higher is more severe), for `min_severity` filters.
    pub severity: i64,
    /// Where it stands.
    pub state: AlertState,
    /// When this occurrence was created, epoch ms.
    pub created_ms: i64,
    /// Last change, epoch ms.
    pub updated_ms: i64,
    /// When it was resolved.
    pub resolved_ms: Option<i64>,
    /// Silenced until then.
    pub silenced_until_ms: Option<i64>,
    /// Raised by seeded test data.
    pub seeded: bool,
    /// Raised by a verification probe.
    pub probe: bool,
    /// Game of the event that raised it.
    pub game: Option<String>,
    /// Environment of the event that raised it.
    pub env: Option<String>,
    /// The alert's JSON as the API shows it.
    pub body: String,
}

const ALERT_COLUMNS: &str = "id, fingerprint, rule, category, severity, state, created_ms, \
     updated_ms, resolved_ms, silenced_until_ms, seeded, probe, game, env, body";

fn alert_row(r: &Row<'_>) -> rusqlite::Result<AlertRow> {
    let state: String = r.get(5)?;
    Ok(AlertRow {
        id: r.get(0)?,
        fingerprint: r.get(1)?,
        rule: r.get(2)?,
        category: r.get(3)?,
        severity: r.get(4)?,
        // Unknown states (a newer release's) read as firing: shown rather than hidden.
        state: AlertState::parse(&state).unwrap_or(AlertState::Firing),
        created_ms: r.get(6)?,
        updated_ms: r.get(7)?,
        resolved_ms: r.get(8)?,
        silenced_until_ms: r.get(9)?,
        seeded: r.get(10)?,
        probe: r.get(11)?,
        game: r.get(12)?,
        env: r.get(13)?,
        body: r.get(14)?,
    })
}

pub(crate) fn by_fingerprint(
    conn: &rusqlite::Connection,
    fingerprint: &str,
) -> rusqlite::Result<Option<AlertRow>> {
    conn.prepare_cached(&format!(
        "SELECT {ALERT_COLUMNS} FROM alerts WHERE fingerprint = ?1"
    ))?
    .query_row([fingerprint], alert_row)
    .optional()
}

pub(crate) fn by_id(conn: &rusqlite::Connection, id: &str) -> rusqlite::Result<Option<AlertRow>> {
    conn.prepare_cached(&format!("SELECT {ALERT_COLUMNS} FROM alerts WHERE id = ?1"))?
        .query_row([id], alert_row)
        .optional()
}

/// Inserts the alert, or replaces the one with its fingerprint (keeping its id).
pub(crate) fn upsert(conn: &rusqlite::Connection, a: &AlertRow) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO alerts (id, fingerprint, rule, category, severity, state, created_ms,
             updated_ms, resolved_ms, silenced_until_ms, seeded, probe, game, env, body)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)
         ON CONFLICT (fingerprint) DO UPDATE SET
             severity = excluded.severity, state = excluded.state,
             created_ms = excluded.created_ms, updated_ms = excluded.updated_ms,
             resolved_ms = excluded.resolved_ms, silenced_until_ms = excluded.silenced_until_ms,
             seeded = excluded.seeded, probe = excluded.probe, body = excluded.body",
    )?
    .execute(params![
        a.id,
        a.fingerprint,
        a.rule,
        a.category,
        a.severity,
        a.state.as_str(),
        a.created_ms,
        a.updated_ms,
        a.resolved_ms,
        a.silenced_until_ms,
        a.seeded,
        a.probe,
        a.game,
        a.env,
        a.body
    ])?;
    Ok(())
}

/// Which alerts a listing holds.
#[derive(Debug, Clone, Default)]
pub struct AlertQuery {
    /// Only alerts in this state.
    pub state: Option<AlertState>,
    /// At least this severity rank.
    pub min_severity: Option<i64>,
    /// Only this category.
    pub category: Option<String>,
    /// Updated at or after this (epoch ms).
    pub since_ms: Option<i64>,
    /// Only this game.
    pub game: Option<String>,
    /// Only this environment.
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

/// The alerts' JSON bodies, newest first.
pub(crate) fn list(conn: &rusqlite::Connection, q: &AlertQuery) -> rusqlite::Result<Vec<String>> {
    let mut sql = String::from("SELECT body FROM alerts WHERE 1 = 1");
    let mut binds: Vec<Box<dyn rusqlite::ToSql>> = Vec::new();
    let mut add = |clause: &str, v: Box<dyn rusqlite::ToSql>| {
        sql.push_str(clause);
        binds.push(v);
    };
    if let Some(s) = q.state {
        add(" AND state = ?", Box::new(s.as_str()));
    }
    if let Some(s) = q.min_severity {
        add(" AND severity >= ?", Box::new(s));
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
    rows.collect()
}

/// How many alerts there are per state, category and severity rank (seeded and probe alerts
/// left out): the `playtrace_alerts` gauges.
pub(crate) fn counts(conn: &rusqlite::Connection) -> rusqlite::Result<Vec<AlertCount>> {
    let mut stmt = conn.prepare_cached(
        "SELECT state, category, severity, count(*) FROM alerts WHERE seeded = 0 AND probe = 0
         GROUP BY state, category, severity ORDER BY state, category, severity",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok(AlertCount {
            state: r.get(0)?,
            category: r.get(1)?,
            severity: r.get(2)?,
            count: r.get::<_, i64>(3)?.max(0) as u64,
        })
    })?;
    rows.collect()
}

/// One row of [`counts`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertCount {
    /// `firing`, `resolved` or `silenced`.
    pub state: String,
    /// The alert category.
    pub category: String,
    /// Severity rank (0 = info).
    pub severity: i64,
    /// Number of alerts.
    pub count: u64,
}

/// Fingerprints of the alerts of `category` that are firing (budget alerts after a restart).
pub(crate) fn firing(conn: &rusqlite::Connection, category: &str) -> rusqlite::Result<Vec<String>> {
    let mut stmt = conn.prepare_cached(
        "SELECT fingerprint FROM alerts WHERE category = ?1 AND state = ?2 ORDER BY fingerprint",
    )?;
    let rows = stmt.query_map(params![category, AlertState::Firing.as_str()], |r| {
        r.get::<_, String>(0)
    })?;
    rows.collect()
}

/// Alerts in `state`, oldest update first (a new silence looks at the firing ones).
pub(crate) fn in_state(
    conn: &rusqlite::Connection,
    state: AlertState,
) -> rusqlite::Result<Vec<AlertRow>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {ALERT_COLUMNS} FROM alerts WHERE state = ?1 ORDER BY updated_ms"
    ))?;
    let rows = stmt.query_map([state.as_str()], alert_row)?;
    rows.collect()
}

/// Alerts whose state is due to change by time alone at `now_ms`: silenced ones whose silence
/// ended, and firing `moderation` alerts not raised again since `quiet_before_ms` (which
/// resolve themselves). At most 500 at a time.
pub(crate) fn due(
    conn: &rusqlite::Connection,
    now_ms: i64,
    quiet_before_ms: i64,
) -> rusqlite::Result<Vec<AlertRow>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {ALERT_COLUMNS} FROM alerts
         WHERE (state = ?1 AND coalesce(silenced_until_ms, 0) <= ?2)
            OR (state = ?3 AND category = 'moderation' AND updated_ms < ?4)
         ORDER BY updated_ms LIMIT 500"
    ))?;
    let rows = stmt.query_map(
        params![
            AlertState::Silenced.as_str(),
            now_ms,
            AlertState::Firing.as_str(),
            quiet_before_ms
        ],
        alert_row,
    )?;
    rows.collect()
}
