//! What a run asks for (its shard is a [`crate::sample::Shard`]).

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::PathBuf;

use super::{GenerateError, Pack};
use crate::sample::Shard;

/// One generation run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenerateRequest {
    /// Samples in the whole run (all shards together).
    pub num_samples: u64,
    /// The run seed.
    pub seed: u64,
    /// Samples per inference call.
    pub batch_size: usize,
    /// Class name for conditional models; without it each sample draws a class from its seed.
    pub label: Option<String>,
    /// Input images (files or folders) for image-to-image models; sample `i` uses input
    /// `i % inputs`.
    pub inputs: Vec<PathBuf>,
    /// Run only this part of the samples.
    pub shard: Option<Shard>,
    /// CPU threads to use (default: all cores).
    pub threads: Option<usize>,
    /// Model specific options (`--set key=value`).
    pub options: BTreeMap<String, String>,
    /// What to do with an earlier run of this shard found in the output folder.
    pub mode: RunMode,
    /// Pack the samples into WebDataset tar files instead of one file per image and mask.
    pub pack: Option<Pack>,
    /// How a diffusion model samples (steps, scheduler, guidance); ignored by other models
    /// only when left at its default, refused otherwise.
    pub diffusion: DiffusionOptions,
    /// A `.npy` file of float32 `[n, *noise shape]`: row `i` is the initial noise of sample `i`
    /// of the whole run (diffusion models), instead of the noise drawn from its seed.
    pub initial_noise: Option<PathBuf>,
}

/// The most inference steps a diffusion run may ask for (`--steps`, `steps=`).
pub const MAX_STEPS: usize = 10_000;

/// The choices of a diffusion run; `None` takes the package's default.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DiffusionOptions {
    /// Inference steps.
    pub steps: Option<usize>,
    /// Scheduler: a diffusers class name (`DDIMScheduler`) or an alias (`ddim`, `dpm++`, ...).
    pub scheduler: Option<String>,
    /// Classifier-free guidance scale.
    pub guidance: Option<Guidance>,
    /// Voxel spacing in mm for a model with a spacing input (`--spacing`); `None` takes the
    /// spacing the package declares.
    pub spacing: Option<Spacing>,
    /// The prompt of a text-conditioned model (`--prompt`): one of the prompts its package
    /// declares, matched exactly; `None` takes the first.
    pub prompt: Option<String>,
}

/// A voxel spacing in mm, one positive finite number per spatial axis (compared by value).
#[derive(Debug, Clone, PartialEq)]
pub struct Spacing(Vec<f64>);

impl Eq for Spacing {}

impl Spacing {
    /// The spacing, refused unless 1 to 3 positive finite numbers.
    pub fn new(values: Vec<f64>) -> Result<Self, GenerateError> {
        if (1..=3).contains(&values.len()) && values.iter().all(|v| v.is_finite() && *v > 0.0) {
            Ok(Spacing(values))
        } else {
            Err(GenerateError::BadRequest {
                what: "spacing",
                reason: format!(
                    "{values:?}: expected 1 to 3 positive numbers (mm per spatial axis)"
                ),
            })
        }
    }

    /// Parses `1.5,1.5,2` (commas or `x` between the numbers).
    pub fn parse(text: &str) -> Result<Self, GenerateError> {
        let values = text
            .split([',', 'x'])
            .map(|v| v.trim().parse::<f64>())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| GenerateError::BadRequest {
                what: "spacing",
                reason: format!("`{text}`: {e}; expected numbers such as 1.5,1.5,2"),
            })?;
        Spacing::new(values)
    }

    /// The values, mm per spatial axis.
    pub fn values(&self) -> &[f64] {
        &self.0
    }
}

impl DiffusionOptions {
    /// Whether every choice is left to the package.
    pub fn is_default(&self) -> bool {
        self == &DiffusionOptions::default()
    }
}

/// A classifier-free guidance scale: a finite number >= 0 (compared by value).
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
pub struct Guidance(f64);

impl Eq for Guidance {}

