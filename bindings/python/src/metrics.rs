//! `metrics`, `evaluate_models` and `audit`: the core's evaluation (`Generators::evaluate`,
//! `evaluate::audit::audit`), as module functions returning the CLI's `--json` objects. The
//! keywords are only translated into the core's `EvaluationRequest`; the core checks them, so a
//! bad value gets the same error as on the command line.
//!
//! The extractor is named as on the command line: `"inception"` (pytorch-fid's weights, fetched
//! once through the store unless `inception_weights` names the file) or `"onnx:PATH"`.

use std::path::PathBuf;

use medigan::evaluate::audit::{AuditOptions, AuditRequest, AuditSubject, GalleryRequest};
use medigan::evaluate::planes::{PlaneOptions, PlanesRequest};
use medigan::evaluate::{
    self, EvaluateOptions, EvaluationRequest, ExtractorSpec, FeatureOptions, FrdRequest,
    FrdSettings, KidOptions, MergeRequest, MetricOptions, MetricSet, ReadOptions, SyntheticRun,
    SyntheticSide, request,
};
use medigan::{Generators, Overrides, Settings};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use crate::errors::IntoPyResult;
use crate::interrupt::{Cancellable, run_interruptible};
use crate::to_python::json_to_py;

/// The extractor keywords of every evaluation function: `extractor=` and how its input is
/// prepared (the CLI's `--extractor`, `--inception-weights`, `--input-size`, `--range`,
/// `--mean`, `--std`, `--output-name`).
struct ExtractorArgs<'py> {
    extractor: &'py str,
    inception_weights: Option<PathBuf>,
    input_size: Option<Bound<'py, PyAny>>,
    range: Option<(f32, f32)>,
    mean: Option<Vec<f32>>,
    std: Option<Vec<f32>>,
    output_name: Option<String>,
}

impl ExtractorArgs<'_> {
    /// The library's extractor spec; the library checks it when the evaluation runs.
    fn spec(&self) -> PyResult<ExtractorSpec> {
        let mut spec: ExtractorSpec = self.extractor.parse().py()?;
        spec.inception_weights = self.inception_weights.clone();
        spec.input_size = self.input_size.as_ref().map(input_size).transpose()?;
        if let Some((lo, hi)) = self.range {
            spec.normalization.range = [lo, hi];
        }
        spec.normalization.mean_std = match (&self.mean, &self.std) {
            (Some(mean), Some(std)) => Some((
                request::channels("mean", mean).py()?,
                request::channels("std", std).py()?,
            )),
            (None, None) => None,
            _ => {
                return Err(PyValueError::new_err(
                    "mean= and std= go together: give both or neither",
                ));
            }
        };
        spec.output_name = self.output_name.clone();
        Ok(spec)
    }
}

/// `input_size=`: `N`, `(H, W)` or the CLI's text (`"224"`, `"256x192"`).
fn input_size(value: &Bound<'_, PyAny>) -> PyResult<[usize; 2]> {
    if let Ok(text) = value.extract::<String>() {
        return request::parse_input_size(&text).py();
    }
    if let Ok(n) = value.extract::<usize>() {
        return request::parse_input_size(&n.to_string()).py();
    }
    let (h, w) = value
        .extract::<(usize, usize)>()
        .map_err(|_| PyValueError::new_err("input_size= must be N, (H, W) or \"HxW\""))?;
    request::parse_input_size(&format!("{h}x{w}")).py()
}

/// The embedding keywords: `batch_size`, `threads`, `normalize`, `npy_range`, `cache_dir`.
struct EmbeddingArgs {
    batch_size: usize,
    threads: Option<usize>,
    normalize: bool,
    npy_range: Option<(f32, f32)>,
    cache_dir: Option<PathBuf>,
}

impl EmbeddingArgs {
    /// The embedding options (metrics left at their defaults).
    fn options(&self) -> EvaluateOptions {
        EvaluateOptions {
            features: FeatureOptions {
                batch_size: self.batch_size,
                threads: self.threads,
                min_max: self.normalize,
                read: ReadOptions {
                    npy_range: self.npy_range.map(|(lo, hi)| [lo, hi]),
                },
            },
            cache_dir: self.cache_dir.clone(),
            ..Default::default()
        }
    }
}

/// The metric keywords: `metrics`, `repeats`, `nearest_k`, `kid_subsets`, `kid_subset_size`,
/// `seed` (the CLI's `--resample-seed`).
struct MetricArgs<'py> {
    metrics: &'py str,
    /// The FRD's version (`"1"`, `"v0"`, ...) and convention, for `metrics="...,frd"`.
    frd: (&'py str, bool),
    repeats: usize,
    nearest_k: usize,
    kid_subsets: usize,
    kid_subset_size: usize,
    seed: u64,
}

