//! Alerts: deduplicated by fingerprint, their states, and every change recorded on the stream
//! (one sequence with the events, SPEC §5). The rows live in the store; this module decides
//! what changes.
//!
//! Changes happen inside the writer's transaction ([`Tx`]): alerts raised by a batch's events
//! are durable together with those events, and an action (resolve, silence) is one more job on
//! the same writer, so there is never a second writer to race with.

pub(crate) mod budget;

use crate::view::{alert_changed, alert_json, AlertView};
use playtrace_core::alert::{alert_id, AlertCandidate};
use playtrace_store::{AlertRow, AlertState, Kind, StoreError, StoredEvent, Tx};
use serde_json::{Map, Value};

/// One alert change to stream after the commit.
#[derive(Debug, Clone)]
pub(crate) struct AlertChange {
    /// The stream row written for it.
    pub(crate) record: StoredEvent,
    /// The alert as JSON (what `GET /v1/alerts` shows).
    pub(crate) alert: Value,
}

/// Scope of the event that raised an alert.
pub(crate) struct Origin<'a> {
    pub(crate) game: Option<&'a str>,
    pub(crate) env: Option<&'a str>,
}

/// Raises an alert, or updates the one with the same fingerprint: a resolved alert fires again,
/// a silenced one stays silenced until its time is up. Every change is written to the stream.
pub(crate) fn raise(
    tx: &Tx<'_>,
    c: &AlertCandidate,
    origin: &Origin<'_>,
) -> Result<AlertChange, StoreError> {
    let now_ms = tx.recv_ms();
    let id = alert_id(&c.fingerprint);
    let existing = tx.alert_by_fingerprint(&c.fingerprint)?;
    let created = c.created_ms.map_or(now_ms, |m| m as i64);
    let (state, created_ms, silenced_until_ms, count) = match &existing {
        None => (AlertState::Firing, created, None, 1),
        Some(a) => {
            let count = serde_json::from_str::<Value>(&a.body)
                .ok()
                .and_then(|b| b["count"].as_u64())
                .unwrap_or(1)
                + 1;
            let silenced =
                a.state == AlertState::Silenced && a.silenced_until_ms.is_some_and(|u| u > now_ms);
            if silenced {
                (
                    AlertState::Silenced,
                    a.created_ms,
                    a.silenced_until_ms,
                    count,
                )
            } else if a.state == AlertState::Firing {
                (AlertState::Firing, a.created_ms, None, count)
            } else {
                // Resolved (or a silence that ran out): it fires again, as a new occurrence.
                (AlertState::Firing, created, None, count)
            }
        }
    };
    let alert = alert_json(&AlertView {
        id: &id,
        candidate: c,
        state,
        game: origin.game,
        env: origin.env,
        created_ms,
        updated_ms: now_ms,
        silenced_until_ms,
        count,
    });
    let body = alert.to_string();
    let category = c.category.as_str();
    tx.put_alert(&AlertRow {
        id,
        fingerprint: c.fingerprint.clone(),
        rule: c.rule.clone(),
        category: category.to_string(),
        severity: i64::from(c.severity.rank()),
        state,
        created_ms,
        updated_ms: now_ms,
        resolved_ms: None,
        silenced_until_ms,
        seeded: c.seeded,
        probe: c.probe,
        game: origin.game.map(str::to_string),
        env: origin.env.map(str::to_string),
        body: body.clone(),
    })?;
    let record = tx.append(
        Kind::Alert,
        &format!("alert.{category}"),
        origin.game,
        origin.env,
        body,
    )?;
    Ok(AlertChange { record, alert })
}

/// What an admin does to an alert.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum AlertAction {
    /// Mark resolved now.
    Resolve,
    /// Silence until `now + for_ms`.
    Silence { for_ms: f64 },
}

/// Applies an action to alert `id`; `None` when there is no such alert.
pub(crate) fn act(
    tx: &Tx<'_>,
    id: &str,
    action: &AlertAction,
) -> Result<Option<AlertChange>, StoreError> {
    let now_ms = tx.recv_ms();
    let Some(mut row) = tx.alert_by_id(id)? else {
        return Ok(None);
    };
    let mut alert: Value =
        serde_json::from_str(&row.body).unwrap_or_else(|_| Value::Object(Map::new()));
    let (state, resolved, until) = match action {
        AlertAction::Resolve => (AlertState::Resolved, Some(now_ms), None),
        AlertAction::Silence { for_ms } => {
            (AlertState::Silenced, None, Some(now_ms + *for_ms as i64))
        }
    };
    alert_changed(&mut alert, state, now_ms, resolved, until);
    row.state = state;
    row.updated_ms = now_ms;
    row.resolved_ms = resolved;
    row.silenced_until_ms = until;
    row.body = alert.to_string();
    tx.put_alert(&row)?;
    let record = tx.append(
        Kind::Alert,
        &format!("alert.{}", row.category),
        row.game.as_deref(),
        row.env.as_deref(),
        row.body,
    )?;
    Ok(Some(AlertChange { record, alert }))
}
