//! The duplicate check's log, start, rollback and pruning.

use super::*;
use crate::insert::insert_events;
use crate::record::StoredEvent;

fn event(game: &str, id: &str) -> StoredEvent {
    StoredEvent {
        game: game.into(),
        id: Some(id.into()),
        name: "n".into(),
        body: format!("{{\"id\":\"{id}\"}}"),
        ..StoredEvent::default()
    }
}

/// One writer commit of `events` (ids `prefix0`, `prefix1`, …), as `writer/commit.rs` runs
/// it; their sequence numbers (0: a duplicate).
fn commit(conn: &mut Connection, dedup: &mut Dedup, ids: &[String]) -> Vec<i64> {
    conn.execute_batch("DROP INDEX IF EXISTS events_id_game")
        .unwrap();
    let mut events: Vec<StoredEvent> = ids.iter().map(|id| event("g", id)).collect();
    let tx = conn.transaction().unwrap();
    dedup.begin();
    let mut head = crate::mark::stored_head(&tx).unwrap();
    let out = insert_events(
        &tx,
        Some(dedup),
        &mut events,
        Default::default(),
        1,
        &mut head,
    )
    .unwrap();
    dedup.log(&tx).unwrap();
    tx.commit().unwrap();
    dedup.committed();
    out.seqs
}

fn ids(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}{i}")).collect()
}

fn rows(conn: &Connection) -> i64 {
    conn.query_row("SELECT count(*) FROM event_keys", [], |r| r.get(0))
        .unwrap()
}

#[test]
fn ids_sharing_a_key_are_told_apart_by_their_events() {
    let dir = tempfile::tempdir().unwrap();
    let mut conn = crate::open(&dir.path().join(crate::DB_FILE)).unwrap();
    let mut dedup = Dedup::default();
    assert_eq!(commit(&mut conn, &mut dedup, &ids("a", 3)), [1, 2, 3]);
    // Give `a1` and `a2` the key of `a0`, as if they hashed alike.
    let shared = key("g", "a0");
    dedup.add(shared, 2, None);
    dedup.add(shared, 3, None);
    for (id, seq) in [
        ("a0", Some(1)),
        ("a1", Some(2)),
        ("a2", Some(3)),
        ("a3", None),
    ] {
        assert_eq!(dedup.find(&conn, shared, "g", id).unwrap(), seq, "{id}");
    }
    // Another game's id is another key, and not its event.
    assert_eq!(dedup.find(&conn, key("h", "a0"), "h", "a0").unwrap(), None);
    assert_ne!(key("h", "a0"), shared);
    // The game and the id cannot trade bytes.
    assert_ne!(key("ga", "b"), key("g", "ab"));
}

#[test]
fn the_log_brings_every_key_back_and_a_start_reads_only_the_events_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut conn = crate::open(&dir.path().join(crate::DB_FILE)).unwrap();
    let mut dedup = Dedup::default();
    for round in 0..5 {
        let seqs = commit(&mut conn, &mut dedup, &ids(&format!("r{round}-"), 50));
        assert!(seqs.iter().all(|&s| s > 0));
    }
    // 250 entries: 3 full rows of 64, 58 left for the next commit.
    assert_eq!(rows(&conn), 3);
    assert_eq!(dedup.pending.len(), 250 - 3 * FLUSH_AT);
    let loaded = Dedup::load(&conn).unwrap();
    assert_eq!(loaded.len(), 250);
    assert_eq!(loaded.rows.len(), 3);
    assert_eq!(
        loaded.pending, dedup.pending,
        "the unlogged tail is read from the events"
    );
    let mut loaded = loaded;
    // Every id comes back a duplicate, new ones are stored after them.
    let mut again = ids("r4-", 50);
    again.extend(ids("new-", 2));
    let seqs = commit(&mut conn, &mut loaded, &again);
    assert!(seqs[..50].iter().all(|&s| s == 0), "{seqs:?}");
    assert_eq!(&seqs[50..], [251, 252]);
}

