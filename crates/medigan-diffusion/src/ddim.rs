//! DDIM (Song et al.): diffusers' `DDIMScheduler` and MONAI's `DDIMScheduler`.
//!
//! Both step from `t` to `t - num_train_timesteps / steps` whatever the spacing (diffusers'
//! behaviour with `trailing` / `linspace` too). `eta` (a medigan config field; diffusers passes
//! it to `step`) above 0 adds noise. MONAI spaces timesteps with
//! `torch.linspace(T - 1 - steps_offset, 0, steps).round() + steps_offset` and clips to
//! `[clip_sample_min, clip_sample_max]`.

use crate::config::{PredictionType, SchedulerConfig, TimestepSpacing};
use crate::ddpm::{Flavour, unsupported_prediction};
use crate::schedule::{self, Training, X0Limit};
use crate::{NoiseSource, Scheduler, SchedulerError};

/// DDIM's deterministic (eta 0) or stochastic step.
pub(crate) struct Ddim {
    name: &'static str,
    training: Training,
    final_alpha_cumprod: f32,
    steps: Vec<i64>,
    timesteps: Vec<f32>,
    stride: i64,
    prediction: PredictionType,
    limit: X0Limit,
    eta: f32,
    x0: Vec<f32>,
    noise: Vec<f32>,
}

impl Ddim {
    pub fn new(
        cfg: &SchedulerConfig,
        flavour: Flavour,
        steps: usize,
    ) -> Result<Self, SchedulerError> {
        let name = match flavour {
            Flavour::Diffusers => "DDIMScheduler",
            Flavour::Monai => "monai.networks.schedulers.DDIMScheduler",
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
        let eta = cfg.eta.unwrap_or(0.0);
        if eta.is_nan() || eta < 0.0 {
            return Err(SchedulerError::InvalidValue {
                field: "eta",
                value: eta.to_string(),
                expected: "a number >= 0 (0: deterministic DDIM, 1: DDPM-like)".into(),
            });
        }
        let offset = cfg.steps_offset.unwrap_or(0);
        let steps_i: Vec<i64> = match flavour {
            Flavour::Diffusers => schedule::spaced_timesteps(
                cfg.timestep_spacing.unwrap_or(TimestepSpacing::Leading),
                n,
                steps,
                offset,
                false,
            )
            .into_iter()
            .map(|t| t as i64)
            .collect(),
            Flavour::Monai => {
                if offset < 0 || offset >= n as i64 {
                    return Err(SchedulerError::InvalidValue {
                        field: "steps_offset",
                        value: offset.to_string(),
                        expected: format!("a value in 0..{n}"),
                    });
                }
                schedule::torch_linspace_f32((n as i64 - 1 - offset) as f64, 0.0, steps)
                    .into_iter()
                    .map(|t| t.round_ties_even() as i64 + offset)
                    .collect()
            }
        };
        let limit = match flavour {
            Flavour::Diffusers => X0Limit::from_config(cfg, true),
            Flavour::Monai if cfg.clip_sample.unwrap_or(true) => X0Limit::Clip(
                cfg.clip_sample_min.unwrap_or(-1.0) as f32,
                cfg.clip_sample_max.unwrap_or(1.0) as f32,
            ),
            Flavour::Monai => X0Limit::None,
        };
        let final_alpha_cumprod = if cfg.set_alpha_to_one.unwrap_or(true) {
            1.0
        } else {
            training.alphas_cumprod[0]
        };
        Ok(Self {
            name,
            training,
            final_alpha_cumprod,
            timesteps: steps_i.iter().map(|&t| t as f32).collect(),
            steps: steps_i,
            stride: (n / steps) as i64,
            prediction,
            limit,
            eta: eta as f32,
            x0: Vec::new(),
            noise: Vec::new(),
        })
    }
}

impl Scheduler for Ddim {
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
        let prev_t = t - self.stride;
        let a_t = self.training.ac(self.name, t)?;
        let a_prev = if prev_t >= 0 {
            self.training.ac(self.name, prev_t)?
        } else {
            self.final_alpha_cumprod
        };
        let beta_prod_t = 1.0 - a_t;
        let (sqrt_a, sqrt_b) = (a_t.sqrt(), beta_prod_t.sqrt());

        // x0 and the noise direction; x0 is clipped after eps is derived from it.
        self.x0.resize(sample.len(), 0.0);
        let mut eps: Vec<f32> = Vec::with_capacity(sample.len());
        for ((x0, &s), &m) in self.x0.iter_mut().zip(sample.iter()).zip(model_output) {
            match self.prediction {
                PredictionType::Epsilon => {
                    *x0 = (s - sqrt_b * m) / sqrt_a;
                    eps.push(m);
                }
                PredictionType::Sample => {
                    *x0 = m;
                    eps.push((s - sqrt_a * m) / sqrt_b);
                }
                _ => {
                    *x0 = sqrt_a * s - sqrt_b * m;
                    eps.push(sqrt_a * m + sqrt_b * s);
                }
            }
        }
        self.limit.apply(&mut self.x0, sample_len);

        let beta_prod_prev = 1.0 - a_prev;
        let variance = beta_prod_prev / beta_prod_t * (1.0 - a_t / a_prev);
        let std_dev = self.eta * variance.sqrt();
        let dir = (1.0 - a_prev - std_dev * std_dev).sqrt();
        let sqrt_prev = a_prev.sqrt();
        for ((s, &x0), &e) in sample.iter_mut().zip(&self.x0).zip(&eps) {
            *s = sqrt_prev * x0 + dir * e;
        }
        if self.eta > 0.0 {
            self.noise.resize(sample.len(), 0.0);
            noise.fill_standard_normal(&mut self.noise);
            for (s, &z) in sample.iter_mut().zip(&self.noise) {
                *s += std_dev * z;
            }
        }
        Ok(())
    }

    fn predicted_original(&self) -> Option<&[f32]> {
        (!self.x0.is_empty()).then_some(&self.x0[..])
    }
}
