//! The group and member state as the journal makes it, in the notifier's memory between two
//! flushes. The tables hold the state as of the last flush; the journal (`journal.rs`) holds
//! the alert changes since. The flusher reads new journal entries (outside the writer's turn),
//! loads the groups they touch and applies them here, with the rules the writer once ran in
//! SQL; its flush transaction then writes each changed group and member once, together with
//! what the flush decided, and forgets the journal entries it applied. The notifier is the only
//! writer of the group tables, so nothing here goes stale between its read and its write.

use super::journal::{self, Change, GroupSpec, Router};
use super::{Flush, Group, Member};
use rusqlite::{params, Connection, OptionalExtension};
use std::collections::{HashMap, HashSet};

/// A group: receiver and group key.
pub(crate) type Key = (String, String);

/// A member as held here.
#[derive(Debug, Clone)]
struct Slot {
    member: Member,
    /// Its row exists in `notify_members`.
    stored: bool,
    /// Changed since it was read.
    dirty: bool,
}

/// A group as held here.
#[derive(Debug, Clone)]
pub(crate) struct State {
    labels: String,
    interval_ms: i64,
    repeat_ms: i64,
    created_ms: i64,
    flush_ms: Option<i64>,
    sent_ms: Option<i64>,
    /// Oldest first, as the table's `rowid` orders them.
    members: Vec<Slot>,
    /// Stored members that left the group.
    removed: Vec<String>,
    /// Its row exists in `notify_groups`.
    stored: bool,
    /// Its row changed since it was read.
    dirty: bool,
    /// Flushed with nothing left firing: its rows go.
    gone: bool,
}

/// Makes a group due after a change: now for a group that has notified more than its interval
/// ago, else when that interval is over; a group still in its first wait keeps its time.
fn schedule(s: &mut State, now: i64) {
    let next = match s.sent_ms {
        None => s.flush_ms.unwrap_or(now),
        Some(sent) => s
            .flush_ms
            .unwrap_or(i64::MAX)
            .min(now.max(sent + s.interval_ms)),
    };
    if s.flush_ms != Some(next) {
        s.flush_ms = Some(next);
        s.dirty = true;
    }
}

/// The journal applied to the groups it touched, since the last flush.
#[derive(Default)]
pub(crate) struct Pending {
    /// The last journal entry applied here (0: none).
    pub(crate) upto: i64,
    /// Journal entries applied here (routed somewhere or not).
    entries: usize,
    groups: HashMap<Key, State>,
    /// Which groups here hold each alert.
    by_alert: HashMap<String, HashSet<Key>>,
    /// The last erasure committed when this state was first read (`erase.rs`): after a later
    /// one it may hold what that erasure scrubbed, and is read again.
    pub(crate) erasures: Option<i64>,
}

const GROUP: &str = "SELECT labels, interval_ms, repeat_ms, created_ms, flush_ms, sent_ms
     FROM notify_groups WHERE receiver = ?1 AND group_key = ?2";

/// `+?N`: see `DUE_GROUPS` in `flush.rs`.
pub(crate) const MEMBERS: &str = "SELECT alert_id, firing, alert, notified FROM notify_members
     WHERE receiver = +?1 AND group_key = +?2 ORDER BY rowid";

impl Pending {
    /// How much is held: groups, and journal entries applied (the flusher writes them out,
    /// and forgets the entries, past a bound).
    pub(crate) fn size(&self) -> (usize, usize) {
        (self.groups.len(), self.entries)
    }

    /// Loads a group from the tables unless held already; whether it exists.
    fn load(&mut self, c: &Connection, key: &Key) -> rusqlite::Result<bool> {
        if self.groups.contains_key(key) {
            return Ok(true);
        }
        let row = c
            .prepare_cached(GROUP)?
            .query_row(params![key.0, key.1], |r| {
                Ok(State {
                    labels: r.get(0)?,
                    interval_ms: r.get(1)?,
                    repeat_ms: r.get(2)?,
                    created_ms: r.get(3)?,
                    flush_ms: r.get(4)?,
                    sent_ms: r.get(5)?,
                    members: Vec::new(),
                    removed: Vec::new(),
                    stored: true,
                    dirty: false,
                    gone: false,
                })
            })
            .optional()?;
        let Some(mut state) = row else {
            return Ok(false);
        };
        state.members = c
            .prepare_cached(MEMBERS)?
            .query_map(params![key.0, key.1], |r| {
                Ok(Slot {
                    member: Member {
                        alert_id: r.get(0)?,
                        firing: r.get(1)?,
                        alert: r.get(2)?,
                        notified: r.get(3)?,
                    },
                    stored: true,
                    dirty: false,
                })
            })?
            .collect::<rusqlite::Result<_>>()?;
        for m in &state.members {
            self.index(&m.member.alert_id, key);
        }
        self.groups.insert(key.clone(), state);
        Ok(true)
    }

