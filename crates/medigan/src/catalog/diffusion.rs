//! `execution.onnx.diffusion`: the declaration of a diffusion model (a denoiser graph run by the
//! sampler over a scheduler, and an optional latent decoder).
//!
//! A diffusion package is a native package whose `execution.onnx` carries this object. Then
//! `execution.onnx.graph` is the denoiser, `execution.onnx.inputs` lists only what the user
//! chooses (a `class` input of the denoiser), and `execution.onnx.outputs` declares the final
//! samples (after the decoder, if any). See `docs/model-format.md`.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The diffusion part of a native package's declaration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiffusionSpec {
    /// How the denoiser graph is fed and what it predicts.
    pub denoiser: DenoiserSpec,
    /// The initial noise of one sample (standard normal, from the sample's seed).
    pub noise: NoiseSpec,
    /// The scheduler: a diffusers `scheduler_config.json` in the package, or the same inline.
    pub scheduler: SchedulerSource,
    /// Default number of inference steps.
    pub steps: usize,
    /// Default classifier-free guidance scale (needs a class input with `null_class`, or a
    /// prompt conditioning input, whose embeddings hold the empty prompt's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guidance_scale: Option<f64>,
    /// The class index that means "no class", for classifier-free guidance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub null_class: Option<usize>,
    /// A latent decoder (VAE / VQ) turning the final latent into the sample.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decoder: Option<DecoderSpec>,
    /// Further denoiser inputs the sampler fills from the run (a volume's voxel spacing, as
    /// MAISI's `DiffusionModelUNetMaisi` takes it); the class input stays in
    /// `execution.onnx.inputs`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditioning: Vec<ConditioningSpec>,
}

/// One further denoiser input, filled by the sampler from the run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConditioningSpec {
    /// The denoiser graph's input name.
    pub name: String,
    /// What the sampler feeds it.
    pub kind: ConditioningKind,
    /// The values fed are the run's values times this (MAISI feeds spacing in mm x 100);
    /// default 1.
    #[serde(default = "one")]
    pub scale: f64,
    /// `prompt`: the file of precomputed text embeddings in the package, float32
    /// `[prompts + 1, tokens, width]` `.npy`: one row per declared prompt, in order, then the
    /// empty prompt's (the unconditional half of classifier-free guidance).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub embeddings: Option<String>,
    /// `prompt`: sha256 of the embeddings file (lower-case hex), checked when it is read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// `prompt`: the prompts the embeddings were computed for (`--prompt` picks one, exactly).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub prompts: Vec<String>,
}

/// What a conditioning input carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConditioningKind {
    /// The run's voxel spacing in mm, float32 `[B, spatial axes]` in the order of the image
    /// output's spatial axes: `--spacing`, else the image output's declared `spacing` (which
    /// the written volumes then carry).
    Spacing,
    /// Text conditioning from precomputed embeddings (a Stable Diffusion UNet's
    /// `encoder_hidden_states`): float32 `[B, tokens, width]`, the row of the run's prompt
    /// (`--prompt`, default the first declared), the empty prompt's row for the unconditional
    /// half of guidance.
    Prompt,
}

/// The denoiser graph's ports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DenoiserSpec {
    /// Input name of the noisy sample, float32 `[B, *noise.shape]`.
    pub sample: String,
    /// Input name of the timestep, `[B]`.
    pub timestep: String,
    /// Element type of the timestep input.
    #[serde(default)]
    pub timestep_type: TimestepType,
    /// Output name of the prediction, float32 `[B, *noise.shape]`.
    pub output: String,
    /// What the denoiser predicts; default: the scheduler config's `prediction_type`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prediction: Option<Prediction>,
}

/// Element type of the denoiser's timestep input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimestepType {
    /// `int64` (diffusers' UNet2DModel export, MONAI's DiffusionModelUNet).
    #[default]
    Int64,
    /// `float32` (flow models, continuous timesteps).
    Float32,
}

/// What a denoiser predicts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Prediction {
    /// The added noise.
    Epsilon,
    /// The velocity `alpha_t * eps - sigma_t * x0`.
    VPrediction,
    /// The clean sample itself.
    Sample,
    /// The flow velocity of a rectified-flow / flow-matching model.
    Flow,
}

