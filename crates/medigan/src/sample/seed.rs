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

fn splitmix64(value: u64) -> u64 {
    let mut z = value.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
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
