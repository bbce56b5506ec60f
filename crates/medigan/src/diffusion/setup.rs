//! A diffusion package made ready to sample: its scheduler config read from the package, the
//! declarations its graphs are checked against, and a run's choices checked against it.

use crate::error::OptionName;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use medigan_diffusion::{SchedulerConfig, make_scheduler};
use sha2::Digest;

use super::sliding_window::WindowPlan;
use crate::catalog::{
    ClassEncoding, ConditioningKind, ConditioningSpec, DiffusionSpec, InputKind, InputSpec,
    OnnxSpec, OutputKind, OutputSpec, SchedulerSource, SlidingWindowSpec, TimestepType,
};
use crate::generate::{DiffusionOptions, GenerateError};

/// Largest scheduler config file read from a package.
const MAX_SCHEDULER_CONFIG_BYTES: u64 = 1 << 20;

/// Largest prompt embeddings file read from a package (Stable Diffusion v1's are 236 KB per
/// prompt).
const MAX_EMBEDDINGS_BYTES: u64 = 512 << 20;

/// The precomputed text embeddings of a prompt-conditioned package
/// (`execution.onnx.diffusion.conditioning` of kind `prompt`).
#[derive(Debug)]
pub struct PromptEmbeddings {
    /// The denoiser's input name (`encoder_hidden_states`).
    pub name: String,
    /// The declared prompts, in the order of the rows.
    pub prompts: Vec<String>,
    /// One embedding's shape: `[tokens, width]`.
    pub shape: [usize; 2],
    /// float32 `[prompts + 1, tokens, width]`: the prompts' rows, then the empty prompt's.
    values: Vec<f32>,
}

impl PromptEmbeddings {
    /// Reads and checks the embeddings file of `input` in the package `dir`.
    fn load(dir: &Path, input: &ConditioningSpec) -> Result<Self, String> {
        let file = input.embeddings.as_deref().unwrap_or_default();
        if let Some(reason) = crate::catalog::graph_path_problem(file) {
            return Err(format!("embeddings file `{file}` refused: {reason}"));
        }
        let path = dir.join(file);
        let bytes = read_bytes_bounded(&path, MAX_EMBEDDINGS_BYTES)
            .map_err(|e| format!("cannot read its prompt embeddings `{file}`: {e}"))?;
        if let Some(want) = &input.sha256 {
            let got = hex::encode(sha2::Sha256::digest(&bytes));
            if &got != want {
                return Err(format!(
                    "its prompt embeddings `{file}` have sha256 {got}, not the declared {want}: \
                     the file changed since the package was written"
                ));
            }
        }
        let (array, _) = crate::formats::npy::decode(&bytes)
            .map_err(|e| format!("its prompt embeddings `{file}`: {e}"))?;
        let rows = input.prompts.len() + 1;
        match *array.shape() {
            [r, tokens, width] if r == rows && tokens > 0 && width > 0 => Ok(PromptEmbeddings {
                name: input.name.clone(),
                prompts: input.prompts.clone(),
                shape: [tokens, width],
                values: array.iter().copied().collect(),
            }),
            _ => Err(format!(
                "its prompt embeddings `{file}` are {:?}; expected [{rows}, tokens, width]: one \
                 row per declared prompt ({}) and the empty prompt's last",
                array.shape(),
                input.prompts.len()
            )),
        }
    }

    /// Values of one embedding.
    pub fn row_len(&self) -> usize {
        self.shape[0] * self.shape[1]
    }

    /// The embedding of row `row` (`prompts.len()`: the empty prompt's).
    pub fn row(&self, row: usize) -> &[f32] {
        &self.values[row * self.row_len()..][..self.row_len()]
    }

    /// The row of `prompt`, matched exactly.
    pub fn find(&self, prompt: &str) -> Option<usize> {
        self.prompts.iter().position(|p| p == prompt)
    }
}

