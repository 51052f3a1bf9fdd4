use super::*;
use crate::ingest::GameScope;
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue, KeyValueList};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::Message;
use serde_json::json;

const OPTS: MapOptions<'static> = MapOptions {
    game_attribute: "service.name",
};

fn parse(body: &[u8], format: OtlpFormat) -> Parsed {
    parse_logs(Parsed::default(), body, format, OPTS).unwrap()
}

fn body_of(p: &Parsed, i: usize) -> Value {
    serde_json::from_str(&p.events[i].body).unwrap()
}

#[test]
fn the_collectors_json_decodes_as_documented() {
    let p = parse(
        include_bytes!("../../../testdata/otlp/collector.json"),
        OtlpFormat::Json,
    );
    assert!(p.rejects.is_empty(), "{:?}", p.rejects[0].message);
    let names: Vec<&str> = p.events.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(
        names,
        ["telemetry.contest.armed", "telemetry.contest.launched"]
    );
    let armed = &p.events[0];
    assert_eq!(armed.game, "glass-frontier");
    assert_eq!(armed.env.as_deref(), Some("prod"));
    assert_eq!(armed.session.as_deref(), Some("sess-resource"));
    assert_eq!(armed.id.as_deref(), Some("01J9Z7K3M4N5P6Q7R8S9T0V1W2"));
    // String nanoseconds, to the millisecond with its fraction.
    let ts = armed.ts_ms.unwrap();
    assert!((ts - 1_700_000_000_123.457).abs() < 1e-3, "{ts}");
    let body = body_of(&p, 0);
    assert_eq!(body["severityText"], "INFO");
    assert_eq!(body["severityNumber"], 9);
    assert_eq!(body["traceId"], "5b8efff798038103d269b633813fc60c");
    assert_eq!(body["spanId"], "eee19b7ec3c1b174");
    assert_eq!(
        body["attrs"],
        json!({
            "hubId": "hub-moderation", "roomId": "room-contest-a",
            "contestKey": "verb.sparringMatch:alpha::beta", "participantCount": 2,
            "windowMs": 10000,
            "loadout": {"weapon": "sabre", "tags": ["quick", 9007199254740993i64, true, 0.25],
                        "empty": null},
        })
    );
    let launched = &p.events[1];
    // No timeUnixNano: the observed time; the record's session.id wins over the resource's.
    assert_eq!(launched.ts_ms, Some(1_700_000_001_000.0));
    assert_eq!(launched.session.as_deref(), Some("sess-record"));
    let body = body_of(&p, 1);
    assert_eq!(body["attrs"]["body"], json!({"note": "structured body"}));
    assert_eq!(body["attrs"]["armingDurationMs"], 420);
    assert!(body["attrs"].get("event.name").is_none());
    assert!(body.get("traceId").is_none());
    // Both records feed the contest correlation.
    assert_eq!(p.observations.observations.len(), 2);
}

#[test]
fn the_js_sdks_json_with_numeric_64_bit_values_decodes() {
    let p = parse(
        include_bytes!("../../../testdata/otlp/js-sdk.json"),
        OtlpFormat::Json,
    );
    assert!(p.rejects.is_empty(), "{:?}", p.rejects[0].message);
    let names: Vec<&str> = p.events.iter().map(|e| e.name.as_str()).collect();
    // eventName wins over the string body.
    assert_eq!(names, ["telemetry.contest.resolved", "moderation.check"]);
    assert_eq!(p.events[0].env.as_deref(), Some("staging"));
    assert_eq!(p.events[0].ts_ms, Some(1_700_000_002_500.0));
    let body = body_of(&p, 0);
    assert_eq!(body["attrs"]["resolutionDurationMs"], 580);
    assert_eq!(
        body["attrs"]["outcome"],
        json!({"tier": "mixed-success", "scores": [3, 1.5]})
    );
    assert_eq!(body["severityText"], "info");
    let check = body_of(&p, 1);
    assert_eq!(check["severityText"], "warn");
    assert_eq!(
        check["attrs"]["safetyFlags"],
        json!(["ok", "prohibited-capability"])
    );
}

fn kv(key: &str, v: any_value::Value) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(v) }),
        ..KeyValue::default()
    }
}

