use super::*;
use crate::fs::{target, FsWriter};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

fn artifact(name: &str, body: &str) -> Artifact {
    Artifact {
        name: name.into(),
        media_type: "text/plain".into(),
        bytes: Arc::new(body.as_bytes().to_vec()),
        kind: "report".into(),
        context: serde_json::Value::Null,
    }
}

/// A writer of the library user's own: every write waits, then fails (transiently unless
/// `permanent`) until `good_after` calls have been made; counts calls.
struct Broken {
    calls: AtomicUsize,
    transient: bool,
    wait: Duration,
    good_after: usize,
}

impl Broken {
    fn new(transient: bool, wait: Duration) -> Broken {
        Broken {
            calls: AtomicUsize::new(0),
            transient,
            wait,
            good_after: usize::MAX,
        }
    }
}

impl Writer for Broken {
    fn id(&self) -> String {
        "broken".into()
    }
    fn write<'a>(&'a self, a: &'a Artifact) -> WriteFuture<'a> {
        Box::pin(async move {
            let n = self.calls.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(self.wait).await;
            if n >= self.good_after {
                Ok(a.name.clone())
            } else if self.transient {
                Err(WriteError::Transient("connect timed out".into()))
            } else {
                Err(WriteError::Permanent("403 Forbidden".into()))
            }
        })
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn every_artifact_reaches_every_writer_and_a_failing_one_stops_nobody() {
    let dir = tempfile::tempdir().unwrap();
    let artifacts: Vec<Artifact> = (0..8)
        .map(|i| artifact(&format!("reports/r{i}.txt"), &format!("report {i}")))
        .collect();
    let broken = Arc::new(Broken::new(true, Duration::from_millis(1000)));
    let writers: Vec<Arc<dyn Writer>> = vec![
        broken.clone(),
        Arc::new(FsWriter::new(dir.path().join("out"))),
    ];
    let result = runtime().block_on(fan_out(&artifacts, &writers));
    assert_eq!(result.outcomes.len(), 16);
    for i in 0..8 {
        let path = dir.path().join(format!("out/reports/r{i}.txt"));
        assert_eq!(
            std::fs::read_to_string(path).unwrap(),
            format!("report {i}")
        );
    }
    let fs = &result.writers[1];
    assert_eq!(
        (fs.attempted, fs.successes, fs.failures, fs.bytes),
        (8, 8, 0, 64)
    );
    let b = &result.writers[0];
    assert_eq!(
        (b.id.as_str(), b.attempted, b.successes, b.failures),
        ("broken", 8, 0, 8)
    );
    // Four at a time: two rounds of 1 s, never eight at once or one by one.
    assert_eq!(broken.calls.load(Ordering::Relaxed), 8);
    assert!(
        b.duration_ms >= 1_900 && b.duration_ms < 3_900,
        "{}",
        b.duration_ms
    );
    // The filesystem writer did not wait for the broken one.
    assert!(fs.duration_ms < 1_000, "fs took {} ms", fs.duration_ms);
    let failed: Vec<&Outcome> = result
        .outcomes
        .iter()
        .filter(|o| o.writer == "broken")
        .collect();
    assert!(failed
        .iter()
        .all(|o| o.status == Status::Failed && o.transient));
    assert_eq!(failed[0].error.as_deref(), Some("connect timed out"));
}

#[test]
fn permanent_failures_are_marked_as_such() {
    let writers: Vec<Arc<dyn Writer>> =
        vec![Arc::new(Broken::new(false, Duration::from_millis(1000)))];
    let result = runtime().block_on(fan_out(&[artifact("a", "x")], &writers));
    assert_eq!(result.outcomes[0].status, Status::Rejected);
    assert!(!result.outcomes[0].transient);
}

#[test]
fn names_that_escape_the_directory_are_refused() {
    let root = Path::new("/srv/artifacts");
    assert_eq!(target(root, "a/b.json").unwrap(), root.join("a/b.json"));
    assert_eq!(target(root, "./a.json").unwrap(), root.join("a.json"));
    for bad in ["../etc/passwd", "a/../../b", "/etc/passwd", "", "dir/", "."] {
        let err = target(root, bad).unwrap_err();
        assert!(matches!(err, WriteError::Permanent(_)), "{bad}");
        assert!(
            err.to_string().contains("inside the target directory"),
            "{err}"
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let writers: Vec<Arc<dyn Writer>> = vec![Arc::new(FsWriter::new(dir.path().join("out")))];
    let result = runtime().block_on(fan_out(&[artifact("../escape.txt", "x")], &writers));
    assert_eq!(result.outcomes[0].status, Status::Rejected);
    assert!(!dir.path().join("escape.txt").exists());
}

#[test]
fn metrics_serialize_with_the_old_adapter_names() {
    let m = WriterMetrics {
        id: "fs:out".into(),
        attempted: 3,
        successes: 3,
        ..WriterMetrics::default()
    };
    let v = serde_json::to_value(&m).unwrap();
    for key in [
        "id",
        "attempted",
        "successes",
        "failures",
        "retried",
        "deadLettered",
        "bytes",
        "durationMs",
    ] {
        assert!(v.get(key).is_some(), "{key}");
    }
}

/// A writer that fails until switched on, recording what it stored.
struct Flaky {
    up: std::sync::atomic::AtomicBool,
    stored: std::sync::Mutex<Vec<String>>,
}

impl Writer for Flaky {
    fn id(&self) -> String {
        "flaky".into()
    }
    fn write<'a>(&'a self, a: &'a Artifact) -> WriteFuture<'a> {
        Box::pin(async move {
            if self.up.load(Ordering::Relaxed) {
                self.stored.lock().unwrap().push(a.name.clone());
                Ok(format!("flaky/{}", a.name))
            } else {
                Err(WriteError::Transient("connection refused".into()))
            }
        })
    }
}

fn shared_queue(path: &Path, policy: crate::queue::RetryPolicy) -> crate::deliver::SharedQueue {
    Arc::new(std::sync::Mutex::new(
        crate::queue::Queue::open(path, policy).unwrap(),
    ))
}

fn queued(q: &crate::deliver::SharedQueue) -> usize {
    q.lock().unwrap().due(true).unwrap().len()
}

#[test]
fn failures_wait_in_the_queue_and_a_drain_delivers_each_exactly_once() {
    use crate::deliver::{deliver, drain, DeliverOptions};
    use crate::queue::RetryPolicy;
    let dir = tempfile::tempdir().unwrap();
    let flaky = Arc::new(Flaky {
        up: std::sync::atomic::AtomicBool::new(false),
        stored: Default::default(),
    });
    let writers: Vec<Arc<dyn Writer>> = vec![
        flaky.clone(),
        Arc::new(FsWriter::new(dir.path().join("out"))),
    ];
    let artifacts: Vec<Artifact> = (0..5)
        .map(|i| artifact(&format!("a{i}.txt"), "x"))
        .collect();
    let rt = runtime();
    let queue = shared_queue(&dir.path().join("q.db"), RetryPolicy::default());
    let no_retries = DeliverOptions {
        retry_for: Duration::ZERO,
    };
    let result = rt
        .block_on(deliver(
            &artifacts,
            &writers,
            &queue,
            no_retries,
            Arc::default(),
        ))
        .unwrap();
    let m = &result.writers[0];
    assert_eq!((m.failures, m.retried, m.queued), (5, 0, 5));
    assert_eq!(
        result.writers[1].successes, 5,
        "the filesystem writer kept writing"
    );
    assert!(result
        .outcomes
        .iter()
        .filter(|o| o.writer == "flaky")
        .all(|o| o.status == Status::Queued && o.attempts == 1));
    assert_eq!(queued(&queue), 5);
    // A re-run while still down queues nothing twice.
    rt.block_on(deliver(
        &artifacts,
        &writers,
        &queue,
        no_retries,
        Arc::default(),
    ))
    .unwrap();
    assert_eq!(queued(&queue), 5);
    flaky.up.store(true, Ordering::Relaxed);
    let drained = rt
        .block_on(drain(&queue, &writers, true, no_retries))
        .unwrap();
    assert_eq!(drained.result.writers[0].successes, 5);
    assert_eq!(queued(&queue), 0);
    let mut stored = flaky.stored.lock().unwrap().clone();
    stored.sort();
    assert_eq!(stored, ["a0.txt", "a1.txt", "a2.txt", "a3.txt", "a4.txt"]);
    // A writer that is not configured in this run leaves its entries waiting.
    queue
        .lock()
        .unwrap()
        .failed(
            "s3://elsewhere",
            &artifacts[0],
            &WriteError::Transient("x".into()),
            1,
        )
        .unwrap();
    let drained = rt
        .block_on(drain(&queue, &writers, true, no_retries))
        .unwrap();
    assert_eq!(drained.unconfigured, 1);
    assert!(drained.result.outcomes.is_empty());
    assert_eq!(queued(&queue), 1);
}

/// Fails its first `failing` calls per artifact (transiently), then writes; records when.
struct Recovering {
    failing: usize,
    calls: std::sync::Mutex<Vec<(String, Instant)>>,
}

impl Writer for Recovering {
    fn id(&self) -> String {
        "recovering".into()
    }
    fn write<'a>(&'a self, a: &'a Artifact) -> WriteFuture<'a> {
        Box::pin(async move {
            let mut calls = self.calls.lock().unwrap();
            let before = calls.iter().filter(|(n, _)| *n == a.name).count();
            calls.push((a.name.clone(), Instant::now()));
            if before < self.failing {
                Err(WriteError::Transient("503 Slow Down".into()))
            } else {
                Ok(format!("mem/{}", a.name))
            }
        })
    }
}

#[test]
fn transient_failures_are_retried_from_the_queue_with_backoff_while_the_run_lasts() {
    use crate::deliver::{deliver, DeliverOptions};
    use crate::queue::RetryPolicy;
    let dir = tempfile::tempdir().unwrap();
    let policy = RetryPolicy {
        max_attempts: 8,
        base: Duration::from_millis(100),
        max: Duration::from_secs(1),
    };
    let queue = shared_queue(&dir.path().join("q.db"), policy);
    let recovering = Arc::new(Recovering {
        failing: 2,
        calls: Default::default(),
    });
    let writers: Vec<Arc<dyn Writer>> = vec![
        recovering.clone(),
        Arc::new(FsWriter::new(dir.path().join("out"))),
    ];
    let artifacts: Vec<Artifact> = (0..3)
        .map(|i| artifact(&format!("r{i}.json"), "{}"))
        .collect();
    let options = DeliverOptions {
        retry_for: Duration::from_secs(10),
    };
    let result = runtime()
        .block_on(deliver(
            &artifacts,
            &writers,
            &queue,
            options,
            Arc::default(),
        ))
        .unwrap();
    let m = &result.writers[0];
    assert_eq!(
        (
            m.attempted,
            m.successes,
            m.failures,
            m.retried,
            m.queued,
            m.dead_lettered
        ),
        (3, 3, 6, 6, 0, 0)
    );
    for o in result.outcomes.iter().filter(|o| o.writer == "recovering") {
        assert_eq!((o.status, o.attempts), (Status::Written, 3), "{o:?}");
        assert_eq!(o.error, None);
    }
    assert_eq!(queued(&queue), 0, "delivered entries leave the queue");
    // Backoff: ≥100 ms before the 2nd attempt, ≥200 ms before the 3rd (jitter adds ≤25%).
    let calls = recovering.calls.lock().unwrap();
    let times: Vec<Instant> = calls
        .iter()
        .filter(|(n, _)| n == "r0.json")
        .map(|(_, t)| *t)
        .collect();
    let gaps: Vec<Duration> = times.windows(2).map(|w| w[1] - w[0]).collect();
    assert!(gaps[0] >= Duration::from_millis(100), "{gaps:?}");
    assert!(gaps[1] >= Duration::from_millis(200), "{gaps:?}");
    assert!(gaps[1] < Duration::from_millis(900), "{gaps:?}");
    // The filesystem writer finished long before the retries did.
    assert!(
        result.writers[1].duration_ms < m.duration_ms,
        "{} vs {}",
        result.writers[1].duration_ms,
        m.duration_ms
    );
}

#[test]
fn retries_stop_at_the_deadline_or_the_attempt_limit_and_nothing_is_lost() {
    use crate::deliver::{deliver, DeliverOptions};
    use crate::queue::RetryPolicy;
    let dir = tempfile::tempdir().unwrap();
    let down = || {
        Arc::new(Recovering {
            failing: usize::MAX,
            calls: Default::default(),
        })
    };
    let artifacts = [artifact("a.json", "1"), artifact("b.json", "2")];
    // The run ends first: the artifacts wait in the queue.
    let policy = RetryPolicy {
        max_attempts: 8,
        base: Duration::from_millis(100),
        max: Duration::from_secs(1),
    };
    let queue = shared_queue(&dir.path().join("q1.db"), policy);
    let writers: Vec<Arc<dyn Writer>> = vec![down()];
    let options = DeliverOptions {
        retry_for: Duration::from_millis(250),
    };
    let started = Instant::now();
    let result = runtime()
        .block_on(deliver(
            &artifacts,
            &writers,
            &queue,
            options,
            Arc::default(),
        ))
        .unwrap();
    assert!(started.elapsed() < Duration::from_secs(2));
    let m = &result.writers[0];
    assert_eq!((m.successes, m.queued, m.dead_lettered), (0, 2, 0));
    // Attempts at 0 and ~100 ms; the next (~300 ms) would come after the deadline.
    assert!(result
        .outcomes
        .iter()
        .all(|o| o.status == Status::Queued && o.attempts == 2));
    let entries = queue.lock().unwrap().due(true).unwrap();
    assert_eq!(entries.len(), 2);
    assert!(entries
        .iter()
        .all(|e| e.attempts == 2 && e.error == "503 Slow Down"));
    // The attempts run out first: dead-lettered, artifact and all.
    let policy = RetryPolicy {
        max_attempts: 3,
        base: Duration::from_millis(10),
        max: Duration::from_millis(20),
    };
    let queue = shared_queue(&dir.path().join("q2.db"), policy);
    let result = runtime()
        .block_on(deliver(
            &artifacts,
            &writers,
            &queue,
            options,
            Arc::default(),
        ))
        .unwrap();
    assert_eq!(result.writers[0].dead_lettered, 2);
    assert!(result
        .outcomes
        .iter()
        .all(|o| o.status == Status::DeadLettered && o.attempts == 3));
    let dead = queue.lock().unwrap().dead_letters().unwrap();
    let mut kept: Vec<(String, Vec<u8>, u32)> = dead
        .iter()
        .map(|e| {
            (
                e.artifact.name.clone(),
                e.artifact.bytes.to_vec(),
                e.attempts,
            )
        })
        .collect();
    kept.sort();
    assert_eq!(
        kept,
        [
            ("a.json".into(), b"1".to_vec(), 3),
            ("b.json".into(), b"2".to_vec(), 3)
        ]
    );
    assert_eq!(queued(&queue), 0);
    // Permanent failures are never retried.
    let queue = shared_queue(&dir.path().join("q3.db"), RetryPolicy::default());
    let broken = Arc::new(Broken::new(false, Duration::from_millis(1000)));
    let writers: Vec<Arc<dyn Writer>> = vec![broken.clone()];
    let result = runtime()
        .block_on(deliver(
            &artifacts,
            &writers,
            &queue,
            options,
            Arc::default(),
        ))
        .unwrap();
    assert_eq!(broken.calls.load(Ordering::Relaxed), 2);
    assert_eq!(result.writers[0].dead_lettered, 2);
    assert_eq!(result.outcomes[0].error.as_deref(), Some("403 Forbidden"));
}

#[test]
fn a_group_commit_writes_every_file_whole_and_leaves_no_temporary_files() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("out");
    // More than one batch, in nested directories that do not exist yet.
    let artifacts: Vec<Artifact> = (0..crate::fs::MAX_BATCH * 2 + 7)
        .map(|i| {
            artifact(
                &format!("s{}/t{i}.json", i % 3),
                &format!("{i}").repeat(i % 50),
            )
        })
        .collect();
    let writers: Vec<Arc<dyn Writer>> = vec![Arc::new(FsWriter::new(&root))];
    let result = runtime().block_on(fan_out(&artifacts, &writers));
    assert_eq!(result.writers[0].successes, artifacts.len() as u64);
    for (i, a) in artifacts.iter().enumerate() {
        let path = root.join(&a.name);
        assert_eq!(std::fs::read(&path).unwrap(), *a.bytes, "{i}");
        assert_eq!(
            result.outcomes[i].location.as_deref(),
            Some(path.display().to_string().as_str())
        );
    }
    let mut names = Vec::new();
    for sub in std::fs::read_dir(&root).unwrap() {
        for f in std::fs::read_dir(sub.unwrap().path()).unwrap() {
            names.push(f.unwrap().file_name().to_string_lossy().into_owned());
        }
    }
    assert_eq!(names.len(), artifacts.len());
    assert!(
        names.iter().all(|n| !n.starts_with('.')),
        "temporary files left"
    );
}

#[test]
fn one_bad_write_in_a_batch_fails_alone_and_rewrites_replace_whole_files() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("out");
    std::fs::create_dir_all(&root).unwrap();
    // `blocked` is a file, so `blocked/x.txt` cannot be written.
    std::fs::write(root.join("blocked"), "a file").unwrap();
    std::fs::write(root.join("same.txt"), "old").unwrap();
    let mut artifacts: Vec<Artifact> = (0..40)
        .map(|i| artifact(&format!("ok{i}.txt"), "fine"))
        .collect();
    artifacts.insert(20, artifact("blocked/x.txt", "nowhere"));
    artifacts.push(artifact("same.txt", "new and longer"));
    let writers: Vec<Arc<dyn Writer>> = vec![Arc::new(FsWriter::new(&root))];
    let result = runtime().block_on(fan_out(&artifacts, &writers));
    let bad: Vec<&Outcome> = result
        .outcomes
        .iter()
        .filter(|o| o.error.is_some())
        .collect();
    assert_eq!(bad.len(), 1, "{bad:?}");
    assert_eq!(bad[0].artifact, "blocked/x.txt");
    assert_eq!(
        bad[0].status,
        Status::Rejected,
        "not a directory will not pass"
    );
    assert!(
        bad[0].error.as_deref().unwrap().contains("blocked"),
        "{:?}",
        bad[0].error
    );
    assert_eq!(result.writers[0].successes, 41);
    assert_eq!(
        std::fs::read_to_string(root.join("same.txt")).unwrap(),
        "new and longer"
    );
    let hidden = std::fs::read_dir(&root)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with('.')
        })
        .count();
    assert_eq!(hidden, 0);
}

