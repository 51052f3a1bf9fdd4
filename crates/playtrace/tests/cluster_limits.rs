//! Cluster mode when the stream's own limits removed messages a node never applied: a node
//! that starts from an empty data directory skips the gap (with a warning that its store lacks
//! those messages) and applies what the stream still holds, instead of following again from
//! its bookmark forever. Needs Debian's `nats-server` (scripts/test installs it): never skipped.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod nats;
mod server;

use nats::{caught_up, ingest_acked, jetstream_request, nats_single};
use server::event;
use std::time::{Duration, Instant};

fn config(port: u16, node: &str) -> String {
    format!(
        "[cluster]\nnats = [\"nats://127.0.0.1:{port}\"]\nnode = \"{node}\"\nreplicas = 1\n\
         stream = \"GAPS\"\nsubject = \"gaps.log\"\nack_timeout = \"2s\"\napply_timeout = \"5s\"\n"
    )
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
    let deadline = || Instant::now() + Duration::from_secs(30);
    caught_up(&first, deadline());
    for batch in 0..10 {
        let body = format!(
            "{}\n",
            event("chat.message", &format!("m{batch}"), r#"{"text":"hi"}"#)
        );
        assert_eq!(ingest_acked(&first, &body)["accepted"], 1);
    }
    let last = caught_up(&first, deadline());
    assert!(last >= 10, "{last} messages in the log");
    // A node with an empty store starts from message 1, which the stream no longer holds.
    let second = server::start(&dir.path().join("b"), &config(nats.port, "b"));
    assert!(caught_up(&second, deadline()) >= last);
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
