//! Reading events and rejects back: API pages, statistics, and replay for rebuilding live state.

use crate::alerts::{self, AlertQuery, AlertRow};
use crate::record::{CompactString, Kind, RejectRecord, RejectRow, StoredEvent};
use crate::silences::{self, SilenceRow};
use crate::StoreError;
use rusqlite::{params, Connection, OptionalExtension};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// Which events a page holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventFilter {
    /// Names starting with this.
    pub name_prefix: Option<String>,
    /// Only this game.
    pub game: Option<String>,
    /// Only this environment.
    pub env: Option<String>,
    /// Sequence numbers above this.
    pub after: i64,
    /// At most this many.
    pub limit: usize,
    /// Every kind of row (the stream); otherwise telemetry events only.
    pub all_kinds: bool,
    /// Only this session.
    pub session: Option<String>,
    /// Only events whose `attrs.hubId` is this.
    pub hub: Option<String>,
    /// Only events whose `attrs.roomId` is this.
    pub room: Option<String>,
    /// [`Reader::events_page`]: look at most this many sequence numbers past `after` (`None`:
    /// until the page is full), so a filter that matches little costs a bounded scan.
    pub scan_budget: Option<u64>,
}

/// A page of events and where the next one starts.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EventPage {
    /// The matching events, in sequence order.
    pub events: Vec<StoredEvent>,
    /// The cursor to continue from (`after` of the next page): the last event returned, or the
    /// last sequence number examined when the scan budget ran out first.
    pub next: i64,
    /// The scan budget ran out before the newest event: there may be more matches after `next`
    /// even if this page is short or empty.
    pub scan_limited: bool,
}

/// Size and counts of the store.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoreStats {
    /// Bytes of the database holding data (pages in use, not the free list).
    pub used_bytes: u64,
    /// Size of the database file plus its WAL.
    pub file_bytes: u64,
    /// Events stored.
    pub events: u64,
    /// Rejects stored.
    pub rejects: u64,
}

/// A small pool of read connections (WAL readers never block the writer, nor each other), so
/// one slow query does not make every other reader wait.
pub struct Reader {
    pool: Vec<Mutex<Connection>>,
    next: AtomicUsize,
    path: std::path::PathBuf,
}

/// Read connections in the pool.
pub const READERS: usize = 4;

pub(crate) const EVENT_COLUMNS: &str =
    "seq, recv_ms, game, id, name, env, session, ts_ms, body, kind, envelope";

/// A text column read without an allocation where it fits inline.
fn text(r: &rusqlite::Row<'_>, i: usize) -> rusqlite::Result<CompactString> {
    Ok(CompactString::from(r.get_ref(i)?.as_str()?))
}

/// A nullable text column, as [`text`].
fn text_opt(r: &rusqlite::Row<'_>, i: usize) -> rusqlite::Result<Option<CompactString>> {
    Ok(r.get_ref(i)?.as_str_or_null()?.map(CompactString::from))
}

/// A row of [`EVENT_COLUMNS`], its body as sent (`envelope.rs`).
pub(crate) fn event_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<StoredEvent> {
    let mut e = StoredEvent {
        seq: r.get(0)?,
        recv_ms: r.get(1)?,
        game: text(r, 2)?,
        id: text_opt(r, 3)?,
        name: text(r, 4)?,
        env: text_opt(r, 5)?,
        session: text_opt(r, 6)?,
        ts_ms: r.get(7)?,
        body: String::new(),
        kind: Kind::from_code(r.get(9)?),
        subjects: Vec::new(),
    };
    let stored = r.get_ref(8)?.as_str()?;
    e.body = match r.get::<_, Option<i64>>(10)? {
        Some(code) => crate::envelope::unpack(&e, code, stored),
        None => stored.to_string(),
    };
    Ok(e)
}

