//! The alert lifecycle a moderator works with, against the real `playtrace serve`: silences by
//! matchers (future alerts covered, expiry, unsilence), acknowledge distinct from resolve, the
//! budget-resolve rule, moderation alerts resolving themselves, `GET /v1/alerts/{id}`,
//! `?session=` and friends, and strict query strings and bodies answered in the JSON shape.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod server;

use serde_json::{json, Value};
use server::{agent, start, Answer, Server};
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(20);

fn post(s: &Server, path: &str, body: &Value) -> Answer {
    s.post_with(
        path,
        &[("Content-Type", "application/json")],
        body.to_string().as_bytes(),
    )
}

fn delete(s: &Server, path: &str) -> Answer {
    let mut r = agent().delete(format!("{}{path}", s.url)).call().unwrap();
    let status = r.status().as_u16();
    let text = r.body_mut().read_to_string().unwrap_or_default();
    (
        status,
        None,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// Posts an admin alert (check `id`) about `room` and session `session`; returns its id. The
/// same check posted again is the same alert.
fn admin_alert(s: &Server, id: &str, session: &str, room: &str) -> String {
    let (status, _, body) = post(
        s,
        "/v1/alerts",
        &json!({"sessionId": session, "severity": "high", "reason": format!("abuse in {session}"),
                "data": {"checkId": id, "roomId": room, "hubId": "hub-1"}}),
    );
    assert_eq!(status, 200, "{body}");
    body["alertId"].as_str().unwrap().to_string()
}

fn alert(s: &Server, id: &str) -> Value {
    let (status, _, body) = s.get(&format!("/v1/alerts/{id}"), None);
    assert_eq!(status, 200, "{body}");
    body
}

/// Polls the alert until `pred` holds (state changes made by the collector's clock).
fn wait_for(s: &Server, id: &str, pred: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + WAIT;
    loop {
        let a = alert(s, id);
        if pred(&a) {
            return a;
        }
        assert!(
            Instant::now() < deadline,
            "alert never changed as expected: {a}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_silence_by_matchers_covers_firing_and_future_alerts_until_unsilenced() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(&dir.path().join("data"), "");
    let before = admin_alert(&s, "a-1", "s-1", "pier");
    let elsewhere = admin_alert(&s, "a-2", "s-2", "dock");
    assert_eq!(alert(&s, &before)["state"], "firing");

    let (status, _, silence) = post(
        &s,
        "/v1/silences",
        &json!({"matchers": {"room": "pier", "category": "moderation"}, "for": "2h",
                "author": "mod-ana", "comment": "raid on pier, handled in game"}),
    );
    assert_eq!(status, 201, "{silence}");
    assert_eq!(silence["state"], "active");
    assert_eq!(silence["author"], "mod-ana");
    assert_eq!(
        silence["matchers"],
        json!({"room": "pier", "category": "moderation"})
    );
    let sid = silence["id"].as_str().unwrap().to_string();

    // The firing alert it matches is silenced; the other room's is not.
    let a = alert(&s, &before);
    assert_eq!(a["state"], "silenced");
    assert_eq!(a["silencedBy"], sid.as_str());
    assert_eq!(a["silencedUntil"], silence["endsAt"]);
    assert_eq!(alert(&s, &elsewhere)["state"], "firing");
    // A new alert it matches is silenced from the start.
    let later = admin_alert(&s, "a-3", "s-3", "pier");
    assert_eq!(alert(&s, &later)["state"], "silenced");

    let (_, _, list) = s.get("/v1/silences?state=active", None);
    assert_eq!(list["silences"][0]["id"], sid.as_str());

    // Unsilence: its alerts fire again, and it is listed as expired.
    let (status, _, ended) = delete(&s, &format!("/v1/silences/{sid}"));
    assert_eq!(status, 200, "{ended}");
    assert_eq!(ended["state"], "expired");
    assert_eq!(alert(&s, &before)["state"], "firing");
    assert_eq!(alert(&s, &later)["state"], "firing");
    assert!(alert(&s, &later).get("silencedBy").is_none());
    let (_, _, list) = s.get("/v1/silences?state=expired", None);
    assert_eq!(list["silences"][0]["id"], sid.as_str());
    let (_, _, list) = s.get("/v1/silences?state=active", None);
    assert_eq!(list["silences"], json!([]));
    // A new alert in the room fires now.
    let after = admin_alert(&s, "a-6", "s-6", "pier");
    assert_eq!(alert(&s, &after)["state"], "firing");
    assert_eq!(delete(&s, "/v1/silences/si_nope").0, 404);
}

#[test]
fn a_silence_expires_by_itself_and_its_alerts_fire_again() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(&dir.path().join("data"), "");
    let (status, _, silence) = post(
        &s,
        "/v1/silences",
        &json!({"matchers": {"session": "s-9"}, "for": "1s", "comment": "short"}),
    );
    assert_eq!(status, 201, "{silence}");
    let id = admin_alert(&s, "b-1", "s-9", "pier");
    assert_eq!(alert(&s, &id)["state"], "silenced");
    let fired = wait_for(&s, &id, |a| a["state"] == "firing");
    assert_eq!(fired["silencedUntil"], Value::Null);
    let (_, _, list) = s.get("/v1/silences", None);
    assert_eq!(list["silences"][0]["state"], "expired");
}

#[test]
fn acknowledging_is_a_field_and_resolving_a_state() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(&dir.path().join("data"), "");
    let id = admin_alert(&s, "c-1", "s-1", "pier");
    let (status, _, acked) = post(
        &s,
        &format!("/v1/alerts/{id}/ack"),
        &json!({"by": "mod-ben", "comment": "looking"}),
    );
    assert_eq!(status, 200, "{acked}");
    assert_eq!(
        acked["state"], "firing",
        "an acknowledged alert still fires"
    );
    assert_eq!(acked["acknowledgedBy"], "mod-ben");
    assert_eq!(acked["ackComment"], "looking");
    assert!(acked["acknowledgedAt"].is_string());
    // It links to the event that raised it (the stored admin.alert event).
    let seq = acked["eventSeq"].as_i64().unwrap();
    let (_, _, page) = s.get(&format!("/v1/events?after={}&limit=1", seq - 1), None);
    assert_eq!(page["events"][0]["seq"], seq);
    assert_eq!(page["events"][0]["event"], "admin.alert");
    // Raised again, the acknowledgement stays with the occurrence.
    assert_eq!(admin_alert(&s, "c-1", "s-1", "pier"), id);
    assert_eq!(alert(&s, &id)["acknowledgedBy"], "mod-ben");
    assert_eq!(alert(&s, &id)["count"], 2);
    let (status, _, resolved) = s.post_with(&format!("/v1/alerts/{id}/resolve"), &[], b"");
    assert_eq!(status, 200, "{resolved}");
    assert_eq!(resolved["state"], "resolved");
    assert_eq!(alert(&s, &id)["state"], "resolved");
    // Unknown alerts and malformed bodies: JSON errors.
    let (status, _, body) = post(&s, "/v1/alerts/al_nope/ack", &json!({}));
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("not_found"))
    );
    let (status, _, body) = s.post_with(&format!("/v1/alerts/{id}/ack"), &[], b"{not json");
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("bad_request")),
        "{body}"
    );
    let (status, _, body) = s.post_with("/v1/silences", &[], b"{\"matchers\": 3}");
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("bad_request")),
        "{body}"
    );
    let (status, _, body) = post(
        &s,
        "/v1/silences",
        &json!({"matchers": {"colour": "red"}, "for": "1h"}),
    );
    assert_eq!(status, 400);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("colour"),
        "{body}"
    );
}

