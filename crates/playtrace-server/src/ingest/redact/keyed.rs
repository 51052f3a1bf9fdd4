//! HMAC-SHA-256 with the `[privacy]` secret (hashed ids, erasure log entries), from the key's
//! two pad blocks compressed once (RFC 2104). ring computes the same tag, but per call it copies and finishes its generic digest contexts,
//! which cost more than the two SHA-256 compressions an id of up to 55 bytes needs; ingest
//! hashes every event's ids, so this is ring's answer (tested against it) without that overhead.

use sha2::block_api::compress256;

const BLOCK: usize = 64;

const IV: [u32; 8] = [
    0x6a09_e667,
    0xbb67_ae85,
    0x3c6e_f372,
    0xa54f_f53a,
    0x510e_527f,
    0x9b05_688c,
    0x1f83_d9ab,
    0x5be0_cd19,
];

/// The SHA-256 states after the key's inner and outer pad blocks.
#[derive(Clone)]
pub(crate) struct Keyed {
    inner: [u32; 8],
    outer: [u32; 8],
}

/// SHA-256 continued from `state` (which has `done` bytes compressed in) over `data`, padded
/// and finished.
fn finish(mut state: [u32; 8], done: usize, data: &[u8]) -> [u32; 8] {
    let mut chunks = data.chunks_exact(BLOCK);
    for block in &mut chunks {
        let mut b = [0u8; BLOCK];
        b.copy_from_slice(block);
        compress256(&mut state, &[b]);
    }
    let rest = chunks.remainder();
    let mut tail = [0u8; 2 * BLOCK];
    tail[..rest.len()].copy_from_slice(rest);
    tail[rest.len()] = 0x80;
    let blocks = if rest.len() < BLOCK - 8 { 1 } else { 2 };
    let bits = ((done + data.len()) as u64) * 8;
    tail[blocks * BLOCK - 8..blocks * BLOCK].copy_from_slice(&bits.to_be_bytes());
    for block in tail[..blocks * BLOCK].chunks_exact(BLOCK) {
        let mut b = [0u8; BLOCK];
        b.copy_from_slice(block);
        compress256(&mut state, &[b]);
    }
    state
}

impl Keyed {
    pub(crate) fn new(key: &[u8]) -> Keyed {
        let mut k = [0u8; BLOCK];
        if key.len() > BLOCK {
            for (out, word) in k.chunks_exact_mut(4).zip(finish(IV, 0, key)) {
                out.copy_from_slice(&word.to_be_bytes());
            }
        } else {
            k[..key.len()].copy_from_slice(key);
        }
        let pad = |byte: u8| {
            let mut state = IV;
            compress256(&mut state, &[k.map(|b| b ^ byte)]);
            state
        };
        Keyed {
            inner: pad(0x36),
            outer: pad(0x5c),
        }
    }

    /// HMAC-SHA-256(key, `data`): hashed ids keep its first 16 bytes, an erasure's log entry
    /// all 32.
    pub(crate) fn tag(&self, data: &[u8]) -> [u8; 32] {
        let inner = finish(self.inner, BLOCK, data);
        let mut digest = [0u8; 32];
        for (out, word) in digest.chunks_exact_mut(4).zip(inner) {
            out.copy_from_slice(&word.to_be_bytes());
        }
        let outer = finish(self.outer, BLOCK, &digest);
        let mut tag = [0u8; 32];
        for (out, word) in tag.chunks_exact_mut(4).zip(outer) {
            out.copy_from_slice(&word.to_be_bytes());
        }
        tag
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::hmac;

    #[test]
    fn tags_are_rings_hmac_sha256() {
        for key_len in [16, 32, 63, 64, 65, 100, 200] {
            let key: Vec<u8> = (0..key_len).map(|i| (i * 7 + 3) as u8).collect();
            let keyed = Keyed::new(&key);
            let reference = hmac::Key::new(hmac::HMAC_SHA256, &key);
            for len in 0..300 {
                let data: Vec<u8> = (0..len).map(|i| (i * 31 + len) as u8).collect();
                let want = hmac::sign(&reference, &data);
                assert_eq!(
                    keyed.tag(&data),
                    want.as_ref(),
                    "key {key_len} bytes, data {len} bytes"
                );
            }
        }
    }
}