/// The smallest string greater than every string starting with `prefix` (for range scans).
fn prefix_end(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        if let Some(next) = char::from_u32(last as u32 + 1) {
            chars.push(next);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

impl Reader {
    /// Opens a read connection on the database at `path` (already migrated).
    pub(crate) fn open(path: &Path) -> Result<Reader, StoreError> {
        let pool = (0..READERS)
            .map(|_| crate::schema::connect(path).map(Mutex::new))
            .collect::<Result<_, _>>()?;
        Ok(Reader {
            pool,
            next: AtomicUsize::new(0),
            path: path.to_path_buf(),
        })
    }

    /// The alerts' JSON bodies, newest first.
    pub fn alerts(&self, query: &AlertQuery) -> Result<Vec<String>, StoreError> {
        self.with(|conn| alerts::list(conn, query))
    }

    /// The alert with this id.
    pub fn alert(&self, id: &str) -> Result<Option<AlertRow>, StoreError> {
        self.with(|conn| alerts::by_id(conn, id))
    }

    /// Alerts whose state changes by time alone at `now_ms`: silenced ones whose silence ended,
    /// firing moderation alerts quiet since `quiet_before_ms`.
    pub fn due_alerts(
        &self,
        now_ms: i64,
        quiet_before_ms: i64,
    ) -> Result<Vec<AlertRow>, StoreError> {
        self.with(|conn| alerts::due(conn, now_ms, quiet_before_ms))
    }

    /// Silences, newest first, active and expired.
    pub fn silences(&self, limit: usize) -> Result<Vec<SilenceRow>, StoreError> {
        self.with(|conn| silences::list(conn, limit))
    }

    /// Silences in force at `now_ms`.
    pub fn active_silences(&self, now_ms: i64) -> Result<Vec<SilenceRow>, StoreError> {
        self.with(|conn| silences::active(conn, now_ms))
    }

    /// Alert counts per state, category and severity (for `/metrics`).
    pub fn alert_counts(&self) -> Result<Vec<crate::alerts::AlertCount>, StoreError> {
        self.with(alerts::counts)
    }

    /// Fingerprints of the firing alerts of `category`.
    pub fn firing_alerts(&self, category: &str) -> Result<Vec<String>, StoreError> {
        self.with(|conn| alerts::firing(conn, category))
    }

    /// Runs `f` on a free connection of the pool; waits for one only when all are busy.
    pub(crate) fn with<R>(
        &self,
        f: impl FnOnce(&Connection) -> rusqlite::Result<R>,
    ) -> Result<R, StoreError> {
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let n = self.pool.len();
        let free = (0..n).find_map(|i| self.pool[(start + i) % n].try_lock().ok());
        let conn = match free {
            Some(conn) => conn,
            None => self.pool[start % n]
                .lock()
                .unwrap_or_else(|p| p.into_inner()),
        };
        Ok(f(&conn)?)
    }

    /// A page of events for the API: like [`Reader::events`], but a filter that matches little
    /// examines at most `scan_budget` sequence numbers and says where it stopped.
    pub fn events_page(&self, filter: &EventFilter) -> Result<EventPage, StoreError> {
        let Some(budget) = filter.scan_budget else {
            let events = self.events(filter)?;
            let next = events.last().map_or(filter.after, |e| e.seq);
            return Ok(EventPage {
                events,
                next,
                scan_limited: false,
            });
        };
        let end = filter.after.saturating_add(budget.max(1) as i64);
        let events = self.events_until(filter, Some(end))?;
        if events.len() >= filter.limit {
            let next = events.last().map_or(filter.after, |e| e.seq);
            return Ok(EventPage {
                events,
                next,
                scan_limited: false,
            });
        }
        // Short page: either the newest event was reached or the budget ran out first.
        let head: Option<i64> =
            self.with(|conn| conn.query_row("SELECT max(seq) FROM events", [], |r| r.get(0)))?;
        let scan_limited = head.is_some_and(|h| h > end);
        let next = if scan_limited {
            end
        } else {
            events.last().map_or(filter.after, |e| e.seq)
        };
        Ok(EventPage {
            events,
            next,
            scan_limited,
        })
    }

    /// A page of events in sequence order.
    pub fn events(&self, filter: &EventFilter) -> Result<Vec<StoredEvent>, StoreError> {
        self.events_until(filter, None)
    }

    /// Events after `filter.after` and up to `end` (inclusive) matching the filter: the
    /// sequence range bounds the rows SQLite looks at (a primary-key range scan).
    fn events_until(
        &self,
        filter: &EventFilter,
        end: Option<i64>,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let mut sql = format!("SELECT {EVENT_COLUMNS} FROM events WHERE seq > ?");
        let mut binds: Vec<Box<dyn rusqlite::ToSql>> = vec![Box::new(filter.after)];
        if let Some(end) = end {
            sql.push_str(" AND seq <= ?");
            binds.push(Box::new(end));
        }
        if !filter.all_kinds {
            sql.push_str(" AND kind = 0");
        }
        if let Some(prefix) = filter.name_prefix.as_ref().filter(|p| !p.is_empty()) {
            sql.push_str(" AND name >= ?");
            binds.push(Box::new(prefix.clone()));
            if let Some(end) = prefix_end(prefix) {
                sql.push_str(" AND name < ?");
                binds.push(Box::new(end));
            }
        }
        if let Some(game) = &filter.game {
            sql.push_str(" AND game = ?");
            binds.push(Box::new(game.clone()));
        }
        if let Some(env) = &filter.env {
            sql.push_str(" AND env = ?");
            binds.push(Box::new(env.clone()));
        }
        if let Some(session) = &filter.session {
            sql.push_str(" AND session = ?");
            binds.push(Box::new(session.clone()));
        }
        // As text, so a numeric id matches its digits.
        if let Some(hub) = &filter.hub {
            sql.push_str(" AND CAST(json_extract(body, '$.attrs.hubId') AS TEXT) = ?");
            binds.push(Box::new(hub.clone()));
        }
        if let Some(room) = &filter.room {
            sql.push_str(" AND CAST(json_extract(body, '$.attrs.roomId') AS TEXT) = ?");
            binds.push(Box::new(room.clone()));
        }
        sql.push_str(" ORDER BY seq LIMIT ?");
        binds.push(Box::new(filter.limit as i64));
        self.with(|conn| {
            let mut stmt = conn.prepare_cached(&sql)?;
            let rows = stmt.query_map(rusqlite::params_from_iter(binds.iter()), event_row)?;
            rows.collect()
        })
    }

    /// Rejects in sequence order after `after`.
    pub fn rejects(&self, after: i64, limit: usize) -> Result<Vec<RejectRecord>, StoreError> {
        self.with(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT seq, recv_ms, line, kind, message, raw FROM rejects
                 WHERE seq > ?1 ORDER BY seq LIMIT ?2",
            )?;
            let rows = stmt.query_map(params![after, limit as i64], |r| {
                Ok(RejectRecord {
                    seq: r.get(0)?,
                    recv_ms: r.get(1)?,
                    row: RejectRow {
                        line: r.get(2)?,
                        kind: r.get(3)?,
                        message: r.get(4)?,
                        raw: r.get(5)?,
                    },
                })
            })?;
            rows.collect()
        })
    }

    /// Calls `f` with every event received at or after `since_ms`, in sequence order, in pages
    /// (the rebuild after a restart).
    pub fn replay_since(
        &self,
        since_ms: i64,
        mut f: impl FnMut(&[StoredEvent]),
    ) -> Result<u64, StoreError> {
        let start = self.with(|conn| first_seq_at_or_after(conn, since_ms))?;
        let Some(start) = start else { return Ok(0) };
        let mut after = start - 1;
        let mut total = 0;
        loop {
            let page = self.events(&EventFilter {
                after,
                limit: 10_000,
                ..EventFilter::default()
            })?;
            // (telemetry events only: alerts and budget changes are not replayed into contests)
            let Some(last) = page.last() else { break };
            after = last.seq;
            total += page.len() as u64;
            f(&page);
        }
        Ok(total)
    }

    /// The lowest sequence number still stored (retention removes from the front), if any.
    pub fn first_seq(&self) -> Result<Option<i64>, StoreError> {
        self.with(|conn| {
            conn.query_row("SELECT seq FROM events ORDER BY seq LIMIT 1", [], |r| {
                r.get(0)
            })
            .optional()
        })
    }

    /// The highest sequence number stored, if any (a `Last-Event-ID` beyond it comes from
    /// another store, or from before a restore).
    pub fn last_seq(&self) -> Result<Option<i64>, StoreError> {
        self.with(|conn| conn.query_row("SELECT max(seq) FROM events", [], |r| r.get(0)))
    }

    /// Size and counts.
    pub fn stats(&self) -> Result<StoreStats, StoreError> {
        let file_bytes = file_size(&self.path)
            + file_size(&self.path.with_extension("db-wal"))
            + file_size(&self.path.with_extension("db-shm"));
        self.with(|conn| {
            let used_bytes = used_bytes(conn)?;
            let events: i64 = conn.query_row(
                // Two primary-key lookups; `max(seq) - min(seq)` over the table is a scan.
                "SELECT coalesce((SELECT max(seq) FROM events) - (SELECT min(seq) FROM events) + 1, 0)",
                [],
                |r| r.get(0),
            )?;
            let rejects: i64 = conn.query_row(
                "SELECT coalesce((SELECT max(seq) FROM rejects) - (SELECT min(seq) FROM rejects) + 1, 0)",
                [],
                |r| r.get(0),
            )?;
            Ok(StoreStats {
                used_bytes,
                file_bytes,
                events: events as u64,
                rejects: rejects as u64,
            })
        })
    }

    /// The schema version of the database (`PRAGMA user_version`).
    pub fn schema_version(&self) -> Result<i64, StoreError> {
        self.with(|conn| conn.query_row("PRAGMA user_version", [], |r| r.get(0)))
    }
}

