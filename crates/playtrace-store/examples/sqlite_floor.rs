//! What durable storage of an event costs in SQLite alone, without HTTP, parsing or the
//! collector's pipeline (issue 14 §4: "CPU per million durable events at most half of today's").
//! `bench/ingest/floor` runs it; see `bench/ingest/README.md` "Random ids".
//!
//! One writer thread commits `--batch` events per transaction with the store's settings (WAL,
//! `synchronous=FULL`, 16 KiB pages, `secure_delete`), a second connection checkpoints as the
//! collector's checkpoint thread does (passive passes, a restart past 64 MiB of WAL), and each
//! thread's CPU (user + system, from `/proc/thread-self/stat`) is divided by the events stored.
//! Layouts (`--layout`):
//! - `events`: the store's events table and its `(id, game)` unique index, 64-row
//!   `INSERT OR IGNORE` statements (what `insert.rs` runs);
//! - `noindex`: the same table without the index, duplicates checked in a map in memory (what
//!   `store/src/dedup/` does, at the least);
//! - `body`: a row per event holding only its body (no columns, no index): the least a row per
//!   event can cost;
//! - `columns`: the events table with no index and no check (its columns alone);
//! - `meta`: a row per event of `seq`, `recv_ms`, the other columns packed in one blob, and the
//!   body (no index): what binding and encoding seven columns cost against one;
//! - `lean`: `events` with `name`, `env`, `session` and `ts_ms` packed in one blob (`game` and
//!   `id` stay columns for the index);
//! - `block`: one row per transaction holding every body (no index): the bytes alone;
//! - `block-key`: `block` plus a `WITHOUT ROWID` table of 8-byte dedup keys, a row per event.
//!
//! `--body attrs` stores each body as the store does since schema 15, without the envelope
//! members the columns hold (`{"attrs":{…}}`); `--body line` (the default) stores the line.
//!
//! Usage: `cargo run --release -p playtrace-store --example sqlite_floor -- --layout events
//! --events 2000000 [--batch 1000] [--ids seq|uuid] [--body line|attrs] [--page BYTES]
//! [--dir DIR]`. Prints one JSON line.

use rusqlite::{params_from_iter, Connection};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const ROWS: usize = 64;
const RESTART_WAL_BYTES: u64 = 64 << 20;

struct Args {
    layout: String,
    events: usize,
    batch: usize,
    uuid: bool,
    /// Bodies without their envelope members, as the store keeps them (`--body attrs`).
    cut: bool,
    dir: PathBuf,
    page: usize,
}

fn args() -> Result<Args, String> {
    let mut a = Args {
        layout: "events".into(),
        events: 2_000_000,
        batch: 1_000,
        uuid: false,
        cut: false,
        dir: std::env::temp_dir(),
        page: 16384,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().ok_or(format!("{flag} needs a value"))?;
        let number = || {
            value
                .parse::<usize>()
                .map_err(|e| format!("{flag} {value}: {e}"))
        };
        match flag.as_str() {
            "--layout" => a.layout = value.clone(),
            "--events" => a.events = number()?,
            "--batch" => a.batch = number()?.max(1),
            "--ids" => a.uuid = value == "uuid",
            "--body" => a.cut = value == "attrs",
            "--dir" => a.dir = PathBuf::from(&value),
            "--page" => a.page = number()?,
            _ => return Err(format!("unknown option {flag} (see the file's doc)")),
        }
    }
    if ![
        "events",
        "lean",
        "noindex",
        "columns",
        "meta",
        "body",
        "block",
        "block-key",
    ]
    .contains(&a.layout.as_str())
    {
        return Err(format!(
            "--layout {}: one of events, lean, noindex, columns, meta, body, block, block-key",
            a.layout
        ));
    }
    Ok(a)
}

/// User + system CPU seconds of the calling thread.
fn thread_cpu() -> f64 {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or(vec![], |(_, rest)| rest.split_whitespace().collect());
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // After the comm: state is field 0, utime 11, stime 12.
    (ticks(11) + ticks(12)) / 100.0
}

fn open(path: &Path, page: usize) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    conn.execute_batch(&format!("PRAGMA page_size={page}"))?;
    conn.query_row("PRAGMA journal_mode=WAL", [], |_| Ok(()))?;
    conn.execute_batch(
        "PRAGMA synchronous=FULL; PRAGMA cache_size=-32768; PRAGMA secure_delete=ON;
         PRAGMA journal_size_limit=67108864;",
    )?;
    conn.query_row("PRAGMA wal_autocheckpoint=0", [], |_| Ok(()))?;
    Ok(conn)
}

