//! One model type for every package kind (the paper's `model_executor`): a native package (an
//! ONNX graph run by a [`crate::runtime`] backend) or a legacy package in the original Python
//! format (run by the [`crate::legacy`] bridge in its own environment).
//!
//! Every capability goes through [`Model`]: describing it, planning a run ([`RunPlan`]), making
//! generators for the one run path ([`crate::generate::write_run`], [`SampleStream`]), the
//! manifest's arguments, declared outputs and ranges, and latents for the visualiser. The kinds
//! differ only inside this module.
//!
//! [`SampleStream`]: crate::generate::SampleStream

mod native;
mod noise_file;
mod plan;

use std::path::Path;
use std::sync::Arc;

use serde::Serialize;
use serde_json::{Value, json};

pub use native::{NativeModel, PooledDiffusion, PooledGenerator, fetch_native};
pub use plan::RunPlan;

use crate::catalog::{InputKind, ModelEntry, OutputKind};
use crate::generate::{self, GenerateError, GenerateRequest, Generator};
use crate::legacy::{LegacyGenerator, LegacyModel, LegacySettings};
use crate::output::SampleWriter;
use crate::progress::Progress;
use crate::runtime::BackendKind;
use crate::store::Store;
use crate::{Result, legacy};

/// Value range legacy samples are brought to (the range the original packages save images in).
pub const LEGACY_RANGE: [f64; 2] = [0.0, 255.0];

/// A loaded model of either kind; cheap to clone.
#[derive(Debug, Clone)]
pub enum Model {
    /// A native package: ONNX graph and declaration.
    Native(Arc<NativeModel>),
    /// A package in the original medigan Python format, with its environment ready.
    Legacy(Arc<LegacyModel>),
}

/// What a model generates and takes, as far as it is known before generating.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelDescription {
    /// The model id.
    pub model_id: String,
    /// `native` (ONNX), `diffusion` (ONNX denoiser run by the sampler) or `legacy` (Python
    /// package).
    pub kind: &'static str,
    /// Shape of one image sample (`[C, H, W]`), when declared (legacy packages declare none).
    pub image_shape: Option<Vec<usize>>,
    /// Value range of the image output.
    pub image_range: [f64; 2],
    /// Shape of one mask, for models that declare a mask output.
    pub mask_shape: Option<Vec<usize>>,
    /// Class names of a conditional native model (empty otherwise).
    pub classes: Vec<String>,
    /// Whether a legacy package takes a class as `condition` (`--label`).
    pub conditional: bool,
    /// Whether the model translates input images (`--input`).
    pub takes_input: bool,
    /// Length of the latent drawn from each sample's seed, if the model has one.
    pub latent_size: Option<usize>,
    /// How a diffusion model samples by default.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diffusion: Option<DiffusionDescription>,
}

/// A diffusion model's sampling defaults, as `medigan info` shows them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DiffusionDescription {
    /// Default inference steps.
    pub steps: usize,
    /// The package's scheduler (`_class_name` of its config).
    pub scheduler: String,
    /// Default guidance scale, if any.
    pub guidance_scale: Option<f64>,
    /// Shape of one sample's initial noise (the denoiser's sample).
    pub noise_shape: Vec<usize>,
    /// Whether the final latent goes through a decoder graph.
    pub latent_decoder: bool,
    /// The prompts of a text-conditioned model (`--prompt` picks one), empty otherwise.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub prompts: Vec<String>,
}

impl Model {
    /// Loads the model of a catalogue entry: fetches its package and, for a legacy package,
    /// prepares its environment (only with consent, see [`LegacySettings`]). `base` resolves
    /// relative package links.
    pub fn load(
        entry: &ModelEntry,
        store: &Store,
        base: Option<&Path>,
        legacy: &LegacySettings,
        progress: &dyn Progress,
    ) -> Result<Model> {
        if legacy::is_legacy(entry) {
            let model = legacy::prepare(entry, store, base, legacy, progress)?;
            return Ok(Model::Legacy(Arc::new(model)));
        }
        Ok(Model::Native(Arc::new(fetch_native(
            entry, store, base, progress,
        )?)))
    }

    /// The model id.
    pub fn id(&self) -> &str {
        match self {
            Model::Native(m) => &m.id,
            Model::Legacy(m) => &m.id,
        }
    }

    /// The model version, if declared.
    pub fn version(&self) -> Option<&str> {
        match self {
            Model::Native(m) => m.version.as_deref(),
            Model::Legacy(m) => m.version.as_deref(),
        }
    }

    /// sha256 of the package.
    pub fn package_sha256(&self) -> &str {
        match self {
            Model::Native(m) => &m.package.sha256,
            Model::Legacy(m) => &m.package.sha256,
        }
    }

