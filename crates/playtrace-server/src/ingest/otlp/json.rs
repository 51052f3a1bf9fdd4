//! OTLP/JSON (`application/json`) as the OTLP/HTTP specification defines it and as real
//! exporters write it: lowerCamelCase keys (the proto names, `time_unix_nano`, are accepted
//! too), hex `traceId`/`spanId`, enums as integers (or their names), 64-bit integers as strings
//! *or* numbers (the JS SDK writes numeric `intValue`; the Collector writes string
//! timestamps), unknown fields ignored.

use super::attrs::Attrs;
use super::{DecodeError, MapOptions, Record, ResourceScope, Sink};
use serde_json::{Map, Value};

/// Decodes the request and hands every record, with its resource's scope, to `sink`.
pub(super) fn decode(
    body: &[u8],
    opts: MapOptions<'_>,
    sink: &mut Sink<'_>,
) -> Result<(), DecodeError> {
    let request: Value = serde_json::from_slice(body).map_err(|e| {
        DecodeError(format!(
            "the body is not JSON ({e}); send an OTLP/JSON ExportLogsServiceRequest, or use \
             Content-Type: application/x-protobuf for protobuf"
        ))
    })?;
    if !request.is_object() {
        return Err(DecodeError(
            "the body must be an OTLP/JSON ExportLogsServiceRequest object; send \
             {\"resourceLogs\": [...]}"
                .into(),
        ));
    }
    for (i, resource_logs) in list(&request, "resourceLogs", "resource_logs", "the request")?
        .iter()
        .enumerate()
    {
        let at = format!("resourceLogs[{i}]");
        let attrs = match field(resource_logs, "resource", "resource") {
            Some(resource) => attributes(resource, &format!("{at}.resource"))
                .map_err(|e| DecodeError(format!("{e}; fix the resource's attributes")))?,
            None => Attrs::default(),
        };
        let scope = ResourceScope::from_attrs(&attrs, opts);
        for (j, scope_logs) in list(resource_logs, "scopeLogs", "scope_logs", &at)?
            .iter()
            .enumerate()
        {
            let at = format!("{at}.scopeLogs[{j}]");
            for raw in list(scope_logs, "logRecords", "log_records", &at)? {
                sink(&scope, record(raw).map_err(|e| (e, raw.clone())));
            }
        }
    }
    Ok(())
}

/// A field by its JSON name or its proto name.
fn field<'a>(v: &'a Value, camel: &str, snake: &str) -> Option<&'a Value> {
    let o = v.as_object()?;
    o.get(camel)
        .or_else(|| o.get(snake))
        .filter(|v| !v.is_null())
}

/// A repeated field (absent is empty).
fn list<'a>(v: &'a Value, camel: &str, snake: &str, at: &str) -> Result<&'a [Value], DecodeError> {
    match field(v, camel, snake) {
        None => Ok(&[]),
        Some(Value::Array(items)) => Ok(items),
        Some(_) => Err(DecodeError(format!(
            "{at}: `{camel}` must be an array; send an OTLP/JSON ExportLogsServiceRequest"
        ))),
    }
}

fn record(raw: &Value) -> Result<Record, String> {
    if !raw.is_object() {
        return Err("a log record must be a JSON object".into());
    }
    let text = |camel: &str, snake: &str| -> Result<String, String> {
        match field(raw, camel, snake) {
            None => Ok(String::new()),
            Some(Value::String(s)) => Ok(s.clone()),
            Some(_) => Err(format!("`{camel}` must be a string")),
        }
    };
    let attrs = attributes(raw, "the log record")?;
    Ok(Record {
        time_unix_nano: fixed64(raw, "timeUnixNano", "time_unix_nano")?,
        observed_time_unix_nano: fixed64(raw, "observedTimeUnixNano", "observed_time_unix_nano")?,
        severity_number: severity(field(raw, "severityNumber", "severity_number"))?,
        severity_text: text("severityText", "severity_text")?,
        body: field(raw, "body", "body").map(any_value).transpose()?,
        attrs,
        trace_id: hex(&text("traceId", "trace_id")?, 16, "traceId")?,
        span_id: hex(&text("spanId", "span_id")?, 8, "spanId")?,
        event_name: text("eventName", "event_name")?,
    })
}

/// A 64-bit unsigned integer written as a string or a number.
fn fixed64(raw: &Value, camel: &str, snake: &str) -> Result<u64, String> {
    let bad = || format!("`{camel}` must be an unsigned integer (nanoseconds since the epoch)");
    match field(raw, camel, snake) {
        None => Ok(0),
        Some(Value::String(s)) => s.trim().parse().map_err(|_| bad()),
        Some(Value::Number(n)) => n.as_u64().ok_or_else(bad),
        Some(_) => Err(bad()),
    }
}

