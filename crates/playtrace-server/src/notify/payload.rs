//! What a group's flush sends: Alertmanager's webhook payload (version 4, every field, so any
//! Alertmanager webhook consumer works unchanged) or the alert list of Alertmanager's
//! `POST /api/v2/alerts`; and whether to send at all, by Alertmanager's rules (something new
//! fires, something notified resolved, or the repeat interval is up).

use crate::config::{Receiver, ReceiverKind};
use crate::notify::routing::{labels, Labels};
use crate::view::ms_text;
use playtrace_store::{Flush, Group, Member, NewNotification};
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

/// How Alertmanager writes "not ended" in a webhook payload.
pub(crate) const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

/// A new notification id (also its `Idempotency-Key`): time, a counter and per-process noise,
/// so ids never repeat across restarts.
pub(crate) fn new_id(now_ms: i64) -> String {
    use std::hash::{BuildHasher, Hasher};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    static NOISE: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    let noise = *NOISE.get_or_init(|| {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u32(std::process::id());
        h.finish()
    });
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("nt_{now_ms:011x}{:06x}{:08x}", n & 0xff_ffff, noise as u32)
}

/// The id of the notification a flush of `g` sends (also its `Idempotency-Key`): derived from
/// the receiver, the group, when the flush was due and the alerts it carries (and whether each
/// fires), never random. The outbox's bookkeeping commits at `synchronous=NORMAL`, so a power
/// loss can roll back a flush whose notification was already sent; the same flush, redone after
/// the restart, then carries the same key and the receiver can drop the copy. A flush with other
/// alerts or states, or a later one, gets another id.
pub(crate) fn flush_id(g: &Group) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for part in [g.receiver.as_bytes(), g.group_key.as_bytes()] {
        h.update((part.len() as u64).to_le_bytes());
        h.update(part);
    }
    h.update(g.flush_ms.to_le_bytes());
    for m in &g.members {
        h.update((m.alert_id.len() as u64).to_le_bytes());
        h.update(m.alert_id.as_bytes());
        h.update([u8::from(m.firing)]);
    }
    let tail = crate::hex::encode(&h.finalize()[..7]);
    format!("nt_{:011x}{tail}", g.flush_ms.max(0))
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// One readable sentence about the alert.
pub(crate) fn summary(alert: &Value, l: &Labels) -> String {
    let get = |k: &str| l.get(k).map_or("", String::as_str);
    let mut s = format!(
        "{} {} alert {}",
        get("severity"),
        get("category"),
        get("alertname")
    );
    let scope: Vec<&str> = [get("game"), get("env")]
        .into_iter()
        .filter(|x| !x.is_empty())
        .collect();
    if !scope.is_empty() {
        s.push_str(&format!(" in {}", scope.join("/")));
    }
    if let Some(session) = l.get("session") {
        s.push_str(&format!(" (session {session})"));
    }
    let reason = text(&alert["reason"]);
    if !reason.is_empty() && reason != "null" {
        s.push_str(&format!(": {reason}"));
    }
    let mut chars = s.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => s,
    }
}

/// Annotations: `reason`, `summary` and the alert's data fields, all strings.
fn annotations(alert: &Value, l: &Labels) -> Map<String, Value> {
    let mut a = Map::new();
    if let Some(Value::Object(data)) = alert.get("data") {
        for (k, v) in data {
            a.insert(k.clone(), Value::String(text(v)));
        }
    }
    a.insert("reason".into(), Value::String(text(&alert["reason"])));
    a.insert("summary".into(), Value::String(summary(alert, l)));
    a
}

fn label_map(l: &Labels) -> Map<String, Value> {
    l.iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect()
}

fn generator_url(external_url: &str, alert: &Value) -> String {
    format!("{external_url}/alerts/{}", text(&alert["id"]))
}

