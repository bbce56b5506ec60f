//! Shared arithmetic: training betas and alpha products, timestep spacing, sigma tables, and the
//! numpy / torch primitives they are built from, reproduced in the same precision and order.
//!
//! diffusers computes betas and `alphas_cumprod` as float32 torch tensors (torch's cumulative
//! product accumulates in double on the CPU), timesteps with float64 numpy, and sigma tables in
//! float64 numpy from float32 inputs, stored as float32. The helpers here follow that.

use crate::SchedulerError;
use crate::config::{BetaSchedule, MonaiSchedule, SchedulerConfig, TimestepSpacing};

/// The training noise schedule: betas, alphas and their cumulative product, in float32.
#[derive(Debug, Clone)]
pub(crate) struct Training {
    pub betas: Vec<f32>,
    pub alphas: Vec<f32>,
    pub alphas_cumprod: Vec<f32>,
}

impl Training {
    /// diffusers' schedule from `beta_schedule` / `trained_betas` (and `rescale_betas_zero_snr`
    /// when `allow_rescale`).
    pub fn diffusers(
        cfg: &SchedulerConfig,
        class: &'static str,
        allow_rescale: bool,
    ) -> Result<Self, SchedulerError> {
        let n = num_train(cfg)?;
        let start = cfg.beta_start.unwrap_or(0.0001);
        let end = cfg.beta_end.unwrap_or(0.02);
        let mut betas = if let Some(trained) = &cfg.trained_betas {
            if trained.len() != n {
                return Err(SchedulerError::InvalidValue {
                    field: "trained_betas",
                    value: format!("{} values", trained.len()),
                    expected: format!("one beta per training timestep ({n})"),
                });
            }
            trained.iter().map(|&b| b as f32).collect()
        } else {
            match cfg.beta_schedule.unwrap_or(BetaSchedule::Linear) {
                BetaSchedule::Linear => torch_linspace_f32(start, end, n),
                BetaSchedule::ScaledLinear => torch_linspace_f32(start.sqrt(), end.sqrt(), n)
                    .into_iter()
                    .map(|b| b * b)
                    .collect(),
                BetaSchedule::SquaredcosCapV2 => betas_for_alpha_bar(n),
            }
        };
        if cfg.rescale_betas_zero_snr.unwrap_or(false) {
            if !allow_rescale {
                return Err(SchedulerError::Unsupported {
                    class,
                    field: "rescale_betas_zero_snr",
                    value: "true".into(),
                    hint: String::new(),
                });
            }
            betas = rescale_zero_terminal_snr(&betas);
        }
        Ok(Self::from_betas(betas))
    }

    /// MONAI's schedule from `schedule` (`linear_beta`, `scaled_linear_beta`, `sigmoid_beta`,
    /// `cosine`).
    pub fn monai(cfg: &SchedulerConfig) -> Result<Self, SchedulerError> {
        let n = num_train(cfg)?;
        let start = cfg.beta_start.unwrap_or(0.0001);
        let end = cfg.beta_end.unwrap_or(0.02);
        match cfg.schedule.unwrap_or(MonaiSchedule::LinearBeta) {
            MonaiSchedule::LinearBeta => Ok(Self::from_betas(torch_linspace_f32(start, end, n))),
            MonaiSchedule::ScaledLinearBeta => Ok(Self::from_betas(
                torch_linspace_f32(start.sqrt(), end.sqrt(), n)
                    .into_iter()
                    .map(|b| b * b)
                    .collect(),
            )),
            MonaiSchedule::SigmoidBeta => {
                let r = cfg.sig_range.unwrap_or(6.0);
                let (span, start32) = ((end - start) as f32, start as f32);
                let betas = torch_linspace_f32(-r, r, n)
                    .into_iter()
                    .map(|x| 1.0 / (1.0 + (-x).exp()) * span + start32)
                    .collect();
                Ok(Self::from_betas(betas))
            }
            MonaiSchedule::Cosine => {
                let s = cfg.s.unwrap_or(0.008);
                let x = torch_linspace_f32(0.0, n as f64, n + 1);
                let (nf, s32, one_s) = (n as f32, s as f32, (1.0 + s) as f32);
                let half_pi = std::f64::consts::PI as f32;
                let mut ac: Vec<f32> = x
                    .iter()
                    .map(|&x| {
                        let c = (((x / nf + s32) / one_s) * half_pi * 0.5).cos();
                        c * c
                    })
                    .collect();
                let first = ac[0];
                for a in &mut ac {
                    *a /= first;
                }
                let betas: Vec<f32> = (0..n)
                    .map(|i| (1.0 - ac[i + 1] / ac[i]).clamp(0.0, 0.999))
                    .collect();
                Ok(Self::from_betas(betas))
            }
        }
    }

