//! DPM-Solver (Lu et al.): diffusers' `DPMSolverMultistepScheduler`: `dpmsolver++` (default),
//! `dpmsolver` and `sde-dpmsolver++`, orders 1 to 3, `midpoint` / `heun`, `lower_order_final`,
//! `euler_at_final`, Karras sigmas.

use crate::config::{
    AlgorithmType, BetaSchedule, FinalSigmasType, PredictionType, SchedulerConfig, SolverType,
    TimestepSpacing,
};
use crate::euler::refuse_sigma_options;
use crate::schedule::{self, Training, X0Limit};
use crate::{NoiseSource, Scheduler, SchedulerError};

const NAME: &str = "DPMSolverMultistepScheduler";

/// DPM-Solver's multistep state.
pub(crate) struct DpmSolver {
    timesteps: Vec<f32>,
    sigmas: Vec<f32>,
    order: usize,
    algorithm: AlgorithmType,
    heun: bool,
    prediction: PredictionType,
    limit: X0Limit,
    lower_order_final: bool,
    euler_at_final: bool,
    final_zero: bool,
    /// Converted model outputs, oldest first (at most `order`).
    outputs: Vec<Vec<f32>>,
    lower_order_nums: usize,
    next: usize,
    noise: Vec<f32>,
}

/// `(alpha_t, sigma_t)` of a sigma (variance-preserving), as `_sigma_to_alpha_sigma_t`.
pub(crate) fn alpha_sigma(sigma: f32) -> (f32, f32) {
    let alpha = 1.0 / (sigma * sigma + 1.0).sqrt();
    (alpha, sigma * alpha)
}

/// `log(alpha) - log(sigma)`.
pub(crate) fn lambda(alpha: f32, sigma: f32) -> f32 {
    alpha.ln() - sigma.ln()
}

