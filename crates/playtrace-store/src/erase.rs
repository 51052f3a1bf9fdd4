//! Erasure of a player's or a session's data (docs/PRIVACY.md): the rows the subject index
//! points at are checked, then deleted (events) or scrubbed (alert and budget rows on the
//! stream, the alerts table), rejects naming the subject go too, and the erasure is logged
//! without its data. Every connection runs with `secure_delete`, and [`truncate_wal`] copies
//! the zeroed pages into the database and empties the WAL, so the bytes are gone from both
//! files, not merely unlinked.
//!
//! The index (`subjects.rs`) holds 64-bit keys ([`subject_key`]) in one batch per commit: the
//! writer appends a commit's keys with its rows, retention prunes them with the rows, an erasure
//! reads the batches' Bloom filters, then the postings of those that may hold the subject,
//! instead of the events. (Stores written before the batches may still hold rows in the older
//! per-key table `subjects`; an erasure looks there too.)

use crate::lock::{DirLock, LockError, LOCK_FILE};
use crate::query::Reader;
use crate::schema::{self, DB_FILE};
use crate::scrub::scrub;
use crate::subjects;
use crate::writer::Tx;
use crate::{now_ms, StoreError};
use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

/// What an erasure is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SubjectKind {
    /// A player, named by one of `[privacy] player_attrs`.
    Player,
    /// A session: the envelope's `session` or a `sessionId` attr.
    Session,
}

impl SubjectKind {
    /// `player` or `session`.
    pub fn as_str(self) -> &'static str {
        match self {
            SubjectKind::Player => "player",
            SubjectKind::Session => "session",
        }
    }
}

/// The index key of a subject's value as it is stored (raw, or hashed by a redaction rule).
/// Keys may collide (64 bits); an erasure checks each row before touching it.
pub fn subject_key(kind: SubjectKind, value: &str) -> i64 {
    let seed = match kind {
        SubjectKind::Player => 0x706c_6179_6572,
        SubjectKind::Session => 0x0073_6573_7369_6f6e,
    };
    xxhash_rust::xxh3::xxh3_64_with_seed(value.as_bytes(), seed) as i64
}

/// One erasure to run.
#[derive(Debug, Clone)]
pub struct Erasure {
    /// Player or session.
    pub kind: SubjectKind,
    /// Every form the subject's id may be stored in: as sent and, when a rule hashes it, its
    /// hash. Never stored by the erasure.
    pub values: Vec<String>,
    /// Who asked (a token's name, `cli`): recorded in the log.
    pub who: String,
    /// A one-way hash of the subject for the log (keyed when a hash secret is configured).
    pub subject_hash: String,
}

/// What an erasure removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Erased {
    /// Events deleted.
    pub events: u64,
    /// Rejected lines deleted.
    pub rejects: u64,
    /// Alerts whose data was scrubbed.
    pub alerts: u64,
    /// Alert and budget rows of the stream whose data was scrubbed.
    pub stream_rows: u64,
}

/// One entry of the erasure log (`GET /v1/erasures`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ErasureRecord {
    /// Its number.
    pub id: i64,
    /// When, epoch ms.
    pub at_ms: i64,
    /// Who asked.
    pub who: String,
    /// `player` or `session`.
    pub subject: String,
    /// The subject's hash (never its id).
    pub subject_hash: String,
    /// What was removed.
    pub removed: Erased,
}

impl Erasure {
    /// What the subject is looked for with in free text (rejects, alerts, export artifacts):
    /// each value as a JSON string, and bare when it is long enough not to match unrelated text.
    pub fn needles(&self) -> Vec<String> {
        needles(&self.values)
    }
}

fn needles(values: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    for v in values.iter().filter(|v| !v.is_empty()) {
        out.push(Value::String(v.clone()).to_string());
        if v.len() >= 4 {
            out.push(v.clone());
        }
    }
    out
}

/// Whether a stored row names the subject (guards against key collisions).
fn names(kind: SubjectKind, values: &[String], session: Option<&str>, body: &str) -> bool {
    if kind == SubjectKind::Session && session.is_some_and(|s| values.iter().any(|v| v == s)) {
        return true;
    }
    // An id written with escapes (`"al\u0069ce"`) is indexed by what it reads as: the body is
    // compared in the spelling serde_json writes.
    let body = canonical_escapes(body);
    values.iter().filter(|v| !v.is_empty()).any(|v| {
        body.contains(&Value::String(v.clone()).to_string())
            || (v.bytes().all(|b| b.is_ascii_digit()) && body.contains(v.as_str()))
    })
}