/// One alert of a webhook payload.
fn webhook_alert(alert: &Value, firing: bool, external_url: &str) -> Value {
    let l = labels(alert);
    let id = text(&alert["id"]);
    let ends = if firing {
        Value::String(ZERO_TIME.into())
    } else {
        match &alert["resolvedAt"] {
            Value::String(s) => Value::String(s.clone()),
            _ => alert["updatedAt"].clone(),
        }
    };
    json!({
        "status": if firing { "firing" } else { "resolved" },
        "labels": label_map(&l),
        "annotations": annotations(alert, &l),
        "startsAt": alert["createdAt"],
        "endsAt": ends,
        "generatorURL": generator_url(external_url, alert),
        "fingerprint": id.strip_prefix("al_").unwrap_or(&id),
    })
}

/// The keys and values every object in `maps` shares.
fn common<'a>(mut maps: impl Iterator<Item = &'a Map<String, Value>>) -> Map<String, Value> {
    let Some(first) = maps.next() else {
        return Map::new();
    };
    let mut shared = first.clone();
    for m in maps {
        shared.retain(|k, v| m.get(k) == Some(v));
    }
    shared
}

/// What a webhook payload is made of.
pub(crate) struct WebhookGroup<'a> {
    pub(crate) receiver: &'a str,
    pub(crate) group_key: &'a str,
    pub(crate) group_labels: Value,
    pub(crate) external_url: &'a str,
    /// Each alert's JSON and whether it fires.
    pub(crate) alerts: Vec<(Value, bool)>,
    pub(crate) truncated: usize,
}

/// Alertmanager's webhook payload, version 4.
pub(crate) fn webhook_body(g: &WebhookGroup<'_>) -> Value {
    let alerts: Vec<Value> = g
        .alerts
        .iter()
        .map(|(a, firing)| webhook_alert(a, *firing, g.external_url))
        .collect();
    let firing = g.alerts.iter().any(|(_, f)| *f);
    webhook_envelope(g, alerts, firing)
}

/// The v4 payload around alerts already shaped by [`webhook_alert`].
fn webhook_envelope(g: &WebhookGroup<'_>, alerts: Vec<Value>, firing: bool) -> Value {
    let objects = |k: &'static str| {
        alerts
            .iter()
            .filter_map(move |a| a[k].as_object())
            .collect::<Vec<_>>()
    };
    json!({
        "receiver": g.receiver,
        "status": if firing { "firing" } else { "resolved" },
        "alerts": alerts,
        "groupLabels": g.group_labels,
        "commonLabels": common(objects("labels").into_iter()),
        "commonAnnotations": common(objects("annotations").into_iter()),
        "externalURL": g.external_url,
        "version": "4",
        "groupKey": g.group_key,
        "truncatedAlerts": g.truncated,
    })
}

/// Alertmanager's `POST /api/v2/alerts` body: firing alerts end `valid_ms` from `now_ms` unless
/// sent again (so a collector that stops does not leave them firing forever); resolved ones end
/// when they were resolved.
pub(crate) fn alertmanager_body(
    alerts: &[(Value, bool)],
    external_url: &str,
    now_ms: i64,
    valid_ms: i64,
) -> Value {
    let list: Vec<Value> = alerts
        .iter()
        .map(|(a, firing)| {
            let l = labels(a);
            let ends = if *firing {
                ms_text(Some(now_ms.saturating_add(valid_ms)))
            } else {
                match &a["resolvedAt"] {
                    Value::String(s) => Value::String(s.clone()),
                    _ => ms_text(Some(now_ms)),
                }
            };
            json!({
                "labels": label_map(&l),
                "annotations": annotations(a, &l),
                "startsAt": a["createdAt"],
                "endsAt": ends,
                "generatorURL": generator_url(external_url, a),
            })
        })
        .collect();
    Value::Array(list)
}

/// Alerts already read and shaped during one flush. An alert routed to several receivers sits
/// in one group per receiver, all flushed together: it is parsed and shaped into its webhook
/// form once, not once per receiver (that shaping was a third of the flusher's time).
#[derive(Default)]
pub(crate) struct Shapes {
    /// Alert JSON text → the alert read.
    read: HashMap<String, Value>,
    /// (alert JSON text, firing) → the alert as a webhook payload carries it.
    webhook: HashMap<(String, bool), Value>,
}