impl Prediction {
    /// The scheduler's `prediction_type` for this prediction.
    pub fn scheduler_prediction(self) -> medigan_diffusion::PredictionType {
        use medigan_diffusion::PredictionType as P;
        match self {
            Prediction::Epsilon => P::Epsilon,
            Prediction::VPrediction => P::VPrediction,
            Prediction::Sample => P::Sample,
            Prediction::Flow => P::FlowPrediction,
        }
    }
}

/// The initial noise of one sample.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoiseSpec {
    /// Shape without the batch axis: `[C, H, W]` or `[C, D, H, W]`.
    pub shape: Vec<usize>,
}

impl NoiseSpec {
    /// Number of values of one sample's noise.
    pub fn sample_len(&self) -> usize {
        self.shape.iter().product()
    }
}

/// Where the scheduler's configuration is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum SchedulerSource {
    /// A file in the package, e.g. `scheduler_config.json` (diffusers' format, unchanged).
    File(String),
    /// The same object, inline.
    Inline(Map<String, Value>),
}

/// A latent decoder graph.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecoderSpec {
    /// File name of the decoder graph inside the package.
    pub graph: String,
    /// Input name of the latent, float32 `[B, *noise.shape]`.
    pub input: String,
    /// Output name of the decoded sample (the image output of `execution.onnx.outputs`).
    pub output: String,
    /// The decoder sees `latent / scaling_factor + shift_factor`.
    #[serde(default = "one")]
    pub scaling_factor: f64,
    /// See `scaling_factor`.
    #[serde(default)]
    pub shift_factor: f64,
    /// Decode in overlapping windows of the latent, blended as MONAI's `SlidingWindowInferer`
    /// does (the decoder graph then takes one window, `[B, C, *roi]`); absent: the whole
    /// latent at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sliding_window: Option<SlidingWindowSpec>,
    /// The decoder graph's external-data files (see [`super::ExternalData`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub external_data: Vec<super::ExternalData>,
}

/// Sliding-window decoding (MONAI's `SlidingWindowInferer` arguments).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlidingWindowSpec {
    /// The window in latent voxels, one size per spatial axis of `noise.shape`.
    pub roi: Vec<usize>,
    /// How much neighbouring windows overlap, in [0, 1) (default 0.25, MONAI's).
    #[serde(default = "quarter")]
    pub overlap: f64,
    /// How overlapping windows are blended (default `gaussian`).
    #[serde(default)]
    pub mode: BlendMode,
    /// The Gaussian's sigma as a fraction of the window (default 0.125, MONAI's).
    #[serde(default = "eighth")]
    pub sigma_scale: f64,
}

/// How overlapping windows are blended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BlendMode {
    /// Weights falling off from each window's centre.
    #[default]
    Gaussian,
    /// Equal weights.
    Constant,
}

fn one() -> f64 {
    1.0
}

fn quarter() -> f64 {
    0.25
}

fn eighth() -> f64 {
    0.125
}

/// Most inference steps a package may declare or a run may ask for.
pub const MAX_STEPS: usize = 10_000;

