//! Euler (Karras et al.'s Algorithm 2 without churn): diffusers' `EulerDiscreteScheduler`.
//!
//! Sigmas are the training sigmas interpolated at the spaced timesteps (float64 numpy, stored
//! float32), or Karras sigmas (`use_karras_sigmas`) with fractional timesteps; the sample is
//! scaled by `init_noise_sigma` and the denoiser's input by `1 / sqrt(sigma^2 + 1)`.

use crate::config::{FinalSigmasType, PredictionType, SchedulerConfig, TimestepSpacing};
use crate::schedule::{self, Training};
use crate::{NoiseSource, Scheduler, SchedulerError};

/// The sigma table of the Euler family: timesteps (float32) and `steps + 1` sigmas.
pub(crate) struct EulerSchedule {
    pub timesteps: Vec<f32>,
    pub sigmas: Vec<f32>,
    pub init_noise_sigma: f32,
}

impl EulerSchedule {
    /// The Euler family's model input at `step`: `sample / sqrt(sigma^2 + 1)`.
    pub(crate) fn scale_model_input(&self, step: usize, sample: &[f32], out: &mut [f32]) {
        let sigma = self.sigmas[step.min(self.sigmas.len() - 1)];
        let d = (sigma * sigma + 1.0).sqrt();
        for (o, &s) in out.iter_mut().zip(sample) {
            *o = s / d;
        }
    }
}

/// diffusers' Euler `set_timesteps` (also Euler ancestral's, with `karras` false).
pub(crate) fn euler_schedule(
    cfg: &SchedulerConfig,
    training: &Training,
    steps: usize,
    karras: bool,
) -> Result<EulerSchedule, SchedulerError> {
    let n = training.len();
    let spacing = cfg.timestep_spacing.unwrap_or(TimestepSpacing::Linspace);
    let offset = cfg.steps_offset.unwrap_or(0);
    // numpy float32 timesteps.
    let ts: Vec<f32> = match spacing {
        TimestepSpacing::Linspace => {
            let mut v: Vec<f32> = schedule::np_linspace(0.0, (n - 1) as f64, steps)
                .into_iter()
                .map(|t| t as f32)
                .collect();
            v.reverse();
            v
        }
        TimestepSpacing::Leading => {
            let ratio = n / steps;
            (0..steps)
                .rev()
                .map(|i| (i * ratio) as f32 + offset as f32)
                .collect()
        }
        TimestepSpacing::Trailing => schedule::np_arange(n as f64, 0.0, -(n as f64 / steps as f64))
            .into_iter()
            .map(|t| t.round_ties_even() as f32 - 1.0)
            .collect(),
    };
    let train_sigmas = training.sigmas();
    let mut sigmas: Vec<f64> = ts
        .iter()
        .map(|&t| schedule::np_interp_index(t as f64, &train_sigmas))
        .collect();
    let mut timesteps: Vec<f32> = ts;
    if karras {
        let sigma_min = cfg.sigma_min.unwrap_or(sigmas[sigmas.len() - 1]);
        let sigma_max = cfg.sigma_max.unwrap_or(sigmas[0]);
        sigmas = schedule::karras(sigma_min, sigma_max, steps);
        let logs = schedule::log_sigmas(&train_sigmas);
        timesteps = sigmas
            .iter()
            .map(|&s| schedule::sigma_to_t(s, &logs) as f32)
            .collect();
    }
    let last = match cfg.final_sigmas_type.unwrap_or(FinalSigmasType::Zero) {
        FinalSigmasType::Zero => 0.0,
        FinalSigmasType::SigmaMin => {
            let a = training.alphas_cumprod[0];
            ((1.0 - a) / a).sqrt() as f64
        }
    };
    sigmas.push(last);
    let sigmas: Vec<f32> = sigmas.into_iter().map(|s| s as f32).collect();
    let max = sigmas.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let init_noise_sigma = match spacing {
        TimestepSpacing::Linspace | TimestepSpacing::Trailing => max,
        TimestepSpacing::Leading => (max * max + 1.0).sqrt(),
    };
    Ok(EulerSchedule {
        timesteps,
        sigmas,
        init_noise_sigma,
    })
}