impl Guidance {
    /// The scale, refused unless finite and >= 0.
    pub fn new(scale: f64) -> Result<Self, GenerateError> {
        if scale.is_finite() && scale >= 0.0 {
            Ok(Guidance(scale))
        } else {
            Err(GenerateError::BadRequest {
                what: "guidance",
                reason: format!("{scale}: expected a number >= 0 (1 means no guidance)"),
            })
        }
    }

    /// The scale.
    pub fn value(self) -> f64 {
        self.0
    }
}

/// What a run does with an earlier run (finished or interrupted) of the same shard in its
/// output folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RunMode {
    /// Refuse to touch an earlier run's files (the default): the error says to pass
    /// `--resume` or `--overwrite`. A folder without one is written as usual.
    #[default]
    Fresh,
    /// Keep the files the earlier run's journal (or manifest) vouches for by sha256 and
    /// generate only the rest; the manifest ends as an uninterrupted run writes it. Without an
    /// earlier run, the same as [`RunMode::Fresh`], so it is safe to pass every time.
    Resume,
    /// Discard the earlier run first (its manifest, journal and the files they list), then
    /// write the folder afresh.
    Overwrite,
}

impl Default for GenerateRequest {
    fn default() -> Self {
        GenerateRequest {
            num_samples: 1,
            seed: 0,
            batch_size: 16,
            label: None,
            inputs: Vec::new(),
            shard: None,
            threads: None,
            options: BTreeMap::new(),
            mode: RunMode::Fresh,
            pack: None,
            diffusion: DiffusionOptions::default(),
            initial_noise: None,
        }
    }
}

impl GenerateRequest {
    /// The sample indices this run (or shard) produces.
    pub fn indices(&self) -> Range<u64> {
        match self.shard {
            Some(shard) => shard.range(self.num_samples),
            None => 0..self.num_samples,
        }
    }

    /// Rejects a zero batch size or thread count, a shard that is not `K/N` with
    /// `1 <= K <= N` (the fields of [`Shard`] are public, so it may not come from parsing), and
    /// a packing whose tars a shard would cut ([`Pack::check`]).
    pub fn check(&self) -> Result<(), GenerateError> {
        if let Some(shard) = self.shard.filter(|s| !s.is_valid()) {
            return Err(GenerateError::BadShard {
                value: shard.to_string(),
            });
        }
        if self.num_samples == 0 {
            return Err(GenerateError::BadRequest {
                what: "number of samples",
                reason: "it must be at least 1 (a run of 0 samples would publish an empty \
                         manifest)"
                    .into(),
            });
        }
        if self.batch_size == 0 {
            return Err(GenerateError::BadRequest {
                what: "batch size",
                reason: "it must be at least 1".into(),
            });
        }
        if self.threads == Some(0) {
            return Err(GenerateError::BadRequest {
                what: "thread count",
                reason: "it must be at least 1".into(),
            });
        }
        if let Some(pack) = self.pack {
            pack.check(self.num_samples, self.shard)?;
        }
        if let Some(steps) = self
            .diffusion
            .steps
            .filter(|s| !(1..=MAX_STEPS).contains(s))
        {
            return Err(GenerateError::BadRequest {
                what: "number of steps",
                reason: format!("{steps} is not in 1..={MAX_STEPS}"),
            });
        }
        let max_threads = crate::limits::max_threads();
        if let Some(threads) = self.threads.filter(|&t| t > max_threads) {
            return Err(GenerateError::TooManyThreads {
                threads,
                max: max_threads,
                cores: crate::limits::cores(),
            });
        }
        Ok(())
    }

    /// Threads to use: the request's, else every core.
    pub fn thread_count(&self) -> usize {
        self.threads.unwrap_or_else(|| {
            std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_outside_their_bound_are_refused_for_every_front_end() {
        let with_steps = |steps| GenerateRequest {
            diffusion: DiffusionOptions {
                steps: Some(steps),
                ..Default::default()
            },
            ..Default::default()
        };
        assert!(with_steps(1).check().is_ok());
        assert!(with_steps(MAX_STEPS).check().is_ok());
        for bad in [0, MAX_STEPS + 1] {
            let err = with_steps(bad).check().unwrap_err().to_string();
            assert!(err.starts_with("invalid number of steps"), "{err}");
        }
    }
}
