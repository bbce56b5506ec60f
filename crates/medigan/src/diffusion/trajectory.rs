//! The denoising trajectory of one sample: besides the final sample, the predicted clean image
//! (x0) at chosen steps, decoded like the final sample (the visualiser's strip).
//!
//! The sampling is the very one of [`Generator::generate`](crate::generate::Generator): the
//! capture only copies values, so the final sample equals the one `medigan generate` writes for
//! the same seed and choices.
//!
//! Where x0 comes from: the scheduler's own prediction where it computes one (DDPM, DDIM, Euler,
//! Euler ancestral, flow matching, RFlow: [`X0Source::Scheduler`]); else (PNDM, DPM-Solver++,
//! UniPC) it is estimated from the denoiser's (guided) output at that step's timestep with the
//! package's training noise schedule, as DDPM would (`x0 = (x_t - sqrt(1 - a_t) eps) /
//! sqrt(a_t)` for an epsilon model; [`X0Source::Estimated`]). A model that predicts a flow has
//! no such schedule: there only the flow schedulers give a trajectory.

use std::sync::Arc;

use ndarray::{ArrayD, Axis};
use serde::Serialize;

use medigan_diffusion::{
    NoiseSource, SCHEDULERS, Scheduler, SchedulerConfig, TimestepSpacing, VarianceType,
    make_scheduler,
};

use super::{DiffusionGenerator, DiffusionSetup};
use crate::generate::{GenerateError, SampleRequest, StepWatch};
use crate::sample::Sample;

/// Where a trajectory frame's clean image comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum X0Source {
    /// The scheduler's own prediction of the clean sample at that step.
    Scheduler,
    /// Estimated from the denoiser's output at that step with the training noise schedule (the
    /// scheduler computes none).
    Estimated,
}

/// One frame of a trajectory: the predicted clean image after step `step`.
#[derive(Debug, Clone)]
pub struct TrajectoryFrame {
    /// The step (0-based index into the run's timesteps).
    pub step: usize,
    /// The timestep the denoiser saw at that step.
    pub timestep: f32,
    /// Where the clean image comes from.
    pub source: X0Source,
    /// The predicted clean image, decoded like the final sample (`image.shape`).
    pub image: ArrayD<f32>,
}

/// One sample and its predicted clean images at the chosen steps.
#[derive(Debug, Clone)]
pub struct Trajectory {
    /// The final sample, equal to what `generate` gives for the same request and run.
    pub sample: Sample,
    /// How many denoiser steps the run took (the scheduler's timesteps).
    pub steps: usize,
    /// The frames, in step order (no frame where no clean image is known, see `missing`).
    pub frames: Vec<TrajectoryFrame>,
    /// Why frames are missing, when they are (e.g. a flow model under a scheduler that
    /// computes no clean sample).
    pub missing: Option<String>,
}

/// `count` step indices spread evenly over `0..total`, first and last included (fewer when
/// `total < count`).
pub fn evenly_spaced(total: usize, count: usize) -> Vec<usize> {
    match (total, count) {
        (0, _) | (_, 0) => Vec::new(),
        (_, 1) => vec![total - 1],
        _ => {
            let mut steps: Vec<usize> = (0..count)
                .map(|i| ((i * (total - 1)) as f64 / (count - 1) as f64).round() as usize)
                .collect();
            steps.dedup();
            steps
        }
    }
}

/// A scheduler a package can be sampled with, and where its trajectory's clean images come from.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SchedulerChoice {
    /// The class name (what `--scheduler` takes, as do the aliases).
    pub name: String,
    /// Short names.
    pub aliases: Vec<String>,
    /// Where the trajectory's clean images come from; `None`: no trajectory.
    pub trajectory: Option<X0Source>,
}

impl DiffusionSetup {
    /// The most inference steps a run may take: the training steps (what the schedulers accept).
    pub fn max_steps(&self) -> usize {
        self.config.num_train_timesteps.unwrap_or(1000)
    }

