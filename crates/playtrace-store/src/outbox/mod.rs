//! The notification outbox (SPEC §4): alerts waiting in their route's group, each group's timers,
//! and the notifications to send, sent or dead. An alert change reaches its groups inside the
//! writer's transaction ([`crate::Tx`]), so it is durable with the change itself; the
//! collector's notifier then works from these tables through its own connection ([`Outbox`]),
//! never on the writer's thread. Nothing here knows HTTP or payload formats.

mod admin;
mod groups;

use crate::schema;
use crate::writer::{lock_conn, take_turn, SharedConn, WriteTurn};
use crate::StoreError;
use rusqlite::{params, Connection, OptionalExtension, Row};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

pub use groups::GroupSpec;

/// An alert in a group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// The alert's id.
    pub alert_id: String,
    /// Firing (`false`: resolved since the group last flushed).
    pub firing: bool,
    /// The alert's JSON at its last change.
    pub alert: String,
    /// Whether a notification already carried it as firing.
    pub notified: bool,
}

/// A group due to flush, with its alerts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    /// The receiver's name.
    pub receiver: String,
    /// The group's key.
    pub group_key: String,
    /// The group labels, as JSON.
    pub labels: String,
    /// Repeat interval, ms.
    pub repeat_ms: i64,
    /// When it last notified, epoch ms.
    pub sent_ms: Option<i64>,
    /// When this flush was due, epoch ms: with the receiver, the group and its alerts, what
    /// identifies the flush, so one redone after a power loss gets the same id.
    pub flush_ms: i64,
    /// Its alerts, oldest first.
    pub members: Vec<Member>,
}

/// A notification the flush decided to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewNotification {
    /// Its id (also the `Idempotency-Key`).
    pub id: String,
    /// `firing` or `resolved`.
    pub status: String,
    /// Alerts it carries.
    pub alerts: i64,
    /// The request body.
    pub body: String,
}

/// What a flush of one group does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flush {
    /// The notification to queue, if any.
    pub send: Option<NewNotification>,
    /// When the group flushes again if alerts still fire (the repeat).
    pub next_ms: i64,
}

/// A notification in the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    /// Its id.
    pub id: String,
    /// The receiver's name.
    pub receiver: String,
    /// The group it is about.
    pub group_key: String,
    /// `firing` or `resolved`.
    pub status: String,
    /// Alerts it carries.
    pub alerts: i64,
    /// The request body.
    pub body: String,
    /// `pending`, `sent` or `dead`.
    pub state: String,
    /// Attempts made.
    pub attempts: i64,
    /// When it was queued, epoch ms.
    pub created_ms: i64,
    /// When it is next tried (pending), epoch ms.
    pub next_ms: i64,
    /// Last change, epoch ms.
    pub updated_ms: i64,
    /// What the last failed attempt said.
    pub last_error: Option<String>,
}

const COLUMNS: &str =
    "id, receiver, group_key, status, alerts, body, state, attempts, created_ms, \
     next_ms, updated_ms, last_error";

fn notification(r: &Row<'_>) -> rusqlite::Result<Notification> {
    Ok(Notification {
        id: r.get(0)?,
        receiver: r.get(1)?,
        group_key: r.get(2)?,
        status: r.get(3)?,
        alerts: r.get(4)?,
        body: r.get(5)?,
        state: r.get(6)?,
        attempts: r.get(7)?,
        created_ms: r.get(8)?,
        next_ms: r.get(9)?,
        updated_ms: r.get(10)?,
        last_error: r.get(11)?,
    })
}

/// What a delivery attempt came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttemptResult {
    /// Delivered.
    Sent,
    /// Failed; try again at `next_ms`.
    Retry {
        /// When, epoch ms.
        next_ms: i64,
    },
    /// Failed for good: to the dead-letter list.
    Dead,
}

