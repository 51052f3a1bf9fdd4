//! OTLP protobuf (`application/x-protobuf`): the wire format of an `ExportLogsServiceRequest`
//! read directly, field by field, into [`Record`]s.
//!
//! Why not generated types: decoding into `opentelemetry-proto`'s structs first built a tree of
//! structs, boxes and vectors per record only to take it apart again, and the crate pulls the
//! whole OpenTelemetry SDK into the build. The messages read here are few and stable (OTLP 1.x
//! logs); the tests encode requests with the generated types and check this reader against them.
//!
//! Protobuf rules kept: unknown fields are skipped by wire type, the last value of a
//! non-repeated field wins, a message field seen twice is merged (its repeated fields
//! appended), strings must be UTF-8, nesting is bounded (as prost's recursion limit is).

use super::attrs::Attrs;
use super::{hex_id, DecodeError, MapOptions, Record, ResourceScope, Sink};
use serde_json::{Map, Value};

/// Nested messages (AnyValue arrays and lists inside each other) deeper than this are refused.
const MAX_DEPTH: usize = 100;

/// Decodes the request and hands every record, with its resource's scope, to `sink`.
pub(super) fn decode(
    body: &[u8],
    opts: MapOptions<'_>,
    sink: &mut Sink<'_>,
) -> Result<(), DecodeError> {
    request(body, opts, sink).map_err(|e| {
        DecodeError(format!(
            "the body is not an OTLP ExportLogsServiceRequest in protobuf ({e}); send what an \
             OTLP/HTTP exporter sends, or use Content-Type: application/json for OTLP/JSON"
        ))
    })
}

/// Why the bytes are not the message.
type WireError = String;

fn request(body: &[u8], opts: MapOptions<'_>, sink: &mut Sink<'_>) -> Result<(), WireError> {
    let mut r = Wire::new(body);
    while let Some((field, wire)) = r.key()? {
        match (field, wire) {
            // resource_logs
            (1, LEN) => resource_logs(r.bytes()?, opts, sink)?,
            _ => r.skip(wire)?,
        }
    }
    Ok(())
}

fn resource_logs(bytes: &[u8], opts: MapOptions<'_>, sink: &mut Sink<'_>) -> Result<(), WireError> {
    // The resource comes first in what exporters write, but the wire order is free: the scope
    // logs are collected and handed on once the resource is known.
    let mut attrs = Vec::new();
    let mut scopes = Vec::new();
    let mut r = Wire::new(bytes);
    while let Some((field, wire)) = r.key()? {
        match (field, wire) {
            // resource { attributes = 1 }
            (1, LEN) => {
                let mut res = Wire::new(r.bytes()?);
                while let Some((field, wire)) = res.key()? {
                    match (field, wire) {
                        (1, LEN) => attrs.push(key_value(res.bytes()?, 1)?),
                        _ => res.skip(wire)?,
                    }
                }
            }
            // scope_logs
            (2, LEN) => scopes.push(r.bytes()?),
            _ => r.skip(wire)?,
        }
    }
    let scope = ResourceScope::from_attrs(&Attrs::from_pairs(attrs), opts);
    for bytes in scopes {
        let mut r = Wire::new(bytes);
        while let Some((field, wire)) = r.key()? {
            match (field, wire) {
                // log_records
                (2, LEN) => sink(&scope, Ok(log_record(r.bytes()?)?)),
                _ => r.skip(wire)?,
            }
        }
    }
    Ok(())
}