/// A diffusion package, ready to make samplers.
#[derive(Debug)]
pub struct DiffusionSetup {
    /// The model id.
    pub model: String,
    /// The package's diffusion declaration.
    pub spec: DiffusionSpec,
    /// The scheduler config (the package's, with the denoiser's declared prediction).
    pub config: SchedulerConfig,
    /// The denoiser graph and the declaration it is checked against.
    pub denoiser: (PathBuf, OnnxSpec),
    /// The decoder graph and its declaration, for a latent model.
    pub decoder: Option<(PathBuf, OnnxSpec)>,
    /// The class input of the denoiser, for a conditional model.
    pub class: Option<InputSpec>,
    /// The declared image output (the final sample).
    pub image: OutputSpec,
    /// The decoder's windows, for sliding-window decoding.
    pub windows: Option<WindowPlan>,
    /// The spacing the image output declares (mm per spatial axis), the default of a spacing
    /// conditioning input.
    pub spacing: Option<Vec<f64>>,
    /// The precomputed text embeddings, for a prompt-conditioned model.
    pub prompts: Option<PromptEmbeddings>,
}

/// A run's diffusion choices, resolved and checked against the package.
#[derive(Debug, Clone, PartialEq)]
pub struct DiffusionRun {
    /// Inference steps.
    pub steps: usize,
    /// The scheduler's class name (e.g. `DDIMScheduler`).
    pub scheduler: String,
    /// The scheduler as asked for (a class name or alias), `None` for the package's own.
    pub scheduler_choice: Option<String>,
    /// Classifier-free guidance scale; `None` or 1 means none.
    pub guidance: Option<f64>,
    /// The voxel spacing (mm per spatial axis) fed to a spacing conditioning input, and
    /// written into the volumes; `None` for a model without one.
    pub spacing: Option<Vec<f64>>,
    /// The prompt whose embedding conditions the samples (one of the declared prompts);
    /// `None` for a model without a prompt input.
    pub prompt: Option<String>,
}

impl DiffusionRun {
    /// Whether the denoiser runs twice per sample (conditional and unconditional halves).
    pub fn guided(&self) -> bool {
        self.guidance.is_some_and(|g| g != 1.0)
    }
}

impl DiffusionSetup {
    /// Reads what `onnx.diffusion` points at inside the package `dir` (the scheduler config) and
    /// derives the declarations of the denoiser and decoder graphs.
    pub fn load(model: &str, dir: &Path, onnx: &OnnxSpec) -> Result<Self, GenerateError> {
        let bad = |reason: String| GenerateError::DiffusionPackage {
            model: model.to_string(),
            reason,
        };
        let spec = onnx
            .diffusion
            .clone()
            .ok_or_else(|| bad("no execution.onnx.diffusion".into()))?;
        let image = onnx
            .output(OutputKind::Image)
            .cloned()
            .ok_or_else(|| bad("no image output in execution.onnx.outputs".into()))?;
        let class = onnx.input(InputKind::Class).cloned();
        let mut config = scheduler_config(dir, &spec.scheduler).map_err(bad)?;
        if let Some(prediction) = spec.denoiser.prediction {
            config.prediction_type = Some(prediction.scheduler_prediction());
        }
        let denoiser_graph = crate::runtime::graph_path(dir, onnx)
            .map_err(|e| bad(format!("denoiser graph: {e}")))?;
        let spacing = match spec
            .conditioning
            .iter()
            .any(|c| c.kind == ConditioningKind::Spacing)
        {
            true => Some(
                crate::catalog::declared_spacing(
                    image.extra.get("spacing"),
                    "execution.onnx.outputs (image).spacing",
                    &image.shape,
                )
                .map_err(|e| bad(e.to_string()))?
                .ok_or_else(|| {
                    bad("a spacing conditioning input needs the image output's `spacing`".into())
                })?,
            ),
            false => None,
        };
        let prompts = match spec
            .conditioning
            .iter()
            .find(|c| c.kind == ConditioningKind::Prompt)
        {
            Some(input) => Some(PromptEmbeddings::load(dir, input).map_err(bad)?),
            None => None,
        };
        let denoiser = (
            denoiser_graph,
            denoiser_declaration(
                onnx,
                &spec,
                class.as_ref(),
                spacing.as_deref(),
                prompts.as_ref(),
            ),
        );
        let windows = match spec
            .decoder
            .as_ref()
            .and_then(|d| d.sliding_window.as_ref())
        {
            Some(window) => Some(window_plan(&spec, &image, window).map_err(bad)?),
            None => None,
        };
        let decoder = match &spec.decoder {
            Some(_) => {
                let declaration = decoder_declaration(&spec, &image, windows.as_ref());
                let graph = crate::runtime::graph_path(dir, &declaration)
                    .map_err(|e| bad(format!("decoder graph: {e}")))?;
                Some((graph, declaration))
            }
            None => None,
        };
        Ok(DiffusionSetup {
            model: model.to_string(),
            spec,
            config,
            denoiser,
            decoder,
            class,
            image,
            windows,
            spacing,
            prompts,
        })
    }

