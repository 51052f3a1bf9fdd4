//! Cluster mode end to end (issue 22): a 3-node NATS JetStream cluster and 3 `playtrace serve`
//! nodes on loopback. Clients ingest through all three, retrying each batch until it is
//! acknowledged; one NATS server and one collector are SIGKILLed under load and restarted.
//! Afterwards every acknowledged event is stored exactly once on every collector, the three
//! stores hold the same rows under the same sequence numbers, and `/v1/budgets` and
//! `/v1/alerts` read the same on all three; a fourth collector started with an empty data
//! directory rebuilds the same store from the stream. One lease holder runs the time-driven
//! work (a budget alert and an auto-resolve the same on every node) and sends the notifications;
//! another takes over when it is SIGKILLed. Needs Debian's `nats-server` (scripts/test installs
//! it; `$PLAYTRACE_NATS_SERVER` names another binary): never skipped.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod hook;
mod nats;
mod server;

use nats::{caught_up, ingest_acked, nats_cluster, Nats, TestDir};
use serde_json::Value;
use server::{event, Server};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn collector_config(nats: &[Nats], node: usize) -> String {
    let urls: Vec<String> = nats
        .iter()
        .map(|n| format!("\"nats://127.0.0.1:{}\"", n.port))
        .collect();
    format!(
        "[cluster]\nnats = [{}]\nnode = \"c{node}\"\nreplicas = 3\nack_timeout = \"2s\"\n\
         apply_timeout = \"5s\"\nlease_ttl = \"2s\"\n\n[[budget]]\nmetric = \"arming\"\nlimit_ms = 8000\n",
        urls.join(", ")
    )
}

/// A reading without the fields that say when it was taken (`generatedAt`, and each window's
/// `fromMs`/`toMs`, which follow the answering node's clock).
fn without_call_time(mut v: Value) -> Value {
    if let Some(o) = v.as_object_mut() {
        o.remove("generatedAt");
    }
    for w in v["windows"].as_array_mut().into_iter().flatten() {
        if let Some(o) = w.as_object_mut() {
            o.remove("fromMs");
            o.remove("toMs");
        }
    }
    v
}

