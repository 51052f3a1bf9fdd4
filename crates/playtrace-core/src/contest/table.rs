//! Compact storage for per-contest state: records in fixed-size chunks (no doubling copies at
//! a million contests) and hashers for keys that are already hashes.

use hashbrown::HashTable;
use std::hash::{BuildHasherDefault, Hasher};

/// Records per chunk.
const CHUNK: usize = 1 << 16;

/// A vector that grows by whole chunks, so growing never copies (or briefly doubles) what it holds.
#[derive(Debug)]
pub(crate) struct ChunkedVec<T> {
    chunks: Vec<Vec<T>>,
    len: usize,
}

impl<T> Default for ChunkedVec<T> {
    fn default() -> Self {
        ChunkedVec {
            chunks: Vec::new(),
            len: 0,
        }
    }
}

impl<T> ChunkedVec<T> {
    pub(crate) fn push(&mut self, value: T) -> usize {
        if self.len % CHUNK == 0 {
            self.chunks.push(Vec::with_capacity(CHUNK));
        }
        let index = self.len;
        if let Some(last) = self.chunks.last_mut() {
            last.push(value);
        }
        self.len += 1;
        index
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn get(&self, index: usize) -> &T {
        &self.chunks[index / CHUNK][index % CHUNK]
    }

    pub(crate) fn get_mut(&mut self, index: usize) -> &mut T {
        &mut self.chunks[index / CHUNK][index % CHUNK]
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &T> {
        self.chunks.iter().flatten()
    }
}

/// Hasher for keys that are already well-mixed hashes (`u128` contest keys) or small integers
/// (record indexes, which it mixes with a multiplicative step).
#[derive(Default)]
pub(crate) struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(5) ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }
    fn write_u128(&mut self, v: u128) {
        self.0 = v as u64;
    }
    fn write_u32(&mut self, v: u32) {
        self.0 = u64::from(v).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

pub(crate) type BuildKeyHasher = BuildHasherDefault<KeyHasher>;

/// Contest key → record index, in two tables. Nearly every event is about an *open* contest
/// (armed, launched, not yet resolved), and a game has few of those at once, so they also live
/// in a small table holding the full key (no record access to compare; a few hundred KiB, so
/// it stays in L2). The full table, spread over the heap, is consulted when the small one
/// misses: for new contests and for late events about closed ones.
#[derive(Default)]
pub(crate) struct ContestIndex {
    all: HashTable<u32>,
    open: HashTable<([u64; 2], u32)>,
}

impl ContestIndex {
    /// The record index of `key`; `key_of` reads a record's key.
    pub(crate) fn find(&self, key: [u64; 2], key_of: impl Fn(u32) -> [u64; 2]) -> Option<u32> {
        if let Some(&(_, index)) = self.open.find(key[0], |(k, _)| *k == key) {
            return Some(index);
        }
        self.all.find(key[0], |&i| key_of(i) == key).copied()
    }

    /// Adds a key known to be absent, as an open contest.
    pub(crate) fn insert(&mut self, key: [u64; 2], index: u32, key_of: impl Fn(u32) -> [u64; 2]) {
        self.all.insert_unique(key[0], index, |&i| key_of(i)[0]);
        self.open.insert_unique(key[0], (key, index), |(k, _)| k[0]);
    }

    /// Marks a contest closed (resolved or failed): later events about it still find it.
    pub(crate) fn close(&mut self, key: [u64; 2]) {
        if let Ok(entry) = self.open.find_entry(key[0], |(k, _)| *k == key) {
            entry.remove();
        }
    }

    /// Makes room for `additional` more contests without rehashing.
    pub(crate) fn reserve(&mut self, additional: usize, key_of: impl Fn(u32) -> [u64; 2]) {
        self.all.reserve(additional, |&i| key_of(i)[0]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunked_vec_spans_chunks() {
        let mut v = ChunkedVec::default();
        for i in 0..(CHUNK * 2 + 3) {
            assert_eq!(v.push(i), i);
        }
        assert_eq!(v.len(), CHUNK * 2 + 3);
        assert_eq!(*v.get(CHUNK + 1), CHUNK + 1);
        *v.get_mut(CHUNK * 2) = 7;
        assert_eq!(*v.get(CHUNK * 2), 7);
        assert_eq!(v.iter().count(), CHUNK * 2 + 3);
    }
}