/// `text` with every `\uXXXX` escape (a surrogate pair as one) of a character serde_json writes
/// as itself, and every `\/`, replaced by that character; other escapes stay as they are. JSON
/// text then names a value the way [`needles`] spell it whatever escapes the client used; text
/// that is not JSON (a reject's) is read the same way, escape by escape.
fn canonical_escapes(text: &str) -> std::borrow::Cow<'_, str> {
    let bytes = text.as_bytes();
    let Some(first) = text.find('\\') else {
        return std::borrow::Cow::Borrowed(text);
    };
    let unit = |at: usize| -> Option<u32> {
        let hex = text.get(at..at + 6)?.strip_prefix("\\u")?;
        u32::from_str_radix(hex, 16)
            .ok()
            .filter(|_| hex.bytes().all(|b| b.is_ascii_hexdigit()))
    };
    let mut out = String::with_capacity(text.len());
    out.push_str(&text[..first]);
    let mut i = first;
    while i < bytes.len() {
        let Some(next) = text[i..].find('\\').map(|n| i + n) else {
            out.push_str(&text[i..]);
            break;
        };
        out.push_str(&text[i..next]);
        i = next;
        let decoded = match (unit(i), unit(i + 6)) {
            (Some(hi @ 0xD800..=0xDBFF), Some(lo @ 0xDC00..=0xDFFF)) => {
                char::from_u32(0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)).map(|c| (c, 12))
            }
            (Some(u), _) => char::from_u32(u).map(|c| (c, 6)),
            (None, _) => None,
        };
        match decoded {
            Some((c, len)) if !matches!(c, '"' | '\\') && u32::from(c) >= 0x20 => {
                out.push(c);
                i += len;
            }
            _ if bytes.get(i + 1) == Some(&b'/') => {
                out.push('/');
                i += 2;
            }
            // Any other escape is copied whole, so `\\u0069` stays a backslash and text.
            _ => {
                let len = text[i + 1..].chars().next().map_or(1, |c| 1 + c.len_utf8());
                out.push_str(&text[i..i + len]);
                i += len;
            }
        }
    }
    std::borrow::Cow::Owned(out)
}

