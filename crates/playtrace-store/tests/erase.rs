//! Erasing a player from a data directory: the rows go, other players stay, the log records the
//! counts, and the player's bytes occur nowhere in the database or WAL files.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use playtrace_store::{
    erase_dir, subject_key, AfterCommit, CommitOutcome, DedupMode, Erasure, EventFilter, Job,
    RejectRow, RetentionPolicy, Store, StoreOptions, StoredEvent, SubjectKind, WriterOptions,
    DB_FILE,
};
use std::path::Path;
use std::time::Duration;

fn options() -> StoreOptions {
    options_with(DedupMode::Index)
}

fn options_with(dedup: DedupMode) -> StoreOptions {
    StoreOptions {
        retention: RetentionPolicy {
            max_age_ms: 1e15,
            max_bytes: 1 << 30,
            interval: Duration::from_secs(3600),
        },
        writer: WriterOptions::default(),
        dedup,
    }
}

fn event(i: usize, player: &str, session: &str) -> StoredEvent {
    StoredEvent {
        game: "g".into(),
        id: Some(format!("e-{i}").into()),
        name: "chat.message".into(),
        session: Some(session.into()),
        body: format!(
            r#"{{"event":"chat.message","id":"e-{i}","session":"{session}","attrs":{{"playerId":"{player}","text":"words of {player} number {i}"}}}}"#
        ),
        subjects: vec![
            subject_key(SubjectKind::Player, player),
            subject_key(SubjectKind::Session, session),
        ],
        ..StoredEvent::default()
    }
}

/// The 500 events of batch `batch` (of 4): player `i % 40`, one session each.
fn batch_events(batch: usize) -> Vec<StoredEvent> {
    (batch * 500..(batch + 1) * 500)
        .map(|i| {
            let p = i % 40;
            event(i, &format!("player-{p}"), &format!("session-{p}"))
        })
        .collect()
}

/// Writes 2,000 events of 40 players (player-0 … player-39, one session each) and a reject
/// naming player-7.
fn populate(dir: &Path) {
    for batch in 0..4 {
        let events = batch_events(batch);
        let rejects = if batch == 0 {
            vec![RejectRow {
                line: 1,
                kind: "parse".into(),
                message: "unterminated".into(),
                raw: r#"{"event":"chat.message","attrs":{"playerId":"player-7","text":"cut"#.into(),
            }]
        } else {
            vec![]
        };
        write(dir, events, rejects);
    }
}

fn file_bytes(dir: &Path) -> Vec<u8> {
    let mut bytes = std::fs::read(dir.join(DB_FILE)).unwrap();
    if let Ok(wal) = std::fs::read(dir.join(format!("{DB_FILE}-wal"))) {
        bytes.extend(wal);
    }
    bytes
}

fn occurs(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

fn events_of(dir: &Path) -> Vec<StoredEvent> {
    let store = Store::open(dir, options()).unwrap();
    store
        .reader()
        .events(&EventFilter {
            limit: 10_000,
            ..EventFilter::default()
        })
        .unwrap()
}

#[test]
fn erasing_a_player_removes_its_rows_and_bytes_and_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    populate(dir.path());
    assert!(occurs(&file_bytes(dir.path()), "words of player-7 number"));

    let erasure = Erasure {
        kind: SubjectKind::Player,
        values: vec!["player-7".into()],
        who: "test".into(),
        subject_hash: "h-7".into(),
    };
    let (erased, truncated) = erase_dir(dir.path(), &erasure).unwrap();
    assert_eq!(erased.events, 50, "{erased:?}");
    assert_eq!(erased.rejects, 1);
    assert!(truncated, "the WAL was emptied");

    let bytes = file_bytes(dir.path());
    assert!(
        !occurs(&bytes, "player-7\""),
        "player-7's id is still in the files"
    );
    assert!(
        !occurs(&bytes, "words of player-7 "),
        "player-7's text is still in the files"
    );
    assert!(
        occurs(&bytes, "words of player-8 number"),
        "other players stay"
    );

    let events = events_of(dir.path());
    assert_eq!(events.len(), 1950);
    assert!(events.iter().all(|e| !e.body.contains("\"player-7\"")));
    assert_eq!(
        events
            .iter()
            .filter(|e| e.body.contains("\"player-17\""))
            .count(),
        50,
        "a player whose id contains the erased one's is untouched"
    );

    let store = Store::open(dir.path(), options()).unwrap();
    let log = store.reader().erasures(10).unwrap();
    assert_eq!(log.len(), 1);
    assert_eq!((log[0].removed.events, log[0].removed.rejects), (50, 1));
    assert_eq!(log[0].subject, "player");
    assert_eq!(log[0].subject_hash, "h-7");
    assert_eq!(log[0].who, "test");
    // The gap is known as erased, not as lost.
    assert_eq!(store.reader().erased_between(0, 10_000).unwrap(), 50);
}

#[test]
fn erasing_a_session_leaves_the_players_other_sessions() {
    let dir = tempfile::tempdir().unwrap();
    populate(dir.path());
    let erasure = Erasure {
        kind: SubjectKind::Session,
        values: vec!["session-3".into()],
        who: "test".into(),
        subject_hash: "h".into(),
    };
    let (erased, _) = erase_dir(dir.path(), &erasure).unwrap();
    assert_eq!(erased.events, 50);
    let bytes = file_bytes(dir.path());
    assert!(!occurs(&bytes, "words of player-3 "));
    assert_eq!(events_of(dir.path()).len(), 1950);
    // Erasing again finds nothing, and says so.
    let (again, _) = erase_dir(dir.path(), &erasure).unwrap();
    assert_eq!(again.events, 0);
}