    /// The schedulers of [`SCHEDULERS`] that can be made for this package at its default steps
    /// (a flow model takes only the flow schedulers, a MONAI config not diffusers' ...).
    pub fn scheduler_choices(&self) -> Vec<SchedulerChoice> {
        SCHEDULERS
            .iter()
            .filter_map(|(name, aliases)| {
                let scheduler = self.scheduler(Some(name), self.spec.steps).ok()?;
                // A bare diffusers name may stand for MONAI's class over a MONAI config.
                if scheduler.name() != *name {
                    return None;
                }
                Some(SchedulerChoice {
                    name: name.to_string(),
                    aliases: aliases.iter().map(|a| a.to_string()).collect(),
                    trajectory: self.x0_source(scheduler),
                })
            })
            .collect()
    }

    /// Where `scheduler`'s clean images come from: one step on zeros tells whether it predicts
    /// x0; else the estimate, where the model's prediction allows one.
    fn x0_source(&self, mut scheduler: Box<dyn Scheduler>) -> Option<X0Source> {
        let len = self.noise_len();
        let (output, mut sample) = (vec![0f32; len], vec![0f32; len]);
        let stepped = scheduler.step(0, &output, &mut sample, len, &mut ZeroNoise);
        if stepped.is_ok() && scheduler.predicted_original().is_some() {
            return Some(X0Source::Scheduler);
        }
        Estimator::new(&self.config)
            .ok()
            .map(|_| X0Source::Estimated)
    }
}

impl DiffusionGenerator {
    /// How many denoiser steps the current run takes (the scheduler's timesteps: PNDM's
    /// warm-up adds some to `steps`).
    pub fn step_count(&self) -> Result<usize, GenerateError> {
        Ok(self.scheduler()?.timesteps().len())
    }

    /// Samples `request` alone, keeping the predicted clean image after each step of `at`
    /// (0-based indices into the run's [`step_count`](Self::step_count) steps; see
    /// [`evenly_spaced`]). `watch` sees every step and may stop the sampling between steps.
    pub fn trajectory(
        &mut self,
        request: &SampleRequest,
        at: &[usize],
        watch: &dyn StepWatch,
    ) -> Result<Trajectory, GenerateError> {
        let steps = self.step_count()?;
        if let Some(bad) = at.iter().find(|&&s| s >= steps) {
            return Err(GenerateError::BadRequest {
                what: "trajectory step",
                reason: format!(
                    "step {bad} is past the run's {steps} steps (0 to {})",
                    steps.saturating_sub(1)
                ),
            });
        }
        let batch = std::slice::from_ref(request);
        let mut capture = Capture::new(Arc::clone(self.setup()), &self.run().scheduler, at);
        let latents = self.denoise(batch, watch, Some(&mut capture))?;
        let sample = self
            .finish(batch, latents)?
            .pop()
            .ok_or_else(|| GenerateError::Worker("the sampler gave no sample".into()))?;
        let mut frames = Vec::with_capacity(capture.frames.len());
        for (step, timestep, source, values) in capture.frames {
            let image = self.decode(values, 1)?.index_axis_move(Axis(0), 0);
            frames.push(TrajectoryFrame {
                step,
                timestep,
                source,
                image,
            });
        }
        Ok(Trajectory {
            sample,
            steps,
            frames,
            missing: capture.missing,
        })
    }
}

/// What the sampler keeps of the steps a trajectory wants: the predicted clean sample (latent
/// space) of one sample.
pub(super) struct Capture {
    setup: Arc<DiffusionSetup>,
    scheduler: String,
    at: Vec<usize>,
    estimator: Option<Result<Estimator, String>>,
    /// `(step, timestep, source, x0)`.
    frames: Vec<(usize, f32, X0Source, Vec<f32>)>,
    missing: Option<String>,
}

impl Capture {
    fn new(setup: Arc<DiffusionSetup>, scheduler: &str, at: &[usize]) -> Self {
        let mut at = at.to_vec();
        at.sort_unstable();
        at.dedup();
        Capture {
            setup,
            scheduler: scheduler.to_string(),
            at,
            estimator: None,
            frames: Vec::new(),
            missing: None,
        }
    }

