use super::*;
use crate::config::ServeConfig;
use playtrace_store::Member;

const GOLDEN: &str = "../../testdata/notify/webhook-v4.json";

fn alert(id: &str, session: &str, state: &str) -> Value {
    let resolved = if state == "resolved" {
        json!("2026-11-26T10:05:00.000Z")
    } else {
        Value::Null
    };
    json!({"id": id, "fingerprint": format!("prohibited-capability|{session}"),
           "rule": "prohibited-capability", "category": "moderation", "severity": "high",
           "reason": "prohibited-capability", "state": state, "game": "gf", "env": "prod",
           "sessionId": session, "createdAt": "2026-11-26T10:00:00.000Z",
           "updatedAt": "2026-11-26T10:05:00.000Z", "resolvedAt": resolved,
           "seeded": false, "probe": false, "count": 1,
           "data": {"roomId": "pier", "playerId": 42}})
}

fn receiver(kind: &str, max_alerts: usize, send_resolved: bool) -> Receiver {
    let c = ServeConfig::from_toml(
        &format!(
            "[[notify.receivers]]\nname = \"oncall\"\nkind = \"{kind}\"\n\
             url = \"http://127.0.0.1:9\"\nmax_alerts = {max_alerts}\n\
             send_resolved = {send_resolved}"
        ),
        "test",
    )
    .unwrap();
    c.notify.receivers[0].clone()
}

fn member(a: &Value, firing: bool, notified: bool) -> Member {
    Member {
        alert_id: a["id"].as_str().unwrap().into(),
        firing,
        alert: a.to_string(),
        notified,
    }
}

fn group(members: Vec<Member>, sent_ms: Option<i64>) -> Group {
    Group {
        receiver: "oncall".into(),
        group_key: "{}/{}:{alertname=\"prohibited-capability\"}".into(),
        labels: r#"{"alertname":"prohibited-capability"}"#.into(),
        repeat_ms: 60_000,
        sent_ms,
        flush_ms: 30_000,
        members,
    }
}

/// The v4 payload with every field, byte for byte (`PLAYTRACE_BLESS=1` rewrites the file).
#[test]
fn webhook_payload_matches_the_golden_file() {
    let body = webhook_body(&WebhookGroup {
        receiver: "oncall",
        group_key: "{}/{category=\"moderation\"}:{alertname=\"prohibited-capability\"}",
        group_labels: json!({"alertname": "prohibited-capability"}),
        external_url: "https://playtrace.example.com",
        alerts: vec![
            (alert("al_00000000000000a1", "s1", "firing"), true),
            (alert("al_00000000000000a2", "s2", "resolved"), false),
        ],
        truncated: 1,
    });
    let text = serde_json::to_string_pretty(&body).unwrap() + "\n";
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(GOLDEN);
    if std::env::var_os("PLAYTRACE_BLESS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &text).unwrap();
    }
    let golden = std::fs::read_to_string(&path).unwrap();
    assert_eq!(text, golden);
    // Exactly Alertmanager's fields, at both levels.
    let keys = |v: &Value| {
        let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
        k.sort();
        k
    };
    assert_eq!(
        keys(&body),
        [
            "alerts",
            "commonAnnotations",
            "commonLabels",
            "externalURL",
            "groupKey",
            "groupLabels",
            "receiver",
            "status",
            "truncatedAlerts",
            "version"
        ]
    );
    assert_eq!(
        keys(&body["alerts"][0]),
        [
            "annotations",
            "endsAt",
            "fingerprint",
            "generatorURL",
            "labels",
            "startsAt",
            "status"
        ]
    );
    assert_eq!(body["alerts"][0]["endsAt"], ZERO_TIME);
    assert_eq!(body["alerts"][1]["endsAt"], "2026-11-26T10:05:00.000Z");
    assert_eq!(
        body["alerts"][0]["generatorURL"],
        "https://playtrace.example.com/alerts/al_00000000000000a1"
    );
    assert_eq!(body["commonLabels"]["alertname"], "prohibited-capability");
    assert!(body["commonLabels"].get("session").is_none());
}

#[test]
fn a_flush_sends_only_what_alertmanager_would() {
    let r = receiver("webhook", 0, true);
    let a1 = alert("al_1", "s1", "firing");
    let a2 = alert("al_2", "s2", "firing");
    // Something new fires: sent, with both.
    let f = decide(
        &group(
            vec![member(&a1, true, true), member(&a2, true, false)],
            Some(0),
        ),
        Some(&r),
        "http://x",
        1_000,
    );
    let n = f.send.unwrap();
    assert_eq!((n.status.as_str(), n.alerts), ("firing", 2));
    assert_eq!(f.next_ms, 61_000, "the repeat comes after repeat_interval");
    // Nothing new and the repeat not due: nothing.
    let quiet = group(vec![member(&a1, true, true)], Some(0));
    assert!(decide(&quiet, Some(&r), "http://x", 1_000).send.is_none());
    // The repeat is due: sent again.
    assert!(decide(&quiet, Some(&r), "http://x", 60_000).send.is_some());
    // A notified alert resolved: sent as resolved, unless send_resolved is off.
    let ended = group(vec![member(&a1, false, true)], Some(0));
    let n = decide(&ended, Some(&r), "http://x", 1_000).send.unwrap();
    assert_eq!(n.status, "resolved");
    let quiet_r = receiver("webhook", 0, false);
    assert!(decide(&ended, Some(&quiet_r), "http://x", 1_000)
        .send
        .is_none());
    // Fired and resolved before the first notification: nothing at all.
    let blip = group(vec![member(&a1, false, false)], None);
    assert!(decide(&blip, Some(&r), "http://x", 1_000).send.is_none());
}