impl MetricArgs<'_> {
    fn options(&self) -> PyResult<MetricOptions> {
        Ok(MetricOptions {
            metrics: MetricSet::parse(self.metrics).py()?,
            kid: KidOptions {
                subsets: self.kid_subsets,
                subset_size: self.kid_subset_size,
                seed: self.seed,
            },
            nearest_k: self.nearest_k,
            repeats: self.repeats,
            frd: FrdSettings {
                version: self.frd.0.parse().py()?,
                paper_log: self.frd.1,
            },
        })
    }
}

/// A facade with the environment's settings and the keywords' overrides, consenting to run
/// packages in the original Python format when `install_dependencies`.
fn facade(
    catalog: Option<Vec<String>>,
    home: Option<PathBuf>,
    offline: Option<bool>,
    backend: Option<&str>,
    install_dependencies: bool,
) -> PyResult<Generators> {
    let backend = backend.map(Overrides::backend_named).transpose().py()?;
    let generators = Generators::new(Settings::from_env().with(Overrides {
        home,
        catalog,
        offline,
        backend,
        verify: None,
    }));
    if install_dependencies {
        let mut legacy = generators.legacy_settings();
        legacy.install_dependencies = true;
        generators.set_legacy_settings(legacy);
    }
    Ok(generators)
}

/// The evaluation request of `metrics` and `evaluate_models`: their keyword bundles as the
/// core's [`EvaluationRequest`] (checked by the core when it runs).
fn evaluation_request(
    real: PathBuf,
    synthetic: SyntheticSide,
    extractor: &ExtractorArgs<'_>,
    embedding: &EmbeddingArgs,
    metric_args: &MetricArgs<'_>,
    split_seed: u64,
    metric_key: Option<String>,
) -> PyResult<EvaluationRequest> {
    let mut options = embedding.options();
    options.split_seed = split_seed;
    options.metrics = metric_args.options()?;
    Ok(EvaluationRequest {
        real,
        synthetic,
        extractor: extractor.spec()?,
        options,
        metric_key,
        save_stats: None,
        per_class: false,
    })
}

/// Runs an evaluation request without the GIL; the reports as the CLI's `--json` objects.
fn run_request(
    py: Python<'_>,
    generators: Generators,
    request: EvaluationRequest,
) -> PyResult<Vec<serde_json::Value>> {
    let key = request.metric_key();
    let reports = run_interruptible(py, |cancel| {
        generators
            .evaluate(&request, &Cancellable(cancel))
            .map(|reports| reports.iter().map(|r| r.to_json(&key)).collect::<Vec<_>>())
    })?
    .py()?;
    Ok(reports)
}

/// FID (with `FID_rr` and rFID), KID, precision/recall/density/coverage between two folders
/// from one embedding of each; with `repeats` > 1 the synthetic folder is split into that many
/// disjoint parts and each metric gets a mean and a 95% interval. Returns the object that
/// `medigan --json metrics` prints for one report.
#[pyfunction]
#[pyo3(signature = (
    real, synthetic, *, extractor="inception", metrics="fid,kid,prdc", repeats=1, nearest_k=5,
    kid_subsets=100, kid_subset_size=1000, seed=0, split_seed=0, batch_size=32, threads=None,
    normalize=false, input_size=None, range=None, mean=None, std=None, output_name=None,
    npy_range=None, inception_weights=None, cache_dir=None, metric_key=None, home=None,
    offline=None, backend=None, save_stats=None, frd_version="1", paper_log=false
))]
#[allow(clippy::too_many_arguments)]
pub fn metrics<'py>(
    py: Python<'py>,
    real: PathBuf,
    synthetic: PathBuf,
    extractor: &str,
    metrics: &str,
    repeats: usize,
    nearest_k: usize,
    kid_subsets: usize,
    kid_subset_size: usize,
    seed: u64,
    split_seed: u64,
    batch_size: usize,
    threads: Option<usize>,
    normalize: bool,
    input_size: Option<Bound<'py, PyAny>>,
    range: Option<(f32, f32)>,
    mean: Option<Vec<f32>>,
    std: Option<Vec<f32>>,
    output_name: Option<String>,
    npy_range: Option<(f32, f32)>,
    inception_weights: Option<PathBuf>,
    cache_dir: Option<PathBuf>,
    metric_key: Option<String>,
    home: Option<PathBuf>,
    offline: Option<bool>,
    backend: Option<&str>,
    save_stats: Option<PathBuf>,
    frd_version: &str,
    paper_log: bool,
) -> PyResult<Py<PyAny>> {
    let extractor = ExtractorArgs {
        extractor,
        inception_weights,
        input_size,
        range,
        mean,
        std,
        output_name,
    };
    let embedding = EmbeddingArgs {
        batch_size,
        threads,
        normalize,
        npy_range,
        cache_dir,
    };
    let metric_args = MetricArgs {
        metrics,
        frd: (frd_version, paper_log),
        repeats,
        nearest_k,
        kid_subsets,
        kid_subset_size,
        seed,
    };
    let mut request = evaluation_request(
        real,
        SyntheticSide::Folder(synthetic),
        &extractor,
        &embedding,
        &metric_args,
        split_seed,
        metric_key,
    )?;
    request.save_stats = save_stats;
    let generators = facade(None, home, offline, backend, false)?;
    let mut reports = run_request(py, generators, request)?;
    let report = reports.pop().unwrap_or_default();
    Ok(json_to_py(py, &report)?.unbind())
}

