//! Live correlation: committed events folded into the open contests and rolling budget windows,
//! and the same state rebuilt from the store at start.

use crate::ingest::Parsed;
use playtrace_core::contest::{EventMeta, LiveContests, LiveOptions};
use playtrace_core::dims::Dimensions;
use playtrace_core::scan::ObservationBatch;
use playtrace_store::{CommitOutcome, Reader, StoreError, StoredEvent};
use std::sync::Mutex;

/// Folds one committed job into the live state: duplicates are skipped so a retried batch is
/// counted once. `recv` holds per-event receive times that differ from the commit's (replayed
/// rejects keep their original one); empty for ordinary ingest.
pub(crate) fn apply_commit(
    live: &Mutex<LiveContests>,
    events: &[StoredEvent],
    observations: &ObservationBatch,
    outcome: &CommitOutcome,
    recv: Vec<Option<i64>>,
) {
    if observations.observations.is_empty() {
        return;
    }
    let mut live = live.lock().unwrap_or_else(|p| p.into_inner());
    let recv_ms = outcome.recv_ms as f64;
    live.apply(observations, |i| {
        let e = events.get(i as usize)?;
        (e.seq != 0).then(|| EventMeta {
            game: e.game(),
            env: e.env.as_deref(),
            recv_ms: recv
                .get(i as usize)
                .copied()
                .flatten()
                .map_or(recv_ms, |ms| ms as f64),
        })
    });
}

/// Replays the events that can still matter (within the longest window or `forget_after`)
/// through a new live correlation; returns it and how many events it saw. It is built apart from
/// the shared state, so requests reading that state meanwhile are not held up.
pub(crate) fn rebuild(
    reader: &Reader,
    options: LiveOptions,
    dimensions: &Dimensions,
) -> Result<(LiveContests, u64), StoreError> {
    let mut live = LiveContests::new(options).with_dimension_caps(dimensions.caps());
    let since = playtrace_store::now_ms() - live.options().horizon_ms() as i64;
    let total = reader.replay_since(since, |page| {
        let mut parsed = Parsed::default();
        parsed.observations.set_dim_attrs(dimensions.attrs());
        // Each stored body is one event; map event index → record.
        let mut owner = Vec::with_capacity(page.len());
        for (i, record) in page.iter().enumerate() {
            parsed.push_text(i as u32 + 1, &record.body);
            owner.resize(parsed.events.len(), i);
        }
        live.apply(&parsed.observations, |index| {
            let record = page.get(*owner.get(index as usize)?)?;
            Some(EventMeta {
                game: record.game(),
                env: record.env.as_deref(),
                recv_ms: crate::ingest::replay::original_recv_ms(&record.body)
                    .unwrap_or(record.recv_ms) as f64,
            })
        });
    })?;
    live.evict(playtrace_store::now_ms() as f64);
    Ok((live, total))
}