#[test]
fn quiet_moderation_alerts_resolve_themselves_after_resolve_after() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(
        &dir.path().join("data"),
        "[alerts]\nresolve_after = \"1s\"\n",
    );
    let id = admin_alert(&s, "d-1", "s-1", "pier");
    assert_eq!(alert(&s, &id)["state"], "firing");
    let resolved = wait_for(&s, &id, |a| a["state"] == "resolved");
    assert_eq!(resolved["autoResolved"], true);
}

#[test]
fn a_budget_alert_cannot_be_resolved_by_hand_while_its_budget_is_breached() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(
        &dir.path().join("data"),
        "[budgets]\nwindows = [\"1h\"]\nevaluate_every = \"50ms\"\n[alerts]\nbudget_for = \"0s\"\n",
    );
    s.ingest(
        r#"{"event":"telemetry.contest.resolved","id":"r-1","attrs":{"contestId":"c-1","resolutionDurationMs":2000}}"#,
        None,
    );
    let deadline = Instant::now() + WAIT;
    let id = loop {
        let (_, _, list) = s.get("/v1/alerts?category=budget", None);
        if let Some(a) = list["alerts"].as_array().unwrap().first() {
            break a["id"].as_str().unwrap().to_string();
        }
        assert!(Instant::now() < deadline, "no budget alert fired");
        std::thread::sleep(Duration::from_millis(50));
    };
    let (status, _, body) = s.post_with(&format!("/v1/alerts/{id}/resolve"), &[], b"");
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["code"], "budget_still_breached");
    assert_eq!(alert(&s, &id)["state"], "firing");
    assert_eq!(alert(&s, &id)["group"], "budget overall");
    // Acknowledging it is fine.
    let (status, _, _) = post(&s, &format!("/v1/alerts/{id}/ack"), &json!({}));
    assert_eq!(status, 200);
    assert_eq!(alert(&s, &id)["acknowledgedBy"], "admin");
}