fn s(v: &str) -> any_value::Value {
    any_value::Value::StringValue(v.into())
}

#[test]
fn protobuf_decodes_to_the_same_events_as_json() {
    let request = ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: Some(Resource {
                attributes: vec![
                    kv("service.name", s("glass-frontier")),
                    kv("deployment.environment.name", s("prod")),
                ],
                ..Resource::default()
            }),
            scope_logs: vec![ScopeLogs {
                log_records: vec![LogRecord {
                    time_unix_nano: 1_700_000_000_123_000_000,
                    severity_number: 17,
                    event_name: "telemetry.contest.resolved".into(),
                    body: Some(AnyValue {
                        value: Some(s("ignored: eventName wins")),
                    }),
                    attributes: vec![
                        kv("contestId", s("c-1")),
                        kv("resolutionDurationMs", any_value::Value::IntValue(580)),
                        kv(
                            "nested",
                            any_value::Value::KvlistValue(KeyValueList {
                                values: vec![kv(
                                    "raw",
                                    any_value::Value::BytesValue(b"hi".to_vec()),
                                )],
                            }),
                        ),
                        kv("log.record.uid", s("uid-1")),
                    ],
                    trace_id: vec![0xab; 16],
                    span_id: vec![0, 0, 0, 0, 0, 0, 0, 1],
                    ..LogRecord::default()
                }],
                ..ScopeLogs::default()
            }],
            ..ResourceLogs::default()
        }],
    };
    let p = parse(&request.encode_to_vec(), OtlpFormat::Protobuf);
    assert!(p.rejects.is_empty());
    let e = &p.events[0];
    assert_eq!(
        (
            e.name.as_str(),
            e.game.as_str(),
            e.env.as_deref(),
            e.id.as_deref()
        ),
        (
            "telemetry.contest.resolved",
            "glass-frontier",
            Some("prod"),
            Some("uid-1")
        )
    );
    assert_eq!(e.ts_ms, Some(1_700_000_000_123.0));
    let body = body_of(&p, 0);
    assert_eq!(body["severityText"], "error");
    assert_eq!(body["traceId"], "ab".repeat(16));
    assert_eq!(body["spanId"], "0000000000000001");
    assert_eq!(
        body["attrs"],
        json!({"contestId": "c-1", "resolutionDurationMs": 580, "nested": {"raw": "aGk="}})
    );
    let json_body = json!({"resourceLogs": [{"resource": {"attributes": [
        {"key": "service.name", "value": {"stringValue": "glass-frontier"}},
        {"key": "deployment.environment.name", "value": {"stringValue": "prod"}}]},
      "scopeLogs": [{"logRecords": [{"timeUnixNano": "1700000000123000000", "severityNumber": 17,
        "eventName": "telemetry.contest.resolved", "body": {"stringValue": "ignored: eventName wins"},
        "attributes": [{"key": "contestId", "value": {"stringValue": "c-1"}},
          {"key": "resolutionDurationMs", "value": {"intValue": "580"}},
          {"key": "nested", "value": {"kvlistValue": {"values": [
            {"key": "raw", "value": {"bytesValue": "aGk="}}]}}},
          {"key": "log.record.uid", "value": {"stringValue": "uid-1"}}],
        "traceId": "ab".repeat(16), "spanId": "0000000000000001"}]}]}]});
    let from_json = parse(json_body.to_string().as_bytes(), OtlpFormat::Json);
    assert_eq!(from_json.events[0].body, p.events[0].body);
}

