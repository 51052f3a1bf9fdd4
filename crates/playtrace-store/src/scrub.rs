//! The text an erased value leaves behind, shared by the erasure (`erase.rs`) and the
//! outbox's part of it (`outbox/erase.rs`), so neither module imports the other.

use serde_json::Value;

/// The text an erased value is replaced with inside alert data.
const ERASED: &str = "[erased]";

/// `value` with every occurrence of the subject replaced (strings inside JSON; the text
/// itself when it is not JSON).
pub(crate) fn scrub(body: &str, values: &[String]) -> String {
    fn walk(v: &mut Value, values: &[String]) {
        match v {
            Value::String(s) => {
                for value in values.iter().filter(|x| !x.is_empty()) {
                    if s.contains(value.as_str()) {
                        *s = s.replace(value.as_str(), ERASED);
                    }
                }
            }
            Value::Number(n) if values.iter().any(|x| *x == n.to_string()) => {
                *v = Value::String(ERASED.into());
            }
            Value::Array(items) => items.iter_mut().for_each(|i| walk(i, values)),
            Value::Object(map) => map.values_mut().for_each(|i| walk(i, values)),
            _ => {}
        }
    }
    match serde_json::from_str::<Value>(body) {
        Ok(mut v) => {
            walk(&mut v, values);
            v.to_string()
        }
        Err(_) => values
            .iter()
            .filter(|x| !x.is_empty())
            .fold(body.to_string(), |b, x| b.replace(x.as_str(), ERASED)),
    }
}