fn log_record(bytes: &[u8]) -> Result<Record, WireError> {
    let mut record = Record::default();
    let mut attrs = Vec::new();
    let mut r = Wire::new(bytes);
    while let Some((field, wire)) = r.key()? {
        match (field, wire) {
            (1, I64) => record.time_unix_nano = r.fixed64()?,
            // An enum is an int32: negative values come as ten-byte varints.
            (2, VARINT) => record.severity_number = r.varint()? as i64 as i32,
            (3, LEN) => record.severity_text = r.string()?.to_string(),
            (5, LEN) => record.body = Some(any_value(r.bytes()?, 1)?),
            (6, LEN) => attrs.push(key_value(r.bytes()?, 1)?),
            (9, LEN) => record.trace_id = hex_id(r.bytes()?),
            (10, LEN) => record.span_id = hex_id(r.bytes()?),
            (11, I64) => record.observed_time_unix_nano = r.fixed64()?,
            (12, LEN) => record.event_name = r.string()?.to_string(),
            _ => r.skip(wire)?,
        }
    }
    record.attrs = Attrs::from_pairs(attrs);
    Ok(record)
}

/// A `KeyValue` (an absent value is null).
fn key_value(bytes: &[u8], depth: usize) -> Result<(String, Value), WireError> {
    let mut key = "";
    let mut value = Value::Null;
    let mut r = Wire::new(bytes);
    while let Some((field, wire)) = r.key()? {
        match (field, wire) {
            (1, LEN) => key = r.string()?,
            (2, LEN) => value = any_value(r.bytes()?, depth + 1)?,
            _ => r.skip(wire)?,
        }
    }
    Ok((key.to_string(), value))
}

/// An `AnyValue` as JSON: bytes as base64 (as OTLP/JSON writes them), non-finite doubles as
/// their OTLP/JSON names (JSON has no number for them), an unset value as null.
fn any_value(bytes: &[u8], depth: usize) -> Result<Value, WireError> {
    if depth > MAX_DEPTH {
        return Err(format!("values nested over {MAX_DEPTH} levels deep"));
    }
    let mut value = Value::Null;
    let mut r = Wire::new(bytes);
    while let Some((field, wire)) = r.key()? {
        value = match (field, wire) {
            (1, LEN) => Value::String(r.string()?.to_string()),
            (2, VARINT) => Value::Bool(r.varint()? != 0),
            (3, VARINT) => Value::from(r.varint()? as i64),
            (4, I64) => {
                let d = f64::from_bits(r.fixed64()?);
                serde_json::Number::from_f64(d)
                    .map_or_else(|| Value::String(non_finite(d).into()), Value::Number)
            }
            // array_value { values = 1 }
            (5, LEN) => {
                let mut items = Vec::new();
                let mut a = Wire::new(r.bytes()?);
                while let Some((field, wire)) = a.key()? {
                    match (field, wire) {
                        (1, LEN) => items.push(any_value(a.bytes()?, depth + 1)?),
                        _ => a.skip(wire)?,
                    }
                }
                Value::Array(items)
            }
            // kvlist_value { values = 1 }
            (6, LEN) => {
                let mut pairs = Map::new();
                let mut l = Wire::new(r.bytes()?);
                while let Some((field, wire)) = l.key()? {
                    match (field, wire) {
                        (1, LEN) => {
                            let (k, v) = key_value(l.bytes()?, depth + 1)?;
                            pairs.insert(k, v);
                        }
                        _ => l.skip(wire)?,
                    }
                }
                Value::Object(pairs)
            }
            (7, LEN) => Value::String(base64(r.bytes()?)),
            // Profiles' string-table reference (absent for logs, per the spec) and unknown
            // fields leave the value as it was.
            _ => {
                r.skip(wire)?;
                continue;
            }
        };
    }
    Ok(value)
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

const VARINT: u8 = 0;
const I64: u8 = 1;
const LEN: u8 = 2;
const I32: u8 = 5;

/// A cursor over one message's bytes.
struct Wire<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Wire<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Wire { bytes, at: 0 }
    }

    fn varint(&mut self) -> Result<u64, WireError> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let Some(&b) = self.bytes.get(self.at) else {
                return Err(format!("a varint is cut off at byte {}", self.at));
            };
            self.at += 1;
            v |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                return Ok(v);
            }
        }
        Err(format!(
            "a varint is longer than 10 bytes at byte {}",
            self.at
        ))
    }

    /// The next field's number and wire type; `None` at the end of the message.
    fn key(&mut self) -> Result<Option<(u32, u8)>, WireError> {
        if self.at >= self.bytes.len() {
            return Ok(None);
        }
        let key = self.varint()?;
        let field = u32::try_from(key >> 3).unwrap_or(0);
        if field == 0 {
            return Err(format!("field number 0 at byte {}", self.at));
        }
        Ok(Some((field, (key & 7) as u8)))
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], WireError> {
        let end = self
            .at
            .checked_add(n)
            .filter(|end| *end <= self.bytes.len())
            .ok_or_else(|| format!("a field of {n} bytes runs past the end at byte {}", self.at))?;
        let out = &self.bytes[self.at..end];
        self.at = end;
        Ok(out)
    }

    fn bytes(&mut self) -> Result<&'a [u8], WireError> {
        let n = self.varint()?;
        self.take(usize::try_from(n).unwrap_or(usize::MAX))
    }

    fn string(&mut self) -> Result<&'a str, WireError> {
        let at = self.at;
        std::str::from_utf8(self.bytes()?)
            .map_err(|_| format!("a string field at byte {at} is not valid UTF-8"))
    }

    fn fixed64(&mut self) -> Result<u64, WireError> {
        let b = self.take(8)?;
        let mut le = [0u8; 8];
        le.copy_from_slice(b);
        Ok(u64::from_le_bytes(le))
    }

    fn skip(&mut self, wire: u8) -> Result<(), WireError> {
        match wire {
            VARINT => self.varint().map(drop),
            I64 => self.take(8).map(drop),
            LEN => self.bytes().map(drop),
            I32 => self.take(4).map(drop),
            other => Err(format!(
                "wire type {other} (groups or invalid) at byte {}",
                self.at
            )),
        }
    }
}

