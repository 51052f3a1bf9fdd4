//! The budget history's writes: every few seconds the live windows' journal of count changes
//! (core's `take_history`) becomes one writer job that adds them to the store's minute and hour
//! rows, together with the sequence number they count up to. A job that fails puts its changes
//! back; changes not yet written when the process stops are journaled again by the rebuild,
//! which replays events past that sequence number with journaling on (and those before it
//! with journaling off, so nothing is counted twice).

use crate::app::AppState;
use crate::pipeline::Work;
use playtrace_core::dims::Dimensions;
use playtrace_core::rollup::{HistoryDeltas, HistoryKey};
use playtrace_store::{Job, RollupChange, RollupMark};
use serde_json::{Map, Value};
use std::sync::Arc;
use std::time::Duration;

/// How often the journal is written: the history lags the live windows by at most this.
pub(crate) const FLUSH_EVERY: Duration = Duration::from_secs(2);

/// A series' key as stored: its scope and group by dimension name (`{"game":…,"room":…}`, unknown
/// values left out), so a restart with the dimensions configured in another order reads the same
/// series.
pub(crate) fn key_text(key: &HistoryKey, dimensions: &Dimensions) -> String {
    let mut m = Map::new();
    let mut put = |name: &str, v: &Option<String>| {
        if let Some(v) = v {
            m.insert(name.to_string(), Value::String(v.clone()));
        }
    };
    put("game", &key.game);
    put("env", &key.env);
    for (slot, name) in ["hub", "room", "move", "type"].iter().enumerate() {
        put(name, key.group.get(slot).unwrap_or(&None));
    }
    for (i, d) in dimensions.list().iter().enumerate() {
        put(&d.name, key.group.get(4 + i).unwrap_or(&None));
    }
    Value::Object(m).to_string()
}

/// Back from [`key_text`] (with the metric stored beside it); `None` for a key that is not an
/// object.
pub(crate) fn key_of(metric: u8, text: &str, dimensions: &Dimensions) -> Option<HistoryKey> {
    let Ok(Value::Object(m)) = serde_json::from_str::<Value>(text) else {
        return None;
    };
    let get = |name: &str| m.get(name).and_then(Value::as_str).map(str::to_owned);
    let mut group: Vec<Option<String>> = ["hub", "room", "move", "type"]
        .iter()
        .map(|n| get(n))
        .collect();
    group.extend(dimensions.list().iter().map(|d| get(&d.name)));
    Some(HistoryKey {
        metric: *playtrace_core::budget::Metric::ALL.get(usize::from(metric))?,
        game: get("game"),
        env: get("env"),
        group,
    })
}

fn metric_index(key: &HistoryKey) -> u8 {
    playtrace_core::budget::Metric::ALL
        .iter()
        .position(|m| *m == key.metric)
        .unwrap_or(0) as u8
}

/// The journal as store changes.
fn changes(deltas: &HistoryDeltas, dimensions: &Dimensions) -> Vec<RollupChange> {
    deltas
        .series
        .iter()
        .map(|s| RollupChange {
            metric: metric_index(&s.key),
            key: key_text(&s.key, dimensions),
            minutes: s.minutes.clone(),
        })
        .collect()
}

/// Writes the journal every [`FLUSH_EVERY`] until the task is aborted.
pub(crate) async fn run(app: Arc<AppState>) {
    let mut tick = tokio::time::interval(FLUSH_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        flush(&app).await;
    }
}

/// One flush at a time: a reader that flushes before reading must also wait for a flush in
/// flight (the periodic one may have taken the journal a moment before).
static FLUSHING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Takes the journal and writes it as one job; puts it back when the job fails. Returns whether
/// something was written. When it returns, everything journaled before the call is in the store
/// (or back in the journal).
pub(crate) async fn flush(app: &Arc<AppState>) -> bool {
    let _turn = FLUSHING.lock().await;
    let (deltas, mark) = {
        let mut live = app.live.lock().unwrap_or_else(|p| p.into_inner());
        (live.take_history(), live.history_mark())
    };
    if deltas.is_empty() {
        return false;
    }
    let changes = changes(&deltas, &app.config.dimensions);
    let (tx, rx) = tokio::sync::oneshot::channel();
    let job = Job {
        events: vec![],
        rejects: vec![],
        extra: Work::History {
            changes,
            mark: mark.map(|(seq, recv_ms)| RollupMark { seq, recv_ms }),
        },
        done: Box::new(move |r| {
            let _ = tx.send(r.is_ok());
        }),
    };
    let stored = app.submit(job).is_ok() && rx.await.unwrap_or(false);
    if !stored {
        tracing::debug!("budget history not written now; kept for the next try");
        app.live
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .restore_history(&deltas);
    }
    stored
}
