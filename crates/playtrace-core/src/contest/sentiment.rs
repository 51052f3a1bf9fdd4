//! Player sentiment around contests: totals, phases, cooldown frustration, hotspots and the
//! newest samples — with memory bounded by the number of hub/room pairs, not of samples.

use crate::num::Num;
use crate::scan::{ObservationBatch, SentimentObservation};
use crate::summary::{
    CooldownSummary, Hotspot, SentimentSample, SentimentSummary, SentimentTotals,
};
use crate::time::format_rfc3339_ms;
use std::cmp::{Ordering, Reverse};
use std::collections::{BTreeMap, BinaryHeap, HashMap};

/// How many newest samples the summary lists.
const LATEST: usize = 25;
/// How many hotspots the summary lists.
const HOTSPOTS: usize = 10;

#[derive(Default)]
pub(crate) struct SentimentStats {
    samples: u64,
    totals: SentimentTotals,
    phases: BTreeMap<String, u64>,
    cooldown: CooldownSummary,
    /// Hotspots by a key built from hub and room (see `place_key`), found without allocating.
    hotspots: HashMap<String, Hotspot>,
    scratch: String,
    /// Min-heap of the newest samples, so the oldest of them is evicted first.
    latest: BinaryHeap<Reverse<Ranked>>,
    seq: u64,
}

/// A sample ranked newest first; among equal times, earlier input ranks higher.
struct Ranked {
    issued_at: f64,
    seq: u64,
    sample: SentimentSample,
}

impl Ranked {
    fn cmp_key(&self, other: &Self) -> Ordering {
        self.issued_at
            .total_cmp(&other.issued_at)
            .then(other.seq.cmp(&self.seq))
    }
}

impl PartialEq for Ranked {
    fn eq(&self, other: &Self) -> bool {
        self.cmp_key(other) == Ordering::Equal
    }
}
impl Eq for Ranked {}
impl PartialOrd for Ranked {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Ranked {
    fn cmp(&self, other: &Self) -> Ordering {
        self.cmp_key(other)
    }
}

/// A map key for a hub/room pair: each part length-prefixed (or `-` when absent), so no two
/// pairs share a key whatever their text.
fn place_key(key: &mut String, hub: Option<&str>, room: Option<&str>) {
    use std::fmt::Write;
    key.clear();
    for part in [hub, room] {
        match part {
            Some(text) => {
                let _ = write!(key, "{}:{text}", text.len());
            }
            None => key.push('-'),
        }
    }
}

/// The labels the totals count separately; anything else counts as `other`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Label {
    Positive,
    Neutral,
    Negative,
    Other,
}

impl Label {
    /// Reads an already lower-cased label.
    fn of(label: &str) -> Label {
        match label {
            "positive" => Label::Positive,
            "neutral" => Label::Neutral,
            "negative" => Label::Negative,
            _ => Label::Other,
        }
    }
}

fn add(totals: &mut SentimentTotals, label: Label) {
    match label {
        Label::Positive => totals.positive += 1,
        Label::Neutral => totals.neutral += 1,
        Label::Negative => totals.negative += 1,
        Label::Other => totals.other += 1,
    }
    totals.total += 1;
}

