use super::*;
use crate::writer::Tx;

fn count(writer: &SharedConn, table: &str) -> i64 {
    lock_conn(writer)
        .query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
        .unwrap()
}

fn spec(key: &str) -> GroupSpec {
    GroupSpec {
        receiver: "hook".into(),
        group_key: key.into(),
        labels: "{}".into(),
        wait_ms: 0,
        interval_ms: 1_000,
        repeat_ms: 60_000,
    }
}

/// The tests' routes: an alert's JSON names its id, state and (firing) its groups.
fn router() -> Router {
    Arc::new(|alert: &str| {
        let v: serde_json::Value = serde_json::from_str(alert).ok()?;
        let change = match v["state"].as_str()? {
            "firing" => Change::Firing(
                v["groups"]
                    .as_array()?
                    .iter()
                    .filter_map(|g| {
                        let mut spec = spec(g.as_str()?);
                        spec.wait_ms = v["wait"].as_i64().unwrap_or(0);
                        if v["labels"].is_object() {
                            spec.labels = v["labels"].to_string();
                        }
                        Some(spec)
                    })
                    .collect(),
            ),
            "resolved" => Change::Resolved,
            "silenced" => Change::Withdrawn,
            _ => return None,
        };
        Some((v["id"].as_str()?.to_string(), change))
    })
}

/// A firing alert in group `group`, as journaled.
fn fire(id: &str, group: &str) -> String {
    serde_json::json!({"id": id, "state": "firing", "groups": [group]}).to_string()
}

/// An alert in another state, as journaled.
fn change(id: &str, state: &str) -> String {
    serde_json::json!({"id": id, "state": state}).to_string()
}

/// A fresh store's writer connection and the outbox writing through it.
fn open_outbox() -> (tempfile::TempDir, SharedConn, Outbox) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(crate::DB_FILE);
    let writer: SharedConn = Arc::new(Mutex::new(crate::open(&path).unwrap()));
    let outbox = Outbox::open(&path, writer.clone(), Arc::default()).unwrap();
    outbox.route_with(router());
    (dir, writer, outbox)
}