    /// Whether step `step` is kept.
    pub(super) fn wants(&self, step: usize) -> bool {
        self.at.binary_search(&step).is_ok()
    }

    /// Keeps the clean sample of step `step`: the scheduler's (after its step), or estimated
    /// from `sample` (before the step) and the denoiser's `output`.
    pub(super) fn record(
        &mut self,
        step: usize,
        timestep: f32,
        scheduler: &dyn Scheduler,
        sample: &[f32],
        output: &[f32],
    ) {
        if let Some(x0) = scheduler.predicted_original() {
            self.frames
                .push((step, timestep, X0Source::Scheduler, x0.to_vec()));
            return;
        }
        let config = &self.setup.config;
        let estimator = self.estimator.get_or_insert_with(|| Estimator::new(config));
        let estimated = match estimator {
            Ok(estimator) => estimator.x0(timestep, sample, output),
            Err(e) => Err(e.clone()),
        };
        match estimated {
            Ok(x0) => self.frames.push((step, timestep, X0Source::Estimated, x0)),
            Err(reason) => {
                self.missing.get_or_insert_with(|| {
                    format!(
                        "{} computes no clean-image prediction, and none can be estimated: \
                         {reason}",
                        self.scheduler
                    )
                });
            }
        }
    }
}

/// x0 from a denoiser output at a training timestep: DDPM over every training step of the
/// package's schedule, stepped once on a copy (its own `x0`, clipped as the config says).
struct Estimator {
    ddpm: Box<dyn Scheduler>,
}

impl Estimator {
    fn new(config: &SchedulerConfig) -> Result<Self, String> {
        let mut config = config.clone();
        // Every training timestep, counted down from the last one.
        config.timestep_spacing = Some(TimestepSpacing::Trailing);
        config.steps_offset = Some(0);
        config.variance_type = Some(VarianceType::FixedSmall);
        let steps = config.num_train_timesteps.unwrap_or(1000);
        let ddpm =
            make_scheduler(&config, Some("DDPMScheduler"), steps).map_err(|e| e.to_string())?;
        Ok(Estimator { ddpm })
    }

    fn x0(&mut self, timestep: f32, sample: &[f32], output: &[f32]) -> Result<Vec<f32>, String> {
        let t = timestep.round();
        let index = self
            .ddpm
            .timesteps()
            .iter()
            .position(|&s| s == t)
            .ok_or_else(|| format!("timestep {timestep} is not a training timestep"))?;
        let mut copy = sample.to_vec();
        let len = copy.len();
        self.ddpm
            .step(index, output, &mut copy, len, &mut ZeroNoise)
            .map_err(|e| e.to_string())?;
        self.ddpm
            .predicted_original()
            .map(<[f32]>::to_vec)
            .ok_or_else(|| "DDPM gave no clean sample".to_string())
    }
}

/// Noise for a step whose sample is thrown away.
struct ZeroNoise;

