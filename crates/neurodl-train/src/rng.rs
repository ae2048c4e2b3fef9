//! Seeds for the parts of a run. The generator is `neurodl-eval`'s SplitMix64 (the one the
//! folds are drawn with): its output is fixed by its definition, so a seed means the same
//! shuffle on every machine and in every future version.

pub use neurodl_eval::rng::SplitMix64;

/// A seed for a sub-task (a decoder, a fold, an epoch) derived from a parent seed and a path
/// of integers, so sub-tasks get independent streams that do not depend on execution order.
pub fn derive_seed(parent: u64, path: &[u64]) -> u64 {
    let mut s = parent;
    for &p in path {
        s = SplitMix64::new(s ^ p.wrapping_mul(0xD6E8_FEB8_6659_FD93)).next_u64();
    }
    s
}

/// A stable 64-bit hash of a string (FNV-1a), for deriving seeds from names.
pub fn name_hash(name: &str) -> u64 {
    name.bytes().fold(0xCBF2_9CE4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01B3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shuffle_is_a_permutation_and_seeded() {
        let mut a: Vec<u32> = (0..100).collect();
        let mut b = a.clone();
        SplitMix64::new(7).shuffle(&mut a);
        SplitMix64::new(7).shuffle(&mut b);
        assert_eq!(a, b);
        let mut sorted = a.clone();
        sorted.sort();
        assert_eq!(sorted, (0..100).collect::<Vec<_>>());
        assert_ne!(a, sorted);
        assert_ne!(derive_seed(1, &[2]), derive_seed(1, &[3]));
    }
}
