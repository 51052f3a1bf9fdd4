//! The writer's side of the outbox: inside the writer's transaction, an alert change enters,
//! updates or leaves its groups and schedules their flush, so it is durable with the change.

use crate::writer::Tx;
use crate::StoreError;
use rusqlite::{params, OptionalExtension};

/// The group an alert joins: one per receiver and group key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupSpec<'a> {
    /// The receiver's name.
    pub receiver: &'a str,
    /// The group's key (route and group label values).
    pub group_key: &'a str,
    /// The group labels, as JSON.
    pub labels: &'a str,
    /// A new group first flushes this long after its first alert.
    pub wait_ms: i64,
    /// A change to a group that already notified waits at least this long after that.
    pub interval_ms: i64,
    /// Alerts still firing are notified again after this long.
    pub repeat_ms: i64,
}

/// Makes every group holding `alert_id` (or the one group named) due: now for a group that has
/// notified more than `interval_ms` ago, else when that interval is over; a group still in its
/// first wait keeps its time.
const SCHEDULE: &str = "flush_ms = CASE WHEN sent_ms IS NULL THEN coalesce(flush_ms, ?1)
     ELSE min(coalesce(flush_ms, 9223372036854775807), max(?1, sent_ms + interval_ms)) END";

impl Tx<'_> {
    /// A firing alert joins its group (or updates its copy there). A group is scheduled only
    /// when the alert is new to it or fires again, not for every repeat of a firing one.
    pub fn notify_firing(
        &self,
        g: &GroupSpec<'_>,
        alert_id: &str,
        alert: &str,
    ) -> Result<(), StoreError> {
        let conn = self.conn;
        let was_firing: Option<bool> = conn
            .prepare_cached(
                "SELECT firing FROM notify_members
                 WHERE receiver = ?1 AND group_key = ?2 AND alert_id = ?3",
            )?
            .query_row(params![g.receiver, g.group_key, alert_id], |r| r.get(0))
            .optional()?;
        conn.prepare_cached(
            "INSERT INTO notify_members (receiver, group_key, alert_id, firing, alert, notified)
             VALUES (?1, ?2, ?3, 1, ?4, 0)
             ON CONFLICT (receiver, group_key, alert_id) DO UPDATE SET
                 firing = 1, alert = excluded.alert,
                 notified = CASE WHEN firing = 1 THEN notified ELSE 0 END",
        )?
        .execute(params![g.receiver, g.group_key, alert_id, alert])?;
        if was_firing == Some(true) {
            return Ok(());
        }
        let now = self.recv_ms();
        conn.prepare_cached(&format!(
            "INSERT INTO notify_groups (receiver, group_key, labels, interval_ms, repeat_ms,
                 created_ms, flush_ms, sent_ms)
             VALUES (?2, ?3, ?4, ?5, ?6, ?1, ?1 + ?7, NULL)
             ON CONFLICT (receiver, group_key) DO UPDATE SET
                 interval_ms = excluded.interval_ms, repeat_ms = excluded.repeat_ms, {SCHEDULE}"
        ))?
        .execute(params![
            now,
            g.receiver,
            g.group_key,
            g.labels,
            g.interval_ms,
            g.repeat_ms,
            g.wait_ms.max(0)
        ])?;
        Ok(())
    }

    /// The alert was resolved: every group holding it is told at its next flush.
    pub fn notify_resolved(&self, alert_id: &str, alert: &str) -> Result<(), StoreError> {
        self.schedule_groups_of(alert_id)?;
        self.conn
            .prepare_cached("UPDATE notify_members SET firing = 0, alert = ?2 WHERE alert_id = ?1")?
            .execute(params![alert_id, alert])?;
        Ok(())
    }

    /// The alert left its groups without resolving (silenced): nothing is sent about it.
    pub fn notify_withdrawn(&self, alert_id: &str) -> Result<(), StoreError> {
        self.schedule_groups_of(alert_id)?;
        self.conn
            .prepare_cached("DELETE FROM notify_members WHERE alert_id = ?1")?
            .execute([alert_id])?;
        Ok(())
    }

    fn schedule_groups_of(&self, alert_id: &str) -> Result<(), StoreError> {
        self.conn
            .prepare_cached(&format!(
                "UPDATE notify_groups SET {SCHEDULE} WHERE (receiver, group_key) IN
                     (SELECT receiver, group_key FROM notify_members WHERE alert_id = ?2)"
            ))?
            .execute(params![self.recv_ms(), alert_id])?;
        Ok(())
    }
}
