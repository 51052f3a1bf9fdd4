use super::*;
use crate::fs::{target, FsWriter};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

pub(super) fn artifact(name: &str, body: &str) -> Artifact {
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
pub(super) struct Broken {
    pub(super) calls: AtomicUsize,
    transient: bool,
    wait: Duration,
    good_after: usize,
}

impl Broken {
    pub(super) fn new(transient: bool, wait: Duration) -> Broken {
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

pub(super) fn runtime() -> tokio::runtime::Runtime {
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
