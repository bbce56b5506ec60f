//! `SchedulerConfig`: a diffusers `scheduler_config.json` (or a MONAI scheduler's arguments) read
//! unchanged.
//!
//! Every field is optional: a missing field takes the default of the scheduler class that is
//! made from the config (diffusers' defaults differ between classes, e.g. `clip_sample` or
//! `timestep_spacing`), so a config written for one class can drive another, as diffusers'
//! `from_config` does. Unknown fields are kept in [`SchedulerConfig::extra`] and ignored.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::SchedulerError;

/// How the training betas are laid out (`beta_schedule`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum BetaSchedule {
    /// `linear`: evenly spaced from `beta_start` to `beta_end`.
    #[serde(rename = "linear")]
    Linear,
    /// `scaled_linear`: evenly spaced square roots, squared (Stable Diffusion's).
    #[serde(rename = "scaled_linear")]
    ScaledLinear,
    /// `squaredcos_cap_v2`: the cosine schedule of Nichol & Dhariwal, betas capped at 0.999.
    #[serde(rename = "squaredcos_cap_v2")]
    SquaredcosCapV2,
}

/// What the denoiser predicts (`prediction_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PredictionType {
    /// `epsilon`: the added noise.
    #[serde(rename = "epsilon")]
    Epsilon,
    /// `v_prediction`: the velocity `alpha * noise - sigma * x0`.
    #[serde(rename = "v_prediction")]
    VPrediction,
    /// `sample`: the clean sample x0.
    #[serde(rename = "sample")]
    Sample,
    /// `flow_prediction`: the flow velocity `noise - x0` (flow-matching models).
    #[serde(rename = "flow_prediction")]
    FlowPrediction,
}

impl PredictionType {
    /// The name as written in a config.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Epsilon => "epsilon",
            Self::VPrediction => "v_prediction",
            Self::Sample => "sample",
            Self::FlowPrediction => "flow_prediction",
        }
    }
}

/// How inference timesteps are picked among the training ones (`timestep_spacing`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TimestepSpacing {
    /// `leading`: multiples of `num_train_timesteps / steps`, plus `steps_offset`.
    #[serde(rename = "leading")]
    Leading,
    /// `linspace`: evenly spaced over `0..=num_train_timesteps - 1`, rounded.
    #[serde(rename = "linspace")]
    Linspace,
    /// `trailing`: counted down from `num_train_timesteps - 1`.
    #[serde(rename = "trailing")]
    Trailing,
}

/// DDPM's posterior variance (`variance_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum VarianceType {
    /// `fixed_small`: the posterior variance (default).
    #[serde(rename = "fixed_small")]
    FixedSmall,
    /// `fixed_small_log`: the same, through a log (diffusers).
    #[serde(rename = "fixed_small_log")]
    FixedSmallLog,
    /// `fixed_large`: beta_t.
    #[serde(rename = "fixed_large")]
    FixedLarge,
    /// `fixed_large_log` (diffusers; not supported here).
    #[serde(rename = "fixed_large_log")]
    FixedLargeLog,
    /// `learned`: predicted by the model (not supported here).
    #[serde(rename = "learned")]
    Learned,
    /// `learned_range`: interpolated by the model (not supported here).
    #[serde(rename = "learned_range")]
    LearnedRange,
}

/// DPM-Solver's variant (`algorithm_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum AlgorithmType {
    /// `dpmsolver++`: data-prediction solver (default).
    #[serde(rename = "dpmsolver++")]
    DpmSolverPlusPlus,
    /// `dpmsolver`: noise-prediction solver.
    #[serde(rename = "dpmsolver")]
    DpmSolver,
    /// `sde-dpmsolver++`: the stochastic data-prediction solver (draws noise every step).
    #[serde(rename = "sde-dpmsolver++")]
    SdeDpmSolverPlusPlus,
    /// `sde-dpmsolver` (not supported here).
    #[serde(rename = "sde-dpmsolver")]
    SdeDpmSolver,
    /// `deis`: diffusers replaces it by `dpmsolver++`; so does this crate.
    #[serde(rename = "deis")]
    Deis,
}

/// Multistep solver flavour (`solver_type`): DPM-Solver's `midpoint` / `heun`, UniPC's `bh1` /
/// `bh2`. Each scheduler maps the other family's values as diffusers does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SolverType {
    /// `midpoint` (DPM-Solver default).
    #[serde(rename = "midpoint")]
    Midpoint,
    /// `heun`.
    #[serde(rename = "heun")]
    Heun,
    /// `logrho` (mapped to `midpoint` / `bh2`).
    #[serde(rename = "logrho")]
    Logrho,
    /// `bh1` (UniPC).
    #[serde(rename = "bh1")]
    Bh1,
    /// `bh2` (UniPC default).
    #[serde(rename = "bh2")]
    Bh2,
}

