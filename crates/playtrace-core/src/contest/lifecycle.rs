//! The contest lifecycle (SPEC §3), written once for the whole-run [`super::Correlator`] and the
//! collector's [`super::LiveContests`]: identity, transitions, which timestamp wins, and how
//! durations are derived. Both fold the same [`Observation`]s through this module, so a live
//! contest ends with the durations `playtrace monitor` reports for it.
//!
//! ```text
//! armed ──launched──▶ launched ──resolved──────▶ resolved
//!   │                    └──────workflowFailed──▶ failed
//!   └──expired──▶ expired
//! ```
//!
//! Identity: before launch a contest is known by `hubId:roomId:contestKey` (missing parts read
//! `unknown`; the scanner hashes it into [`Observation::arming_key`], [`pending_name`] spells it),
//! from launch on by `contestId` ([`Observation::contest`]).
//!
//! Precedence: a record's own timestamp field (`createdAt`, `startedAt`, `resolvedAt`,
//! `expiredAt`) outranks an event's time, whichever event carried it; among equals the later event
//! wins. An explicit duration (`armingDurationMs`, `resolutionDurationMs`) outranks a derived one,
//! and a later non-null explicit value replaces an earlier one.
//!
//! Layout: a caller keeps a [`Lifecycle`] (40 bytes) inline per contest, and [`Ends`] (the times
//! a duration is derived from) through an [`EndsSlot`], so the correlator can keep them in a side
//! table for the few contests that come without explicit durations.
//!
//! The public names of the states live in `lifecycle/contest_state.rs`, and the reduced form a
//! closed contest keeps once its full record leaves memory in `lifecycle/packed.rs`.

mod contest_state;
pub(crate) mod packed;

use crate::dims::Group;
use crate::event::EventKind;
use crate::scan::{Observation, ObservationBatch, UNKNOWN_PART};

pub use contest_state::ContestState;

/// Marks "no value" in compact `u32` slots (participants, interned strings).
pub(crate) const NONE: u32 = u32::MAX;

/// Where a timestamp came from, in increasing authority.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub(crate) enum Source {
    /// Not known yet.
    #[default]
    Unknown,
    /// The event's own time (`timestamp` and its dialect equivalents).
    Time,
    /// A field of the record (`createdAt`…): the game's clock, which a log writer may not share.
    Field,
}

/// A time and where it came from, before it is merged into a slot.
#[derive(Debug, Clone, Copy)]
struct Stamp {
    at: f64,
    src: Source,
}

impl Stamp {
    /// A field's value if present, else the event time.
    fn of(field: Option<f64>, time: Option<f64>) -> Option<Stamp> {
        field
            .map(|at| Stamp {
                at,
                src: Source::Field,
            })
            .or(time.map(|at| Stamp {
                at,
                src: Source::Time,
            }))
    }

    fn field(field: Option<f64>) -> Option<Stamp> {
        Self::of(field, None)
    }

    /// Replaces `slot` when this stamp is at least as authoritative (a later event wins among
    /// equals; a field beats an event time whatever the order).
    fn merge_into(self, slot: &mut f64, src: &mut Source) {
        if self.src >= *src {
            *slot = self.at;
            *src = self.src;
        }
    }
}

/// Phase bits. A contest can be several at once only as history (launched, then resolved).
mod flag {
    pub(super) const RESOLVED: u8 = 1;
    pub(super) const FAILED: u8 = 2;
    pub(super) const EXPIRED: u8 = 4;
    pub(super) const LAUNCHED: u8 = 8;
    pub(super) const ARMING: u8 = 16;
}

/// `hubId:roomId:contestKey`, the name of a contest before it has an id.
pub(crate) fn pending_name(batch: &ObservationBatch, obs: &Observation) -> String {
    let part = |span| batch.text(span).unwrap_or(UNKNOWN_PART);
    format!(
        "{}:{}:{}",
        part(obs.hub),
        part(obs.room),
        part(obs.contest_key)
    )
}

/// What an armed contest carries into its launch or expiry.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Pending {
    created: f64,
    created_src: Source,
    participants: u32,
    capacity: u32,
    /// Interned hub, room, move, type and attribute dimensions (as the caller keeps them).
    pub(crate) group: Group,
}

impl Pending {
    /// armed: creation time (`createdAt`, else the event time), participants and capacity.
    pub(crate) fn armed(obs: &Observation, group: Group) -> Pending {
        let (created, created_src) = Stamp::of(obs.created_at(), obs.time_ms())
            .map_or((f64::NAN, Source::Unknown), |s| (s.at, s.src));
        Pending {
            created,
            created_src,
            participants: obs.participants().unwrap_or(NONE),
            capacity: obs.capacity().unwrap_or(NONE),
            group,
        }
    }
}

/// The times durations are derived from when a record gives no explicit duration: creation, and
/// the end of the last phase (resolution, or expiry for an expired contest).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ends {
    created: f64,
    end: f64,
    created_src: Source,
    end_src: Source,
}

