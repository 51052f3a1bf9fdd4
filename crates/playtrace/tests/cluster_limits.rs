//! Cluster mode when the stream's own limits removed messages a node never applied: a node
//! that starts from an empty data directory skips the gap (with a warning that its store lacks
//! those messages) and applies what the stream still holds, instead of following again from
//! its bookmark forever. Needs Debian's `nats-server` (scripts/test installs it): never skipped.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod nats;
mod server;

use nats::{jetstream_request, nats_single};
use server::event;
use std::time::{Duration, Instant};

fn config(port: u16, node: &str) -> String {
    format!(
        "[cluster]\nnats = [\"nats://127.0.0.1:{port}\"]\nnode = \"{node}\"\nreplicas = 1\n\
         stream = \"GAPS\"\nsubject = \"gaps.log\"\nack_timeout = \"2s\"\napply_timeout = \"5s\"\n"
    )
}

/// The node's stream position once it applied everything the stream holds.
fn caught_up(s: &server::Server) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, _, body) = s.get("/v1/cluster", None);
        if status == 200 && body["applied"] == body["streamLast"] {
            return body;
        }
        assert!(
            Instant::now() < deadline,
            "node never caught up: {status} {body}\n{}",
            s.stderr.lock().unwrap()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_node_skips_what_the_streams_limits_removed_and_applies_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let nats = nats_single(dir.path());
    // The stream keeps its last 4 messages: the collector opens it as it finds it.
    let created = jetstream_request(
        nats.port,
        "STREAM.CREATE.GAPS",
        r#"{"name":"GAPS","subjects":["gaps.log"],"max_msgs":4,"storage":"file","num_replicas":1}"#,
    );
    assert!(created.get("error").is_none(), "{created}");
    let first = server::start(&dir.path().join("a"), &config(nats.port, "a"));
    caught_up(&first);
    for batch in 0..10 {
        let body = format!(
            "{}\n",
            event("chat.message", &format!("m{batch}"), r#"{"text":"hi"}"#)
        );
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let (status, _, answer) = first.ingest(&body, None);
            if status == 200 {
                assert_eq!(answer["accepted"], 1, "{answer}");
                break;
            }
            assert_eq!(status, 503, "{answer}");
            assert!(Instant::now() < deadline, "never acknowledged: {answer}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    let at = caught_up(&first);
    let last = at["streamLast"].as_u64().unwrap();
    assert!(last >= 10, "{at}");
    // A node with an empty store starts from message 1, which the stream no longer holds.
    let second = server::start(&dir.path().join("b"), &config(nats.port, "b"));
    let now = caught_up(&second);
    assert!(now["applied"].as_u64().unwrap() >= last, "{now}");
    let (_, _, events) = second.get("/v1/events?name=chat.message&limit=100", None);
    let ids: Vec<&str> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap())
        .collect();
    assert!(ids.len() < 10 && ids.contains(&"m9"), "{ids:?}");
    assert!(!ids.contains(&"m0"), "{ids:?}");
    assert!(
        second
            .stderr
            .lock()
            .unwrap()
            .contains("the stream no longer holds these messages"),
        "{}",
        second.stderr.lock().unwrap()
    );
    let (_, _, events) = first.get("/v1/events?name=chat.message&limit=100", None);
    assert_eq!(events["events"].as_array().unwrap().len(), 10);
}
