//! The JSON shapes the collector shows: events, rejects, alerts and budget status changes, the
//! same on the REST API and on the stream (contests and budget reports are `playtrace-core`'s
//! own serialisations). One place, so a field renamed here is renamed everywhere.

use playtrace_core::alert::AlertCandidate;
use playtrace_core::contest::BudgetLine;
use playtrace_core::event::Event;
use playtrace_core::summary::GroupDim;
use playtrace_core::time::format_rfc3339_ms;
use playtrace_store::{AlertState, RejectRecord, StoredEvent};
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// A stored event: the normalised envelope plus the store's fields.
pub(crate) fn event_json(r: &StoredEvent) -> Value {
    let object = serde_json::from_str::<serde_json::Map<String, Value>>(&r.body).ok();
    // OTLP records keep their severity number and trace context beside the envelope.
    // Replayed rejects (docs/REJECTS.md) say so, with their reject and original receive time.
    let replay = ["replayed", "replayedFrom", "originalReceivedMs"];
    let otlp: Vec<(&str, Value)> = ["severityText", "severityNumber", "traceId", "spanId"]
        .into_iter()
        .chain(replay)
        .filter_map(|k| Some((k, object.as_ref()?.get(k)?.clone())))
        .collect();
    let normalised = object.and_then(|o| Event::from_object(o).ok());
    let mut v = json!({
        "seq": r.seq,
        "receivedMs": r.recv_ms,
        "receivedAt": format_rfc3339_ms(r.recv_ms as f64),
        "event": r.name,
        "ts": r.ts_ms.map(playtrace_core::num::Num),
        "id": r.id,
        "game": r.game(),
        "env": r.env,
        "session": r.session,
    });
    if let (Some(e), Some(o)) = (normalised, v.as_object_mut()) {
        if let Some(level) = e.level {
            o.insert("level".into(), Value::String(level));
        }
        o.insert("attrs".into(), Value::Object(e.attrs));
        for (k, v) in otlp {
            o.insert(k.into(), v);
        }
    }
    v
}

/// A stored reject.
pub(crate) fn reject_json(r: &RejectRecord) -> Value {
    json!({"seq": r.seq, "receivedMs": r.recv_ms, "line": r.row.line, "kind": r.row.kind,
           "message": r.row.message, "raw": r.row.raw})
}

/// An epoch-ms time as RFC 3339, or `null`.
pub(crate) fn ms_text(ms: Option<i64>) -> Value {
    ms.and_then(|m| format_rfc3339_ms(m as f64))
        .map_or(Value::Null, Value::String)
}

/// Everything an alert's JSON is made of.
pub(crate) struct AlertView<'a> {
    pub(crate) id: &'a str,
    pub(crate) candidate: &'a AlertCandidate,
    pub(crate) state: AlertState,
    pub(crate) game: Option<&'a str>,
    pub(crate) env: Option<&'a str>,
    pub(crate) created_ms: i64,
    pub(crate) updated_ms: i64,
    pub(crate) silenced_until_ms: Option<i64>,
    pub(crate) count: u64,
}

/// An alert as `GET /v1/alerts` and the stream show it (resolved alerts are shaped by
/// [`alert_changed`] from this).
pub(crate) fn alert_json(a: &AlertView<'_>) -> Value {
    let c = a.candidate;
    json!({
        "id": a.id,
        "fingerprint": c.fingerprint,
        "rule": c.rule,
        "category": c.category.as_str(),
        "severity": c.severity.as_str(),
        "reason": c.reason,
        "state": a.state.as_str(),
        "game": a.game,
        "env": a.env,
        "sessionId": c.session_id,
        "createdAt": ms_text(Some(a.created_ms)),
        "updatedAt": ms_text(Some(a.updated_ms)),
        "resolvedAt": Value::Null,
        "silencedUntil": ms_text(a.silenced_until_ms),
        "seeded": c.seeded,
        "probe": c.probe,
        "count": a.count,
        "data": Value::Object(c.data.clone()),
    })
}

/// An alert's JSON after an admin action (or a budget that held again) changed its state.
pub(crate) fn alert_changed(
    alert: &mut Value,
    state: AlertState,
    updated_ms: i64,
    resolved_ms: Option<i64>,
    silenced_until_ms: Option<i64>,
) {
    if let Some(o) = alert.as_object_mut() {
        o.insert("state".into(), json!(state.as_str()));
        o.insert("updatedAt".into(), ms_text(Some(updated_ms)));
        o.insert("resolvedAt".into(), ms_text(resolved_ms));
        o.insert("silencedUntil".into(), ms_text(silenced_until_ms));
    }
}

/// A group's values per dimension.
pub(crate) type GroupKey = BTreeMap<GroupDim, Option<String>>;

/// A budget's status change (`event: budget` on the stream).
pub(crate) fn budget_status(
    window: &str,
    line: &BudgetLine,
    group: Option<&GroupKey>,
    fingerprint: &str,
) -> Value {
    json!({
        "window": window,
        "metric": line.metric.as_str(),
        "percentile": line.percentile,
        "budget": line.budget,
        "value": line.value,
        "samples": line.samples,
        "status": line.status.as_str(),
        "group": group,
        "fingerprint": fingerprint,
    })
}

/// A budget whose group left every window: no samples any more.
pub(crate) fn budget_gone(fingerprint: &str) -> Value {
    json!({"fingerprint": fingerprint, "status": "insufficient_data", "samples": 0})
}