impl Default for Ends {
    fn default() -> Self {
        Ends {
            created: f64::NAN,
            end: f64::NAN,
            created_src: Source::Unknown,
            end_src: Source::Unknown,
        }
    }
}

impl Ends {
    fn created(&mut self, stamp: Option<Stamp>) {
        if let Some(s) = stamp {
            s.merge_into(&mut self.created, &mut self.created_src);
        }
    }

    fn end(&mut self, stamp: Option<Stamp>) {
        if let Some(s) = stamp {
            s.merge_into(&mut self.end, &mut self.end_src);
        }
    }

    /// Creation time, epoch ms.
    pub(crate) fn created_at(&self) -> Option<f64> {
        value(self.created)
    }
}

/// Where a contest keeps its [`Ends`]: inline, or created on first use in a side table.
pub(crate) trait EndsSlot {
    /// Keep every time, even those no duration needs (the collector shows them); when false,
    /// times are recorded only while the duration they derive is not given explicitly.
    const KEEP_ALL: bool;

    /// The contest's ends, created if it has none yet.
    fn ends(&mut self) -> &mut Ends;
}

/// Ends kept inline with every time, as the collector's contest views show them.
impl EndsSlot for &mut Ends {
    const KEEP_ALL: bool = true;

    fn ends(&mut self) -> &mut Ends {
        self
    }
}

/// One contest's lifecycle: phase, explicit durations, launch time, participants.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Lifecycle {
    arming_ms: f64,
    resolution_ms: f64,
    /// Launch time (`startedAt`, else the launched event's time): every open contest may need it
    /// to derive its resolution, so it lives here rather than in [`Ends`].
    started: f64,
    participants: u32,
    capacity: u32,
    flags: u8,
    started_src: Source,
}

impl Default for Lifecycle {
    fn default() -> Self {
        Lifecycle {
            arming_ms: f64::NAN,
            resolution_ms: f64::NAN,
            started: f64::NAN,
            participants: NONE,
            capacity: NONE,
            flags: 0,
            started_src: Source::Unknown,
        }
    }
}

impl Lifecycle {
    /// An armed contest waiting for its launch, with its ends (the creation time).
    pub(crate) fn arming(p: &Pending) -> (Lifecycle, Ends) {
        let life = Lifecycle {
            participants: p.participants,
            capacity: p.capacity,
            flags: flag::ARMING,
            ..Lifecycle::default()
        };
        let mut ends = Ends::default();
        ends.created(Some(Stamp {
            at: p.created,
            src: p.created_src,
        }));
        (life, ends)
    }

    /// What an armed contest (from [`Lifecycle::arming`]) carries into its launch or expiry.
    pub(crate) fn pending(&self, ends: &Ends, group: Group) -> Pending {
        Pending {
            created: ends.created,
            created_src: ends.created_src,
            participants: self.participants,
            capacity: self.capacity,
            group,
        }
    }

    /// armed → expired: the expired contest's lifecycle and ends (creation, expiry). Works
    /// without the armed event too (the expiry still counts, its arming unknown unless given).
    pub(crate) fn expire(pending: Option<&Pending>, obs: &Observation) -> (Lifecycle, Ends) {
        let (mut life, mut ends) = match pending {
            Some(p) => Self::arming(p),
            None => (Lifecycle::default(), Ends::default()),
        };
        life.flags = flag::EXPIRED;
        if let Some(v) = obs.arming_ms() {
            life.arming_ms = v;
        }
        if let Some(v) = obs.participants() {
            life.participants = v;
        }
        ends.created(Stamp::field(obs.created_at()));
        ends.end(Stamp::of(obs.expired_at(), obs.time_ms()));
        (life, ends)
    }

    /// One event of a launched contest (launched, resolved, workflowFailed, or any other event
    /// naming its `contestId`). `pending` is the armed contest a launch completes; `ends` is asked
    /// for only when a duration must be derived.
    pub(crate) fn on_event<E: EndsSlot>(
        &mut self,
        obs: &Observation,
        pending: Option<&Pending>,
        mut ends: E,
    ) {
        match obs.kind {
            EventKind::Launched => {
                if let Some(p) = pending {
                    if self.participants == NONE {
                        self.participants = p.participants;
                    }
                    if self.capacity == NONE {
                        self.capacity = p.capacity;
                    }
                }
                self.explicit(obs);
                self.flags |= flag::LAUNCHED;
                if let Some(s) = Stamp::of(obs.started_at(), obs.time_ms()) {
                    s.merge_into(&mut self.started, &mut self.started_src);
                }
                if E::KEEP_ALL || self.arming_ms.is_nan() {
                    if let Some(p) = pending.filter(|p| !p.created.is_nan()) {
                        ends.ends().created(Some(Stamp {
                            at: p.created,
                            src: p.created_src,
                        }));
                    }
                }
            }
            EventKind::Resolved => {
                self.flags |= flag::RESOLVED;
                self.explicit(obs);
                if E::KEEP_ALL || self.resolution_ms.is_nan() {
                    ends.ends().end(Stamp::of(obs.resolved_at(), obs.time_ms()));
                }
            }
            EventKind::WorkflowFailed => self.flags |= flag::FAILED,
            _ => {}
        }
        // Fields outrank event times on every record, whichever event carried them.
        if let Some(s) = Stamp::field(obs.started_at()) {
            s.merge_into(&mut self.started, &mut self.started_src);
        }
        if (E::KEEP_ALL || self.arming_ms.is_nan()) && obs.created_at().is_some() {
            ends.ends().created(Stamp::field(obs.created_at()));
        }
        if (E::KEEP_ALL || self.resolution_ms.is_nan()) && obs.resolved_at().is_some() {
            ends.ends().end(Stamp::field(obs.resolved_at()));
        }
    }