    /// The native model, for what only an ONNX graph has (sessions, the declaration).
    pub fn as_native(&self) -> Option<&Arc<NativeModel>> {
        match self {
            Model::Native(m) => Some(m),
            Model::Legacy(_) => None,
        }
    }

    /// What the model generates and takes.
    pub fn describe(&self) -> ModelDescription {
        match self {
            Model::Native(m) => ModelDescription {
                model_id: m.id.clone(),
                kind: if m.diffusion.is_some() {
                    "diffusion"
                } else {
                    "native"
                },
                image_shape: Some(m.image_shape()),
                image_range: m.image_range(),
                mask_shape: m.spec.output(OutputKind::Mask).map(|o| o.shape.clone()),
                classes: m
                    .spec
                    .input(InputKind::Class)
                    .map(|c| c.class_names().to_vec())
                    .unwrap_or_default(),
                conditional: m.spec.input(InputKind::Class).is_some(),
                takes_input: m
                    .spec
                    .inputs
                    .iter()
                    .any(|i| matches!(i.kind, InputKind::Image | InputKind::Mask)),
                latent_size: m.spec.input(InputKind::Latent).map(|i| i.sample_len()),
                diffusion: m.diffusion.as_ref().map(|d| DiffusionDescription {
                    steps: d.spec.steps,
                    scheduler: d
                        .resolve(&Default::default())
                        .map_or_else(|e| format!("unusable: {e}"), |run| run.scheduler),
                    guidance_scale: d.spec.guidance_scale,
                    noise_shape: d.spec.noise.shape.clone(),
                    latent_decoder: d.decoder.is_some(),
                    prompts: d
                        .prompts
                        .as_ref()
                        .map_or_else(Vec::new, |p| p.prompts.clone()),
                }),
            },
            Model::Legacy(m) => ModelDescription {
                model_id: m.id.clone(),
                kind: "legacy",
                image_shape: None,
                image_range: LEGACY_RANGE,
                mask_shape: None,
                classes: Vec::new(),
                conditional: m.is_conditional(),
                takes_input: m.custom.contains_key("input_path"),
                latent_size: m.latent_size,
                diffusion: None,
            },
        }
    }

    /// Bytes one sample takes in memory (its outputs as float32); `None` for a legacy package,
    /// which declares no sample size.
    pub fn sample_bytes(&self) -> Option<u64> {
        match self {
            Model::Native(m) => Some(m.sample_bytes()),
            Model::Legacy(_) => None,
        }
    }

    /// Value range of the image output (legacy samples: 0..255).
    pub fn image_range(&self) -> [f64; 2] {
        match self {
            Model::Native(m) => m.image_range(),
            Model::Legacy(_) => LEGACY_RANGE,
        }
    }

    /// Value range of the mask output: the declared one, or 0..255 for a legacy package (which
    /// may return a mask beside its image).
    pub fn mask_range(&self) -> Option<[f64; 2]> {
        match self {
            Model::Native(m) => m.mask_range(),
            Model::Legacy(_) => Some(LEGACY_RANGE),
        }
    }

    /// Length of the latent drawn from each sample's seed, if the model has one.
    pub fn latent_size(&self) -> Option<usize> {
        self.describe().latent_size
    }

    /// The latent that the sample with seed `seed` is generated from (what a run draws for it),
    /// `None` for a model without one.
    pub fn seeded_latent(&self, seed: u64) -> Option<Vec<f32>> {
        match self {
            Model::Native(m) => generate::seeded_latent(&m.spec, seed),
            Model::Legacy(m) => m.seeded_latent(seed),
        }
    }

    /// Refuses, before anything is generated, a format that cannot hold the declared outputs.
    /// Legacy packages declare no shapes: their samples are checked as they are written.
    pub fn check_format(&self, writer: &dyn SampleWriter) -> Result<()> {
        if let Model::Native(m) = self {
            writer.check(&m.image_shape())?;
            if let Some(mask) = m.spec.output(OutputKind::Mask) {
                writer.check(&mask.shape)?;
            }
        }
        Ok(())
    }

    /// Resolves a run against the model; `latent` is given to every sample instead of the one
    /// drawn from its seed.
    pub fn plan(
        &self,
        request: &GenerateRequest,
        latent: Option<Arc<Vec<f32>>>,
    ) -> Result<RunPlan> {
        if let Some(latent) = &latent {
            self.check_latent(latent)?;
        }
        match self {
            Model::Native(m) => RunPlan::native(m, request, latent),
            Model::Legacy(m) => {
                plan::refuse_diffusion_options(&m.id, request)?;
                Ok(RunPlan::legacy(request, latent, m.call(request)?))
            }
        }
    }