/// Runs `erasure` on `conn`, inside the caller's transaction.
pub(crate) fn run(conn: &Connection, erasure: &Erasure, at_ms: i64) -> rusqlite::Result<Erased> {
    let values = &erasure.values;
    let keys: BTreeSet<i64> = values
        .iter()
        .map(|v| subject_key(erasure.kind, v))
        .collect();
    let mut seqs = BTreeSet::new();
    {
        // The per-key table of older stores (empty in a store indexed in batches).
        let mut by_key = conn.prepare_cached("SELECT seq FROM subjects WHERE key = ?1")?;
        for key in &keys {
            for seq in by_key.query_map([key], |r| r.get::<_, i64>(0))? {
                seqs.insert(seq?);
            }
        }
    }
    let batches = subjects::candidates(conn, &keys)?;
    for batch in &batches {
        seqs.extend(
            batch
                .postings
                .iter()
                .filter(|p| keys.contains(&p.0))
                .map(|p| p.1),
        );
    }
    // Rows whose every index entry goes (deleted or scrubbed), and rows retention removed since
    // (only the subject's entries of those are known to be stale).
    let mut cleared = BTreeSet::new();
    let mut stale = BTreeSet::new();
    let mut erased = Erased::default();
    let mut row = conn.prepare_cached(&format!(
        "SELECT {} FROM events WHERE seq = ?1",
        crate::query::EVENT_COLUMNS
    ))?;
    let mut delete = conn.prepare_cached("DELETE FROM events WHERE seq = ?1")?;
    let mut remember =
        conn.prepare_cached("INSERT OR IGNORE INTO erased_seqs (seq) VALUES (?1)")?;
    let mut rewrite =
        conn.prepare_cached("UPDATE events SET body = ?2, envelope = NULL WHERE seq = ?1")?;
    let mut unindex = conn.prepare_cached("DELETE FROM subjects WHERE seq = ?1")?;
    let mut unindex_key =
        conn.prepare_cached("DELETE FROM subjects WHERE seq = ?1 AND key = ?2")?;
    for seq in seqs {
        let found = row.query_row([seq], crate::query::event_row).optional()?;
        match found {
            // Removed since (retention): its index rows are stale.
            None => {
                for key in &keys {
                    unindex_key.execute(params![seq, key])?;
                }
                stale.insert(seq);
            }
            Some(e) if names(erasure.kind, values, e.session.as_deref(), &e.body) => {
                if e.kind == crate::Kind::Event {
                    delete.execute([seq])?;
                    remember.execute([seq])?;
                    erased.events += 1;
                } else {
                    // An alert or budget change keeps its place on the stream, without the data.
                    rewrite.execute(params![seq, scrub(&e.body, values)])?;
                    erased.stream_rows += 1;
                }
                unindex.execute([seq])?;
                cleared.insert(seq);
            }
            // Another subject whose key collides.
            Some(_) => {}
        }
    }
    subjects::remove(conn, batches, |&(key, seq)| {
        cleared.contains(&seq) || (stale.contains(&seq) && keys.contains(&key))
    })?;
    let needles = needles(values);
    {
        let mut rejects = conn.prepare_cached("DELETE FROM rejects WHERE instr(raw, ?1) > 0")?;
        for n in &needles {
            erased.rejects += rejects.execute([n])? as u64;
        }
        // Those that name it with escapes (`al\u0069ce`).
        let mut escaped =
            conn.prepare_cached("SELECT seq, raw FROM rejects WHERE instr(raw, '\\') > 0")?;
        let found: Vec<i64> = escaped
            .query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))?
            .filter_map(|row| match row {
                Ok((seq, raw)) => {
                    let raw = canonical_escapes(&raw);
                    needles
                        .iter()
                        .any(|n| raw.contains(n.as_str()))
                        .then_some(Ok(seq))
                }
                Err(e) => Some(Err(e)),
            })
            .collect::<Result<_, _>>()?;
        let mut delete_reject = conn.prepare_cached("DELETE FROM rejects WHERE seq = ?1")?;
        for seq in found {
            erased.rejects += delete_reject.execute([seq])? as u64;
        }
        // A fingerprint may hold the subject too (`rule|session|check`): scrubbed, it stays
        // unique with the alert's id, and a later raise for a new subject starts a new alert.
        let mut alerts = conn.prepare_cached(
            "SELECT id, body, fingerprint FROM alerts
             WHERE instr(body, ?1) > 0 OR instr(fingerprint, ?1) > 0",
        )?;
        let mut update =
            conn.prepare_cached("UPDATE alerts SET body = ?2, fingerprint = ?3 WHERE id = ?1")?;
        let mut touched = BTreeSet::new();
        for n in &needles {
            let found: Vec<(String, String, String)> = alerts
                .query_map([n], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                .collect::<Result<_, _>>()?;
            for (id, body, fingerprint) in found {
                let scrubbed = scrub(&fingerprint, values);
                let fingerprint = if scrubbed == fingerprint {
                    fingerprint
                } else {
                    format!("{scrubbed}|{id}")
                };
                update.execute(params![id, scrub(&body, values), fingerprint])?;
                touched.insert(id);
            }
        }
        erased.alerts = touched.len() as u64;
    }
    // Copies of alerts in the notification tables (the log's counts leave them out).
    let notify = crate::outbox::erase::run(conn, values, &needles)?;
    if notify != crate::outbox::erase::Scrubbed::default() {
        tracing::debug!(?notify, "erasure scrubbed notification rows");
    }
    conn.prepare_cached(
        "INSERT INTO erasures (at_ms, who, subject, subject_hash, events, rejects, alerts, \
         stream_rows) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?
    .execute(params![
        at_ms,
        erasure.who,
        erasure.kind.as_str(),
        erasure.subject_hash,
        erased.events as i64,
        erased.rejects as i64,
        erased.alerts as i64,
        erased.stream_rows as i64
    ])?;
    Ok(erased)
}

impl Tx<'_> {
    /// Indexes a row this transaction appended (an alert raised by an event names the event's
    /// subjects) under `keys`.
    pub fn index_subjects(&self, seq: i64, keys: &[i64]) -> Result<(), StoreError> {
        subjects::append(self.conn(), keys.iter().map(|&key| (key, seq)).collect())?;
        Ok(())
    }

    /// Erases a subject inside the commit's transaction (the collector's `POST /v1/erasures`).
    /// Call [`truncate_wal`] once the commit returned, so the bytes leave the files.
    pub fn erase(&self, erasure: &Erasure) -> Result<Erased, StoreError> {
        Ok(run(self.conn(), erasure, self.recv_ms())?)
    }
}