/// One delivery attempt, to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    /// The notification's id.
    pub id: String,
    /// Attempts made, this one included.
    pub attempts: i64,
    /// When it ended, epoch ms.
    pub at_ms: i64,
    /// What it came to.
    pub result: AttemptResult,
    /// What went wrong, if it failed.
    pub error: Option<String>,
}

/// How many notifications one receiver has in one state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Depth {
    /// The receiver.
    pub receiver: String,
    /// `pending`, `sent` or `dead`.
    pub state: String,
    /// How many.
    pub count: u64,
}

/// The notifier's access to the outbox tables. It reads on two connections of its own (one for
/// the flushes, one for deliveries, so neither waits behind the other) and writes through the
/// writer's connection, in the writer's turn: SQLite empties a connection's page cache whenever
/// another connection has committed, so commits on a connection of its own made the writer read
/// and fault its pages in again after each one. Its transactions are short (one flush round, one
/// batch of send results).
pub struct Outbox {
    flush: Mutex<Connection>,
    send: Mutex<Connection>,
    writer: SharedConn,
    /// The writer connection's `synchronous` level, put back after each of the outbox's commits.
    writer_sync: i64,
    turn: Arc<WriteTurn>,
    /// Reads of a receiver's pending notifications ([`Outbox::reads`]).
    reads: AtomicU64,
    /// Write transactions ([`Outbox::commits`]).
    commits: AtomicU64,
}

fn connection(path: &Path) -> Result<Connection, StoreError> {
    let conn = schema::connect(path)?;
    schema::disable_auto_checkpoint(&conn)?;
    Ok(conn)
}

/// The writer's connection at `synchronous=NORMAL` for one of the outbox's writes; dropping it
/// puts the writer's level back, even after a panic: the writer's own commits must stay durable
/// on return.
struct Lowered<'c> {
    conn: MutexGuard<'c, Connection>,
    level: i64,
}

impl Drop for Lowered<'_> {
    fn drop(&mut self) {
        if let Err(e) = self.conn.pragma_update(None, "synchronous", self.level) {
            tracing::error!("cannot restore the writer's synchronous level: {e}");
        }
    }
}

impl Outbox {
    pub(crate) fn open(
        path: &Path,
        writer: SharedConn,
        turn: Arc<WriteTurn>,
    ) -> Result<Outbox, StoreError> {
        let writer_sync = lock_conn(&writer).query_row("PRAGMA synchronous", [], |r| r.get(0))?;
        Ok(Outbox {
            flush: Mutex::new(connection(path)?),
            send: Mutex::new(connection(path)?),
            writer,
            writer_sync,
            turn,
            reads: AtomicU64::new(0),
            commits: AtomicU64::new(0),
        })
    }

    /// How many times pending notifications were read for delivery since the outbox opened. A
    /// delivery loop keeps its receiver's due list in memory and reads only at start, after a
    /// retry request, a failed record, or when more wait than memory holds: this count stays
    /// far below the number of sends (`playtrace_notify_outbox_reads_total`).
    pub fn reads(&self) -> u64 {
        self.reads.load(Ordering::Relaxed)
    }

    /// How many write transactions the notifier ran since the outbox opened
    /// (`playtrace_notify_outbox_commits_total`). Each one holds up the store's writer for its
    /// turn, so the notifier batches them: a few per second under load, not one per alert or
    /// per send.
    pub fn commits(&self) -> u64 {
        self.commits.load(Ordering::Relaxed)
    }

    /// A write on the writer's connection, in the writer's turn (counted in
    /// [`Outbox::commits`]), at `synchronous=NORMAL`: everything the outbox writes can be
    /// redone (a lost flush flushes again, a lost "sent" sends again under the same
    /// Idempotency-Key), and the writer's next FULL commit makes these WAL frames durable. What
    /// must not be lost (an alert entering its groups) is written in the writer's own
    /// transaction.
    fn write<R>(
        &self,
        f: impl FnOnce(&mut Connection) -> rusqlite::Result<R>,
    ) -> Result<R, StoreError> {
        let _turn = take_turn(&self.turn);
        let mut conn = lock_conn(&self.writer);
        self.commits.fetch_add(1, Ordering::Relaxed);
        if self.writer_sync <= 1 {
            return Ok(f(&mut conn)?);
        }
        conn.pragma_update(None, "synchronous", 1)?;
        let mut lowered = Lowered {
            conn,
            level: self.writer_sync,
        };
        Ok(f(&mut lowered.conn)?)
    }