/// A transaction of the writer's, as the commit hook runs it.
fn in_tx(conn: &SharedConn, now: i64, f: impl FnOnce(&Tx<'_>)) {
    let mut conn = lock_conn(conn);
    let tx = conn.transaction().unwrap();
    f(&Tx {
        conn: &tx,
        recv_ms: now,
        dedup: None,
    });
    tx.commit().unwrap();
}

#[test]
fn a_group_flushes_once_per_change_and_resolved_alerts_leave_it() {
    let (_dir, writer, outbox) = open_outbox();
    let conn = &writer;
    in_tx(conn, 1_000, |tx| {
        tx.notify_journal(&fire("a1", "g")).unwrap();
        tx.notify_journal(&fire("a2", "g")).unwrap();
    });
    let seen = std::cell::RefCell::new(Vec::new());
    let mut decide = |g: &Group| {
        seen.borrow_mut().push(g.members.clone());
        Flush {
            send: Some(NewNotification {
                id: format!("n{}", seen.borrow().len()),
                status: "firing".into(),
                alerts: g.members.len() as i64,
                body: "{}".into(),
            }),
            next_ms: 100_000,
        }
    };
    assert_eq!(outbox.flush_due(1_000, 10, &mut decide).unwrap(), 1);
    assert_eq!(
        outbox.flush_due(2_000, 10, &mut decide).unwrap(),
        0,
        "not due"
    );
    // A repeat of a firing alert schedules nothing; a resolve schedules after the interval.
    in_tx(conn, 1_500, |tx| {
        tx.notify_journal(&fire("a1", "g").replace('}', ",\"n\":2}"))
            .unwrap();
    });
    assert_eq!(outbox.next_flush_ms().unwrap(), Some(100_000));
    in_tx(conn, 1_500, |tx| {
        tx.notify_journal(&change("a1", "resolved")).unwrap()
    });
    assert_eq!(outbox.next_flush_ms().unwrap(), Some(2_000));
    assert_eq!(outbox.flush_due(2_000, 10, &mut decide).unwrap(), 1);
    let last = seen.borrow().last().unwrap().clone();
    assert_eq!(last.len(), 2);
    assert!(!last[0].firing && last[0].notified);
    assert_eq!(outbox.due("hook", 2_000, 10).unwrap().len(), 2);
    let first = outbox.due("hook", 2_000, 10).unwrap()[0].id.clone();
    let rest = outbox
        .due_except("hook", 2_000, 10, |id| id == first)
        .unwrap();
    assert_eq!(rest.len(), 1);
    assert_ne!(rest[0].id, first);
    assert_eq!(rest[0], outbox.due("hook", 2_000, 10).unwrap()[1]);
    in_tx(conn, 3_000, |tx| {
        tx.notify_journal(&change("a2", "silenced")).unwrap()
    });
    assert_eq!(outbox.flush_due(4_000, 10, &mut decide).unwrap(), 1);
    assert_eq!(
        outbox.next_flush_ms().unwrap(),
        None,
        "the empty group is gone"
    );
}

fn dead(id: &str, at_ms: i64) -> Attempt {
    Attempt {
        id: id.into(),
        attempts: 1,
        at_ms,
        result: AttemptResult::Dead,
        error: Some("HTTP 400".into()),
    }
}

/// What the tests' flushes decide for any group: send notification `n` (one alert), next
/// flush at 10.
fn send_n(_: &Group) -> Flush {
    Flush {
        send: Some(NewNotification {
            id: "n".into(),
            status: "firing".into(),
            alerts: 1,
            body: "{}".into(),
        }),
        next_ms: 10,
    }
}

#[test]
fn dead_notifications_are_kept_until_retried_or_deleted() {
    let (_dir, writer, outbox) = open_outbox();
    let conn = &writer;
    in_tx(conn, 0, |tx| tx.notify_journal(&fire("a", "g")).unwrap());
    outbox.flush_due(0, 10, send_n).unwrap();
    outbox.record(&[dead("n", 5)]).unwrap();
    let listed = outbox.list(Some("dead"), Some("hook"), 10).unwrap();
    assert_eq!(listed[0].last_error.as_deref(), Some("HTTP 400"));
    assert!(outbox.requeue("n", 6).unwrap());
    assert_eq!(outbox.due("hook", 6, 10).unwrap()[0].attempts, 0);
    outbox.record(&[dead("n", 7)]).unwrap();
    assert!(outbox.delete_dead("n").unwrap());
    assert!(outbox.get("n").unwrap().is_none());
    assert_eq!(
        outbox
            .forget_receivers_except(&["other".to_string()], 8)
            .unwrap(),
        0
    );
    assert_eq!(outbox.next_flush_ms().unwrap(), None);
}

#[test]
fn a_group_the_flush_leaves_alone_stays_due_for_the_next_one() {
    let (_dir, writer, outbox) = open_outbox();
    in_tx(&writer, 0, |tx| tx.notify_journal(&fire("a", "g")).unwrap());
    assert!(outbox.flush_due_some(0, 10, |_| None).unwrap().is_empty());
    assert_eq!(outbox.next_flush_ms().unwrap(), Some(0), "still due");
    assert!(!outbox.due_groups(0, 10).unwrap()[0].members[0].notified);
    let queued = outbox.flush_due_queued(0, 10, send_n).unwrap();
    assert_eq!(queued.len(), 1);
    assert_eq!(outbox.next_flush_ms().unwrap(), Some(10));
}

/// Notification ids come from the flush, so a flush can decide an id the outbox already
/// holds (the same notification): it is neither stored nor queued twice, and the flush
/// goes on.
#[test]
fn a_notification_already_in_the_outbox_is_not_queued_twice() {
    let (_dir, writer, outbox) = open_outbox();
    in_tx(&writer, 0, |tx| tx.notify_journal(&fire("a", "g")).unwrap());
    assert_eq!(outbox.flush_due_queued(0, 10, send_n).unwrap().len(), 1);
    in_tx(&writer, 5, |tx| tx.notify_journal(&fire("b", "g")).unwrap());
    assert!(outbox.flush_due_queued(10, 10, send_n).unwrap().is_empty());
    assert_eq!(outbox.list(None, None, 10).unwrap().len(), 1);
    assert!(outbox.due_groups(10, 10).unwrap()[0].members[1].notified);
}

#[test]
fn reading_due_groups_never_compiles_the_statements_again() {
    let (_dir, writer, outbox) = open_outbox();
    in_tx(&writer, 0, |tx| tx.notify_journal(&fire("a", "g")).unwrap());
    // Flushed, the group is in the tables: each read below loads it from there again.
    outbox.flush_due(0, 10, send_n).unwrap();
    for now in [10, 15, 20] {
        outbox.forget_held();
        assert_eq!(outbox.due_groups(now, 10).unwrap().len(), 1);
    }
    let conn = outbox.flush.lock().unwrap();
    for sql in [flush::DUE_GROUPS, pending::MEMBERS] {
        let cached = conn.prepare_cached(sql).unwrap();
        assert_eq!(
            cached.get_status(rusqlite::StatementStatus::RePrepare),
            0,
            "recompiled on every use: {sql}"
        );
    }
}

/// The writer's `data_version` changes when another connection committed, and that is when
/// SQLite empties its page cache.
fn data_version(writer: &SharedConn) -> i64 {
    lock_conn(writer)
        .query_row("PRAGMA data_version", [], |r| r.get(0))
        .unwrap()
}

#[test]
fn the_outbox_writes_leave_the_writer_cache_and_durability_alone() {
    let (_dir, writer, outbox) = open_outbox();
    in_tx(&writer, 0, |tx| tx.notify_journal(&fire("a", "g")).unwrap());
    let before = data_version(&writer);
    let queued = outbox.flush_due_queued(0, 10, send_n).unwrap();
    assert_eq!(queued.len(), 1);
    outbox.record(&[dead("n", 5)]).unwrap();
    assert!(outbox.requeue("n", 6).unwrap());
    assert_eq!(outbox.commits(), 3);
    assert_eq!(
        data_version(&writer),
        before,
        "no other connection committed: the writer keeps its page cache"
    );
    let sync: i64 = lock_conn(&writer)
        .query_row("PRAGMA synchronous", [], |r| r.get(0))
        .unwrap();
    assert_eq!(sync, 2, "the writer's own commits stay FULL");
    // The notifier's own read connection sees what went through the writer's.
    assert_eq!(outbox.due("hook", 6, 10).unwrap()[0].id, "n");
}

/// The writer's commit only appends to the journal; the flush applies it to the groups, writes
/// them once and forgets what it applied.
#[test]
fn an_alert_change_is_journaled_by_the_writer_and_applied_by_the_flush() {
    let (_dir, writer, outbox) = open_outbox();
    in_tx(&writer, 0, |tx| {
        tx.notify_journal(&fire("a", "g")).unwrap();
        tx.notify_journal(&fire("b", "h")).unwrap();
    });
    assert_eq!(count(&writer, "notify_journal"), 2);
    assert_eq!(
        count(&writer, "notify_groups"),
        0,
        "not in the writer's commit"
    );
    assert_eq!(count(&writer, "notify_members"), 0);
    assert_eq!(
        outbox.next_flush_ms().unwrap(),
        Some(0),
        "due, from the journal"
    );
    assert_eq!(outbox.due_groups(0, 10).unwrap().len(), 2);
    assert_eq!(count(&writer, "notify_groups"), 0, "a read writes nothing");
    let mut ids = 0;
    let queued = outbox
        .flush_due_queued(0, 10, |_| {
            ids += 1;
            Flush {
                send: Some(NewNotification {
                    id: format!("n{ids}"),
                    status: "firing".into(),
                    alerts: 1,
                    body: "{}".into(),
                }),
                next_ms: 10,
            }
        })
        .unwrap();
    assert_eq!(queued.len(), 2);
    assert_eq!(count(&writer, "notify_journal"), 0);
    assert_eq!(count(&writer, "notify_groups"), 2);
    let notified: i64 = lock_conn(&writer)
        .query_row("SELECT sum(notified) FROM notify_members", [], |r| r.get(0))
        .unwrap();
    assert_eq!(notified, 2, "written once, as the flush left them");
    assert_eq!(outbox.next_flush_ms().unwrap(), Some(10));
}

/// A change journaled in the writer's commit and the collector gone before any flush: the
/// journal is the durable record, so after a restart the notification is queued, once.
#[test]
fn a_journaled_change_is_notified_once_after_a_restart_before_the_flush() {
    let (dir, writer, outbox) = open_outbox();
    in_tx(&writer, 0, |tx| tx.notify_journal(&fire("a", "g")).unwrap());
    // Read (held in memory) but never flushed, then gone.
    assert_eq!(outbox.due_groups(0, 10).unwrap().len(), 1);
    drop(outbox);
    drop(writer);
    let path = dir.path().join(crate::DB_FILE);
    let writer: SharedConn = Arc::new(Mutex::new(crate::open(&path).unwrap()));
    let outbox = Outbox::open(&path, writer.clone(), Arc::default()).unwrap();
    assert_eq!(
        outbox.next_flush_ms().unwrap(),
        None,
        "no routes yet: it waits"
    );
    outbox.route_with(router());
    assert_eq!(outbox.flush_due_queued(0, 10, send_n).unwrap().len(), 1);
    assert!(outbox.flush_due_queued(5, 10, send_n).unwrap().is_empty());
    assert_eq!(outbox.list(None, None, 10).unwrap().len(), 1);
}

/// A store of the release before the journal opens with its groups and pending notifications.
#[test]
fn an_older_stores_groups_and_pending_notifications_are_kept() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(crate::DB_FILE);
    {
        let conn = crate::open(&path).unwrap();
        conn.execute_batch(&format!(
            "DROP TABLE notify_journal;
             ALTER TABLE events DROP COLUMN envelope;
             INSERT INTO notify_groups (receiver, group_key, labels, interval_ms, repeat_ms,
                 created_ms, flush_ms, sent_ms) VALUES ('hook', 'g', '{{}}', 1000, 60000, 0, 0, NULL);
             INSERT INTO notify_members (receiver, group_key, alert_id, firing, alert, notified)
                 VALUES ('hook', 'g', 'a', 1, '{{}}', 0);
             INSERT INTO notify_outbox (id, receiver, group_key, status, alerts, body, state,
                 attempts, created_ms, next_ms, updated_ms)
                 VALUES ('old', 'hook', 'g', 'firing', 1, '{{}}', 'pending', 0, 0, 0, 0);
             PRAGMA user_version = {};",
            // The journal came four migrations before the last (then the id-first index, the
            // key log and the envelope column).
            crate::SCHEMA_VERSION - 4
        ))
        .unwrap();
    }
    let writer: SharedConn = Arc::new(Mutex::new(crate::open(&path).unwrap()));
    let outbox = Outbox::open(&path, writer.clone(), Arc::default()).unwrap();
    outbox.route_with(router());
    assert_eq!(outbox.due("hook", 0, 10).unwrap()[0].id, "old");
    in_tx(&writer, 5, |tx| tx.notify_journal(&fire("b", "g")).unwrap());
    let seen = std::cell::RefCell::new(Vec::new());
    outbox
        .flush_due(5, 10, |g| {
            seen.borrow_mut().push(g.members.len());
            send_n(g)
        })
        .unwrap();
    assert_eq!(*seen.borrow(), [2], "the old member and the journaled one");
    assert_eq!(outbox.list(Some("pending"), None, 10).unwrap().len(), 2);
}