/// A body like `bench/ingest`'s: ~330 bytes of an event line; `cut`: as the store keeps it,
/// without the envelope members its columns hold (`store/src/envelope.rs`).
fn body(i: usize, id: &str, cut: bool) -> String {
    let p = i.wrapping_mul(2_654_435_761) % 100_000;
    if cut {
        return format!(
            r#"{{"attrs":{{"playerId":"player-{p}","accountId":"acct-{p}","sessionId":"s-{p}-{}","level":{},"latencyMs":{}.25,"note":"a long note about the match that goes on","peer":"10.{}.{}.7"}}}}"#,
            i % 7,
            i % 100,
            i % 200,
            p % 250,
            i % 250
        );
    }
    format!(
        r#"{{"event":"match.end","id":"{id}","game":"bench","env":"prod","session":"s-{p}-{}","ts":{},"attrs":{{"playerId":"player-{p}","accountId":"acct-{p}","sessionId":"s-{p}-{}","level":{},"latencyMs":{}.25,"note":"a long note about the match that goes on","peer":"10.{}.{}.7"}}}}"#,
        i % 7,
        1_795_700_000_000u64 + i as u64,
        i % 7,
        i % 100,
        i % 200,
        p % 250,
        i % 250
    )
}

fn id(i: usize, uuid: bool) -> String {
    if !uuid {
        return format!("c{}-{}", i % 4, i);
    }
    // A well-spread 128-bit value printed as a UUID (random order, like SDK-made ids).
    let a = (i as u64 ^ 0x9e37_79b9_7f4a_7c15).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    let b = (a ^ (a >> 31)).wrapping_mul(0x94d0_49bb_1331_11eb);
    format!(
        "{:08x}-{:04x}-4{:03x}-a{:03x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        b & 0xfff,
        (b >> 12) & 0xfff,
        b >> 16
    )
}

fn schema(conn: &Connection, layout: &str) -> rusqlite::Result<()> {
    conn.execute_batch(match layout {
        "events" => {
            "CREATE TABLE events (seq INTEGER PRIMARY KEY AUTOINCREMENT, recv_ms INTEGER NOT NULL,
                game TEXT NOT NULL, id TEXT, name TEXT NOT NULL, env TEXT, session TEXT,
                ts_ms REAL, body TEXT NOT NULL, kind INTEGER NOT NULL DEFAULT 0);
             CREATE UNIQUE INDEX events_id_game ON events (id, game) WHERE id IS NOT NULL;"
        }
        "lean" => {
            "CREATE TABLE events (seq INTEGER PRIMARY KEY AUTOINCREMENT, recv_ms INTEGER NOT NULL,
                game TEXT NOT NULL, id TEXT, meta BLOB NOT NULL, body TEXT NOT NULL,
                kind INTEGER NOT NULL DEFAULT 0);
             CREATE UNIQUE INDEX events_id_game ON events (id, game) WHERE id IS NOT NULL;"
        }
        "meta" => {
            "CREATE TABLE events (seq INTEGER PRIMARY KEY AUTOINCREMENT, recv_ms INTEGER NOT NULL,
                meta BLOB NOT NULL, body TEXT NOT NULL);"
        }
        "noindex" | "columns" => {
            "CREATE TABLE events (seq INTEGER PRIMARY KEY AUTOINCREMENT, recv_ms INTEGER NOT NULL,
                game TEXT NOT NULL, id TEXT, name TEXT NOT NULL, env TEXT, session TEXT,
                ts_ms REAL, body TEXT NOT NULL, kind INTEGER NOT NULL DEFAULT 0);"
        }
        "body" => "CREATE TABLE events (seq INTEGER PRIMARY KEY, body TEXT NOT NULL);",
        "block" => "CREATE TABLE blocks (first INTEGER PRIMARY KEY, bodies BLOB NOT NULL);",
        _ => {
            "CREATE TABLE blocks (first INTEGER PRIMARY KEY, bodies BLOB NOT NULL);
             CREATE TABLE keys (key INTEGER PRIMARY KEY, seq INTEGER NOT NULL) WITHOUT ROWID;"
        }
    })
}

