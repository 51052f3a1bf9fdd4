use super::*;
use std::sync::{mpsc, Mutex};

fn row(id: &str) -> StoredEvent {
    StoredEvent {
        game: "g".into(),
        id: Some(id.into()),
        name: "n".into(),
        body: format!(r#"{{"event":"n","id":"{id}"}}"#),
        ..StoredEvent::default()
    }
}

/// A writer on a new store at `path` whose hook does nothing.
fn plain_writer(path: &std::path::Path) -> (Writer<()>, std::thread::JoinHandle<()>) {
    let conn = crate::open(path).unwrap();
    Writer::<()>::start(
        Arc::new(Mutex::new(conn)),
        None,
        false,
        WriterOptions::default(),
        Box::new(AfterCommit(
            |_: &[StoredEvent], _: &(), _: &CommitOutcome| {},
        )),
        Arc::default(),
        Arc::default(),
    )
    .unwrap()
}

#[test]
fn duplicates_are_stored_once_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(crate::DB_FILE);
    let (writer, handle) = plain_writer(&path);
    let (tx, rx) = mpsc::channel();
    for ids in [vec!["a", "b", "a"], vec!["b", "c"]] {
        let tx = tx.clone();
        let job = Job {
            events: ids.into_iter().map(row).collect(),
            rejects: vec![],
            extra: (),
            done: Box::new(move |r| tx.send(r.unwrap()).unwrap()),
        };
        assert!(writer.try_submit(job).is_ok());
    }
    let first = rx.recv().unwrap();
    let second = rx.recv().unwrap();
    assert_eq!((first.accepted, first.duplicates), (2, 1));
    assert_eq!(first.inserted, vec![true, true, false]);
    assert_eq!((second.accepted, second.duplicates), (1, 1));
    drop(writer);
    handle.join().unwrap();
    let conn = crate::open(&path).unwrap();
    let n: i64 = conn
        .query_row("SELECT count(*) FROM events", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 3);
}

/// The subject index after jobs whose batches were built before the writer: a job without
/// duplicates stores its own, one with duplicates (gaps in its numbering) falls back to the
/// writer's batch, and either way every stored row is indexed under exactly its keys.
#[test]
fn jobs_with_and_without_duplicates_index_every_stored_row_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(crate::DB_FILE);
    let (writer, handle) = plain_writer(&path);
    let keyed = |id: String| StoredEvent {
        subjects: vec![
            id.len() as i64 * 1_000 + 7,
            crate::subject_key(crate::SubjectKind::Player, &id),
        ],
        ..row(&id)
    };
    let (tx, rx) = mpsc::channel();
    // 600 new; then 300 of those again among 600 new; then 600 new again.
    let jobs: Vec<Vec<String>> = vec![
        (0..600).map(|i| format!("a{i}")).collect(),
        (300..600)
            .map(|i| format!("a{i}"))
            .chain((0..600).map(|i| format!("b{i}")))
            .collect(),
        (0..600).map(|i| format!("c{i}")).collect(),
    ];
    for ids in &jobs {
        let tx = tx.clone();
        let job = Job {
            events: ids.iter().cloned().map(keyed).collect(),
            rejects: vec![],
            extra: (),
            done: Box::new(move |r| tx.send(r.unwrap()).unwrap()),
        };
        assert!(writer.try_submit(job).is_ok());
    }
    let outcomes: Vec<CommitOutcome> = (0..3).map(|_| rx.recv().unwrap()).collect();
    assert_eq!(outcomes[1].duplicates, 300);
    drop(writer);
    handle.join().unwrap();
    let conn = crate::open(&path).unwrap();
    let stored: Vec<(i64, String)> = conn
        .prepare("SELECT seq, id FROM events ORDER BY seq")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(stored.len(), 1_800);
    let want: std::collections::BTreeMap<i64, Vec<i64>> = stored
        .into_iter()
        .map(|(seq, id)| {
            let mut keys = keyed(id).subjects;
            keys.sort_unstable();
            (seq, keys)
        })
        .collect();
    assert_eq!(crate::subjects::all(&conn).unwrap(), want);
    let batches: i64 = conn
        .query_row("SELECT count(*) FROM subject_filters", [], |r| r.get(0))
        .unwrap();
    assert!(batches >= 2, "{batches} batches");
}

