//! Diffusion schedulers: the step rules of diffusers and MONAI in plain Rust.
//!
//! A scheduler is made from a diffusers `scheduler_config.json` read unchanged (its `_class_name`
//! and fields, see [`SchedulerConfig`]) and a number of inference steps. It then tells the
//! sampler which timesteps to feed the denoiser ([`Scheduler::timesteps`]), how to scale the
//! initial noise and the denoiser's input, and advances the sample one step at a time from the
//! denoiser's (already guided) output ([`Scheduler::step`]).
//!
//! The crate is pure arithmetic over `f32` buffers: no I/O, no model runtime, no randomness of
//! its own. Stochastic schedulers take their noise from a [`NoiseSource`] that the caller fills
//! from each sample's own seed, so a sample does not depend on the batch it is computed in.
//!
//! A buffer holds a whole batch: `batch * sample_len` values, sample after sample. Every rule
//! here is elementwise, except thresholding, which works per sample (hence `sample_len`).

mod config;
mod ddim;
mod ddpm;
mod dpmpp;
mod error;
mod euler;
mod euler_a;
mod flow_match;
mod pndm;
mod rflow;
mod schedule;
mod unipc;

pub use config::{
    AlgorithmType, BetaSchedule, FinalSigmasType, MonaiSchedule, PredictionType, SchedulerConfig,
    SolverType, TimestepSpacing, VarianceType,
};
pub use error::SchedulerError;

/// Where stochastic schedulers get their noise: standard normal values, drawn per sample from
/// that sample's seed (the caller keeps one stream per sample, advanced in step order).
pub trait NoiseSource {
    /// Fills `out` (a whole batch, `batch * sample_len` values) with standard normal draws.
    fn fill_standard_normal(&mut self, out: &mut [f32]);
}

/// One sampling run's schedule and state, for one batch.
///
/// Made by [`make_scheduler`] for a given number of steps; used as: `init_noise_sigma` scales the
/// drawn noise, then for each `i` in `0..timesteps().len()`: the denoiser sees
/// `scale_model_input(i, sample)` and `timesteps()[i]`, and `step(i, output, sample, noise)`
/// advances `sample` in place.
pub trait Scheduler: Send {
    /// The class name (`_class_name`) of the diffusers / MONAI scheduler this one reproduces.
    fn name(&self) -> &'static str;

    /// The timestep fed to the denoiser at each step, in order. Discrete schedulers give whole
    /// numbers; the sampler casts to the denoiser's input type (int64 or float32).
    fn timesteps(&self) -> &[f32];

    /// Factor the initial standard-normal noise is multiplied by (1 for most; sigma_max for the
    /// Euler family).
    fn init_noise_sigma(&self) -> f32 {
        1.0
    }

    /// The denoiser's input at step `step` made from `sample` (identity for most schedulers;
    /// the Euler family divides by `sqrt(sigma^2 + 1)`).
    fn scale_model_input(&self, step: usize, sample: &[f32], out: &mut [f32]) {
        let _ = step;
        out.copy_from_slice(sample);
    }

    /// Advances `sample` (one batch, `sample_len` values per sample) by step `step`, given the
    /// denoiser's output for it. Stochastic schedulers draw from `noise`.
    fn step(
        &mut self,
        step: usize,
        model_output: &[f32],
        sample: &mut [f32],
        sample_len: usize,
        noise: &mut dyn NoiseSource,
    ) -> Result<(), SchedulerError>;

    /// The clean sample predicted at the last step (x0), where the scheduler computes one:
    /// the trajectory strip of the visualiser shows it.
    fn predicted_original(&self) -> Option<&[f32]> {
        None
    }

    /// Tells the scheduler the shape of one sample (`noise.shape`: `[C, *spatial]`), before the
    /// first step. Only schedulers whose timesteps depend on the resolution use it (MONAI's
    /// `RFlowScheduler` with `use_timestep_transform`, from the product of the spatial
    /// dimensions); [`Scheduler::timesteps`] may change. The default does nothing.
    fn set_sample_shape(&mut self, shape: &[usize]) -> Result<(), SchedulerError> {
        let _ = shape;
        Ok(())
    }
}

