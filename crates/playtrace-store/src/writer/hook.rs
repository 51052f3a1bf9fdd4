//! What the writer calls around each commit ([`CommitHook`]) and the transaction a hook may
//! write through ([`Tx`]): rows durable together with the events that caused them.

use super::CommitOutcome;
use crate::alerts::{self, AlertRow};
use crate::record::{Kind, StoredEvent};
use crate::silences::{self, SilenceRow};
use crate::StoreError;
use playtrace_core::alert::AlertState;
use rusqlite::{params, Connection};

/// The commit's transaction as the [`CommitHook`] sees it: it may append rows to the store's
/// one sequence (alert and budget changes, SPEC §5) and change alerts, durable together with the
/// events that caused them. SQLite stays behind this type.
pub struct Tx<'c> {
    pub(crate) conn: &'c Connection,
    pub(crate) recv_ms: i64,
    /// The writer's key table (`[store] dedup = "memory"`), for [`Tx::event_seq`].
    pub(crate) dedup: Option<&'c crate::dedup::Dedup>,
}

impl Tx<'_> {
    /// The commit's receive time, epoch ms.
    pub fn recv_ms(&self) -> i64 {
        self.recv_ms
    }

    /// The transaction's connection, for the store's other modules (erasure).
    pub(crate) fn conn(&self) -> &Connection {
        self.conn
    }

    /// Appends a row of `kind` to the sequence; returns it with its sequence number.
    pub fn append(
        &self,
        kind: Kind,
        name: &str,
        game: Option<&str>,
        env: Option<&str>,
        body: String,
    ) -> Result<StoredEvent, StoreError> {
        self.conn
            .prepare_cached(
                "INSERT INTO events (recv_ms, game, id, name, env, session, ts_ms, body, kind)
                 VALUES (?1, ?2, NULL, ?3, ?4, NULL, NULL, ?5, ?6)",
            )?
            .execute(params![
                self.recv_ms,
                game.unwrap_or(""),
                name,
                env,
                body,
                kind.code()
            ])?;
        Ok(StoredEvent {
            seq: self.conn.last_insert_rowid(),
            recv_ms: self.recv_ms,
            kind,
            game: game.unwrap_or("").into(),
            id: None,
            name: name.into(),
            env: env.map(Into::into),
            session: None,
            ts_ms: None,
            body,
            subjects: Vec::new(),
        })
    }

    /// The alert with this fingerprint.
    pub fn alert_by_fingerprint(&self, fingerprint: &str) -> Result<Option<AlertRow>, StoreError> {
        Ok(alerts::by_fingerprint(self.conn, fingerprint)?)
    }

    /// The alert with this id.
    pub fn alert_by_id(&self, id: &str) -> Result<Option<AlertRow>, StoreError> {
        Ok(alerts::by_id(self.conn, id)?)
    }

    /// Stores the alert (a new one, or a new state of the one with its fingerprint).
    pub fn put_alert(&self, alert: &AlertRow) -> Result<(), StoreError> {
        Ok(alerts::upsert(self.conn, alert)?)
    }

    /// Alerts in `state`.
    pub fn alerts_in_state(&self, state: AlertState) -> Result<Vec<AlertRow>, StoreError> {
        Ok(alerts::in_state(self.conn, state)?)
    }

    /// Alerts whose state changes by time alone (see [`crate::Reader::due_alerts`]).
    pub fn due_alerts(&self, quiet_before_ms: i64) -> Result<Vec<AlertRow>, StoreError> {
        Ok(alerts::due(self.conn, self.recv_ms, quiet_before_ms)?)
    }

    /// Silences in force now.
    pub fn active_silences(&self) -> Result<Vec<SilenceRow>, StoreError> {
        Ok(silences::active(self.conn, self.recv_ms)?)
    }

    /// The silence with this id.
    pub fn silence_by_id(&self, id: &str) -> Result<Option<SilenceRow>, StoreError> {
        Ok(silences::by_id(self.conn, id)?)
    }

    /// Marks each reject of `marks`, `(reject, event)`, replayed as that event (see
    /// `rejects.rs`; a reject already marked keeps its mark): in the transaction of those
    /// events, so a replay killed at any moment is either whole or not at all.
    pub fn mark_rejects_replayed(&self, marks: &[(i64, Option<i64>)]) -> Result<(), StoreError> {
        crate::rejects::mark_replayed_many(self.conn, marks, self.recv_ms)?;
        Ok(())
    }

    /// The sequence of the stored event `(game, id)`, if any.
    pub fn event_seq(&self, game: &str, id: &str) -> Result<Option<i64>, StoreError> {
        Ok(match self.dedup {
            Some(dedup) => dedup.find(self.conn, crate::dedup::key(game, id), game, id)?,
            None => crate::rejects::event_seq(self.conn, game, id)?,
        })
    }

    /// Stores a silence (new, or ended early).
    pub fn put_silence(&self, silence: &SilenceRow) -> Result<(), StoreError> {
        Ok(silences::put(self.conn, silence)?)
    }
}

/// What the writer calls around each commit, per job, in commit order.
pub trait CommitHook<T>: Send + 'static {
    /// Inside the transaction, after the job's rows were inserted (`events` carry their
    /// sequence numbers, 0 for duplicates): may write more rows through `tx`.
    fn in_transaction(
        &mut self,
        tx: &Tx<'_>,
        events: &[StoredEvent],
        extra: &T,
        outcome: &CommitOutcome,
    ) -> Result<(), StoreError>;

    /// After the commit is durable, before the job's completion. This runs on the writer's
    /// thread, which every ingest request waits for: hand work off, never block here.
    fn committed(&mut self, events: &[StoredEvent], extra: &T, outcome: &CommitOutcome);

    /// The transaction failed: forget what `in_transaction` prepared.
    fn rolled_back(&mut self) {}

    /// The receive time of this job's rows when it is not the commit's own clock (cluster mode:
    /// the replicated log's timestamp, so every node stamps the same time).
    fn recv_ms(&self, _extra: &T) -> Option<i64> {
        None
    }

    /// Whether the job is background work (a rejects replay's page) that yields to every other
    /// job waiting: such jobs are committed, in their own order, only in a commit no other job
    /// is waiting for, and a job that arrives during such a commit joins it after the
    /// background job being written, so a live request waits for at most one background job's
    /// rows and the commit's fsync.
    fn background(&self, _extra: &T) -> bool {
        false
    }
}

/// A hook from a closure run after each durable commit.
pub struct AfterCommit<F>(pub F);

impl<T, F> CommitHook<T> for AfterCommit<F>
where
    F: FnMut(&[StoredEvent], &T, &CommitOutcome) + Send + 'static,
{
    fn in_transaction(
        &mut self,
        _: &Tx<'_>,
        _: &[StoredEvent],
        _: &T,
        _: &CommitOutcome,
    ) -> Result<(), StoreError> {
        Ok(())
    }

    fn committed(&mut self, events: &[StoredEvent], extra: &T, outcome: &CommitOutcome) {
        (self.0)(events, extra, outcome);
    }
}
