//! The budget history's writes: every few seconds the live windows' journal of count changes
//! (core's `take_history`) becomes one writer job that adds them to the store's minute and hour
//! rows, together with the sequence number they count up to. A job that fails puts its changes
//! back; changes not yet written when the process stops are journaled again by the rebuild,
//! which replays events past that sequence number with journaling on (and those before it
//! with journaling off, so nothing is counted twice).

use crate::app::AppState;
use crate::pipeline::Work;
use playtrace_core::dims::Dimensions;
use playtrace_core::rollup::{HistoryDeltas, HistoryKey, SeriesDeltas};
use playtrace_store::{Job, RollupChange, RollupMark};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// How often the journal is written: the history lags the live windows by at most this.
pub(crate) const FLUSH_EVERY: Duration = Duration::from_secs(2);

/// The field that marks a scope's all-groups series in its stored key. Not a possible group field
/// name (those are `hub`, `room`, `move`, `type` and dimension names, which are identifiers).
const ALL_GROUPS: &str = "*";

/// A series' key as stored: its scope and group by dimension name (`{"game":…,"room":…}`, unknown
/// values left out), so a restart with the dimensions configured in another order reads the same
/// series. A scope's all-groups series (an empty `group`) is `{"game":…,"env":…,"*":"all"}`.
pub(crate) fn key_text(key: &HistoryKey, dimensions: &Dimensions) -> String {
    let mut m = Map::new();
    if key.group.is_empty() {
        m.insert(ALL_GROUPS.into(), Value::String("all".into()));
    }
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
    let metric = *playtrace_core::budget::Metric::ALL.get(usize::from(metric))?;
    if m.contains_key(ALL_GROUPS) {
        return Some(HistoryKey {
            metric,
            game: get("game"),
            env: get("env"),
            group: Vec::new(),
        });
    }
    let mut group: Vec<Option<String>> = ["hub", "room", "move", "type"]
        .iter()
        .map(|n| get(n))
        .collect();
    group.extend(dimensions.list().iter().map(|d| get(&d.name)));
    Some(HistoryKey {
        metric,
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

/// The journal as store changes: every series' own, and each scope's all-groups series (the sum
/// of its groups), so a history without `group_by` reads one row per point and metric instead of
/// merging every room's (a week over 40 rooms: 40 times fewer rows to decode and merge).
fn changes(deltas: &HistoryDeltas, dimensions: &Dimensions) -> Vec<RollupChange> {
    let mut all: BTreeMap<HistoryKey, BTreeMap<i64, BTreeMap<u64, i64>>> = BTreeMap::new();
    for s in &deltas.series {
        let scope = HistoryKey {
            group: Vec::new(),
            ..s.key.clone()
        };
        let minutes = all.entry(scope).or_default();
        for (minute, counts) in &s.minutes {
            let into = minutes.entry(*minute).or_default();
            for &(k, d) in counts {
                *into.entry(k).or_default() += d;
            }
        }
    }
    let sums: Vec<SeriesDeltas> = all
        .into_iter()
        .map(|(key, minutes)| SeriesDeltas {
            key,
            minutes: minutes
                .into_iter()
                .map(|(minute, counts)| {
                    let counts: Vec<(u64, i64)> =
                        counts.into_iter().filter(|&(_, d)| d != 0).collect();
                    (minute, counts)
                })
                .filter(|(_, counts)| !counts.is_empty())
                .collect(),
        })
        .filter(|s| !s.minutes.is_empty())
        .collect();
    deltas
        .series
        .iter()
        .filter(|s| !s.key.group.is_empty())
        .chain(&sums)
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

#[cfg(test)]
mod tests {
    use super::*;
    use playtrace_core::budget::Metric;

    fn series(room: &str, minutes: Vec<(i64, Vec<(u64, i64)>)>) -> SeriesDeltas {
        SeriesDeltas {
            key: HistoryKey {
                metric: Metric::Arming,
                game: Some("g".into()),
                env: None,
                group: vec![None, Some(room.into()), None, None],
            },
            minutes,
        }
    }

    /// Each scope gets its all-groups series, the sum of its groups' changes, whose key reads
    /// back as an empty group; a value whose changes cancel out is left out.
    #[test]
    fn every_scope_gets_the_sum_of_its_groups() {
        let deltas = HistoryDeltas {
            series: vec![
                series("a", vec![(0, vec![(5, 1), (7, -1)])]),
                series("b", vec![(0, vec![(5, 2), (7, 1)]), (60_000, vec![(9, 1)])]),
            ],
        };
        let dims = Dimensions::default();
        let out = changes(&deltas, &dims);
        assert_eq!(out.len(), 3);
        let all = &out[2];
        assert_eq!(all.key, r#"{"*":"all","game":"g"}"#);
        assert_eq!(all.minutes, vec![(0, vec![(5, 3)]), (60_000, vec![(9, 1)])]);
        let back = key_of(all.metric, &all.key, &dims).unwrap();
        assert!(back.group.is_empty());
        assert_eq!(back.game.as_deref(), Some("g"));
        let room = key_of(out[0].metric, &out[0].key, &dims).unwrap();
        assert_eq!(room.group.get(1), Some(&Some("a".to_string())));
    }
}
