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
    hotspots: HashMap<(Option<String>, Option<String>), SentimentTotals>,
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

fn add(totals: &mut SentimentTotals, label: &str) {
    match label {
        "positive" => totals.positive += 1,
        "neutral" => totals.neutral += 1,
        "negative" => totals.negative += 1,
        _ => totals.other += 1,
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
        self.samples += 1;
        add(&mut self.totals, &label);
        if let Some(phase) = &phase {
            *self.phases.entry(phase.clone()).or_default() += 1;
        }
        if let Some(remaining) = s.remaining_cooldown_ms.filter(|r| *r > 0.0) {
            self.cooldown.active_samples += 1;
            if label == "negative" {
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
        let (hub, room) = (text(s.hub), text(s.room));
        add(
            self.hotspots
                .entry((hub.clone(), room.clone()))
                .or_default(),
            &label,
        );

        let ranked = Ranked {
            issued_at: s.issued_at.unwrap_or(0.0),
            seq: self.seq,
            sample: SentimentSample {
                hub_id: hub,
                room_id: room,
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
        self.seq += 1;
        if self.latest.len() < LATEST {
            self.latest.push(Reverse(ranked));
        } else if self
            .latest
            .peek()
            .is_some_and(|Reverse(oldest)| ranked > *oldest)
        {
            self.latest.pop();
            self.latest.push(Reverse(ranked));
        }
    }

    pub(crate) fn finish(self) -> SentimentSummary {
        let mut hotspots: Vec<Hotspot> = self
            .hotspots
            .into_iter()
            .map(|((hub_id, room_id), totals)| Hotspot {
                hub_id,
                room_id,
                totals,
            })
            .collect();
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