    /// Values of one sample's noise (and of the denoiser's sample input).
    pub fn noise_len(&self) -> usize {
        self.spec.noise.sample_len()
    }

    /// The scheduler `name` (a class name or alias; `None`: the config's class) set to `steps`
    /// steps, for samples of this package's noise shape.
    pub fn scheduler(
        &self,
        name: Option<&str>,
        steps: usize,
    ) -> Result<Box<dyn medigan_diffusion::Scheduler>, medigan_diffusion::SchedulerError> {
        let mut scheduler = make_scheduler(&self.config, name, steps)?;
        scheduler.set_sample_shape(&self.spec.noise.shape)?;
        Ok(scheduler)
    }

    /// Checks a run's choices: steps and scheduler as the scheduler accepts them, guidance only
    /// for a model with a class input and a null class.
    pub fn resolve(&self, options: &DiffusionOptions) -> Result<DiffusionRun, GenerateError> {
        let steps = options.steps.unwrap_or(self.spec.steps);
        let choice = options.scheduler.clone();
        let scheduler =
            self.scheduler(choice.as_deref(), steps)
                .map_err(|e| GenerateError::Diffusion {
                    model: self.model.clone(),
                    what: if options.scheduler.is_some() {
                        &[OptionName::Scheduler, OptionName::Steps]
                    } else {
                        &[OptionName::Steps]
                    },
                    reason: e.to_string(),
                })?;
        let guidance = options
            .guidance
            .map(|g| g.value())
            .or(self.spec.guidance_scale);
        let conditional =
            (self.class.is_some() && self.spec.null_class.is_some()) || self.prompts.is_some();
        if options.guidance.is_some() && !conditional {
            return Err(GenerateError::Diffusion {
                model: self.model.clone(),
                what: &[OptionName::Guidance],
                reason: "the model has no class input with a null class and no prompt input, so \
                         there is nothing to guide; leave it out"
                    .into(),
            });
        }
        let prompt = self.resolve_prompt(options.prompt.as_deref())?;
        let spacing = match (&self.spacing, &options.spacing) {
            (None, None) => None,
            (None, Some(_)) => {
                return Err(GenerateError::Diffusion {
                    model: self.model.clone(),
                    what: &[OptionName::Spacing],
                    reason: "the model takes no spacing input (execution.onnx.diffusion.\
                             conditioning); leave --spacing out"
                        .into(),
                });
            }
            (Some(declared), Some(asked)) if asked.values().len() != declared.len() => {
                return Err(GenerateError::Diffusion {
                    model: self.model.clone(),
                    what: &[OptionName::Spacing],
                    reason: format!(
                        "{:?} gives {} values; the model's volumes have {} spatial axes \
                         (declared spacing {declared:?})",
                        asked.values(),
                        asked.values().len(),
                        declared.len()
                    ),
                });
            }
            (Some(_), Some(asked)) => Some(asked.values().to_vec()),
            (Some(declared), None) => Some(declared.clone()),
        };
        Ok(DiffusionRun {
            steps,
            scheduler: scheduler.name().to_string(),
            scheduler_choice: choice,
            guidance,
            spacing,
            prompt,
        })
    }

