//! What the store records: one row type for everything on the stream's single sequence
//! (telemetry events, alert changes, budget changes) and the rejected lines beside it.

/// Inline text of up to 24 bytes (the envelope fields of a stored event).
pub use compact_str::CompactString;

/// What a row is on the stream (stored as the `kind` column).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Kind {
    /// A telemetry event a game sent.
    #[default]
    Event,
    /// An alert change (fired, updated, resolved, silenced); the body is the alert's JSON.
    Alert,
    /// A budget status change; the body is the status JSON.
    Budget,
}

impl Kind {
    /// The value in the `kind` column (0 for events, so rows written before the column existed
    /// read as events).
    pub fn code(self) -> i64 {
        match self {
            Kind::Event => 0,
            Kind::Alert => 1,
            Kind::Budget => 2,
        }
    }

    /// The kind of a stored code; unknown codes (a newer release's) read as events.
    pub fn from_code(code: i64) -> Kind {
        match code {
            1 => Kind::Alert,
            2 => Kind::Budget,
            _ => Kind::Event,
        }
    }

    /// The SSE event name (`event`, `alert`, `budget`).
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Event => "event",
            Kind::Alert => "alert",
            Kind::Budget => "budget",
        }
    }
}

/// One row of the store's sequence, before and after it is committed: ingest fills the
/// envelope and leaves `seq`/`recv_ms` at 0; the writer stamps them at the commit (a duplicate
/// keeps `seq` 0), so the API, the stream and the commit hook all read the same record.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct StoredEvent {
    /// Sequence number (the stream id and the API's `after` cursor); 0 until stored.
    pub seq: i64,
    /// Receive time, epoch ms (stamped by the writer, never decreasing with `seq`).
    pub recv_ms: i64,
    /// What the row is.
    pub kind: Kind,
    /// Game (`""` when none, so `(game, id)` is unique either way).
    pub game: CompactString,
    /// Client event id, the idempotency key.
    pub id: Option<CompactString>,
    /// Event name (`alert.<category>` or `budget` for the other kinds).
    pub name: CompactString,
    /// Environment.
    pub env: Option<CompactString>,
    /// Session.
    pub session: Option<CompactString>,
    /// Event time, epoch ms.
    pub ts_ms: Option<f64>,
    /// The event's JSON object: the line as sent for single-event lines, the normalised
    /// envelope for events expanded from a document; for the other kinds the message's data.
    pub body: String,
    /// Keys of the players and sessions the event names ([`crate::subject_key`]): ingest fills
    /// them, the writer indexes them with the event so an erasure finds its rows without a
    /// scan. Empty when read back.
    pub subjects: Vec<i64>,
}

impl StoredEvent {
    /// The game, `None` when the event had none.
    pub fn game(&self) -> Option<&str> {
        (!self.game.is_empty()).then_some(self.game.as_str())
    }
}

/// One rejected line to store (nothing a game sent is lost).
#[derive(Debug, Clone, PartialEq)]
pub struct RejectRow {
    /// 1-based line (or array element) in the request.
    pub line: u32,
    /// `parse`, `schema`, `size` or `encoding`.
    pub kind: String,
    /// What was wrong.
    pub message: String,
    /// The raw text (bounded).
    pub raw: String,
}

/// One stored reject.
#[derive(Debug, Clone, PartialEq)]
pub struct RejectRecord {
    /// Sequence number (of the rejects' own sequence).
    pub seq: i64,
    /// Receive time, epoch ms.
    pub recv_ms: i64,
    /// The reject as received.
    pub row: RejectRow,
}