/// The 2.5D FID of a real folder of volumes against a synthetic folder or 3D models' samples
/// (`medigan --json metrics|evaluate --volumes planes`): the FID of the axial, coronal and
/// sagittal slices and their mean. Returns the reports printed under `reports`.
#[pyfunction]
#[pyo3(signature = (
    real, synthetic=None, *, models=None, num_samples=None, seed=0, catalog=None,
    extractor="inception", metrics="fid", center_slices=None, every_slice=1,
    empty_below=None, clip=None, batch_size=32, threads=None, normalize=false, input_size=None,
    range=None, mean=None, std=None, output_name=None, inception_weights=None, home=None,
    offline=None, backend=None
))]
#[allow(clippy::too_many_arguments)]
pub fn metrics_planes<'py>(
    py: Python<'py>,
    real: PathBuf,
    synthetic: Option<PathBuf>,
    models: Option<Vec<String>>,
    num_samples: Option<u64>,
    seed: u64,
    catalog: Option<Vec<String>>,
    extractor: &str,
    metrics: &str,
    center_slices: Option<f64>,
    every_slice: usize,
    empty_below: Option<f32>,
    clip: Option<(f32, f32)>,
    batch_size: usize,
    threads: Option<usize>,
    normalize: bool,
    input_size: Option<Bound<'py, PyAny>>,
    range: Option<(f32, f32)>,
    mean: Option<Vec<f32>>,
    std: Option<Vec<f32>>,
    output_name: Option<String>,
    inception_weights: Option<PathBuf>,
    home: Option<PathBuf>,
    offline: Option<bool>,
    backend: Option<&str>,
) -> PyResult<Py<PyAny>> {
    let extractor = ExtractorArgs {
        extractor,
        inception_weights,
        input_size,
        range,
        mean,
        std,
        output_name,
    };
    let embedding = EmbeddingArgs {
        batch_size,
        threads,
        normalize,
        npy_range: None,
        cache_dir: None,
    };
    let mut options = embedding.options();
    options.metrics.metrics = MetricSet::parse(metrics).py()?;
    let synthetic = match (synthetic, models) {
        (Some(dir), None) => SyntheticSide::Folder(dir),
        (None, Some(models)) => SyntheticSide::Models {
            models,
            run: SyntheticRun { num_samples, seed },
        },
        _ => {
            return Err(PyValueError::new_err(
                "give a synthetic folder or models, not both",
            ));
        }
    };
    let request = PlanesRequest {
        real,
        synthetic,
        extractor: extractor.spec()?,
        options,
        planes: PlaneOptions {
            center_ratio: center_slices,
            every: every_slice,
            empty_below,
            clip: clip.map(|(lo, hi)| [lo, hi]),
        },
    };
    let generators = facade(catalog, home, offline, backend, false)?;
    let report = run_interruptible(py, |cancel| {
        evaluate::planes::run(&generators, &request, &Cancellable(cancel))
            .map(|reports| serde_json::to_value(reports).unwrap_or_default())
    })?
    .py()?;
    Ok(json_to_py(py, &report)?.unbind())
}