    /// The run's prompt: `asked` when it is one of the declared prompts (exactly), the first
    /// declared one when none is asked for; refused for a model without a prompt input.
    fn resolve_prompt(&self, asked: Option<&str>) -> Result<Option<String>, GenerateError> {
        let refuse = |reason: String| GenerateError::Diffusion {
            model: self.model.clone(),
            what: &[OptionName::Prompt],
            reason,
        };
        match (&self.prompts, asked) {
            (None, None) => Ok(None),
            (None, Some(_)) => Err(refuse(
                "the model takes no prompt (no prompt input in execution.onnx.diffusion.\
                 conditioning); leave it out"
                    .into(),
            )),
            (Some(table), None) => Ok(table.prompts.first().cloned()),
            (Some(table), Some(asked)) if table.find(asked).is_some() => Ok(Some(asked.into())),
            (Some(table), Some(asked)) => {
                let shown: Vec<String> = table
                    .prompts
                    .iter()
                    .take(20)
                    .map(|p| format!("{p:?}"))
                    .collect();
                let more = table.prompts.len().saturating_sub(shown.len());
                Err(refuse(format!(
                    "{asked:?} is not one of the model's {} prompts (its text embeddings were \
                     computed for these only, matched exactly): {}{}",
                    table.prompts.len(),
                    shown.join(", "),
                    if more > 0 {
                        format!(" and {more} more (`medigan info MODEL` lists them)")
                    } else {
                        String::new()
                    }
                )))
            }
        }
    }
}

/// The scheduler config: inline, or read from its file in the package.
fn scheduler_config(dir: &Path, source: &SchedulerSource) -> Result<SchedulerConfig, String> {
    let file = match source {
        SchedulerSource::Inline(object) => {
            return SchedulerConfig::from_value(Value::Object(object.clone()))
                .map_err(|e| format!("its inline scheduler config: {e}"));
        }
        SchedulerSource::File(file) => file,
    };
    if let Some(reason) = crate::catalog::graph_path_problem(file) {
        return Err(format!("scheduler file `{file}` refused: {reason}"));
    }
    let path = dir.join(file);
    let text = read_bounded(&path, MAX_SCHEDULER_CONFIG_BYTES)
        .map_err(|e| format!("cannot read its scheduler config `{file}`: {e}"))?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    SchedulerConfig::from_json(text).map_err(|e| format!("its scheduler config `{file}`: {e}"))
}

/// A file's bytes, refused past `limit` bytes (a package is untrusted input).
fn read_bytes_bounded(path: &Path, limit: u64) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut bytes = Vec::new();
    std::fs::File::open(path)?
        .take(limit + 1)
        .read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(std::io::Error::other(format!("larger than {limit} bytes")));
    }
    Ok(bytes)
}

/// A small text file, refused past `limit` bytes (a package is untrusted input).
fn read_bounded(path: &Path, limit: u64) -> std::io::Result<String> {
    use std::io::Read;
    let mut text = String::new();
    std::fs::File::open(path)?
        .take(limit + 1)
        .read_to_string(&mut text)?;
    if text.len() as u64 > limit {
        return Err(std::io::Error::other(format!("larger than {limit} bytes")));
    }
    Ok(text)
}

fn port(name: &str, kind: InputKind, shape: Vec<usize>) -> InputSpec {
    InputSpec {
        name: name.to_string(),
        kind,
        shape: Some(shape),
        distribution: None,
        truncation: None,
        classes: None,
        encoding: None,
        range: None,
        extra: Map::new(),
    }
}

