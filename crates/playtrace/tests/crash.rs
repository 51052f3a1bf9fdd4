//! Nothing acknowledged is lost: a client ingests continuously (ids on every event, retrying
//! each batch until it is acknowledged) while the collector is killed with SIGKILL ten times at
//! random moments and restarted. Afterwards every acknowledged event is stored exactly once.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod server;

use serde_json::Value;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// xorshift64*: random moments without a dependency.
fn next(state: &mut u64) -> u64 {
    *state ^= *state >> 12;
    *state ^= *state << 25;
    *state ^= *state >> 27;
    state.wrapping_mul(0x2545_F491_4F6C_DD1D)
}

#[test]
fn acknowledged_events_survive_sigkill_exactly_once() {
    survive_sigkill_exactly_once("");
}

/// The same with the duplicate check's key table (`[store] dedup = "memory"`): after each kill
/// the keys come back from the key log and the events after it, and retried batches are
/// refused as duplicates, never stored twice.
#[test]
fn acknowledged_events_survive_sigkill_exactly_once_with_the_key_table() {
    survive_sigkill_exactly_once("[store]\ndedup = \"memory\"\n");
}

fn survive_sigkill_exactly_once(config: &'static str) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = server::start(&data, config);
    let url = Arc::new(Mutex::new(server.url.clone()));
    let stop = Arc::new(AtomicBool::new(false));
    let acked: Arc<Mutex<Vec<String>>> = Arc::default();
    let clients: Vec<_> = (0..2)
        .map(|c| {
            let (url, stop, acked) = (url.clone(), stop.clone(), acked.clone());
            std::thread::spawn(move || {
                let agent = server::agent();
                let mut batch_no = 0u64;
                let mut retries = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let ids: Vec<String> =
                        (0..100).map(|i| format!("c{c}-b{batch_no}-e{i}")).collect();
                    let body: String = ids
                        .iter()
                        .map(|id| server::event("crash.tick", id, r#"{"hubId":"h"}"#) + "\n")
                        .collect();
                    // Retry the same batch (same ids) until it is acknowledged.
                    loop {
                        let target = url.lock().unwrap().clone();
                        let result = agent
                            .post(format!("{target}/v1/events"))
                            .header("Content-Type", "application/x-ndjson")
                            .send(body.as_bytes());
                        if let Ok(mut r) = result {
                            if r.status().as_u16() == 200 {
                                let text = r.body_mut().read_to_string().unwrap_or_default();
                                if let Ok(v) = serde_json::from_str::<Value>(&text) {
                                    let total = v["accepted"].as_u64().unwrap()
                                        + v["duplicates"].as_u64().unwrap();
                                    assert_eq!(total, 100, "{text}");
                                    acked.lock().unwrap().extend(ids);
                                    break;
                                }
                            }
                        }
                        retries += 1;
                        std::thread::sleep(Duration::from_millis(5));
                    }
                    batch_no += 1;
                }
                (batch_no, retries)
            })
        })
        .collect();

    let mut seed = 0x9E37_79B9_7F4A_7C15 ^ u64::from(std::process::id());
    let mut server = server;
    for _ in 0..10 {
        std::thread::sleep(Duration::from_millis(100 + next(&mut seed) % 400));
        server.kill();
        server = server::start(&data, config);
        *url.lock().unwrap() = server.url.clone();
    }
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::Relaxed);
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut batches = 0;
    for c in clients {
        let (b, _) = c.join().unwrap();
        batches += b;
    }
    assert!(Instant::now() < deadline);
    assert!(batches > 10, "the clients barely ran ({batches} batches)");
    server.kill();

    let conn = rusqlite::Connection::open(data.join("playtrace.db")).unwrap();
    let mut stmt = conn
        .prepare("SELECT id, count(*) FROM events GROUP BY id")
        .unwrap();
    let stored: HashMap<String, i64> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let acked = acked.lock().unwrap();
    assert!(
        acked.len() >= 1000,
        "only {} events acknowledged",
        acked.len()
    );
    let mut lost = 0;
    for id in acked.iter() {
        match stored.get(id) {
            Some(1) => {}
            Some(n) => panic!("{id} stored {n} times"),
            None => lost += 1,
        }
    }
    assert_eq!(lost, 0, "{lost} acknowledged events lost");
    assert!(stored.values().all(|&n| n == 1), "an event stored twice");
}

#[test]
fn sigterm_during_ingest_stops_cleanly_and_keeps_every_acknowledged_event() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = server::start(&data, "");
    let acked: Arc<Mutex<Vec<String>>> = Arc::default();
    let clients: Vec<_> = (0..3)
        .map(|c| {
            let (url, acked) = (server.url.clone(), acked.clone());
            std::thread::spawn(move || {
                let agent = server::agent();
                // Until the collector goes away: every answer is either a full acknowledgement
                // or a refusal/connection error, never a partial one.
                for b in 0.. {
                    let ids: Vec<String> = (0..200).map(|i| format!("t{c}-{b}-{i}")).collect();
                    let body: String = ids
                        .iter()
                        .map(|id| server::event("term.tick", id, "{}") + "\n")
                        .collect();
                    let Ok(mut r) = agent
                        .post(format!("{url}/v1/events"))
                        .header("Content-Type", "application/x-ndjson")
                        .send(body.as_bytes())
                    else {
                        return;
                    };
                    if r.status().as_u16() != 200 {
                        return;
                    }
                    let v: Value =
                        serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap();
                    assert_eq!(v["accepted"], 200);
                    acked.lock().unwrap().extend(ids);
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(700));
    let (code, log) = server.terminate();
    assert_eq!(code, Some(0), "{log}");
    for c in clients {
        c.join().unwrap();
    }
    let conn = rusqlite::Connection::open(data.join("playtrace.db")).unwrap();
    let stored: i64 = conn
        .query_row("SELECT count(*) FROM events", [], |r| r.get(0))
        .unwrap();
    let acked = acked.lock().unwrap();
    assert!(!acked.is_empty());
    // Requests in flight at SIGTERM were answered (so acknowledged) and stored: nothing stored
    // that was not acknowledged beyond what the last refused requests carried, nothing lost.
    let mut stmt = conn
        .prepare("SELECT 1 FROM events WHERE game = 'gf' AND id = ?1")
        .unwrap();
    for id in acked.iter() {
        assert!(
            stmt.exists([id]).unwrap(),
            "{id} acknowledged but not stored"
        );
    }
    assert_eq!(
        stored as usize,
        acked.len(),
        "stored events were all acknowledged"
    );
}
