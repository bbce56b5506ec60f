//! Flow matching Euler: diffusers' `FlowMatchEulerDiscreteScheduler` (SD3, Flux-style models):
//! `x <- x + (sigma_next - sigma) * v`, with the `shift` applied as diffusers applies it (once
//! to the training sigmas whose ends bound the schedule, and again to the inference sigmas),
//! `shift_terminal`, Karras sigmas and `stochastic_sampling`.

use crate::config::SchedulerConfig;
use crate::schedule;
use crate::{NoiseSource, Scheduler, SchedulerError};

const NAME: &str = "FlowMatchEulerDiscreteScheduler";

/// Flow matching Euler's schedule.
pub(crate) struct FlowMatchEuler {
    timesteps: Vec<f32>,
    sigmas: Vec<f32>,
    stochastic: bool,
    x0: Vec<f32>,
    noise: Vec<f32>,
}

impl FlowMatchEuler {
    pub fn new(cfg: &SchedulerConfig, steps: usize) -> Result<Self, SchedulerError> {
        let n = schedule::num_train(cfg)?;
        schedule::check_steps(NAME, steps, n)?;
        for (field, on) in [
            ("use_dynamic_shifting", cfg.use_dynamic_shifting),
            ("invert_sigmas", cfg.invert_sigmas),
            ("use_exponential_sigmas", cfg.use_exponential_sigmas),
            ("use_beta_sigmas", cfg.use_beta_sigmas),
        ] {
            if on.unwrap_or(false) {
                return Err(SchedulerError::Unsupported {
                    class: NAME,
                    field,
                    value: "true".into(),
                    hint: if field == "use_dynamic_shifting" {
                        "set a fixed `shift` instead (dynamic shifting needs the pipeline's `mu`)"
                            .into()
                    } else {
                        String::new()
                    },
                });
            }
        }
        let shift = cfg.shift.unwrap_or(1.0);
        if shift.is_nan() || shift <= 0.0 {
            return Err(SchedulerError::InvalidValue {
                field: "shift",
                value: shift.to_string(),
                expected: "a positive number".into(),
            });
        }
        // __init__: float32 torch sigmas of the training timesteps, shifted.
        let (nf, s32, s1) = (n as f32, shift as f32, (shift - 1.0) as f32);
        let shift32 = |t: f32| {
            let s = t / nf;
            s32 * s / (1.0 + s1 * s)
        };
        let sigma_max = shift32(n as f32) as f64;
        let sigma_min = shift32(1.0) as f64;
        // set_timesteps: float64 numpy.
        let ts = schedule::np_linspace(sigma_max * n as f64, sigma_min * n as f64, steps);
        let mut sig: Vec<f64> = ts
            .iter()
            .map(|&t| {
                let s = t / n as f64;
                shift * s / (1.0 + (shift - 1.0) * s)
            })
            .collect();
        if let Some(terminal) = cfg.shift_terminal
            && terminal != 0.0
        {
            let one_minus_last = 1.0 - sig[sig.len() - 1];
            let scale = one_minus_last / (1.0 - terminal);
            for s in &mut sig {
                *s = 1.0 - (1.0 - *s) / scale;
            }
        }
        if cfg.use_karras_sigmas.unwrap_or(false) {
            // diffusers' flow-matching config has no `sigma_min` / `sigma_max`: the ends of the
            // shifted schedule bound the Karras sigmas.
            let (lo, hi) = (sig[sig.len() - 1], sig[0]);
            sig = schedule::karras(lo, hi, steps);
        }
        let mut sigmas: Vec<f32> = sig.into_iter().map(|s| s as f32).collect();
        let timesteps: Vec<f32> = sigmas.iter().map(|&s| s * nf).collect();
        sigmas.push(0.0);
        Ok(Self {
            timesteps,
            sigmas,
            stochastic: cfg.stochastic_sampling.unwrap_or(false),
            x0: Vec::new(),
            noise: Vec::new(),
        })
    }
}

impl Scheduler for FlowMatchEuler {
    fn name(&self) -> &'static str {
        NAME
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
            NAME,
            step,
            self.timesteps.len(),
            model_output,
            sample,
            sample_len,
        )?;
        let sigma = self.sigmas[step];
        let next = self.sigmas[step + 1];
        self.x0.resize(sample.len(), 0.0);
        for ((x0, &s), &m) in self.x0.iter_mut().zip(sample.iter()).zip(model_output) {
            *x0 = s - sigma * m;
        }
        if self.stochastic {
            self.noise.resize(sample.len(), 0.0);
            noise.fill_standard_normal(&mut self.noise);
            for ((s, &x0), &z) in sample.iter_mut().zip(&self.x0).zip(&self.noise) {
                *s = (1.0 - next) * x0 + next * z;
            }
        } else {
            let dt = next - sigma;
            for (s, &m) in sample.iter_mut().zip(model_output) {
                *s += dt * m;
            }
        }
        Ok(())
    }

    fn predicted_original(&self) -> Option<&[f32]> {
        (!self.x0.is_empty()).then_some(&self.x0[..])
    }
}