/// `severityNumber`: an integer, or the enum value's name (`SEVERITY_NUMBER_WARN`).
fn severity(v: Option<&Value>) -> Result<i32, String> {
    let bad = || "`severityNumber` must be an integer from 0 to 24".to_string();
    match v {
        None => Ok(0),
        Some(Value::Number(n)) => n
            .as_i64()
            .and_then(|n| i32::try_from(n).ok())
            .ok_or_else(bad),
        Some(Value::String(s)) => {
            let name = s.strip_prefix("SEVERITY_NUMBER_").ok_or_else(bad)?;
            let (base, step) = match name.find(|c: char| c.is_ascii_digit()) {
                Some(i) => (&name[..i], name[i..].parse::<i32>().map_err(|_| bad())? - 1),
                None => (name, 0),
            };
            let first = ["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"]
                .iter()
                .position(|b| *b == base);
            match (base, first) {
                ("UNSPECIFIED", _) => Ok(0),
                (_, Some(i)) if (0..4).contains(&step) => Ok(i as i32 * 4 + 1 + step),
                _ => Err(bad()),
            }
        }
        Some(_) => Err(bad()),
    }
}

/// A hex id of `len` bytes, lowercased; empty stays empty (absent).
fn hex(s: &str, len: usize, name: &str) -> Result<String, String> {
    if s.is_empty() {
        return Ok(String::new());
    }
    if s.len() != len * 2 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!(
            "`{name}` must be {} hex digits, got `{s}`",
            len * 2
        ));
    }
    let lower = s.to_ascii_lowercase();
    Ok(if lower.bytes().all(|b| b == b'0') {
        String::new()
    } else {
        lower
    })
}

/// The `attributes` of `v` (a resource or a record) as a JSON object.
fn attributes(v: &Value, what: &str) -> Result<Attrs, String> {
    let mut out = Vec::new();
    match field(v, "attributes", "attributes") {
        None => {}
        Some(Value::Array(kvs)) => key_values(kvs, &mut out)?,
        Some(_) => return Err(format!("{what}: `attributes` must be an array")),
    }
    Ok(Attrs::from_pairs(out))
}

fn key_values(kvs: &[Value], out: &mut Vec<(String, Value)>) -> Result<(), String> {
    for kv in kvs {
        let Some(Value::String(key)) = field(kv, "key", "key") else {
            return Err("an attribute needs a string `key`".into());
        };
        let value = match field(kv, "value", "value") {
            Some(v) => any_value(v).map_err(|e| format!("attribute `{key}`: {e}"))?,
            None => Value::Null,
        };
        out.push((key.clone(), value));
    }
    Ok(())
}

/// An `AnyValue` as JSON (the same JSON the protobuf path gives).
fn any_value(v: &Value) -> Result<Value, String> {
    let Some(o) = v.as_object() else {
        return Err("an AnyValue must be an object such as {\"stringValue\": \"x\"}".into());
    };
    let get = |camel: &str, snake: &str| o.get(camel).or_else(|| o.get(snake));
    if let Some(s) = get("stringValue", "string_value") {
        return match s {
            Value::String(_) => Ok(s.clone()),
            _ => Err("`stringValue` must be a string".into()),
        };
    }
    if let Some(b) = get("boolValue", "bool_value") {
        return match b {
            Value::Bool(_) => Ok(b.clone()),
            _ => Err("`boolValue` must be true or false".into()),
        };
    }
    if let Some(i) = get("intValue", "int_value") {
        let bad = || "`intValue` must be a 64-bit integer (a number or a string)".to_string();
        return match i {
            Value::String(s) => s.trim().parse::<i64>().map(Value::from).map_err(|_| bad()),
            Value::Number(n) => n.as_i64().map(Value::from).ok_or_else(bad),
            _ => Err(bad()),
        };
    }
    if let Some(d) = get("doubleValue", "double_value") {
        let bad = || "`doubleValue` must be a number".to_string();
        return match d {
            Value::Number(_) => Ok(d.clone()),
            Value::String(s) if matches!(s.as_str(), "NaN" | "Infinity" | "-Infinity") => {
                Ok(d.clone())
            }
            Value::String(s) => s
                .parse::<f64>()
                .ok()
                .and_then(serde_json::Number::from_f64)
                .map(Value::Number)
                .ok_or_else(bad),
            _ => Err(bad()),
        };
    }
    if let Some(a) = get("arrayValue", "array_value") {
        return match field(a, "values", "values") {
            None => Ok(Value::Array(Vec::new())),
            Some(Value::Array(items)) => items
                .iter()
                .map(any_value)
                .collect::<Result<_, _>>()
                .map(Value::Array),
            Some(_) => Err("`arrayValue.values` must be an array".into()),
        };
    }
    if let Some(kv) = get("kvlistValue", "kvlist_value") {
        let mut out = Vec::new();
        match field(kv, "values", "values") {
            None => {}
            Some(Value::Array(items)) => key_values(items, &mut out)?,
            Some(_) => return Err("`kvlistValue.values` must be an array".into()),
        }
        return Ok(Value::Object(out.into_iter().collect::<Map<_, _>>()));
    }
    if let Some(b) = get("bytesValue", "bytes_value") {
        // Base64 in OTLP/JSON: kept as written, which is what the protobuf path gives too.
        return match b {
            Value::String(_) => Ok(b.clone()),
            _ => Err("`bytesValue` must be a base64 string".into()),
        };
    }
    Ok(Value::Null)
}