/// Groups in their first wait are held in memory, not written; past a bound a flush writes them
/// out even though none is due, and forgets the journal behind them.
#[test]
fn many_waiting_groups_are_written_out_before_any_is_due() {
    let (_dir, writer, outbox) = open_outbox();
    in_tx(&writer, 0, |tx| {
        for i in 0..1_100 {
            let alert = serde_json::json!({"id": format!("a{i}"), "state": "firing",
                                           "groups": [format!("g{i}")], "wait": 60_000});
            tx.notify_journal(&alert.to_string()).unwrap();
        }
    });
    assert_eq!(outbox.next_flush_ms().unwrap(), Some(60_000));
    assert!(outbox.backlog());
    assert!(outbox.flush_due_queued(1, 10, send_n).unwrap().is_empty());
    assert_eq!(count(&writer, "notify_groups"), 1_100);
    assert_eq!(count(&writer, "notify_journal"), 0);
    assert!(!outbox.backlog());
    assert_eq!(outbox.next_flush_ms().unwrap(), Some(60_000));
    assert_eq!(outbox.flush_due(60_000, 2_000, send_n).unwrap(), 1);
    assert_eq!(count(&writer, "notify_members"), 1_100, "all notified");
}

/// Every text the notification tables hold, one string per row.
fn notify_texts(writer: &SharedConn) -> Vec<String> {
    let conn = lock_conn(writer);
    let mut out = Vec::new();
    for sql in [
        "SELECT alert FROM notify_journal",
        "SELECT receiver || ' ' || group_key || ' ' || labels FROM notify_groups",
        "SELECT group_key || ' ' || alert_id || ' ' || alert FROM notify_members",
        "SELECT group_key || ' ' || body || ' ' || coalesce(last_error, '') FROM notify_outbox",
    ] {
        let mut stmt = conn.prepare(sql).unwrap();
        let rows = stmt.query_map([], |r| r.get::<_, String>(0)).unwrap();
        out.extend(rows.map(Result::unwrap));
    }
    out
}