/// Copies every committed page into the database and empties the WAL (`wal_checkpoint
/// (TRUNCATE)`), waiting for readers to move on; with `secure_delete`, erased bytes are then
/// gone from both files. `false` when readers kept the WAL busy for about 10 s (the next
/// erasure, or the checkpoint thread once the WAL grows, finishes the job).
pub fn truncate_wal(db: &Path) -> Result<bool, StoreError> {
    let conn = schema::connect(db)?;
    for _ in 0..100 {
        let (busy, _log, _done): (i64, i64, i64) =
            conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })?;
        if busy == 0 {
            return Ok(true);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(false)
}

/// Erases a subject from a data directory no collector is running on (`playtrace store
/// erase`): takes the directory's lock, erases in one transaction, then truncates the WAL.
/// Returns what was removed and whether the WAL was emptied.
pub fn erase_dir(dir: &Path, erasure: &Erasure) -> Result<(Erased, bool), StoreError> {
    let _lock = DirLock::acquire(dir, LOCK_FILE).map_err(|e| match e {
        LockError::Held(pid) => StoreError::Locked {
            dir: dir.to_path_buf(),
            pid,
        },
        LockError::Io(path, source) => StoreError::Io { path, source },
    })?;
    let path = dir.join(DB_FILE);
    if !path.exists() {
        return Err(StoreError::Io {
            path,
            source: std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "no store here; pass the collector's --data-dir",
            ),
        });
    }
    let mut conn = schema::connect(&path)?;
    schema::migrate(&mut conn, &path)?;
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let erased = run(&tx, erasure, now_ms())?;
    tx.commit()?;
    drop(conn);
    let truncated = truncate_wal(&path)?;
    Ok((erased, truncated))
}

/// Index rows of events retention removed (it removes from the front).
pub(crate) fn prune_index(conn: &Connection) -> rusqlite::Result<usize> {
    let legacy = conn.execute(
        "DELETE FROM subjects WHERE seq < coalesce((SELECT min(seq) FROM events), \
         (SELECT max(seq) + 1 FROM subjects), 0)",
        [],
    )?;
    // No rows left: every entry goes.
    let min: Option<i64> = conn.query_row("SELECT min(seq) FROM events", [], |r| r.get(0))?;
    Ok(legacy + subjects::prune_before(conn, min.unwrap_or(i64::MAX))?)
}

impl Reader {
    /// The erasure log, newest first.
    pub fn erasures(&self, limit: usize) -> Result<Vec<ErasureRecord>, StoreError> {
        self.with(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT id, at_ms, who, subject, subject_hash, events, rejects, alerts, \
                 stream_rows FROM erasures ORDER BY id DESC LIMIT ?1",
            )?;
            let rows = stmt.query_map([limit as i64], |r| {
                Ok(ErasureRecord {
                    id: r.get(0)?,
                    at_ms: r.get(1)?,
                    who: r.get(2)?,
                    subject: r.get(3)?,
                    subject_hash: r.get(4)?,
                    removed: Erased {
                        events: r.get::<_, i64>(5)? as u64,
                        rejects: r.get::<_, i64>(6)? as u64,
                        alerts: r.get::<_, i64>(7)? as u64,
                        stream_rows: r.get::<_, i64>(8)? as u64,
                    },
                })
            })?;
            rows.collect()
        })
    }

    /// The highest sequence number an erasure removed (the head of the sequence may have been
    /// erased: a client that saw it is not ahead).
    pub fn last_erased(&self) -> Result<Option<i64>, StoreError> {
        self.with(|conn| conn.query_row("SELECT max(seq) FROM erased_seqs", [], |r| r.get(0)))
    }

    /// How many sequence numbers strictly between `after` and `before` an erasure removed (a
    /// stream resuming across them lost nothing retention removed).
    pub fn erased_between(&self, after: i64, before: i64) -> Result<i64, StoreError> {
        self.with(|conn| {
            conn.prepare_cached("SELECT count(*) FROM erased_seqs WHERE seq > ?1 AND seq < ?2")?
                .query_row([after, before], |r| r.get(0))
        })
    }
}
