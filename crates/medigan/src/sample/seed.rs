//! Per-sample seeds and the random streams drawn from them.
//!
//! `sample_seed(run_seed, index)` mixes both numbers with SplitMix64's finaliser, a bijective
//! avalanche function, so neighbouring indices give unrelated seeds. The stream of a sample is
//! ChaCha8 seeded with that value; normal values come from `rand_distr::StandardNormal`.
//! Changing any of these changes every sample, so they are fixed for the life of the format
//! (the manifest records the tool version).

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;

use crate::catalog::Distribution;

/// The seed of sample `index` in a run seeded with `run_seed`.
pub fn sample_seed(run_seed: u64, index: u64) -> u64 {
    splitmix64(splitmix64(run_seed) ^ index.wrapping_mul(0x9E37_79B9_7F4A_7C15))
}

/// The seed of sample `other` of the run in which sample `index` has `seed`: what
/// `sample_seed(run_seed, other)` gives, computed without knowing `run_seed` (both mixing steps
/// are bijective, so `seed` and `index` determine the run's mixed seed). The legacy bridge uses
/// it to fill a block of samples around the ones it was asked for.
pub fn sibling_seed(seed: u64, index: u64, other: u64) -> u64 {
    let mixed_run_seed = unsplitmix64(seed) ^ index.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    splitmix64(mixed_run_seed ^ other.wrapping_mul(0x9E37_79B9_7F4A_7C15))
}

fn splitmix64(value: u64) -> u64 {
    let mut z = value.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The inverse of [`splitmix64`]: each xorshift undone by repeating it, each product by the
/// multiplicative inverse of its odd constant modulo 2^64.
fn unsplitmix64(value: u64) -> u64 {
    let mut z = value ^ (value >> 31) ^ (value >> 62);
    z = z.wrapping_mul(inverse_mod_2_64(0x94D0_49BB_1331_11EB));
    z = z ^ (z >> 27) ^ (z >> 54);
    z = z.wrapping_mul(inverse_mod_2_64(0xBF58_476D_1CE4_E5B9));
    z = z ^ (z >> 30) ^ (z >> 60);
    z.wrapping_sub(0x9E37_79B9_7F4A_7C15)
}

/// The inverse of an odd number modulo 2^64 (Newton's iteration doubles the correct bits).
const fn inverse_mod_2_64(odd: u64) -> u64 {
    let mut x = odd; // correct to 3 bits for any odd number
    let mut i = 0;
    while i < 5 {
        x = x.wrapping_mul(2u64.wrapping_sub(odd.wrapping_mul(x)));
        i += 1;
    }
    x
}

/// The random stream of one sample.
#[derive(Debug, Clone)]
pub struct SampleRng(ChaCha8Rng);

impl SampleRng {
    /// The stream of the sample with this seed.
    pub fn new(seed: u64) -> Self {
        SampleRng(ChaCha8Rng::seed_from_u64(seed))
    }

    /// Draws `len` values from `distribution`; a normal draw with `truncation` redraws values
    /// whose magnitude exceeds it.
    pub fn draw(
        &mut self,
        len: usize,
        distribution: Distribution,
        truncation: Option<f64>,
    ) -> Vec<f32> {
        (0..len)
            .map(|_| self.value(distribution, truncation))
            .collect()
    }

    fn value(&mut self, distribution: Distribution, truncation: Option<f64>) -> f32 {
        match distribution {
            Distribution::Uniform => self.0.random_range(-1.0f32..1.0),
            Distribution::Normal => loop {
                let x: f64 = self.0.sample(StandardNormal);
                if truncation.is_none_or(|t| t <= 0.0 || x.abs() <= t) {
                    break x as f32;
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_depend_on_run_seed_and_index() {
        assert_ne!(sample_seed(0, 0), sample_seed(0, 1));
        assert_ne!(sample_seed(0, 1), sample_seed(1, 0));
        assert_eq!(sample_seed(42, 7), sample_seed(42, 7));
    }

    #[test]
    fn sibling_seeds_are_the_seeds_of_the_same_run() {
        for (run, index, other) in [(0, 0, 1), (3, 17, 16), (u64::MAX, 5, 0), (42, 1 << 40, 7)] {
            let seed = sample_seed(run, index);
            assert_eq!(sibling_seed(seed, index, other), sample_seed(run, other));
            assert_eq!(sibling_seed(seed, index, index), seed);
        }
        for value in [0, 1, 0xDEAD_BEEF, u64::MAX] {
            assert_eq!(unsplitmix64(splitmix64(value)), value);
        }
    }

    #[test]
    fn a_stream_is_reproducible() {
        let a = SampleRng::new(5).draw(16, Distribution::Normal, None);
        let b = SampleRng::new(5).draw(16, Distribution::Normal, None);
        assert_eq!(a, b);
        assert_ne!(a, SampleRng::new(6).draw(16, Distribution::Normal, None));
    }

    #[test]
    fn truncation_bounds_the_values() {
        let values = SampleRng::new(1).draw(10_000, Distribution::Normal, Some(0.5));
        assert!(values.iter().all(|v| v.abs() <= 0.5));
        let uniform = SampleRng::new(1).draw(10_000, Distribution::Uniform, None);
        assert!(uniform.iter().all(|v| (-1.0..1.0).contains(v)));
    }
}
