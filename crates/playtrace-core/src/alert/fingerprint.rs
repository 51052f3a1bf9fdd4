//! Alert identity: same fingerprint, same alert (updated rather than repeated). Fingerprints
//! join the rule name with the text of its `group_by` values; the id shown to users is a short
//! hash of it.

use serde_json::Value;

/// A short stable id for an alert fingerprint.
pub fn alert_id(fingerprint: &str) -> String {
    format!(
        "al_{:016x}",
        xxhash_rust::xxh3::xxh3_64(fingerprint.as_bytes())
    )
}

/// A value as it appears in a fingerprint or a reason: strings bare, integral numbers without
/// a fraction.
pub(crate) fn text_of(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.as_f64().map_or_else(|| n.to_string(), crate::num::human),
        other => other.to_string(),
    }
}