impl Shapes {
    fn read(&mut self, text: &str) -> Value {
        if let Some(v) = self.read.get(text) {
            return v.clone();
        }
        let v: Value = serde_json::from_str(text).unwrap_or(Value::Null);
        self.read.insert(text.to_string(), v.clone());
        v
    }

    fn webhook(&mut self, text: &str, firing: bool, external_url: &str) -> Value {
        let key = (text.to_string(), firing);
        if let Some(v) = self.webhook.get(&key) {
            return v.clone();
        }
        let v = webhook_alert(&self.read(text), firing, external_url);
        self.webhook.insert(key, v.clone());
        v
    }
}

/// Decides a group's flush at `now_ms` for `receiver` (`None`: no longer configured, nothing
/// is sent and the group waits for the start-up clean-up).
#[cfg(test)]
pub(crate) fn decide(
    g: &Group,
    receiver: Option<&Receiver>,
    external_url: &str,
    now_ms: i64,
) -> Flush {
    decide_with(g, receiver, external_url, now_ms, &mut Shapes::default())
}

/// [`decide`], reusing what `shapes` holds from the same flush's other groups (every
/// `decide_with` sharing `shapes` must pass the same `external_url`).
pub(crate) fn decide_with(
    g: &Group,
    receiver: Option<&Receiver>,
    external_url: &str,
    now_ms: i64,
    shapes: &mut Shapes,
) -> Flush {
    // Without a notification now, the repeat stays where the last one put it.
    let repeat_ms = g.repeat_ms.max(100);
    let next_ms = g
        .sent_ms
        .map_or(now_ms, |s| s.max(now_ms - repeat_ms))
        .saturating_add(repeat_ms);
    let Some(r) = receiver else {
        return Flush {
            send: None,
            next_ms,
        };
    };
    let firing: Vec<_> = g.members.iter().filter(|m| m.firing).collect();
    let ended: Vec<_> = g
        .members
        .iter()
        .filter(|m| !m.firing && m.notified && r.send_resolved)
        .collect();
    let something_new = firing.iter().any(|m| !m.notified);
    let repeat_due = !firing.is_empty()
        && g.sent_ms
            .is_none_or(|s| now_ms >= s.saturating_add(g.repeat_ms));
    if !(something_new || repeat_due || !ended.is_empty()) {
        return Flush {
            send: None,
            next_ms,
        };
    }
    let mut members: Vec<&Member> = firing.iter().chain(&ended).copied().collect();
    let total = members.len();
    if r.max_alerts > 0 && members.len() > r.max_alerts {
        members.truncate(r.max_alerts);
    }
    let status = if firing.is_empty() {
        "resolved"
    } else {
        "firing"
    };
    let body = match r.kind {
        ReceiverKind::Webhook => {
            let shaped = members
                .iter()
                .map(|m| shapes.webhook(&m.alert, m.firing, external_url))
                .collect();
            let group = WebhookGroup {
                receiver: &r.name,
                group_key: &g.group_key,
                group_labels: serde_json::from_str(&g.labels).unwrap_or_else(|_| json!({})),
                external_url,
                truncated: total - members.len(),
                alerts: Vec::new(),
            };
            webhook_envelope(&group, shaped, !firing.is_empty())
        }
        ReceiverKind::Alertmanager => {
            let alerts: Vec<(Value, bool)> = members
                .iter()
                .map(|m| (shapes.read(&m.alert), m.firing))
                .collect();
            alertmanager_body(
                &alerts,
                external_url,
                now_ms,
                4 * r.resend_interval.as_ms_i64(),
            )
        }
    };
    Flush {
        send: Some(NewNotification {
            id: flush_id(g),
            status: status.into(),
            alerts: total as i64,
            body: body.to_string(),
        }),
        next_ms: now_ms.saturating_add(repeat_ms),
    }
}

#[cfg(test)]
#[path = "payload_tests.rs"]
mod tests;