/// The scheduler classes this crate reproduces: `(class name, aliases)`.
///
/// A bare class name (`DDPMScheduler`) is diffusers' class, unless the config is MONAI's (its
/// `_target_` names a `monai.` class, or it has MONAI's `schedule` field and no `_class_name`).
/// A MONAI class is named in full (`monai.networks.schedulers.DDPMScheduler`, as a MONAI
/// bundle's `_target_` writes it) or by a `monai-` alias. Matching ignores case.
pub const SCHEDULERS: &[(&str, &[&str])] = &[
    ("DDPMScheduler", &["ddpm"]),
    ("DDIMScheduler", &["ddim"]),
    ("PNDMScheduler", &["pndm", "plms"]),
    ("EulerDiscreteScheduler", &["euler"]),
    (
        "EulerAncestralDiscreteScheduler",
        &["euler-a", "euler_a", "euler-ancestral"],
    ),
    (
        "DPMSolverMultistepScheduler",
        &["dpm++", "dpmpp", "dpm-solver++", "dpmsolver++"],
    ),
    ("UniPCMultistepScheduler", &["unipc"]),
    (
        "FlowMatchEulerDiscreteScheduler",
        &["flow-match", "flow_match", "flowmatch"],
    ),
    ("monai.networks.schedulers.DDPMScheduler", &["monai-ddpm"]),
    ("monai.networks.schedulers.DDIMScheduler", &["monai-ddim"]),
    ("monai.networks.schedulers.PNDMScheduler", &["monai-pndm"]),
    (
        "monai.networks.schedulers.RFlowScheduler",
        &["rflow", "RFlowScheduler", "monai-rflow"],
    ),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    Ddpm,
    Ddim,
    Pndm,
    Euler,
    EulerAncestral,
    DpmSolver,
    UniPc,
    FlowMatch,
    MonaiDdpm,
    MonaiDdim,
    MonaiPndm,
    RFlow,
}

const CLASSES: [Class; 12] = [
    Class::Ddpm,
    Class::Ddim,
    Class::Pndm,
    Class::Euler,
    Class::EulerAncestral,
    Class::DpmSolver,
    Class::UniPc,
    Class::FlowMatch,
    Class::MonaiDdpm,
    Class::MonaiDdim,
    Class::MonaiPndm,
    Class::RFlow,
];

fn resolve(name: &str, config: &SchedulerConfig) -> Result<Class, SchedulerError> {
    let wanted = name.trim();
    let monai_config = config
        .target
        .as_deref()
        .is_some_and(|t| t.trim().to_ascii_lowercase().starts_with("monai."))
        || (config.class_name.is_none() && config.schedule.is_some());
    for (class, (full, aliases)) in CLASSES.iter().zip(SCHEDULERS) {
        let hit = full.eq_ignore_ascii_case(wanted)
            || aliases.iter().any(|a| a.eq_ignore_ascii_case(wanted));
        if hit {
            let monai_twin = match class {
                Class::Ddpm => Class::MonaiDdpm,
                Class::Ddim => Class::MonaiDdim,
                Class::Pndm => Class::MonaiPndm,
                other => *other,
            };
            // A bare diffusers name over a MONAI config means MONAI's class.
            let bare_name = full.eq_ignore_ascii_case(wanted);
            return Ok(if monai_config && bare_name {
                monai_twin
            } else {
                *class
            });
        }
    }
    let known = SCHEDULERS
        .iter()
        .map(|(full, aliases)| format!("{full} ({})", aliases.join(", ")))
        .collect::<Vec<_>>()
        .join(", ");
    Err(SchedulerError::UnknownScheduler {
        name: name.to_owned(),
        known,
    })
}

/// The scheduler of `config` (its `_class_name`, or `class_name` when given: a class name or a
/// short alias such as `ddim`, `dpm++`, `euler`, `euler-a`, `unipc`, `pndm`, `rflow`,
/// `flow-match`, see [`SCHEDULERS`]), set to `steps` inference steps. The config's shared fields
/// (betas, training steps, prediction type, ...) carry over to another class, as diffusers'
/// `from_config` does. `steps` must be 1 to `num_train_timesteps`.
pub fn make_scheduler(
    config: &SchedulerConfig,
    class_name: Option<&str>,
    steps: usize,
) -> Result<Box<dyn Scheduler>, SchedulerError> {
    let name = class_name
        .or(config.class_name.as_deref())
        .or(config.target.as_deref())
        .ok_or(SchedulerError::MissingClassName)?;
    use ddpm::Flavour::{Diffusers, Monai};
    Ok(match resolve(name, config)? {
        Class::Ddpm => Box::new(ddpm::Ddpm::new(config, Diffusers, steps)?),
        Class::MonaiDdpm => Box::new(ddpm::Ddpm::new(config, Monai, steps)?),
        Class::Ddim => Box::new(ddim::Ddim::new(config, Diffusers, steps)?),
        Class::MonaiDdim => Box::new(ddim::Ddim::new(config, Monai, steps)?),
        Class::Pndm => Box::new(pndm::Pndm::new(config, Diffusers, steps)?),
        Class::MonaiPndm => Box::new(pndm::Pndm::new(config, Monai, steps)?),
        Class::Euler => Box::new(euler::Euler::new(config, steps)?),
        Class::EulerAncestral => Box::new(euler_a::EulerAncestral::new(config, steps)?),
        Class::DpmSolver => Box::new(dpmpp::DpmSolver::new(config, steps)?),
        Class::UniPc => Box::new(unipc::UniPc::new(config, steps)?),
        Class::FlowMatch => Box::new(flow_match::FlowMatchEuler::new(config, steps)?),
        Class::RFlow => Box::new(rflow::RFlow::new(config, steps)?),
    })
}
