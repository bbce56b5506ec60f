//! One model opened for exploration: its latent from a seed plus slider offsets (or, for a
//! diffusion model, its steps, scheduler and guidance), the sample it gives, and that sample as
//! PNG images, with the denoising trajectory of a diffusion model.
//!
//! The page's seed `S` is a run seed and the sample shown is sample 0 of that run, so with every
//! slider at zero the image is exactly what `medigan generate MODEL -n 1 --seed S` writes (with
//! `--steps K --scheduler NAME --guidance G` for a diffusion model).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use base64::Engine as _;
use medigan::Generators;
use medigan::catalog::InputKind;
use medigan::diffusion::{
    DiffusionGenerator, DiffusionSetup, SchedulerChoice, X0Source, evenly_spaced,
};
use medigan::generate::{
    DiffusionOptions, GenerateError, GenerateRequest, Generator, Guidance, SampleRequest,
    StepWatch, Unwatched,
};
use medigan::model::Model;
use medigan::progress::NoProgress;
use medigan::sample::{Sample, sample_seed};
use ndarray::{ArrayD, Axis};
use serde::{Deserialize, Serialize};

use crate::VizError;

/// What the page needs to know about the model.
#[derive(Debug, Clone, Serialize)]
pub struct ModelInfo {
    /// The model id.
    pub model_id: String,
    /// The model's title.
    pub title: String,
    /// The model's licence.
    pub licence: String,
    /// `native` (ONNX) or `legacy` (Python package).
    pub kind: String,
    /// Length of the latent vector (0 for a model without one: no sliders).
    pub latent_dims: usize,
    /// Why the page has no sliders, for a model without a latent.
    pub no_sliders_reason: Option<String>,
    /// Latent dimensions moved together by one slider.
    pub slider_grouper: usize,
    /// Number of sliders (`latent_dims / slider_grouper`, rounded up).
    pub sliders: usize,
    /// Class names of a conditional model (empty otherwise).
    pub classes: Vec<String>,
    /// Whether the model translates an input image.
    pub takes_image: bool,
    /// Whether the model outputs a mask beside its image.
    pub has_mask: bool,
    /// Shape of one image sample.
    pub image_shape: Vec<usize>,
    /// The choices of a diffusion model (`None` for a one-pass model).
    pub diffusion: Option<DiffusionInfo>,
}

/// The trajectory frames a request gets when it does not say.
pub const DEFAULT_TRAJECTORY_FRAMES: usize = 6;
/// The most trajectory frames a request may ask for.
pub const MAX_TRAJECTORY_FRAMES: usize = 12;

/// What the page offers for a diffusion model, with the package's defaults.
#[derive(Debug, Clone, Serialize)]
pub struct DiffusionInfo {
    /// Default inference steps.
    pub steps: usize,
    /// The most steps a request may ask for (the training steps).
    pub max_steps: usize,
    /// The package's scheduler (class name).
    pub scheduler: String,
    /// The schedulers the package can be sampled with, and where their trajectories come from.
    pub schedulers: Vec<SchedulerChoice>,
    /// Default classifier-free guidance scale (`None`: none).
    pub guidance: Option<f64>,
    /// Whether guidance can be set (a class input with a null class).
    pub guidance_allowed: bool,
    /// Whether a decoder turns latents into images (the trajectory is decoded too).
    pub latent: bool,
    /// Trajectory frames shown by default.
    pub trajectory_frames: usize,
    /// The most trajectory frames a request may ask for.
    pub max_trajectory_frames: usize,
}

/// One request for a sample: a seed plus slider offsets (or an explicit latent), a class and
/// an input image where the model needs them.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SampleQuery {
    /// The run seed; the sample shown is sample 0 of that run.
    pub seed: u64,
    /// One offset per slider, added to every latent dimension of its group; empty means zero.
    #[serde(default)]
    pub offsets: Vec<f32>,
    /// An explicit latent vector, used instead of seed and offsets.
    #[serde(default)]
    pub latent: Option<Vec<f32>>,
    /// Class name, for conditional models; without it the class is drawn from the seed.
    #[serde(default)]
    pub class: Option<String>,
    /// The input image (PNG or JPEG bytes, base64), for image-to-image models.
    #[serde(default)]
    pub input_image: Option<String>,
    /// Diffusion models: inference steps (default: the package's).
    #[serde(default)]
    pub steps: Option<usize>,
    /// Diffusion models: the scheduler, a class name or alias (default: the package's).
    #[serde(default)]
    pub scheduler: Option<String>,
    /// Diffusion models: the classifier-free guidance scale (default: the package's).
    #[serde(default)]
    pub guidance: Option<f64>,
    /// Diffusion models: how many trajectory frames (evenly spaced steps, first and last
    /// included; default [`DEFAULT_TRAJECTORY_FRAMES`], at most [`MAX_TRAJECTORY_FRAMES`]).
    #[serde(default)]
    pub trajectory: Option<usize>,
}