    fn with<R>(
        &self,
        f: impl FnOnce(&mut Connection) -> rusqlite::Result<R>,
    ) -> Result<R, StoreError> {
        let mut conn = self.send.lock().unwrap_or_else(|p| p.into_inner());
        Ok(f(&mut conn)?)
    }

    /// The earliest time a group is due to flush.
    pub fn next_flush_ms(&self) -> Result<Option<i64>, StoreError> {
        // A read: no turn needed.
        let conn = self.flush.lock().unwrap_or_else(|p| p.into_inner());
        let next = conn
            .prepare_cached("SELECT min(flush_ms) FROM notify_groups")?
            .query_row([], |r| r.get(0))?;
        Ok(next)
    }

    /// The groups [`Outbox::flush_due`] would flush at `now`, read without the writer's turn:
    /// the notifier shapes their payloads from this read, outside the turn, and the flush
    /// (inside it) reuses each decision whose group it finds unchanged.
    pub fn due_groups(&self, now: i64, limit: usize) -> Result<Vec<Group>, StoreError> {
        let mut conn = self.flush.lock().unwrap_or_else(|p| p.into_inner());
        let tx = conn.transaction()?;
        Ok(due_groups(&tx, now, limit)?)
    }

    /// Flushes up to `limit` groups due at `now`, in one transaction: `decide` says what each
    /// sends; the notification is queued, its firing alerts marked notified, resolved alerts
    /// leave the group, and a group with nothing firing is removed. Returns how many were queued.
    pub fn flush_due(
        &self,
        now: i64,
        limit: usize,
        decide: impl FnMut(&Group) -> Flush,
    ) -> Result<usize, StoreError> {
        Ok(self.flush_due_queued(now, limit, decide)?.len())
    }

    /// [`Outbox::flush_due`], returning the notifications it queued (committed), so the
    /// notifier hands them to their receivers' loops without reading them back.
    pub fn flush_due_queued(
        &self,
        now: i64,
        limit: usize,
        mut decide: impl FnMut(&Group) -> Flush,
    ) -> Result<Vec<Notification>, StoreError> {
        self.flush_due_some(now, limit, |g| Some(decide(g)))
    }

