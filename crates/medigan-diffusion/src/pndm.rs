//! PNDM (Liu et al.): diffusers' `PNDMScheduler` and MONAI's `PNDMScheduler`, with the
//! Runge-Kutta warm-up (`skip_prk_steps: false`, the class default) or without it (`true`, as
//! diffusers' pipeline configs set), then linear multistep (PLMS) steps.
//!
//! MONAI differs: `leading` spacing only, no repeated timestep when skipping PRK, and its step
//! length is `T // len(timesteps)` (the PRK warm-up lengthens the schedule, so it shrinks).

use crate::config::{PredictionType, SchedulerConfig, TimestepSpacing};
use crate::ddpm::Flavour;
use crate::schedule::{self, Training};
use crate::{NoiseSource, Scheduler, SchedulerError};

/// PNDM's state across steps.
pub(crate) struct Pndm {
    name: &'static str,
    training: Training,
    final_alpha_cumprod: f32,
    skip_prk: bool,
    prk_steps: Vec<i64>,
    steps: Vec<i64>,
    timesteps: Vec<f32>,
    /// `num_train_timesteps // num_inference_steps` as the implementation computes it.
    ratio: i64,
    v_prediction: bool,
    ets: Vec<Vec<f32>>,
    counter: usize,
    cur_model_output: Option<Vec<f32>>,
    cur_sample: Option<Vec<f32>>,
}

impl Pndm {
    pub fn new(
        cfg: &SchedulerConfig,
        flavour: Flavour,
        steps: usize,
    ) -> Result<Self, SchedulerError> {
        let name = match flavour {
            Flavour::Diffusers => "PNDMScheduler",
            Flavour::Monai => "monai.networks.schedulers.PNDMScheduler",
        };
        let training = match flavour {
            Flavour::Diffusers => Training::diffusers(cfg, name, false)?,
            Flavour::Monai => Training::monai(cfg)?,
        };
        let n = training.len();
        schedule::check_steps(name, steps, n)?;
        let prediction = cfg.prediction_type.unwrap_or(PredictionType::Epsilon);
        let v_prediction = match prediction {
            PredictionType::Epsilon => false,
            PredictionType::VPrediction => true,
            other => {
                return Err(SchedulerError::Unsupported {
                    class: name,
                    field: "prediction_type",
                    value: other.as_str().into(),
                    hint: "PNDM accepts `epsilon` or `v_prediction`".into(),
                });
            }
        };
        let skip_prk = cfg.skip_prk_steps.unwrap_or(false);
        let offset = cfg.steps_offset.unwrap_or(0);
        // `_timesteps`, ascending.
        let base: Vec<i64> = match flavour {
            Flavour::Diffusers => {
                let spacing = cfg.timestep_spacing.unwrap_or(TimestepSpacing::Leading);
                let mut v: Vec<i64> = schedule::spaced_timesteps(spacing, n, steps, offset, false)
                    .into_iter()
                    .map(|t| t as i64)
                    .collect();
                v.reverse();
                v
            }
            Flavour::Monai => {
                let ratio = n / steps;
                (0..steps).map(|i| (i * ratio) as i64 + offset).collect()
            }
        };
        let half = (n / steps / 2) as i64;
        let (prk_steps, plms): (Vec<i64>, Vec<i64>) = if skip_prk {
            let plms = match flavour {
                Flavour::Diffusers => {
                    // _timesteps[:-1] ++ _timesteps[-2:-1] ++ _timesteps[-1:], reversed.
                    let k = base.len();
                    let mut v: Vec<i64> = base[..k - 1].to_vec();
                    if k >= 2 {
                        v.push(base[k - 2]);
                    }
                    v.push(base[k - 1]);
                    v.reverse();
                    v
                }
                Flavour::Monai => base.iter().rev().copied().collect(),
            };
            (Vec::new(), plms)
        } else {
            if steps < 4 {
                return Err(SchedulerError::InvalidValue {
                    field: "skip_prk_steps",
                    value: "false".into(),
                    expected: format!(
                        "`true` for fewer than 4 steps (the Runge-Kutta warm-up needs 4; {steps} requested)"
                    ),
                });
            }
            // np.array(_timesteps[-4:]).repeat(2) + tile([0, half], 4); [:-1].repeat(2)[1:-1][::-1]
            let last4 = &base[base.len() - 4..];
            let rep: Vec<i64> = last4.iter().flat_map(|&t| [t, t + half]).collect();
            let rep2: Vec<i64> = rep[..rep.len() - 1].iter().flat_map(|&t| [t, t]).collect();
            let mut prk: Vec<i64> = rep2[1..rep2.len() - 1].to_vec();
            prk.reverse();
            let plms: Vec<i64> = base[..base.len() - 3].iter().rev().copied().collect();
            (prk, plms)
        };
        let all: Vec<i64> = prk_steps.iter().chain(&plms).copied().collect();
        let ratio = match flavour {
            Flavour::Diffusers => (n / steps) as i64,
            Flavour::Monai => (n / all.len()) as i64,
        };
        let final_alpha_cumprod = if cfg.set_alpha_to_one.unwrap_or(false) {
            1.0
        } else {
            training.alphas_cumprod[0]
        };
        Ok(Self {
            name,
            training,
            final_alpha_cumprod,
            skip_prk,
            prk_steps,
            timesteps: all.iter().map(|&t| t as f32).collect(),
            steps: all,
            ratio,
            v_prediction,
            ets: Vec::new(),
            counter: 0,
            cur_model_output: None,
            cur_sample: None,
        })
    }

