//! Generation: batching, sharding, the bounded write pipeline, in-memory and streaming use.
//!
//! A run is a [`GenerateRequest`] (how many samples, seed, batch size, shard, label, inputs).
//! Sample `i` is computed from its own seed ([`crate::sample::sample_seed`]), its class and its
//! input image only, so batches, threads and shards never change what a sample looks like.
//!
//! Runs into a folder are resumable and exclusive per shard: see [`journal`] for the journal
//! format and `folder.rs` for the lock, [`RunMode`] and how shards share a folder; `pack.rs` for
//! WebDataset tar output ([`Pack`]).

mod error;
mod folder;
mod inputs;
pub mod journal;
mod native_generator;
mod packed_run;
mod pipeline;
mod request;
mod run;
mod sample_stream;
pub mod shard_env;
mod tar_layout;
mod tar_packer;
mod target;

use std::sync::Arc;

use ndarray::ArrayD;

pub use crate::sample::Shard;
pub use error::GenerateError;
pub use inputs::{expand_inputs, load_input_image};
pub use native_generator::{OnnxGenerator, SampleConditioning, seeded_latent};
pub use packed_run::{MAX_SAMPLES_PER_CALL, PackedRun, PackedSample, SampleEntry};
pub use pipeline::{RunSummary, write_run};
pub use request::{DiffusionOptions, GenerateRequest, Guidance, MAX_STEPS, RunMode, Spacing};
pub use run::{DirRun, run_to_dir};
pub use sample_stream::{GeneratedSamples, SampleStream};
pub use shard_env::{
    ResolvedShard, ShardChoice, ShardOrigin, ShardRequest, shard_from_environment,
};
pub use tar_layout::{Pack, TAR_NAME_DIGITS};
pub use target::WriteTarget;

use crate::sample::Sample;

/// What one sample of a batch needs: its index, seed, class and input image.
#[derive(Debug, Clone)]
pub struct SampleRequest {
    /// Index in the run.
    pub index: u64,
    /// The sample's own seed.
    pub seed: u64,
    /// Class index for conditional models.
    pub class: Option<usize>,
    /// Input image for image-to-image models, `[C, H, W]` in the model's input range.
    pub input: Option<Arc<ArrayD<f32>>>,
    /// A latent given instead of the one drawn from the seed (a saved latent regenerated, a
    /// visualiser's slider position); the sample's other inputs still come from its seed.
    pub latent: Option<Arc<Vec<f32>>>,
}

/// A loaded generator: turns sample requests into samples.
pub trait Generator: Send {
    /// Generates one batch; the samples come back in request order.
    fn generate(&mut self, batch: &[SampleRequest]) -> Result<Vec<Sample>, GenerateError>;

    /// Generates one batch, reporting each step to `watch` and stopping with
    /// [`GenerateError::Cancelled`] between steps when it says so. Generators that work in
    /// one pass (the default) just generate.
    fn generate_watched(
        &mut self,
        batch: &[SampleRequest],
        watch: &dyn StepWatch,
    ) -> Result<Vec<Sample>, GenerateError> {
        let _ = watch;
        self.generate(batch)
    }

    /// What the generator has to tell the user since it was last asked (e.g. that tract
    /// stands in for onnxruntime, that an output held NaN values, that a package ignores the
    /// latent), each once; the run hands them back in [`RunSummary::notes`].
    fn take_notes(&mut self) -> Vec<String> {
        Vec::new()
    }
}

/// What a run tells a generator that takes many steps per batch (a diffusion sampler).
pub trait StepWatch: Sync {
    /// Step `done` of `total` of the current batch finished.
    fn step(&self, done: usize, total: usize);
    /// Whether the run is stopping (Ctrl-C, another worker failed).
    fn should_stop(&self) -> bool;
}

/// A watch that shows nothing and never stops.
#[derive(Debug, Default, Clone, Copy)]
pub struct Unwatched;

impl StepWatch for Unwatched {
    fn step(&self, _done: usize, _total: usize) {}
    fn should_stop(&self) -> bool {
        false
    }
}

/// Makes one generator per worker thread.
pub type GeneratorFactory<'a> = dyn Fn() -> Result<Box<dyn Generator>, GenerateError> + Sync + 'a;