/// A sample and its images.
#[derive(Debug, Clone)]
pub struct Rendered {
    /// The latent the sample was generated from.
    pub latent: Vec<f32>,
    /// The sample's own seed (from which its other inputs were drawn).
    pub sample_seed: u64,
    /// The class it was conditioned on.
    pub label: Option<String>,
    /// The image as PNG (the middle slice of a volume).
    pub image_png: Vec<u8>,
    /// The mask as PNG, for image+mask models.
    pub mask_png: Option<Vec<u8>>,
    /// A diffusion model's run: its choices and trajectory.
    pub diffusion: Option<RenderedRun>,
}

/// What a diffusion model's sample was made with, and its trajectory.
#[derive(Debug, Clone, Serialize)]
pub struct RenderedRun {
    /// Inference steps asked for.
    pub steps: usize,
    /// Denoiser calls the scheduler made (PNDM's warm-up adds some).
    pub denoiser_steps: usize,
    /// The scheduler's class name.
    pub scheduler: String,
    /// The guidance scale (`None`, or 1: none).
    pub guidance: Option<f64>,
    /// The predicted clean image at evenly spaced steps.
    pub trajectory: Vec<RenderedFrame>,
    /// Why the trajectory has no (or fewer) frames.
    pub trajectory_missing: Option<String>,
}

/// One trajectory frame as PNG.
#[derive(Debug, Clone, Serialize)]
pub struct RenderedFrame {
    /// The step (1-based: the image after this many denoiser steps).
    pub step: usize,
    /// The denoiser's timestep at that step.
    pub timestep: f32,
    /// Where the clean image comes from.
    pub source: X0Source,
    /// The image as PNG.
    #[serde(skip)]
    pub png: Vec<u8>,
}

/// How samples are made: one pass of a generator, or a diffusion sampler whose run follows
/// each request.
enum Engine {
    OnePass(Mutex<Box<dyn Generator>>),
    Diffusion(Mutex<DiffusionGenerator>),
}

/// A model opened for exploration, with one generator (session or bridge process) kept for it.
pub struct View {
    model: Model,
    engine: Engine,
    info: ModelInfo,
}

impl std::fmt::Debug for View {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("View").field("info", &self.info).finish()
    }
}

impl View {
    /// Loads the model (a legacy package only with consent) and opens a generator;
    /// `slider_grouper` latent dimensions share a slider.
    pub fn open(
        generators: &Generators,
        model_id: &str,
        slider_grouper: usize,
    ) -> Result<View, VizError> {
        if slider_grouper == 0 {
            return Err(VizError::BadRequest(
                "the slider grouper must be at least 1".into(),
            ));
        }
        let entry = generators.get_config_by_id(model_id)?;
        let model = generators.load_model(&entry.id, &NoProgress)?;
        let described = model.describe();
        let latent_dims = described.latent_size.unwrap_or(0);
        let setup = model.as_native().and_then(|m| m.diffusion.clone());
        let no_sliders_reason = described.latent_size.is_none().then(|| match &model {
            Model::Legacy(_) => "its catalogue entry declares no \
                    execution.generate_method.input_latent_vector_size, so its package draws \
                    its own latent: Seed shows another sample"
                .to_string(),
            Model::Native(_) if setup.is_some() => "it is a diffusion model: its image grows \
                    from the seed's noise over the steps; choose steps, scheduler and guidance"
                .to_string(),
            Model::Native(_) => "it has no latent input to move".to_string(),
        });
        let info = ModelInfo {
            model_id: described.model_id.clone(),
            kind: described.kind.to_string(),
            title: entry.metadata.description.title.clone(),
            licence: entry
                .metadata
                .selection
                .license
                .get()
                .cloned()
                .unwrap_or_default(),
            latent_dims,
            no_sliders_reason,
            slider_grouper,
            sliders: latent_dims.div_ceil(slider_grouper),
            classes: described.classes,
            takes_image: model
                .as_native()
                .is_some_and(|m| m.spec.input(InputKind::Image).is_some()),
            has_mask: described.mask_shape.is_some(),
            image_shape: described.image_shape.unwrap_or_default(),
            diffusion: setup.as_deref().map(diffusion_info),
        };
        let backend = generators.settings().backend;
        let engine = match setup {
            Some(setup) => {
                let run = setup
                    .resolve(&DiffusionOptions::default())
                    .map_err(|e| VizError::Model(e.into()))?;
                let sampler = DiffusionGenerator::open(setup, run, backend, 1)
                    .map_err(|e| VizError::Model(e.into()))?;
                Engine::Diffusion(Mutex::new(sampler))
            }
            None => {
                let request = GenerateRequest {
                    batch_size: 1,
                    threads: Some(1),
                    ..GenerateRequest::default()
                };
                let plan = model.plan(&request, None)?;
                let generator = model
                    .generator(&plan, backend, 1)
                    .map_err(|e| VizError::Model(e.into()))?;
                Engine::OnePass(Mutex::new(generator))
            }
        };
        Ok(View {
            model,
            engine,
            info,
        })
    }