    fn from_betas(betas: Vec<f32>) -> Self {
        let alphas: Vec<f32> = betas.iter().map(|b| 1.0 - b).collect();
        let alphas_cumprod = cumprod(&alphas);
        Self {
            betas,
            alphas,
            alphas_cumprod,
        }
    }

    /// diffusers sets the last alpha product to 2^-24 after a zero-SNR rescale (Euler, DPM, UniPC).
    pub fn patch_zero_snr(&mut self, cfg: &SchedulerConfig) {
        if cfg.rescale_betas_zero_snr.unwrap_or(false)
            && let Some(last) = self.alphas_cumprod.last_mut()
        {
            *last = 2f32.powi(-24);
        }
    }

    pub fn len(&self) -> usize {
        self.alphas_cumprod.len()
    }

    /// `alphas_cumprod[t]`, or an error when `t` is outside the training range.
    pub fn ac(&self, class: &'static str, t: i64) -> Result<f32, SchedulerError> {
        usize::try_from(t)
            .ok()
            .and_then(|t| self.alphas_cumprod.get(t).copied())
            .ok_or_else(|| SchedulerError::Usage {
                class,
                message: format!(
                    "timestep {t} is outside the training range 0..{}",
                    self.len()
                ),
            })
    }

    /// `((1 - alphas_cumprod) / alphas_cumprod) ** 0.5` in float32, ascending in t.
    pub fn sigmas(&self) -> Vec<f32> {
        self.alphas_cumprod
            .iter()
            .map(|&a| ((1.0 - a) / a).sqrt())
            .collect()
    }
}

/// `num_train_timesteps`, at least 1.
pub(crate) fn num_train(cfg: &SchedulerConfig) -> Result<usize, SchedulerError> {
    match cfg.num_train_timesteps.unwrap_or(1000) {
        0 => Err(SchedulerError::InvalidValue {
            field: "num_train_timesteps",
            value: "0".into(),
            expected: "a positive number of training timesteps".into(),
        }),
        n => Ok(n),
    }
}

/// Refuses 0 steps or more than the training steps.
pub(crate) fn check_steps(
    class: &'static str,
    steps: usize,
    max: usize,
) -> Result<(), SchedulerError> {
    if steps == 0 || steps > max {
        return Err(SchedulerError::Steps { class, steps, max });
    }
    Ok(())
}

/// torch's cumprod on CPU: float32 values, double accumulator.
fn cumprod(values: &[f32]) -> Vec<f32> {
    let mut acc = 1.0f64;
    values
        .iter()
        .map(|&v| {
            acc *= v as f64;
            acc as f32
        })
        .collect()
}

/// `torch.linspace(start, end, n, dtype=float32)` (the scalar formula of torch's CPU kernel:
/// the first half counted from `start`, the second from `end`). torch's vectorised kernel may
/// differ from it by one float32 ulp on some elements.
pub(crate) fn torch_linspace_f32(start: f64, end: f64, n: usize) -> Vec<f32> {
    let (start, end) = (start as f32, end as f32);
    if n == 1 {
        return vec![start];
    }
    let step = (end - start) / (n - 1) as f32;
    let half = n / 2;
    (0..n)
        .map(|i| {
            if i < half {
                start + step * i as f32
            } else {
                end - step * (n - i - 1) as f32
            }
        })
        .collect()
}