fn statement(layout: &str, rows: usize) -> String {
    let (head, row) = match layout {
        "events" | "noindex" => (
            "INSERT OR IGNORE INTO events (recv_ms, game, id, name, env, session, ts_ms, body) VALUES ",
            "(?,?,?,?,?,?,?,?)",
        ),
        "columns" => (
            "INSERT INTO events (recv_ms, game, id, name, env, session, ts_ms, body) VALUES ",
            "(?,?,?,?,?,?,?,?)",
        ),
        "meta" => ("INSERT INTO events (recv_ms, meta, body) VALUES ", "(?,?,?)"),
        "lean" => (
            "INSERT OR IGNORE INTO events (recv_ms, game, id, meta, body) VALUES ",
            "(?,?,?,?,?)",
        ),
        "body" => ("INSERT INTO events (body) VALUES ", "(?)"),
        _ => ("INSERT OR IGNORE INTO keys (key, seq) VALUES ", "(?,?)"),
    };
    let mut sql = String::from(head);
    for r in 0..rows {
        if r > 0 {
            sql.push(',');
        }
        sql.push_str(row);
    }
    sql
}

/// A 64-bit key of an id, as a compact dedup index would keep it.
fn key(id: &str) -> i64 {
    xxhash_rust::xxh3::xxh3_64(id.as_bytes()) as i64
}

/// Keys that are already hashes, used as they are.
#[derive(Default)]
struct Identity(u64);

impl std::hash::Hasher for Identity {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, _: &[u8]) {}
    fn write_i64(&mut self, v: i64) {
        self.0 = v as u64;
    }
}

/// `noindex`: every stored id's key and sequence in memory (what any dedup kept off the
/// B-tree has to check per event, at the least).
type Keys = std::collections::HashMap<i64, i64, std::hash::BuildHasherDefault<Identity>>;

fn write_batch(
    conn: &Connection,
    keys: &mut Keys,
    layout: &str,
    ids: &[String],
    bodies: &[String],
    first: i64,
) -> rusqlite::Result<()> {
    let tx = conn.unchecked_transaction()?;
    if layout == "noindex" {
        // Nothing here is a duplicate; the check and the insert are what cost.
        for (n, id) in ids.iter().enumerate() {
            if keys.insert(key(id), first + n as i64).is_some() {
                return Err(rusqlite::Error::InvalidQuery);
            }
        }
    }
    match layout {
        "events" | "lean" | "noindex" | "columns" | "meta" | "body" => {
            for (ids, bodies) in ids.chunks(ROWS).zip(bodies.chunks(ROWS)) {
                let mut stmt = tx.prepare_cached(&statement(layout, ids.len()))?;
                if layout == "body" {
                    stmt.execute(params_from_iter(bodies.iter()))?;
                } else if layout == "meta" {
                    let mut meta = Vec::with_capacity(64);
                    for (row, (id, body)) in ids.iter().zip(bodies).enumerate() {
                        meta.clear();
                        for field in ["bench", id.as_str(), "match.end", "prod", "s-1-2"] {
                            meta.push(field.len() as u8);
                            meta.extend_from_slice(field.as_bytes());
                        }
                        meta.extend_from_slice(&1.795_7e12f64.to_le_bytes());
                        let at = 1 + row * 3;
                        stmt.raw_bind_parameter(at, 1_795_700_000_000i64)?;
                        stmt.raw_bind_parameter(at + 1, &meta[..])?;
                        stmt.raw_bind_parameter(at + 2, body)?;
                    }
                    stmt.raw_execute()?;
                } else if layout == "lean" {
                    let mut meta = Vec::with_capacity(64);
                    for (row, (id, body)) in ids.iter().zip(bodies).enumerate() {
                        meta.clear();
                        for field in ["match.end", "prod", "s-1-2"] {
                            meta.push(field.len() as u8);
                            meta.extend_from_slice(field.as_bytes());
                        }
                        meta.extend_from_slice(&1.795_7e12f64.to_le_bytes());
                        let at = 1 + row * 5;
                        stmt.raw_bind_parameter(at, 1_795_700_000_000i64)?;
                        stmt.raw_bind_parameter(at + 1, "bench")?;
                        stmt.raw_bind_parameter(at + 2, id)?;
                        stmt.raw_bind_parameter(at + 3, &meta[..])?;
                        stmt.raw_bind_parameter(at + 4, body)?;
                    }
                    stmt.raw_execute()?;
                } else {
                    // Bound by reference, as `insert.rs` does.
                    for (row, (id, body)) in ids.iter().zip(bodies).enumerate() {
                        let at = 1 + row * 8;
                        stmt.raw_bind_parameter(at, 1_795_700_000_000i64)?;
                        stmt.raw_bind_parameter(at + 1, "bench")?;
                        stmt.raw_bind_parameter(at + 2, id)?;
                        stmt.raw_bind_parameter(at + 3, "match.end")?;
                        stmt.raw_bind_parameter(at + 4, "prod")?;
                        stmt.raw_bind_parameter(at + 5, "s-1-2")?;
                        stmt.raw_bind_parameter(at + 6, 1.795_7e12f64)?;
                        stmt.raw_bind_parameter(at + 7, body)?;
                    }
                    stmt.raw_execute()?;
                }
            }
        }
        _ => {
            let mut blob = Vec::with_capacity(bodies.iter().map(|b| b.len() + 1).sum());
            for b in bodies {
                blob.extend_from_slice(b.as_bytes());
                blob.push(b'\n');
            }
            tx.execute(
                "INSERT INTO blocks (first, bodies) VALUES (?1, ?2)",
                rusqlite::params![first, blob],
            )?;
            if layout == "block-key" {
                for (n, ids) in ids.chunks(ROWS).enumerate() {
                    let mut stmt = tx.prepare_cached(&statement(layout, ids.len()))?;
                    let mut values: Vec<i64> = Vec::with_capacity(ids.len() * 2);
                    for (k, id) in ids.iter().enumerate() {
                        values.extend([key(id), first + (n * ROWS + k) as i64]);
                    }
                    stmt.execute(params_from_iter(values))?;
                }
            }
        }
    }
    tx.commit()
}

