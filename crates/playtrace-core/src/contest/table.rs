//! Compact storage for per-contest state: records in fixed-size chunks (no doubling copies at
//! a million contests) and hashers for keys that are already hashes.

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
