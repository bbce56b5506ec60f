//! Euler ancestral: diffusers' `EulerAncestralDiscreteScheduler` (noise drawn at every step,
//! the last one included, as diffusers draws it).

use crate::config::{PredictionType, SchedulerConfig};
use crate::euler::{EulerSchedule, euler_schedule};
use crate::schedule::{self, Training};
use crate::{NoiseSource, Scheduler, SchedulerError};

const NAME: &str = "EulerAncestralDiscreteScheduler";

/// Euler ancestral's step state.
pub(crate) struct EulerAncestral {
    sched: EulerSchedule,
    v_prediction: bool,
    x0: Vec<f32>,
    noise: Vec<f32>,
}

impl EulerAncestral {
    pub fn new(cfg: &SchedulerConfig, steps: usize) -> Result<Self, SchedulerError> {
        let mut training = Training::diffusers(cfg, NAME, true)?;
        training.patch_zero_snr(cfg);
        schedule::check_steps(NAME, steps, training.len())?;
        let v_prediction = match cfg.prediction_type.unwrap_or(PredictionType::Epsilon) {
            PredictionType::Epsilon => false,
            PredictionType::VPrediction => true,
            other => {
                return Err(SchedulerError::Unsupported {
                    class: NAME,
                    field: "prediction_type",
                    value: other.as_str().into(),
                    hint: "Euler ancestral accepts `epsilon` or `v_prediction`".into(),
                });
            }
        };
        // diffusers' Euler ancestral has no Karras option and always ends at sigma 0.
        let mut plain = cfg.clone();
        plain.final_sigmas_type = None;
        let sched = euler_schedule(&plain, &training, steps, false)?;
        Ok(Self {
            sched,
            v_prediction,
            x0: Vec::new(),
            noise: Vec::new(),
        })
    }
}

impl Scheduler for EulerAncestral {
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
        noise: &mut dyn NoiseSource,
    ) -> Result<(), SchedulerError> {
        let steps = self.sched.timesteps.len();
        schedule::check_buffers(NAME, step, steps, model_output, sample, sample_len)?;
        let sigma = self.sched.sigmas[step];
        let sigma_to = self.sched.sigmas[step + 1];
        let (from2, to2) = (sigma * sigma, sigma_to * sigma_to);
        let sigma_up = (to2 * (from2 - to2) / from2).sqrt();
        let sigma_down = (to2 - sigma_up * sigma_up).sqrt();
        let dt = sigma_down - sigma;
        let v_c = -sigma / (sigma * sigma + 1.0).sqrt();
        let v_d = sigma * sigma + 1.0;
        self.x0.resize(sample.len(), 0.0);
        for ((x0, s), &m) in self.x0.iter_mut().zip(sample.iter_mut()).zip(model_output) {
            *x0 = if self.v_prediction {
                m * v_c + *s / v_d
            } else {
                *s - sigma * m
            };
            let derivative = (*s - *x0) / sigma;
            *s += derivative * dt;
        }
        self.noise.resize(sample.len(), 0.0);
        noise.fill_standard_normal(&mut self.noise);
        for (s, &z) in sample.iter_mut().zip(&self.noise) {
            *s += z * sigma_up;
        }
        Ok(())
    }

    fn predicted_original(&self) -> Option<&[f32]> {
        (!self.x0.is_empty()).then_some(&self.x0[..])
    }
}