impl DpmSolver {
    pub fn new(cfg: &SchedulerConfig, steps: usize) -> Result<Self, SchedulerError> {
        let mut training = Training::diffusers(cfg, NAME, true)?;
        training.patch_zero_snr(cfg);
        let n = training.len();
        schedule::check_steps(NAME, steps, n)?;
        refuse_sigma_options(cfg, NAME)?;
        let order = cfg.solver_order.unwrap_or(2);
        if !(1..=3).contains(&order) {
            return Err(SchedulerError::InvalidValue {
                field: "solver_order",
                value: order.to_string(),
                expected: "1, 2 or 3".into(),
            });
        }
        let algorithm = match cfg
            .algorithm_type
            .unwrap_or(AlgorithmType::DpmSolverPlusPlus)
        {
            AlgorithmType::Deis => AlgorithmType::DpmSolverPlusPlus,
            AlgorithmType::SdeDpmSolver => {
                return Err(SchedulerError::Unsupported {
                    class: NAME,
                    field: "algorithm_type",
                    value: "\"sde-dpmsolver\"".into(),
                    hint: "use `dpmsolver++`, `dpmsolver` or `sde-dpmsolver++`".into(),
                });
            }
            other => other,
        };
        let heun = cfg.solver_type == Some(SolverType::Heun);
        let final_type = cfg.final_sigmas_type.unwrap_or(FinalSigmasType::Zero);
        if algorithm == AlgorithmType::DpmSolver && final_type == FinalSigmasType::Zero {
            return Err(SchedulerError::InvalidValue {
                field: "final_sigmas_type",
                value: "\"zero\"".into(),
                expected: "`sigma_min` with `algorithm_type` `dpmsolver` (as diffusers requires)"
                    .into(),
            });
        }
        if order == 3 && algorithm == AlgorithmType::DpmSolver && heun {
            // diffusers' third order has no solver_type distinction; nothing to refuse.
        }
        let prediction = cfg.prediction_type.unwrap_or(PredictionType::Epsilon);
        if algorithm == AlgorithmType::DpmSolver && prediction == PredictionType::FlowPrediction {
            return Err(crate::ddpm::unsupported_prediction(NAME, prediction));
        }
        if cfg.use_dynamic_shifting.unwrap_or(false) {
            return Err(SchedulerError::Unsupported {
                class: NAME,
                field: "use_dynamic_shifting",
                value: "true".into(),
                hint: String::new(),
            });
        }

        // lambda_min_clipped: the number of trailing training steps cut off.
        let lambdas: Vec<f32> = training
            .alphas_cumprod
            .iter()
            .map(|&a| a.sqrt().ln() - (1.0 - a).sqrt().ln())
            .collect();
        let clip = cfg.lambda_min_clipped.unwrap_or(f64::NEG_INFINITY) as f32;
        // searchsorted(flip(lambda_t), clip), left side.
        let clipped_idx = lambdas.iter().rev().take_while(|&&l| l < clip).count();
        let last_timestep = n - clipped_idx;
        let spacing = cfg.timestep_spacing.unwrap_or(TimestepSpacing::Linspace);
        let offset = cfg.steps_offset.unwrap_or(0);
        let ts: Vec<f64> = match spacing {
            TimestepSpacing::Trailing => {
                schedule::np_arange(last_timestep as f64, 0.0, -(n as f64 / steps as f64))
                    .into_iter()
                    .map(|t| t.round_ties_even() - 1.0)
                    .collect()
            }
            _ => schedule::spaced_timesteps(spacing, last_timestep, steps, offset, true),
        };
        let train_sigmas = training.sigmas();
        let (timesteps, mut sigmas): (Vec<f64>, Vec<f64>) =
            if cfg.use_karras_sigmas.unwrap_or(false) {
                let logs = schedule::log_sigmas(&train_sigmas);
                let sigma_min = cfg.sigma_min.unwrap_or(train_sigmas[0] as f64);
                let sigma_max = cfg.sigma_max.unwrap_or(train_sigmas[n - 1] as f64);
                let sig = schedule::karras(sigma_min, sigma_max, steps);
                let round = cfg.beta_schedule != Some(BetaSchedule::SquaredcosCapV2);
                let ts = sig
                    .iter()
                    .map(|&s| {
                        let t = schedule::sigma_to_t(s, &logs);
                        if round { t.round_ties_even() } else { t }
                    })
                    .collect();
                (ts, sig)
            } else {
                let sig = ts
                    .iter()
                    .map(|&t| schedule::np_interp_index(t, &train_sigmas))
                    .collect();
                (ts, sig)
            };
        sigmas.push(match final_type {
            FinalSigmasType::Zero => 0.0,
            FinalSigmasType::SigmaMin => train_sigmas[0] as f64,
        });
        Ok(Self {
            // `.to(torch.int64)` truncates.
            timesteps: timesteps.iter().map(|&t| t.trunc() as f32).collect(),
            sigmas: sigmas.into_iter().map(|s| s as f32).collect(),
            order,
            algorithm,
            heun,
            prediction,
            limit: X0Limit::threshold_only(cfg),
            lower_order_final: cfg.lower_order_final.unwrap_or(true),
            euler_at_final: cfg.euler_at_final.unwrap_or(false),
            final_zero: final_type == FinalSigmasType::Zero,
            outputs: Vec::new(),
            lower_order_nums: 0,
            next: 0,
            noise: Vec::new(),
        })
    }