/// The problems of an `execution.onnx` object that declares `diffusion`, each as (field path,
/// message): the diffusion object itself (typed, so an unknown or mistyped field is named) and
/// how it fits the rest of the declaration.
pub fn diffusion_problems(onnx: &Map<String, Value>) -> Vec<(String, String)> {
    let at = "execution.onnx.diffusion";
    let Some(raw) = onnx.get("diffusion") else {
        return Vec::new();
    };
    let spec: DiffusionSpec = match serde_path_to_error::deserialize(raw) {
        Ok(spec) => spec,
        Err(e) => {
            let path = e.path().to_string();
            let field = if path == "." {
                at.to_string()
            } else {
                format!("{at}.{path}")
            };
            return vec![(field, e.into_inner().to_string())];
        }
    };
    let mut problems = Vec::new();
    let mut problem = |field: &str, message: String| {
        problems.push((format!("{at}.{field}"), message));
    };
    if !(1..=MAX_STEPS).contains(&spec.steps) {
        problem(
            "steps",
            format!("expected 1 to {MAX_STEPS}, found {}", spec.steps),
        );
    }
    let dims = spec.noise.shape.len();
    if !(dims == 3 || dims == 4) || spec.noise.shape.contains(&0) {
        problem(
            "noise.shape",
            "expected [C, H, W] or [C, D, H, W] of positive sizes".into(),
        );
    }
    if spec.noise.shape.iter().map(|&d| d as u64).product::<u64>() > super::MAX_DECLARED_VALUES {
        problem(
            "noise.shape",
            format!(
                "declares more than {} values per sample",
                super::MAX_DECLARED_VALUES
            ),
        );
    }
    if let Some(g) = spec.guidance_scale
        && !(g.is_finite() && g >= 0.0)
    {
        problem(
            "guidance_scale",
            format!("expected a number >= 0, found {g}"),
        );
    }
    if let SchedulerSource::File(file) = &spec.scheduler
        && let Some(reason) = super::graph_path_problem(file)
    {
        problem(
            "scheduler",
            format!(
                "refused: {reason}; name a file inside the package, e.g. \"scheduler_config.json\""
            ),
        );
    }
    if let Some(decoder) = &spec.decoder {
        if let Some(reason) = super::graph_path_problem(&decoder.graph) {
            problem(
                "decoder.graph",
                format!("refused: {reason}; name a file inside the package, e.g. \"decoder.onnx\""),
            );
        }
        if !decoder.external_data.is_empty() {
            let list = serde_json::to_value(&decoder.external_data).unwrap_or_default();
            for (field, message) in super::external_data_problems(&list, "decoder.external_data") {
                problem(&field, message);
            }
        }
        if let Some(window) = &decoder.sliding_window
            && let Some(reason) = sliding_window_problem(window, &spec.noise.shape)
        {
            problem("decoder.sliding_window", reason);
        }
        if !(decoder.scaling_factor.is_finite() && decoder.scaling_factor != 0.0) {
            problem(
                "decoder.scaling_factor",
                format!(
                    "expected a finite non-zero number, found {}",
                    decoder.scaling_factor
                ),
            );
        }
    }
    for (i, input) in spec.conditioning.iter().enumerate() {
        if let Some(reason) = prompt_problem(input) {
            problem(&format!("conditioning[{i}]"), reason);
        }
        if !(input.scale.is_finite() && input.scale != 0.0) {
            problem(
                &format!("conditioning[{i}].scale"),
                format!("expected a finite non-zero number, found {}", input.scale),
            );
        }
        let taken = [&spec.denoiser.sample, &spec.denoiser.timestep];
        let repeated = spec.conditioning[..i].iter().any(|c| c.name == input.name);
        if input.name.is_empty() || taken.contains(&&input.name) || repeated {
            problem(
                &format!("conditioning[{i}].name"),
                format!(
                    "`{}` must be a graph input name of its own (not the sample's, the \
                     timestep's or another conditioning input's)",
                    input.name
                ),
            );
        }
    }
    fit_problems(onnx, &spec, &mut problem);
    problems
}

/// Most prompts one prompt conditioning input may declare.
pub const MAX_PROMPTS: usize = 4096;

