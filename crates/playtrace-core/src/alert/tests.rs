use super::*;
use crate::event::Event;
use serde_json::json;
use serde_json::Value;

fn event(line: Value) -> Event {
    match line {
        Value::Object(o) => Event::from_object(o).unwrap(),
        _ => unreachable!(),
    }
}

fn defaults() -> RuleSet {
    RuleSet::from_spec(AlertsSpec::default()).unwrap()
}

#[test]
fn a_flagged_event_raises_a_moderation_alert_with_copied_fields() {
    let e = event(
        json!({"event": "narrative.check.completed", "session": "s-1",
        "attrs": {"checkId": "chk-9", "auditRef": "a-1", "latencyMs": 42,
                  "safetyFlags": ["ok", "prohibited-capability"], "text": "x"}}),
    );
    let alerts = defaults().evaluate(&e);
    assert_eq!(alerts.len(), 1);
    let a = &alerts[0];
    assert_eq!(a.category, Category::Moderation);
    assert_eq!(a.severity, Severity::High);
    assert_eq!(a.reason, "prohibited-capability");
    assert_eq!(a.session_id.as_deref(), Some("s-1"));
    assert_eq!(
        Value::Object(a.data.clone()),
        json!({"checkId": "chk-9", "auditRef": "a-1", "latencyMs": 42,
               "safetyFlags": ["ok", "prohibited-capability"]})
    );
    assert_eq!(a.fingerprint, "moderation.safety_flag|s-1|chk-9");
    assert!(!a.seeded && !a.probe);
    assert!(defaults().may_match(&e.name, r#"{"safetyFlags":[]}"#));
    assert!(!defaults().may_match("chat.message", r#"{"text":"hi"}"#));
}

#[test]
fn pipeline_defaults_and_the_offline_sla() {
    let rules = defaults();
    let failed = event(json!({"event": "offline.sessionClosure.failed",
        "attrs": {"sessionId": "s", "jobId": "j"}}));
    let a = &rules.evaluate(&failed)[0];
    assert_eq!(
        (a.severity, a.reason.as_str()),
        (Severity::Critical, "offline.workflow_failed")
    );
    let late = event(json!({"event": "offline.sessionClosure.completed",
        "attrs": {"durationMs": 600_001}}));
    assert_eq!(
        rules.evaluate(&late)[0].reason,
        "offline.workflow_sla_exceeded"
    );
    let on_time = event(json!({"event": "offline.sessionClosure.completed",
        "attrs": {"durationMs": 600_000}}));
    assert!(rules.evaluate(&on_time).is_empty());
    let wf = event(json!({"event": "telemetry.contest.workflowFailed",
        "attrs": {"contestId": "c-1", "error": "boom"}}));
    let a = &rules.evaluate(&wf)[0];
    assert_eq!(a.fingerprint, "contest.workflow_failed|c-1");
    assert_eq!(a.data["error"], "boom");
}

#[test]
fn default_rules_can_be_turned_off_and_own_rules_added() {
    let spec: AlertsSpec = toml::from_str(
        r#"
default_rules = false
[[rules]]
name = "slow-match"
category = "pipeline"
event = "match.*"
when = [{field = "waitMs", op = "ge", value = "2s"}, {field = "mode", op = "in", value = ["ranked", "duel"]}]
severity = "low"
reason = "queue wait {match} ms"
copy = ["mode"]
group_by = ["mode"]
"#,
    )
    .unwrap();
    let rules = RuleSet::from_spec(spec).unwrap();
    assert_eq!(rules.rules().len(), 1);
    let flagged = event(json!({"event": "x", "attrs": {"safetyFlags": ["content-warning"]}}));
    assert!(rules.evaluate(&flagged).is_empty(), "defaults are off");
    let slow = event(json!({"event": "match.started", "attrs": {"waitMs": 2500, "mode": "duel"}}));
    let a = &rules.evaluate(&slow)[0];
    assert_eq!(a.reason, "queue wait 2500 ms");
    assert_eq!(a.fingerprint, "slow-match|duel");
    let casual =
        event(json!({"event": "match.started", "attrs": {"waitMs": 2500, "mode": "casual"}}));
    assert!(rules.evaluate(&casual).is_empty());
}

#[test]
fn bad_rules_are_named() {
    let bad = |toml_text: &str| {
        let spec: AlertsSpec = toml::from_str(toml_text).unwrap();
        RuleSet::from_spec(spec).unwrap_err().to_string()
    };
    let e = bad(r#"[[rules]]
name = "r"
category = "pipeline"
event = "x"
when = [{field = "a", op = "gt", value = "soon"}]
severity = "low"
reason = "x""#);
    assert!(
        e.contains("alert rule `r`") && e.contains("when[0] (a)"),
        "{e}"
    );
    let e = bad(r#"[[rules]]
name = "moderation.safety_flag"
category = "pipeline"
event = "x"
severity = "low"
reason = "x""#);
    assert!(e.contains("unique"), "{e}");
}

#[test]
fn admin_alerts_seeded_and_probes() {
    let posted = json!({"id": "a-1", "sessionId": "s", "reason": "player.report",
                        "data": {"checkId": "c"}, "createdAt": "2026-01-01T00:00:00Z"});
    let a = admin_alert(posted.as_object().unwrap()).unwrap();
    assert_eq!(a.severity, Severity::High, "default severity");
    assert_eq!(a.category, Category::Moderation);
    assert_eq!(a.fingerprint, "admin.alert|s|a-1");
    assert_eq!(a.created_ms, Some(1_767_225_600_000.0));
    assert!(!a.seeded);
    for data in [
        json!({"seeded": true}),
        json!({"fallback": true}),
        json!({"debug": true}),
    ] {
        let o = json!({"reason": "x", "data": data});
        assert!(admin_alert(o.as_object().unwrap()).unwrap().seeded);
    }
    let o = json!({"reason": "debug.synthetic"});
    assert!(admin_alert(o.as_object().unwrap()).unwrap().seeded);
    let o = json!({"reason": "x", "severity": "urgent"});
    assert!(admin_alert(o.as_object().unwrap())
        .unwrap_err()
        .contains("urgent"));
    let probe = event(
        json!({"event": "smoke.check", "attrs": {"probe": true, "checkId": "n",
                              "safetyFlags": ["prohibited-capability"]}}),
    );
    assert!(defaults().evaluate(&probe)[0].probe);
    // An admin.alert sent as an event does the same.
    let as_event =
        event(json!({"event": "admin.alert", "attrs": {"reason": "r", "sessionId": "s"}}));
    let a = defaults().evaluate(&as_event);
    assert_eq!(a.len(), 1);
    assert_eq!(a[0].rule, "admin.alert");
}

#[test]
fn alert_states_read_and_write_as_the_json_spells_them() {
    for s in AlertState::ALL {
        let json = serde_json::to_string(&s).unwrap();
        assert_eq!(json, format!("\"{}\"", s.as_str()));
        assert_eq!(serde_json::from_str::<AlertState>(&json).unwrap(), s);
        assert_eq!(s.as_str().parse::<AlertState>(), Ok(s));
    }
    assert_eq!(AlertState::parse("firing"), Some(AlertState::Firing));
    let err = "open".parse::<AlertState>().unwrap_err();
    assert!(err.contains("`open` is not an alert state"), "{err}");
}

#[test]
fn the_raw_text_filter_needs_every_required_key_and_ignores_ne_and_envelope_fields() {
    let spec: AlertsSpec = serde_json::from_value(json!({
        "default_rules": false,
        "rules": [{
            "name": "tier", "category": "moderation", "event": "shop.*", "severity": "low",
            "reason": "r",
            "when": [
                {"field": "payload.tier", "op": "eq", "value": 3},
                {"field": "buyer", "op": "ne", "value": "bot"},
                {"field": "game", "op": "eq", "value": "g"},
                {"field": "price", "op": "gt", "value": 10}
            ]
        }]
    }))
    .unwrap();
    let rules = RuleSet::from_spec(spec).unwrap();
    let both = r#"{"attrs":{"payload":{"tier":3},"price":11}}"#;
    assert!(rules.may_match("shop.buy", both));
    // `buyer` (ne) and `game` (envelope) need not be in the text; every other key must.
    assert!(!rules.may_match("shop.buy", r#"{"attrs":{"payload":{"tier":3}}}"#));
    assert!(!rules.may_match("shop.buy", r#"{"attrs":{"price":11}}"#));
    assert!(!rules.may_match("chat.buy", both));
    // `admin.alert` always goes on to the full evaluation.
    assert!(rules.may_match("admin.alert", "{}"));
}