    fn prev_sample(
        &self,
        sample: &[f32],
        t: i64,
        prev_t: i64,
        model_output: &[f32],
        out: &mut [f32],
    ) -> Result<(), SchedulerError> {
        let a_t = self.training.ac(self.name, t)?;
        let a_prev = if prev_t >= 0 {
            self.training.ac(self.name, prev_t)?
        } else {
            self.final_alpha_cumprod
        };
        let beta_prod_t = 1.0 - a_t;
        let beta_prod_prev = 1.0 - a_prev;
        let (sqrt_a, sqrt_b) = (a_t.sqrt(), beta_prod_t.sqrt());
        let sample_coeff = (a_prev / a_t).sqrt();
        let denom = a_t * beta_prod_prev.sqrt() + (a_t * beta_prod_t * a_prev).sqrt();
        let diff = a_prev - a_t;
        for ((o, &s), &m) in out.iter_mut().zip(sample).zip(model_output) {
            let m = if self.v_prediction {
                sqrt_a * m + sqrt_b * s
            } else {
                m
            };
            *o = sample_coeff * s - diff * m / denom;
        }
        Ok(())
    }

    fn step_prk(
        &mut self,
        model_output: &[f32],
        t: i64,
        sample: &mut [f32],
    ) -> Result<(), SchedulerError> {
        let diff_to_prev = if self.counter % 2 == 1 {
            0
        } else {
            self.ratio / 2
        };
        let prev_t = t - diff_to_prev;
        let t = self.prk_steps[self.counter / 4 * 4];
        let m: Vec<f32> = match self.counter % 4 {
            0 => {
                let c = (1.0f64 / 6.0) as f32;
                self.cur_model_output = Some(model_output.iter().map(|&m| c * m).collect());
                self.ets.push(model_output.to_vec());
                self.cur_sample = Some(sample.to_vec());
                model_output.to_vec()
            }
            1 | 2 => {
                let c = (1.0f64 / 3.0) as f32;
                let cur = self
                    .cur_model_output
                    .get_or_insert_with(|| vec![0.0; model_output.len()]);
                for (a, &m) in cur.iter_mut().zip(model_output) {
                    *a += c * m;
                }
                model_output.to_vec()
            }
            _ => {
                let c = (1.0f64 / 6.0) as f32;
                let cur = self
                    .cur_model_output
                    .take()
                    .unwrap_or_else(|| vec![0.0; model_output.len()]);
                cur.iter()
                    .zip(model_output)
                    .map(|(&a, &m)| a + c * m)
                    .collect()
            }
        };
        let cur_sample = self.cur_sample.clone().unwrap_or_else(|| sample.to_vec());
        self.prev_sample(&cur_sample, t, prev_t, &m, sample)?;
        self.counter += 1;
        Ok(())
    }

    fn step_plms(
        &mut self,
        model_output: &[f32],
        t: i64,
        sample: &mut [f32],
    ) -> Result<(), SchedulerError> {
        let mut t = t;
        let mut prev_t = t - self.ratio;
        if self.counter != 1 {
            let keep = self.ets.len().saturating_sub(3);
            self.ets.drain(..keep);
            self.ets.push(model_output.to_vec());
        } else {
            prev_t = t;
            t += self.ratio;
        }
        let k = self.ets.len();
        let e = |i: usize| &self.ets[k - i];
        let mut from_sample: Option<Vec<f32>> = None;
        let m: Vec<f32> = if k == 1 && self.counter == 0 {
            self.cur_sample = Some(sample.to_vec());
            model_output.to_vec()
        } else if k == 1 && self.counter == 1 {
            from_sample = self.cur_sample.take();
            model_output
                .iter()
                .zip(e(1))
                .map(|(&m, &e1)| (m + e1) / 2.0)
                .collect()
        } else if k == 2 {
            e(1).iter()
                .zip(e(2))
                .map(|(&a, &b)| (3.0 * a - b) / 2.0)
                .collect()
        } else if k == 3 {
            (0..model_output.len())
                .map(|i| (23.0 * e(1)[i] - 16.0 * e(2)[i] + 5.0 * e(3)[i]) / 12.0)
                .collect()
        } else {
            let c = (1.0f64 / 24.0) as f32;
            (0..model_output.len())
                .map(|i| c * (55.0 * e(1)[i] - 59.0 * e(2)[i] + 37.0 * e(3)[i] - 9.0 * e(4)[i]))
                .collect()
        };
        let src = from_sample.unwrap_or_else(|| sample.to_vec());
        self.prev_sample(&src, t, prev_t, &m, sample)?;
        self.counter += 1;
        Ok(())
    }
}

impl Scheduler for Pndm {
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
        _noise: &mut dyn NoiseSource,
    ) -> Result<(), SchedulerError> {
        schedule::check_buffers(
            self.name,
            step,
            self.steps.len(),
            model_output,
            sample,
            sample_len,
        )?;
        if step != self.counter {
            return Err(schedule::out_of_order(self.name, step, self.counter));
        }
        let t = self.steps[step];
        if self.counter < self.prk_steps.len() && !self.skip_prk {
            self.step_prk(model_output, t, sample)
        } else {
            self.step_plms(model_output, t, sample)
        }
    }
}
