//! Rectified flow: MONAI 1.6's `RFlowScheduler` (MAISI), reproduced with its quirks.
//!
//! Timesteps are `(1 - i / steps) * T`, rounded to integers (`use_discrete_timesteps`, default),
//! optionally moved by the resolution-dependent transform (`use_timestep_transform`: ratio
//! `(numel / base_img_size_numel) ^ (1 / spatial_dim)`, `numel` the sample's spatial size), then
//! cast to float16 (and to int64 again, truncating, when discrete), plus `steps_offset`. A step
//! goes `x <- x + v * (t - next) / T` where `next` is the following timestep truncated to an
//! integer (0 after the last), as MAISI's sampling loop passes it; with float timesteps
//! `t - next` is computed in float16, as MONAI does.

use crate::config::SchedulerConfig;
use crate::schedule::{self, round_f16};
use crate::{NoiseSource, Scheduler, SchedulerError};

const NAME: &str = "monai.networks.schedulers.RFlowScheduler";

/// MONAI's rectified-flow Euler step.
pub(crate) struct RFlow {
    num_train: usize,
    steps: usize,
    discrete: bool,
    transform: bool,
    base_numel: f64,
    spatial_dim: u32,
    offset: i64,
    timesteps: Vec<f32>,
    x0: Vec<f32>,
}

impl RFlow {
    pub fn new(cfg: &SchedulerConfig, steps: usize) -> Result<Self, SchedulerError> {
        let n = schedule::num_train(cfg)?;
        schedule::check_steps(NAME, steps, n)?;
        if let Some(method) = cfg.sample_method.as_deref()
            && method != "uniform"
            && method != "logit-normal"
        {
            return Err(SchedulerError::InvalidValue {
                field: "sample_method",
                value: format!("{method:?}"),
                expected: "`uniform` or `logit-normal`".into(),
            });
        }
        let spatial_dim = cfg.spatial_dim.unwrap_or(3);
        if spatial_dim == 0 {
            return Err(SchedulerError::InvalidValue {
                field: "spatial_dim",
                value: "0".into(),
                expected: "1, 2 or 3".into(),
            });
        }
        let base_numel = cfg.base_img_size_numel.unwrap_or(32.0 * 32.0 * 32.0);
        if base_numel.is_nan() || base_numel <= 0.0 {
            return Err(SchedulerError::InvalidValue {
                field: "base_img_size_numel",
                value: base_numel.to_string(),
                expected: "a positive number of voxels".into(),
            });
        }
        let mut me = Self {
            num_train: n,
            steps,
            discrete: cfg.use_discrete_timesteps.unwrap_or(true),
            transform: cfg.use_timestep_transform.unwrap_or(false),
            base_numel,
            spatial_dim,
            offset: cfg.steps_offset.unwrap_or(0),
            timesteps: Vec::new(),
            x0: Vec::new(),
        };
        me.set_numel(cfg.input_img_size_numel.unwrap_or(base_numel));
        Ok(me)
    }

    fn set_numel(&mut self, numel: f64) {
        let (n, steps) = (self.num_train as f64, self.steps);
        let ratio = (numel / self.base_numel).powf(1.0 / self.spatial_dim as f64);
        self.timesteps = (0..steps)
            .map(|i| {
                let mut t = (1.0 - i as f64 / steps as f64) * n;
                if self.discrete {
                    t = t.round_ties_even();
                }
                if self.transform {
                    let x = t / n;
                    t = ratio * x / (1.0 + (ratio - 1.0) * x) * n;
                }
                let mut t = round_f16(t);
                if self.discrete {
                    t = t.trunc() + self.offset as f64;
                } else {
                    t = round_f16(t + self.offset as f64);
                }
                t as f32
            })
            .collect();
    }
}

impl Scheduler for RFlow {
    fn name(&self) -> &'static str {
        NAME
    }

    fn timesteps(&self) -> &[f32] {
        &self.timesteps
    }

    fn set_sample_shape(&mut self, shape: &[usize]) -> Result<(), SchedulerError> {
        if self.transform {
            let numel: f64 = shape.iter().skip(1).map(|&d| d as f64).product();
            self.set_numel(numel);
        }
        Ok(())
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
            NAME,
            step,
            self.timesteps.len(),
            model_output,
            sample,
            sample_len,
        )?;
        let t = self.timesteps[step] as f64;
        let next = self
            .timesteps
            .get(step + 1)
            .map_or(0.0, |&n| (n as f64).trunc());
        let diff = if self.discrete {
            t - next
        } else {
            round_f16(t - next)
        };
        let dt = (diff / self.num_train as f64) as f32;
        let (tf, nf) = (t as f32, self.num_train as f32);
        self.x0.resize(sample.len(), 0.0);
        for ((x0, s), &v) in self.x0.iter_mut().zip(sample.iter_mut()).zip(model_output) {
            *x0 = *s + v * tf / nf;
            *s += v * dt;
        }
        Ok(())
    }

    fn predicted_original(&self) -> Option<&[f32]> {
        (!self.x0.is_empty()).then_some(&self.x0[..])
    }
}
