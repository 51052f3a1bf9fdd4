//! The correlation rules shared by the whole-run [`super::Correlator`] and the collector's
//! [`super::LiveContests`]: which timestamp wins, and how durations are derived. Both fold the
//! same [`crate::scan::Observation`]s through these functions, so a live contest ends with the
//! durations `playtrace monitor` reports for it.

/// Marks "no value" in compact `u32` slots.
pub(crate) const NONE: u32 = u32::MAX;

/// Where a timestamp came from; a field (`createdAt`) outranks an event's own time.
pub(crate) const FROM_TIME: u8 = 1;
pub(crate) const FROM_FIELD: u8 = 2;

/// Replaces a timestamp when the new one is at least as authoritative (later events win among
/// equals; a field beats an event time whatever the order).
pub(crate) fn update(slot: &mut f64, src: &mut u8, new: Option<f64>, new_src: u8) {
    if let Some(v) = new {
        if new_src >= *src {
            *slot = v;
            *src = new_src;
        }
    }
}

/// A field's value if present, else the event time, with its source rank.
pub(crate) fn endpoint(field: Option<f64>, time: Option<f64>) -> Option<(f64, u8)> {
    field
        .map(|v| (v, FROM_FIELD))
        .or(time.map(|v| (v, FROM_TIME)))
}

/// Fills the group values a record (or sample) does not know yet; known ones are kept.
pub(crate) fn fill_missing(group: &mut [u32; 4], from: [u32; 4]) {
    for (slot, new) in group.iter_mut().zip(from) {
        if *slot == NONE {
            *slot = new;
        }
    }
}

/// The values a contest record takes from its launched/resolved events: explicit durations and
/// participant counts, where a later non-null value wins.
pub(crate) struct Explicit<'a> {
    pub(crate) arming_ms: &'a mut f64,
    pub(crate) resolution_ms: &'a mut f64,
    pub(crate) participants: &'a mut u32,
    pub(crate) capacity: &'a mut u32,
}

impl Explicit<'_> {
    /// Takes the observation's explicit values (a later non-null value wins).
    pub(crate) fn apply(self, obs: &crate::scan::Observation) {
        if let Some(v) = obs.arming_ms() {
            *self.arming_ms = v;
        }
        if let Some(v) = obs.resolution_ms() {
            *self.resolution_ms = v;
        }
        if let Some(v) = obs.participants() {
            *self.participants = v;
        }
        if let Some(v) = obs.capacity() {
            *self.capacity = v;
        }
    }
}

/// The duration between two times, clamped at zero (clock skew), when both are known.
pub(crate) fn derive(from: f64, to: f64) -> Option<f64> {
    (!from.is_nan() && !to.is_nan()).then(|| (to - from).max(0.0))
}

/// `NaN` → `None`.
pub(crate) fn value(v: f64) -> Option<f64> {
    (!v.is_nan()).then_some(v)
}

/// Small string interner: group values and scopes are few and repeat on every event.
#[derive(Default)]
pub(crate) struct Interner {
    ids: std::collections::HashMap<Box<str>, u32>,
    strings: Vec<Box<str>>,
}

impl Interner {
    pub(crate) fn intern(&mut self, s: &str) -> u32 {
        if let Some(&id) = self.ids.get(s) {
            return id;
        }
        let id = self.strings.len() as u32;
        self.strings.push(s.into());
        self.ids.insert(s.into(), id);
        id
    }

    /// The id of `s` if it was ever interned (lookups must not grow the table).
    pub(crate) fn find(&self, s: &str) -> Option<u32> {
        self.ids.get(s).copied()
    }

    pub(crate) fn get(&self, id: u32) -> Option<&str> {
        self.strings.get(id as usize).map(|s| &**s)
    }
}
