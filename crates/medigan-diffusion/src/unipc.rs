//! UniPC (Zhao et al.): diffusers' `UniPCMultistepScheduler`, a multistep predictor with a
//! corrector, `bh1` / `bh2` (default), any `solver_order`, `predict_x0`, `lower_order_final`,
//! `disable_corrector`, Karras sigmas.

use crate::config::{
    FinalSigmasType, PredictionType, SchedulerConfig, SolverType, TimestepSpacing,
};
use crate::dpmpp::{alpha_sigma, lambda};
use crate::euler::refuse_sigma_options;
use crate::schedule::{self, Training, X0Limit};
use crate::{NoiseSource, Scheduler, SchedulerError};

const NAME: &str = "UniPCMultistepScheduler";

/// UniPC's multistep state.
pub(crate) struct UniPc {
    timesteps: Vec<f32>,
    sigmas: Vec<f32>,
    order: usize,
    bh1: bool,
    predict_x0: bool,
    prediction: PredictionType,
    limit: X0Limit,
    lower_order_final: bool,
    disable_corrector: Vec<i64>,
    outputs: Vec<Vec<f32>>,
    lower_order_nums: usize,
    this_order: usize,
    last_sample: Option<Vec<f32>>,
    next: usize,
}

impl UniPc {
    pub fn new(cfg: &SchedulerConfig, steps: usize) -> Result<Self, SchedulerError> {
        let mut training = Training::diffusers(cfg, NAME, true)?;
        training.patch_zero_snr(cfg);
        let n = training.len();
        schedule::check_steps(NAME, steps, n)?;
        refuse_sigma_options(cfg, NAME)?;
        let order = cfg.solver_order.unwrap_or(2);
        if order == 0 {
            return Err(SchedulerError::InvalidValue {
                field: "solver_order",
                value: "0".into(),
                expected: "1 or more (2 is usual)".into(),
            });
        }
        if cfg.use_dynamic_shifting.unwrap_or(false) {
            return Err(SchedulerError::Unsupported {
                class: NAME,
                field: "use_dynamic_shifting",
                value: "true".into(),
                hint: String::new(),
            });
        }
        let prediction = cfg.prediction_type.unwrap_or(PredictionType::Epsilon);
        let predict_x0 = cfg.predict_x0.unwrap_or(true);
        if !predict_x0 && prediction == PredictionType::FlowPrediction {
            return Err(crate::ddpm::unsupported_prediction(NAME, prediction));
        }
        let spacing = cfg.timestep_spacing.unwrap_or(TimestepSpacing::Linspace);
        let ts = match spacing {
            TimestepSpacing::Trailing => schedule::spaced_timesteps(spacing, n, steps, 0, false),
            _ => schedule::spaced_timesteps(spacing, n, steps, cfg.steps_offset.unwrap_or(0), true),
        };
        let train_sigmas = training.sigmas();
        let final_type = cfg.final_sigmas_type.unwrap_or(FinalSigmasType::Zero);
        let (timesteps, sigmas): (Vec<f64>, Vec<f64>) = if cfg.use_karras_sigmas.unwrap_or(false) {
            let logs = schedule::log_sigmas(&train_sigmas);
            let sigma_min = cfg.sigma_min.unwrap_or(train_sigmas[0] as f64);
            let sigma_max = cfg.sigma_max.unwrap_or(train_sigmas[n - 1] as f64);
            let mut sig = schedule::karras(sigma_min, sigma_max, steps);
            let ts = sig
                .iter()
                .map(|&s| schedule::sigma_to_t(s, &logs).round_ties_even())
                .collect();
            let last = match final_type {
                FinalSigmasType::Zero => 0.0,
                FinalSigmasType::SigmaMin => sig[sig.len() - 1],
            };
            sig.push(last);
            (ts, sig)
        } else {
            let mut sig: Vec<f64> = ts
                .iter()
                .map(|&t| schedule::np_interp_index(t, &train_sigmas))
                .collect();
            sig.push(match final_type {
                FinalSigmasType::Zero => 0.0,
                FinalSigmasType::SigmaMin => train_sigmas[0] as f64,
            });
            (ts, sig)
        };
        Ok(Self {
            timesteps: timesteps.iter().map(|&t| t.trunc() as f32).collect(),
            sigmas: sigmas.into_iter().map(|s| s as f32).collect(),
            order,
            bh1: cfg.solver_type == Some(SolverType::Bh1),
            predict_x0,
            prediction,
            limit: X0Limit::threshold_only(cfg),
            lower_order_final: cfg.lower_order_final.unwrap_or(true),
            disable_corrector: cfg.disable_corrector.clone().unwrap_or_default(),
            outputs: Vec::new(),
            lower_order_nums: 0,
            this_order: 0,
            last_sample: None,
            next: 0,
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
        if self.predict_x0 {
            let mut x0: Vec<f32> = sample
                .iter()
                .zip(model_output)
                .map(|(&s, &m)| match self.prediction {
                    PredictionType::Epsilon => (s - sigma_t * m) / alpha_t,
                    PredictionType::Sample => m,
                    PredictionType::VPrediction => alpha_t * s - sigma_t * m,
                    PredictionType::FlowPrediction => s - sigma * m,
                })
                .collect();
            self.limit.apply(&mut x0, sample_len);
            x0
        } else {
            sample
                .iter()
                .zip(model_output)
                .map(|(&s, &m)| match self.prediction {
                    PredictionType::Epsilon => m,
                    PredictionType::Sample => (s - alpha_t * m) / sigma_t,
                    _ => alpha_t * m + sigma_t * s,
                })
                .collect()
        }
    }

    /// The coefficients shared by predictor and corrector: `(h_phi_1, B_h, R, b)` for the
    /// given `rks` (the last one 1).
    fn coefficients(
        &self,
        h: f32,
        rks: &[f32],
        order: usize,
    ) -> (f32, f32, Vec<Vec<f32>>, Vec<f32>) {
        let hh = if self.predict_x0 { -h } else { h };
        let h_phi_1 = hh.exp_m1();
        let mut h_phi_k = h_phi_1 / hh - 1.0;
        let mut factorial: u64 = 1;
        let b_h = if self.bh1 { hh } else { hh.exp_m1() };
        let mut r = Vec::with_capacity(order);
        let mut b = Vec::with_capacity(order);
        for i in 1..=order {
            r.push(rks.iter().map(|&x| powi_torch(x, i as u32 - 1)).collect());
            b.push(h_phi_k * factorial as f32 / b_h);
            factorial *= i as u64 + 1;
            h_phi_k = h_phi_k / hh - (1.0 / factorial as f64) as f32;
        }
        (h_phi_1, b_h, r, b)
    }

    /// Predictor: `sample` at `sigmas[step]` to `sigmas[step + 1]`.
    fn predict(&self, step: usize, sample: &mut [f32], order: usize) {
        let k = self.outputs.len();
        let m0 = &self.outputs[k - 1];
        let (alpha_t, sigma_t) = alpha_sigma(self.sigmas[step + 1]);
        let (alpha_s0, sigma_s0) = alpha_sigma(self.sigmas[step]);
        let lambda_t = lambda(alpha_t, sigma_t);
        let lambda_s0 = lambda(alpha_s0, sigma_s0);
        let h = lambda_t - lambda_s0;
        let mut rks = Vec::new();
        let mut d1s: Vec<Vec<f32>> = Vec::new();
        for i in 1..order {
            let (a, s) = alpha_sigma(self.sigmas[step - i]);
            let rk = (lambda(a, s) - lambda_s0) / h;
            rks.push(rk);
            let mi = &self.outputs[k - (i + 1)];
            d1s.push(mi.iter().zip(m0).map(|(&mi, &m0)| (mi - m0) / rk).collect());
        }
        rks.push(1.0);
        let (h_phi_1, b_h, r, b) = self.coefficients(h, &rks, order);
        let rhos_p: Vec<f32> = if d1s.is_empty() {
            Vec::new()
        } else if order == 2 {
            vec![0.5]
        } else {
            let sub: Vec<Vec<f32>> = r[..order - 1]
                .iter()
                .map(|row| row[..order - 1].to_vec())
                .collect();
            solve(sub, b[..order - 1].to_vec())
        };
        let (c_x, c_m, c_res) = if self.predict_x0 {
            (sigma_t / sigma_s0, alpha_t * h_phi_1, alpha_t * b_h)
        } else {
            (alpha_t / alpha_s0, sigma_t * h_phi_1, sigma_t * b_h)
        };
        for (i, s) in sample.iter_mut().enumerate() {
            let x_t_ = c_x * *s - c_m * m0[i];
            *s = if d1s.is_empty() {
                x_t_
            } else {
                let res = einsum(&rhos_p, &d1s, i);
                x_t_ - c_res * res
            };
        }
    }

    /// Corrector: refines `this_sample` (at `sigmas[step]`) from `last_sample` (at
    /// `sigmas[step - 1]`) with the new model output.
    fn correct(
        &self,
        step: usize,
        model_t: &[f32],
        last: &[f32],
        this_sample: &mut [f32],
        order: usize,
    ) {
        let k = self.outputs.len();
        let m0 = &self.outputs[k - 1];
        let (alpha_t, sigma_t) = alpha_sigma(self.sigmas[step]);
        let (alpha_s0, sigma_s0) = alpha_sigma(self.sigmas[step - 1]);
        let lambda_t = lambda(alpha_t, sigma_t);
        let lambda_s0 = lambda(alpha_s0, sigma_s0);
        let h = lambda_t - lambda_s0;
        let mut rks = Vec::new();
        let mut d1s: Vec<Vec<f32>> = Vec::new();
        for i in 1..order {
            let (a, s) = alpha_sigma(self.sigmas[step - (i + 1)]);
            let rk = (lambda(a, s) - lambda_s0) / h;
            rks.push(rk);
            let mi = &self.outputs[k - (i + 1)];
            d1s.push(mi.iter().zip(m0).map(|(&mi, &m0)| (mi - m0) / rk).collect());
        }
        rks.push(1.0);
        let (h_phi_1, b_h, r, b) = self.coefficients(h, &rks, order);
        let rhos_c: Vec<f32> = if order == 1 { vec![0.5] } else { solve(r, b) };
        let (c_x, c_m, c_res) = if self.predict_x0 {
            (sigma_t / sigma_s0, alpha_t * h_phi_1, alpha_t * b_h)
        } else {
            (alpha_t / alpha_s0, sigma_t * h_phi_1, sigma_t * b_h)
        };
        let rho_last = rhos_c[rhos_c.len() - 1];
        for (i, s) in this_sample.iter_mut().enumerate() {
            let x_t_ = c_x * last[i] - c_m * m0[i];
            let d1_t = model_t[i] - m0[i];
            let inner = if d1s.is_empty() {
                rho_last * d1_t
            } else {
                einsum(&rhos_c[..rhos_c.len() - 1], &d1s, i) + rho_last * d1_t
            };
            *s = x_t_ - c_res * inner;
        }
    }
}

/// `torch.pow(x, e)` for the small integer exponents used here.
fn powi_torch(x: f32, e: u32) -> f32 {
    match e {
        0 => 1.0,
        1 => x,
        2 => x * x,
        _ => x.powi(e as i32),
    }
}

/// `einsum('k,bkc...->bc...', rhos, D1s)` at element `i`.
fn einsum(rhos: &[f32], d1s: &[Vec<f32>], i: usize) -> f32 {
    let mut acc = rhos[0] * d1s[0][i];
    for (rho, d) in rhos.iter().zip(d1s).skip(1) {
        acc += rho * d[i];
    }
    acc
}

/// Solves `a x = b` by Gaussian elimination with partial pivoting, in float32 (as LAPACK's
/// `sgesv` that `torch.linalg.solve` calls).
fn solve(mut a: Vec<Vec<f32>>, mut b: Vec<f32>) -> Vec<f32> {
    let n = b.len();
    for col in 0..n {
        // The first row with the largest |value| in this column (LAPACK's isamax).
        let mut pivot = col;
        for row in col + 1..n {
            if a[row][col].abs() > a[pivot][col].abs() {
                pivot = row;
            }
        }
        a.swap(col, pivot);
        b.swap(col, pivot);
        let (top, bottom) = a.split_at_mut(col + 1);
        let pivot_row = &top[col];
        for (k, row) in bottom.iter_mut().enumerate() {
            let f = row[col] / pivot_row[col];
            for (v, &p) in row[col..].iter_mut().zip(&pivot_row[col..]) {
                *v -= f * p;
            }
            b[col + 1 + k] -= f * b[col];
        }
    }
    let mut x = vec![0.0f32; n];
    for row in (0..n).rev() {
        let mut acc = b[row];
        for c in row + 1..n {
            acc -= a[row][c] * x[c];
        }
        x[row] = acc / a[row][row];
    }
    x
}

impl Scheduler for UniPc {
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
        _noise: &mut dyn NoiseSource,
    ) -> Result<(), SchedulerError> {
        let n = self.timesteps.len();
        schedule::check_buffers(NAME, step, n, model_output, sample, sample_len)?;
        if step != self.next {
            return Err(schedule::out_of_order(NAME, step, self.next));
        }
        let converted = self.convert(step, model_output, sample, sample_len);
        let use_corrector = step > 0
            && !self.disable_corrector.contains(&(step as i64 - 1))
            && self.last_sample.is_some();
        if use_corrector && let Some(last) = self.last_sample.take() {
            self.correct(step, &converted, &last, sample, self.this_order);
        }
        if self.outputs.len() == self.order {
            self.outputs.remove(0);
        }
        self.outputs.push(converted);
        let this_order = if self.lower_order_final {
            self.order.min(n - step)
        } else {
            self.order
        };
        self.this_order = this_order.min(self.lower_order_nums + 1);
        self.last_sample = Some(sample.to_vec());
        self.predict(step, sample, self.this_order);
        if self.lower_order_nums < self.order {
            self.lower_order_nums += 1;
        }
        self.next += 1;
        Ok(())
    }
}
