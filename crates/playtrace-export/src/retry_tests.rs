//! The retry queue seen from `export`: failures wait in it, drains deliver each artifact
//! exactly once, backoff, and the deadline and attempt limit.

use super::tests::{artifact, runtime, Broken};
use super::*;
use crate::fs::FsWriter;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

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
