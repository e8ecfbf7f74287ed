//! Stable per-entity random streams.
//!
//! Every generated entity (account, account-region, instance, patch list, …) draws from its own
//! ChaCha8 stream seeded by the fleet seed mixed with a key naming the entity. Streams never
//! depend on the order in which entities are generated, so adding a region or lazily producing
//! one instance's patches cannot shift any other entity's values.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// FNV-1a over tagged parts, finished with splitmix64 for avalanche.
#[derive(Clone, Copy)]
pub(crate) struct Key(u64);

impl Key {
    pub(crate) fn new(seed: u64) -> Self {
        Key(0xcbf2_9ce4_8422_2325 ^ splitmix64(seed))
    }

    pub(crate) fn str(self, s: &str) -> Self {
        let mut h = self.0;
        for b in s.bytes().chain(std::iter::once(0xff)) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        Key(h)
    }

    pub(crate) fn num(self, n: u64) -> Self {
        let mut h = self.0;
        for b in n.to_le_bytes().into_iter().chain(std::iter::once(0xfe)) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        Key(h)
    }

    pub(crate) fn value(self) -> u64 {
        splitmix64(self.0)
    }

    pub(crate) fn rng(self) -> ChaCha8Rng {
        ChaCha8Rng::seed_from_u64(self.value())
    }
}

pub(crate) fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

const HEX: &[u8; 16] = b"0123456789abcdef";
const UPPER_ALNUM: &[u8; 36] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
const LOWER_ALNUM: &[u8; 36] = b"abcdefghijklmnopqrstuvwxyz0123456789";

pub(crate) fn hex(rng: &mut impl Rng, n: usize) -> String {
    (0..n)
        .map(|_| HEX[rng.random_range(0..16)] as char)
        .collect()
}

pub(crate) fn upper_alnum(rng: &mut impl Rng, n: usize) -> String {
    (0..n)
        .map(|_| UPPER_ALNUM[rng.random_range(0..36)] as char)
        .collect()
}

pub(crate) fn lower_alnum(rng: &mut impl Rng, n: usize) -> String {
    (0..n)
        .map(|_| LOWER_ALNUM[rng.random_range(0..36)] as char)
        .collect()
}

pub(crate) fn digits(rng: &mut impl Rng, n: usize) -> String {
    (0..n)
        .map(|_| char::from(b'0' + rng.random_range(0..10u8)))
        .collect()
}

/// A v4-shaped UUID string.
pub(crate) fn uuid(rng: &mut impl Rng) -> String {
    let h = hex(rng, 32);
    let variant = HEX[8 + rng.random_range(0..4)] as char;
    format!(
        "{}-{}-4{}-{}{}-{}",
        &h[0..8],
        &h[8..12],
        &h[13..16],
        variant,
        &h[17..20],
        &h[20..32]
    )
}

/// Picks an index from `weights` (need not sum to anything in particular).
pub(crate) fn weighted(rng: &mut impl Rng, weights: &[u32]) -> usize {
    let total: u32 = weights.iter().sum();
    let mut x = rng.random_range(0..total);
    for (i, w) in weights.iter().enumerate() {
        if x < *w {
            return i;
        }
        x -= w;
    }
    weights.len() - 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_stable_and_distinct() {
        let a = Key::new(42).str("inst").num(7).value();
        assert_eq!(a, Key::new(42).str("inst").num(7).value());
        assert_ne!(a, Key::new(42).str("inst").num(8).value());
        assert_ne!(a, Key::new(43).str("inst").num(7).value());
        // Separators keep ("ab","c") and ("a","bc") apart.
        assert_ne!(
            Key::new(1).str("ab").str("c").value(),
            Key::new(1).str("a").str("bc").value()
        );
    }

    #[test]
    fn uuid_shape() {
        let u = uuid(&mut Key::new(1).rng());
        assert_eq!(u.len(), 36);
        assert_eq!(u.as_bytes()[14], b'4');
    }
}