impl SentimentStats {
    pub(crate) fn add(&mut self, batch: &ObservationBatch, s: &SentimentObservation) {
        let text = |span| batch.text(span).map(str::to_owned);
        // The old monitor's rules: labels and phases are lower-cased; a missing label is "unknown".
        let label = batch
            .text(s.sentiment)
            .map_or_else(|| "unknown".to_string(), str::to_lowercase);
        let phase = batch.text(s.phase).map(str::to_lowercase);
        let kind = Label::of(&label);
        self.samples += 1;
        add(&mut self.totals, kind);
        if let Some(phase) = &phase {
            *self.phases.entry(phase.clone()).or_default() += 1;
        }
        if let Some(remaining) = s.remaining_cooldown_ms.filter(|r| *r > 0.0) {
            self.cooldown.active_samples += 1;
            if kind == Label::Negative {
                self.cooldown.negative_during_cooldown += 1;
            }
            if self
                .cooldown
                .max_remaining_cooldown_ms
                .is_none_or(|m| remaining > m.0)
            {
                self.cooldown.max_remaining_cooldown_ms = Some(Num(remaining));
            }
        }
        let (hub, room) = (batch.text(s.hub), batch.text(s.room));
        place_key(&mut self.scratch, hub, room);
        match self.hotspots.get_mut(self.scratch.as_str()) {
            Some(hotspot) => add(&mut hotspot.totals, kind),
            None => {
                let mut hotspot = Hotspot {
                    hub_id: hub.map(str::to_owned),
                    room_id: room.map(str::to_owned),
                    totals: SentimentTotals::default(),
                };
                add(&mut hotspot.totals, kind);
                self.hotspots.insert(self.scratch.clone(), hotspot);
            }
        }

        // Build the sample only if it ranks among the newest.
        let issued_at = s.issued_at.unwrap_or(0.0);
        let seq = self.seq;
        self.seq += 1;
        let newer_than_oldest = self.latest.peek().is_none_or(|Reverse(oldest)| {
            issued_at
                .total_cmp(&oldest.issued_at)
                .then(oldest.seq.cmp(&seq))
                == Ordering::Greater
        });
        if self.latest.len() >= LATEST && !newer_than_oldest {
            return;
        }
        let ranked = Ranked {
            issued_at,
            seq,
            sample: SentimentSample {
                hub_id: hub.map(str::to_owned),
                room_id: room.map(str::to_owned),
                contest_id: text(s.contest_id),
                contest_key: text(s.contest_key),
                actor_id: text(s.actor),
                sentiment: Some(label),
                tone: text(s.tone),
                phase,
                remaining_cooldown_ms: s.remaining_cooldown_ms.map(Num),
                cooldown_ms: s.cooldown_ms.map(Num),
                message_length: s.message_length.map(Num),
                issued_at: s.issued_at.map(Num),
                issued_at_iso: s.issued_at.and_then(format_rfc3339_ms),
            },
        };
        if self.latest.len() >= LATEST {
            self.latest.pop();
        }
        self.latest.push(Reverse(ranked));
    }

    pub(crate) fn finish(self) -> SentimentSummary {
        let mut hotspots: Vec<Hotspot> = self.hotspots.into_values().collect();
        let place = |h: &Hotspot| {
            format!(
                "{}{}",
                h.hub_id.as_deref().unwrap_or(""),
                h.room_id.as_deref().unwrap_or("")
            )
        };
        hotspots.sort_by(|a, b| {
            b.totals
                .negative
                .cmp(&a.totals.negative)
                .then(b.totals.total.cmp(&a.totals.total))
                .then_with(|| place(a).cmp(&place(b)))
                .then_with(|| (&a.hub_id, &a.room_id).cmp(&(&b.hub_id, &b.room_id)))
        });
        hotspots.truncate(HOTSPOTS);
        let mut latest: Vec<Ranked> = self.latest.into_iter().map(|Reverse(r)| r).collect();
        latest.sort_by(|a, b| b.cmp(a));
        SentimentSummary {
            samples: self.samples,
            totals: self.totals,
            phase_counts: self.phases,
            cooldown: self.cooldown,
            hotspots,
            latest: latest.into_iter().map(|r| r.sample).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::place_key;

    #[test]
    fn place_keys_never_collide() {
        let mut keys = std::collections::HashSet::new();
        for (hub, room) in [
            (Some("a"), Some("b")),
            (Some("a1:b"), None),
            (Some("a"), None),
            (None, Some("a")),
            (None, None),
            (Some(""), None),
            (Some("a\u{0}-"), None),
        ] {
            let mut key = String::new();
            place_key(&mut key, hub, room);
            assert!(keys.insert(key), "{hub:?} {room:?}");
        }
    }
}
