//! OTLP protobuf (`application/x-protobuf`), through `opentelemetry-proto`'s generated types.

use super::attrs::Attrs;
use super::{hex_id, DecodeError, MapOptions, Record, ResourceScope, Sink};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as Any;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue};
use prost::Message;
use serde_json::Value;

/// Decodes the request and hands every record, with its resource's scope, to `sink`.
pub(super) fn decode(
    body: &[u8],
    opts: MapOptions<'_>,
    sink: &mut Sink<'_>,
) -> Result<(), DecodeError> {
    let request = ExportLogsServiceRequest::decode(body).map_err(|e| {
        DecodeError(format!(
            "the body is not an OTLP ExportLogsServiceRequest in protobuf ({e}); send what an \
             OTLP/HTTP exporter sends, or use Content-Type: application/json for OTLP/JSON"
        ))
    })?;
    for resource_logs in request.resource_logs {
        let attrs = resource_logs
            .resource
            .map(|r| attributes(r.attributes))
            .unwrap_or_default();
        let scope = ResourceScope::from_attrs(&attrs, opts);
        for scope_logs in resource_logs.scope_logs {
            for r in scope_logs.log_records {
                let record = Record {
                    time_unix_nano: r.time_unix_nano,
                    observed_time_unix_nano: r.observed_time_unix_nano,
                    severity_number: r.severity_number,
                    severity_text: r.severity_text,
                    body: r.body.map(any_value),
                    attrs: attributes(r.attributes),
                    trace_id: hex_id(&r.trace_id),
                    span_id: hex_id(&r.span_id),
                    event_name: r.event_name,
                };
                sink(&scope, Ok(record));
            }
        }
    }
    Ok(())
}

fn attributes(kvs: Vec<KeyValue>) -> Attrs {
    Attrs::from_pairs(pairs(kvs))
}

fn pairs(kvs: Vec<KeyValue>) -> Vec<(String, Value)> {
    kvs.into_iter()
        .map(|kv| (kv.key, kv.value.map_or(Value::Null, any_value)))
        .collect()
}

/// An `AnyValue` as JSON: bytes as base64 (as OTLP/JSON writes them), non-finite doubles as
/// their OTLP/JSON names (JSON has no number for them).
fn any_value(v: AnyValue) -> Value {
    match v.value {
        None => Value::Null,
        Some(Any::StringValue(s)) => Value::String(s),
        Some(Any::BoolValue(b)) => Value::Bool(b),
        Some(Any::IntValue(i)) => Value::from(i),
        Some(Any::DoubleValue(d)) => serde_json::Number::from_f64(d)
            .map_or_else(|| Value::String(non_finite(d).into()), Value::Number),
        Some(Any::ArrayValue(a)) => Value::Array(a.values.into_iter().map(any_value).collect()),
        Some(Any::KvlistValue(kv)) => Value::Object(pairs(kv.values).into_iter().collect()),
        Some(Any::BytesValue(b)) => Value::String(base64(&b)),
        // Profiles-only string-table reference: absent for logs, per the spec.
        Some(_) => Value::Null,
    }
}

pub(super) fn non_finite(d: f64) -> &'static str {
    if d.is_nan() {
        "NaN"
    } else if d > 0.0 {
        "Infinity"
    } else {
        "-Infinity"
    }
}

fn base64(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(A[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_are_base64_as_otlp_json_writes_them() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
    }
}
