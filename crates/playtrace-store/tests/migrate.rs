//! A store written by the first release (no schema version) opens, is migrated, and reads back.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use playtrace_store::{
    AfterCommit, AlertQuery, AlertState, DedupMode, EventFilter, Kind, RetentionPolicy, Store,
    StoreOptions, StoredEvent, WriterOptions, DB_FILE, SCHEMA_VERSION,
};
use std::path::Path;
use std::time::Duration;

fn options() -> StoreOptions {
    StoreOptions {
        retention: RetentionPolicy {
            // Never remove the fixture's rows (they were received in 2026).
            max_age_ms: 1e15,
            max_bytes: 1 << 30,
            interval: Duration::from_secs(3600),
        },
        writer: WriterOptions::default(),
        dedup: DedupMode::Index,
    }
}

fn fixture_copy() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/v1")
        .join(DB_FILE);
    std::fs::copy(src, dir.path().join(DB_FILE)).unwrap();
    dir
}

#[test]
fn a_first_release_store_is_migrated_and_reads_back() {
    let dir = fixture_copy();
    let store = Store::open(dir.path(), options()).unwrap();
    assert_eq!(
        store.settings().schema_found,
        0,
        "the first release wrote no version"
    );
    let reader = store.reader();
    assert_eq!(reader.schema_version().unwrap(), SCHEMA_VERSION);

    let all = reader
        .events(&EventFilter {
            limit: 1000,
            all_kinds: true,
            ..EventFilter::default()
        })
        .unwrap();
    assert_eq!(all.len(), 29);
    let events: Vec<&StoredEvent> = all.iter().filter(|e| e.kind == Kind::Event).collect();
    assert_eq!(events.len(), 22);
    assert_eq!(events[0].name, "telemetry.contest.armed");
    assert!(events[0]
        .body
        .contains("verb.sparringMatch:actor-0::actor-100"));
    let moderation = events
        .iter()
        .find(|e| e.id.as_deref() == Some("m-1"))
        .unwrap();
    assert_eq!(moderation.game(), Some("glass-frontier"));
    assert_eq!(moderation.env.as_deref(), Some("prod"));
    assert_eq!(all.iter().filter(|e| e.kind == Kind::Alert).count(), 3);
    assert_eq!(all.iter().filter(|e| e.kind == Kind::Budget).count(), 4);

    let alerts = reader
        .alerts(&AlertQuery {
            limit: 10,
            ..AlertQuery::default()
        })
        .unwrap();
    assert_eq!(alerts.len(), 2);
    let firing = reader
        .alerts(&AlertQuery {
            state: Some(AlertState::Firing),
            limit: 10,
            ..AlertQuery::default()
        })
        .unwrap();
    assert_eq!(firing.len(), 1);
    assert!(
        firing[0].contains("contest.workflow_failed"),
        "{}",
        firing[0]
    );
    assert_eq!(reader.rejects(0, 10).unwrap().len(), 1);
    assert_eq!(
        reader.firing_alerts("pipeline").unwrap(),
        ["contest.workflow_failed|contest-x"]
    );

    // New rows continue the old sequence.
    let (writer, running) = store
        .start::<()>(Box::new(AfterCommit(
            |_: &[StoredEvent], _: &(), _: &playtrace_store::CommitOutcome| {},
        )))
        .unwrap();
    let outcome = commit(
        &writer,
        vec![StoredEvent {
            name: "after.upgrade".into(),
            id: Some("u-1".into()),
            body: r#"{"event":"after.upgrade","id":"u-1"}"#.into(),
            ..StoredEvent::default()
        }],
    );
    assert_eq!(outcome.seqs, [30]);

    // The duplicate check still holds across the upgrade (by the index, rebuilt id first): a
    // resent event the first release stored is not stored again, a new one is.
    let game = &moderation.game;
    let events = vec![
        resent(game, "m-1"),
        resent(game, "u-2"),
        resent(game, "u-2"),
    ];
    // (An ignored duplicate may still use up a sequence number: `AUTOINCREMENT` never reuses.)
    let seqs = commit(&writer, events).seqs;
    assert!(matches!(seqs[..], [0, new, 0] if new > 30), "{seqs:?}");
    drop(writer);
    assert_eq!(dedup_index(dir.path()), [INDEX]);
    assert!(running.stop());

    // Opening again finds the current version and migrates nothing; resends are still refused.
    let again = Store::open(dir.path(), options()).unwrap();
    assert_eq!(again.settings().schema_found, SCHEMA_VERSION);
    let (writer, running) = again
        .start::<()>(Box::new(AfterCommit(
            |_: &[StoredEvent], _: &(), _: &playtrace_store::CommitOutcome| {},
        )))
        .unwrap();
    let events = vec![
        resent(game, "u-2"),
        resent(game, "m-1"),
        resent(game, "u-1"),
    ];
    let seqs = commit(&writer, events).seqs;
    assert!(
        matches!(seqs[..], [0, 0, new] if new > 31),
        "u-1 was stored in another game: {seqs:?}"
    );
    drop(writer);
    assert!(running.stop());
}

/// The unique index of `[store] dedup = "index"`.
const INDEX: &str =
    "events_id_game: CREATE UNIQUE INDEX events_id_game ON events (id, game) WHERE id IS NOT NULL";

