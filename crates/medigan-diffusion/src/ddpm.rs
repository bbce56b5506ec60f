//! DDPM (Ho et al.): diffusers' `DDPMScheduler` and MONAI's `DDPMScheduler`.
//!
//! The two differ: MONAI spaces timesteps with `torch.linspace(T - 1, 0, steps).round()`, steps
//! each one to `t - 1` whatever the spacing (exact only with all training steps), uses
//! `betas[t]` in its coefficients, clips to `[clip_sample_min, clip_sample_max]`, and knows
//! only the `fixed_small` / `fixed_large` variances.

use crate::config::{PredictionType, SchedulerConfig, TimestepSpacing, VarianceType};
use crate::schedule::{self, Training, X0Limit};
use crate::{NoiseSource, Scheduler, SchedulerError};

/// Which implementation is reproduced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flavour {
    Diffusers,
    Monai,
}

/// DDPM's ancestral sampling step.
pub(crate) struct Ddpm {
    name: &'static str,
    flavour: Flavour,
    training: Training,
    steps: Vec<i64>,
    timesteps: Vec<f32>,
    prediction: PredictionType,
    variance: VarianceType,
    limit: X0Limit,
    x0: Vec<f32>,
    noise: Vec<f32>,
}

impl Ddpm {
    pub fn new(
        cfg: &SchedulerConfig,
        flavour: Flavour,
        steps: usize,
    ) -> Result<Self, SchedulerError> {
        let name = match flavour {
            Flavour::Diffusers => "DDPMScheduler",
            Flavour::Monai => "monai.networks.schedulers.DDPMScheduler",
        };
        let training = match flavour {
            Flavour::Diffusers => Training::diffusers(cfg, name, true)?,
            Flavour::Monai => Training::monai(cfg)?,
        };
        let n = training.len();
        schedule::check_steps(name, steps, n)?;
        let prediction = cfg.prediction_type.unwrap_or(PredictionType::Epsilon);
        if prediction == PredictionType::FlowPrediction {
            return Err(unsupported_prediction(name, prediction));
        }
        let variance = cfg.variance_type.unwrap_or(VarianceType::FixedSmall);
        let supported = match flavour {
            Flavour::Diffusers => matches!(
                variance,
                VarianceType::FixedSmall | VarianceType::FixedSmallLog | VarianceType::FixedLarge
            ),
            Flavour::Monai => matches!(
                variance,
                VarianceType::FixedSmall | VarianceType::FixedLarge
            ),
        };
        if !supported {
            return Err(SchedulerError::Unsupported {
                class: name,
                field: "variance_type",
                value: format!("{variance:?}"),
                hint: "use `fixed_small` or `fixed_large` (learned variances need a model that \
                       outputs twice the channels)"
                    .into(),
            });
        }
        let steps_i: Vec<i64> = match flavour {
            Flavour::Diffusers => schedule::spaced_timesteps(
                cfg.timestep_spacing.unwrap_or(TimestepSpacing::Leading),
                n,
                steps,
                cfg.steps_offset.unwrap_or(0),
                false,
            )
            .into_iter()
            .map(|t| t as i64)
            .collect(),
            Flavour::Monai => schedule::torch_linspace_f32((n - 1) as f64, 0.0, steps)
                .into_iter()
                .map(|t| t.round_ties_even() as i64)
                .collect(),
        };
        let limit = match flavour {
            Flavour::Diffusers => X0Limit::from_config(cfg, true),
            Flavour::Monai if cfg.clip_sample.unwrap_or(true) => X0Limit::Clip(
                cfg.clip_sample_min.unwrap_or(-1.0) as f32,
                cfg.clip_sample_max.unwrap_or(1.0) as f32,
            ),
            Flavour::Monai => X0Limit::None,
        };
        Ok(Self {
            name,
            flavour,
            training,
            timesteps: steps_i.iter().map(|&t| t as f32).collect(),
            steps: steps_i,
            prediction,
            variance,
            limit,
            x0: Vec::new(),
            noise: Vec::new(),
        })
    }
}

