//! A small, dependency-free, seeded random generator for the splits.
//!
//! SplitMix64 (Steele, Lea & Flood 2014; the constants of Vigna's reference
//! implementation): a 64-bit counter advanced by the golden-ratio increment and
//! passed through a bijective mixer. It is not cryptographic; it is fast, has no
//! bad seeds, and — what matters here — gives the same stream on every platform
//! and Rust version, so a seed reproduces its folds forever. The streams differ
//! from NumPy's, so fold *membership* under shuffling differs from scikit-learn's
//! for the same seed; fold sizes and per-class counts do not depend on the
//! generator (see [`crate::split::stratified_kfold`]).

/// SplitMix64 generator.
#[derive(Clone, Debug)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    /// A generator whose stream is fixed by `seed`.
    pub fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        mix(self.state)
    }

    /// A uniform integer in `0..n` (`n > 0`), without modulo bias (Lemire's
    /// multiply-and-reject). Returns 0 for `n == 0` rather than panicking.
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            return 0;
        }
        // Values of the low word under this threshold would make some outcomes
        // one draw more likely than others; redraw them.
        let threshold = n.wrapping_neg() % n;
        loop {
            let m = u128::from(self.next_u64()) * u128::from(n);
            if (m as u64) >= threshold {
                return (m >> 64) as u64;
            }
        }
    }

    /// Fisher–Yates shuffle in place; every permutation is equally likely.
    pub fn shuffle<T>(&mut self, xs: &mut [T]) {
        for i in (1..xs.len()).rev() {
            let j = self.below(i as u64 + 1) as usize;
            xs.swap(i, j);
        }
    }
}

/// SplitMix64's output mixer (a bijection on u64).
pub(crate) fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A seed for one named group, derived from the run's seed: FNV-1a of the name,
/// mixed with the seed. Each group's shuffle then depends only on the seed and its
/// own name, not on which other groups exist or in what order they are visited.
pub(crate) fn group_seed(seed: u64, name: &str) -> u64 {
    let mut h: u64 = 0xCBF2_9CE4_8422_2325;
    for b in name.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01B3);
    }
    mix(seed ^ mix(h))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_stream() {
        // First outputs of Vigna's splitmix64.c for seed 1234567.
        let mut r = SplitMix64::new(1234567);
        let got: Vec<u64> = (0..3).map(|_| r.next_u64()).collect();
        assert_eq!(
            got,
            [6457827717110365317, 3203168211198807973, 9817491932198370423]
        );
    }

    #[test]
    fn below_is_in_range_and_covers_it() {
        let mut r = SplitMix64::new(7);
        let mut seen = [0usize; 7];
        for _ in 0..7000 {
            let v = r.below(7) as usize;
            seen[v] += 1;
        }
        // Each of the 7 outcomes expected 1000 times; 800 is > 6 sd away.
        assert!(seen.iter().all(|&c| c > 800), "{seen:?}");
        assert_eq!(r.below(0), 0);
        assert_eq!(r.below(1), 0);
    }

    #[test]
    fn shuffle_is_a_permutation_and_seeded() {
        let mut a: Vec<u32> = (0..50).collect();
        let mut b = a.clone();
        SplitMix64::new(3).shuffle(&mut a);
        SplitMix64::new(3).shuffle(&mut b);
        assert_eq!(a, b);
        assert_ne!(a, (0..50).collect::<Vec<_>>());
        let mut sorted = a.clone();
        sorted.sort();
        assert_eq!(sorted, (0..50).collect::<Vec<_>>());
    }

    #[test]
    fn group_seeds_differ() {
        assert_ne!(group_seed(0, "sub-01/ses-01"), group_seed(0, "sub-01/ses-02"));
        assert_ne!(group_seed(0, "a"), group_seed(1, "a"));
        assert_eq!(group_seed(5, "a"), group_seed(5, "a"));
    }
}