    fn convert(
        &self,
        step: usize,
        model_output: &[f32],
        sample: &[f32],
        sample_len: usize,
    ) -> Vec<f32> {
        let sigma = self.sigmas[step];
        let (alpha_t, sigma_t) = alpha_sigma(sigma);
        let data = matches!(
            self.algorithm,
            AlgorithmType::DpmSolverPlusPlus | AlgorithmType::SdeDpmSolverPlusPlus
        );
        let x0_of = |s: f32, m: f32| match self.prediction {
            PredictionType::Epsilon => (s - sigma_t * m) / alpha_t,
            PredictionType::Sample => m,
            PredictionType::VPrediction => alpha_t * s - sigma_t * m,
            PredictionType::FlowPrediction => s - sigma * m,
        };
        if data {
            let mut x0: Vec<f32> = sample
                .iter()
                .zip(model_output)
                .map(|(&s, &m)| x0_of(s, m))
                .collect();
            self.limit.apply(&mut x0, sample_len);
            x0
        } else {
            let eps_of = |s: f32, m: f32| match self.prediction {
                PredictionType::Epsilon => m,
                PredictionType::Sample => (s - alpha_t * m) / sigma_t,
                _ => alpha_t * m + sigma_t * s,
            };
            let mut eps: Vec<f32> = sample
                .iter()
                .zip(model_output)
                .map(|(&s, &m)| eps_of(s, m))
                .collect();
            if matches!(self.limit, X0Limit::Threshold { .. }) {
                let mut x0: Vec<f32> = sample
                    .iter()
                    .zip(&eps)
                    .map(|(&s, &e)| (s - sigma_t * e) / alpha_t)
                    .collect();
                self.limit.apply(&mut x0, sample_len);
                eps = sample
                    .iter()
                    .zip(&x0)
                    .map(|(&s, &x)| (s - alpha_t * x) / sigma_t)
                    .collect();
            }
            eps
        }
    }
}

impl Scheduler for DpmSolver {
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
        let n = self.timesteps.len();
        schedule::check_buffers(NAME, step, n, model_output, sample, sample_len)?;
        if step != self.next {
            return Err(schedule::out_of_order(NAME, step, self.next));
        }
        let lower_final = step == n - 1
            && (self.euler_at_final || (self.lower_order_final && n < 15) || self.final_zero);
        let lower_second = step == n - 2 && self.lower_order_final && n < 15;
        let converted = self.convert(step, model_output, sample, sample_len);
        if self.outputs.len() == self.order {
            self.outputs.remove(0);
        }
        self.outputs.push(converted);
        let sde = self.algorithm == AlgorithmType::SdeDpmSolverPlusPlus;
        if sde {
            self.noise.resize(sample.len(), 0.0);
            noise.fill_standard_normal(&mut self.noise);
        }
        let plus = self.algorithm != AlgorithmType::DpmSolver;

        let (alpha_t, sigma_t) = alpha_sigma(self.sigmas[step + 1]);
        let (alpha_s0, sigma_s0) = alpha_sigma(self.sigmas[step]);
        let lambda_t = lambda(alpha_t, sigma_t);
        let lambda_s0 = lambda(alpha_s0, sigma_s0);
        let h = lambda_t - lambda_s0;
        let k = self.outputs.len();
        let m0 = &self.outputs[k - 1];
        let first = self.order == 1 || self.lower_order_nums < 1 || lower_final;
        let second = self.order == 2 || self.lower_order_nums < 2 || lower_second;
        let z = &self.noise;

