//! Cluster mode's bookmark in the replicated log: the stream sequence of the last message this
//! store applied, and the receive time it gave it. It is written inside the transaction of that
//! message's rows (so a crash never leaves the rows without the bookmark or the other way round)
//! and read at start to resume after it. Beside it, the lease holder the log last announced:
//! the fence that keeps a former holder's late time-driven messages out, the same on every node.

use crate::query::Reader;
use crate::writer::Tx;
use crate::StoreError;
use rusqlite::{params, OptionalExtension};

/// Where this store stands in the replicated log.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClusterPosition {
    /// Stream sequence of the last message applied (0: none yet).
    pub stream_seq: u64,
    /// Receive time stamped on it, epoch ms (later messages never get an earlier one).
    pub recv_ms: i64,
}

impl Tx<'_> {
    /// The position as this transaction sees it (what the message being applied follows).
    pub fn cluster_position(&self) -> Result<ClusterPosition, StoreError> {
        Ok(read(self.conn())?)
    }

    /// Records that the message `position.stream_seq` is applied by this transaction.
    pub fn set_cluster_position(&self, position: ClusterPosition) -> Result<(), StoreError> {
        self.conn()
            .prepare_cached(
                "INSERT INTO cluster_position (id, stream_seq, recv_ms) VALUES (1, ?1, ?2)
                 ON CONFLICT (id) DO UPDATE SET stream_seq = excluded.stream_seq,
                                                recv_ms = excluded.recv_ms",
            )?
            .execute(params![position.stream_seq as i64, position.recv_ms])?;
        Ok(())
    }

    /// The lease holder the log last announced (`None`: none yet).
    pub fn lease_holder(&self) -> Result<Option<String>, StoreError> {
        Ok(self
            .conn()
            .prepare_cached("SELECT holder FROM cluster_lease WHERE id = 1")?
            .query_row([], |r| r.get(0))
            .optional()?)
    }

    /// Records that the message `stream_seq` announced `holder` as the lease holder.
    pub fn set_lease_holder(&self, holder: &str, stream_seq: u64) -> Result<(), StoreError> {
        self.conn()
            .prepare_cached(
                "INSERT INTO cluster_lease (id, holder, stream_seq) VALUES (1, ?1, ?2)
                 ON CONFLICT (id) DO UPDATE SET holder = excluded.holder,
                                                stream_seq = excluded.stream_seq",
            )?
            .execute(params![holder, stream_seq as i64])?;
        Ok(())
    }
}

impl Reader {
    /// The last message of the replicated log this store applied (zero when none).
    pub fn cluster_position(&self) -> Result<ClusterPosition, StoreError> {
        self.with(read)
    }
}

fn read(conn: &rusqlite::Connection) -> rusqlite::Result<ClusterPosition> {
    conn.prepare_cached("SELECT stream_seq, recv_ms FROM cluster_position WHERE id = 1")?
        .query_row([], |r| {
            Ok(ClusterPosition {
                stream_seq: r.get::<_, i64>(0)?.max(0) as u64,
                recv_ms: r.get(1)?,
            })
        })
        .optional()
        .map(Option::unwrap_or_default)
}