fn run(a: &Args) -> Result<String, Box<dyn std::error::Error>> {
    let dir = tempfile_dir(&a.dir)?;
    let path = dir.join("floor.db");
    let conn = open(&path, a.page)?;
    schema(&conn, &a.layout)?;
    let done = Arc::new(AtomicBool::new(false));
    let checkpointer = {
        let (done, path, page) = (done.clone(), path.clone(), a.page);
        std::thread::spawn(move || -> rusqlite::Result<f64> {
            let conn = open(&path, page)?;
            let start = thread_cpu();
            let wal = path.with_extension("db-wal");
            while !done.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(50));
                let size = std::fs::metadata(&wal).map_or(0, |m| m.len());
                let mode = if size > RESTART_WAL_BYTES {
                    "RESTART"
                } else {
                    "PASSIVE"
                };
                conn.query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |_| Ok(()))?;
            }
            Ok(thread_cpu() - start)
        })
    };
    // Bodies are made before the clock starts: the writer's work is what is measured.
    let batches: Vec<(Vec<String>, Vec<String>)> = (0..a.events.div_ceil(a.batch))
        .map(|b| {
            let range = b * a.batch..((b + 1) * a.batch).min(a.events);
            let ids: Vec<String> = range.clone().map(|i| id(i, a.uuid)).collect();
            let bodies = range.zip(&ids).map(|(i, id)| body(i, id, a.cut)).collect();
            (ids, bodies)
        })
        .collect();
    let bytes: usize = batches.iter().flat_map(|(_, b)| b).map(String::len).sum();
    let (cpu0, wall0) = (thread_cpu(), Instant::now());
    let mut keys = Keys::default();
    for (n, (ids, bodies)) in batches.iter().enumerate() {
        write_batch(
            &conn,
            &mut keys,
            &a.layout,
            ids,
            bodies,
            (n * a.batch) as i64 + 1,
        )?;
    }
    let (writer, wall) = (thread_cpu() - cpu0, wall0.elapsed().as_secs_f64());
    done.store(true, Ordering::Relaxed);
    let checkpoint = checkpointer
        .join()
        .map_err(|_| "checkpoint thread panicked")??;
    let size = std::fs::metadata(&path)?.len();
    drop(conn);
    std::fs::remove_dir_all(&dir)?;
    let per = |s: f64| s / a.events as f64 * 1e6;
    Ok(format!(
        r#"{{"layout":"{}","ids":"{}","body":"{}","events":{},"batch":{},"body_bytes":{:.0},"db_bytes_per_event":{:.0},"wall_s":{:.2},"writer_us":{:.3},"checkpoint_us":{:.3},"total_us":{:.3}}}"#,
        a.layout,
        if a.uuid { "uuid" } else { "seq" },
        if a.cut { "attrs" } else { "line" },
        a.events,
        a.batch,
        bytes as f64 / a.events as f64,
        size as f64 / a.events as f64,
        wall,
        per(writer),
        per(checkpoint),
        per(writer + checkpoint)
    ))
}

/// A fresh directory under `parent`, removed at the end of the run.
fn tempfile_dir(parent: &Path) -> std::io::Result<PathBuf> {
    let dir = parent.join(format!("sqlite-floor-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

fn main() {
    match args().map_err(Into::into).and_then(|a| run(&a)) {
        Ok(line) => println!("{line}"),
        Err(e) => {
            eprintln!("sqlite_floor: {e}");
            std::process::exit(2);
        }
    }
}