    /// [`Outbox::flush_due_queued`], where `decide` may leave a group as it is (`None`: it
    /// stays due, for the next flush): the notifier shapes payloads before taking the writer's
    /// turn, and a group that became due meanwhile waits for the next flush rather than being
    /// shaped while the writer waits.
    pub fn flush_due_some(
        &self,
        now: i64,
        limit: usize,
        mut decide: impl FnMut(&Group) -> Option<Flush>,
    ) -> Result<Vec<Notification>, StoreError> {
        self.write(|c| {
            let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let groups = due_groups(&tx, now, limit)?;
            let mut queued = Vec::new();
            for g in groups {
                let Some(flush) = decide(&g) else {
                    continue;
                };
                let key = params![g.receiver, g.group_key];
                // Statements that would change nothing (known from the members just read, in
                // this transaction) are skipped: this runs for every alert on every receiver.
                let firing = g.members.iter().any(|m| m.firing);
                let unnotified = g.members.iter().any(|m| m.firing && !m.notified);
                let resolved = g.members.iter().any(|m| !m.firing);
                if let Some(n) = &flush.send {
                    // Ids are derived from the flush (the notifier's `payload::flush_id`): one
                    // already here is this very notification, queued or sent before.
                    let added = tx
                        .prepare_cached(
                            "INSERT OR IGNORE INTO notify_outbox (id, receiver, group_key, status,
                                 alerts, body, state, attempts, created_ms, next_ms, updated_ms)
                             VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'pending', 0, ?7, ?7, ?7)",
                        )?
                        .execute(params![
                            n.id,
                            g.receiver,
                            g.group_key,
                            n.status,
                            n.alerts,
                            n.body,
                            now
                        ])?;
                    if unnotified {
                        tx.prepare_cached(
                            "UPDATE notify_members SET notified = 1
                             WHERE receiver = ?1 AND group_key = ?2 AND firing = 1",
                        )?
                        .execute(key)?;
                    }
                    if added == 1 {
                        queued.push(Notification {
                            id: n.id.clone(),
                            receiver: g.receiver.clone(),
                            group_key: g.group_key.clone(),
                            status: n.status.clone(),
                            alerts: n.alerts,
                            body: n.body.clone(),
                            state: "pending".to_string(),
                            attempts: 0,
                            created_ms: now,
                            next_ms: now,
                            updated_ms: now,
                            last_error: None,
                        });
                    }
                }
                if resolved {
                    tx.prepare_cached(
                        "DELETE FROM notify_members
                         WHERE receiver = ?1 AND group_key = ?2 AND firing = 0",
                    )?
                    .execute(key)?;
                }
                if firing {
                    // The time it notified (when it did) and its next flush, in one statement.
                    tx.prepare_cached(
                        "UPDATE notify_groups SET flush_ms = ?3, sent_ms = coalesce(?4, sent_ms)
                         WHERE receiver = ?1 AND group_key = ?2",
                    )?
                    .execute(params![
                        g.receiver,
                        g.group_key,
                        flush.next_ms,
                        flush.send.as_ref().map(|_| now)
                    ])?;
                } else {
                    tx.prepare_cached(
                        "DELETE FROM notify_groups WHERE receiver = ?1 AND group_key = ?2",
                    )?
                    .execute(key)?;
                }
            }
            tx.commit()?;
            Ok(queued)
        })
    }

    /// Pending notifications of `receiver` due at `now`, oldest first.
    pub fn due(
        &self,
        receiver: &str,
        now: i64,
        limit: usize,
    ) -> Result<Vec<Notification>, StoreError> {
        self.due_except(receiver, now, limit, |_| false)
    }

    /// Like [`Outbox::due`], but the notifications `skip` names (those already being sent) are
    /// never read: a delivery loop wakes on every finished send, and reading the bodies of
    /// every in-flight notification each time cost more CPU than sending them.
    pub fn due_except(
        &self,
        receiver: &str,
        now: i64,
        limit: usize,
        skip: impl Fn(&str) -> bool,
    ) -> Result<Vec<Notification>, StoreError> {
        self.reads.fetch_add(1, Ordering::Relaxed);
        self.with(|c| {
            let ids: Vec<String> = c
                .prepare_cached(
                    "SELECT id FROM notify_outbox
                     WHERE state = 'pending' AND receiver = ?1 AND next_ms <= ?2
                     ORDER BY next_ms, rowid LIMIT +?3", // `+`: see DUE_GROUPS
                )?
                .query_map(params![receiver, now, limit as i64], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?;
            let mut one = c.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM notify_outbox WHERE id = ?1 AND state = 'pending'"
            ))?;
            let mut out = Vec::new();
            for id in ids.iter().filter(|id| !skip(id)) {
                // Sent or dead since the first read: no longer due.
                if let Some(n) = one.query_row([id], notification).optional()? {
                    out.push(n);
                }
            }
            Ok(out)
        })
    }

    /// Up to `limit` of `receiver`'s pending notifications, due or not, soonest due first;
    /// those `skip` names (already in the caller's memory or being sent) are passed over
    /// without reading their bodies. With them, when more are left unread, the time the
    /// earliest of those is due (none of the rest is due sooner).
    pub fn pending(
        &self,
        receiver: &str,
        limit: usize,
        skip: impl Fn(&str) -> bool,
    ) -> Result<(Vec<Notification>, Option<i64>), StoreError> {
        self.reads.fetch_add(1, Ordering::Relaxed);
        self.with(|c| {
            let mut ids = c.prepare_cached(
                "SELECT id, next_ms FROM notify_outbox WHERE state = 'pending' AND receiver = ?1
                 ORDER BY next_ms, rowid",
            )?;
            let mut one = c.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM notify_outbox WHERE id = ?1"
            ))?;
            let mut rows = ids.query([receiver])?;
            let mut out = Vec::new();
            while let Some(row) = rows.next()? {
                let id: String = row.get(0)?;
                if skip(&id) {
                    continue;
                }
                if out.len() == limit {
                    return Ok((out, Some(row.get(1)?)));
                }
                if let Some(n) = one.query_row([&id], notification).optional()? {
                    out.push(n);
                }
            }
            Ok((out, None))
        })
    }

    /// When `receiver`'s next pending notification is due.
    pub fn next_due_ms(&self, receiver: &str) -> Result<Option<i64>, StoreError> {
        self.with(|c| {
            c.prepare_cached(
                "SELECT min(next_ms) FROM notify_outbox WHERE state = 'pending' AND receiver = ?1",
            )?
            .query_row([receiver], |r| r.get(0))
        })
    }

    /// Records what delivery attempts came to, in one transaction.
    pub fn record(&self, attempts: &[Attempt]) -> Result<(), StoreError> {
        if attempts.is_empty() {
            return Ok(());
        }
        self.write(|c| {
            let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            for a in attempts {
                match &a.result {
                    AttemptResult::Retry { next_ms } => tx
                        .prepare_cached(
                            "UPDATE notify_outbox SET attempts = ?2, next_ms = ?3,
                                 updated_ms = ?4, last_error = ?5
                             WHERE id = ?1 AND state = 'pending'",
                        )?
                        .execute(params![a.id, a.attempts, next_ms, a.at_ms, a.error])?,
                    result => tx
                        .prepare_cached(
                            "UPDATE notify_outbox SET state = ?2, attempts = ?3, updated_ms = ?4,
                                 last_error = coalesce(?5, last_error) WHERE id = ?1",
                        )?
                        .execute(params![
                            a.id,
                            if *result == AttemptResult::Sent {
                                "sent"
                            } else {
                                "dead"
                            },
                            a.attempts,
                            a.at_ms,
                            a.error
                        ])?,
                };
            }
            tx.commit()
        })
    }
}