/// `numpy.linspace(start, stop, n)` in float64.
pub(crate) fn np_linspace(start: f64, stop: f64, n: usize) -> Vec<f64> {
    if n == 1 {
        return vec![start];
    }
    let step = (stop - start) / (n - 1) as f64;
    let mut out: Vec<f64> = (0..n).map(|i| i as f64 * step + start).collect();
    out[n - 1] = stop;
    out
}

/// `numpy.arange(start, stop, step)` for a float step (values `start + i * delta`, where
/// `delta = (start + step) - start`, as numpy fills them).
pub(crate) fn np_arange(start: f64, stop: f64, step: f64) -> Vec<f64> {
    let len = ((stop - start) / step).ceil();
    if len.is_nan() || len <= 0.0 {
        return Vec::new();
    }
    let len = len as usize;
    let delta = (start + step) - start;
    (0..len)
        .map(|i| match i {
            0 => start,
            1 => start + step,
            _ => start + i as f64 * delta,
        })
        .collect()
}

/// `numpy.interp(x, arange(len(fp)), fp)` in float64.
pub(crate) fn np_interp_index(x: f64, fp: &[f32]) -> f64 {
    let last = fp.len() - 1;
    if x <= 0.0 {
        return fp[0] as f64;
    }
    if x >= last as f64 {
        return fp[last] as f64;
    }
    let j = x.floor() as usize;
    let (y0, y1) = (fp[j] as f64, fp[j + 1] as f64);
    let slope = (y1 - y0) / 1.0;
    slope * (x - j as f64) + y0
}

/// The diffusers timesteps of `spacing` for `steps` inference steps, as float64 values before
/// any cast (`leading` adds `steps_offset`, `trailing` subtracts one), in descending order.
///
/// `plus_one` is the DPM-Solver / UniPC flavour (`steps + 1` points, the last dropped).
pub(crate) fn spaced_timesteps(
    spacing: TimestepSpacing,
    num_train: usize,
    steps: usize,
    steps_offset: i64,
    plus_one: bool,
) -> Vec<f64> {
    let t = num_train as f64;
    match spacing {
        TimestepSpacing::Linspace => {
            if plus_one {
                let mut v: Vec<f64> = np_linspace(0.0, t - 1.0, steps + 1)
                    .into_iter()
                    .map(f64::round_ties_even)
                    .collect();
                v.reverse();
                v.truncate(steps);
                v
            } else {
                let mut v: Vec<f64> = np_linspace(0.0, t - 1.0, steps)
                    .into_iter()
                    .map(f64::round_ties_even)
                    .collect();
                v.reverse();
                v
            }
        }
        TimestepSpacing::Leading => {
            let count = if plus_one { steps + 1 } else { steps };
            let ratio = num_train / count;
            let mut v: Vec<f64> = (0..count)
                .map(|i| (i * ratio) as f64 + steps_offset as f64)
                .collect();
            v.reverse();
            v.truncate(steps);
            v
        }
        TimestepSpacing::Trailing => {
            let ratio = t / steps as f64;
            np_arange(t, 0.0, -ratio)
                .into_iter()
                .map(|x| x.round_ties_even() - 1.0)
                .collect()
        }
    }
}

/// diffusers' `betas_for_alpha_bar` with the cosine transform, capped at 0.999.
fn betas_for_alpha_bar(n: usize) -> Vec<f32> {
    let alpha_bar = |t: f64| {
        let c = ((t + 0.008) / 1.008 * std::f64::consts::PI / 2.0).cos();
        c * c
    };
    (0..n)
        .map(|i| {
            let t1 = i as f64 / n as f64;
            let t2 = (i + 1) as f64 / n as f64;
            (1.0 - alpha_bar(t2) / alpha_bar(t1)).min(0.999) as f32
        })
        .collect()
}