    /// Explicit values on launched/resolved events: a later non-null value wins.
    fn explicit(&mut self, obs: &Observation) {
        if let Some(v) = obs.arming_ms() {
            self.arming_ms = v;
        }
        if let Some(v) = obs.resolution_ms() {
            self.resolution_ms = v;
        }
        if let Some(v) = obs.participants() {
            self.participants = v;
        }
        if let Some(v) = obs.capacity() {
            self.capacity = v;
        }
    }

    /// Arming (armed → launched, or → expired for an expired contest) and resolution, explicit
    /// where a record gave them, else derived from the ends and clamped at zero (clock skew).
    pub(crate) fn durations(&self, ends: Option<&Ends>) -> (Option<f64>, Option<f64>) {
        if self.flags & flag::EXPIRED != 0 {
            let arming =
                value(self.arming_ms).or_else(|| ends.and_then(|e| derive(e.created, e.end)));
            return (arming, None);
        }
        let arming =
            value(self.arming_ms).or_else(|| ends.and_then(|e| derive(e.created, self.started)));
        let resolution = value(self.resolution_ms).or_else(|| {
            if !self.is_resolved() {
                return None;
            }
            ends.and_then(|e| derive(self.started, e.end))
        });
        (arming, resolution)
    }

    /// The state now: `launched_at` is when the launch (else the first event) arrived, on the
    /// same clock as `now_ms`.
    pub(crate) fn state(
        &self,
        launched_at: f64,
        now_ms: f64,
        unresolved_after_ms: f64,
    ) -> ContestState {
        if self.flags & flag::RESOLVED != 0 {
            ContestState::Resolved
        } else if self.flags & flag::FAILED != 0 {
            ContestState::Failed
        } else if self.flags & flag::EXPIRED != 0 {
            ContestState::Expired
        } else if self.flags & flag::ARMING != 0 {
            ContestState::Arming
        } else if now_ms - launched_at > unresolved_after_ms {
            ContestState::Unresolved
        } else {
            ContestState::Resolving
        }
    }

    /// Marks a contest whose workflow failed before any of its events was seen.
    pub(crate) fn fail(&mut self) {
        self.flags |= flag::FAILED;
    }

    pub(crate) fn is_resolved(&self) -> bool {
        self.flags & flag::RESOLVED != 0
    }

    pub(crate) fn is_failed(&self) -> bool {
        self.flags & flag::FAILED != 0
    }

    pub(crate) fn is_expired(&self) -> bool {
        self.flags & flag::EXPIRED != 0
    }

    pub(crate) fn is_arming(&self) -> bool {
        self.flags & flag::ARMING != 0
    }

    /// Resolved, failed or expired: no later event changes its state.
    pub(crate) fn is_closed(&self) -> bool {
        self.flags & (flag::RESOLVED | flag::FAILED | flag::EXPIRED) != 0
    }

    /// Participants, if any event named them.
    pub(crate) fn participants(&self) -> Option<u32> {
        (self.participants != NONE).then_some(self.participants)
    }

    /// Capacity asked for, if any event named it.
    pub(crate) fn capacity(&self) -> Option<u32> {
        (self.capacity != NONE).then_some(self.capacity)
    }

    /// Launch time, epoch ms.
    pub(crate) fn started_at(&self) -> Option<f64> {
        value(self.started)
    }

    /// Resolution (or expiry) time from the ends, split by phase for display.
    pub(crate) fn end_times(&self, ends: &Ends) -> (Option<f64>, Option<f64>) {
        let end = value(ends.end);
        if self.is_expired() {
            (None, end)
        } else {
            (end, None)
        }
    }
}

/// Fills the group values a record (or sample) does not know yet; known ones are kept.
pub(crate) fn fill_missing(group: &mut Group, from: Group) {
    for (slot, new) in group.iter_mut().zip(from) {
        if *slot == NONE {
            *slot = new;
        }
    }
}

/// The duration between two times, clamped at zero (clock skew), when both are known.
fn derive(from: f64, to: f64) -> Option<f64> {
    (!from.is_nan() && !to.is_nan()).then(|| (to - from).max(0.0))
}

/// `NaN` → `None`.
pub(crate) fn value(v: f64) -> Option<f64> {
    (!v.is_nan()).then_some(v)
}

#[cfg(test)]
#[path = "lifecycle_tests.rs"]
mod tests;