/// Jobs are `(name, background)`; the first job's transaction waits for `gate`, so the
/// others are all queued while it commits.
struct Ordered {
    gate: Option<mpsc::Receiver<()>>,
    order: mpsc::Sender<&'static str>,
    /// Told when the first job's transaction reaches the gate.
    entered: Option<mpsc::Sender<()>>,
}

impl CommitHook<(&'static str, bool)> for Ordered {
    fn in_transaction(
        &mut self,
        _: &Tx<'_>,
        _: &[StoredEvent],
        _: &(&'static str, bool),
        _: &CommitOutcome,
    ) -> Result<(), StoreError> {
        if let Some(gate) = self.gate.take() {
            if let Some(entered) = self.entered.take() {
                entered.send(()).unwrap();
            }
            gate.recv().unwrap();
        }
        Ok(())
    }

    fn committed(&mut self, _: &[StoredEvent], job: &(&'static str, bool), _: &CommitOutcome) {
        self.order.send(job.0).unwrap();
    }

    fn background(&self, job: &(&'static str, bool)) -> bool {
        job.1
    }
}

/// A writer whose first transaction waits at `gate` (telling `entered` once it is there);
/// each job's name goes to `order` in commit order and its outcome to `outcomes`.
struct Gated {
    writer: Writer<(&'static str, bool)>,
    handle: JoinHandle<()>,
    gate: mpsc::Sender<()>,
    order: mpsc::Receiver<&'static str>,
    entered: mpsc::Receiver<()>,
    outcome_tx: mpsc::Sender<(&'static str, CommitOutcome)>,
    outcomes: mpsc::Receiver<(&'static str, CommitOutcome)>,
    _dir: tempfile::TempDir,
}

impl Gated {
    fn start() -> Gated {
        let dir = tempfile::tempdir().unwrap();
        let conn = crate::open(&dir.path().join(crate::DB_FILE)).unwrap();
        let (gate_tx, gate) = mpsc::channel();
        let (order_tx, order) = mpsc::channel();
        let (entered_tx, entered) = mpsc::channel();
        let hook = Ordered {
            gate: Some(gate),
            order: order_tx,
            entered: Some(entered_tx),
        };
        let (writer, handle) = Writer::start(
            Arc::new(Mutex::new(conn)),
            None,
            false,
            WriterOptions::default(),
            Box::new(hook),
            Arc::default(),
            Arc::default(),
        )
        .unwrap();
        let (outcome_tx, outcomes) = mpsc::channel();
        Gated {
            writer,
            handle,
            gate: gate_tx,
            order,
            entered,
            outcome_tx,
            outcomes,
            _dir: dir,
        }
    }

    fn submit(&self, name: &'static str, background: bool, id: &str) {
        let outcome_tx = self.outcome_tx.clone();
        let job = Job {
            events: vec![row(id)],
            rejects: vec![],
            extra: (name, background),
            done: Box::new(move |r| {
                let _ = outcome_tx.send((name, r.unwrap()));
            }),
        };
        assert!(self.writer.try_submit(job).is_ok());
    }

    /// The next `n` outcomes, in completion order.
    fn outcomes(&self, n: usize) -> Vec<(&'static str, CommitOutcome)> {
        (0..n).map(|_| self.outcomes.recv().unwrap()).collect()
    }

    fn stop(self) {
        drop(self.writer);
        self.handle.join().unwrap();
    }
}

#[test]
fn a_waiting_live_job_goes_before_queued_background_jobs() {
    let w = Gated::start();
    // Whichever of the next three the writer has taken off the queue by the time the first
    // job's transaction passes the gate, the live job is committed before both pages.
    w.submit("first", false, "a");
    w.submit("page 1", true, "b");
    w.submit("page 2", true, "c");
    w.submit("live", false, "d");
    w.gate.send(()).unwrap();
    w.outcomes(4);
    let order: Vec<_> = w.order.try_iter().collect();
    assert_eq!(order, ["first", "live", "page 1", "page 2"]);
    w.stop();
}

/// The defect: a background commit took every page set aside, and a live job arriving
/// meanwhile waited for all of them plus a commit of its own. Now it joins the commit in
/// progress right after the page being written, and the other pages wait.
#[test]
fn a_live_job_joins_a_background_commit_after_the_page_being_written() {
    let w = Gated::start();
    // Page 1's transaction waits at the gate; the live job is queued behind pages 2 and 3.
    w.submit("page 1", true, "a");
    w.entered.recv().unwrap();
    w.submit("page 2", true, "b");
    w.submit("page 3", true, "c");
    w.submit("live", false, "d");
    w.gate.send(()).unwrap();
    let done = w.outcomes(4);
    let order: Vec<_> = w.order.try_iter().collect();
    assert_eq!(order, ["page 1", "live", "page 2", "page 3"]);
    // Page 1 and the live job share one commit (one fsync); the other pages come after.
    let (_, live) = &done[1];
    assert!(!live.first_in_commit, "{done:?}");
    assert_eq!(live.commit_events, 2, "{done:?}");
    assert!(done[2].1.first_in_commit, "{done:?}");
    w.stop();
}

/// A writer on a new store at `path` counting WAL bytes into its health, as the store runs it
/// (no checkpoints here, so the WAL only grows); `auto`: `[store] dedup = "auto"`.
struct Counted {
    writer: Writer<()>,
    handle: std::thread::JoinHandle<()>,
    health: Arc<Health>,
    conn: SharedConn,
}

/// Submits one job of `events` and waits until it is committed.
fn commit_job(writer: &Writer<()>, events: Vec<StoredEvent>) -> CommitOutcome {
    let (tx, rx) = mpsc::channel();
    let job = Job {
        events,
        rejects: vec![],
        extra: (),
        done: Box::new(move |r| tx.send(r.unwrap()).unwrap()),
    };
    assert!(writer.try_submit(job).is_ok());
    rx.recv().unwrap()
}

fn counted_writer(path: &std::path::Path, auto: bool) -> Counted {
    let mut conn = crate::open(path).unwrap();
    crate::schema::disable_auto_checkpoint(&conn).unwrap();
    let health = Arc::new(Health::default());
    count_wal_bytes(&mut conn, health.clone()).unwrap();
    let mode = if auto {
        crate::DedupMode::Auto
    } else {
        crate::DedupMode::Index
    };
    let dedup = crate::dedup::Dedup::start(&mut conn, mode).unwrap();
    assert!(dedup.is_none(), "a new store starts on the index");
    let conn = Arc::new(Mutex::new(conn));
    let (writer, handle) = Writer::<()>::start(
        conn.clone(),
        dedup,
        auto,
        WriterOptions::default(),
        Box::new(AfterCommit(
            |_: &[StoredEvent], _: &(), _: &CommitOutcome| {},
        )),
        health.clone(),
        Arc::default(),
    )
    .unwrap();
    Counted {
        writer,
        handle,
        health,
        conn,
    }
}

/// What `/metrics` shows an operator whose ids are random: the WAL bytes the commits wrote
/// against the events' bytes. Ids that sort cost about their own bytes; random ids make each
/// commit rewrite an index page per event (issue 14, `bench/ingest/README.md` "Random ids").
#[test]
fn random_ids_show_as_wal_bytes_many_times_the_events_bytes() {
    fn ratio(random: bool) -> f64 {
        let dir = tempfile::tempdir().unwrap();
        let Counted {
            writer,
            handle,
            health,
            ..
        } = counted_writer(&dir.path().join(crate::DB_FILE), false);
        let pad = "x".repeat(240);
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut bytes = 0;
        let mut half = (0, 0);
        for job in 0..60 {
            if job == 30 {
                half = (health.wal_bytes(), health.event_bytes());
            }
            let events = (0..1000)
                .map(|i| {
                    let id = if random {
                        random_id(&mut state)
                    } else {
                        format!("c0-{:08}", job * 1000 + i)
                    };
                    StoredEvent {
                        body: format!(r#"{{"event":"n","id":"{id}","attrs":{{"p":"{pad}"}}}}"#),
                        ..row(&id)
                    }
                })
                .collect::<Vec<_>>();
            bytes += events.iter().map(|e| e.body.len() as u64).sum::<u64>();
            commit_job(&writer, events);
        }
        drop(writer);
        handle.join().unwrap();
        let (wal, events) = (health.wal_bytes(), health.event_bytes());
        assert_eq!(events, bytes, "every event's line is counted");
        // The second half: the index is larger than a commit, as in any store in use.
        (wal - half.0) as f64 / (events - half.1) as f64
    }
    let (ordered, random) = (ratio(false), ratio(true));
    // Both are deterministic (the same rows give the same pages); `amplify.rs` warns past 6.
    assert!(ordered < 2.0, "ids that sort: {ordered:.2}");
    assert!(random > 7.0, "random ids: {random:.2}");
}

/// Random ids `splitmix64` makes from `state` (well spread, like a UUIDv4's random bits).
fn random_id(state: &mut u64) -> String {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    format!("{:016x}{:016x}", z, z ^ (z >> 31))
}

/// `[store] dedup = "auto"`: with random ids the writer moves the duplicate check from the
/// index to the key table once the index costs a page per event, keeps refusing every resend
/// across the move, and a restart in `auto` finds the table (the index is gone).
#[test]
fn auto_moves_the_duplicate_check_to_memory_when_random_ids_make_the_index_costly() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(crate::DB_FILE);
    let Counted {
        writer,
        handle,
        conn,
        ..
    } = counted_writer(&path, true);
    let has_index = || crate::dedup::has_index(&lock_conn(&conn)).unwrap();
    let submit = |ids: &[String]| commit_job(&writer, ids.iter().map(|id| row(id)).collect());
    let mut state = 7u64;
    let mut sent: Vec<Vec<String>> = Vec::new();
    let mut switched_after = None;
    for job in 0..80 {
        let ids: Vec<String> = (0..1000).map(|_| random_id(&mut state)).collect();
        let out = submit(&ids);
        assert_eq!((out.accepted, out.duplicates), (1000, 0), "job {job}");
        sent.push(ids);
        if switched_after.is_none() && !has_index() {
            switched_after = Some(job + 1);
        }
    }
    let switched_after =
        switched_after.expect("the index is dropped once it costs a page an event");
    assert!(
        switched_after > 3,
        "not before the index costs: after {switched_after} jobs"
    );
    // Resends from before and after the move are refused, one of each in a job of new ids too.
    for ids in [&sent[0], &sent[switched_after - 1], &sent[79]] {
        let out = submit(ids);
        assert_eq!((out.accepted, out.duplicates), (0, 1000));
    }
    let mut mixed: Vec<String> = (0..10).map(|_| random_id(&mut state)).collect();
    mixed.extend([sent[1][5].clone(), sent[70][9].clone()]);
    let out = submit(&mixed);
    assert_eq!((out.accepted, out.duplicates), (10, 2));
    drop(writer);
    handle.join().unwrap();
    // A restart in `auto` keeps the table: the store has no index.
    let mut conn = crate::open(&path).unwrap();
    let dedup = crate::dedup::Dedup::start(&mut conn, crate::DedupMode::Auto)
        .unwrap()
        .expect("auto after the move opens the key table");
    assert_eq!(dedup.len(), 80 * 1000 + 10);
}

/// `auto` with ids that sort keeps the index, even for events as small as a ping (whose rows
/// cost several times their lines).
#[test]
fn auto_keeps_the_index_for_ids_that_sort() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(crate::DB_FILE);
    let Counted {
        writer,
        handle,
        health,
        ..
    } = counted_writer(&path, true);
    for job in 0..80 {
        let events = (0..1000)
            .map(|i| row(&format!("c{}-{job}-{i:04}", job % 4)))
            .collect();
        commit_job(&writer, events);
    }
    drop(writer);
    handle.join().unwrap();
    let amplification = health.wal_bytes() as f64 / health.event_bytes() as f64;
    let mut conn = crate::open(&path).unwrap();
    let dedup = crate::dedup::Dedup::start(&mut conn, crate::DedupMode::Auto).unwrap();
    assert!(
        dedup.is_none(),
        "still on the index ({amplification:.1}× per line byte)"
    );
}
