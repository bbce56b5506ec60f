//! Generation from Python: runs to disk, samples as numpy arrays, model descriptions.
//!
//! The work runs without the GIL on its own thread ([`run_interruptible`]); samples come back
//! as numpy arrays that take over the core's buffers (no copy).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use medigan::Generators;
use medigan::generate::{
    DiffusionOptions, GenerateError, GenerateRequest, Guidance, Pack, RunMode, ShardChoice,
    ShardRequest, Spacing,
};
use medigan::output::Format;
use medigan::sample::Sample;
use numpy::PyArray;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyTuple};

use crate::errors::IntoPyResult;
use crate::interrupt::{Cancellable, run_interruptible};

/// The request arguments as Python passes them.
pub struct RequestArgs<'a> {
    /// Samples in the run.
    pub num_samples: u64,
    /// Run seed.
    pub seed: u64,
    /// Samples per inference call.
    pub batch_size: usize,
    /// Class name for conditional models.
    pub label: Option<String>,
    /// Input images for image-to-image models.
    pub inputs: Vec<PathBuf>,
    /// `K/N`: run part K of N; or `auto`, from the scheduler's environment.
    pub shard: Option<&'a str>,
    /// The number of shards, with `shard="auto"`.
    pub shards: Option<u64>,
    /// CPU threads.
    pub threads: Option<usize>,
    /// Model specific options (native models take none).
    pub options: BTreeMap<String, String>,
    /// Diffusion models: steps, scheduler and guidance.
    pub diffusion: DiffusionArgs,
}

/// The diffusion keywords as Python passes them.
#[derive(Debug, Default)]
pub struct DiffusionArgs {
    /// Inference steps.
    pub steps: Option<usize>,
    /// Scheduler class name or alias.
    pub scheduler: Option<String>,
    /// Classifier-free guidance scale.
    pub guidance_scale: Option<f64>,
    /// A `.npy` file of the initial noise, one row per sample of the run.
    pub initial_noise: Option<PathBuf>,
    /// Voxel spacing in mm, for a model with a spacing input.
    pub spacing: Option<Vec<f64>>,
    /// The prompt of a text-conditioned model (one of those its package declares).
    pub prompt: Option<String>,
}

/// How a run to disk treats a folder that holds an earlier run of the same shard.
pub fn run_mode(resume: bool, overwrite: bool) -> PyResult<RunMode> {
    match (resume, overwrite) {
        (true, true) => Err(pyo3::exceptions::PyValueError::new_err(
            "resume and overwrite exclude each other: resume keeps the earlier run's intact \
             files, overwrite starts the run again",
        )),
        (true, false) => Ok(RunMode::Resume),
        (false, true) => Ok(RunMode::Overwrite),
        (false, false) => Ok(RunMode::Fresh),
    }
}

impl RequestArgs<'_> {
    /// The core's request, checked by the library.
    pub fn request(self, mode: RunMode) -> PyResult<GenerateRequest> {
        let shard_request = ShardRequest {
            choice: self.shard.map(str::parse::<ShardChoice>).transpose().py()?,
            shards: self.shards,
        };
        let shard = shard_request.resolve().py()?.map(|resolved| resolved.shard);
        let mode = shard_request.run_mode(mode);
        let request = GenerateRequest {
            num_samples: self.num_samples,
            seed: self.seed,
            batch_size: self.batch_size,
            label: self.label,
            inputs: self.inputs,
            shard,
            threads: self.threads,
            options: self.options,
            mode,
            diffusion: DiffusionOptions {
                steps: self.diffusion.steps,
                scheduler: self.diffusion.scheduler,
                guidance: self
                    .diffusion
                    .guidance_scale
                    .map(Guidance::new)
                    .transpose()
                    .py()?,
                spacing: self.diffusion.spacing.map(Spacing::new).transpose().py()?,
                prompt: self.diffusion.prompt,
            },
            initial_noise: self.diffusion.initial_noise,
            ..GenerateRequest::default()
        };
        request.check().py()?;
        Ok(request)
    }
}

/// See `Generators.model_info`.
pub fn model_info<'py>(
    py: Python<'py>,
    generators: &Generators,
    model_id: &str,
) -> PyResult<Bound<'py, PyDict>> {
    let model = run_interruptible(py, |cancel| {
        generators.load_model(model_id, &Cancellable(cancel))
    })?
    .py()?;
    let described = model.describe();
    let dict = PyDict::new(py);
    dict.set_item("model_id", &described.model_id)?;
    dict.set_item("kind", described.kind)?;
    dict.set_item("image_shape", described.image_shape)?;
    dict.set_item("image_range", described.image_range.to_vec())?;
    dict.set_item("mask_shape", described.mask_shape)?;
    dict.set_item("classes", described.classes)?;
    dict.set_item("conditional", described.conditional)?;
    dict.set_item("takes_input", described.takes_input)?;
    dict.set_item("latent_size", described.latent_size)?;
    let diffusion = match described.diffusion {
        Some(d) => {
            let part = PyDict::new(py);
            part.set_item("steps", d.steps)?;
            part.set_item("scheduler", d.scheduler)?;
            part.set_item("guidance_scale", d.guidance_scale)?;
            part.set_item("noise_shape", d.noise_shape)?;
            part.set_item("latent_decoder", d.latent_decoder)?;
            Some(part)
        }
        None => None,
    };
    dict.set_item("diffusion", diffusion)?;
    Ok(dict)
}

