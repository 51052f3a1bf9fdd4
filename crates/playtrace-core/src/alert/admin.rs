//! `admin.alert`: game servers posting alerts themselves, read into the same candidate a rule
//! produces.

use crate::alert::fingerprint::text_of;
use crate::alert::kinds::{is_seeded, AlertCandidate, Category, Severity};
use serde_json::{Map, Value};

/// The event name game servers use to raise an alert themselves.
pub const ADMIN_ALERT: &str = "admin.alert";

/// Reads an `admin.alert` envelope `{id, sessionId, severity, reason, data, createdAt}`
/// (severity default high; category default moderation).
pub fn admin_alert(o: &Map<String, Value>) -> Result<AlertCandidate, String> {
    let text = |k: &str| match o.get(k) {
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    };
    let severity = match o.get("severity") {
        None | Some(Value::Null) => Severity::High,
        Some(Value::String(s)) => Severity::parse(s).ok_or_else(|| {
            format!("severity `{s}` is not one of info, low, medium, high, critical")
        })?,
        Some(other) => return Err(format!("severity must be a string, got {other}")),
    };
    let category = match o.get("category") {
        None | Some(Value::Null) => Category::Moderation,
        Some(Value::String(s)) => Category::parse(s)
            .ok_or_else(|| format!("category `{s}` is not moderation, budget or pipeline"))?,
        Some(other) => return Err(format!("category must be a string, got {other}")),
    };
    let reason = text("reason").ok_or("an admin alert needs a non-empty `reason`")?;
    let data = match o.get("data") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(d)) => d.clone(),
        Some(_) => return Err("`data` must be an object".into()),
    };
    let created_ms = match o.get("createdAt") {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) => n.as_f64(),
        Some(Value::String(s)) => Some(
            crate::time::parse_rfc3339_ms(s)
                .ok_or_else(|| format!("createdAt `{s}` is not RFC 3339 or epoch ms"))?,
        ),
        Some(_) => return Err("createdAt must be RFC 3339 or epoch ms".into()),
    };
    let session_id = text("sessionId");
    let key = text("id").or_else(|| data.get("checkId").map(text_of));
    let mut fingerprint = String::from(ADMIN_ALERT);
    for part in [&session_id, &key] {
        fingerprint.push('|');
        fingerprint.push_str(part.as_deref().unwrap_or(""));
    }
    if key.is_none() {
        // Without an id, the reason tells alerts of one session apart.
        fingerprint.push('|');
        fingerprint.push_str(&reason);
    }
    Ok(AlertCandidate {
        rule: ADMIN_ALERT.into(),
        category,
        severity,
        seeded: is_seeded(&reason, &data),
        probe: o.get("probe") == Some(&Value::Bool(true))
            || data.get("probe") == Some(&Value::Bool(true)),
        session_id,
        reason,
        fingerprint,
        data,
        created_ms,
    })
}
