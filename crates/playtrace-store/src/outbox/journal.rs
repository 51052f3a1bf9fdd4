//! The writer's side of the outbox: inside the writer's transaction, each alert change is
//! appended to `notify_journal`, one row per change, so it is durable with the change itself.
//! Nothing else happens on the writer's thread: the notifier routes the change to its groups
//! and applies it to the group tables later, in its own batched flush (`pending.rs`,
//! `flush.rs`). An append lands on the journal's last page, which the next alerts share;
//! applying each change to its groups in the writer's commit dirtied about 8 pages of 16 KiB
//! per alert (each receiver's group and member rows and their indexes on pages of their own),
//! written again by the flush that followed.

use crate::writer::Tx;
use crate::StoreError;
use rusqlite::{params, Connection};
use std::sync::Arc;

/// The group an alert joins: one per receiver and group key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupSpec {
    /// The receiver's name.
    pub receiver: String,
    /// The group's key (route and group label values).
    pub group_key: String,
    /// The group labels, as JSON.
    pub labels: String,
    /// A new group first flushes this long after its first alert.
    pub wait_ms: i64,
    /// A change to a group that already notified waits at least this long after that.
    pub interval_ms: i64,
    /// Alerts still firing are notified again after this long.
    pub repeat_ms: i64,
}

/// What an alert change does to its groups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// It fires: it joins these groups (or updates its copy there).
    Firing(Vec<GroupSpec>),
    /// It was resolved: every group holding it is told at its next flush.
    Resolved,
    /// It left its groups without resolving (silenced): nothing is sent about it.
    Withdrawn,
}

/// Reads a journaled alert (its JSON, as the writer appended it): its id and what it does to
/// its groups, or `None` when it notifies nobody (a probe or seeded alert, a state that
/// notifies nothing). The notifier's routes; it runs on the notifier's thread, never on the
/// writer's.
pub type Router = Arc<dyn Fn(&str) -> Option<(String, Change)> + Send + Sync>;

/// One journaled alert change.
pub(crate) struct Entry {
    pub(crate) id: i64,
    pub(crate) recv_ms: i64,
    pub(crate) alert: String,
}

impl Tx<'_> {
    /// Journals an alert change (the alert's JSON after it): the notifier routes and applies
    /// it later, from its own thread; durable with this transaction.
    pub fn notify_journal(&self, alert: &str) -> Result<(), StoreError> {
        self.conn
            .prepare_cached("INSERT INTO notify_journal (recv_ms, alert) VALUES (?1, ?2)")?
            .execute(params![self.recv_ms(), alert])?;
        Ok(())
    }
}

/// The journal's entries after `after`, oldest first.
pub(crate) fn read_after(c: &Connection, after: i64) -> rusqlite::Result<Vec<Entry>> {
    c.prepare_cached("SELECT id, recv_ms, alert FROM notify_journal WHERE id > ?1 ORDER BY id")?
        .query_map([after], |r| {
            Ok(Entry {
                id: r.get(0)?,
                recv_ms: r.get(1)?,
                alert: r.get(2)?,
            })
        })?
        .collect()
}

/// Forgets the entries up to `upto`, applied to the group tables in the same transaction.
pub(crate) fn forget_upto(c: &Connection, upto: i64) -> rusqlite::Result<usize> {
    c.prepare_cached("DELETE FROM notify_journal WHERE id <= ?1")?
        .execute([upto])
}
