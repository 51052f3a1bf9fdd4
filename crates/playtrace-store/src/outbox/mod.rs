//! The notification outbox (SPEC §4): alerts waiting in their route's group, each group's timers,
//! and the notifications to send, sent or dead. An alert change is journaled inside the
//! writer's transaction ([`crate::Tx::notify_journal`]), so it is durable with the change
//! itself; the collector's notifier routes it and applies it to its groups in its batched
//! flush, and works from these tables through its own connections ([`Outbox`]), never on the
//! writer's thread. Nothing here knows HTTP or payload formats.
//!
//! - `journal.rs`: the writer's append, and the journal's reads;
//! - `pending.rs`: the journal applied to the groups it touched, between two flushes;
//! - `flush.rs`: due groups, and the flush's transaction;
//! - `admin.rs`: what operators do (lists, retries, pruning);
//! - `erase.rs`: an erasure's share (the copies of alerts these tables keep).

mod admin;
pub(crate) mod erase;
mod flush;
mod journal;
mod pending;

use crate::schema;
use crate::writer::{lock_conn, take_turn, SharedConn, WriteTurn};
use crate::StoreError;
use rusqlite::{params, Connection, OptionalExtension, Row};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

pub use journal::{Change, GroupSpec, Router};

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
    /// The journal applied since the last flush (the flusher's alone).
    pending: Mutex<pending::Pending>,
    /// Reads journaled alerts ([`Outbox::route_with`]); the journal waits until it is set.
    router: std::sync::OnceLock<Router>,
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
            pending: Mutex::new(pending::Pending::default()),
            router: std::sync::OnceLock::new(),
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
    /// must not be lost (an alert change, in the journal) is written in the writer's own
    /// transaction, and a flush lost with a power cut leaves the journal entries it applied,
    /// so it is redone.
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

#[cfg(test)]
mod tests;
