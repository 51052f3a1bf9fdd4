//! What operators do with the outbox through the API and the CLI: list and read notifications,
//! retry or delete dead ones, queue depths for `/metrics`, pruning, and receivers removed from
//! the configuration.

use super::{notification, Depth, Notification, Outbox, COLUMNS};
use crate::StoreError;
use rusqlite::{params, OptionalExtension};

impl Outbox {
    /// Notifications, newest first, optionally of one state and receiver.
    pub fn list(
        &self,
        state: Option<&str>,
        receiver: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Notification>, StoreError> {
        self.with(|c| {
            let mut stmt = c.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM notify_outbox
                 WHERE (?1 IS NULL OR state = ?1) AND (?2 IS NULL OR receiver = ?2)
                 ORDER BY created_ms DESC, id DESC LIMIT +?3" // `+`: see DUE_GROUPS
            ))?;
            let rows = stmt.query_map(params![state, receiver, limit as i64], notification)?;
            rows.collect()
        })
    }

    /// One notification.
    pub fn get(&self, id: &str) -> Result<Option<Notification>, StoreError> {
        self.with(|c| {
            c.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM notify_outbox WHERE id = ?1"
            ))?
            .query_row([id], notification)
            .optional()
        })
    }

    /// Makes a dead or pending notification due now with its attempts reset; `false` when there
    /// is no such notification or it was sent already.
    pub fn requeue(&self, id: &str, now: i64) -> Result<bool, StoreError> {
        self.write(|c| {
            let n = c
                .prepare_cached(
                    "UPDATE notify_outbox SET state = 'pending', attempts = 0, next_ms = ?2,
                         updated_ms = ?2 WHERE id = ?1 AND state IN ('pending', 'dead')",
                )?
                .execute(params![id, now])?;
            Ok(n == 1)
        })
    }

    /// Deletes a dead notification; `false` when there is no dead one with this id.
    pub fn delete_dead(&self, id: &str) -> Result<bool, StoreError> {
        self.write(|c| {
            let n = c
                .prepare_cached("DELETE FROM notify_outbox WHERE id = ?1 AND state = 'dead'")?
                .execute([id])?;
            Ok(n == 1)
        })
    }

    /// Notifications per receiver and state (the queue-depth gauges).
    pub fn depths(&self) -> Result<Vec<Depth>, StoreError> {
        self.with(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT receiver, state, count(*) FROM notify_outbox GROUP BY receiver, state
                 ORDER BY receiver, state",
            )?;
            let rows = stmt.query_map([], |r| {
                Ok(Depth {
                    receiver: r.get(0)?,
                    state: r.get(1)?,
                    count: r.get::<_, i64>(2)?.max(0) as u64,
                })
            })?;
            rows.collect()
        })
    }

    /// Forgets sent notifications older than `before_ms` (dead ones stay until deleted).
    pub fn prune_sent(&self, before_ms: i64) -> Result<usize, StoreError> {
        self.write(|c| {
            c.execute(
                "DELETE FROM notify_outbox WHERE state = 'sent' AND updated_ms < ?1",
                [before_ms],
            )
        })
    }

    /// Drops the groups of receivers no longer configured, and moves their pending
    /// notifications to the dead list (so nothing disappears silently). Returns how many died.
    pub fn forget_receivers_except(&self, known: &[String], now: i64) -> Result<usize, StoreError> {
        // A JSON array for `json_each`; a list of strings always serialises.
        let known = serde_json::to_string(known).unwrap_or_else(|_| "[]".into());
        let dead = self.write(|c| {
            let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let not_known = "receiver NOT IN (SELECT value FROM json_each(?1))";
            tx.execute(
                &format!("DELETE FROM notify_members WHERE {not_known}"),
                [&known],
            )?;
            tx.execute(
                &format!("DELETE FROM notify_groups WHERE {not_known}"),
                [&known],
            )?;
            let dead = tx.execute(
                &format!(
                    "UPDATE notify_outbox SET state = 'dead', updated_ms = ?2,
                         last_error = 'the receiver is no longer configured'
                     WHERE state = 'pending' AND {not_known}"
                ),
                params![known, now],
            )?;
            tx.commit()?;
            Ok(dead)
        });
        self.forget_held();
        dead
    }
}