/// Submits `ids` (in `game`) to a store opened on `dir` in `mode`; their sequence numbers, and
/// the events table's indexes afterwards.
fn submit_in(dir: &Path, mode: DedupMode, game: &str, ids: &[&str]) -> (Vec<i64>, Vec<String>) {
    let store = Store::open(
        dir,
        StoreOptions {
            dedup: mode,
            ..options()
        },
    )
    .unwrap();
    let (writer, running) = store
        .start::<()>(Box::new(AfterCommit(
            |_: &[StoredEvent], _: &(), _: &playtrace_store::CommitOutcome| {},
        )))
        .unwrap();
    let seqs = commit(&writer, ids.iter().map(|id| resent(game, id)).collect()).seqs;
    drop(writer);
    assert!(running.stop());
    (seqs, dedup_index(dir))
}

#[test]
fn switching_the_duplicate_check_between_index_memory_and_auto_keeps_refusing_resends() {
    let dir = tempfile::tempdir().unwrap();
    let (seqs, index) = submit_in(dir.path(), DedupMode::Index, "g", &["a", "b"]);
    assert_eq!((seqs, index), (vec![1, 2], vec![INDEX.to_string()]));
    // Memory: the index goes, the keys come from the stored events; resends are refused, a
    // repeat inside the job too, and a duplicate leaves no gap in the sequence.
    let (seqs, index) = submit_in(
        dir.path(),
        DedupMode::Memory,
        "g",
        &["a", "c", "c", "b", "d"],
    );
    assert_eq!(seqs, [0, 3, 0, 0, 4]);
    assert_eq!(index, Vec::<String>::new());
    // Memory again: the keys of events stored in memory mode come back too.
    let (seqs, _) = submit_in(dir.path(), DedupMode::Memory, "g", &["d", "c", "e"]);
    assert_eq!(seqs, [0, 0, 5]);
    // Auto keeps what the store has: no index, so the key table (a duplicate leaves no gap).
    let (seqs, index) = submit_in(dir.path(), DedupMode::Auto, "g", &["e", "g1", "a"]);
    assert_eq!((seqs, index), (vec![0, 6, 0], Vec::<String>::new()));
    // Index again: the index is built from the stored events; nothing is stored twice.
    let (seqs, index) = submit_in(dir.path(), DedupMode::Index, "g", &["e", "a", "f"]);
    assert!(matches!(seqs[..], [0, 0, f] if f > 6), "{seqs:?}");
    assert_eq!(index, [INDEX]);
    // Auto with the index keeps it (the writer moves to the table only when it costs).
    let (seqs, index) = submit_in(dir.path(), DedupMode::Auto, "g", &["f", "g1", "h"]);
    assert!(matches!(seqs[..], [0, 0, h] if h > 6), "{seqs:?}");
    assert_eq!(index, [INDEX]);
    let conn = rusqlite::Connection::open(dir.path().join(DB_FILE)).unwrap();
    let keys: i64 = conn
        .query_row("SELECT count(*) FROM event_keys", [], |r| r.get(0))
        .unwrap();
    assert_eq!(
        keys, 0,
        "the key log is dropped while the index keeps the ids"
    );
    let twice: i64 = conn
        .query_row(
            "SELECT count(*) FROM (SELECT id FROM events GROUP BY game, id HAVING count(*) > 1)",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(twice, 0);
}

/// Submits one job of `events` and waits until it is committed.
fn commit(
    writer: &playtrace_store::Writer<()>,
    events: Vec<StoredEvent>,
) -> playtrace_store::CommitOutcome {
    let (tx, rx) = std::sync::mpsc::channel();
    let job = playtrace_store::Job {
        events,
        rejects: vec![],
        extra: (),
        done: Box::new(move |r| tx.send(r.unwrap()).unwrap()),
    };
    assert!(writer.try_submit(job).is_ok());
    rx.recv().unwrap()
}

/// An event of `game` with the id `id`.
fn resent(game: &str, id: &str) -> StoredEvent {
    StoredEvent {
        game: game.into(),
        name: "resent".into(),
        id: Some(id.into()),
        body: format!(r#"{{"event":"resent","id":"{id}"}}"#),
        ..StoredEvent::default()
    }
}

#[test]
fn a_second_open_of_one_directory_is_refused_until_the_first_is_gone() {
    let dir = tempfile::tempdir().unwrap();
    let first = Store::open(dir.path(), options()).unwrap();
    let err = match Store::open(dir.path(), options()) {
        Ok(_) => panic!("a second open must be refused"),
        Err(e) => e.to_string(),
    };
    assert!(
        err.contains(&format!("PID {}", std::process::id())),
        "{err}"
    );
    drop(first);
    Store::open(dir.path(), options()).unwrap();
}

#[test]
fn a_store_of_a_newer_release_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    drop(Store::open(dir.path(), options()).unwrap());
    let conn = rusqlite_free_bump(dir.path());
    assert!(conn.contains("newer than this release"), "{conn}");
}

/// The indexes of the events table, as `name: sql`.
fn dedup_index(dir: &Path) -> Vec<String> {
    let conn = rusqlite::Connection::open(dir.join(DB_FILE)).unwrap();
    let mut stmt = conn
        .prepare("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'events' AND sql IS NOT NULL")
        .unwrap();
    stmt.query_map([], |r| {
        Ok(format!(
            "{}: {}",
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?
        ))
    })
    .unwrap()
    .map(Result::unwrap)
    .collect()
}

/// Marks the database as written by a future schema (through SQLite's own header field).
fn rusqlite_free_bump(dir: &Path) -> String {
    // user_version is the big-endian u32 at offset 60 of the database header.
    let path = dir.join(DB_FILE);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[60..64].copy_from_slice(&((SCHEMA_VERSION as u32) + 1).to_be_bytes());
    std::fs::write(&path, bytes).unwrap();
    match Store::open(dir, options()) {
        Ok(_) => "opened".into(),
        Err(e) => e.to_string(),
    }
}
