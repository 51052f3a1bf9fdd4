//! Due groups and the flush: the notifier reads the journal's new entries and the groups they
//! touch without the writer's turn (`pending.rs` applies them), decides what each due group
//! sends outside the turn too, and its flush transaction (in the turn) only writes: the
//! notifications, each changed group and member once, and the end of the journal it applied.

use super::pending::{Key, Pending};
use super::{Flush, Group, Notification, Outbox};
use crate::StoreError;
use rusqlite::params;
use std::sync::MutexGuard;

/// Groups held in memory past which a flush writes them out even when none is due (with long
/// group waits, many groups wait; the journal behind them is forgotten only then).
const MAX_HELD: usize = 1024;
/// The same for journal entries applied (alerts no route takes leave no group behind).
const MAX_ENTRIES: usize = 4096;

/// The groups the tables hold due at `?1`, at most `?2`. A `LIMIT ?N` is a value SQLite plans
/// with: it marks the statement for a recompile when that value is rebound, and
/// `sqlite3_clear_bindings`, run by rusqlite's statement cache at every return, expires a
/// statement so marked, so it was compiled again at every use. `+?N` is an expression it does
/// not plan with. (The members read in `pending.rs` uses `+?N` for the same reason: SQLite
/// also marks an equality it may only filter on, as in a scan in `rowid` order.)
pub(crate) const DUE_GROUPS: &str = "SELECT receiver, group_key FROM notify_groups
     WHERE flush_ms <= ?1 ORDER BY flush_ms LIMIT +?2";

/// What [`Outbox::refreshed`] read: the held state (locked), the due groups, the next flush.
struct Refreshed<'a> {
    held: MutexGuard<'a, Pending>,
    due: Vec<Group>,
    next: Option<i64>,
}

fn over(held: &Pending) -> bool {
    let (groups, entries) = held.size();
    groups > MAX_HELD || entries > MAX_ENTRIES
}

impl Outbox {
    /// Reads journaled alerts with `router` (the notifier's routes) from now on; until it is
    /// set, journaled changes wait in the journal.
    pub fn route_with(&self, router: super::Router) {
        let _ = self.router.set(router);
    }

    fn held(&self) -> MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Applies the journal's new entries and returns what is held then, with the groups due at
    /// `now` (at most `limit`, soonest first) when `limit > 0`; all read without the writer's
    /// turn, in one read transaction.
    fn refreshed(&self, now: i64, limit: usize) -> Result<Refreshed<'_>, StoreError> {
        let mut conn = self.flush.lock().unwrap_or_else(|p| p.into_inner());
        let tx = conn.transaction()?;
        let mut held = self.held();
        // Read before an erasure committed: it may hold what the erasure scrubbed.
        let erasures = super::erase::erasures_seen(&tx)?;
        if held.erasures.is_some_and(|seen| seen != erasures) {
            *held = Pending::default();
        }
        held.erasures = Some(erasures);
        if let Some(router) = self.router.get() {
            if let Err(e) = held.refresh(&tx, router) {
                // Half applied: start again from the tables next time.
                *held = Pending::default();
                return Err(e.into());
            }
        }
        let stored: Option<i64> = tx
            .prepare_cached("SELECT min(flush_ms) FROM notify_groups")?
            .query_row([], |r| r.get(0))?;
        let next = match (stored, held.next_flush_ms()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let mut due = Vec::new();
        if limit > 0 && next.is_some_and(|t| t <= now) {
            due = held.due(now);
            let keys: Vec<Key> = tx
                .prepare_cached(DUE_GROUPS)?
                .query_map(params![now, limit as i64], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<rusqlite::Result<_>>()?;
            for key in &keys {
                if held.holds(key) {
                    continue;
                }
                if let Some(g) = held.load_group(&tx, key)? {
                    due.push(g);
                }
            }
            due.sort_by(|a, b| {
                (a.flush_ms, &a.receiver, &a.group_key).cmp(&(
                    b.flush_ms,
                    &b.receiver,
                    &b.group_key,
                ))
            });
            due.truncate(limit);
        }
        Ok(Refreshed { held, due, next })
    }

    /// The earliest time a group is due to flush (journaled changes included).
    pub fn next_flush_ms(&self) -> Result<Option<i64>, StoreError> {
        Ok(self.refreshed(0, 0)?.next)
    }

    /// Whether so many groups wait in memory that the next flush should write them out even
    /// when none is due.
    pub fn backlog(&self) -> bool {
        over(&self.held())
    }

    /// The groups [`Outbox::flush_due`] would flush at `now` (journaled changes applied), read
    /// without the writer's turn; [`Outbox::flush_due_some`] makes the same read itself.
    pub fn due_groups(&self, now: i64, limit: usize) -> Result<Vec<Group>, StoreError> {
        Ok(self.refreshed(now, limit)?.due)
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
    /// stays due, for the next flush). `decide` runs before the writer's turn is taken: only
    /// this flusher writes the group tables, so what it read is still what they hold. The
    /// transaction also writes the journal's changes to groups that are not due (once, not
    /// per alert) and forgets the entries applied; without a decision it is skipped unless
    /// [`Outbox::backlog`].
    pub fn flush_due_some(
        &self,
        now: i64,
        limit: usize,
        mut decide: impl FnMut(&Group) -> Option<Flush>,
    ) -> Result<Vec<Notification>, StoreError> {
        let Refreshed { mut held, due, .. } = self.refreshed(now, limit)?;
        let decided: Vec<(Group, Flush)> = due
            .into_iter()
            .filter_map(|g| decide(&g).map(|f| (g, f)))
            .collect();
        if decided.is_empty() && !over(&held) {
            return Ok(Vec::new());
        }
        for (g, flush) in &decided {
            held.flushed(&(g.receiver.clone(), g.group_key.clone()), flush, now);
        }
        let written = self.write(|c| {
            let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            // An erasure committed after the reads this flush decided from: writing them would
            // put back what it scrubbed. Nothing is written; the next flush reads again.
            if Some(super::erase::erasures_seen(&tx)?) != held.erasures {
                return Ok(Vec::new());
            }
            let mut queued = Vec::new();
            for (g, flush) in &decided {
                let Some(n) = &flush.send else {
                    continue;
                };
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
            held.write(&tx)?;
            tx.commit()?;
            Ok(queued)
        });
        // Written (the tables are current, the journal applied is gone) or rolled back (the
        // tables and the journal are as before): either way, start from them again.
        *held = Pending::default();
        written
    }

    /// Forgets what is held (after another write to the group tables, or an erasure: the
    /// next flush reads the journal and the groups again from the tables).
    pub fn forget_held(&self) {
        *self.held() = Pending::default();
    }
}
