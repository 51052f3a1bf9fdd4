//! Alert changes that are not one alert's action: a silence made (the firing alerts it covers
//! become silenced), a silence ended early (its alerts fire again unless another silence covers
//! them), and the changes time alone brings (silences that ran out; moderation alerts quiet for
//! `alerts.resolve_after`, which resolve themselves). Each runs as one job on the writer.

use crate::alerting::silence::{covering, matchers_of, matches, silence_json};
use crate::alerting::{set_state, AlertChange};
use playtrace_store::{AlertRow, AlertState, SilenceRow, StoreError, Tx};
use serde_json::Value;

/// A lifecycle job.
#[derive(Debug, Clone)]
pub(crate) enum LifecycleOp {
    /// Store this silence and silence the firing alerts it covers.
    AddSilence(SilenceRow),
    /// End the silence with this id now.
    Unsilence(String),
    /// Apply what time changed: quiet moderation alerts (not updated since `quiet_before_ms`)
    /// resolve, alerts whose silence ended fire again.
    Maintain { quiet_before_ms: i64 },
}

fn body(row: &AlertRow) -> Value {
    serde_json::from_str(&row.body).unwrap_or(Value::Null)
}

/// Runs `op`; the JSON to answer with (`None`: no such silence) and the alert changes.
pub(crate) fn run(
    tx: &Tx<'_>,
    op: &LifecycleOp,
) -> Result<(Option<Value>, Vec<AlertChange>), StoreError> {
    let now_ms = tx.recv_ms();
    let mut changes = Vec::new();
    match op {
        LifecycleOp::AddSilence(silence) => {
            tx.put_silence(silence)?;
            let m = matchers_of(silence);
            if silence.starts_ms <= now_ms && silence.ends_ms > now_ms {
                for row in tx.alerts_in_state(AlertState::Firing)? {
                    let mut alert = body(&row);
                    if matches(&m, &alert) {
                        alert["silencedBy"] = Value::String(silence.id.clone());
                        let until = Some(silence.ends_ms);
                        changes.push(set_state(tx, row, alert, AlertState::Silenced, until)?);
                    }
                }
            }
            Ok((Some(silence_json(silence, now_ms)), changes))
        }
        LifecycleOp::Unsilence(id) => {
            let Some(mut silence) = tx.silence_by_id(id)? else {
                return Ok((None, changes));
            };
            if silence.ends_ms > now_ms {
                silence.ends_ms = now_ms.max(silence.starts_ms);
                tx.put_silence(&silence)?;
            }
            let active = tx.active_silences()?;
            for row in tx.alerts_in_state(AlertState::Silenced)? {
                let alert = body(&row);
                if alert["silencedBy"].as_str() == Some(id.as_str()) {
                    changes.push(resilence_or_fire(tx, row, alert, &active)?);
                }
            }
            Ok((Some(silence_json(&silence, now_ms)), changes))
        }
        LifecycleOp::Maintain { quiet_before_ms } => {
            let active = tx.active_silences()?;
            for row in tx.due_alerts(*quiet_before_ms)? {
                let mut alert = body(&row);
                if row.state == AlertState::Firing {
                    alert["autoResolved"] = Value::Bool(true);
                    changes.push(set_state(tx, row, alert, AlertState::Resolved, None)?);
                } else {
                    changes.push(resilence_or_fire(tx, row, alert, &active)?);
                }
            }
            Ok((None, changes))
        }
    }
}

/// An alert whose silence ended: silenced by another active silence that covers it, or firing.
fn resilence_or_fire(
    tx: &Tx<'_>,
    row: AlertRow,
    mut alert: Value,
    active: &[SilenceRow],
) -> Result<AlertChange, StoreError> {
    match covering(active, &alert) {
        Some(s) => {
            alert["silencedBy"] = Value::String(s.id.clone());
            set_state(tx, row, alert, AlertState::Silenced, Some(s.ends_ms))
        }
        None => set_state(tx, row, alert, AlertState::Firing, None),
    }
}