/// The groups due at `?1`, at most `?2`. A `LIMIT ?N` is a value SQLite plans with: it marks
/// the statement for a recompile when that value is rebound, and `sqlite3_clear_bindings`, run
/// by rusqlite's statement cache at every return, expires a statement so marked, so it was
/// compiled again at every use (twice per flush). `+?N` is an expression it does not plan with.
const DUE_GROUPS: &str =
    "SELECT receiver, group_key, labels, repeat_ms, sent_ms, flush_ms FROM notify_groups
     WHERE flush_ms <= ?1 ORDER BY flush_ms LIMIT +?2";

/// A group's members, oldest first. `+?N` for the same reason as in [`DUE_GROUPS`]: SQLite
/// also marks an equality it may only filter on (as in a scan in `rowid` order) for a
/// recompile, and the statement cache's clearing of the bindings then expires it at every use.
const MEMBERS: &str = "SELECT alert_id, firing, alert, notified FROM notify_members
     WHERE receiver = +?1 AND group_key = +?2 ORDER BY rowid";

/// Up to `limit` groups due at `now`, soonest first, with their alerts.
fn due_groups(c: &Connection, now: i64, limit: usize) -> rusqlite::Result<Vec<Group>> {
    let mut groups: Vec<Group> = c
        .prepare_cached(DUE_GROUPS)?
        .query_map(params![now, limit as i64], |r| {
            Ok(Group {
                receiver: r.get(0)?,
                group_key: r.get(1)?,
                labels: r.get(2)?,
                repeat_ms: r.get(3)?,
                sent_ms: r.get(4)?,
                flush_ms: r.get(5)?,
                members: Vec::new(),
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    let mut stmt = c.prepare_cached(MEMBERS)?;
    for g in &mut groups {
        g.members = stmt
            .query_map(params![g.receiver, g.group_key], |r| {
                Ok(Member {
                    alert_id: r.get(0)?,
                    firing: r.get(1)?,
                    alert: r.get(2)?,
                    notified: r.get(3)?,
                })
            })?
            .collect::<rusqlite::Result<_>>()?;
    }
    Ok(groups)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::writer::Tx;

    fn spec<'a>(key: &'a str) -> GroupSpec<'a> {
        GroupSpec {
            receiver: "hook",
            group_key: key,
            labels: "{}",
            wait_ms: 0,
            interval_ms: 1_000,
            repeat_ms: 60_000,
        }
    }

    /// A fresh store's writer connection and the outbox writing through it.
    fn open_outbox() -> (tempfile::TempDir, SharedConn, Outbox) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(crate::DB_FILE);
        let writer: SharedConn = Arc::new(Mutex::new(crate::open(&path).unwrap()));
        let outbox = Outbox::open(&path, writer.clone(), Arc::default()).unwrap();
        (dir, writer, outbox)
    }

    /// A transaction of the writer's, as the commit hook runs it.
    fn in_tx(conn: &SharedConn, now: i64, f: impl FnOnce(&Tx<'_>)) {
        let mut conn = lock_conn(conn);
        let tx = conn.transaction().unwrap();
        f(&Tx {
            conn: &tx,
            recv_ms: now,
        });
        tx.commit().unwrap();
    }

    #[test]
    fn a_group_flushes_once_per_change_and_resolved_alerts_leave_it() {
        let (_dir, writer, outbox) = open_outbox();
        let conn = &writer;
        in_tx(conn, 1_000, |tx| {
            tx.notify_firing(&spec("g"), "a1", "{}").unwrap();
            tx.notify_firing(&spec("g"), "a2", "{}").unwrap();
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
            tx.notify_firing(&spec("g"), "a1", "{\"n\":2}").unwrap();
        });
        assert_eq!(outbox.next_flush_ms().unwrap(), Some(100_000));
        in_tx(conn, 1_500, |tx| tx.notify_resolved("a1", "{}").unwrap());
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
        in_tx(conn, 3_000, |tx| tx.notify_withdrawn("a2").unwrap());
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
        in_tx(conn, 0, |tx| {
            tx.notify_firing(&spec("g"), "a", "{}").unwrap()
        });
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
        in_tx(&writer, 0, |tx| {
            tx.notify_firing(&spec("g"), "a", "{}").unwrap()
        });
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
        in_tx(&writer, 0, |tx| {
            tx.notify_firing(&spec("g"), "a", "{}").unwrap()
        });
        assert_eq!(outbox.flush_due_queued(0, 10, send_n).unwrap().len(), 1);
        in_tx(&writer, 5, |tx| {
            tx.notify_firing(&spec("g"), "b", "{}").unwrap()
        });
        assert!(outbox.flush_due_queued(10, 10, send_n).unwrap().is_empty());
        assert_eq!(outbox.list(None, None, 10).unwrap().len(), 1);
        assert!(outbox.due_groups(10, 10).unwrap()[0].members[1].notified);
    }

    #[test]
    fn reading_due_groups_never_compiles_the_statements_again() {
        let (_dir, writer, outbox) = open_outbox();
        in_tx(&writer, 0, |tx| {
            tx.notify_firing(&spec("g"), "a", "{}").unwrap()
        });
        for now in [0, 5, 10] {
            assert_eq!(outbox.due_groups(now, 10).unwrap().len(), 1);
        }
        let conn = outbox.flush.lock().unwrap();
        for sql in [DUE_GROUPS, MEMBERS] {
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
        in_tx(&writer, 0, |tx| {
            tx.notify_firing(&spec("g"), "a", "{}").unwrap()
        });
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
}