/// diffusers' `rescale_zero_terminal_snr` (float32 torch arithmetic).
fn rescale_zero_terminal_snr(betas: &[f32]) -> Vec<f32> {
    let alphas: Vec<f32> = betas.iter().map(|b| 1.0 - b).collect();
    let ac = cumprod(&alphas);
    let mut sq: Vec<f32> = ac.iter().map(|a| a.sqrt()).collect();
    let (first, last) = (sq[0], sq[sq.len() - 1]);
    let factor = first / (first - last);
    for v in &mut sq {
        *v -= last;
        *v *= factor;
    }
    let bar: Vec<f32> = sq.iter().map(|v| v * v).collect();
    let mut out = Vec::with_capacity(bar.len());
    out.push(1.0 - bar[0]);
    for i in 1..bar.len() {
        out.push(1.0 - bar[i] / bar[i - 1]);
    }
    out
}

/// Karras et al.'s sigmas between `sigma_max` and `sigma_min` (rho 7), float64 as numpy.
pub(crate) fn karras(sigma_min: f64, sigma_max: f64, steps: usize) -> Vec<f64> {
    let rho = 7.0f64;
    let min_inv = sigma_min.powf(1.0 / rho);
    let max_inv = sigma_max.powf(1.0 / rho);
    np_linspace(0.0, 1.0, steps)
        .into_iter()
        .map(|r| (max_inv + r * (min_inv - max_inv)).powf(rho))
        .collect()
}

/// diffusers' `_sigma_to_t`: the fractional training timestep of `sigma`, interpolating
/// `log_sigmas` (float32 logs of the training sigmas, ascending).
pub(crate) fn sigma_to_t(sigma: f64, log_sigmas: &[f32]) -> f64 {
    let log_sigma = sigma.max(1e-10).ln();
    let n = log_sigmas.len();
    // cumsum(dists >= 0).argmax(): the last index whose log sigma is <= log_sigma (first
    // maximum of the running count), clipped to n - 2.
    let mut count = 0usize;
    let mut best = 0usize;
    let mut best_count = 0usize;
    for (i, &ls) in log_sigmas.iter().enumerate() {
        if log_sigma - ls as f64 >= 0.0 {
            count += 1;
        }
        if count > best_count {
            best_count = count;
            best = i;
        }
    }
    let low_idx = best.min(n - 2);
    let high_idx = low_idx + 1;
    let low = log_sigmas[low_idx];
    let high = log_sigmas[high_idx];
    let w = ((low as f64 - log_sigma) / ((low - high) as f64)).clamp(0.0, 1.0);
    (1.0 - w) * low_idx as f64 + w * high_idx as f64
}

/// float32 logs of the training sigmas, as `np.log` of a float32 array.
pub(crate) fn log_sigmas(sigmas: &[f32]) -> Vec<f32> {
    sigmas.iter().map(|&s| (s as f64).ln() as f32).collect()
}

/// Rounds to the nearest float16 value (ties to even), as numpy's `astype(np.float16)`.
pub(crate) fn round_f16(x: f64) -> f64 {
    if x == 0.0 || !x.is_finite() {
        return x;
    }
    let a = x.abs();
    if a >= 65520.0 {
        return f64::INFINITY.copysign(x);
    }
    // Exponent of `a` (a is normal in f64 here).
    let exp = ((a.to_bits() >> 52) & 0x7ff) as i32 - 1023;
    let quantum_exp = if exp < -14 { -24 } else { exp - 10 };
    let q = 2f64.powi(quantum_exp);
    (a / q).round_ties_even() * q * x.signum()
}

