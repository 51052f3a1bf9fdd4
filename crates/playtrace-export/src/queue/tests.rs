use super::*;
use std::sync::Arc;

fn artifact(name: &str) -> Artifact {
    Artifact {
        name: name.into(),
        media_type: "application/json".into(),
        bytes: Arc::new(format!("{{\"name\":\"{name}\"}}").into_bytes()),
        kind: "report".into(),
        context: serde_json::json!({"runId": "r"}),
    }
}

#[test]
fn an_erased_players_artifacts_leave_both_queues_and_the_files() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("export.db");
    let mut q = Queue::open(&path, RetryPolicy::default()).unwrap();
    let t = WriteError::Transient("connection refused".into());
    let p = WriteError::Permanent("403".into());
    q.failed(
        "s3://b",
        &artifact("transcript-erased-player-9.json"),
        &t,
        1,
    )
    .unwrap();
    q.failed("s3://b", &artifact("dead-erased-player-9.json"), &p, 1)
        .unwrap();
    q.failed("s3://b", &artifact("kept-player-10.json"), &p, 1)
        .unwrap();
    let removed = q
        .erase_containing(&["erased-player-9".to_string()])
        .unwrap();
    assert_eq!(removed, (1, 1));
    assert!(q.due(true).unwrap().is_empty());
    let dead = q.dead_letters().unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].artifact.name, "kept-player-10.json");
    let mut bytes = std::fs::read(&path).unwrap();
    bytes.extend(std::fs::read(dir.path().join("export.db-wal")).unwrap_or_default());
    let needle = b"erased-player-9";
    assert!(!bytes.windows(needle.len()).any(|w| w == needle));
}

#[test]
fn transient_failures_queue_permanent_ones_dead_letter_and_nothing_is_lost() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("export.db");
    let policy = RetryPolicy {
        max_attempts: 3,
        base: Duration::from_millis(1),
        max: Duration::from_millis(5),
    };
    let mut q = Queue::open(&path, policy).unwrap();
    let t = WriteError::Transient("connection refused".into());
    assert!(!q.failed("s3://b", &artifact("a.json"), &t, 1).unwrap());
    // The same artifact again (a re-run): still one entry, attempts updated.
    assert!(!q.failed("s3://b", &artifact("a.json"), &t, 2).unwrap());
    assert!(q
        .failed(
            "s3://b",
            &artifact("b.json"),
            &WriteError::Permanent("403".into()),
            1
        )
        .unwrap());
    std::thread::sleep(Duration::from_millis(20));
    let due = q.due(false).unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!(
        (due[0].artifact.name.as_str(), due[0].attempts),
        ("a.json", 2)
    );
    assert_eq!(*due[0].artifact.bytes, br#"{"name":"a.json"}"#.to_vec());
    assert_eq!(q.attempts("s3://b", &artifact("a.json")).unwrap(), 2);
    // Exhausted: dead-lettered with the artifact itself.
    assert!(q.failed("s3://b", &artifact("a.json"), &t, 3).unwrap());
    assert!(q.due(true).unwrap().is_empty());
    drop(q);
    // Reopened (a new process): the dead letters are there, bytes and all.
    let mut q = Queue::open(&path, policy).unwrap();
    let dead = q.dead_letters().unwrap();
    let names: Vec<&str> = dead.iter().map(|e| e.artifact.name.as_str()).collect();
    assert_eq!(names, ["b.json", "a.json"]);
    assert_eq!(dead[0].error, "403");
    assert_eq!(dead[1].attempts, 3);
    assert_eq!(dead[1].artifact.context["runId"], "r");
    assert_eq!(q.revive(&[dead[0].id]).unwrap(), 1);
    assert_eq!(
        q.due(false).unwrap().len(),
        1,
        "revived entries are due at once"
    );
    assert_eq!(q.purge(&[]).unwrap(), 1);
    assert!(q.dead_letters().unwrap().is_empty());
    let id = q.due(true).unwrap()[0].id;
    q.delivered(id).unwrap();
    assert!(q.due(true).unwrap().is_empty());
}

#[test]
fn a_queue_from_before_destinations_opens_and_keeps_its_entries() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("export.db");
    let old = Connection::open(&path).unwrap();
    old.execute_batch(&SCHEMA.replace("destination TEXT NOT NULL DEFAULT '',", ""))
        .unwrap();
    old.execute(
        "INSERT INTO retry_queue (writer, name, media_type, kind, context, bytes, sha256, attempts, next_attempt_ms, error)
         VALUES ('s3://b/p', 'a.json', 'application/json', 'report', 'null', x'7b7d', 'x', 1, 0, 'refused')",
        [],
    )
    .unwrap();
    drop(old);
    let mut q = Queue::open(&path, RetryPolicy::default()).unwrap();
    let due = q.due(true).unwrap();
    assert_eq!(
        (due[0].writer.as_str(), due[0].destination.as_str()),
        ("s3://b/p", "")
    );
    let t = WriteError::Transient("refused".into());
    q.record(
        "s3://b/q",
        "{\"url\":\"s3://b/q\"}",
        &[],
        &[(&artifact("b.json"), &t, 1)],
    )
    .unwrap();
    assert_eq!(
        q.due(true).unwrap()[1].destination,
        "{\"url\":\"s3://b/q\"}"
    );
}

#[test]
fn backoff_grows_exponentially_with_bounded_jitter() {
    let p = RetryPolicy::default();
    let w1 = p.backoff(1, 7);
    let w3 = p.backoff(3, 7);
    assert!(w1 >= Duration::from_secs(1) && w1 < Duration::from_millis(1250));
    assert!(w3 >= Duration::from_secs(4) && w3 < Duration::from_secs(5));
    assert!(
        p.backoff(30, 7) <= Duration::from_secs(375),
        "capped (plus jitter)"
    );
    assert_eq!(
        sha256_hex(b"abc"),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
}