#[test]
fn a_running_collector_keeps_its_directory() {
    let dir = tempfile::tempdir().unwrap();
    let _store = Store::open(dir.path(), options()).unwrap();
    let erasure = Erasure {
        kind: SubjectKind::Player,
        values: vec!["p".into()],
        who: "test".into(),
        subject_hash: "h".into(),
    };
    let err = erase_dir(dir.path(), &erasure).unwrap_err();
    assert!(err.to_string().contains("in use"), "{err}");
}

/// Writes `events` and `rejects` in one commit.
fn write(dir: &Path, events: Vec<StoredEvent>, rejects: Vec<RejectRow>) -> CommitOutcome {
    write_with(dir, DedupMode::Index, events, rejects)
}

/// [`write`] with the duplicate check of `dedup`; the commit's outcome.
fn write_with(
    dir: &Path,
    dedup: DedupMode,
    events: Vec<StoredEvent>,
    rejects: Vec<RejectRow>,
) -> CommitOutcome {
    let store = Store::open(dir, options_with(dedup)).unwrap();
    let (writer, running) = store
        .start::<()>(Box::new(AfterCommit(
            |_: &[StoredEvent], _: &(), _: &CommitOutcome| {},
        )))
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let job = Job {
        events,
        rejects,
        extra: (),
        done: Box::new(move |r| tx.send(r.unwrap()).unwrap()),
    };
    assert!(writer.try_submit(job).is_ok());
    let outcome = rx.recv().unwrap();
    drop(writer);
    assert!(running.stop());
    outcome
}

/// An erased event sent again is stored again (its row is gone), once: with the key table of
/// `memory` (what `auto` moves random ids to) as with the index, and after a restart, which
/// reads the key table back from its log (the erased event's key still in it).
#[test]
fn an_erased_event_sent_again_is_stored_once_whatever_the_duplicate_check() {
    for dedup in [DedupMode::Index, DedupMode::Memory] {
        let dir = tempfile::tempdir().unwrap();
        for batch in 0..4 {
            let outcome = write_with(dir.path(), dedup, batch_events(batch), vec![]);
            assert_eq!(outcome.accepted, 500, "{dedup:?}");
        }
        let erasure = Erasure {
            kind: SubjectKind::Player,
            values: vec!["player-7".into()],
            who: "test".into(),
            subject_hash: "h-7".into(),
        };
        assert_eq!(erase_dir(dir.path(), &erasure).unwrap().0.events, 50);
        let every: Vec<StoredEvent> = (0..4).flat_map(batch_events).collect();
        // Each `write_with` opens the store again: the last two sends follow restarts.
        let first = write_with(dir.path(), dedup, every.clone(), vec![]);
        assert_eq!(
            (first.accepted, first.duplicates),
            (50, 1950),
            "{dedup:?}: player-7's 50 are new again, the rest duplicates"
        );
        let again = write_with(dir.path(), dedup, every.clone(), vec![]);
        assert_eq!((again.accepted, again.duplicates), (0, 2000), "{dedup:?}");
        assert_eq!(events_of(dir.path()).len(), 2000, "{dedup:?}");
    }
}

#[test]
fn an_id_written_with_escapes_is_erased_with_its_reject() {
    let dir = tempfile::tempdir().unwrap();
    // Ingest indexes what the id reads as (`alice`), whatever escapes spelled it.
    let mut escaped = event(1, "al\\u0069ce", "session-a");
    escaped.subjects[0] = subject_key(SubjectKind::Player, "alice");
    let mut pair = event(2, "\\ud83c\\udfae-alice", "session-b");
    pair.subjects[0] = subject_key(SubjectKind::Player, "🎮-alice");
    let mut collides = event(5, "al\\\\u0069ce", "session-e");
    collides.subjects[0] = subject_key(SubjectKind::Player, "alice");
    write(
        dir.path(),
        vec![
            escaped,
            event(3, "alice", "session-c"),
            event(4, "bob", "session-d"),
            pair,
            // A backslash before the escape makes it text, not `alice` (indexed as `alice` here:
            // a key collision, which the erasure's check must refuse).
            collides,
        ],
        vec![RejectRow {
            line: 1,
            kind: "parse".into(),
            message: "unterminated".into(),
            raw: r#"{"event":"chat.message","attrs":{"playerId":"\u0061lice","text":"cut"#.into(),
        }],
    );
    let erasure = |id: &str| Erasure {
        kind: SubjectKind::Player,
        values: vec![id.into()],
        who: "test".into(),
        subject_hash: "h".into(),
    };
    let (erased, _) = erase_dir(dir.path(), &erasure("alice")).unwrap();
    assert_eq!((erased.events, erased.rejects), (2, 1), "{erased:?}");
    let (erased, _) = erase_dir(dir.path(), &erasure("🎮-alice")).unwrap();
    assert_eq!(erased.events, 1, "a surrogate pair reads as one character");
    let bytes = file_bytes(dir.path());
    assert!(!occurs(&bytes, "al\\u0069ce\""), "the escaped id is gone");
    let mut left: Vec<String> = events_of(dir.path())
        .into_iter()
        .filter_map(|e| e.id.map(String::from))
        .collect();
    left.sort();
    assert_eq!(left, vec!["e-4".to_string(), "e-5".to_string()]);
}