/// What only a run to disk takes: tar packing (`pack="tar"`) and a latent every sample holds
/// (the CLI's `--pack`, `--samples-per-shard`, `--latent`).
pub struct DirExtras {
    /// Samples packed into tars of this many.
    pub pack: Option<Pack>,
    /// The latent of every sample instead of the one drawn from its seed.
    pub latent: Option<Vec<f32>>,
}

/// `pack=` (`"tar"` or None) with `samples_per_shard`.
pub fn pack(kind: Option<&str>, samples_per_shard: u64) -> PyResult<Option<Pack>> {
    match kind.map(str::trim) {
        None => Ok(None),
        Some("tar") => Ok(Some(Pack {
            samples_per_tar: samples_per_shard,
        })),
        Some(other) => Err(pyo3::exceptions::PyValueError::new_err(format!(
            "invalid pack `{other}`: expected \"tar\""
        ))),
    }
}

/// See `Generators.generate_to_dir`.
#[allow(clippy::too_many_arguments)]
pub fn to_dir<'py>(
    py: Python<'py>,
    generators: &Generators,
    model_id: &str,
    dir: &Path,
    args: RequestArgs<'_>,
    format: &str,
    mode: RunMode,
    extras: DirExtras,
) -> PyResult<Bound<'py, PyDict>> {
    let mut request = args.request(mode)?;
    request.pack = extras.pack;
    request.check().py()?;
    let format = format.parse::<Format>().py()?;
    let summary = run_interruptible(py, |cancel| {
        let progress = Cancellable(cancel);
        match extras.latent {
            Some(latent) => {
                generators.generate_with_latent(model_id, &request, latent, dir, format, &progress)
            }
            None => generators.generate(model_id, &request, dir, format, &progress),
        }
    })?
    .py()?;
    let dict = PyDict::new(py);
    dict.set_item("samples", summary.samples)?;
    dict.set_item("files", summary.files)?;
    dict.set_item("resumed", summary.resumed)?;
    dict.set_item("manifest", summary.manifest.display().to_string())?;
    dict.set_item("elapsed", summary.elapsed.as_secs_f64())?;
    dict.set_item("notes", summary.notes.clone())?;
    warn_notes(py, &summary.notes)?;
    Ok(dict)
}

/// Shows a run's notes (e.g. tract standing in for onnxruntime, NaN values seen) as
/// `RuntimeWarning`s, as the CLI prints them as `note:` lines.
pub fn warn_notes(py: Python<'_>, notes: &[String]) -> PyResult<()> {
    let category = py.get_type::<pyo3::exceptions::PyRuntimeWarning>();
    for note in notes {
        let message = std::ffi::CString::new(format!("medigan_rs: {note}"))
            .unwrap_or_else(|_| c"medigan_rs: a note with a NUL byte".to_owned());
        PyErr::warn(py, &category, &message, 2)?;
    }
    Ok(())
}

/// See `Generators.generate_samples`.
pub fn samples<'py>(
    py: Python<'py>,
    generators: &Generators,
    model_id: &str,
    args: RequestArgs<'_>,
    indices: Option<Vec<u64>>,
) -> PyResult<Bound<'py, PyList>> {
    let request = args.request(RunMode::Fresh)?;
    let (samples, notes) = run_interruptible(py, |cancel| {
        collect(generators, model_id, &request, indices, cancel)
    })?
    .py()?;
    warn_notes(py, &notes)?;
    let items = samples
        .into_iter()
        .map(|sample| to_tuple(py, sample))
        .collect::<PyResult<Vec<_>>>()?;
    PyList::new(py, items)
}

/// The samples of a run (or of chosen indices) and the run's notes, stopping between batches
/// when cancelled.
fn collect(
    generators: &Generators,
    model_id: &str,
    request: &GenerateRequest,
    indices: Option<Vec<u64>>,
    cancel: &AtomicBool,
) -> medigan::Result<(Vec<Sample>, Vec<String>)> {
    let count = indices.as_ref().map_or_else(
        || request.indices().end - request.indices().start,
        |i| i.len() as u64,
    );
    generators.check_in_memory(model_id, count)?;
    let mut stream = match indices {
        Some(indices) => generators.stream_indices(model_id, request, indices)?,
        None => generators.stream(model_id, request)?,
    };
    let mut samples = Vec::new();
    for sample in stream.by_ref() {
        // The stream generates a batch when its buffer runs dry: checking per sample stops it
        // at the next batch boundary at the latest.
        if cancel.load(Ordering::Relaxed) {
            return Err(GenerateError::Cancelled.into());
        }
        samples.push(sample?);
    }
    Ok((samples, stream.take_notes()))
}

/// `(index, seed, image, mask, label)`; the arrays take over the sample's buffers.
fn to_tuple(py: Python<'_>, sample: Sample) -> PyResult<Bound<'_, PyTuple>> {
    let image = PyArray::from_owned_array(py, sample.image).into_any();
    let mask = match sample.mask {
        Some(mask) => PyArray::from_owned_array(py, mask).into_any(),
        None => py.None().into_bound(py),
    };
    let label = match sample.label {
        Some(label) => label.into_pyobject(py)?.into_any(),
        None => py.None().into_bound(py),
    };
    PyTuple::new(
        py,
        [
            sample.index.into_pyobject(py)?.into_any(),
            sample.seed.into_pyobject(py)?.into_any(),
            image,
            mask,
            label,
        ],
    )
}
