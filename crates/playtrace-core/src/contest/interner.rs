//! Group values and scopes (hub, room, move, type, game, env) are few and repeat on every event:
//! contests keep `u32` ids instead of strings.

/// Small string interner: group values and scopes are few and repeat on every event. The map is
/// hashbrown's default (foldhash, seeded per map, so values a client sends cannot be chosen to
/// collide without the seed): SipHash on six strings per event was 5% of the live fold.
#[derive(Default)]
pub(crate) struct Interner {
    ids: hashbrown::HashMap<Box<str>, u32>,
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

    /// Distinct strings held.
    pub(crate) fn len(&self) -> usize {
        self.strings.len()
    }

    pub(crate) fn get(&self, id: u32) -> Option<&str> {
        self.strings.get(id as usize).map(|s| &**s)
    }
}