/// What the denoiser graph must take and give: the noisy sample, the timestep (int64 `[B]`
/// is checked as an index input, float32 `[B]` as a one-value noise input), the class input as
/// declared, each conditioning input (a spacing: float32 `[B, axes]`; a prompt: float32
/// `[B, tokens, width]`), and the prediction
/// shaped like the sample.
fn denoiser_declaration(
    onnx: &OnnxSpec,
    spec: &DiffusionSpec,
    class: Option<&InputSpec>,
    spacing: Option<&[f64]>,
    prompts: Option<&PromptEmbeddings>,
) -> OnnxSpec {
    let denoiser = &spec.denoiser;
    let mut inputs = vec![port(
        &denoiser.sample,
        InputKind::Noise,
        spec.noise.shape.clone(),
    )];
    inputs.push(match denoiser.timestep_type {
        TimestepType::Int64 => InputSpec {
            shape: None,
            encoding: Some(ClassEncoding::Index),
            ..port(&denoiser.timestep, InputKind::Class, Vec::new())
        },
        TimestepType::Float32 => port(&denoiser.timestep, InputKind::Noise, Vec::new()),
    });
    inputs.extend(class.cloned());
    for input in &spec.conditioning {
        let shape = match input.kind {
            ConditioningKind::Spacing => vec![spacing.map_or(0, <[f64]>::len)],
            ConditioningKind::Prompt => prompts.map_or(Vec::new(), |p| p.shape.to_vec()),
        };
        inputs.push(port(&input.name, InputKind::Noise, shape));
    }
    OnnxSpec {
        graph: onnx.graph.clone(),
        inputs,
        outputs: vec![OutputSpec {
            name: denoiser.output.clone(),
            kind: OutputKind::Image,
            shape: spec.noise.shape.clone(),
            range: [f64::NEG_INFINITY, f64::INFINITY],
            extra: Map::new(),
        }],
        diffusion: None,
        external_data: onnx.external_data.clone(),
        extra: Map::new(),
    }
}

/// The windows of sliding-window decoding, or why the image does not fit them.
fn window_plan(
    spec: &DiffusionSpec,
    image: &OutputSpec,
    window: &SlidingWindowSpec,
) -> Result<WindowPlan, String> {
    let latent = spec.noise.shape.get(1..).unwrap_or(&[]);
    let pixels = image.shape.get(1..).unwrap_or(&[]);
    WindowPlan::new(latent, pixels, window).ok_or_else(|| {
        format!(
            "execution.onnx.diffusion.decoder.sliding_window: the image's spatial size {pixels:?} \
             must be a whole multiple of the latent's {latent:?} on every axis, and roi {:?} at \
             most the latent's",
            window.roi
        )
    })
}

/// What the decoder graph must take (the latent, or one window of it) and give (the declared
/// image, or one decoded window).
fn decoder_declaration(
    spec: &DiffusionSpec,
    image: &OutputSpec,
    windows: Option<&WindowPlan>,
) -> OnnxSpec {
    let decoder = spec.decoder.as_ref().expect("called for a latent model");
    let channels = |shape: &[usize]| shape.first().copied().unwrap_or(1);
    let (input, output) = match windows {
        Some(plan) => (
            [&[channels(&spec.noise.shape)][..], &plan.roi].concat(),
            [&[channels(&image.shape)][..], &plan.window].concat(),
        ),
        None => (spec.noise.shape.clone(), image.shape.clone()),
    };
    OnnxSpec {
        graph: decoder.graph.clone(),
        inputs: vec![port(&decoder.input, InputKind::Noise, input)],
        outputs: vec![OutputSpec {
            name: decoder.output.clone(),
            shape: output,
            ..image.clone()
        }],
        diffusion: None,
        external_data: decoder.external_data.clone(),
        extra: Map::new(),
    }
}