/// Per-sample dynamic thresholding of x0 (diffusers' `_threshold_sample`): `s` is the
/// `ratio` quantile of |x0| clamped to `[1, max]`; x0 is clamped to `[-s, s]` and divided by `s`.
pub(crate) fn threshold(x0: &mut [f32], sample_len: usize, ratio: f64, max: f64) {
    if sample_len == 0 {
        return;
    }
    let mut sorted = Vec::with_capacity(sample_len);
    for chunk in x0.chunks_mut(sample_len) {
        sorted.clear();
        sorted.extend(chunk.iter().map(|v| v.abs()));
        sorted.sort_by(f32::total_cmp);
        let q = torch_quantile_sorted(&sorted, ratio as f32);
        let s = q.max(1.0).min(max as f32);
        for v in chunk.iter_mut() {
            *v = v.clamp(-s, s) / s;
        }
    }
}

/// `torch.quantile` (linear interpolation) of sorted values, in float32.
fn torch_quantile_sorted(sorted: &[f32], q: f32) -> f32 {
    let rank = q * (sorted.len() - 1) as f32;
    let below = rank.floor();
    let lo = sorted[below as usize];
    let hi = sorted[(rank.ceil() as usize).min(sorted.len() - 1)];
    let w = rank - below;
    // torch's lerp.
    if w.abs() < 0.5 {
        lo + w * (hi - lo)
    } else {
        hi - (hi - lo) * (1.0 - w)
    }
}

/// Clips or thresholds a predicted x0 as diffusers' config asks (`thresholding` first, then
/// `clip_sample`).
#[derive(Debug, Clone, Copy)]
pub(crate) enum X0Limit {
    None,
    Clip(f32, f32),
    Threshold { ratio: f64, max: f64 },
}

impl X0Limit {
    pub fn from_config(cfg: &SchedulerConfig, clip_default: bool) -> Self {
        if cfg.thresholding.unwrap_or(false) {
            Self::Threshold {
                ratio: cfg.dynamic_thresholding_ratio.unwrap_or(0.995),
                max: cfg.sample_max_value.unwrap_or(1.0),
            }
        } else if cfg.clip_sample.unwrap_or(clip_default) {
            let r = cfg.clip_sample_range.unwrap_or(1.0) as f32;
            Self::Clip(-r, r)
        } else {
            Self::None
        }
    }

    /// Thresholding only (DPM-Solver and UniPC have no `clip_sample`).
    pub fn threshold_only(cfg: &SchedulerConfig) -> Self {
        if cfg.thresholding.unwrap_or(false) {
            Self::Threshold {
                ratio: cfg.dynamic_thresholding_ratio.unwrap_or(0.995),
                max: cfg.sample_max_value.unwrap_or(1.0),
            }
        } else {
            Self::None
        }
    }

    pub fn apply(self, x0: &mut [f32], sample_len: usize) {
        match self {
            Self::None => {}
            Self::Clip(lo, hi) => {
                for v in x0 {
                    *v = v.clamp(lo, hi);
                }
            }
            Self::Threshold { ratio, max } => threshold(x0, sample_len, ratio, max),
        }
    }
}

/// Checks that the buffers of a step agree in length and hold whole samples.
pub(crate) fn check_buffers(
    class: &'static str,
    step: usize,
    steps: usize,
    model_output: &[f32],
    sample: &[f32],
    sample_len: usize,
) -> Result<(), SchedulerError> {
    if step >= steps {
        return Err(SchedulerError::Usage {
            class,
            message: format!("step {step} is past the last step ({steps} steps)"),
        });
    }
    if model_output.len() != sample.len()
        || sample_len == 0
        || !sample.len().is_multiple_of(sample_len)
    {
        return Err(SchedulerError::Usage {
            class,
            message: format!(
                "model output has {} values and the sample {} ({} per sample): they must agree \
                 and hold whole samples",
                model_output.len(),
                sample.len(),
                sample_len
            ),
        });
    }
    Ok(())
}

/// An error for a step called out of order (multistep schedulers keep state).
pub(crate) fn out_of_order(class: &'static str, step: usize, expected: usize) -> SchedulerError {
    SchedulerError::Usage {
        class,
        message: format!("step {step} called, but step {expected} is next: steps run in order"),
    }
}