/// A batch of 20 events: contest lifecycles (budgets) and, now and then, a flagged check
/// (a moderation alert).
fn batch(client: usize, n: u64) -> (Vec<String>, String) {
    let mut ids = Vec::new();
    let mut body = String::new();
    for i in 0..6 {
        let contest = format!("k{client}-{n}-{i}");
        let room = format!("r{}", i % 3);
        let lines = [
            (
                "telemetry.contest.armed",
                format!(r#"{{"hubId":"h","roomId":"{room}","contestKey":"{contest}"}}"#),
            ),
            (
                "telemetry.contest.launched",
                format!(
                    r#"{{"hubId":"h","roomId":"{room}","contestKey":"{contest}","contestId":"{contest}","armingDurationMs":{}}}"#,
                    100 + (n * 7 + i) % 900
                ),
            ),
            (
                "telemetry.contest.resolved",
                format!(
                    r#"{{"hubId":"h","roomId":"{room}","contestKey":"{contest}","contestId":"{contest}","outcomeTier":"success","resolutionDurationMs":{}}}"#,
                    50 + (n * 13 + i) % 400
                ),
            ),
        ];
        for (j, (name, attrs)) in lines.iter().enumerate() {
            let id = format!("{contest}-{j}");
            body.push_str(&event(name, &id, attrs));
            body.push('\n');
            ids.push(id);
        }
    }
    for i in 0..2 {
        let id = format!("f{client}-{n}-{i}");
        let flags = if (n % 10, i) == (0, 0) {
            r#","safetyFlags":["prohibited-capability"]"#
        } else {
            ""
        };
        body.push_str(&event(
            "narrative.check",
            &id,
            &format!(r#"{{"checkId":"c{client}-{n}"{flags}}}"#),
        ));
        body.push('\n');
        ids.push(id);
    }
    (ids, body)
}

fn rows(db: &Path) -> Vec<(i64, i64, String, Option<String>, String, String)> {
    let conn =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap();
    let mut stmt = conn
        .prepare("SELECT seq, recv_ms, game, id, name, body FROM events ORDER BY seq")
        .unwrap();
    stmt.query_map([], |r| {
        Ok((
            r.get(0)?,
            r.get(1)?,
            r.get(2)?,
            r.get(3)?,
            r.get(4)?,
            r.get(5)?,
        ))
    })
    .unwrap()
    .map(Result::unwrap)
    .collect()
}

/// The last lines each collector and NATS server logged, for a test that stalls to show.
fn logs(nats: &[Nats], collectors: &[Option<Server>]) -> String {
    let mut out = String::new();
    for (i, c) in collectors.iter().enumerate() {
        let text = c
            .as_ref()
            .map(|c| c.stderr.lock().unwrap().clone())
            .unwrap_or_else(|| "(killed)".into());
        let lines: Vec<&str> = text.lines().collect();
        let tail = lines[lines.len().saturating_sub(20)..].join("\n");
        out.push_str(&format!("--- collector {i}\n{tail}\n"));
    }
    for (i, n) in nats.iter().enumerate() {
        out.push_str(&format!("--- nats {i}\n{}\n", n.log_tail(20)));
    }
    out
}

/// Three NATS servers and three collectors, each collector in the cluster.
fn cluster(dir: &Path) -> (Vec<Nats>, Vec<PathBuf>, Vec<Option<Server>>) {
    let nats = nats_cluster(dir);
    let data: Vec<PathBuf> = (0..3).map(|i| dir.join(format!("c{i}"))).collect();
    let collectors: Vec<Option<Server>> = (0..3)
        .map(|i| Some(server::start(&data[i], &collector_config(&nats, i))))
        .collect();
    let deadline = Instant::now() + Duration::from_secs(40);
    for c in collectors.iter().flatten() {
        caught_up(c, deadline);
    }
    (nats, data, collectors)
}

#[test]
fn a_three_node_cluster_loses_nothing_acknowledged_when_a_server_and_a_collector_die() {
    let dir = TestDir::new();
    let (mut nats, data, mut collectors) = cluster(dir.path());
    let urls: Arc<Mutex<Vec<String>>> = Arc::new(Mutex::new(
        collectors.iter().flatten().map(|c| c.url.clone()).collect(),
    ));
    let stop = Arc::new(AtomicBool::new(false));
    let acked: Arc<Mutex<Vec<String>>> = Arc::default();
    let clients: Vec<_> = (0..3)
        .map(|client| {
            let (urls, stop, acked) = (urls.clone(), stop.clone(), acked.clone());
            std::thread::spawn(move || {
                let agent = server::agent();
                let (mut n, mut target, mut retries) = (0u64, client, 0u64);
                while !stop.load(Ordering::Relaxed) {
                    let (ids, body) = batch(client, n);
                    // The same batch (same ids) until some node acknowledges it.
                    loop {
                        let url = urls.lock().unwrap()[target % 3].clone();
                        let answer = agent
                            .post(format!("{url}/v1/events"))
                            .header("Content-Type", "application/x-ndjson")
                            .send(body.as_bytes());
                        if let Ok(mut r) = answer {
                            let status = r.status().as_u16();
                            let text = r.body_mut().read_to_string().unwrap_or_default();
                            if status == 200 {
                                let v: Value = serde_json::from_str(&text).unwrap();
                                let total = v["accepted"].as_u64().unwrap()
                                    + v["duplicates"].as_u64().unwrap();
                                assert_eq!(total, ids.len() as u64, "{text}");
                                acked.lock().unwrap().extend(ids);
                                break;
                            }
                            assert_eq!(status, 503, "only 503 may refuse: {text}");
                            let v: Value = serde_json::from_str(&text).unwrap();
                            assert!(v["error"]["message"].is_string(), "{text}");
                        }
                        retries += 1;
                        target += 1;
                        std::thread::sleep(Duration::from_millis(10));
                    }
                    n += 1;
                }
                (n, retries)
            })
        })
        .collect();

    let acked_now = || acked.lock().unwrap().len();
    // `n` more acknowledgements within 20 s, or what every process logged.
    let wait_for_acks = |n: usize, nats: &[Nats], collectors: &[Option<Server>]| {
        let deadline = Instant::now() + Duration::from_secs(20);
        let start = acked_now();
        while acked_now() < start + n {
            if Instant::now() >= deadline {
                panic!(
                    "ingest stalled at {} (from {start})\n{}",
                    acked_now(),
                    logs(nats, collectors)
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    };
    wait_for_acks(1000, &nats, &collectors);
    // One NATS server and one collector die mid-load.
    nats[1].kill();
    collectors[2].take().unwrap().kill();
    wait_for_acks(1000, &nats, &collectors);
    nats[1].start();
    collectors[2] = Some(server::start(&data[2], &collector_config(&nats, 2)));
    urls.lock().unwrap()[2] = collectors[2].as_ref().unwrap().url.clone();
    wait_for_acks(1000, &nats, &collectors);
    stop.store(true, Ordering::Relaxed);
    let (mut batches, mut retries) = (0, 0);
    for c in clients {
        let (b, r) = c.join().unwrap();
        (batches, retries) = (batches + b, retries + r);
    }
    assert!(batches > 50, "the clients barely ran ({batches} batches)");
    assert!(
        retries > 0,
        "no request failed: the kills happened outside the load"
    );

    let deadline = Instant::now() + Duration::from_secs(30);
    // The log may still move after the clients stopped: a collector that took the lease over
    // after the kill announces itself and runs its first budget tick. Once a holder is settled,
    // every node reaches the same head.
    let nodes: Vec<&Server> = collectors.iter().flatten().collect();
    await_leader(&nodes, None, deadline);
    let heads = loop {
        let heads: Vec<u64> = nodes.iter().map(|c| caught_up(c, deadline)).collect();
        if heads.iter().all(|h| *h == heads[0]) {
            break heads;
        }
        assert!(Instant::now() < deadline, "{heads:?}");
    };
    // Derived state reads the same everywhere.
    let c: Vec<&Server> = collectors.iter().flatten().collect();
    let alerts: Vec<Value> = c
        .iter()
        .map(|s| s.get("/v1/alerts?limit=1000", None).2)
        .collect();
    assert!(
        alerts[0]["alerts"]
            .as_array()
            .is_some_and(|a| !a.is_empty()),
        "{}",
        alerts[0]
    );
    assert_eq!(alerts[0], alerts[1]);
    assert_eq!(alerts[0], alerts[2]);
    // Windows slide with each node's clock: compare reads taken together (a read that straddles
    // a slice boundary is taken again).
    let mut tries = 0;
    loop {
        let budgets: Vec<Value> = c
            .iter()
            .map(|s| without_call_time(s.get("/v1/budgets", None).2))
            .collect();
        if budgets[0] == budgets[1] && budgets[0] == budgets[2] {
            assert!(budgets[0].to_string().contains("arming"), "{}", budgets[0]);
            break;
        }
        tries += 1;
        assert!(
            tries < 5,
            "budgets differ:\n{}\n{}\n{}",
            budgets[0],
            budgets[1],
            budgets[2]
        );
    }

    // A fourth collector with an empty data directory rebuilds the same store from the stream.
    let started = Instant::now();
    let fresh = server::start(&dir.path().join("c-new"), &collector_config(&nats, 3));
    assert!(caught_up(&fresh, Instant::now() + Duration::from_secs(30)) >= heads[0]);
    let rebuilt_in = started.elapsed();
    eprintln!(
        "rebuilt {} stream messages ({} events) in {rebuilt_in:?}",
        heads[0],
        acked_now()
    );
    assert_eq!(fresh.get("/v1/alerts?limit=1000", None).2, alerts[0]);

    // Every acknowledged event exactly once on every node, the same rows in the same order.
    let mut dbs: Vec<PathBuf> = c.iter().map(|s| s.db()).collect();
    dbs.push(fresh.db());
    collectors.push(Some(fresh));
    for s in collectors.into_iter().flatten() {
        let (code, log) = s.terminate();
        assert_eq!(code, Some(0), "{log}");
    }
    let mut stores: Vec<_> = dbs.iter().map(|d| rows(d)).collect();
    // The holder's clock may have written a row between two of the stops: compare what all
    // of them stored.
    let common = stores.iter().map(Vec::len).min().unwrap();
    assert!(
        stores.iter().all(|s| s.len() <= common + 2),
        "{:?}",
        stores.iter().map(Vec::len).collect::<Vec<_>>()
    );
    stores.iter_mut().for_each(|s| s.truncate(common));
    assert_eq!(stores[0], stores[1], "node 0 and node 1 differ");
    assert_eq!(stores[0], stores[2], "node 0 and node 2 differ");
    assert_eq!(stores[0], stores[3], "the rebuilt node differs");
    let mut count: HashMap<&str, usize> = HashMap::new();
    for row in &stores[0] {
        if let Some(id) = &row.3 {
            *count.entry(id.as_str()).or_default() += 1;
        }
    }
    let acked = acked.lock().unwrap();
    assert!(acked.len() >= 3000, "only {} acknowledged", acked.len());
    for id in acked.iter() {
        assert_eq!(count.get(id.as_str()), Some(&1), "{id}");
    }
}

fn flagged(id: &str) -> String {
    event(
        "narrative.check",
        id,
        r#"{"checkId":"chk","roomId":"pier","safetyFlags":["prohibited-capability"]}"#,
    )
}

#[test]
fn an_alert_silenced_on_one_node_is_silenced_on_all_and_a_stream_resumes_on_another_node() {
    let dir = TestDir::new();
    let (_nats, _data, mut collectors) = cluster(dir.path());
    let deadline = Instant::now() + Duration::from_secs(30);
    // An alert raised through node 0, silenced through node 0, is silenced on node 2.
    ingest_acked(collectors[0].as_ref().unwrap(), &flagged("x-1"));
    let c2 = collectors[2].as_ref().unwrap();
    caught_up(c2, deadline);
    let (_, _, list) = c2.get("/v1/alerts", None);
    let alert = list["alerts"][0].clone();
    assert_eq!(alert["state"], "firing", "{list}");
    let id = alert["id"].as_str().unwrap().to_string();
    let (status, _, silenced) = collectors[0].as_ref().unwrap().post_with(
        &format!("/v1/alerts/{id}/silence"),
        &[("Content-Type", "application/json")],
        br#"{"for":"2h"}"#,
    );
    assert_eq!(
        (status, silenced["state"].as_str()),
        (200, Some("silenced")),
        "{silenced}"
    );
    caught_up(c2, deadline);
    let (_, _, on_2) = c2.get(&format!("/v1/alerts/{id}"), None);
    assert_eq!(on_2["state"], "silenced", "{on_2}");
    assert_eq!(
        on_2,
        collectors[0]
            .as_ref()
            .unwrap()
            .get(&format!("/v1/alerts/{id}"), None)
            .2
    );

    // A stream client of node 0 reads half of 100 events; node 0 dies; 100 more arrive; the
    // client resumes on node 2 with Last-Event-ID and gets exactly the rest.
    let c0 = collectors[0].as_ref().unwrap();
    let sub = server::subscribe(&c0.url, "/v1/stream?topics=events", &[]);
    assert_eq!(sub.status, 200);
    let node_1 = collectors[1].take().unwrap();
    let ingest_through_1 = |from: usize| {
        let body: String = (from..from + 100)
            .map(|i| event("tick", &format!("t-{i}"), "{}") + "\n")
            .collect();
        let answer = ingest_acked(&node_1, &body);
        assert_eq!(answer["accepted"], 100, "{answer}");
    };
    ingest_through_1(0);
    let first = sub.take(50, Duration::from_secs(10));
    let last_id = first.last().unwrap().id.clone().unwrap();
    collectors[0].take().unwrap().kill();
    drop(sub);
    ingest_through_1(100);
    let c2 = collectors[2].as_ref().unwrap();
    caught_up(c2, deadline);
    let sub = server::subscribe(
        &c2.url,
        "/v1/stream?topics=events",
        &[("Last-Event-ID", last_id.as_str())],
    );
    assert_eq!(sub.status, 200);
    let rest = sub.take(150, Duration::from_secs(10));
    let ids: Vec<String> = first
        .iter()
        .chain(&rest)
        .map(|m| m.data["id"].as_str().unwrap().to_string())
        .collect();
    let want: Vec<String> = (0..200).map(|i| format!("t-{i}")).collect();
    assert_eq!(ids, want, "no gap, no duplicate across nodes");
    assert!(
        sub.next(Duration::from_millis(200)).is_none(),
        "more than was sent"
    );
}

/// `/v1/cluster` of every node, once all of them name the same lease holder and exactly that
/// one says it leads: the index of the holder.
fn await_leader(nodes: &[&Server], not: Option<&str>, deadline: Instant) -> usize {
    loop {
        let views: Vec<Value> = nodes.iter().map(|s| s.get("/v1/cluster", None).2).collect();
        let leaders: Vec<usize> = (0..nodes.len())
            .filter(|i| views[*i]["role"] == "leader")
            .collect();
        if let [one] = leaders[..] {
            let name = views[one]["node"].clone();
            let agreed = views.iter().all(|v| v["leader"] == name);
            if agreed && name.as_str() != not {
                return one;
            }
        }
        assert!(
            Instant::now() < deadline,
            "no single lease holder: {views:?}\n{}",
            nodes
                .iter()
                .map(|s| s.stderr.lock().unwrap().clone())
                .collect::<Vec<_>>()
                .join("\n---\n")
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The budget alerts of a node, once there is exactly one in `state`.
fn await_budget_alert(s: &Server, state: &str, deadline: Instant) -> Value {
    loop {
        let (_, _, v) = s.get("/v1/alerts?category=budget", None);
        let alerts = v["alerts"].as_array().cloned().unwrap_or_default();
        if alerts.len() == 1 && alerts[0]["state"] == state {
            return alerts[0].clone();
        }
        assert!(alerts.len() <= 1, "more than one budget alert: {v}");
        assert!(
            Instant::now() < deadline,
            "no {state} budget alert: {v}\n{}",
            s.stderr.lock().unwrap()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// How many notifications the receiver got for the alert `fingerprint` in `status`, and when.
fn deliveries(hook: &hook::Hook, fingerprint: &str, status: &str) -> Vec<Instant> {
    hook.requests()
        .iter()
        .filter(|r| {
            r.body["alerts"].as_array().is_some_and(|a| {
                a.iter()
                    .any(|a| a["fingerprint"] == fingerprint && a["status"] == status)
            })
        })
        .map(|r| r.at)
        .collect()
}

fn await_deliveries(hook: &hook::Hook, fingerprint: &str, status: &str, deadline: Instant) {
    while deliveries(hook, fingerprint, status).is_empty() {
        assert!(
            Instant::now() < deadline,
            "no {status} notification for {fingerprint}: {:#?}",
            hook.requests().iter().map(|r| &r.body).collect::<Vec<_>>()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn one_lease_holder_runs_the_clocks_and_notifies_once_and_another_takes_over_when_it_dies() {
    let dir = TestDir::new();
    let nats = nats_cluster(dir.path());
    let hook = hook::start();
    let config = |node: usize| {
        collector_config(&nats, node)
            + "\n[[budget]]\nmetric = \"resolution\"\nlimit_ms = \"800ms\"\n\
               [budgets]\nwindows = [\"1h\"]\nevaluate_every = \"100ms\"\n\
               [alerts]\nbudget_for = \"0s\"\nbudget_keep_firing_for = \"300ms\"\n\
               resolve_after = \"2s\"\n\
               [[notify.receivers]]\nname = \"hook\"\nkind = \"webhook\"\n"
            + &format!("url = \"{}\"\n", hook.url)
            + "[[notify.routes]]\nreceiver = \"hook\"\ncategory = \"budget\"\ngroup_wait = \"0s\"\n\
               group_interval = \"100ms\"\nrepeat_interval = \"1h\"\n"
    };
    let mut nodes: Vec<Option<Server>> = (0..3)
        .map(|i| {
            let data = dir.path().join(format!("c{i}"));
            Some(server::start_env(
                &data,
                &config(i),
                &[("PLAYTRACE_LOG", "info")],
            ))
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(40);
    let all: Vec<&Server> = nodes.iter().flatten().collect();
    for s in &all {
        caught_up(s, deadline);
    }
    let leader = await_leader(&all, None, deadline);
    let view = all[leader].get("/v1/cluster", None).2;
    let leader_name = view["node"].clone();
    // The harness runs a server with the Raft fixes (nats/mod.rs), so nothing to warn about.
    assert!(
        view["natsVersion"]
            .as_str()
            .is_some_and(|v| v.starts_with("2.")),
        "{view}"
    );
    assert_eq!(view["warnings"], serde_json::json!([]), "{view}");
    for (i, s) in all.iter().enumerate() {
        let want = if i == leader { 1.0 } else { 0.0 };
        assert_eq!(s.metric("playtrace_cluster_leader"), want, "node {i}");
    }

    // A breach ingested through a node that does not hold the lease: one budget alert, raised
    // by the holder's tick, the same (id, count 1) on every node, notified once. A moderation
    // alert comes with it, for the holder's alert clock to resolve after resolve_after.
    let follower = (leader + 1) % 3;
    let slow: String = std::iter::once(flagged("m-1") + "\n")
        .chain((0..5).map(|i| {
            event(
                "telemetry.contest.resolved",
                &format!("slow-{i}"),
                &format!(r#"{{"contestId":"slow-{i}","resolutionDurationMs":2000}}"#),
            ) + "\n"
        }))
        .collect();
    ingest_acked(all[follower], &slow);
    let fired: Vec<Value> = all
        .iter()
        .map(|s| await_budget_alert(s, "firing", deadline))
        .collect();
    for a in &fired {
        assert_eq!(a["id"], fired[0]["id"], "{fired:?}");
        assert_eq!(a["count"], 1, "raised more than once: {a}");
    }
    let id = fired[0]["id"].as_str().unwrap().to_string();
    let fingerprint = id.strip_prefix("al_").unwrap().to_string();
    await_deliveries(&hook, &fingerprint, "firing", deadline);

    // The holder dies: another node takes the lease within a few ttls and the clocks go on
    // there: a budget that holds again resolves the same alert, once, on both survivors.
    let killed_at = Instant::now();
    nodes[leader].take().unwrap().kill();
    let survivors: Vec<&Server> = nodes.iter().flatten().collect();
    let deadline = Instant::now() + Duration::from_secs(30);
    let new_leader = await_leader(&survivors, leader_name.as_str(), deadline);
    eprintln!(
        "lease taken over {:?} after the holder was killed",
        killed_at.elapsed()
    );
    assert_eq!(
        survivors[new_leader].metric("playtrace_cluster_leader"),
        1.0
    );
    let fast: String = (0..200)
        .map(|i| {
            event(
                "telemetry.contest.resolved",
                &format!("fast-{i}"),
                &format!(r#"{{"contestId":"fast-{i}","resolutionDurationMs":10}}"#),
            ) + "\n"
        })
        .collect();
    ingest_acked(survivors[1 - new_leader], &fast);
    for s in &survivors {
        let resolved = await_budget_alert(s, "resolved", deadline);
        assert_eq!(resolved["id"], id.as_str());
        assert_eq!(resolved["count"], 1, "{resolved}");
    }
    await_deliveries(&hook, &fingerprint, "resolved", deadline);
    // The alert clock ran too: the quiet moderation alert resolved by itself, once, the same
    // on both survivors.
    let moderation: Vec<Value> = survivors
        .iter()
        .map(|s| loop {
            let (_, _, v) = s.get("/v1/alerts?category=moderation&state=resolved", None);
            if let Some(a) = v["alerts"].as_array().and_then(|a| a.first()) {
                break a.clone();
            }
            assert!(Instant::now() < deadline, "never auto-resolved: {v}");
            std::thread::sleep(Duration::from_millis(50));
        })
        .collect();
    assert_eq!(moderation[0], moderation[1]);
    assert_eq!(moderation[0]["autoResolved"], true, "{}", moderation[0]);
    assert_eq!(moderation[0]["count"], 1, "{}", moderation[0]);
    // Once the new holder's outbox is empty, nothing more will be sent.
    loop {
        let (_, _, pending) = survivors[new_leader].get("/v1/notifications?state=pending", None);
        if pending["notifications"]
            .as_array()
            .is_some_and(Vec::is_empty)
        {
            break;
        }
        assert!(Instant::now() < deadline, "never sent: {pending}");
        std::thread::sleep(Duration::from_millis(50));
    }
    // At least once, at most one copy more: the new holder may send again the notification
    // the old one queued just before it died (docs/CLUSTER.md), never anything else twice.
    let firing = deliveries(&hook, &fingerprint, "firing");
    assert!(
        (1..=2).contains(&firing.len()),
        "firing sent {} times",
        firing.len()
    );
    if let [_, again] = firing[..] {
        assert!(again > killed_at, "sent twice before the takeover");
    }
    assert_eq!(deliveries(&hook, &fingerprint, "resolved").len(), 1);
    // The followers sent nothing: every request came from a holder.
    assert_eq!(hook.requests().len(), firing.len() + 1);

    // A holder that stops cleanly (handing the lease back) exits 0; the last node takes over.
    let name = survivors[new_leader].get("/v1/cluster", None).2["node"].clone();
    let index = |nodes: &[Option<Server>], want: bool| {
        nodes
            .iter()
            .position(|s| {
                s.as_ref()
                    .is_some_and(|s| (s.get("/v1/cluster", None).2["node"] == name) == want)
            })
            .unwrap()
    };
    let at = index(&nodes, true);
    let holder = nodes[at].take().unwrap();
    let (code, log) = holder.terminate();
    assert_eq!(code, Some(0), "{log}");
    let at = index(&nodes, false);
    let last = nodes[at].as_ref().unwrap();
    await_leader(&[last], name.as_str(), deadline);
}