    fn index(&mut self, alert_id: &str, key: &Key) {
        self.by_alert
            .entry(alert_id.to_string())
            .or_default()
            .insert(key.clone());
    }

    /// Applies the journal's entries after [`Pending::upto`] (read on `c`, in the caller's
    /// read transaction).
    pub(crate) fn refresh(&mut self, c: &Connection, router: &Router) -> rusqlite::Result<()> {
        for e in journal::read_after(c, self.upto)? {
            self.upto = e.id;
            self.entries += 1;
            let Some((alert_id, change)) = router(&e.alert) else {
                continue;
            };
            match change {
                Change::Firing(specs) => {
                    for g in &specs {
                        self.firing(c, g, &alert_id, &e.alert, e.recv_ms)?;
                    }
                }
                Change::Resolved => self.leaving(c, &alert_id, Some(&e.alert), e.recv_ms)?,
                Change::Withdrawn => self.leaving(c, &alert_id, None, e.recv_ms)?,
            }
        }
        Ok(())
    }

    /// A firing alert joins its group (or updates its copy there). The group is scheduled only
    /// when the alert is new to it or fires again, not for every repeat of a firing one.
    fn firing(
        &mut self,
        c: &Connection,
        g: &GroupSpec,
        alert_id: &str,
        alert: &str,
        now: i64,
    ) -> rusqlite::Result<()> {
        let key = (g.receiver.clone(), g.group_key.clone());
        if !self.load(c, &key)? {
            self.groups.insert(
                key.clone(),
                State {
                    labels: g.labels.clone(),
                    interval_ms: g.interval_ms,
                    repeat_ms: g.repeat_ms,
                    created_ms: now,
                    flush_ms: Some(now + g.wait_ms.max(0)),
                    sent_ms: None,
                    members: Vec::new(),
                    removed: Vec::new(),
                    stored: false,
                    dirty: true,
                    gone: false,
                },
            );
        }
        self.index(alert_id, &key);
        let Some(s) = self.groups.get_mut(&key) else {
            return Ok(());
        };
        let was_firing = match s.members.iter_mut().find(|m| m.member.alert_id == alert_id) {
            Some(m) => {
                let was = m.member.firing;
                m.member.notified = was && m.member.notified;
                m.member.firing = true;
                m.member.alert = alert.to_string();
                m.dirty = true;
                was
            }
            None => {
                s.members.push(Slot {
                    member: Member {
                        alert_id: alert_id.to_string(),
                        firing: true,
                        alert: alert.to_string(),
                        notified: false,
                    },
                    stored: false,
                    dirty: true,
                });
                false
            }
        };
        if was_firing {
            // A repeat of a firing alert schedules nothing.
            return Ok(());
        }
        // As the writer's upsert did: the schedule reads the timers the group had, then they
        // take the route's current ones.
        schedule(s, now);
        if (s.interval_ms, s.repeat_ms) != (g.interval_ms, g.repeat_ms) {
            s.interval_ms = g.interval_ms;
            s.repeat_ms = g.repeat_ms;
            s.dirty = true;
        }
        Ok(())
    }