#[test]
fn a_writer_that_times_out_again_and_again_stops_being_tried_for_the_round() {
    let artifacts: Vec<Artifact> = (0..200)
        .map(|i| artifact(&format!("t{i}.json"), "{}"))
        .collect();
    let down = Arc::new(Broken::new(true, Duration::from_millis(200)));
    let writers: Vec<Arc<dyn Writer>> = vec![down.clone()];
    let started = Instant::now();
    let result = runtime().block_on(fan_out(&artifacts, &writers));
    // Four at a time, 200 ms each: 10 s without the breaker; it opens after 16 failures.
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    let calls = down.calls.load(Ordering::Relaxed);
    assert!(
        (BREAKER_THRESHOLD..BREAKER_THRESHOLD + 4).contains(&calls),
        "{calls}"
    );
    assert!(result
        .outcomes
        .iter()
        .all(|o| o.transient && o.status == Status::Failed));
    let skipped =
        "not attempted: the writer's last 16 writes failed, the last with: connect timed out";
    let errors: Vec<&str> = result
        .outcomes
        .iter()
        .map(|o| o.error.as_deref().unwrap())
        .collect();
    assert_eq!(
        errors.iter().filter(|e| **e == skipped).count(),
        200 - calls
    );
    assert_eq!(
        errors.iter().filter(|e| **e == "connect timed out").count(),
        calls
    );
    // Successes in between keep it closed: 15 failures, then everything is written.
    let flaky = Arc::new(Broken {
        good_after: BREAKER_THRESHOLD - 1,
        ..Broken::new(true, Duration::from_millis(1))
    });
    let writers: Vec<Arc<dyn Writer>> = vec![flaky.clone()];
    let result = runtime().block_on(fan_out(&artifacts, &writers));
    assert_eq!(flaky.calls.load(Ordering::Relaxed), 200);
    assert_eq!(result.writers[0].successes, 200 - 15);
}

/// The manifest spells statuses as it always has; the enum must not change a byte of it.
#[test]
fn statuses_serialize_as_the_manifest_spells_them() {
    let spelled: Vec<String> = [
        Status::Written,
        Status::Failed,
        Status::Rejected,
        Status::Queued,
        Status::DeadLettered,
    ]
    .iter()
    .map(|s| serde_json::to_string(s).unwrap_or_default())
    .collect();
    assert_eq!(
        spelled,
        [
            r#""written""#,
            r#""failed""#,
            r#""rejected""#,
            r#""queued""#,
            r#""dead-lettered""#
        ]
    );
}