    /// What the page needs to know about the model.
    pub fn info(&self) -> &ModelInfo {
        &self.info
    }

    /// The latent of a query: the explicit one, or the seed's latent with each slider's offset
    /// added to its group of dimensions; empty for a model without a latent.
    pub fn latent(&self, query: &SampleQuery) -> Result<Vec<f32>, VizError> {
        if let Some(latent) = &query.latent {
            // Checked by the library's plan of the run (length, finite values, a model
            // without a latent), as for `medigan generate --latent`.
            return Ok(latent.clone());
        }
        let dims = self.info.latent_dims;
        if dims == 0 {
            if query.offsets.iter().any(|o| *o != 0.0) {
                return Err(VizError::BadRequest(format!(
                    "{} has no latent to move: {}",
                    self.info.model_id,
                    self.info.no_sliders_reason.clone().unwrap_or_default()
                )));
            }
            return Ok(Vec::new());
        }
        let sliders = self.info.sliders;
        if !query.offsets.is_empty() && query.offsets.len() != sliders {
            return Err(VizError::BadRequest(format!(
                "{} slider offsets given; {} has {sliders} sliders ({dims} latent dimensions in \
                 groups of {})",
                query.offsets.len(),
                self.info.model_id,
                self.info.slider_grouper
            )));
        }
        let offsets = finite(query.offsets.clone(), "slider offset")?;
        let seed = sample_seed(query.seed, 0);
        let mut latent = self.model.seeded_latent(seed).unwrap_or_default();
        for (group, offset) in offsets.iter().enumerate() {
            let start = group * self.info.slider_grouper;
            let end = (start + self.info.slider_grouper).min(dims);
            for value in &mut latent[start..end] {
                *value += offset;
            }
        }
        Ok(latent)
    }

    /// Generates the sample of a query and encodes its image (and mask) as PNG.
    pub fn render(&self, query: &SampleQuery) -> Result<Rendered, VizError> {
        self.render_watched(query, &Unwatched)
    }

    /// [`render`](Self::render), with `watch` seeing a diffusion model's steps and able to stop
    /// it between them ([`VizError::Superseded`]).
    pub fn render_watched(
        &self,
        query: &SampleQuery,
        watch: &dyn StepWatch,
    ) -> Result<Rendered, VizError> {
        if matches!(self.engine, Engine::OnePass(_)) && query.trajectory.is_some() {
            return Err(VizError::BadRequest(format!(
                "{} is not a diffusion model: it has no denoising trajectory",
                self.info.model_id
            )));
        }
        let latent = self.latent(query)?;
        let upload = self.input_upload(query)?;
        let plan = self.plan(query, &latent, upload.as_ref().map(|f| f.path()))?;
        let request = plan.request(0);
        let sampler = match &self.engine {
            Engine::OnePass(generator) => generator,
            Engine::Diffusion(sampler) => {
                let run = plan.diffusion().cloned().ok_or_else(|| {
                    VizError::Generate(format!("{} planned no diffusion run", self.info.model_id))
                })?;
                return self.render_diffusion(query, sampler, &request, run, watch);
            }
        };
        let sample = sampler
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .generate(std::slice::from_ref(&request))
            .map_err(|e| VizError::Generate(e.to_string()))?
            .pop()
            .ok_or_else(|| VizError::Generate(format!("{} gave no sample", self.info.model_id)))?;
        self.encode(sample, latent)
    }