fn file_size(path: &Path) -> u64 {
    std::fs::metadata(path).map_or(0, |m| m.len())
}

/// Bytes of pages holding data.
pub(crate) fn used_bytes(conn: &Connection) -> rusqlite::Result<u64> {
    let pages: i64 = conn.query_row("PRAGMA page_count", [], |r| r.get(0))?;
    let free: i64 = conn.query_row("PRAGMA freelist_count", [], |r| r.get(0))?;
    let size: i64 = conn.query_row("PRAGMA page_size", [], |r| r.get(0))?;
    Ok(((pages - free).max(0) * size) as u64)
}

/// The first sequence number whose receive time is at or after `ms`. Receive times never
/// decrease with the sequence (the writer guarantees it), so a binary search over primary-key
/// lookups finds it without an index on `recv_ms`.
pub(crate) fn first_seq_at_or_after(conn: &Connection, ms: i64) -> rusqlite::Result<Option<i64>> {
    let bounds: (Option<i64>, Option<i64>) = conn.query_row(
        "SELECT (SELECT min(seq) FROM events), (SELECT max(seq) FROM events)",
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    let (Some(mut lo), Some(max)) = bounds else {
        return Ok(None);
    };
    let mut stmt = conn
        .prepare_cached("SELECT seq, recv_ms FROM events WHERE seq >= ?1 ORDER BY seq LIMIT 1")?;
    let mut hi = max + 1;
    // Invariant: every seq below `lo` is before `ms`; `hi` is at/after `ms` or past the end.
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        let row: Option<(i64, i64)> = stmt
            .query_row([mid], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        match row {
            Some((seq, recv)) if recv < ms => lo = seq + 1,
            Some(_) => hi = mid,
            None => hi = mid,
        }
    }
    Ok((lo <= max).then_some(lo))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;
    use std::sync::Arc;
    use std::time::Duration;

    fn store(events: &[&str]) -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(crate::DB_FILE);
        let conn = crate::open(&path).unwrap();
        let mut stmt = conn
            .prepare("INSERT INTO events (recv_ms, game, name, body) VALUES (1, ?1, 'n', '{}')")
            .unwrap();
        conn.execute_batch("BEGIN").unwrap();
        for game in events {
            stmt.execute([game]).unwrap();
        }
        conn.execute_batch("COMMIT").unwrap();
        (dir, path)
    }

    #[test]
    fn a_filter_matching_little_stops_at_the_scan_budget_and_pages_on() {
        let mut games = vec!["busy"; 1000];
        games.push("rare");
        let (_dir, path) = store(&games);
        let reader = Reader::open(&path).unwrap();
        let mut filter = EventFilter {
            game: Some("rare".into()),
            limit: 10,
            scan_budget: Some(100),
            ..EventFilter::default()
        };
        let first = reader.events_page(&filter).unwrap();
        assert!(first.events.is_empty());
        assert!(first.scan_limited, "stopped at the budget, not the end");
        assert_eq!(first.next, 100, "the cursor reached");
        let mut found = Vec::new();
        let mut pages = 1;
        let mut page = first;
        while page.scan_limited {
            filter.after = page.next;
            page = reader.events_page(&filter).unwrap();
            found.extend(page.events.iter().map(|e| e.seq));
            pages += 1;
        }
        assert_eq!(found, vec![1001], "paging with the cursor finds the match");
        assert_eq!(pages, 11);
        assert_eq!(page.next, 1001);
    }

    #[test]
    fn concurrent_queries_do_not_wait_for_one_lock() {
        let (_dir, path) = store(&["g"; 10]);
        let reader = Arc::new(Reader::open(&path).unwrap());
        let (entered_tx, entered_rx) = mpsc::channel();
        let (release_tx, release_rx) = mpsc::channel::<()>();
        let holder = {
            let reader = reader.clone();
            std::thread::spawn(move || {
                reader.with(|_| {
                    entered_tx.send(()).unwrap();
                    let _ = release_rx.recv();
                    Ok(())
                })
            })
        };
        entered_rx.recv().unwrap();
        // One query holds a connection and waits; others still get answers.
        let (done_tx, done_rx) = mpsc::channel();
        for _ in 1..READERS {
            let (reader, done_tx) = (reader.clone(), done_tx.clone());
            std::thread::spawn(move || {
                let page = reader.events(&EventFilter {
                    limit: 100,
                    ..EventFilter::default()
                });
                let _ = done_tx.send(page.map(|p| p.len()).ok());
            });
        }
        // The bound only keeps a broken pool from hanging the test; no timing is measured.
        let answers: Vec<_> = (1..READERS)
            .map(|_| done_rx.recv_timeout(Duration::from_secs(60)))
            .collect();
        release_tx.send(()).unwrap();
        holder.join().unwrap().unwrap();
        for a in answers {
            assert_eq!(
                a,
                Ok(Some(10)),
                "a query waited behind the one holding a connection"
            );
        }
    }
}
