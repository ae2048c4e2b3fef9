//! Reproducible random numbers: ChaCha8 streams keyed by a seed and a path of integers
//! (e.g. `(seed, epoch, patch index)`), so a patch's randomness does not depend on which
//! worker thread made it or when.

use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{RngCore, SeedableRng};

/// A seeded random stream.
#[derive(Debug, Clone)]
pub struct SeededRng {
    inner: ChaCha8Rng,
}

/// SplitMix64's finaliser: decorrelates neighbouring integers before they become a key.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl SeededRng {
    /// The stream of `seed`.
    pub fn new(seed: u64) -> Self {
        Self::derive(seed, &[])
    }

    /// An independent stream for `seed` and `path` (e.g. `&[epoch, index]`): equal inputs
    /// give equal streams on every platform and thread.
    pub fn derive(seed: u64, path: &[u64]) -> Self {
        let mut key = [0u8; 32];
        let mut h = mix(seed);
        let mut words = [h, 0, 0, 0];
        for (i, p) in path.iter().enumerate() {
            h = mix(h ^ mix(*p ^ (i as u64).wrapping_mul(0xA24B_AED4_963E_E407)));
            words[1 + i % 3] ^= h;
        }
        words[3] ^= mix(h ^ path.len() as u64);
        for (chunk, w) in key.chunks_exact_mut(8).zip(words) {
            chunk.copy_from_slice(&w.to_le_bytes());
        }
        SeededRng {
            inner: ChaCha8Rng::from_seed(key),
        }
    }

    /// A raw 64-bit draw (to key a child stream).
    pub fn next_u64(&mut self) -> u64 {
        self.inner.next_u64()
    }

    /// Uniform in `[0, 1)` with 53 random bits.
    pub fn unit(&mut self) -> f64 {
        (self.inner.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in `[lo, hi)` (`lo` when they are equal).
    pub fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }

    /// `true` with probability `p`.
    pub fn bernoulli(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    /// Uniform integer in `0..n` (`n ≥ 1`); Lemire's multiply-shift, bias below 2⁻³².
    pub fn below(&mut self, n: usize) -> usize {
        ((self.inner.next_u64() as u128 * n as u128) >> 64) as usize
    }

    /// Standard normal (Box–Muller; one of the pair is used, so streams stay simple).
    pub fn normal(&mut self) -> f64 {
        let u1 = 1.0 - self.unit(); // (0, 1]
        let u2 = self.unit();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_give_distinct_reproducible_streams() {
        let a: Vec<u64> = (0..4).map(|_| SeededRng::derive(1, &[0, 5]).next_u64()).collect();
        assert!(a.windows(2).all(|w| w[0] == w[1]));
        let b = SeededRng::derive(1, &[5, 0]).next_u64();
        let c = SeededRng::derive(1, &[0, 6]).next_u64();
        let d = SeededRng::derive(2, &[0, 5]).next_u64();
        assert!(a[0] != b && a[0] != c && a[0] != d && b != c);
        let mut r = SeededRng::new(3);
        let xs: Vec<f64> = (0..10_000).map(|_| r.normal()).collect();
        let mean = xs.iter().sum::<f64>() / xs.len() as f64;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / xs.len() as f64;
        assert!(mean.abs() < 0.05 && (var - 1.0).abs() < 0.05, "{mean} {var}");
        assert!((0..1000).all(|_| r.below(7) < 7));
    }
}
