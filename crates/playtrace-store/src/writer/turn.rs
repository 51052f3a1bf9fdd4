//! Whose turn it is to write on the store's one writing connection: the writer's commits and
//! the notifier's outbox transactions take turns in process instead of polling SQLite's lock.

use rusqlite::Connection;
use std::sync::{Arc, Mutex, MutexGuard};

/// The writer's connection, shared with the notifier's outbox ([`crate::Outbox`]), which
/// writes through it in the writer's turn. SQLite empties a connection's page cache whenever
/// another connection has committed, so a second writing connection made the writer read and
/// fault its pages in again after every notifier commit; on one connection the cache stays.
pub(crate) type SharedConn = Arc<Mutex<Connection>>;

/// The writer's connection, for the one who holds the turn (a panic elsewhere while holding it
/// leaves only a rolled-back transaction behind).
pub(crate) fn lock_conn(conn: &SharedConn) -> MutexGuard<'_, Connection> {
    conn.lock().unwrap_or_else(|p| p.into_inner())
}

/// Whose turn it is to write, among the store's threads that write often (the writer, the
/// notifier's outbox on the writer's connection, the checkpointer). SQLite lets one write at a
/// time and makes the others poll with
/// growing sleeps; a writer committing back to back would starve a poller for seconds, and the
/// poller would slow its commits. Taking turns in process hands the lock over at once.
#[derive(Debug, Default)]
pub(crate) struct WriteTurn {
    lock: std::sync::Mutex<()>,
    /// Threads blocked on `lock`: std's mutex is not fair, and a writer committing back to
    /// back would take it again before a woken waiter (the checkpointer) ran.
    waiting: std::sync::atomic::AtomicUsize,
}

/// How many times a taker yields to a thread already waiting before it queues up anyway.
const YIELDS: usize = 1_000;

/// Takes the turn, after any thread already waiting for it (a panic elsewhere while holding it
/// leaves nothing to repair).
pub(crate) fn take_turn(turn: &WriteTurn) -> std::sync::MutexGuard<'_, ()> {
    use std::sync::atomic::Ordering;
    for _ in 0..YIELDS {
        if turn.waiting.load(Ordering::Acquire) == 0 {
            break;
        }
        std::thread::yield_now();
    }
    turn.waiting.fetch_add(1, Ordering::AcqRel);
    let guard = turn.lock.lock().unwrap_or_else(|p| p.into_inner());
    turn.waiting.fetch_sub(1, Ordering::AcqRel);
    guard
}