    /// The alert was resolved (`alert`: its JSON now) or withdrawn (`None`): every group
    /// holding it is scheduled, and it is marked resolved there or leaves.
    fn leaving(
        &mut self,
        c: &Connection,
        alert_id: &str,
        alert: Option<&str>,
        now: i64,
    ) -> rusqlite::Result<()> {
        let stored: Vec<Key> = c
            .prepare_cached("SELECT receiver, group_key FROM notify_members WHERE alert_id = ?1")?
            .query_map([alert_id], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?;
        for key in &stored {
            self.load(c, key)?;
        }
        let keys = match alert {
            Some(_) => self.by_alert.get(alert_id).cloned().unwrap_or_default(),
            None => self.by_alert.remove(alert_id).unwrap_or_default(),
        };
        for key in keys {
            let Some(s) = self.groups.get_mut(&key) else {
                continue;
            };
            schedule(s, now);
            let Some(at) = s.members.iter().position(|m| m.member.alert_id == alert_id) else {
                continue;
            };
            match alert {
                Some(body) => {
                    let m = &mut s.members[at];
                    m.member.firing = false;
                    m.member.alert = body.to_string();
                    m.dirty = true;
                }
                None => {
                    let m = s.members.remove(at);
                    if m.stored && !s.removed.contains(&m.member.alert_id) {
                        s.removed.push(m.member.alert_id);
                    }
                }
            }
        }
        Ok(())
    }

    /// The held groups due at `now`, as [`Group`]s.
    pub(crate) fn due(&self, now: i64) -> Vec<Group> {
        self.groups
            .iter()
            .filter(|(_, s)| !s.gone && s.flush_ms.is_some_and(|t| t <= now))
            .map(|(k, s)| group(k, s))
            .collect()
    }

    /// The earliest flush time of a held group.
    pub(crate) fn next_flush_ms(&self) -> Option<i64> {
        self.groups
            .values()
            .filter(|s| !s.gone)
            .filter_map(|s| s.flush_ms)
            .min()
    }

    /// Whether the group is held here (the tables' copy is then out of date).
    pub(crate) fn holds(&self, key: &Key) -> bool {
        self.groups.contains_key(key)
    }

    /// Loads a due group the tables hold, to flush it.
    pub(crate) fn load_group(
        &mut self,
        c: &Connection,
        key: &Key,
    ) -> rusqlite::Result<Option<Group>> {
        self.load(c, key)?;
        Ok(self.groups.get(key).map(|s| group(key, s)))
    }

    /// What a flush decided for a group: the notification's alerts are marked notified,
    /// resolved alerts leave, and a group with nothing firing goes.
    pub(crate) fn flushed(&mut self, key: &Key, flush: &Flush, now: i64) {
        let Some(s) = self.groups.get_mut(key) else {
            return;
        };
        let firing = s.members.iter().any(|m| m.member.firing);
        if flush.send.is_some() {
            for m in s.members.iter_mut().filter(|m| m.member.firing) {
                if !m.member.notified {
                    m.member.notified = true;
                    m.dirty = true;
                }
            }
        }
        let mut kept = Vec::with_capacity(s.members.len());
        for m in std::mem::take(&mut s.members) {
            if m.member.firing {
                kept.push(m);
            } else if m.stored {
                s.removed.push(m.member.alert_id);
            }
        }
        s.members = kept;
        if firing {
            s.flush_ms = Some(flush.next_ms);
            if flush.send.is_some() {
                s.sent_ms = Some(now);
            }
            s.dirty = true;
        } else {
            s.gone = true;
        }
    }

    /// Writes every held group that changed, in the caller's transaction.
    pub(crate) fn write(&self, c: &Connection) -> rusqlite::Result<()> {
        for ((receiver, group_key), s) in &self.groups {
            if s.gone {
                if s.stored {
                    c.prepare_cached(
                        "DELETE FROM notify_members WHERE receiver = ?1 AND group_key = ?2",
                    )?
                    .execute(params![receiver, group_key])?;
                    c.prepare_cached(
                        "DELETE FROM notify_groups WHERE receiver = ?1 AND group_key = ?2",
                    )?
                    .execute(params![receiver, group_key])?;
                }
                continue;
            }
            for alert_id in &s.removed {
                c.prepare_cached(
                    "DELETE FROM notify_members
                     WHERE receiver = ?1 AND group_key = ?2 AND alert_id = ?3",
                )?
                .execute(params![receiver, group_key, alert_id])?;
            }
            for m in s.members.iter().filter(|m| m.dirty || !m.stored) {
                let sql = if m.stored {
                    "UPDATE notify_members SET firing = ?4, alert = ?5, notified = ?6
                     WHERE receiver = ?1 AND group_key = ?2 AND alert_id = ?3"
                } else {
                    "INSERT INTO notify_members
                         (receiver, group_key, alert_id, firing, alert, notified)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)"
                };
                let m = &m.member;
                c.prepare_cached(sql)?.execute(params![
                    receiver, group_key, m.alert_id, m.firing, m.alert, m.notified
                ])?;
            }
            if s.dirty || !s.stored {
                let sql = if s.stored {
                    "UPDATE notify_groups SET labels = ?3, interval_ms = ?4, repeat_ms = ?5,
                         created_ms = ?6, flush_ms = ?7, sent_ms = ?8
                     WHERE receiver = ?1 AND group_key = ?2"
                } else {
                    "INSERT INTO notify_groups (receiver, group_key, labels, interval_ms,
                         repeat_ms, created_ms, flush_ms, sent_ms)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"
                };
                c.prepare_cached(sql)?.execute(params![
                    receiver,
                    group_key,
                    s.labels,
                    s.interval_ms,
                    s.repeat_ms,
                    s.created_ms,
                    s.flush_ms,
                    s.sent_ms
                ])?;
            }
        }
        if self.upto > 0 {
            journal::forget_upto(c, self.upto)?;
        }
        Ok(())
    }
}

fn group((receiver, group_key): &Key, s: &State) -> Group {
    Group {
        receiver: receiver.clone(),
        group_key: group_key.clone(),
        labels: s.labels.clone(),
        repeat_ms: s.repeat_ms,
        sent_ms: s.sent_ms,
        flush_ms: s.flush_ms.unwrap_or(0),
        members: s.members.iter().map(|m| m.member.clone()).collect(),
    }
}