#[test]
fn every_kind_of_value_and_field_reads_as_the_generated_types_wrote_it() {
    use any_value::Value as V;
    let record = |name: &str, attributes: Vec<KeyValue>| LogRecord {
        time_unix_nano: 0,
        observed_time_unix_nano: 1_700_000_000_000_000_001,
        severity_number: 9,
        severity_text: "notice".into(),
        event_name: name.into(),
        attributes,
        flags: 1,
        dropped_attributes_count: 3,
        ..LogRecord::default()
    };
    let request = ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            // Scope logs before the resource on the wire would be legal; the generated encoder
            // writes the resource first, so both orders are checked below by hand.
            resource: Some(Resource {
                attributes: vec![kv("service.name", s("g")), kv("session.id", s("res-s"))],
                dropped_attributes_count: 1,
                ..Resource::default()
            }),
            scope_logs: vec![ScopeLogs {
                log_records: vec![
                    record(
                        "kinds",
                        vec![
                            kv("b", V::BoolValue(true)),
                            kv("neg", V::IntValue(-5)),
                            kv("d", V::DoubleValue(1.5)),
                            kv("inf", V::DoubleValue(f64::INFINITY)),
                            kv(
                                "arr",
                                V::ArrayValue(opentelemetry_proto::tonic::common::v1::ArrayValue {
                                    values: vec![
                                        AnyValue {
                                            value: Some(s("x")),
                                        },
                                        AnyValue::default(),
                                    ],
                                }),
                            ),
                            kv("dup", s("first")),
                            kv("dup", s("last")),
                            KeyValue {
                                key: "unset".into(),
                                value: None,
                                ..KeyValue::default()
                            },
                        ],
                    ),
                    LogRecord {
                        body: Some(AnyValue {
                            value: Some(s("named.by.body")),
                        }),
                        severity_number: -3,
                        ..LogRecord::default()
                    },
                ],
                ..ScopeLogs::default()
            }],
            ..ResourceLogs::default()
        }],
    };
    let p = parse(&request.encode_to_vec(), OtlpFormat::Protobuf);
    assert!(p.rejects.is_empty(), "{:?}", p.rejects);
    let body = body_of(&p, 0);
    assert_eq!(
        body,
        json!({"attrs": {"arr": ["x", null], "b": true, "d": 1.5, "dup": "last",
                         "inf": "Infinity", "neg": -5, "unset": null},
               "event": "kinds", "game": "g", "session": "res-s", "severityNumber": 9,
               "severityText": "notice", "ts": 1_700_000_000_000u64})
    );
    assert_eq!(p.events[1].name, "named.by.body");
    assert_eq!(body_of(&p, 1)["severityNumber"], -3);

    // The same resource written after its scope logs (legal protobuf) gives the same events.
    let encoded = request.encode_to_vec();
    let mut outer = encoded.as_slice();
    assert_eq!(outer[0], 0x0a);
    outer = &outer[1..];
    let (len, used) = {
        let (mut v, mut i) = (0usize, 0);
        loop {
            v |= usize::from(outer[i] & 0x7f) << (7 * i);
            i += 1;
            if outer[i - 1] < 0x80 {
                break (v, i);
            }
        }
    };
    let inner = ResourceLogs::decode(&outer[used..used + len]).unwrap();
    let mut swapped = Vec::new();
    for field in [
        ResourceLogs {
            scope_logs: inner.scope_logs.clone(),
            ..ResourceLogs::default()
        }
        .encode_to_vec(),
        ResourceLogs {
            resource: inner.resource.clone(),
            ..ResourceLogs::default()
        }
        .encode_to_vec(),
    ] {
        swapped.extend(field);
    }
    let mut request_bytes = vec![0x0a];
    let mut n = swapped.len();
    while n >= 0x80 {
        request_bytes.push((n as u8) | 0x80);
        n >>= 7;
    }
    request_bytes.push(n as u8);
    request_bytes.extend(swapped);
    let again = parse(&request_bytes, OtlpFormat::Protobuf);
    assert_eq!(again.events[0].body, p.events[0].body);
}

#[test]
fn a_broken_protobuf_or_json_body_is_a_decode_error() {
    for (body, format) in [
        (&b"\x0a\xff\xff\xff\xff\x0f"[..], OtlpFormat::Protobuf),
        (&b"\x12\x05abc"[..], OtlpFormat::Protobuf),
        (&b"{\"resourceLogs\": ["[..], OtlpFormat::Json),
        (&b"[1, 2]"[..], OtlpFormat::Json),
        (&b"{\"resourceLogs\": {}}"[..], OtlpFormat::Json),
    ] {
        let err = parse_logs(Parsed::default(), body, format, OPTS)
            .err()
            .unwrap_or_else(|| panic!("{body:?} decoded"));
        assert!(err.0.contains("send"), "{}", err.0);
    }
}