        if first {
            if sde {
                let a = sigma_t / sigma_s0 * (-h).exp();
                let b = alpha_t * (1.0 - (-2.0 * h).exp());
                let c = sigma_t * (1.0 - (-2.0 * h).exp()).sqrt();
                for (i, s) in sample.iter_mut().enumerate() {
                    *s = a * *s + b * m0[i] + c * z[i];
                }
            } else if plus {
                let a = sigma_t / sigma_s0;
                let b = alpha_t * ((-h).exp() - 1.0);
                for (s, &m) in sample.iter_mut().zip(m0) {
                    *s = a * *s - b * m;
                }
            } else {
                let a = alpha_t / alpha_s0;
                let b = sigma_t * (h.exp() - 1.0);
                for (s, &m) in sample.iter_mut().zip(m0) {
                    *s = a * *s - b * m;
                }
            }
        } else if second {
            let m1 = &self.outputs[k - 2];
            let (alpha_s1, sigma_s1) = alpha_sigma(self.sigmas[step - 1]);
            let lambda_s1 = lambda(alpha_s1, sigma_s1);
            let h_0 = lambda_s0 - lambda_s1;
            let r0 = h_0 / h;
            let inv_r0 = 1.0 / r0;
            for (i, s) in sample.iter_mut().enumerate() {
                let d0 = m0[i];
                let d1 = inv_r0 * (m0[i] - m1[i]);
                *s = if sde {
                    let a = sigma_t / sigma_s0 * (-h).exp();
                    let e2 = 1.0 - (-2.0 * h).exp();
                    let noise_c = sigma_t * (1.0 - (-2.0 * h).exp()).sqrt();
                    if self.heun {
                        a * *s
                            + alpha_t * e2 * d0
                            + alpha_t * (e2 / (-2.0 * h) + 1.0) * d1
                            + noise_c * z[i]
                    } else {
                        a * *s + alpha_t * e2 * d0 + 0.5 * (alpha_t * e2) * d1 + noise_c * z[i]
                    }
                } else if plus {
                    let a = sigma_t / sigma_s0;
                    let b = alpha_t * ((-h).exp() - 1.0);
                    if self.heun {
                        a * *s - b * d0 + alpha_t * (((-h).exp() - 1.0) / h + 1.0) * d1
                    } else {
                        a * *s - b * d0 - 0.5 * (alpha_t * ((-h).exp() - 1.0)) * d1
                    }
                } else {
                    let a = alpha_t / alpha_s0;
                    let b = sigma_t * (h.exp() - 1.0);
                    if self.heun {
                        a * *s - b * d0 - sigma_t * ((h.exp() - 1.0) / h - 1.0) * d1
                    } else {
                        a * *s - b * d0 - 0.5 * (sigma_t * (h.exp() - 1.0)) * d1
                    }
                };
            }
        } else {
            let m1 = &self.outputs[k - 2];
            let m2 = &self.outputs[k - 3];
            let (alpha_s1, sigma_s1) = alpha_sigma(self.sigmas[step - 1]);
            let (alpha_s2, sigma_s2) = alpha_sigma(self.sigmas[step - 2]);
            let lambda_s1 = lambda(alpha_s1, sigma_s1);
            let lambda_s2 = lambda(alpha_s2, sigma_s2);
            let (h_0, h_1) = (lambda_s0 - lambda_s1, lambda_s1 - lambda_s2);
            let (r0, r1) = (h_0 / h, h_1 / h);
            let (inv_r0, inv_r1) = (1.0 / r0, 1.0 / r1);
            let c_d1 = r0 / (r0 + r1);
            let c_d2 = 1.0 / (r0 + r1);
            for (i, s) in sample.iter_mut().enumerate() {
                let d0 = m0[i];
                let d1_0 = inv_r0 * (m0[i] - m1[i]);
                let d1_1 = inv_r1 * (m1[i] - m2[i]);
                let d1 = d1_0 + c_d1 * (d1_0 - d1_1);
                let d2 = c_d2 * (d1_0 - d1_1);
                *s = if sde {
                    let e2 = 1.0 - (-2.0 * h).exp();
                    sigma_t / sigma_s0 * (-h).exp() * *s
                        + alpha_t * e2 * d0
                        + alpha_t * (e2 / (-2.0 * h) + 1.0) * d1
                        + alpha_t
                            * ((1.0 - (-2.0 * h).exp() - 2.0 * h) / ((2.0 * h) * (2.0 * h)) - 0.5)
                            * d2
                        + sigma_t * e2.sqrt() * z[i]
                } else if plus {
                    let e = (-h).exp() - 1.0;
                    sigma_t / sigma_s0 * *s - alpha_t * e * d0 + alpha_t * (e / h + 1.0) * d1
                        - alpha_t * (((-h).exp() - 1.0 + h) / (h * h) - 0.5) * d2
                } else {
                    let e = h.exp() - 1.0;
                    alpha_t / alpha_s0 * *s
                        - sigma_t * e * d0
                        - sigma_t * (e / h - 1.0) * d1
                        - sigma_t * ((h.exp() - 1.0 - h) / (h * h) - 0.5) * d2
                };
            }
        }
        if self.lower_order_nums < self.order {
            self.lower_order_nums += 1;
        }
        self.next += 1;
        Ok(())
    }
}