/// The FID of the union of statistics files written with `save_stats=` (`medigan metrics
/// --merge-stats`): the synthetic sets of `stats` added, against the real set they share or
/// the union of the real sets of `real_stats`. Returns the object `medigan --json metrics
/// --merge-stats` prints for its report.
#[pyfunction]
#[pyo3(signature = (stats, *, real_stats=None, metrics="fid", metric_key=None))]
pub fn merge_stats(
    py: Python<'_>,
    stats: Vec<PathBuf>,
    real_stats: Option<Vec<PathBuf>>,
    metrics: &str,
    metric_key: Option<String>,
) -> PyResult<Py<PyAny>> {
    let request = MergeRequest {
        stats,
        real_stats: real_stats.unwrap_or_default(),
        metrics: MetricSet::parse(metrics).py()?,
        metric_key,
    };
    let report = py
        .detach(|| evaluate::merge_stats(&request).map(|(r, key)| r.to_json(&key)))
        .py()?;
    Ok(json_to_py(py, &report)?.unbind())
}

/// Generates each model's samples (`num_samples` per repeat, default: as many as the real
/// images, from `seed`) and evaluates them against the real folder, embedded once (`medigan
/// evaluate`); returns one report per model, as `medigan --json evaluate` prints them. A model
/// in the original Python format runs only with `install_dependencies=True`.
#[pyfunction]
#[pyo3(signature = (
    models, real, *, num_samples=None, seed=0, install_dependencies=false, extractor="inception",
    metrics="fid", repeats=1, nearest_k=5, kid_subsets=100, kid_subset_size=1000,
    resample_seed=0, split_seed=0, batch_size=32, threads=None, normalize=false, input_size=None,
    range=None, mean=None, std=None, output_name=None, npy_range=None, inception_weights=None,
    cache_dir=None, metric_key=None, catalog=None, home=None, offline=None, backend=None,
    per_class=false
))]
#[allow(clippy::too_many_arguments)]
pub fn evaluate_models<'py>(
    py: Python<'py>,
    models: Vec<String>,
    real: PathBuf,
    num_samples: Option<u64>,
    seed: u64,
    install_dependencies: bool,
    extractor: &str,
    metrics: &str,
    repeats: usize,
    nearest_k: usize,
    kid_subsets: usize,
    kid_subset_size: usize,
    resample_seed: u64,
    split_seed: u64,
    batch_size: usize,
    threads: Option<usize>,
    normalize: bool,
    input_size: Option<Bound<'py, PyAny>>,
    range: Option<(f32, f32)>,
    mean: Option<Vec<f32>>,
    std: Option<Vec<f32>>,
    output_name: Option<String>,
    npy_range: Option<(f32, f32)>,
    inception_weights: Option<PathBuf>,
    cache_dir: Option<PathBuf>,
    metric_key: Option<String>,
    catalog: Option<Vec<String>>,
    home: Option<PathBuf>,
    offline: Option<bool>,
    backend: Option<&str>,
    per_class: bool,
) -> PyResult<Py<PyAny>> {
    let extractor = ExtractorArgs {
        extractor,
        inception_weights,
        input_size,
        range,
        mean,
        std,
        output_name,
    };
    let embedding = EmbeddingArgs {
        batch_size,
        threads,
        normalize,
        npy_range,
        cache_dir,
    };
    let metric_args = MetricArgs {
        metrics,
        frd: ("1", false),
        repeats,
        nearest_k,
        kid_subsets,
        kid_subset_size,
        seed: resample_seed,
    };
    let synthetic = SyntheticSide::Models {
        models,
        run: SyntheticRun { num_samples, seed },
    };
    let mut request = evaluation_request(
        real,
        synthetic,
        &extractor,
        &embedding,
        &metric_args,
        split_seed,
        metric_key,
    )?;
    request.per_class = per_class;
    let generators = facade(catalog, home, offline, backend, install_dependencies)?;
    let reports = run_request(py, generators, request)?;
    Ok(json_to_py(py, &serde_json::Value::Array(reports))?.unbind())
}