/// A firing alert about `session`, grouped by it as `group_by = ["session"]` does.
fn fire_session(id: &str, session: &str, n: i64) -> String {
    serde_json::json!({"id": id, "state": "firing", "sessionId": session, "n": n,
        "groups": [format!("{{}}:{{session=\"{session}\"}}")],
        "labels": {"session": session}})
    .to_string()
}

/// A notification whose body copies its group's alerts, as the webhook payload does.
fn copy_members(g: &Group) -> Flush {
    let alerts: Vec<serde_json::Value> = g
        .members
        .iter()
        .map(|m| serde_json::from_str(&m.alert).unwrap())
        .collect();
    Flush {
        send: Some(NewNotification {
            id: format!("n-{}-{}", g.group_key, g.flush_ms),
            status: "firing".into(),
            alerts: alerts.len() as i64,
            body: serde_json::json!({"groupKey": g.group_key, "alerts": alerts}).to_string(),
        }),
        next_ms: g.flush_ms + 60_000,
    }
}

fn erase_session(writer: &SharedConn, session: &str, at: i64) {
    let erasure = crate::Erasure {
        kind: crate::SubjectKind::Session,
        values: vec![session.to_string()],
        who: "test".into(),
        subject_hash: "h".into(),
    };
    in_tx(writer, at, |tx| {
        crate::erase::run(tx.conn, &erasure, at).unwrap();
    });
}