    fn check_latent(&self, latent: &[f32]) -> Result<(), GenerateError> {
        let bad = |reason: String| GenerateError::BadRequest {
            what: "latent",
            reason,
        };
        match self.latent_size() {
            None => Err(GenerateError::NoLatentInput {
                model: self.id().to_string(),
            }),
            Some(size) if size != latent.len() => Err(bad(format!(
                "{} values given; the latent of `{}` has {size}",
                latent.len(),
                self.id()
            ))),
            Some(_) => match latent.iter().find(|v| !v.is_finite()) {
                Some(v) => Err(bad(format!("a latent value is {v}"))),
                None => Ok(()),
            },
        }
    }

    /// Worker threads for a run of `threads` and the threads each worker's session uses: one
    /// session per worker for a native model; one bridge process for a legacy package (its
    /// own libraries use the cores).
    pub fn workers(&self, plan: &RunPlan, threads: usize) -> (usize, usize) {
        match self {
            Model::Native(_) => {
                // One session per worker, never more than the cores (issue #14, defect 19).
                let workers = threads
                    .min(plan.batch_count())
                    .min(crate::limits::cores())
                    .max(1);
                (workers, (threads / workers).max(1))
            }
            Model::Legacy(_) => (1, threads.max(1)),
        }
    }

    /// A generator for the samples of `plan`: a pooled ONNX session of `intra_threads`
    /// threads, or a bridge process running the package with the plan's arguments.
    pub fn generator(
        &self,
        plan: &RunPlan,
        backend: Option<BackendKind>,
        intra_threads: usize,
    ) -> Result<Box<dyn Generator>, GenerateError> {
        match self {
            Model::Native(m) => match plan.diffusion() {
                Some(run) => Ok(Box::new(m.diffusion_generator(
                    run,
                    backend,
                    intra_threads,
                )?)),
                None => Ok(Box::new(m.generator(backend, intra_threads)?)),
            },
            Model::Legacy(m) => {
                let call = plan.call.clone().ok_or_else(|| {
                    GenerateError::Worker(format!("no call was planned for `{}`", m.id))
                })?;
                Ok(Box::new(LegacyGenerator::start(Arc::clone(m), call)?))
            }
        }
    }

    /// The run's arguments as the manifest records them: enough to run it again.
    pub fn manifest_arguments(&self, request: &GenerateRequest, plan: &RunPlan) -> Value {
        let inputs: Vec<String> = request
            .inputs
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        let mut arguments = match self {
            Model::Native(_) => json!({
                "label": request.label,
                "inputs": inputs,
                "options": request.options,
                "batch_size": request.batch_size,
            }),
            Model::Legacy(m) => {
                let call = plan.call.as_deref();
                json!({
                    "runtime": "medigan-python",
                    "generate_method": m.function,
                    "custom": call.map(|c| &c.kwargs),
                    "save_images": call.is_some_and(|c| c.save_images),
                    "label": request.label,
                    "inputs": inputs,
                    "options": request.options,
                    "batch_size": request.batch_size,
                    "input_latent_vector": m.latent_size.map(|size| json!({
                        "size": size,
                        "shape": ["n", size, 1, 1],
                        "drawn": "per sample, standard normal from the sample seed",
                    })),
                    "seeding": legacy::SEEDING,
                })
            }
        };
        if let Some(latent) = plan.fixed_latent() {
            arguments["latent"] = json!(latent);
        }
        if let Some(run) = plan.diffusion() {
            arguments["diffusion"] = json!({
                "steps": run.steps,
                "scheduler": run.scheduler,
                "guidance": run.guidance,
                "spacing": run.spacing,
                "prompt": run.prompt,
                "initial_noise": request.initial_noise.as_ref().map(|p| p.display().to_string()),
            });
        }
        arguments
    }

    /// The DICOM modality (from `selection.modality`) and the spacing the image output declares.
    pub fn imaging(&self, entry: &ModelEntry) -> Result<(Option<String>, Option<Vec<f64>>)> {
        let modality = entry
            .metadata
            .selection
            .modality
            .get()
            .and_then(|terms| crate::catalog::dicom_modality(terms))
            .map(str::to_string);
        let Model::Native(model) = self else {
            return Ok((modality, None));
        };
        let spacing = match model
            .spec
            .outputs
            .iter()
            .position(|o| o.kind == OutputKind::Image)
        {
            Some(i) => {
                let out = &model.spec.outputs[i];
                crate::catalog::declared_spacing(
                    out.extra.get("spacing"),
                    &format!("`{}`: execution.onnx.outputs[{i}].spacing", model.id),
                    &out.shape,
                )?
            }
            None => None,
        };
        Ok((modality, spacing))
    }
}
