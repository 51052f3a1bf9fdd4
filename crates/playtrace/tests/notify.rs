//! Alert notifications against loopback webhook receivers (crates/playtrace/tests/hook): the
//! v4 payload, grouping and its timers, send_resolved, Retry-After, the dead list, the rate
//! limit, what never notifies, the operability routes, `playtrace notify test`, and nothing
//! lost across SIGKILL while the receiver is down or before a journaled change was flushed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod hook;
mod server;

use serde_json::{json, Value};
use server::{start, Server, TOKENS};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(30);

/// `n` admin alerts in one request (so they commit together), one per session.
fn raise(s: &Server, sessions: &[&str], token: Option<&str>) {
    let body: String = sessions
        .iter()
        .map(|session| {
            let attrs = json!({"id": format!("chk-{session}"), "sessionId": session,
                               "severity": "high", "reason": "cheating suspected",
                               "data": {"roomId": "pier", "score": 99}});
            server::event("admin.alert", &format!("ev-{session}"), &attrs.to_string()) + "\n"
        })
        .collect();
    let (status, _, answer) = s.ingest(&body, token);
    assert_eq!(status, 200, "{answer}");
}

/// The alert id of the session's alert.
fn alert_id(s: &Server, session: &str) -> String {
    let (_, _, v) = s.get("/v1/alerts?include_seeded=true&include_probes=true", None);
    v["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["sessionId"] == session)
        .unwrap_or_else(|| panic!("no alert for {session}: {v}"))["id"]
        .as_str()
        .unwrap()
        .to_string()
}

fn notifications(s: &Server, query: &str, token: Option<&str>) -> Vec<Value> {
    let (status, _, v) = s.get(&format!("/v1/notifications{query}"), token);
    assert_eq!(status, 200, "{v}");
    v["notifications"].as_array().unwrap().clone()
}

/// Polls `f` until it holds (bounded).
fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !f() {
        assert!(Instant::now() < deadline, "never happened: {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn receiver(name: &str, url: &str, extra: &str) -> String {
    format!(
        "[[notify.receivers]]\nname = \"{name}\"\nkind = \"webhook\"\nurl = \"{url}\"\n{extra}\n"
    )
}

fn route(name: &str, extra: &str) -> String {
    format!("[[notify.routes]]\nreceiver = \"{name}\"\n{extra}\n")
}

fn keys(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
    k.sort();
    k
}

/// Alertmanager's webhook payload, version 4: exactly its fields, with their types.
fn assert_v4(body: &Value) {
    assert_eq!(
        keys(body),
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
        ],
        "{body}"
    );
    assert_eq!(body["version"], "4");
    assert!(body["truncatedAlerts"].is_u64());
    for a in body["alerts"].as_array().unwrap() {
        assert_eq!(
            keys(a),
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
        for map in [&a["labels"], &a["annotations"]] {
            assert!(
                map.as_object().unwrap().values().all(Value::is_string),
                "{map}"
            );
        }
        assert!(["firing", "resolved"].contains(&a["status"].as_str().unwrap()));
    }
}

#[test]
fn a_group_is_one_v4_notification_then_its_changes_and_resolution() {
    let (hook, quiet) = (hook::start(), hook::start());
    let timers = "group_by = [\"alertname\"]\ngroup_wait = \"1s\"\ngroup_interval = \"1s\"\n\
                  repeat_interval = \"1h\"";
    let config = receiver("hook", &format!("{}/alerts", hook.url), "")
        + &receiver("quiet", &quiet.url, "send_resolved = false")
        + &route("hook", &format!("{timers}\ncontinue = true"))
        + &route("quiet", timers);
    let dir = tempfile::tempdir().unwrap();
    let s = start(&dir.path().join("data"), &config);
    let t0 = Instant::now();
    raise(&s, &["s1", "s2"], None);
    let first = hook.wait_for(1, WAIT);
    assert!(
        first[0].at - t0 >= Duration::from_millis(900),
        "group_wait is waited for"
    );
    let body = &first[0].body;
    assert_v4(body);
    assert_eq!(first[0].path, "/alerts");
    assert_eq!(body["receiver"], "hook");
    assert_eq!(body["status"], "firing");
    assert_eq!(
        body["alerts"].as_array().unwrap().len(),
        2,
        "one notification per group"
    );
    assert_eq!(body["groupLabels"], json!({"alertname": "admin.alert"}));
    assert_eq!(body["groupKey"], "{}/{}:{alertname=\"admin.alert\"}");
    assert_eq!(body["externalURL"], s.url);
    assert_eq!(
        body["commonLabels"],
        json!({"alertname": "admin.alert", "category": "moderation", "severity": "high",
               "game": "gf", "env": "prod", "room": "pier"})
    );
    assert_eq!(body["commonAnnotations"]["reason"], "cheating suspected");
    assert_eq!(body["commonAnnotations"]["score"], "99");
    let a1 = alert_id(&s, "s1");
    let first_alert = body["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["labels"]["session"] == "s1")
        .unwrap()
        .clone();
    assert_eq!(
        first_alert["generatorURL"],
        format!("{}/alerts/{a1}", s.url)
    );
    assert_eq!(first_alert["endsAt"], "0001-01-01T00:00:00Z");
    assert_eq!(first_alert["fingerprint"], a1.trim_start_matches("al_"));
    assert!(first_alert["annotations"]["summary"]
        .as_str()
        .unwrap()
        .contains("session s1"));

    // One alert resolves: the next notification (after group_interval) carries both.
    let (status, _, _) = s.post_with(&format!("/v1/alerts/{a1}/resolve"), &[], b"");
    assert_eq!(status, 200);
    let second = hook.wait_for(2, WAIT);
    let body = &second[1].body;
    assert_v4(body);
    assert_eq!(body["status"], "firing");
    let statuses: HashMap<String, String> = body["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["labels"]["session"].as_str().unwrap().to_string(),
                a["status"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(statuses["s1"], "resolved");
    assert_eq!(statuses["s2"], "firing");
    let resolved = body["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["status"] == "resolved")
        .unwrap();
    assert_ne!(resolved["endsAt"], "0001-01-01T00:00:00Z");

    // The last one resolves: a resolved notification; send_resolved = false hears nothing.
    let a2 = alert_id(&s, "s2");
    s.post_with(&format!("/v1/alerts/{a2}/resolve"), &[], b"");
    let third = hook.wait_for(3, WAIT);
    assert_eq!(third[2].body["status"], "resolved");
    assert_eq!(third[2].body["alerts"].as_array().unwrap().len(), 1);
    eventually("every notification recorded as sent", || {
        notifications(&s, "?state=pending", None).is_empty()
            && notifications(&s, "?state=sent&receiver=hook", None).len() == 3
    });
    assert_eq!(quiet.requests().len(), 1, "send_resolved = false");
    // The Idempotency-Key is the notification's id.
    let sent: HashSet<String> = notifications(&s, "?state=sent&receiver=hook", None)
        .iter()
        .map(|n| n["id"].as_str().unwrap().to_string())
        .collect();
    let keys: HashSet<String> = third
        .iter()
        .map(|r| r.headers["idempotency-key"].clone())
        .collect();
    assert_eq!(sent, keys);
    // group_interval: each change waited a second after the notification before it.
    let created = created_ms(&notifications(&s, "?state=sent&receiver=hook", None));
    assert!(created[1] - created[0] >= 1000.0, "{created:?}");
    assert!(created[2] - created[1] >= 1000.0, "{created:?}");
}

/// When each notification was made (queued), oldest first.
fn created_ms(list: &[Value]) -> Vec<f64> {
    let mut t: Vec<f64> = list
        .iter()
        .map(|n| playtrace_core::time::parse_rfc3339_ms(n["createdAt"].as_str().unwrap()).unwrap())
        .collect();
    t.sort_by(f64::total_cmp);
    t
}

#[test]
fn a_firing_group_is_repeated_after_repeat_interval() {
    let hook = hook::start();
    let config = receiver("hook", &hook.url, "")
        + &route(
            "hook",
            "group_wait = \"0s\"\ngroup_interval = \"100ms\"\nrepeat_interval = \"1s\"",
        );
    let dir = tempfile::tempdir().unwrap();
    let s = start(&dir.path().join("data"), &config);
    raise(&s, &["r1"], None);
    let got = hook.wait_for(2, WAIT);
    let created = created_ms(&notifications(&s, "", None));
    assert!(
        created[1] - created[0] >= 1000.0,
        "repeat_interval: {created:?}"
    );
    assert_eq!(
        got[1].body["alerts"], got[0].body["alerts"],
        "the same firing alert"
    );
    assert_ne!(
        got[0].headers["idempotency-key"], got[1].headers["idempotency-key"],
        "a repeat is a new notification"
    );
}

#[test]
fn retry_after_is_waited_for_and_a_400_goes_to_the_dead_list() {
    let busy = hook::start_with(Arc::new(|n, _| {
        if n == 0 {
            (503, vec![("Retry-After".into(), "2".into())], "busy".into())
        } else {
            hook::ok()
        }
    }));
    let broken = hook::start_with(Arc::new(|_, _| (400, vec![], "bad payload".into())));
    let config = format!("{TOKENS}\n")
        + &receiver("busy", &busy.url, "")
        + &receiver("broken", &broken.url, "")
        + &route("busy", "group_wait = \"0s\"\ncontinue = true")
        + &route("broken", "group_wait = \"0s\"");
    let dir = tempfile::tempdir().unwrap();
    let s = start(&dir.path().join("data"), &config);
    let admin = Some("admin-secret-1");
    raise(&s, &["x1"], Some("ingest-secret-1"));

    let got = busy.wait_for(2, WAIT);
    assert!(
        got[1].at - got[0].at >= Duration::from_millis(1900),
        "Retry-After: 2 is waited for, not hammered ({:?})",
        got[1].at - got[0].at
    );
    assert_eq!(
        got[0].headers["idempotency-key"],
        got[1].headers["idempotency-key"]
    );
    eventually("the busy receiver's notification is sent", || {
        notifications(&s, "?state=sent&receiver=busy", admin).len() == 1
    });
    assert_eq!(busy.requests().len(), 2, "delivered once after the wait");

    eventually("the 400 is dead", || {
        notifications(&s, "?state=dead&receiver=broken", admin).len() == 1
    });
    let dead = &notifications(&s, "?state=dead", admin)[0];
    assert_eq!(dead["attempts"], 1, "a 400 is not retried");
    assert!(
        dead["lastError"].as_str().unwrap().contains("HTTP 400"),
        "{dead}"
    );
    assert!(
        dead["lastError"].as_str().unwrap().contains("bad payload"),
        "{dead}"
    );
    assert_eq!(broken.requests().len(), 1);

    // Admin scope only; errors in the JSON shape.
    let (status, _, body) = s.get("/v1/notifications", Some("read-secret-1"));
    assert_eq!(status, 403);
    assert!(body["error"]["code"].is_string());
    let (status, _, body) = s.get("/v1/notifications?state=lost", admin);
    assert_eq!(status, 400);
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("pending, sent or dead"));

    // Retry sends it again (and it dies again); DELETE forgets it.
    let id = dead["id"].as_str().unwrap().to_string();
    let auth = [("Authorization", "Bearer admin-secret-1")];
    let (status, _, v) = s.post_with(&format!("/v1/notifications/{id}/retry"), &auth, b"");
    assert_eq!(status, 200, "{v}");
    broken.wait_for(2, WAIT);
    eventually("dead again", || {
        notifications(&s, "?state=dead", admin).len() == 1
    });
    let sent_id = notifications(&s, "?state=sent", admin)[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (status, _, _) = s.post_with(&format!("/v1/notifications/{sent_id}/retry"), &auth, b"");
    assert_eq!(status, 409, "a sent notification is not retried");
    let delete = |id: &str| {
        let mut r = server::agent()
            .delete(format!("{}/v1/notifications/{id}", s.url))
            .header("Authorization", "Bearer admin-secret-1")
            .call()
            .unwrap();
        let body: Value = serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap();
        (r.status().as_u16(), body)
    };
    assert_eq!(delete(&sent_id).0, 409, "only dead ones are deleted");
    assert_eq!(delete(&id).0, 200);
    let (status, body) = delete(&id);
    assert_eq!(status, 404);
    assert_eq!(body["error"]["code"], "not_found");
}

/// The receiver's URL and headers are parsed once when the collector starts (not per request):
/// every request still carries the configured headers, its JSON content type, the
/// notification's own idempotency key, and goes to the configured path and query.
#[test]
fn every_request_carries_the_configured_headers_and_its_own_key() {
    let hook = hook::start();
    let config = receiver(
        "hook",
        &format!("{}/in/hook?team=ops", hook.url),
        "headers = { X-Team = \"ops\", X-Route = \"pager\" }",
    ) + &route("hook", "group_by = [\"session\"]\ngroup_wait = \"0s\"");
    let dir = tempfile::tempdir().unwrap();
    let s = start(&dir.path().join("data"), &config);
    raise(&s, &["h1", "h2", "h3"], None);
    let got = hook.wait_for(3, WAIT);
    let mut keys = HashSet::new();
    for r in &got {
        assert_eq!(r.path, "/in/hook?team=ops");
        assert_eq!(r.headers["content-type"], "application/json");
        assert_eq!(r.headers["x-team"], "ops");
        assert_eq!(r.headers["x-route"], "pager");
        assert!(r.headers["user-agent"].starts_with("PlayTrace/"), "{r:?}");
        keys.insert(r.headers["idempotency-key"].clone());
    }
    eventually("the three are recorded sent", || {
        notifications(&s, "?state=sent", None).len() == 3
    });
    let ids: HashSet<String> = notifications(&s, "?state=sent", None)
        .iter()
        .map(|n| n["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(keys.len(), 3, "one key per notification");
    assert!(keys.is_subset(&ids), "each key is its notification's id");
}

#[test]
fn the_rate_limit_holds() {
    let hook = hook::start();
    let config = receiver("slow", &hook.url, "rate_limit = 2\nrate_burst = 2")
        + &route("slow", "group_by = [\"session\"]\ngroup_wait = \"0s\"");
    let dir = tempfile::tempdir().unwrap();
    let s = start(&dir.path().join("data"), &config);
    raise(&s, &["a", "b", "c", "d", "e"], None);
    hook.wait_for(2, WAIT);
    eventually("the others wait for the rate limit", || {
        metric(&s, "playtrace_notify_rate_limited_total{receiver=\"slow\"}") >= 1.0
            && notifications(&s, "?state=pending", None).len() == 3
    });
    // Two a minute: the third would come 30 s after the first two.
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(hook.requests().len(), 2, "no more than the burst went out");
    assert_eq!(
        notifications(&s, "?state=pending", None).len(),
        3,
        "none dropped"
    );
}

fn metric(s: &Server, series: &str) -> f64 {
    let (_, _, text) = s.get("/metrics", None);
    text.as_str()
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or(0.0)
}

/// Each receiver's loop keeps its due notifications in memory: it reads the outbox at start,
/// not again after every send or retry (issue 16: re-reading per send cost the collector
/// milliseconds of CPU per alert).
#[test]
fn deliveries_and_retries_do_not_read_the_outbox_per_send() {
    let healthy = hook::start();
    let first_tries = Arc::new(std::sync::Mutex::new(HashSet::new()));
    let seen = first_tries.clone();
    // Four notifications fail once (503, no Retry-After: backoff), then are delivered; fewer
    // than the five failures in a row that open the receiver's circuit.
    let flaky = hook::start_with(Arc::new(move |_, r| {
        let session = r.body["alerts"][0]["labels"]["session"]
            .as_str()
            .unwrap_or("");
        let key = r.headers["idempotency-key"].clone();
        if ["s0", "s5", "s10", "s15"].contains(&session) && seen.lock().unwrap().insert(key) {
            (503, vec![], String::new())
        } else {
            hook::ok()
        }
    }));
    let config = "[notify]\nbackoff = \"50ms\"\nmax_backoff = \"200ms\"\n".to_string()
        + &receiver("healthy", &healthy.url, "")
        + &receiver("flaky", &flaky.url, "")
        + &route(
            "healthy",
            "group_by = [\"session\"]\ngroup_wait = \"0s\"\ncontinue = true",
        )
        + &route("flaky", "group_by = [\"session\"]\ngroup_wait = \"0s\"");
    let dir = tempfile::tempdir().unwrap();
    let s = start(&dir.path().join("data"), &config);
    let sessions: Vec<String> = (0..20).map(|i| format!("s{i}")).collect();
    for chunk in sessions.chunks(5) {
        let chunk: Vec<&str> = chunk.iter().map(String::as_str).collect();
        raise(&s, &chunk, None);
    }
    healthy.wait_for(20, WAIT);
    flaky.wait_for(24, WAIT);
    eventually("every notification is recorded as sent", || {
        notifications(&s, "?state=sent", None).len() == 40
    });
    assert_eq!(first_tries.lock().unwrap().len(), 4, "four were retried");
    let reads = metric(&s, "playtrace_notify_outbox_reads_total");
    assert!(
        reads >= 2.0,
        "each loop reads the outbox at start ({reads})"
    );
    assert!(
        reads <= 4.0,
        "44 attempts by 2 receivers took {reads} reads of the outbox: a read per send is back"
    );
}

#[test]
fn probe_seeded_and_silenced_alerts_notify_nobody() {
    let hook = hook::start();
    let config = receiver("hook", &hook.url, "")
        + &route("hook", "group_by = [\"session\"]\ngroup_wait = \"0s\"");
    let dir = tempfile::tempdir().unwrap();
    let s = start(&dir.path().join("data"), &config);
    let (status, _, v) = s.post_with(
        "/v1/silences",
        &[("Content-Type", "application/json")],
        br#"{"matchers": {"session": "hushed"}, "for": "1h", "comment": "known issue"}"#,
    );
    assert_eq!(status, 201, "{v}");
    let probe = r#"{"event":"narrative.check","id":"p1","game":"gf","env":"prod","session":"probe-s","attrs":{"checkId":"c1","safetyFlags":["prohibited-capability"],"probe":true}}"#;
    let seeded = server::event(
        "admin.alert",
        "seed1",
        r#"{"id":"k","sessionId":"seeded-s","reason":"debug.fixture","data":{"seeded":true}}"#,
    );
    let hushed = server::event(
        "admin.alert",
        "hush1",
        r#"{"id":"k","sessionId":"hushed","reason":"cheating suspected"}"#,
    );
    for line in [probe.to_string(), seeded, hushed] {
        assert_eq!(s.ingest(&line, None).0, 200);
    }
    // The probe, seeded and silenced alerts exist...
    for session in ["probe-s", "seeded-s", "hushed"] {
        alert_id(&s, session);
    }
    // ...and an ordinary alert raised after them is the only one notified.
    raise(&s, &["canary"], None);
    let got = hook.wait_for(1, WAIT);
    eventually("nothing pending", || {
        notifications(&s, "?state=pending", None).is_empty()
    });
    let all = hook.requests();
    assert_eq!(
        all.len(),
        1,
        "{:#?}",
        all.iter().map(|r| &r.body).collect::<Vec<_>>()
    );
    assert_eq!(got[0].body["alerts"][0]["labels"]["session"], "canary");
    assert_eq!(notifications(&s, "", None).len(), 1);
}

#[test]
fn notify_test_prints_the_receivers_answer() {
    let good = hook::start_with(Arc::new(|_, _| (200, vec![], "{\"accepted\":1}".into())));
    let bad = hook::start_with(Arc::new(|_, _| (400, vec![], "no such channel".into())));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("playtrace.toml");
    std::fs::write(
        &path,
        receiver("good", &good.url, "") + &receiver("bad", &bad.url, ""),
    )
    .unwrap();
    let run = |name: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_playtrace"))
            .args(["notify", "test", "--receiver", name, "--config"])
            .arg(&path)
            .output()
            .unwrap()
    };
    let out = run("good");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(
        text.contains("HTTP 200") && text.contains("accepted"),
        "{text}"
    );
    let sent = good.wait_for(1, WAIT);
    assert_v4(&sent[0].body);
    assert_eq!(
        sent[0].body["alerts"][0]["labels"]["alertname"],
        "playtrace.test"
    );

    let out = run("bad");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("HTTP 400") && text.contains("no such channel"),
        "{text}"
    );

    let out = run("nobody");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("good, bad"), "{err}");
}

#[test]
fn notifications_survive_sigkill_while_the_receiver_is_down() {
    let port = hook::free_port();
    let url = format!("http://127.0.0.1:{port}");
    let config = "[notify]\nbackoff = \"50ms\"\nmax_backoff = \"200ms\"\nmax_attempts = 1000\n"
        .to_string()
        + &receiver("down", &url, "")
        + &route("down", "group_by = [\"session\"]\ngroup_wait = \"0s\"");
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let s = start(&data, &config);
    let sessions: Vec<String> = (0..10).map(|i| format!("k{i}")).collect();
    let refs: Vec<&str> = sessions.iter().map(String::as_str).collect();
    raise(&s, &refs[..5], None);
    raise(&s, &refs[5..], None);
    eventually("notifications queued, and failing", || {
        let pending = notifications(&s, "?state=pending", None);
        pending.len() == 10 && pending.iter().any(|n| n["attempts"].as_u64() >= Some(1))
    });
    s.kill();

    let hook = hook::start_on(port, Arc::new(|_, _| hook::ok()));
    let s = start(&data, &config);
    eventually("all ten delivered after the restart", || {
        let got: HashSet<String> = hook
            .requests()
            .iter()
            .filter_map(|r| {
                r.body["alerts"][0]["labels"]["session"]
                    .as_str()
                    .map(String::from)
            })
            .collect();
        got.len() == 10
    });
    // Duplicates (a send the crash kept from being recorded) only with the same key.
    let mut by_key: HashMap<String, HashSet<String>> = HashMap::new();
    for r in hook.requests() {
        let session = r.body["alerts"][0]["labels"]["session"]
            .as_str()
            .unwrap()
            .to_string();
        by_key
            .entry(r.headers["idempotency-key"].clone())
            .or_default()
            .insert(session);
    }
    assert_eq!(by_key.len(), 10, "one key per notification");
    assert!(by_key.values().all(|s| s.len() == 1));
    eventually("recorded as sent", || {
        notifications(&s, "?state=sent", None).len() == 10
    });
}

/// An alert change is journaled in the writer's commit and applied to its group only by a
/// later flush: a collector SIGKILLed in between (here, inside the group's wait) sends every
/// notification after its restart, exactly once.
#[test]
fn an_alert_journaled_but_not_flushed_is_notified_once_after_sigkill() {
    let hook = hook::start();
    let config = receiver("hook", &hook.url, "")
        + &route("hook", "group_by = [\"session\"]\ngroup_wait = \"2s\"");
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let s = start(&data, &config);
    // The ingest answer comes after the commit that journaled the alerts; the groups wait 2 s.
    raise(&s, &["j0", "j1", "j2"], None);
    s.kill();
    assert!(
        hook.requests().is_empty(),
        "killed before the groups' wait ended"
    );

    let s = start(&data, &config);
    eventually("the three recorded as sent", || {
        notifications(&s, "?state=sent", None).len() == 3
    });
    let sessions: Vec<String> = hook
        .requests()
        .iter()
        .filter_map(|r| {
            r.body["alerts"][0]["labels"]["session"]
                .as_str()
                .map(String::from)
        })
        .collect();
    assert_eq!(sessions.len(), 3, "each once: {sessions:?}");
    assert_eq!(sessions.iter().collect::<HashSet<_>>().len(), 3);
    assert!(notifications(&s, "?state=pending", None).is_empty());
}