    /// The library's plan of the query's run (sample 0 of the run of its seed): the query as
    /// a [`GenerateRequest`], checked by the library ([`GenerateRequest::check`], then the
    /// model's plan: class, input image, latent, steps, scheduler, guidance), as `medigan
    /// generate` checks its flags; a bad value is the core's message.
    fn plan(
        &self,
        query: &SampleQuery,
        latent: &[f32],
        input: Option<&Path>,
    ) -> Result<medigan::model::RunPlan, VizError> {
        let bad = |e: medigan::Error| VizError::BadRequest(e.to_string());
        let guidance = query
            .guidance
            .map(Guidance::new)
            .transpose()
            .map_err(|e| bad(e.into()))?;
        let request = GenerateRequest {
            num_samples: 1,
            seed: query.seed,
            batch_size: 1,
            threads: Some(1),
            label: query.class.clone(),
            inputs: input.map(Path::to_path_buf).into_iter().collect(),
            diffusion: DiffusionOptions {
                steps: query.steps,
                scheduler: query.scheduler.clone(),
                guidance,
                spacing: None,
                prompt: None,
            },
            ..GenerateRequest::default()
        };
        request.check().map_err(|e| bad(e.into()))?;
        let latent = (!latent.is_empty()).then(|| Arc::new(latent.to_vec()));
        self.model.plan(&request, latent).map_err(bad)
    }

    /// A diffusion model's sample with the query's choices (`run`: resolved by the library's
    /// plan of the query) and its trajectory.
    fn render_diffusion(
        &self,
        query: &SampleQuery,
        sampler: &Mutex<DiffusionGenerator>,
        request: &SampleRequest,
        run: medigan::diffusion::DiffusionRun,
        watch: &dyn StepWatch,
    ) -> Result<Rendered, VizError> {
        let frames = query.trajectory.unwrap_or(DEFAULT_TRAJECTORY_FRAMES);
        if frames > MAX_TRAJECTORY_FRAMES {
            return Err(VizError::BadRequest(format!(
                "{frames} trajectory frames asked for; at most {MAX_TRAJECTORY_FRAMES}"
            )));
        }
        let mut sampler = sampler.lock().unwrap_or_else(PoisonError::into_inner);
        sampler.set_run(run.clone());
        let failed = |e: GenerateError| match e {
            GenerateError::Cancelled => VizError::Superseded,
            e => VizError::Generate(e.to_string()),
        };
        let steps = sampler.step_count().map_err(failed)?;
        let at = evenly_spaced(steps, frames);
        let trajectory = sampler.trajectory(request, &at, watch).map_err(failed)?;
        drop(sampler);
        let range = self.model.image_range();
        let trajectory_frames = trajectory
            .frames
            .iter()
            .map(|frame| {
                Ok(RenderedFrame {
                    step: frame.step + 1,
                    timestep: frame.timestep,
                    source: frame.source,
                    png: png(&frame.image, range)?,
                })
            })
            .collect::<Result<Vec<_>, VizError>>()?;
        let mut rendered = self.encode(trajectory.sample, Vec::new())?;
        rendered.diffusion = Some(RenderedRun {
            steps: run.steps,
            denoiser_steps: trajectory.steps,
            guidance: run.guidance,
            scheduler: run.scheduler,
            trajectory: trajectory_frames,
            trajectory_missing: trajectory.missing,
        });
        Ok(rendered)
    }

    fn encode(&self, sample: Sample, latent: Vec<f32>) -> Result<Rendered, VizError> {
        let image_png = png(&sample.image, self.model.image_range())?;
        let mask_png = match (&sample.mask, self.model.mask_range()) {
            (Some(mask), Some(range)) => Some(png(mask, range)?),
            _ => None,
        };
        Ok(Rendered {
            latent,
            sample_seed: sample.seed,
            label: sample.label,
            image_png,
            mask_png,
            diffusion: None,
        })
    }

