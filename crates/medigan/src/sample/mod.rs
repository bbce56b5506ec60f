//! Samples and their randomness: what a generator returns, and how each sample's inputs are
//! drawn from its own seed.
//!
//! Sample `i` of a run with seed `s` draws everything random from [`sample_seed`]`(s, i)`, so
//! the same sample comes out whatever the batch size, thread count or sharding.

mod seed;
mod shard;

use ndarray::ArrayD;

pub use seed::{SampleRng, sample_seed, sibling_seed};
pub use shard::{BadShard, MAX_SHARDS, Shard};

/// One generated sample.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Index of the sample in its run (0-based).
    pub index: u64,
    /// The seed its inputs were drawn from.
    pub seed: u64,
    /// The image: `[C, H, W]`, or `[C, D, H, W]` for volumes, in the model's value range.
    pub image: ArrayD<f32>,
    /// The mask belonging to the image, for image+mask models.
    pub mask: Option<ArrayD<f32>>,
    /// The class the sample was conditioned on, for conditional models.
    pub label: Option<String>,
}

impl Sample {
    /// Whether the sample is a volume (`[C, D, H, W]`).
    pub fn is_volume(&self) -> bool {
        self.image.ndim() == 4
    }
}