/// Refuses the sigma options this crate does not implement.
pub(crate) fn refuse_sigma_options(
    cfg: &SchedulerConfig,
    class: &'static str,
) -> Result<(), SchedulerError> {
    for (field, on) in [
        ("use_exponential_sigmas", cfg.use_exponential_sigmas),
        ("use_beta_sigmas", cfg.use_beta_sigmas),
        ("use_lu_lambdas", cfg.use_lu_lambdas),
        ("use_flow_sigmas", cfg.use_flow_sigmas),
    ] {
        if on.unwrap_or(false) {
            return Err(SchedulerError::Unsupported {
                class,
                field,
                value: "true".into(),
                hint: "use the default sigmas or `use_karras_sigmas`".into(),
            });
        }
    }
    Ok(())
}

/// Euler's step state.
pub(crate) struct Euler {
    sched: EulerSchedule,
    prediction: PredictionType,
    x0: Vec<f32>,
}

const NAME: &str = "EulerDiscreteScheduler";

impl Euler {
    pub fn new(cfg: &SchedulerConfig, steps: usize) -> Result<Self, SchedulerError> {
        let mut training = Training::diffusers(cfg, NAME, true)?;
        training.patch_zero_snr(cfg);
        schedule::check_steps(NAME, steps, training.len())?;
        refuse_sigma_options(cfg, NAME)?;
        if let Some(kind) = cfg.interpolation_type.as_deref()
            && kind != "linear"
        {
            return Err(SchedulerError::Unsupported {
                class: NAME,
                field: "interpolation_type",
                value: format!("{kind:?}"),
                hint: "use `linear`".into(),
            });
        }
        let prediction = cfg.prediction_type.unwrap_or(PredictionType::Epsilon);
        if prediction == PredictionType::FlowPrediction {
            return Err(crate::ddpm::unsupported_prediction(NAME, prediction));
        }
        let continuous = match cfg.timestep_type.as_deref() {
            None | Some("discrete") => false,
            Some("continuous") => true,
            Some(other) => {
                return Err(SchedulerError::InvalidValue {
                    field: "timestep_type",
                    value: format!("{other:?}"),
                    expected: "`discrete` or `continuous`".into(),
                });
            }
        };
        let mut sched = euler_schedule(
            cfg,
            &training,
            steps,
            cfg.use_karras_sigmas.unwrap_or(false),
        )?;
        if continuous && prediction == PredictionType::VPrediction {
            sched.timesteps = sched.sigmas[..steps]
                .iter()
                .map(|s| 0.25 * s.ln())
                .collect();
        }
        Ok(Self {
            sched,
            prediction,
            x0: Vec::new(),
        })
    }
}

impl Scheduler for Euler {
    fn name(&self) -> &'static str {
        NAME
    }

    fn timesteps(&self) -> &[f32] {
        &self.sched.timesteps
    }

    fn init_noise_sigma(&self) -> f32 {
        self.sched.init_noise_sigma
    }

    fn scale_model_input(&self, step: usize, sample: &[f32], out: &mut [f32]) {
        self.sched.scale_model_input(step, sample, out);
    }

    fn step(
        &mut self,
        step: usize,
        model_output: &[f32],
        sample: &mut [f32],
        sample_len: usize,
        _noise: &mut dyn NoiseSource,
    ) -> Result<(), SchedulerError> {
        let steps = self.sched.timesteps.len();
        schedule::check_buffers(NAME, step, steps, model_output, sample, sample_len)?;
        let sigma = self.sched.sigmas[step];
        let sigma_hat = sigma;
        let v_in = (sigma * sigma + 1.0).sqrt();
        let v_c = -sigma / v_in;
        let v_d = sigma * sigma + 1.0;
        self.x0.resize(sample.len(), 0.0);
        let dt = self.sched.sigmas[step + 1] - sigma_hat;
        for ((x0, s), &m) in self.x0.iter_mut().zip(sample.iter_mut()).zip(model_output) {
            *x0 = match self.prediction {
                PredictionType::Epsilon => *s - sigma_hat * m,
                PredictionType::Sample => m,
                _ => m * v_c + *s / v_d,
            };
            let derivative = (*s - *x0) / sigma_hat;
            *s += derivative * dt;
        }
        Ok(())
    }

    fn predicted_original(&self) -> Option<&[f32]> {
        (!self.x0.is_empty()).then_some(&self.x0[..])
    }
}