#[test]
fn a_rolled_back_commit_leaves_nothing_in_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let mut conn = crate::open(&dir.path().join(crate::DB_FILE)).unwrap();
    let mut dedup = Dedup::default();
    commit(&mut conn, &mut dedup, &ids("a", 60));
    {
        let tx = conn.transaction().unwrap();
        dedup.begin();
        let mut events: Vec<StoredEvent> = ids("lost", 30).iter().map(|i| event("g", i)).collect();
        let mut head = 60;
        insert_events(
            &tx,
            Some(&mut dedup),
            &mut events,
            Default::default(),
            1,
            &mut head,
        )
        .unwrap();
        dedup.log(&tx).unwrap();
        // Dropped: rolled back.
    }
    dedup.rolled_back();
    assert_eq!(dedup.pending.len(), 60);
    // The lost events' sequence numbers are given again, to other ids.
    let seqs = commit(&mut conn, &mut dedup, &ids("b", 30));
    assert_eq!(seqs.first(), Some(&61));
    // Nothing takes the lost ids for stored ones, now or after a start.
    let lost = ids("lost", 30);
    for d in [&dedup, &Dedup::load(&conn).unwrap()] {
        for id in &lost {
            assert_eq!(d.find(&conn, key("g", id), "g", id).unwrap(), None, "{id}");
        }
        for (i, id) in ids("b", 30).iter().enumerate() {
            assert_eq!(
                d.find(&conn, key("g", id), "g", id).unwrap(),
                Some(61 + i as i64)
            );
        }
    }
}

#[test]
fn removed_events_leave_the_log_and_memory_and_their_ids_may_come_again() {
    let dir = tempfile::tempdir().unwrap();
    let mut conn = crate::open(&dir.path().join(crate::DB_FILE)).unwrap();
    let mut dedup = Dedup::default();
    commit(&mut conn, &mut dedup, &ids("old", 200));
    assert_eq!(rows(&conn), 3);
    // Retention removes the oldest 150.
    conn.execute("DELETE FROM events WHERE seq <= 150", [])
        .unwrap();
    commit(&mut conn, &mut dedup, &ids("new", 100));
    // Rows whose events are all gone went (the first two: seqs 1–128), and one more was
    // logged (seqs 129–192 stay, 193–256 are new).
    assert_eq!(rows(&conn), 2);
    assert_eq!(dedup.rows.len(), 2);
    // Their entries left memory too (128 of 300, a quarter or more): seqs 151–300 stay.
    assert_eq!(dedup.len(), 150);
    // A removed event's id is stored again; a kept one is still refused.
    let seqs = commit(
        &mut conn,
        &mut dedup,
        &["old3".to_string(), "old160".to_string()],
    );
    assert_eq!(seqs, [301, 0]);
}

#[test]
fn a_store_without_a_log_is_logged_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let mut conn = crate::open(&dir.path().join(crate::DB_FILE)).unwrap();
    let mut dedup = Dedup::default();
    commit(&mut conn, &mut dedup, &ids("a", 300));
    // As a release before the log left it.
    conn.execute("DELETE FROM event_keys", []).unwrap();
    let opened = Dedup::open(&mut conn).unwrap();
    // Logged a row at a time as read: 4 full rows, the last 44 left to the next commits (or
    // read from the events again by the next start).
    assert_eq!(rows(&conn), 4);
    assert_eq!(opened.pending.len(), 300 - 4 * FLUSH_AT);
    let again = Dedup::load(&conn).unwrap();
    assert_eq!(again.len(), 300);
    assert_eq!(again.pending, opened.pending);
}

/// `auto`'s move, interrupted and then done: a crash after the keys were logged but before the
/// index was dropped leaves the index refusing duplicates and a log the next start empties; a
/// finished move leaves no index, every stored id in the table, and a start that opens it.
#[test]
fn an_interrupted_move_keeps_the_index_and_a_finished_one_is_kept_by_the_next_start() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(crate::DB_FILE);
    let mut conn = crate::open(&path).unwrap();
    assert!(Dedup::start(&mut conn, DedupMode::Auto).unwrap().is_none());
    let mut events: Vec<StoredEvent> = ids("x", 300).iter().map(|id| event("g", id)).collect();
    let tx = conn.transaction().unwrap();
    let mut head = 0;
    insert_events(&tx, None, &mut events, Default::default(), 1, &mut head).unwrap();
    tx.commit().unwrap();
    // The move's first half, then a crash: its keys logged, the index still there.
    drop(Dedup::open(&mut conn).unwrap());
    assert_eq!(rows(&conn), 300 / FLUSH_AT as i64);
    drop(conn);
    let mut conn = crate::open(&path).unwrap();
    assert!(Dedup::start(&mut conn, DedupMode::Auto).unwrap().is_none());
    assert_eq!(rows(&conn), 0, "a log beside the index would go stale");
    // The whole move.
    let dedup = Dedup::switch(&mut conn).unwrap();
    assert!(!has_index(&conn).unwrap());
    for (n, id) in ids("x", 300).iter().enumerate() {
        let seq = dedup.find(&conn, key("g", id), "g", id).unwrap();
        assert_eq!(seq, Some(n as i64 + 1), "{id}");
    }
    drop(conn);
    let mut conn = crate::open(&path).unwrap();
    let dedup = Dedup::start(&mut conn, DedupMode::Auto)
        .unwrap()
        .expect("no index: the table");
    assert_eq!(dedup.len(), 300);
}