/// What is wrong with the prompt fields of a conditioning input, if anything: a `prompt`
/// input needs its embeddings file and its prompts (distinct, not empty: the empty prompt is
/// the unconditional row); another kind takes none of them.
fn prompt_problem(input: &ConditioningSpec) -> Option<String> {
    let fields = input.embeddings.is_some() || input.sha256.is_some() || !input.prompts.is_empty();
    if input.kind != ConditioningKind::Prompt {
        return fields.then(|| {
            "`embeddings`, `sha256` and `prompts` belong to a `prompt` input only".to_string()
        });
    }
    match &input.embeddings {
        None => {
            return Some("a prompt input needs `embeddings`, its .npy file in the package".into());
        }
        Some(file) => {
            if let Some(reason) = super::graph_path_problem(file) {
                return Some(format!(
                    "embeddings `{file}` refused: {reason}; name a file inside the package"
                ));
            }
        }
    }
    if let Some(sha) = &input.sha256
        && !(sha.len() == 64
            && sha
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
    {
        return Some(format!("sha256 `{sha}` is not 64 lower-case hex digits"));
    }
    if input.prompts.is_empty() || input.prompts.len() > MAX_PROMPTS {
        return Some(format!(
            "a prompt input declares 1 to {MAX_PROMPTS} `prompts`, found {}",
            input.prompts.len()
        ));
    }
    for (i, prompt) in input.prompts.iter().enumerate() {
        if prompt.trim().is_empty() {
            return Some(format!(
                "prompts[{i}] is empty: the empty prompt is the embeddings' last row (the \
                 unconditional half of guidance), not a declared prompt"
            ));
        }
        if input.prompts[..i].contains(prompt) {
            return Some(format!("prompts[{i}] `{prompt}` is declared twice"));
        }
    }
    None
}

/// What is wrong with a sliding window over latents of `noise` (`[C, *spatial]`), if anything.
fn sliding_window_problem(window: &SlidingWindowSpec, noise: &[usize]) -> Option<String> {
    let spatial = noise.get(1..).unwrap_or(&[]);
    if window.roi.len() != spatial.len()
        || window
            .roi
            .iter()
            .zip(spatial)
            .any(|(&r, &n)| r == 0 || r > n)
    {
        return Some(format!(
            "roi {:?} must give one size per spatial axis of noise.shape {noise:?}, each from 1 \
             to that axis' size",
            window.roi
        ));
    }
    if !(0.0..1.0).contains(&window.overlap) {
        return Some(format!(
            "overlap must be in [0, 1), found {}",
            window.overlap
        ));
    }
    if !(window.sigma_scale.is_finite() && window.sigma_scale > 0.0) {
        return Some(format!(
            "sigma_scale must be a number > 0, found {}",
            window.sigma_scale
        ));
    }
    None
}

/// How the diffusion object fits `inputs` and `outputs` of the same declaration.
fn fit_problems(
    onnx: &Map<String, Value>,
    spec: &DiffusionSpec,
    problem: &mut dyn FnMut(&str, String),
) {
    let inputs = onnx
        .get("inputs")
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice);
    let class_input = inputs
        .iter()
        .find(|i| i.get("kind").and_then(Value::as_str) == Some("class"));
    if inputs
        .iter()
        .any(|i| i.get("kind").and_then(Value::as_str) != Some("class"))
    {
        problem(
            "denoiser",
            "a diffusion package lists only its class input in execution.onnx.inputs; the noisy \
             sample and the timestep are named in diffusion.denoiser"
                .into(),
        );
    }
    let prompted = spec
        .conditioning
        .iter()
        .any(|c| c.kind == ConditioningKind::Prompt);
    if spec.guidance_scale.is_some_and(|g| g != 1.0)
        && (class_input.is_none() || spec.null_class.is_none())
        && !prompted
    {
        problem(
            "guidance_scale",
            "classifier-free guidance needs a class input and `null_class` (the class index \
             that means no class), or a prompt conditioning input"
                .into(),
        );
    }
    if spec
        .conditioning
        .iter()
        .filter(|c| c.kind == ConditioningKind::Prompt)
        .count()
        > 1
    {
        problem(
            "conditioning",
            "at most one prompt input: `--prompt` picks the row of one embeddings file".into(),
        );
    }
    let outputs = onnx
        .get("outputs")
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice);
    let image = outputs
        .iter()
        .find(|o| o.get("kind").and_then(Value::as_str) == Some("image"));
    if outputs
        .iter()
        .any(|o| o.get("kind").and_then(Value::as_str) != Some("image"))
    {
        problem(
            "decoder",
            "a diffusion package declares one output, of kind image".into(),
        );
    }
    let Some(image) = image else { return };
    for (i, input) in spec.conditioning.iter().enumerate() {
        if input.kind == ConditioningKind::Spacing && image.get("spacing").is_none() {
            problem(
                &format!("conditioning[{i}]"),
                "a spacing input takes its default from the image output's `spacing` (mm per \
                 spatial axis), which execution.onnx.outputs does not declare"
                    .into(),
            );
        }
    }
    let shape: Option<Vec<usize>> = image
        .get("shape")
        .and_then(|s| serde_json::from_value(s.clone()).ok());
    match (&spec.decoder, shape) {
        (None, Some(shape)) if shape != spec.noise.shape => problem(
            "noise.shape",
            format!(
                "{:?} differs from the image output's shape {shape:?}; without a decoder the \
                 final sample is the image",
                spec.noise.shape
            ),
        ),
        (Some(decoder), _)
            if image.get("name").and_then(Value::as_str) != Some(&decoder.output) =>
        {
            problem(
                "decoder.output",
                format!(
                    "`{}` is not the name of the image output in execution.onnx.outputs",
                    decoder.output
                ),
            )
        }
        _ => {}
    }
}