impl NoiseSource for ZeroNoise {
    fn fill_standard_normal(&mut self, out: &mut [f32]) {
        out.fill(0.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::CatalogSettings;
    use crate::generate::{DiffusionOptions, GenerateRequest, Guidance, Unwatched};
    use crate::home::Home;
    use crate::model::Model;
    use crate::progress::NoProgress;
    use crate::runtime::BackendKind;
    use crate::{Generators, Settings};

    /// The fixture `case` (`tiny_cond`, `tiny_latent`) loaded, with its temporary home.
    fn fixture(case: &str, id: &str) -> (Model, tempfile::TempDir) {
        let home = tempfile::tempdir().unwrap();
        let catalog = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../tests/fixtures/diffusion")
            .join(case)
            .join("medigan.json");
        let generators = Generators::new(Settings {
            home: Home::new(home.path().join("home")),
            catalog: CatalogSettings {
                explicit: vec![catalog.display().to_string()],
                offline: true,
                ..Default::default()
            },
            backend: Some(BackendKind::Tract),
            verify: false,
        });
        (generators.load_model(id, &NoProgress).unwrap(), home)
    }

    /// The trajectory's final sample is the generate path's, for the same seed and choices,
    /// for a scheduler with its own x0 and ones without (estimated), stochastic ones included.
    #[test]
    fn the_trajectory_ends_in_the_sample_generate_gives() {
        for (case, id) in [
            ("tiny_cond", "00961_TINY_COND_DIFFUSION"),
            ("tiny_latent", "00962_TINY_LATENT_DIFFUSION"),
        ] {
            let (model, _home) = fixture(case, id);
            let native = model.as_native().unwrap();
            let setup = native.diffusion.clone().unwrap();
            for (scheduler, source) in [
                ("ddim", X0Source::Scheduler),
                ("ddpm", X0Source::Scheduler),
                ("euler-a", X0Source::Scheduler),
                ("pndm", X0Source::Estimated),
                ("dpm++", X0Source::Estimated),
                ("unipc", X0Source::Estimated),
            ] {
                let guided = case == "tiny_cond";
                let request = GenerateRequest {
                    num_samples: 3,
                    seed: 7,
                    batch_size: 3,
                    label: guided.then(|| "b".to_string()),
                    diffusion: DiffusionOptions {
                        steps: Some(5),
                        scheduler: Some(scheduler.into()),
                        guidance: guided.then(|| Guidance::new(2.0).unwrap()),
                        spacing: None,
                        prompt: None,
                    },
                    ..GenerateRequest::default()
                };
                let plan = model.plan(&request, None).unwrap();
                let mut generator = model.generator(&plan, Some(BackendKind::Tract), 1).unwrap();
                let generated = generator.generate(&plan.batch(0)).unwrap();
                let run = setup.resolve(&request.diffusion).unwrap();
                let mut sampler =
                    DiffusionGenerator::open(Arc::clone(&setup), run, Some(BackendKind::Tract), 1)
                        .unwrap();
                let steps = sampler.step_count().unwrap();
                let at = evenly_spaced(steps, 4);
                let trajectory = sampler
                    .trajectory(&plan.request(2), &at, &Unwatched)
                    .unwrap();
                let what = format!("{case} {scheduler}");
                assert_eq!(trajectory.sample.image, generated[2].image, "{what}");
                assert_eq!(trajectory.sample.label, generated[2].label, "{what}");
                assert_eq!(trajectory.steps, steps, "{what}");
                let frames: Vec<usize> = trajectory.frames.iter().map(|f| f.step).collect();
                assert_eq!(frames, at, "{what}: {:?}", trajectory.missing);
                for frame in &trajectory.frames {
                    assert_eq!(frame.source, source, "{what}");
                    assert_eq!(frame.image.shape(), trajectory.sample.image.shape());
                    assert!(frame.image.iter().all(|v| v.is_finite()), "{what}");
                }
                // The first frame is still far from the final sample, the last one close.
                let distance = |frame: &TrajectoryFrame| {
                    (&frame.image - &trajectory.sample.image)
                        .iter()
                        .map(|d| d.abs())
                        .sum::<f32>()
                };
                let (first, last) = (&trajectory.frames[0], trajectory.frames.last().unwrap());
                assert!(distance(last) < distance(first), "{what}");
                let choices = setup.scheduler_choices();
                let choice = choices
                    .iter()
                    .find(|c| c.aliases.iter().any(|a| a == scheduler))
                    .unwrap();
                assert_eq!(choice.trajectory, Some(source), "{what}");
            }
        }
    }

    #[test]
    fn evenly_spaced_steps_include_the_first_and_the_last() {
        assert_eq!(evenly_spaced(12, 6), vec![0, 2, 4, 7, 9, 11]);
        assert_eq!(evenly_spaced(3, 6), vec![0, 1, 2]);
        assert_eq!(evenly_spaced(50, 1), vec![49]);
        assert_eq!(evenly_spaced(0, 6), Vec::<usize>::new());
        assert_eq!(evenly_spaced(7, 0), Vec::<usize>::new());
    }
}