/// The sigma appended after the last step (`final_sigmas_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum FinalSigmasType {
    /// `zero` (default): the last step lands on the clean sample.
    #[serde(rename = "zero")]
    Zero,
    /// `sigma_min`: the last step lands on the smallest training sigma.
    #[serde(rename = "sigma_min")]
    SigmaMin,
}

/// MONAI's noise schedule (`schedule`), used by MONAI's DDPM / DDIM / PNDM schedulers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum MonaiSchedule {
    /// `linear_beta` (MONAI default).
    #[serde(rename = "linear_beta")]
    LinearBeta,
    /// `scaled_linear_beta`.
    #[serde(rename = "scaled_linear_beta")]
    ScaledLinearBeta,
    /// `sigmoid_beta` (uses `sig_range`, default 6).
    #[serde(rename = "sigmoid_beta")]
    SigmoidBeta,
    /// `cosine` (uses `s`, default 0.008).
    #[serde(rename = "cosine")]
    Cosine,
}

/// A scheduler config as diffusers writes `scheduler_config.json` (plus the arguments of MONAI's
/// schedulers), read unchanged. Missing fields take the chosen class's default.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SchedulerConfig {
    /// diffusers' class name, e.g. `DDIMScheduler`.
    #[serde(rename = "_class_name")]
    pub class_name: Option<String>,
    /// The diffusers version that wrote the config (informative).
    #[serde(rename = "_diffusers_version")]
    pub diffusers_version: Option<String>,
    /// A MONAI bundle's `_target_`, e.g. `monai.networks.schedulers.RFlowScheduler`.
    #[serde(rename = "_target_")]
    pub target: Option<String>,

    /// Training timesteps (default 1000).
    pub num_train_timesteps: Option<usize>,
    /// First beta (default 0.0001).
    #[serde(deserialize_with = "lenient_f64")]
    pub beta_start: Option<f64>,
    /// Last beta (default 0.02).
    #[serde(deserialize_with = "lenient_f64")]
    pub beta_end: Option<f64>,
    /// Beta layout (default `linear`).
    pub beta_schedule: Option<BetaSchedule>,
    /// Explicit betas, overriding the schedule.
    pub trained_betas: Option<Vec<f64>>,
    /// Rescale betas to zero terminal SNR (default false).
    pub rescale_betas_zero_snr: Option<bool>,
    /// What the denoiser predicts (default `epsilon`).
    pub prediction_type: Option<PredictionType>,
    /// Timestep spacing (default: `leading` for DDPM/DDIM/PNDM, `linspace` for the others).
    pub timestep_spacing: Option<TimestepSpacing>,
    /// Added to `leading` timesteps (default 0).
    pub steps_offset: Option<i64>,

    /// Clip the predicted x0 to `[-clip_sample_range, clip_sample_range]` (DDPM/DDIM default true).
    pub clip_sample: Option<bool>,
    /// Clip bound (default 1).
    #[serde(deserialize_with = "lenient_f64")]
    pub clip_sample_range: Option<f64>,
    /// Dynamic thresholding of the predicted x0 (default false).
    pub thresholding: Option<bool>,
    /// Quantile of dynamic thresholding (default 0.995).
    #[serde(deserialize_with = "lenient_f64")]
    pub dynamic_thresholding_ratio: Option<f64>,
    /// Upper bound of the dynamic threshold (default 1).
    #[serde(deserialize_with = "lenient_f64")]
    pub sample_max_value: Option<f64>,

    /// DDIM/PNDM: the alpha product after the last step is 1 (DDIM default true, PNDM false).
    pub set_alpha_to_one: Option<bool>,
    /// DDIM's eta (not a diffusers config field: diffusers passes it to `step`; default 0).
    #[serde(deserialize_with = "lenient_f64")]
    pub eta: Option<f64>,
    /// DDPM's variance (default `fixed_small`).
    pub variance_type: Option<VarianceType>,
    /// PNDM: skip the Runge-Kutta warm-up (diffusers default false; pipelines' configs set true).
    pub skip_prk_steps: Option<bool>,

    /// Multistep order (DPM-Solver / UniPC, default 2).
    pub solver_order: Option<usize>,
    /// DPM-Solver variant (default `dpmsolver++`).
    pub algorithm_type: Option<AlgorithmType>,
    /// Solver flavour (DPM-Solver default `midpoint`, UniPC default `bh2`).
    pub solver_type: Option<SolverType>,
    /// Use lower orders on the last steps when there are fewer than 15 (default true).
    pub lower_order_final: Option<bool>,
    /// DPM-Solver: first order on the last step (default false).
    pub euler_at_final: Option<bool>,
    /// The sigma after the last step (default `zero`).
    pub final_sigmas_type: Option<FinalSigmasType>,
    /// DPM-Solver: clip lambda from below (default -inf).
    #[serde(deserialize_with = "lenient_f64")]
    pub lambda_min_clipped: Option<f64>,
    /// UniPC: predict x0 (default true).
    pub predict_x0: Option<bool>,
    /// UniPC: steps whose corrector is skipped (default none).
    pub disable_corrector: Option<Vec<i64>>,

    /// Karras sigmas (Euler, DPM-Solver, UniPC, flow matching; default false).
    pub use_karras_sigmas: Option<bool>,
    /// Exponential sigmas (not supported here).
    pub use_exponential_sigmas: Option<bool>,
    /// Beta sigmas (not supported here).
    pub use_beta_sigmas: Option<bool>,
    /// DPM-Solver: Lu's lambdas (not supported here).
    pub use_lu_lambdas: Option<bool>,
    /// Flow sigmas for DPM-Solver / UniPC (not supported here).
    pub use_flow_sigmas: Option<bool>,
    /// Euler: sigma interpolation (`linear` only here).
    pub interpolation_type: Option<String>,
    /// Euler: `discrete` (default) or `continuous` timesteps (`0.25 ln sigma`, with v_prediction).
    pub timestep_type: Option<String>,
    /// Euler: override the smallest sigma of the Karras schedule.
    #[serde(deserialize_with = "lenient_f64")]
    pub sigma_min: Option<f64>,
    /// Euler: override the largest sigma of the Karras schedule.
    #[serde(deserialize_with = "lenient_f64")]
    pub sigma_max: Option<f64>,

    /// Flow matching: the timestep shift (default 1).
    #[serde(deserialize_with = "lenient_f64")]
    pub shift: Option<f64>,
    /// Flow matching: resolution-dependent shift (not supported here: needs the pipeline's `mu`).
    pub use_dynamic_shifting: Option<bool>,
    /// Flow matching: stretch the schedule so it ends at this value.
    #[serde(deserialize_with = "lenient_f64")]
    pub shift_terminal: Option<f64>,
    /// Flow matching: invert sigmas (not supported here).
    pub invert_sigmas: Option<bool>,
    /// Flow matching: stochastic sampling (draws noise every step; default false).
    pub stochastic_sampling: Option<bool>,

    /// MONAI: the noise schedule (default `linear_beta`).
    pub schedule: Option<MonaiSchedule>,
    /// MONAI: lower clip bound (default -1).
    #[serde(deserialize_with = "lenient_f64")]
    pub clip_sample_min: Option<f64>,
    /// MONAI: upper clip bound (default 1).
    #[serde(deserialize_with = "lenient_f64")]
    pub clip_sample_max: Option<f64>,
    /// MONAI `sigmoid_beta`: range of the sigmoid input (default 6).
    #[serde(deserialize_with = "lenient_f64")]
    pub sig_range: Option<f64>,
    /// MONAI `cosine`: smoothing offset (default 0.008).
    #[serde(deserialize_with = "lenient_f64")]
    pub s: Option<f64>,
    /// MONAI RFlow: integer timesteps (default true).
    pub use_discrete_timesteps: Option<bool>,
    /// MONAI RFlow: training-time sampling of timesteps (`uniform` or `logit-normal`; unused at
    /// inference, checked only).
    pub sample_method: Option<String>,
    /// MONAI RFlow: logit-normal location (training only).
    #[serde(deserialize_with = "lenient_f64")]
    pub loc: Option<f64>,
    /// MONAI RFlow: logit-normal scale (training only).
    #[serde(deserialize_with = "lenient_f64")]
    pub scale: Option<f64>,
    /// MONAI RFlow: resolution-dependent timestep transform (default false).
    pub use_timestep_transform: Option<bool>,
    /// MONAI RFlow: transform scale (MONAI ignores it at inference; so does this crate).
    #[serde(deserialize_with = "lenient_f64")]
    pub transform_scale: Option<f64>,
    /// MONAI RFlow: reference image size (default 32768 = 32^3).
    #[serde(deserialize_with = "lenient_f64")]
    pub base_img_size_numel: Option<f64>,
    /// MONAI RFlow: spatial dimensions (default 3).
    pub spatial_dim: Option<u32>,
    /// MONAI RFlow: the sample's spatial size (voxels), when the sampler does not call
    /// [`crate::Scheduler::set_sample_shape`] (a medigan extension).
    #[serde(deserialize_with = "lenient_f64")]
    pub input_img_size_numel: Option<f64>,

    /// Fields this crate does not read, kept as written.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl SchedulerConfig {
    /// Parses a `scheduler_config.json`; an error names the field at fault.
    ///
    /// Python's `json` writes non-finite floats as bare `Infinity`, `-Infinity` and `NaN`
    /// (diffusers' DPM-Solver configs hold `"lambda_min_clipped": -Infinity`): they are read too.
    pub fn from_json(text: &str) -> Result<Self, SchedulerError> {
        let text = quote_non_finite(text);
        let de = &mut serde_json::Deserializer::from_str(&text);
        let value: Value = serde_path_to_error::deserialize(de).map_err(path_error)?;
        Self::from_value(value)
    }

    /// Reads a config given inline as a JSON value.
    ///
    /// The fields that `_use_default_values` lists are read as absent, as diffusers'
    /// `extract_init_dict` does: `save_pretrained` writes every field, and lists there the ones
    /// that were never set, so that another class made from the config takes its own default
    /// (a DDIM config's `timestep_spacing: "leading"` does not carry over to DPM-Solver, whose
    /// default is `linspace`).
    pub fn from_value(mut value: Value) -> Result<Self, SchedulerError> {
        drop_unset_fields(&mut value);
        serde_path_to_error::deserialize(value).map_err(path_error)
    }
}

