//! [`Packed`]: a closed contest's lifecycle reduced to what its durations still depend on. The
//! collector keeps only this once a closed contest's full record leaves memory (see
//! `contest/live/closed.rs`); kept apart from the transitions because it is a storage format
//! (which times, which bits, how they come back), not a rule of the lifecycle. It depends on the
//! lifecycle's private fields, which is why it is a child module; the lifecycle itself never
//! uses it.

use super::{flag, Ends, Lifecycle, Source};

/// What a closed contest's durations can still be derived from, in 42 bytes: the collector keeps
/// only this (besides its window samples) once the full record has left memory, so a later event
/// for the contest recomputes its durations exactly as if nothing had been dropped. Participants
/// and capacity are not kept: no duration depends on them.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Packed {
    /// Explicit arming and resolution, launch, creation and end times (`NaN` when unknown).
    times: [f64; 5],
    flags: u8,
    /// Sources of launch, creation and end, two bits each.
    sources: u8,
}

impl Source {
    fn bits(self) -> u8 {
        self as u8
    }

    fn from_bits(bits: u8) -> Source {
        match bits & 3 {
            1 => Source::Time,
            2 => Source::Field,
            _ => Source::Unknown,
        }
    }
}

impl Lifecycle {
    /// The lifecycle and ends reduced to what durations need.
    pub(crate) fn pack(&self, ends: &Ends) -> Packed {
        Packed {
            times: [
                self.arming_ms,
                self.resolution_ms,
                self.started,
                ends.created,
                ends.end,
            ],
            flags: self.flags,
            sources: self.started_src.bits()
                | ends.created_src.bits() << 2
                | ends.end_src.bits() << 4,
        }
    }

    /// Back from [`Lifecycle::pack`]: the same durations and state, participants unknown.
    pub(crate) fn unpack(p: &Packed) -> (Lifecycle, Ends) {
        let [arming_ms, resolution_ms, started, created, end] = p.times;
        let life = Lifecycle {
            arming_ms,
            resolution_ms,
            started,
            flags: p.flags,
            started_src: Source::from_bits(p.sources),
            ..Lifecycle::default()
        };
        let ends = Ends {
            created,
            end,
            created_src: Source::from_bits(p.sources >> 2),
            end_src: Source::from_bits(p.sources >> 4),
        };
        (life, ends)
    }
}

impl Packed {
    /// The times that can still change a duration, the others `NaN`: an explicit duration
    /// outranks every time for good (only a later explicit value replaces it), so creation is not
    /// needed once arming is explicit, and no time at all once both are (or once an expired
    /// contest's arming is). Most closed contests then keep two numbers, not five.
    pub(crate) fn needed(mut self) -> Packed {
        let [arming, resolution, ..] = self.times;
        let expired = self.flags & flag::EXPIRED != 0;
        if !arming.is_nan() {
            self.times[3] = f64::NAN;
            if expired || !resolution.is_nan() {
                self.times[2] = f64::NAN;
                self.times[4] = f64::NAN;
            }
        }
        self
    }

    /// The known times in order, with a bit per slot saying which are known, plus the flags and
    /// the time sources: the parts [`Packed::from_parts`] takes back.
    pub(crate) fn parts(&self) -> (u8, [f64; 5], u8, u8) {
        let mut mask = 0u8;
        let mut known = [f64::NAN; 5];
        let mut n = 0;
        for (i, &t) in self.times.iter().enumerate() {
            if !t.is_nan() {
                mask |= 1 << i;
                known[n] = t;
                n += 1;
            }
        }
        (mask, known, self.flags, self.sources)
    }

    /// Back from [`Packed::parts`]: `known` holds the known times in slot order.
    pub(crate) fn from_parts(mask: u8, known: &[f64], flags: u8, sources: u8) -> Packed {
        let mut times = [f64::NAN; 5];
        let mut next = known.iter();
        for (i, slot) in times.iter_mut().enumerate() {
            if mask & (1 << i) != 0 {
                *slot = next.next().copied().unwrap_or(f64::NAN);
            }
        }
        Packed {
            times,
            flags,
            sources,
        }
    }
}