#[test]
fn an_erasure_scrubs_the_notification_tables_and_keeps_groups_together() {
    let (_dir, writer, outbox) = open_outbox();
    in_tx(&writer, 1_000, |tx| {
        tx.notify_journal(&fire_session("a1", "s-alice", 1))
            .unwrap();
        tx.notify_journal(&fire_session("a2", "s-alice", 1))
            .unwrap();
        tx.notify_journal(&fire_session("b1", "s-bob", 1)).unwrap();
    });
    assert_eq!(outbox.flush_due(1_000, 10, copy_members).unwrap(), 2);
    outbox
        .record(&[Attempt {
            id: outbox.list(None, None, 10).unwrap()[0].id.clone(),
            attempts: 1,
            at_ms: 1_100,
            result: AttemptResult::Retry { next_ms: 5_000 },
            error: Some("the receiver said: unknown session s-alice".into()),
        }])
        .unwrap();
    // A change journaled, and held in memory by the notifier, but not flushed yet.
    in_tx(&writer, 2_000, |tx| {
        tx.notify_journal(&fire_session("a3", "s-alice", 1))
            .unwrap();
    });
    assert_eq!(outbox.next_flush_ms().unwrap(), Some(2_000));
    assert!(notify_texts(&writer).iter().any(|t| t.contains("s-alice")));

    erase_session(&writer, "s-alice", 2_500);
    let texts = notify_texts(&writer);
    assert!(
        texts.iter().all(|t| !t.contains("s-alice")),
        "the session is still in the notification tables: {texts:#?}"
    );
    assert!(texts.iter().any(|t| t.contains("s-bob")), "others stay");
    {
        let conn = lock_conn(&writer);
        let orphans: i64 = conn
            .query_row(
                "SELECT count(*) FROM notify_members m WHERE NOT EXISTS (SELECT 1 FROM                  notify_groups g WHERE g.receiver = m.receiver AND g.group_key = m.group_key)",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(orphans, 0, "members stay with their group");
        let keys: Vec<String> = conn
            .prepare("SELECT group_key FROM notify_groups ORDER BY group_key")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(
            keys,
            [
                "{}:{session=\"[erased]\"}|erasure-1",
                "{}:{session=\"s-bob\"}"
            ]
        );
    }
    // What the notifier held from before the erasure is not written back: its next flush reads
    // the scrubbed tables again.
    assert_eq!(outbox.flush_due(2_600, 10, copy_members).unwrap(), 1);
    let texts = notify_texts(&writer);
    assert!(texts.iter().all(|t| !t.contains("s-alice")), "{texts:#?}");
    let sent = outbox.list(None, None, 10).unwrap();
    assert_eq!(sent.len(), 3);
    assert!(sent[0].body.contains("[erased]"), "{}", sent[0].body);
}

#[test]
fn a_flush_decided_before_an_erasure_writes_nothing() {
    let (_dir, writer, outbox) = open_outbox();
    in_tx(&writer, 1_000, |tx| {
        tx.notify_journal(&fire_session("a1", "s-alice", 1))
            .unwrap();
    });
    // The erasure commits between the flush's reads and its transaction.
    let queued = outbox
        .flush_due_some(1_000, 10, |g| {
            erase_session(&writer, "s-alice", 1_000);
            Some(copy_members(g))
        })
        .unwrap();
    assert!(queued.is_empty());
    let texts = notify_texts(&writer);
    assert!(texts.iter().all(|t| !t.contains("s-alice")), "{texts:#?}");
    // The next flush works from the scrubbed journal.
    let queued = outbox.flush_due_queued(1_000, 10, copy_members).unwrap();
    assert_eq!(queued.len(), 1);
    assert!(queued[0].body.contains("[erased]"), "{}", queued[0].body);
    assert!(notify_texts(&writer).iter().all(|t| !t.contains("s-alice")));
}