/// Removes the fields `_use_default_values` names (and the list itself) from a config object.
fn drop_unset_fields(value: &mut Value) {
    let Some(object) = value.as_object_mut() else {
        return;
    };
    let Some(Value::Array(unset)) = object.remove("_use_default_values") else {
        return;
    };
    for name in unset.iter().filter_map(Value::as_str) {
        object.remove(name);
    }
}

fn path_error<E: std::fmt::Display>(err: serde_path_to_error::Error<E>) -> SchedulerError {
    let path = err.path().to_string();
    let field = if path.is_empty() || path == "." {
        "$".to_owned()
    } else {
        path
    };
    let message = err.into_inner().to_string();
    SchedulerError::Config { field, message }
}

/// Quotes the bare `Infinity`, `-Infinity` and `NaN` tokens Python's `json` writes (outside
/// strings), so that serde_json reads them as strings that [`lenient_f64`] accepts.
fn quote_non_finite(text: &str) -> std::borrow::Cow<'_, str> {
    if !(text.contains("Infinity") || text.contains("NaN")) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    let mut in_string = false;
    let mut escaped = false;
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
            rest = &rest[c.len_utf8()..];
            continue;
        }
        if c == '"' {
            in_string = true;
        }
        let token = ["-Infinity", "Infinity", "NaN"]
            .into_iter()
            .find(|t| rest.starts_with(t));
        if let Some(token) = token {
            out.push('"');
            out.push_str(token);
            out.push('"');
            rest = &rest[token.len()..];
        } else {
            out.push(c);
            rest = &rest[c.len_utf8()..];
        }
    }
    std::borrow::Cow::Owned(out)
}

/// An optional float written as a number, `null`, or one of the strings `Infinity`,
/// `-Infinity`, `NaN` (Python's spelling of non-finite floats).
fn lenient_f64<'de, D: serde::Deserializer<'de>>(de: D) -> Result<Option<f64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Lenient {
        Number(f64),
        Text(String),
    }
    match Option::<Lenient>::deserialize(de)? {
        None => Ok(None),
        Some(Lenient::Number(v)) => Ok(Some(v)),
        Some(Lenient::Text(t)) => match t.as_str() {
            "Infinity" | "inf" => Ok(Some(f64::INFINITY)),
            "-Infinity" | "-inf" => Ok(Some(f64::NEG_INFINITY)),
            "NaN" | "nan" => Ok(Some(f64::NAN)),
            _ => Err(serde::de::Error::custom(format!(
                "expected a number (or `Infinity`, `-Infinity`, `NaN`), found the string {t:?}"
            ))),
        },
    }
}