/// Memorisation audit of a folder of synthetic images, or of a model's samples (`num_samples`,
/// default as many as the training images, from the run of `seed`), against the training
/// folder: each image's closest training image in feature space and in pixel space, thresholds
/// calibrated on `holdout` (or the training set against itself), the likely copies flagged;
/// `gallery` names a new (or empty) folder for an HTML page of the `pairs` closest pairs.
/// The keywords are only translated into the core's `AuditRequest`, which checks them. Returns
/// the object that `medigan --json audit` prints (`matches`, thresholds, `catalog`, `gallery`).
#[pyfunction]
#[pyo3(signature = (
    synthetic, train, holdout=None, *, num_samples=None, seed=0, install_dependencies=false,
    gallery=None, pairs=24, extractor="inception", pixel_size=32, max_shift=2, margin=0.5,
    pixel_metric="ncc", batch_size=32, threads=None, normalize=false, input_size=None,
    range=None, mean=None, std=None, output_name=None, npy_range=None, inception_weights=None,
    cache_dir=None, catalog=None, home=None, offline=None, backend=None
))]
#[allow(clippy::too_many_arguments)]
pub fn audit<'py>(
    py: Python<'py>,
    synthetic: PathBuf,
    train: PathBuf,
    holdout: Option<PathBuf>,
    num_samples: Option<u64>,
    seed: u64,
    install_dependencies: bool,
    gallery: Option<PathBuf>,
    pairs: usize,
    extractor: &str,
    pixel_size: usize,
    max_shift: usize,
    margin: f64,
    pixel_metric: &str,
    batch_size: usize,
    threads: Option<usize>,
    normalize: bool,
    input_size: Option<Bound<'py, PyAny>>,
    range: Option<(f32, f32)>,
    mean: Option<Vec<f32>>,
    std: Option<Vec<f32>>,
    output_name: Option<String>,
    npy_range: Option<(f32, f32)>,
    inception_weights: Option<PathBuf>,
    cache_dir: Option<PathBuf>,
    catalog: Option<Vec<String>>,
    home: Option<PathBuf>,
    offline: Option<bool>,
    backend: Option<&str>,
) -> PyResult<Py<PyAny>> {
    let extractor = ExtractorArgs {
        extractor,
        inception_weights,
        input_size,
        range,
        mean,
        std,
        output_name,
    }
    .spec()?;
    let embedding = EmbeddingArgs {
        batch_size,
        threads,
        normalize,
        npy_range,
        cache_dir,
    };
    let request = AuditRequest {
        subject: AuditSubject::folder_or_model(
            &synthetic.to_string_lossy(),
            SyntheticRun { num_samples, seed },
        ),
        train,
        holdout,
        extractor,
        options: AuditOptions {
            pixel_size,
            max_shift,
            margin,
            pixel_metric: pixel_metric.parse().py()?,
            evaluate: embedding.options(),
        },
        gallery: gallery.map(|dir| GalleryRequest { dir, pairs }),
    };
    let generators = facade(catalog, home, offline, backend, install_dependencies)?;
    let value = run_interruptible(py, |cancel| -> PyResult<serde_json::Value> {
        let outcome = generators.audit(&request, &Cancellable(cancel)).py()?;
        let mut value = serde_json::to_value(&outcome.report)
            .map_err(|e| PyValueError::new_err(format!("cannot render the audit: {e}")))?;
        if let Some(map) = value.as_object_mut() {
            map.insert("catalog".into(), outcome.report.catalog_privacy());
            map.insert("gallery".into(), serde_json::json!(outcome.gallery));
        }
        Ok(value)
    })??;
    Ok(json_to_py(py, &value)?.unbind())
}

/// The Frechet Radiomics Distance of two folders (`medigan --json frd`): frd-score's FRD
/// (`version` "1", the default, or "0"; `paper_log` for v1's ln(d)), radiomics computed
/// natively; masks as two folders paired with the images by sorted name.
#[pyfunction]
#[pyo3(signature = (
    real=None, synthetic=None, *, version="1", masks=None, paper_log=false, save_stats=None,
    merge_stats=None
))]
#[allow(clippy::too_many_arguments)]
pub fn frd<'py>(
    py: Python<'py>,
    real: Option<PathBuf>,
    synthetic: Option<PathBuf>,
    version: &str,
    masks: Option<(PathBuf, PathBuf)>,
    paper_log: bool,
    save_stats: Option<PathBuf>,
    merge_stats: Option<Vec<PathBuf>>,
) -> PyResult<Py<PyAny>> {
    let generators = facade(None, None, None, None, false)?;
    if let Some(files) = merge_stats {
        let report = generators.frd_merged(&files, paper_log).py()?;
        let value = report.to_json_for(&FrdRequest::default());
        return Ok(json_to_py(py, &value)?.unbind());
    }
    let (Some(real), Some(synthetic)) = (real, synthetic) else {
        return Err(pyo3::exceptions::PyTypeError::new_err(
            "frd() needs the real and synthetic folders (or merge_stats=)",
        ));
    };
    let (real_masks, synthetic_masks) = masks.map_or((None, None), |(r, s)| (Some(r), Some(s)));
    let request = FrdRequest {
        real,
        synthetic,
        real_masks,
        synthetic_masks,
        settings: FrdSettings {
            version: version.parse().py()?,
            paper_log,
        },
        save_stats,
    };
    let report =
        run_interruptible(py, |cancel| generators.frd(&request, &Cancellable(cancel)))?.py()?;
    let value = report.to_json_for(&request);
    Ok(json_to_py(py, &value)?.unbind())
}
