//! Alerts: deduplicated by fingerprint, their states, and every change recorded on the stream
//! (one sequence with the events, SPEC §5). The rows live in the store; this module decides
//! what changes.
//!
//! Changes happen inside the writer's transaction ([`Tx`]): alerts raised by a batch's events
//! are durable together with those events, and an action (resolve, silence) is one more job on
//! the same writer, so there is never a second writer to race with.

pub(crate) mod budget;
pub(crate) mod drift;
pub(crate) mod lifecycle;
pub(crate) mod silence;

use crate::view::{alert_changed, alert_json, AlertView};
use playtrace_core::alert::{alert_id, AlertCandidate};
use playtrace_store::{AlertRow, AlertState, Kind, StoreError, StoredEvent, Tx};
use serde_json::{Map, Value};
use silence::covering;

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
    /// The stored event that raised it (its sequence number), when an event did.
    pub(crate) event_seq: Option<i64>,
}

/// The acknowledgement fields, kept while an occurrence lasts.
const ACK_FIELDS: [&str; 3] = ["acknowledgedBy", "acknowledgedAt", "ackComment"];

/// Raises an alert, or updates the one with the same fingerprint: a resolved alert fires again,
/// a silenced one stays silenced until its time is up, and one that would fire while an active
/// silence covers it is silenced instead. Every change is written to the stream.
pub(crate) fn raise(
    tx: &Tx<'_>,
    c: &AlertCandidate,
    origin: &Origin<'_>,
) -> Result<AlertChange, StoreError> {
    let now_ms = tx.recv_ms();
    let id = alert_id(&c.fingerprint);
    let existing = tx.alert_by_fingerprint(&c.fingerprint)?;
    let created = c.created_ms.map_or(now_ms, |m| m as i64);
    let before: Option<Value> = existing
        .as_ref()
        .and_then(|a| serde_json::from_str(&a.body).ok());
    let (mut state, created_ms, mut silenced_until_ms, count, same_occurrence) = match &existing {
        None => (AlertState::Firing, created, None, 1, false),
        Some(a) => {
            let count = before
                .as_ref()
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
                    true,
                )
            } else if a.state == AlertState::Firing {
                (AlertState::Firing, a.created_ms, None, count, true)
            } else {
                // Resolved (or a silence that ran out): it fires again, as a new occurrence.
                (AlertState::Firing, created, None, count, false)
            }
        }
    };
    let mut alert = alert_json(&AlertView {
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
    if let (true, Some(b), Some(o)) = (same_occurrence, &before, alert.as_object_mut()) {
        for k in ACK_FIELDS.iter().chain(&["silencedBy"]) {
            if let Some(v) = b.get(*k).filter(|v| !v.is_null()) {
                o.insert((*k).to_string(), v.clone());
            }
        }
    }
    if let (Some(seq), Some(o)) = (origin.event_seq, alert.as_object_mut()) {
        o.insert("eventSeq".into(), Value::from(seq));
    }
    if state == AlertState::Firing {
        let active = tx.active_silences()?;
        if let Some(s) = covering(&active, &alert) {
            state = AlertState::Silenced;
            silenced_until_ms = Some(s.ends_ms);
            alert_changed(&mut alert, state, now_ms, None, silenced_until_ms);
            alert["silencedBy"] = Value::String(s.id.clone());
        }
    }
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
    /// Acknowledge: someone is on it. A field of the alert, not a state.
    Ack { by: String, comment: String },
}

/// Writes `row` with `alert` as its new JSON and records the change on the stream.
pub(crate) fn store_change(
    tx: &Tx<'_>,
    mut row: AlertRow,
    alert: Value,
) -> Result<AlertChange, StoreError> {
    row.body = alert.to_string();
    tx.put_alert(&row)?;
    let record = tx.append(
        Kind::Alert,
        &format!("alert.{}", row.category),
        row.game.as_deref(),
        row.env.as_deref(),
        row.body,
    )?;
    Ok(AlertChange { record, alert })
}

/// Moves `row` (whose JSON is `alert`) to `state`, recording the change.
pub(crate) fn set_state(
    tx: &Tx<'_>,
    mut row: AlertRow,
    mut alert: Value,
    state: AlertState,
    silenced_until_ms: Option<i64>,
) -> Result<AlertChange, StoreError> {
    let now_ms = tx.recv_ms();
    let resolved = (state == AlertState::Resolved).then_some(now_ms);
    alert_changed(&mut alert, state, now_ms, resolved, silenced_until_ms);
    if state != AlertState::Silenced {
        if let Some(o) = alert.as_object_mut() {
            o.remove("silencedBy");
        }
    }
    row.state = state;
    row.updated_ms = now_ms;
    row.resolved_ms = resolved;
    row.silenced_until_ms = silenced_until_ms;
    store_change(tx, row, alert)
}

/// Applies an action to alert `id`; `None` when there is no such alert.
pub(crate) fn act(
    tx: &Tx<'_>,
    id: &str,
    action: &AlertAction,
) -> Result<Option<AlertChange>, StoreError> {
    let now_ms = tx.recv_ms();
    let Some(row) = tx.alert_by_id(id)? else {
        return Ok(None);
    };
    let mut alert: Value =
        serde_json::from_str(&row.body).unwrap_or_else(|_| Value::Object(Map::new()));
    let change = match action {
        AlertAction::Resolve => set_state(tx, row, alert, AlertState::Resolved, None)?,
        AlertAction::Silence { for_ms } => {
            let until = Some(now_ms + *for_ms as i64);
            set_state(tx, row, alert, AlertState::Silenced, until)?
        }
        AlertAction::Ack { by, comment } => {
            alert["acknowledgedBy"] = Value::String(by.clone());
            alert["acknowledgedAt"] = crate::view::ms_text(Some(now_ms));
            alert["ackComment"] = Value::String(comment.clone());
            alert["updatedAt"] = crate::view::ms_text(Some(now_ms));
            let mut row = row;
            row.updated_ms = now_ms;
            store_change(tx, row, alert)?
        }
    };
    Ok(Some(change))
}