/// The `ExportLogsServiceResponse`: `partial_success` (field 1) holding `rejected_log_records`
/// (field 1, int64) and `error_message` (field 2), or nothing at all.
pub(super) fn encode_response(partial: Option<(i64, &str)>) -> Vec<u8> {
    let Some((rejected, message)) = partial else {
        return Vec::new();
    };
    let mut inner = Vec::with_capacity(message.len() + 16);
    if rejected != 0 {
        inner.push(1 << 3);
        put_varint(&mut inner, rejected as u64);
    }
    if !message.is_empty() {
        inner.push(2 << 3 | LEN);
        put_varint(&mut inner, message.len() as u64);
        inner.extend_from_slice(message.as_bytes());
    }
    let mut out = Vec::with_capacity(inner.len() + 4);
    out.push(1 << 3 | LEN);
    put_varint(&mut out, inner.len() as u64);
    out.extend_from_slice(&inner);
    out
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
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

    #[test]
    fn truncated_and_malformed_wire_data_is_an_error_not_a_panic() {
        for body in [
            &[0x0a, 0x05, 0x01][..], // resource_logs of 5 bytes, 1 there
            &[0x0a][..],             // a length that never comes
            &[0x08, 0xff][..],       // a varint cut off
            &[0x0b][..],             // wire type 3 (a group)
            &[0x00][..],             // field number 0
            &[
                0x0a, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
            ][..], // huge length
        ] {
            let mut sink = |_: &ResourceScope, _: Result<Record, (String, Value)>| {};
            let opts = MapOptions {
                game_attribute: "service.name",
            };
            assert!(decode(body, opts, &mut sink).is_err(), "{body:?}");
        }
    }

    #[test]
    fn deeply_nested_values_are_refused() {
        // AnyValue{array_value{values: AnyValue{array_value{...}}}} 150 levels deep.
        let mut v: Vec<u8> = Vec::new();
        for _ in 0..150 {
            let mut array = vec![0x0a];
            put_varint(&mut array, v.len() as u64);
            array.extend_from_slice(&v);
            let mut any = vec![5 << 3 | LEN];
            put_varint(&mut any, array.len() as u64);
            any.extend_from_slice(&array);
            v = any;
        }
        assert!(any_value(&v, 1).unwrap_err().contains("nested"));
    }
}
