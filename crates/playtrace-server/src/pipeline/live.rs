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
    if let Some(last) = events.iter().map(|e| e.seq).max().filter(|&s| s > 0) {
        live.note_applied(last, outcome.recv_ms);
    }
}

/// Replays the events that can still matter (within the longest window or `forget_after`)
/// through a new live correlation; returns it and how many events it saw. It is built apart from
/// the shared state, so requests reading that state meanwhile are not held up.
///
/// The budget history journals the replayed count changes only for events past the store's
/// rollup mark (the rows count the others already), and the replay starts early enough to
/// cover every event past the mark, so changes lost with the last process are journaled again
/// and none is counted twice.
pub(crate) fn rebuild(
    reader: &Reader,
    options: LiveOptions,
    dimensions: &Dimensions,
) -> Result<(LiveContests, u64), StoreError> {
    let mut live = LiveContests::new(options)
        .with_dimension_caps(dimensions.caps())
        .with_history();
    let horizon = live.options().horizon_ms() as i64;
    let mark = reader.rollup_mark()?;
    let now = playtrace_store::now_ms();
    let since = match mark {
        Some(m) => (now - horizon).min(m.recv_ms - horizon),
        None => now - horizon,
    };
    let counted = mark.map_or(0, |m| m.seq);
    let total = reader.replay_since(since, |page| {
        // The page split where the rows stop counting (at most one page straddles it).
        let cut = page.partition_point(|r| r.seq <= counted);
        for (part, journal) in [(&page[..cut], false), (&page[cut..], true)] {
            if part.is_empty() {
                continue;
            }
            live.set_journaling(journal);
            apply_records(&mut live, part, dimensions);
            if let Some(last) = part.last() {
                live.note_applied(last.seq, last.recv_ms);
            }
        }
    })?;
    live.set_journaling(true);
    live.evict(playtrace_store::now_ms() as f64);
    Ok((live, total))
}

/// Folds stored events (one body each) into `live`, at their receive time.
fn apply_records(live: &mut LiveContests, page: &[StoredEvent], dimensions: &Dimensions) {
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
            recv_ms: crate::ingest::replay::original_recv_ms(&record.body).unwrap_or(record.recv_ms)
                as f64,
        })
    });
}