#[test]
fn unreadable_records_are_numbered_rejects_and_the_answer_counts_them() {
    let body = json!({"resourceLogs": [{"scopeLogs": [{"logRecords": [
        {"eventName": "ok.one", "attributes": [{"key": "n", "value": {"intValue": 5}}]},
        {"attributes": [{"key": "n", "value": {"intValue": "1"}}]},
        {"eventName": "bad.int", "attributes": [{"key": "n", "value": {"intValue": "x"}}]},
        {"eventName": "bad.trace", "traceId": "abc"},
        {"eventName": "bad.attr", "attributes": [{"key": "participantCount", "value": {"stringValue": "two"}}]},
        7
      ]}]}, {"scopeLogs": [{"logRecords": [{"body": {"stringValue": "ok.two"}, "unknownField": 1}]}]}]});
    let p = parse(body.to_string().as_bytes(), OtlpFormat::Json);
    let names: Vec<&str> = p.events.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, ["ok.one", "ok.two"]);
    let rejects: Vec<(u32, &str)> = p
        .rejects
        .iter()
        .map(|r| (r.line, r.kind.as_str()))
        .collect();
    assert_eq!(
        rejects,
        [
            (2, "schema"),
            (3, "schema"),
            (4, "schema"),
            (5, "schema"),
            (6, "schema")
        ]
    );
    assert!(p.rejects[0].message.contains("no event name"));
    assert!(
        p.rejects[1].message.contains("intValue"),
        "{}",
        p.rejects[1].message
    );
    // The reject keeps the record as sent, so nothing is lost.
    assert!(p.rejects[1].raw.contains("\"x\""), "{}", p.rejects[1].raw);

    let answer: Value =
        serde_json::from_slice(&response(OtlpFormat::Json, 5, Some("first problem"))).unwrap();
    assert_eq!(answer["partialSuccess"]["rejectedLogRecords"], "5");
    let message = answer["partialSuccess"]["errorMessage"].as_str().unwrap();
    assert!(
        message.starts_with("first problem (and 4 more)"),
        "{message}"
    );
    assert_eq!(response(OtlpFormat::Json, 0, None), b"{}");
    let proto =
        ExportLogsServiceResponse::decode(&response(OtlpFormat::Protobuf, 2, None)[..]).unwrap();
    assert_eq!(proto.partial_success.unwrap().rejected_log_records, 2);
    assert!(response(OtlpFormat::Protobuf, 0, None).is_empty());
}

#[test]
fn a_game_bound_token_limits_the_resources_game_and_the_attribute_is_configurable() {
    let body = json!({"resourceLogs": [{"resource": {"attributes": [
        {"key": "service.name", "value": {"stringValue": "other"}},
        {"key": "game.id", "value": {"stringValue": "gf"}}]},
      "scopeLogs": [{"logRecords": [{"eventName": "a"}]}]}]});
    let bound = Parsed::new(GameScope {
        default: Some("gf".into()),
        only: Some("gf".into()),
    });
    let p = parse_logs(bound, body.to_string().as_bytes(), OtlpFormat::Json, OPTS).unwrap();
    assert!(p.events.is_empty());
    assert!(p.rejects[0].message.contains("scoped to game `gf`"));
    let opts = MapOptions {
        game_attribute: "game.id",
    };
    let p = parse_logs(
        Parsed::default(),
        body.to_string().as_bytes(),
        OtlpFormat::Json,
        opts,
    )
    .unwrap();
    assert_eq!(p.events[0].game, "gf");
}

#[test]
fn severity_names_and_numbers() {
    for (v, n) in [
        (json!(9), 9),
        (json!("SEVERITY_NUMBER_INFO"), 9),
        (json!("SEVERITY_NUMBER_WARN3"), 15),
        (json!("SEVERITY_NUMBER_FATAL4"), 24),
        (json!("SEVERITY_NUMBER_UNSPECIFIED"), 0),
    ] {
        let body = json!({"resourceLogs": [{"scopeLogs": [{"logRecords": [
            {"eventName": "a", "severityNumber": v}]}]}]});
        let p = parse(body.to_string().as_bytes(), OtlpFormat::Json);
        assert_eq!(p.events.len(), 1, "{v}");
        assert_eq!(
            body_of(&p, 0)
                .get("severityNumber")
                .map_or(0, |s| s.as_i64().unwrap()),
            n
        );
    }
}
