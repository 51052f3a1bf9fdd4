//! The cardinality guard of the attribute dimensions (`dims.rs`): whatever values a client
//! sends, each dimension holds at most its `max_values`, and the rest are grouped as `other`.

use crate::contest::interner::Interner;
use crate::contest::lifecycle::NONE;
use crate::dims::OTHER;
use std::collections::HashMap;

/// The cardinality guard of the attribute dimensions: per dimension, the values admitted with
/// when each was last seen. A new value is admitted while fewer than `max_values` are held (a
/// value not seen for `horizon_ms` gives its place up); past that it is counted as folded and
/// grouped as `other`.
#[derive(Debug, Default)]
pub(crate) struct Cardinality {
    caps: Vec<usize>,
    held: Vec<HashMap<u32, f64>>,
    folded: Vec<u64>,
    /// Last time stale values were looked for, per dimension.
    swept: Vec<f64>,
}

impl Cardinality {
    pub(crate) fn new(caps: Vec<usize>) -> Cardinality {
        let n = caps.len();
        Cardinality {
            caps,
            held: vec![HashMap::new(); n],
            folded: vec![0; n],
            swept: vec![f64::NEG_INFINITY; n],
        }
    }

    /// Whether dimension `dim` may hold a value not held yet (making room from stale ones at most
    /// once a second). Without a cap (the dimension is not configured) anything goes.
    pub(crate) fn has_room(&mut self, dim: usize, now_ms: f64, horizon_ms: f64) -> bool {
        let Some(&cap) = self.caps.get(dim) else {
            return true;
        };
        if self.held[dim].len() < cap {
            return true;
        }
        if now_ms - self.swept[dim] >= 1000.0 {
            self.swept[dim] = now_ms;
            let floor = now_ms - horizon_ms;
            self.held[dim].retain(|_, seen| *seen >= floor);
        }
        self.held[dim].len() < cap
    }

    /// Whether `id` is held by `dim` (and marks it seen).
    pub(crate) fn holds(&mut self, dim: usize, id: u32, now_ms: f64) -> bool {
        match self.held.get_mut(dim).and_then(|h| h.get_mut(&id)) {
            Some(seen) => {
                *seen = seen.max(now_ms);
                true
            }
            None => self.caps.get(dim).is_none(),
        }
    }

    /// The interned value a contest is grouped under in attribute dimension `dim`: the value
    /// itself while the dimension holds it or has room, else `other` (counted as folded). A value
    /// that is not admitted is never interned, so memory stays bounded whatever arrives.
    pub(crate) fn value(
        &mut self,
        strings: &mut Interner,
        dim: usize,
        text: Option<&str>,
        now_ms: f64,
        horizon_ms: f64,
    ) -> u32 {
        let Some(text) = text else { return NONE };
        if let Some(id) = strings.find(text) {
            if self.holds(dim, id, now_ms) {
                return id;
            }
        }
        if self.has_room(dim, now_ms, horizon_ms) {
            let id = strings.intern(text);
            self.admit(dim, id, now_ms);
            return id;
        }
        self.fold(dim);
        strings.intern(OTHER)
    }

    pub(crate) fn admit(&mut self, dim: usize, id: u32, now_ms: f64) {
        if let Some(h) = self.held.get_mut(dim) {
            h.insert(id, now_ms);
        }
    }

    pub(crate) fn fold(&mut self, dim: usize) {
        if let Some(f) = self.folded.get_mut(dim) {
            *f += 1;
        }
    }

    /// Values folded into `other` so far, per dimension slot.
    pub(crate) fn folded(&self) -> &[u64] {
        &self.folded
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_guard_holds_at_most_its_cap_and_frees_stale_values() {
        let mut c = Cardinality::new(vec![2]);
        for id in [1, 2] {
            assert!(c.has_room(0, 0.0, 100.0));
            c.admit(0, id, 0.0);
        }
        assert!(!c.has_room(0, 50.0, 100.0));
        assert!(c.holds(0, 1, 150.0));
        // Value 2 was last seen at 0: stale at 1,150 with a 100 ms horizon; 1 was seen at 150.
        assert!(c.has_room(0, 1150.0, 1000.0));
        assert!(!c.holds(0, 2, 1150.0));
        assert!(c.holds(0, 1, 1150.0));
    }
}