    /// The uploaded input image of an image-to-image query, as a file the library's plan
    /// reads (decoded and checked as `medigan generate --input FILE` is).
    fn input_upload(
        &self,
        query: &SampleQuery,
    ) -> Result<Option<tempfile::NamedTempFile>, VizError> {
        let takes_image = self
            .model
            .as_native()
            .is_some_and(|m| m.spec.input(InputKind::Image).is_some());
        if !takes_image {
            return Ok(None);
        }
        let Some(encoded) = &query.input_image else {
            return Err(VizError::BadRequest(format!(
                "{} translates an input image: pick one",
                self.info.model_id
            )));
        };
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .map_err(|e| VizError::BadRequest(format!("the input image is not base64: {e}")))?;
        let file = tempfile::Builder::new()
            .suffix(".img")
            .tempfile()
            .map_err(|cause| VizError::Save {
                path: std::env::temp_dir(),
                cause,
            })?;
        std::fs::write(file.path(), &bytes).map_err(|cause| VizError::Save {
            path: file.path().to_path_buf(),
            cause,
        })?;
        Ok(Some(file))
    }

    /// Saves the sample of a query into `dir`: its PNG(s) and a JSON file with its latent, seed,
    /// offsets and class. Returns the files written.
    pub fn save(&self, query: &SampleQuery, dir: &Path) -> Result<Vec<PathBuf>, VizError> {
        let no_strip = SampleQuery {
            trajectory: match self.engine {
                Engine::Diffusion(_) => Some(0),
                Engine::OnePass(_) => query.trajectory,
            },
            ..query.clone()
        };
        let rendered = self.render(&no_strip)?;
        std::fs::create_dir_all(dir).map_err(|cause| VizError::Save {
            path: dir.to_path_buf(),
            cause,
        })?;
        let stem = reserve_stem(dir, &format!("{}-seed{}", self.info.model_id, query.seed))?;
        let json_path = dir.join(format!("{stem}.json"));
        let written = self.write_saved(query, &rendered, dir, &stem);
        if written.is_err() {
            let _ = std::fs::remove_file(&json_path); // the reservation; nothing half-saved
        }
        written
    }

    /// Writes the PNG(s), then the JSON record over the reserved (empty) `STEM.json`.
    fn write_saved(
        &self,
        query: &SampleQuery,
        rendered: &Rendered,
        dir: &Path,
        stem: &str,
    ) -> Result<Vec<PathBuf>, VizError> {
        let mut files = vec![(dir.join(format!("{stem}.png")), rendered.image_png.clone())];
        if let Some(mask) = &rendered.mask_png {
            files.push((dir.join(format!("{stem}_mask.png")), mask.clone()));
        }
        let json_path = dir.join(format!("{stem}.json"));
        let record = self.save_record(query, rendered, &json_path);
        let json =
            serde_json::to_vec_pretty(&record).map_err(|e| VizError::Generate(e.to_string()))?;
        files.push((json_path, json));
        for (path, bytes) in &files {
            medigan::fs::write_atomically(path, bytes).map_err(|cause| VizError::Save {
                path: path.clone(),
                cause,
            })?;
        }
        Ok(files.into_iter().map(|(path, _)| path).collect())
    }

    fn save_record(
        &self,
        query: &SampleQuery,
        rendered: &Rendered,
        json_path: &Path,
    ) -> serde_json::Value {
        let moved = query.latent.is_some() || query.offsets.iter().any(|o| *o != 0.0);
        let mut command = format!(
            "medigan generate {} -n 1 --seed {} -o OUT",
            shell_word(&self.info.model_id),
            query.seed
        );
        if let Some(label) = &query.class {
            command.push_str(&format!(" --label {}", shell_word(label)));
        }
        if let Some(run) = &rendered.diffusion {
            command.push_str(&format!(
                " --steps {} --scheduler {}",
                run.steps,
                shell_word(&run.scheduler)
            ));
            let allowed = self
                .info
                .diffusion
                .as_ref()
                .is_some_and(|d| d.guidance_allowed);
            if let Some(guidance) = run.guidance.filter(|_| allowed) {
                command.push_str(&format!(" --guidance {guidance}"));
            }
        }
        if moved {
            let path = json_path.display().to_string();
            command.push_str(&format!(" --latent {}", shell_word(&path)));
        }
        serde_json::json!({
            "model_id": self.info.model_id,
            "seed": query.seed,
            "sample_index": 0,
            "sample_seed": rendered.sample_seed,
            "label": rendered.label,
            "slider_grouper": self.info.slider_grouper,
            "offsets": query.offsets,
            "latent": rendered.latent,
            "diffusion": rendered.diffusion,
            "regenerate": command,
        })
    }
}