#[test]
fn max_alerts_truncates_and_counts_the_rest() {
    let r = receiver("webhook", 1, true);
    let members = vec![
        member(&alert("al_1", "s1", "firing"), true, false),
        member(&alert("al_2", "s2", "firing"), true, false),
    ];
    let n = decide(&group(members, None), Some(&r), "http://x", 0)
        .send
        .unwrap();
    let body: Value = serde_json::from_str(&n.body).unwrap();
    assert_eq!(body["alerts"].as_array().unwrap().len(), 1);
    assert_eq!(body["truncatedAlerts"], 1);
}

#[test]
fn alertmanager_alerts_end_unless_sent_again() {
    let r = receiver("alertmanager", 0, true);
    let members = vec![member(&alert("al_1", "s1", "firing"), true, false)];
    let n = decide(&group(members, None), Some(&r), "http://x", 0)
        .send
        .unwrap();
    let body: Value = serde_json::from_str(&n.body).unwrap();
    assert_eq!(body[0]["labels"]["alertname"], "prohibited-capability");
    assert_eq!(
        body[0]["endsAt"], "1970-01-01T00:04:00.000Z",
        "4 × resend_interval"
    );
    assert!(
        body[0].get("status").is_none(),
        "Alertmanager's postable alert shape"
    );
}

/// A flush redone after a power loss (the outbox's bookkeeping is not fsynced at once) carries
/// the Idempotency-Key it was first sent with; another flush never does.
#[test]
fn a_flush_redone_gets_the_same_id_and_another_flush_another() {
    let a1 = alert("al_1", "s1", "firing");
    let a2 = alert("al_2", "s2", "firing");
    let g = group(vec![member(&a1, true, false)], None);
    let id = flush_id(&g);
    assert_eq!(id, flush_id(&g.clone()), "the same flush, redone");
    assert!(id.starts_with("nt_") && id.len() == 28, "{id}");
    let mut later = g.clone();
    later.flush_ms += 1;
    let mut more = g.clone();
    more.members.push(member(&a2, true, false));
    let mut resolved = g.clone();
    resolved.members[0].firing = false;
    let mut other_receiver = g.clone();
    other_receiver.receiver = "pager".into();
    let mut other_group = g.clone();
    other_group.group_key.push('x');
    let ids: std::collections::HashSet<String> =
        [&g, &later, &more, &resolved, &other_receiver, &other_group]
            .iter()
            .map(|g| flush_id(g))
            .collect();
    assert_eq!(ids.len(), 6, "{ids:?}");
    // The notification the flush decides carries it.
    let r = receiver("webhook", 0, true);
    let sent = decide(&g, Some(&r), "http://x", 40_000).send.unwrap();
    assert_eq!(sent.id, id);
    let redone = decide(&g, Some(&r), "http://x", 95_000).send.unwrap();
    assert_eq!(redone.id, id, "redone later, after a restart");
}

#[test]
fn ids_never_repeat() {
    let a = new_id(5);
    let b = new_id(5);
    assert_ne!(a, b);
    assert!(a.starts_with("nt_"));
}

#[test]
fn the_summary_is_one_sentence() {
    let a = alert("al_1", "s1", "firing");
    assert_eq!(
        summary(&a, &labels(&a)),
        "High moderation alert prohibited-capability in gf/prod (session s1): \
         prohibited-capability"
    );
}

/// One flush shapes an alert once for all its receivers' groups: every body is still exactly
/// what a flush of that group alone would send.
#[test]
fn shapes_shared_across_a_flush_leave_every_body_unchanged() {
    let a1 = alert("al_1", "s1", "firing");
    let a2 = alert("al_2", "s2", "resolved");
    let members = || {
        vec![
            member(&a1, true, false),
            member(&a2, false, true),
            member(&a2, true, false),
        ]
    };
    let receivers = [
        receiver("webhook", 0, true),
        receiver("webhook", 1, true),
        receiver("alertmanager", 0, true),
        receiver("webhook", 0, false),
    ];
    let mut shapes = Shapes::default();
    for (i, r) in receivers.iter().enumerate() {
        let mut g = group(members(), None);
        g.group_key = format!("{{}}/{{}}:{{session=\"s{i}\"}}");
        let shared = decide_with(&g, Some(r), "http://x", 7, &mut shapes);
        let alone = decide(&g, Some(r), "http://x", 7);
        let (shared, alone) = (shared.send.unwrap(), alone.send.unwrap());
        assert_eq!(shared.body, alone.body, "receiver {i}");
        assert_eq!(
            (shared.status, shared.alerts),
            (alone.status, alone.alerts),
            "receiver {i}"
        );
    }
    assert_eq!(shapes.webhook.len(), 3, "each (alert, firing) shaped once");
}