pub(crate) fn unsupported_prediction(
    class: &'static str,
    prediction: PredictionType,
) -> SchedulerError {
    SchedulerError::Unsupported {
        class,
        field: "prediction_type",
        value: prediction.as_str().into(),
        hint: "this scheduler accepts `epsilon`, `v_prediction` or `sample`".into(),
    }
}

impl Scheduler for Ddpm {
    fn name(&self) -> &'static str {
        self.name
    }

    fn timesteps(&self) -> &[f32] {
        &self.timesteps
    }

    fn step(
        &mut self,
        step: usize,
        model_output: &[f32],
        sample: &mut [f32],
        sample_len: usize,
        noise: &mut dyn NoiseSource,
    ) -> Result<(), SchedulerError> {
        schedule::check_buffers(
            self.name,
            step,
            self.steps.len(),
            model_output,
            sample,
            sample_len,
        )?;
        let t = self.steps[step];
        let prev_t = match self.flavour {
            Flavour::Diffusers => self.steps.get(step + 1).copied().unwrap_or(-1),
            Flavour::Monai => t - 1,
        };
        let a_t = self.training.ac(self.name, t)?;
        let a_prev = if prev_t >= 0 {
            self.training.ac(self.name, prev_t)?
        } else {
            1.0
        };
        let beta_prod_t = 1.0 - a_t;
        let beta_prod_prev = 1.0 - a_prev;
        let current_alpha = a_t / a_prev;
        let current_beta = 1.0 - current_alpha;
        let (sqrt_a, sqrt_b) = (a_t.sqrt(), beta_prod_t.sqrt());

        self.x0.resize(sample.len(), 0.0);
        for ((x0, &s), &m) in self.x0.iter_mut().zip(sample.iter()).zip(model_output) {
            *x0 = match self.prediction {
                PredictionType::Epsilon => (s - sqrt_b * m) / sqrt_a,
                PredictionType::Sample => m,
                _ => sqrt_a * s - sqrt_b * m,
            };
        }
        self.limit.apply(&mut self.x0, sample_len);

        let tu = t as usize;
        let (c_x0, c_s) = match self.flavour {
            Flavour::Diffusers => (
                (a_prev.sqrt() * current_beta) / beta_prod_t,
                current_alpha.sqrt() * beta_prod_prev / beta_prod_t,
            ),
            Flavour::Monai => (
                a_prev.sqrt() * self.training.betas[tu] / beta_prod_t,
                self.training.alphas[tu].sqrt() * beta_prod_prev / beta_prod_t,
            ),
        };
        for (s, &x0) in sample.iter_mut().zip(&self.x0) {
            *s = c_x0 * x0 + c_s * *s;
        }
        if t > 0 {
            // The posterior variance, scaled to a standard deviation.
            let std = match self.flavour {
                Flavour::Diffusers => {
                    let var = ((1.0 - a_prev) / (1.0 - a_t) * current_beta).max(1e-20);
                    match self.variance {
                        VarianceType::FixedSmallLog => (0.5 * var.ln()).exp(),
                        VarianceType::FixedLarge => current_beta.sqrt(),
                        _ => var.sqrt(),
                    }
                }
                Flavour::Monai => {
                    let beta = self.training.betas[tu];
                    let var = (1.0 - a_prev) / (1.0 - a_t) * beta;
                    match self.variance {
                        VarianceType::FixedLarge => beta.sqrt(),
                        _ => var.max(1e-20).sqrt(),
                    }
                }
            };
            self.noise.resize(sample.len(), 0.0);
            noise.fill_standard_normal(&mut self.noise);
            for (s, &z) in sample.iter_mut().zip(&self.noise) {
                *s += std * z;
            }
        }
        Ok(())
    }

    fn predicted_original(&self) -> Option<&[f32]> {
        (!self.x0.is_empty()).then_some(&self.x0[..])
    }
}