/// Most saves of one model and seed in one folder (`STEM`, `STEM-1`, ...).
const MAX_SAVES_PER_STEM: usize = 10_000;

/// Reserves the first free `stem`, `stem-1`, `stem-2`, ... by creating its `.json` file (empty
/// until the record is written): the creation is atomic, so concurrent saves never share a
/// name (issue #14, defect 10).
fn reserve_stem(dir: &Path, stem: &str) -> Result<String, VizError> {
    for n in 0..MAX_SAVES_PER_STEM {
        let candidate = match n {
            0 => stem.to_string(),
            n => format!("{stem}-{n}"),
        };
        let path = dir.join(format!("{candidate}.json"));
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
        {
            Ok(_) => return Ok(candidate),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(cause) => return Err(VizError::Save { path, cause }),
        }
    }
    Err(VizError::Save {
        path: dir.join(format!("{stem}.json")),
        cause: std::io::Error::other(format!(
            "{MAX_SAVES_PER_STEM} saves of this seed exist already; move some out of the folder"
        )),
    })
}

/// `word` as one POSIX shell word: as it is when it holds only safe characters, else in single
/// quotes (issue #14, defect 17).
fn shell_word(word: &str) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || "_-.,/:=@%+".contains(c);
    if !word.is_empty() && word.chars().all(safe) {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', "'\\''"))
    }
}

/// What the page offers for a diffusion package.
fn diffusion_info(setup: &DiffusionSetup) -> DiffusionInfo {
    let scheduler = setup
        .scheduler(None, setup.spec.steps)
        .map(|s| s.name().to_string())
        .unwrap_or_default();
    DiffusionInfo {
        steps: setup.spec.steps,
        max_steps: setup.max_steps(),
        scheduler,
        schedulers: setup.scheduler_choices(),
        guidance: setup.spec.guidance_scale,
        guidance_allowed: setup.class.is_some() && setup.spec.null_class.is_some(),
        latent: setup.decoder.is_some(),
        trajectory_frames: DEFAULT_TRAJECTORY_FRAMES,
        max_trajectory_frames: MAX_TRAJECTORY_FRAMES,
    }
}

fn finite(values: Vec<f32>, what: &str) -> Result<Vec<f32>, VizError> {
    match values.iter().find(|v| !v.is_finite()) {
        Some(bad) => Err(VizError::BadRequest(format!("a {what} is {bad}"))),
        None => Ok(values),
    }
}

/// An image (`[C, H, W]`, or the middle slice of `[C, D, H, W]`) as an 8-bit PNG, values mapped
/// linearly from `range` to 0..255.
fn png(array: &ArrayD<f32>, range: [f64; 2]) -> Result<Vec<u8>, VizError> {
    let plane = match array.ndim() {
        4 => array.index_axis(Axis(1), array.shape()[1] / 2).to_owned(),
        _ => array.clone(),
    };
    let [channels, _, _] = plane.shape() else {
        return Err(VizError::Generate(format!(
            "cannot show an array of shape {:?}",
            array.shape()
        )));
    };
    let shown = if matches!(*channels, 1 | 3 | 4) {
        *channels
    } else {
        1
    };
    let shown = plane.slice_axis(Axis(0), (0..shown).into()).to_owned();
    medigan::formats::png::encode_u8(&shown, range)
        .map_err(|e| VizError::Generate(format!("cannot encode the image: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defect_10_a_name_is_reserved_before_the_save_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let stems: Vec<String> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..16)
                .map(|_| scope.spawn(|| reserve_stem(dir.path(), "m-seed1").unwrap()))
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let mut unique = stems.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), stems.len(), "{stems:?}");
    }

    #[test]
    fn defect_17_shell_words_survive_the_shell() {
        assert_eq!(shell_word("00900_PHANTOM_DEMO"), "00900_PHANTOM_DEMO");
        assert_eq!(shell_word("/a b/it's"), "'/a b/it'\\''s'");
        assert_eq!(shell_word("$(x)"), "'$(x)'");
        assert_eq!(shell_word(""), "''");
    }
}