#[test]
fn events_filter_by_session_hub_and_room_and_unknown_parameters_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(&dir.path().join("data"), "");
    let lines = [
        r#"{"event":"chat.message","id":"e1","session":"s-1","attrs":{"hubId":"h1","roomId":"pier"}}"#,
        r#"{"event":"chat.message","id":"e2","session":"s-2","attrs":{"hubId":"h1","roomId":"dock"}}"#,
        r#"{"event":"chat.message","id":"e3","session":"s-1","attrs":{"hubId":"h7","roomId":"dock"}}"#,
    ]
    .join("\n");
    assert_eq!(s.ingest(&lines, None).0, 200);
    let ids = |path: &str| -> Vec<String> {
        let (status, _, body) = s.get(path, None);
        assert_eq!(status, 200, "{body}");
        body["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["id"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(ids("/v1/events?session=s-1"), ["e1", "e3"]);
    assert_eq!(ids("/v1/events?room=dock"), ["e2", "e3"]);
    assert_eq!(ids("/v1/events?hub=h7"), ["e3"]);
    assert_eq!(ids("/v1/events?hub=h1&room=pier"), ["e1"]);
    for path in [
        "/v1/events?sesion=s-1",
        "/v1/alerts?colour=red",
        "/v1/budgets?group=room",
        "/v1/contests?stat=open",
        "/v1/silences?foo=1",
    ] {
        let (status, _, body) = s.get(path, None);
        assert_eq!(status, 400, "{path}: {body}");
        assert_eq!(body["error"]["code"], "bad_request", "{path}");
        let bad = path.split('?').nth(1).unwrap().split('=').next().unwrap();
        assert!(
            body["error"]["message"].as_str().unwrap().contains(bad),
            "{path}: {body}"
        );
    }
    assert_eq!(s.get("/v1/events?limit=x", None).0, 400);
    assert_eq!(s.get("/v1/alerts/al_nope", None).0, 404);
}

#[test]
fn the_console_page_is_served_with_a_strict_policy_and_knows_what_a_token_may_do() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(
        &dir.path().join("data"),
        "[[tokens]]\nname = \"viewer\"\nsecret = \"read-secret\"\nscopes = [\"read\"]\n",
    );
    for path in ["/", "/alerts/al_123", "/budgets", "/console/app.js"] {
        let r = agent().get(format!("{}{path}", s.url)).call().unwrap();
        assert_eq!(r.status(), 200, "{path}");
        let csp = r.headers()["content-security-policy"].to_str().unwrap();
        assert!(
            csp.contains("default-src 'none'") && csp.contains("script-src 'self'"),
            "{csp}"
        );
    }
    let (status, _, anonymous) = s.get("/console/session", None);
    assert_eq!(status, 200);
    assert_eq!(anonymous["tokensConfigured"], true);
    assert_eq!(anonymous["scopes"], json!([]));
    let (_, _, viewer) = s.get("/console/session", Some("read-secret"));
    assert_eq!(viewer["token"], "viewer");
    assert_eq!(viewer["scopes"], json!(["read"]));
}
